"""Numbers for the checker: random instances of one network, every gradient bound, and the
numeric comparison of a student's expression with the engine's formula.

One :class:`Numbers` per network and process (cached): the derivation, a batch of random
instances with distinct sizes (several seeds evaluated at once, as leading batch axes), and tiny
instances (every free size 2, m = 2; m = 3 with batch norm, whose statistics of two examples
are degenerate) for counterexamples a person can read.

>>> from derive.network.spec import Network
>>> nums = numbers_for(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
>>> f = nums.derivation.formula("dZ", 1)
>>> nums.equal(f.expr, f.target)
True
>>> nums.equal(f.expr.left, f.target)
False
"""

from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from derive.catalogue import rules
from derive.check import cost_terms as costs
from derive.check.precise import Judgement, judge_instances
from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.names import EPS, KEEP_PROB, LAMBDA
from derive.core.npform import numpy_function
from derive.engine.backward import derive as run_derive
from derive.network import model
from derive.network.scales import EPS_STANDIN, KEEP_PROB_STANDIN, LAMBDA_STANDIN
from derive.network.spec import Network, dim_symbol
from derive.network.spec import m as M_SYM
from derive.network.symbols import SymbolTable
from derive.parse.scalars import Evaluator, finite_float

MAIN_SIZES = (3, 4, 5, 2, 6)  # free sizes n[l] cycle through these; m is 7: all differ from m
MAIN_M = 7
MAIN_SEEDS = (101, 202, 303)
TINY_SEEDS = (1, 2, 3, 4)
KINK_MARGIN = 1e-6  # |Z - kink| below this is redrawn
MAX_SHOWN = 36  # entries of an input shown in a counterexample
MAX_NUMERIC_SIZE = 64  # wider layers are evaluated at a smaller stand-in size


class Env:
    """Values for every symbol on a stack of instances (axis 0), with the sizes used."""

    def __init__(self, net: Network, derivation, free_size, m: int, seeds: tuple[int, ...],
                 size_map: dict | None = None):
        size_map = size_map or {}
        prepare_activations(net)
        if size_map and net.layers is not None:  # wide layers: numbers on a narrower copy
            # (the formulas do not see sizes)
            net = net.replace(layers=tuple(size_map.get(s, s) for s in net.layers))
        sizes = [free_size(l) for l in range(net.L + 1)]
        # no finite differences here, so only an exact kink would matter: a tiny margin keeps wide
        # ReLU layers drawable (0.05 around every kink fails for a 20-unit layer)
        insts = [model.random_instance(net, seed=s, m=m, sizes=sizes, margin=KINK_MARGIN)
                 for s in seeds]
        self.sizes = insts[0].sizes
        self.m = m
        self.seeds = seeds
        X = np.stack([i.X for i in insts])
        Y = np.stack([i.Y for i in insts])
        params = {k: np.stack([i.params[k] for i in insts]) for k in insts[0].params}
        cache = model.forward(net, params, X)
        values: dict = {("X", None): X, ("Y", None): Y, **params}
        for (base, layer), v in cache.items():
            if layer != 0:
                values[base, layer] = v
        subs: dict[sp.Symbol, float] = {dim_symbol(l): int(n) for l, n in enumerate(self.sizes)}
        subs[M_SYM] = m
        subs[LAMBDA] = LAMBDA_STANDIN  # a symbolic L2 strength λ: the engine's numbers use this
        subs[KEEP_PROB] = KEEP_PROB_STANDIN  # a symbolic dropout keep probability, likewise
        subs[EPS] = EPS_STANDIN  # batch normalisation's ε
        self.backend = _Backend(model.standins(net), net.layout.unit_axis, subs, size_map)
        if net.loss is None:  # a generic loss: dA[L] is given, any array will do
            rng = np.random.default_rng(seeds[0] + 7)
            values["dA", net.L] = rng.normal(0.0, 1.0, size=values["A", net.L].shape)
        for f in derivation.formulas:
            values[f.target.key] = self.evaluate(f.expr, values)
        self.values = values

    def evaluate(self, e: E.Expr, values: dict | None = None) -> np.ndarray:
        """The value of ``e`` on every instance at once; KeyError for a symbol with no value."""
        vals = self.values if values is None else values
        with np.errstate(all="ignore"):
            try:
                out = E.evaluate(e, vals, self.backend)
            except E.MissingValue as exc:
                raise KeyError(exc.key) from None  # the checker names the quantity from its key
            return np.asarray(out, dtype=float)


