"""Where the scalar chain rule breaks for matrices, and what the activation step really is.

:func:`naive_chain_rule` takes a student's ordering (the built-in one is seed 002's
``dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1])``: "multiply the derivatives in order") and tries it on the
same small sizes as the Jacobian: with symbolic sizes the product dZ[2] W[2]ᵀ is (n2×m)·(n1×n2) and
fails; with every size 2 it type-checks (the trap), so both formulas are evaluated on a random
instance and the entries that differ are listed, next to the engine's formula and a central
finite-difference check of it.

:func:`activation_step` shows ∂A/∂Z for an element-wise g (diagonal: the chain rule becomes
⊙ g′(Z)) next to softmax (a full per-example Jacobian diag(a) − a aᵀ, block diagonal across
examples).

>>> from derive.network.spec import Network
>>> r = naive_chain_rule(Network(depth=2))
>>> r.verdict, r.general_error is not None, len(r.differing) > 0
('fits_only_here', True, True)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import DeriveError, ParseError, ProofFailure, ShapeMismatch, SpecError
from derive.jacobian.tensor import jacobian, resolve_sizes
from derive.network.spec import Network, dim_symbol
from derive.network.spec import m as m_symbol

BUILTINS = ("seed", "dW")
_TARGET = re.compile(r"\s*d(?P<base>[WbZA])\s*(?:(?P<a>\d{1,4})|\[(?P<b>\d{1,4})\]|"
                     r"\^\{\[(?P<c>\d{1,4})\]\}|\^\[(?P<d>\d{1,4})\]|_\{?(?P<e>\d{1,4})\}?)\s*")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class NaiveResult:
    """The ordering tried on concrete sizes: shape errors, numbers, the engine's formula."""

    target: str  # e.g. "dZ[1]"
    written: str  # the formula as given (or the built-in, printed)
    general_error: str | None  # ShapeMismatch with symbolic sizes n0, n1, …, m
    concrete_error: str | None  # ShapeMismatch (or wrong result shape) at the concrete sizes
    sizes: tuple[int, ...]
    m: int
    correct: object  # derive.engine.backward.Formula
    student_value: np.ndarray | None
    correct_value: np.ndarray | None
    differing: tuple[tuple[int, int, float, float], ...]  # 1-based (i, j), student, correct
    fd_error: float | None  # the engine's formula against central differences of J
    verdict: str  # "shape_error" | "fits_only_here" | "wrong_numbers" | "agrees"
    seed: int = 0

    def to_text(self) -> str:
        from derive.jacobian.text import naive_text

        return naive_text(self)

    def to_latex(self) -> str:
        from derive.jacobian.text import naive_latex

        return naive_latex(self)

    def to_dict(self) -> dict:
        def arr(v):
            return None if v is None else np.round(v, 12).tolist()

        return {
            "target": self.target, "formula": self.written, "verdict": self.verdict,
            "general_shape_error": self.general_error, "concrete_shape_error": self.concrete_error,
            "sizes": list(self.sizes), "m": self.m, "seed": self.seed,
            "correct": self.correct.text, "correct_latex": self.correct.latex,
            "student_value": arr(self.student_value), "correct_value": arr(self.correct_value),
            "differing": [{"i": i, "j": j, "student": s, "correct": c}
                          for i, j, s, c in self.differing],
            "fd_relative_error": self.fd_error,
        }


def _table(net: Network, m: int | None):
    """Sym lookup with the network's shapes; ``m`` given: every size concrete."""
    from derive.network.symbols import SymbolTable

    T = SymbolTable(net)

    def get(base, layer=None):
        s = T[base, layer]
        if m is None:
            return s
        return E.Sym(s.base, s.layer, tuple(sp.Integer(as_sympy(d).subs(m_symbol, m))
                                            for d in s.shape))
    return get


def builtin(name: str, net: Network):
    """(target kind, layer, builder) of a built-in naive ordering: ``seed`` is seed 002's
    dZ[l] = dZ[l+1] W[l+1]ᵀ ⊙ g[l]′(Z[l]) (l = L−1), ``dW`` is dW[l] = (1/m) dZ[l] A[l-1]
    (∂Z/∂W taken as A, the scalar rule's guess; rows: (1/m) A[l-1] dZ[l])."""
    cols = net.convention == "columns"
    if name == "seed":
        if net.L < 2:
            raise SpecError("the seed example dZ[1] = dZ[2] W[2]ᵀ ⊙ g[1]′(Z[1]) needs two layers "
                            "(--layers n0,n1,n2)")
        l_ = net.L - 1

        def build(T):
            return E.Hadamard(E.MatMul(T("dZ", l_ + 1), E.Transpose(T("W", l_ + 1))),
                              E.Deriv(net.activation(l_), l_, T("Z", l_)))
        return "dZ", l_, build
    if name == "dW":
        l_ = net.L

        def build(T):
            prev = T("X") if l_ == 1 else T("A", l_ - 1)
            prod = E.MatMul(T("dZ", l_), prev) if cols else E.MatMul(prev, T("dZ", l_))
            return E.Scale(1 / m_symbol, prod) if net.scale == "mean" else prod
        return "dW", l_, build
    raise SpecError(f"unknown built-in example {name!r}; known: {', '.join(BUILTINS)}")


def _split(text: str, net: Network) -> tuple[str, int, str]:
    if len(text) > 2000:
        raise ParseError("the formula is too long (at most 2000 characters)", 2000, text[:80])
    if "=" not in text:
        raise ParseError("write the formula as TARGET = EXPRESSION, e.g. "
                         "dZ1 = dZ2 W2.T * g1'(Z1)", 0, text)
    lhs, rhs = text.split("=", 1)
    hit = _TARGET.fullmatch(lhs)
    if hit is None:
        raise ParseError("the left side must name a gradient: dZ1, dW[2], dA^{[1]}, db_1", 0, text)
    layer = int(next(v for k, v in hit.groupdict().items() if k != "base" and v is not None))
    kind = "d" + hit["base"]
    lo = 0 if kind == "dA" else 1
    if not lo <= layer <= net.L:
        raise SpecError(f"{lhs.strip()}: this network has layers 1 to {net.L}")
    return kind, layer, rhs


def _parser():
    try:
        from derive.parse import parse_expression
    except ImportError:
        raise DeriveError("reading a formula needs derive.parse, which is not installed in this "
                          "version; omit the formula to use the built-in example") from None
    return parse_expression


def _concrete(e: E.Expr, subs: dict) -> E.Expr:
    """The same tree with every symbolic size replaced (shapes re-checked on rebuilding)."""
    overrides = {}
    if isinstance(e, E.Sym | E.Ones):
        overrides["shape"] = tuple(as_sympy(d).subs(subs) for d in e.shape)
    if isinstance(e, E.Scale):
        overrides["factor"] = as_sympy(e.factor).subs(subs)
    return E.map_children(e, lambda c: _concrete(c, subs), **overrides)


def naive_chain_rule(net: Network, formula: str | None = None,
                     sizes: Mapping[str, int] | None = None, seed: int = 0,
                     example: str = "seed") -> NaiveResult:
    """Try a student's ordering (``formula`` as ``"dZ1 = ..."``, read by derive.parse; default the
    built-in ``example``) with symbolic sizes and with the concrete ones; when it fits, compare its
    numbers with the engine's formula on a random instance."""
    from derive.core.printing import to_text
    from derive.engine.backward import derive

    cnet, m = resolve_sizes(net, sizes)
    sym_net = Network((None,) * (cnet.L + 1), cnet.activations, cnet.loss, cnet.convention,
                      cnet.scale)
    subs = {dim_symbol(l): n for l, n in enumerate(cnet.layers)}  # type: ignore[arg-type]
    subs[m_symbol] = m
    general = concrete = None
    expr = None
    if formula is None:
        kind, layer, build = builtin(example, cnet)
        try:
            written = f"{kind}[{layer}] = {to_text(build(_table(sym_net, None)))}"
        except ShapeMismatch as exc:
            general = str(exc)
            written = ""
        try:
            expr = build(_table(cnet, m))
        except ShapeMismatch as exc:
            concrete = str(exc)
        if not written:
            written = _builtin_text(example, cnet, layer)
    else:
        kind, layer, rhs = _split(formula, cnet)
        written = formula.strip()
        parse = _parser()
        try:
            tree = parse(rhs, sym_net, syntax="auto")
        except ShapeMismatch as exc:
            general = str(exc)
            concrete = "not evaluated: the formula is rejected before any sizes are chosen"
        else:
            try:
                expr = _concrete(tree, subs)
            except ShapeMismatch as exc:
                concrete = str(exc)
    d = derive(cnet, prove=False)
    correct = d.get(kind, layer)
    if correct is None:
        raise SpecError(f"the engine derives no {kind}[{layer}] for this network")
    want = tuple(int(as_sympy(x).subs(subs)) for x in correct.shape)
    if expr is not None and tuple(int(x) for x in expr.shape) != want:
        concrete = (f"the result is {_fmt(expr.shape)} but {correct.name} is {_fmt(want)}")
        expr = None
    student_v = correct_v = None
    differing: list = []
    fd_err = None
    if expr is not None:
        student_v, correct_v, fd_err = _numbers(cnet, d, correct, expr, m, seed)
        for (i, j), s in np.ndenumerate(student_v):
            c = correct_v[i, j]
            if abs(s - c) > TOLERANCE * (1 + abs(c)):
                differing.append((i + 1, j + 1, float(s), float(c)))
    if expr is None:
        verdict = "shape_error"
    elif differing:
        verdict = "fits_only_here" if general else "wrong_numbers"
    else:
        verdict = "agrees"
    return NaiveResult(f"{kind}[{layer}]" if not (kind == "dA" and layer == 0) else "dX",
                       written, general, concrete, tuple(cnet.layers), m, correct, student_v,
                       correct_v, tuple(differing), fd_err, verdict, seed)