def _fast_lambdify(params, expr):
    """``expr`` as a numpy function: walked into numpy calls where it keeps to the catalogue's
    functions (:mod:`derive.core.npform`: no code printer imported, ~0.1 s of a cold check),
    else ``sp.lambdify`` with the numpy module object rather than the string "numpy" (the same
    NumPy printer, without SymPy's ``from numpy import *``, which imports numpy.f2py,
    numpy.testing and unittest: a quarter of a second of cold start)."""
    fn = numpy_function(params, expr)
    return fn if fn is not None else sp.lambdify(params, expr, [np])


class _Backend(E.NumpyBackend):
    """The core's numpy backend with one instance's numbers bound: m and the free sizes n[l] in
    constants (1/m) and in the shapes of 𝟙, and a wide layer's size mapped to its stand-in."""

    def __init__(self, standins, unit_axis: int, subs: dict[sp.Symbol, float],
                 size_map: dict[int, int]):
        super().__init__(standins, unit_axis=unit_axis)
        self._subs = subs
        self._size_map = size_map
        self.subs, self.size_map = subs, size_map  # for the high-precision backend (precise)
        self._numbers: dict = {}  # constant -> float, memoized (few distinct constants per env)
        self._pointwise: dict = {}  # (expr, params) -> (function, its constants' values)

    def number(self, value) -> float:
        try:
            return self._numbers[value]
        except KeyError:
            pass
        # bounded, and NaN or ±inf where the constant is not a finite real number (log(0) is
        # SymPy's zoo, log(-1) is complex): float() of those raises, evalf of exp(exp(7**64))
        # never returns
        v = as_sympy(value)
        out = finite_float(Evaluator(), v, {s: self._subs[s] for s in v.free_symbols
                                            if s in self._subs})
        self._numbers[value] = out
        return out

    def pointwise(self, expr, params, values):
        key = (expr, params)
        if key not in self._pointwise:
            self._pointwise[key] = self._compile(expr, params)
        fn, consts = self._pointwise[key]
        return np.asarray(fn(*values, *consts), dtype=float) * np.ones_like(values[0])

    def _compile(self, expr, params):
        """``expr`` lambdified with each constant part (1/m, exp(exp(m**64)), log(2)) given as a
        float argument: m and the sizes bound, every constant computed by the bounded evaluator
        (numpy cannot take m, nor an integer beyond float64's range)."""
        consts: dict[sp.Dummy, float] = {}
        mine = set(params)

        def lift(e):
            if isinstance(e, sp.Expr) and not (e.free_symbols & mine):
                if e.is_Integer and abs(e) < 2**53:
                    return e
                d = sp.Dummy()
                consts[d] = self.number(e)
                return d
            if not e.args:
                return e
            return e.func(*(lift(a) for a in e.args))

        lifted = lift(expr)
        return _fast_lambdify((*params, *consts), lifted), tuple(consts.values())

    def size(self, d) -> int:
        n = int(self.number(d))
        return self._size_map.get(n, n)


def prepare_activations(net: Network) -> None:
    """Compile the numpy forms of the network's activations (and stand-ins) the light way; each
    entry caches them (functools.cached_property), so this only fills the cache first."""
    acts = [net.activation(l) or model.standin_activation(l) for l in range(1, net.L + 1)]
    for act in acts:
        if not act.elementwise:
            continue
        cache = act.__dict__
        if "numpy_forward" not in cache:
            cache["numpy_forward"] = _in_z(act.forward)
        if "numpy_derivative" not in cache:
            cache["numpy_derivative"] = _in_z(act.derivative_at_z)


def _in_z(expr: sp.Expr):
    """``expr`` (in z) as a numpy function, its fractions passed as arguments: expressions that
    differ only in their constants, as the stand-ins g[l](z) = tanh(z) + z/(l + 2) of a deep
    generic network do, share one lambdify (5 ms each: 10 s for 1,000 layers)."""
    consts: list[float] = []

    def lift(e):
        if e.is_Rational and not e.is_Integer:
            consts.append(float(e))
            return sp.Symbol(f"_c{len(consts) - 1}")
        if not e.args:
            return e
        return e.func(*(lift(a) for a in e.args))

    shape = lift(expr)
    fn = _lambdify_shape((rules.z, *(sp.Symbol(f"_c{i}") for i in range(len(consts)))), shape)
    values = tuple(consts)
    return lambda x: fn(x, *values)


@functools.lru_cache(maxsize=256)
def _lambdify_shape(params, expr):
    return _fast_lambdify(params, expr)


def shrink(layers, cap: int) -> dict[int, int]:
    """Sizes above ``cap`` mapped to distinct unused small sizes (equal sizes stay equal, and 1
    stays 1, so every shape that fits still fits and every clash still clashes)."""
    used = {s for s in layers if s is not None and s <= cap}
    out: dict[int, int] = {}
    candidate = 2
    for s in sorted({s for s in layers if s is not None and s > cap}):
        while candidate in used or candidate in MAIN_SIZES:
            candidate += 1
        out[s] = candidate
        used.add(candidate)
        candidate += 1
    return out