def _builtin_text(example: str, net: Network, layer: int) -> str:
    g = f"g[{layer}]" if net.activation(layer) is None else net.activation(layer).text
    if example == "seed":
        return f"dZ[{layer}] = dZ[{layer + 1}] W[{layer + 1}]ᵀ ⊙ {g}′(Z[{layer}])"
    prev = "X" if layer == 1 else f"A[{layer - 1}]"
    scale = "(1/m) " if net.scale == "mean" else ""
    if net.convention == "columns":
        return f"dW[{layer}] = {scale}dZ[{layer}] {prev}"
    return f"dW[{layer}] = {scale}{prev} dZ[{layer}]"


def _numbers(net, d, correct, expr, m, seed):
    from derive.core import fd
    from derive.core.expr import NumpyBackend, evaluate
    from derive.engine.values import bind_m, gradient_values
    from derive.network import model

    inst = model.random_instance(net, seed=seed, m=m, sizes=net.layers)
    env = gradient_values(d, inst)
    student = np.asarray(evaluate(bind_m(expr, m), env, NumpyBackend(model.standins(net))),
                         dtype=float)
    kind, layer = correct.kind, correct.layer
    right = np.asarray(env[kind, layer], dtype=float)
    scale = 1.0 / m if net.scale == "mean" else 1.0
    params = inst.params

    def cost(cache):
        return model.cost(net, cache, inst.Y)

    if kind in ("dW", "db"):
        key = (kind[1], layer)

        def J(P):
            return cost(model.forward(net, {**params, key: P}, inst.X))
        fd_err = fd.relative_error(fd.central_differences(J, params[key]), right)
    else:
        base = kind[1]

        def J(V):
            return cost(model.forward(net, params, inst.X, start=layer, start_value=(base, V)))
        fd_err = fd.relative_error(fd.central_differences(J, env[base, layer]), scale * right)
    return student, right, fd_err


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape)


# -- the activation step -----------------------------------------------------------------------
@dataclass(frozen=True)
class ActivationStep:
    """∂A[l]/∂Z[l] for an element-wise g next to softmax, on the same Z."""

    layer: int
    elementwise: object  # JacobianResult
    softmax: object | None  # JacobianResult (None when the layer has one unit)
    block: sp.Matrix | None  # one example's softmax block, diag(a) − a aᵀ, in A's entries
    note: str

    def to_text(self) -> str:
        from derive.jacobian.text import activation_text

        return activation_text(self)

    def to_latex(self) -> str:
        from derive.jacobian.text import activation_latex

        return activation_latex(self)

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "elementwise": self.elementwise.to_dict(),
            "softmax": None if self.softmax is None else self.softmax.to_dict(),
            "softmax_block": None if self.block is None else
            [[sp.sstr(x) for x in row] for row in self.block.tolist()],
            "note": self.note,
        }


def activation_step(net: Network, layer: int = 1,
                    sizes: Mapping[str, int] | None = None) -> ActivationStep:
    """Both Jacobians of layer ``layer``'s activation step. The element-wise side uses the layer's
    own g (a generic g[l] when the layer is softmax); the softmax side replaces the layer's g."""
    cnet, m = resolve_sizes(net, sizes)
    if not 1 <= layer <= cnet.L:
        raise SpecError(f"layer {layer}: this network has layers 1 to {cnet.L}")
    acts = list(cnet.activations)  # type: ignore[arg-type]
    own = cnet.activation(layer)
    note = ""
    if own is not None and not own.elementwise:
        acts[layer - 1] = None
        note = f"layer {layer} is softmax; the element-wise side uses a generic g[{layer}]"
    el_net = Network(cnet.layers, tuple(acts), None, cnet.convention, cnet.scale)
    elem = jacobian(f"A{layer}", f"Z{layer}", el_net, {"m": m})
    soft = block = None
    if cnet.layers[layer] >= 2:  # type: ignore[index]
        acts[layer - 1] = "softmax"
        sm_net = Network(cnet.layers, tuple(acts), None, cnet.convention, cnet.scale)
        soft = jacobian(f"A{layer}", f"Z{layer}", sm_net, {"m": m})
        if soft.rule is None:  # the closed form δ·a(δ − a) must match every SymPy entry
            raise ProofFailure(f"softmax Jacobian of layer {layer} does not match diag(a) − a aᵀ")
        n = cnet.layers[layer]  # type: ignore[index]
        a = [sp.Symbol(f"A{layer}_{i}_0" if cnet.convention == "columns" else f"A{layer}_0_{i}",
                       real=True) for i in range(n)]
        block = sp.Matrix(n, n, lambda i, k: a[i] * ((1 if i == k else 0) - a[k]))
    else:
        note = (note + "; " if note else "") + f"layer {layer} has one unit: no softmax to compare"
    return ActivationStep(layer, elem, soft, block, note)