def close(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Per instance (axis 0): do the two stacks of matrices agree to float64 round-off?"""
    if got.shape != want.shape:
        try:
            got = np.broadcast_to(got, want.shape)
        except ValueError:
            return np.zeros(want.shape[0], dtype=bool)
    scale = np.maximum(1e-300, np.max(np.abs(want), axis=(-2, -1)))
    err = np.max(np.abs(got - want), axis=(-2, -1))
    finite = np.all(np.isfinite(got), axis=(-2, -1))
    return finite & (err <= 1e-8 * scale + 1e-12)


class Numbers:
    """Everything numeric about one network, computed once."""

    def __init__(self, net: Network):
        self.net = net
        self.table = SymbolTable(net)
        self.derivation = run_derive(net, prove=False, input_gradient=True)
        self.order = {f.target.key: i for i, f in enumerate(self.derivation.formulas)}
        self.order.update({(k, None): -1 for k in costs.KINDS})  # a cost uses no gradient
        self.size_map = shrink(net.layers, MAX_NUMERIC_SIZE)
        self.main = Env(net, self.derivation, lambda l: MAIN_SIZES[l % len(MAIN_SIZES)],
                        MAIN_M, MAIN_SEEDS, self.size_map)
        self._tiny: Env | None = None
        self._views: dict = {}

    @property
    def tiny(self) -> Env:
        if self._tiny is None:
            # batch norm at m = 2 is degenerate (Z_norm is ±1 exactly): m = 3 there
            m = 3 if "batchnorm" in self.net.kinds else 2
            self._tiny = Env(self.net, self.derivation, lambda l: 2, m, TINY_SEEDS, self.size_map)
        return self._tiny

    def allowed(self, env: Env, target: E.Sym) -> dict:
        """The values a formula for ``target`` may use: inputs, parameters, the forward pass and
        the gradients computed before ``target`` (not ``target`` itself nor what follows it)."""
        key = (id(env), target.key)
        if key not in self._views:
            cut = self.order[target.key]
            self._views[key] = {k: v for k, v in env.values.items()
                                if k not in self.order or self.order[k] < cut}
        return self._views[key]

    def equal(self, e: E.Expr, target: E.Sym, env: Env | None = None) -> bool:
        """Does ``e`` equal the engine's value of ``target`` on every instance?"""
        env = env or self.main
        got = env.evaluate(e, self.allowed(env, target))
        return bool(np.all(close(got, env.values[target.key])))

    def judge(self, e: E.Expr, target: E.Sym, expected: E.Expr) -> Judgement:
        """Does ``e`` equal the engine's ``expected`` (the formula for ``target``)? float64 first;
        where it finds a difference, the instances are decided again at high precision
        (:mod:`derive.check.precise`), so that an overflow or a cancellation of float64 never
        makes a correct formula wrong, and a value that is not finite is said so."""
        env = self.main
        values = self.allowed(env, target)
        got, want = env.evaluate(e, values), env.values[target.key]
        ok = close(got, want)
        if np.all(ok):
            return Judgement(True)
        if got.shape != want.shape:  # a constant (1×1, no instance axis): the same everywhere
            got = np.broadcast_to(got, want.shape)
        failing = [i for i in range(len(ok)) if not ok[i]]
        return judge_instances(env, e, expected, values, failing, got)

    def counterexample(self, e: E.Expr, target: E.Sym, expected: E.Expr) -> dict | None:
        """A small instance where ``e`` and the correct value differ: sizes, the inputs both sides
        use, both matrices and the first entry that differs."""
        for env in (self.tiny, self.main):
            try:
                got = env.evaluate(e, self.allowed(env, target))
            except KeyError:
                return None
            want = env.values[target.key]
            ok = close(got, want)
            bad = [i for i in range(len(ok)) if not ok[i]]
            if bad:
                return self._describe(env, bad[0], e, target, expected, got, want)
        return None

    def _describe(self, env: Env, i: int, e, target, expected, got, want) -> dict:
        g = np.broadcast_to(got, want.shape)[i]
        w = want[i]
        diff = np.abs(g - w) > 1e-8 * max(1e-300, float(np.max(np.abs(w)))) + 1e-12
        diff |= ~np.isfinite(g)
        r, c = (int(x) for x in np.argwhere(diff)[0])
        sizes = {f"n{l}": int(n) for l, n in enumerate(env.sizes)}
        sizes["m"] = env.m
        inputs = {}
        syms = sorted(e.symbols() | expected.symbols(), key=lambda s: s.text)
        for s in syms:
            if s.key == target.key or s.key not in env.values:
                continue
            v = env.values[s.key][i]
            inputs[s.text] = _matrix(v) if v.size <= MAX_SHOWN else f"{v.shape[0]}×{v.shape[1]} (not shown)"
        out = {
            "sizes": sizes,
            "seed": env.seeds[i],
            "inputs": inputs,
            "expected": _matrix(w) if w.size <= MAX_SHOWN else None,
            "got": _matrix(g) if g.size <= MAX_SHOWN else None,
            "entry": [r + 1, c + 1],
            "expected_entry": _round(w[r, c]),
            "got_entry": _round(g[r, c]),
        }
        generic = [l for l in range(1, self.net.L + 1) if self.net.activation(l) is None]
        notes = [f"g[{l}](z) = tanh(z) + z/{l + 2} in these numbers" for l in generic
                 if any(f"g[{l}]" in str(x) for x in (e, expected))]
        if self.net.loss is None and any(s.key == ("dA", self.net.L) for s in syms):
            notes.append(f"dA[{self.net.L}] is a random array (the loss is generic)")
        if self.size_map:
            wide = ", ".join(f"{a} → {b}" for a, b in self.size_map.items())
            notes.append(f"layers wider than {MAX_NUMERIC_SIZE} units are evaluated at a smaller "
                         f"size ({wide}): the formulas do not depend on the sizes")
        if notes:
            out["note"] = "; ".join(notes)
        return out


def _round(x) -> float | None:
    x = float(x)
    if not np.isfinite(x):
        return None
    return float(f"{x:.6g}") + 0.0  # -0.0 + 0.0 is 0.0: a zero prints as 0, never -0


def _matrix(v) -> list:
    return [[_round(x) for x in row] for row in np.asarray(v)]


@functools.lru_cache(maxsize=32)
def numbers_for(net: Network) -> Numbers:
    """The cached :class:`Numbers` of ``net`` (a frozen, hashable spec)."""
    return Numbers(net)
