"""Proof of every formula a derivation emits, by the tool itself, two independent ways.

1. Element-wise (SymPy, exact). Each formula is a local step of the chain rule: it maps the upstream
   gradient U (an already proven formula, or the loss) to a gradient with respect to one quantity V.
   On a small instance with symbolic entries, SymPy differentiates the scalar surrogate
   J̃ = s·Σ U ⊙ F(V), where F is the network's own forward map from V to U's quantity (from
   :mod:`derive.network.model`, not from the formulas), and each entry ∂J̃/∂V_ij must equal the formula's
   entry exactly. By the multivariable chain rule this proves the formula for any upstream value,
   so the proofs chain through any depth in linear time. Element-wise activations are undefined
   functions g_l there (the formula holds for every g); each catalogue derivative is proven
   separately (SymPy diff of the forward definition). Output layers with a concrete loss are proven
   with the concrete loss and activation (that is where sigmoid + bce ⇒ A − Y is shown).
2. Numerically (numpy, float64): the same local surrogates on a random, well-scaled instance away
   from kinks (the network's sizes, m = 4; concrete activations, or smooth stand-ins for a generic
   g), differentiated by central differences; relative error ‖g − ĝ‖/(‖g‖ + ‖ĝ‖) below the
   threshold. Local, because end to end the gradients of a deep network vanish below float64's
   noise and a correct formula would fail (measured: depth 50 tanh, relative error 1.0);
   end-to-end checks of the whole chain are ``derive gradcheck``'s job and the tests'.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> p = prove(derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"), prove=False))
>>> p.passed, len(p.formulas), p.formulas[1].name, p.formulas[1].elementwise
(True, 8, 'dZ[2]', 'exact')
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import fd
from derive.core.expr import as_sympy, evaluate
from derive.engine import proof_cache
from derive.engine.proof_keys import (
    FD_M,
    SYMBOLIC_M,
    absolute_text,
    fd_parts,
    persistent_key,
    relative_text,
    shape_at,
)
from derive.engine.proof_keys import grad_key as _grad_key
from derive.engine.proof_keys import local_key as _local_key
from derive.engine.proof_result import FormulaProof, Proof
from derive.errors import InternalError, ProofFailure
from derive.layers.dropout import draw_mask
from derive.network import model
from derive.network.spec import Network, dim_symbol, factor_at
from derive.network.spec import m as m_symbol
from derive.network.symbols import shape_of

__all__ = ["FormulaProof", "Proof", "prove"]

if TYPE_CHECKING:  # annotations only: backward imports this module to prove what it derives
    from derive.engine.backward import Derivation, Formula

SYMBOLIC_SIZES = (2, 3)  # the element-wise instance alternates these sizes: distinct, small
MAX_FD_WIDTH = 16  # finite differences check wide layers at this width
KINK_MARGIN = 0.05  # a loss's kinks (the hinge's margins) stay this far from 0 in the fd instance
KINK_DRAWS = 200  # draws of that instance before taking the last one


def prove(
    derivation,
    seed: int = 0,
    eps: float = fd.DEFAULT_EPS,
    threshold: float = fd.DEFAULT_THRESHOLD,
    strict: bool = False,
    cache: bool | None = None,
) -> Proof:
    """Prove every formula of ``derivation``; with ``strict`` raise ProofFailure on any failure.
    ``seed`` (a whole number ≥ 0) draws the finite-difference instance, which has at most
    :data:`MAX_FD_WIDTH` units per layer and m = 4 whatever the network's sizes. ``cache``: read
    and write the proof cache (:mod:`derive.engine.proof_cache`); False proves afresh, None (the
    default) uses it unless ``--no-cache`` or ``$DERIVE_NO_CACHE`` says otherwise. A cached
    result is the same result: only its ``cached`` date differs."""
    seed = model.checked_seed(seed)
    net = derivation.network
    store = proof_cache.open_cache(cache)
    identities = tuple(
        _activation_proof(net.activation(l), store)
        for l in range(1, net.L + 1)
        if net.activation(l) is not None and net.activation(l).elementwise
    )
    sizes = _fd_sizes(net)
    n = len(derivation.formulas)
    keys = _persistent_keys(derivation, sizes, seed, eps) if store is not None else []
    found = {i: r for i, k in enumerate(keys) if (r := _valid(store.get(k)))} if store else {}
    todo = [i for i in range(n) if i not in found]
    exact = _elementwise(derivation, todo)
    fd_errors = _finite_differences(derivation, seed, eps, todo)[0] if todo else {}
    results = {i: (*exact[i], fd_errors[i], None) for i in todo}
    results.update((i, (r["elementwise"], r["entries"],
                        absolute_text(r["method"], derivation.formulas[i].layer), r["fd_error"],
                        r["date"])) for i, r in found.items())
    if store is not None and todo:
        for i in todo:
            ew, entries, method, error, _ = results[i]
            store.put(keys[i], {"elementwise": ew, "entries": entries, "fd_error": error,
                                "method": relative_text(method, derivation.formulas[i].layer)})
        store.prune()
    proofs = tuple(  # by position: a layer may give two formulas of one kind (batch norm's dZ)
        FormulaProof(f.name, f.kind, f.layer, ew, entries, method, error, error < threshold, date)
        for i, f in enumerate(derivation.formulas)
        for ew, entries, method, error, date in (results[i],)
    )
    proof = Proof(proofs, tuple(dict.fromkeys(identities)), eps, threshold, sizes, FD_M, seed)
    if strict and not proof.passed:
        bad = [f for f in proof.formulas if not f.passed]
        details = "; ".join(
            f"{f.name}: element-wise {f.elementwise}, fd error {f.fd_error:.2e}" for f in bad
        )
        raise ProofFailure(f"the engine's own proof failed for {net.describe()}: {details}")
    return proof


def _fd_sizes(net) -> tuple[int, ...]:
    # The formulas do not depend on the sizes; wide layers are checked at a narrower width
    # (a 1000×500 W would mean 500,000 perturbed copies for nothing more).
    return tuple(min(s, MAX_FD_WIDTH) for s in model.concrete_sizes(net))


def _persistent_keys(derivation, sizes, seed, eps) -> list:
    net = derivation.network
    sym_net, fd_net = _symbolic_net(net), net.replace(layers=sizes)
    sym_shapes: dict = {}
    fd_shapes: dict = {}
    return [persistent_key(sym_net, fd_net, f, sym_shapes, fd_shapes, seed, eps)
            for f in derivation.formulas]


def _valid(result: dict | None) -> dict | None:
    """A cached result with every field of the right type, else None (proven again)."""
    if result is None:
        return None
    types = {"elementwise": str, "entries": int, "method": str, "fd_error": float, "date": str}
    ok = all(isinstance(result.get(k), t) and not isinstance(result.get(k), bool)
             for k, t in types.items())
    return result if ok and result["elementwise"] in ("exact", "failed") else None


def _activation_proof(act: rules.Activation, store) -> str:
    """The catalogue derivative's proof (cached under the activation's name: the entry's
    catalogue hash pins its definition)."""
    if store is None:
        return _prove_activation(act)
    key = ["activation", act.name]
    hit = store.get(key)
    if hit is not None and isinstance(hit.get("text"), str):
        return hit["text"]
    text = _prove_activation(act)
    store.put(key, {"text": text})
    return text


# -- 1. element-wise, exact ----------------------------------------------------------------------
@functools.cache
def _prove_activation(act: rules.Activation) -> str:
    z = rules.z
    if not _is_zero(sp.piecewise_fold(sp.diff(act.forward, z) - act.derivative_at_z)):
        raise ProofFailure(
            f"catalogue: {act.name}'s textbook derivative {act.derivative} is not "
            f"the derivative of {act.forward}"
        )
    return f"{act.text}′ = {sp.sstr(act.derivative)}"


def _symbolic_net(net):
    """The network at sizes of 2 or 3 (its own where those are already that small)."""
    sizes = []
    for l in range(net.L + 1):
        given = net.layers[l]
        sizes.append(given if given is not None and given <= 3 else SYMBOLIC_SIZES[l % 2])
    return net.replace(layers=tuple(sizes))


def _elementwise(derivation: Derivation, only=None) -> dict[int, tuple[str, int, str]]:
    """Position -> (verdict, entries, method) for the formulas at positions ``only`` (all)."""
    net = _symbolic_net(derivation.network)
    out: dict[int, tuple[str, int, str]] = {}
    done: dict[tuple, tuple[str, int, str]] = {}
    shapes: dict = {}
    for i in range(len(derivation.formulas)) if only is None else only:
        f = derivation.formulas[i]
        # Layers of a deep network repeat the same local problem up to the names of its symbols;
        # such a problem is proven once (a renaming of symbols does not change a derivative).
        key = _local_key(net, f, shapes)
        if key not in done:  # its method kept with layers relative to the formula's
            ew, entries, method = _prove_local(net, f)
            done[key] = (ew, entries, relative_text(method, f.layer))
        ew, entries, method = done[key]
        out[i] = (ew, entries, absolute_text(method, f.layer))
    return out


def _mat(name, shape):
    return model.symbol_matrix(name, int(shape[0]), int(shape[1]))


def _shape(net, base, layer):
    return shape_at(net, base, layer, SYMBOLIC_M)


def _names(keys) -> list[str]:
    """Entry names for a problem's matrices: the base alone (W, A, b: the same names at every
    layer, so SymPy's cache serves the repeated problems of a deep network), numbered only where
    one problem has two quantities of the same base."""
    seen: dict[str, int] = {}
    out = []
    for base, _ in keys:
        seen[base] = seen.get(base, -1) + 1
        out.append(base if seen[base] == 0 else f"{base}{seen[base]}")
    return out


def _targets(net):
    """Y with symbolic entries; for ce each example's targets sum to 1 (the loss's assumption)."""
    Y = _mat("Y", _shape(net, "Y", None))
    if net.loss == "ce":
        cols = net.layout.columns
        Yc = Y if cols else Y.T
        for t in range(Yc.cols):
            Yc[Yc.rows - 1, t] = 1 - sum(Yc[k, t] for k in range(Yc.rows - 1))
        Y = Yc if cols else Yc.T
    return Y


def _loss_gradient(net: Network, loss: rules.Loss, out: sp.Matrix, Y: sp.Matrix) -> sp.Matrix:
    """∂(Σ ℓ)/∂A[L] at A[L] = ``out``, by SymPy's diff of the catalogue's terms at free entries
    (not from the engine's formula): the value of dA[L] where a proof of dZ[L] reads it."""
    free = model.symbol_matrix("Aₗ", out.rows, out.cols)
    total = sum(loss.sympy_terms(free, Y, net.layout.columns))
    at = dict(zip(free, out, strict=True))
    return sp.Matrix(out.rows, out.cols, lambda i, j: sp.diff(total, free[i, j]).subs(at, simultaneous=True))


def _prove_local(net: Network, f: Formula) -> tuple[str, int, str]:
    """J̃ = s·Σ U ⊙ F(V) (or Σ ℓ(F(V), Y)), F the layers' own definitions from V to the upstream
    quantity, differentiated by SymPy entry by entry and compared with the formula's entries."""
    loc = f.local
    if loc is None:  # only a layer's backward rule states what its formula differentiates
        return ("failed", 0, f"{f.name} was not derived by a layer: no local problem to prove")
    backend = model.sympy_backend(net, generic=loc.generic)
    env: dict = {}
    keys = (loc.wrt, *loc.leaves)
    for key, name in zip(keys, _names(keys), strict=True):
        env[key] = _mat(name, _shape(net, *key))
    V = env[loc.wrt]
    coupled = not net.all_dense  # batch statistics: their 1/m at this instance's m examples
    for target, definition in loc.through:
        value = evaluate(definition, env, backend)
        env[target.key] = value.subs(m_symbol, SYMBOLIC_M) if coupled else value
    out = env[loc.output]
    kinked = loc.loss and net.loss_entry is not None and bool(net.loss_entry.kinks)
    table: dict = {}  # condition -> the symbol of its side (a loss with kinks: the hinge)
    if kinked:  # frozen before the loss sees it: SymPy turns a piece inside a condition into ITE
        out = env[loc.output] = out.applyfunc(lambda e: _frozen(e, table))
    if loc.loss:
        loss = net.loss_entry
        if loss is None:
            raise InternalError(f"{f.name} poses a loss problem in a network without a loss: "
                                "this is a bug in derive's layers")
        Y = env["Y", None] = _targets(net)
        c = net.output_factor.subs(m_symbol, SYMBOLIC_M)  # 1/m for scale dZ, else 1
        surrogate = c * sum(loss.sympy_terms(out, Y, net.layout.columns))
        if any(s.key == _grad_key(loc.output) for s in f.expr.symbols()):  # dA[L] = c ∂ℓ/∂A[L]
            env[_grad_key(loc.output)] = c * _loss_gradient(net, loss, out, Y)
    else:
        U = env[_grad_key(loc.output)] = _mat("U", out.shape)
        s = net.weight_factor.subs(m_symbol, SYMBOLIC_M) if loc.scaled else 1
        surrogate = s * sum(U[i] * out[i] for i in range(len(U)))
        if loc.penalty != 0:  # an L2 term on wrt: p Σ wrt², p with m bound (λ stays a symbol)
            surrogate += as_sympy(loc.penalty).subs(m_symbol, SYMBOLIC_M) * sum(v**2 for v in V)
    try:
        ours = evaluate(f.expr, env, backend)
    except KeyError as exc:  # the formula uses a quantity this step cannot depend on
        return ("failed", 0, f"{exc.args[0]} is not an input of this step")
    ours = ours.subs({m_symbol: SYMBOLIC_M, **{dim_symbol(l): s for l, s in enumerate(net.layers)}})
    if kinked:  # off the kinks each indicator is locally constant: a symbol of its condition
        surrogate, ours = _frozen(surrogate, table), ours.applyfunc(lambda e: _frozen(e, table))
    true = sp.Matrix(V.rows, V.cols, lambda i, j: sp.diff(surrogate, V[i, j]))
    if kinked:  # an indicator is idempotent: h² = h, so h (1 − h) = 0 (nested pieces, elu′)
        sides = set(table.values())
        true, ours = (x.applyfunc(lambda e: _idempotent(e, sides)) for x in (true, ours))
    if ours.shape != true.shape:
        return ("failed", 0, f"shape {ours.shape} instead of {true.shape}")
    ok = all(_equal(true[i], ours[i], exact_fast=loc.generic) for i in range(len(true)))
    base, l = loc.wrt
    wrt = base if l is None else f"{base}[{l}]"
    how = f"SymPy ∂/∂{wrt} of {loc.method}"
    if kinked and net.loss_entry is not None:
        how = (f"{how}, each indicator [c] held constant (its derivative off the kinks); at a kink "
               f"the formula takes the catalogue's value: {net.loss_entry.kink}")
    return ("exact" if ok else "failed", len(true), how)


def _idempotent(expr: sp.Expr, sides: set) -> sp.Expr:
    """``expr`` expanded with every power hᵏ of an indicator symbol h written h."""
    return sp.expand(expr).replace(
        lambda e: e.is_Pow and e.base in sides and e.exp.is_Integer and e.exp > 0, lambda e: e.base)


def _frozen(expr: sp.Expr, table: dict) -> sp.Expr:
    """``expr`` with each two-piece ``Piecewise((v, c), (w, True))`` written v h + w (1 − h), h a
    symbol per condition c (shared through ``table``): the function on the side of the kink
    where the instance is, whose derivative is the formula's off the kink (the kink itself is
    the catalogue's stated convention, as relu′(0) := 0 is)."""

    def freeze(e):
        (v, c), (w, _) = e.args
        # one symbol per condition, however SymPy wrote it: a − s > −1 and a + 1 − s > 0 alike
        key = (type(c), sp.expand(c.lhs - c.rhs)) if isinstance(c, sp.core.relational.Relational) else c
        h = table.setdefault(key, sp.Symbol(f"_side{len(table)}", real=True))
        return v * h + w * (1 - h)

    return expr.replace(lambda e: isinstance(e, sp.Piecewise) and len(e.args) == 2
                        and e.args[1].cond == sp.true, freeze)


def _equal(a, b, exact_fast: bool) -> bool:
    d = sp.expand(a - b)
    if d == 0:
        return True
    if exact_fast:
        d = sp.expand(d.doit())
        if d == 0:
            return True
    # Entries of one formula differ only in their symbols' indices: simplify each shape once.
    symbols = sorted(d.free_symbols, key=sp.default_sort_key)
    canonical = d.xreplace({s: sp.Symbol(f"_c{i}", real=True) for i, s in enumerate(symbols)})
    return _simplifies_to_zero(canonical)


@functools.lru_cache(maxsize=4096)
def _simplifies_to_zero(d: sp.Expr) -> bool:
    return _is_zero(sp.piecewise_fold(d))


def _is_zero(d: sp.Expr) -> bool:
    """``cancel`` first (a rational function of its atoms put over one denominator: what every
    entry of the catalogue's networks needs, at a fifth of ``simplify``'s time, and without
    ``simplify``'s import of sympy.physics, 80 ms of a cold run), ``simplify`` only if that is
    not enough. Both are equivalences, so 0 from either is a proof."""
    try:
        if sp.cancel(d) == 0:
            return True
    except (sp.PolynomialError, TypeError, ValueError):  # a Piecewise or a relation inside
        pass
    return sp.simplify(d) == 0


# -- 2. finite differences, local ---------------------------------------------------------------
def _random_z(net, layer, rng, shape, margin=0.05):
    import numpy as np
    act = net.activation(layer)
    kinks = [float(k) for k in act.kinks] if act is not None else []
    Z = rng.normal(size=shape)
    for k in kinks:  # move entries off a kink so central differences do not straddle it
        near = np.abs(Z - k) < margin
        Z[near] = k + np.where(Z[near] >= k, 1, -1) * (margin + rng.uniform(0, 1, size=near.sum()))
    return Z


def _loss_sum(net, A, Y):
    import numpy as np
    loss = model.loss_or_standin(net)
    return np.sum(loss.numpy_terms(A, Y, net.layout.unit_axis), axis=(-2, -1))


def _local_numeric(net, f, rng, m_value, backend, shapes: dict):
    """(V, J̃(V batch), env): the numeric twin of the element-wise surrogate for formula ``f``:
    the same local problem, random values (V first where it is not a leaf: a Z off the kinks, or
    A[L] inside the loss's domain), the layers' definitions evaluated with numpy. ``backend``
    and ``shapes`` (a cache, key -> shape) are shared by the network's formulas."""
    import numpy as np
    loc = f.local

    def shape(key):
        if key not in shapes:
            r, c = shape_of(net, *key)
            shapes[key] = (int(r.subs(m_symbol, m_value)), int(c.subs(m_symbol, m_value)))
        return shapes[key]

    def run(values):
        for target, definition in loc.through:
            values[target.key] = evaluate(definition, values, backend)
        return values[loc.output]

    kinks = loc.loss and net.loss_entry is not None and bool(net.loss_entry.kinks)
    for _ in range(KINK_DRAWS if kinks else 1):  # a hinge: redraw until every margin is off 0
        env: dict = {}
        if loc.wrt not in loc.leaves:
            base, layer = loc.wrt
            if base in ("Z", "Ztilde"):  # an activation's argument: off its kinks
                env[loc.wrt] = _random_z(net, layer, rng, shape(loc.wrt))
            elif kinks:  # A[L] under a hinge: scores of either sign about its margin
                env[loc.wrt] = rng.normal(0.0, 1.5, size=shape(loc.wrt))
            else:  # A[L] under the loss
                env[loc.wrt] = rng.uniform(0.05, 0.95, size=shape(loc.wrt))
        for key in loc.leaves:  # a dropout mask is a 0/1 constant, drawn as the course draws it
            env[key] = (draw_mask(net, key[1], rng, shape(key)) if key[0] == "D"
                        else rng.normal(size=shape(key)))
        run(env)
        Y_drawn = model.random_targets(net, rng, int(net.dim(net.L)), m_value) if loc.loss else None
        if not kinks or np.min(net.loss_entry.kink_distance(env[loc.output], Y_drawn,
                                                            net.layout.unit_axis)) >= KINK_MARGIN:
            break
    out_shape = np.shape(env[loc.output])
    fixed = dict(env)
    if loc.loss:
        Y = env["Y", None] = rng_targets = Y_drawn
        out = env[loc.output]
        c = factor_at(net.output_factor, m_value)  # 1/m for scale dZ, else 1
        env[_grad_key(loc.output)] = c * net.loss_entry.numpy_gradient(out, Y, net.layout.unit_axis)

        def surrogate(v):
            return c * _loss_sum(net, run({**fixed, loc.wrt: v}), rng_targets)
    else:
        U = env[_grad_key(loc.output)] = rng.normal(size=out_shape)
        s = factor_at(net.weight_factor, m_value) if loc.scaled else 1.0
        p = factor_at(loc.penalty, m_value)  # an L2 term on wrt (λ at its stand-in value)

        def surrogate(v):
            return (s * np.sum(U * run({**fixed, loc.wrt: v}), axis=(-2, -1))
                    + p * np.sum(v**2, axis=(-2, -1)))

    return env[loc.wrt], surrogate, env


def _finite_differences(derivation, seed, eps, only=None):
    """Position -> relative error for the formulas at ``only`` (all), the sizes and m. Each
    problem draws its instance from its own generator, seeded by ``seed`` and the problem's key,
    so a problem's error does not depend on the formulas proven before it (the proof cache
    keeps it per problem) and a problem a deep network repeats is checked once."""
    import numpy as np
    net = derivation.network
    sizes = _fd_sizes(net)
    fd_net = net.replace(layers=sizes)
    m_value = FD_M
    backend = model.numpy_backend(net, m_value, sizes)
    # once: it looks at every layer (quadratic if per formula); batch norm's means need m bound
    fd_backend = model.numpy_backend(fd_net, None if net.all_dense else m_value)
    shapes: dict = {}
    errors: dict[int, float] = {}
    done: dict[str, float] = {}
    for i in range(len(derivation.formulas)) if only is None else only:
        f = derivation.formulas[i]
        key = proof_cache.Cache.key_text(fd_parts(fd_net, f, shapes, seed, eps))
        if key not in done:
            digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            done[key] = _fd_error(f, fd_net, np.random.default_rng([seed, digest]), m_value,
                                  backend, fd_backend, shapes, eps)
        errors[i] = done[key]
    return errors, sizes, m_value


def _fd_error(f, fd_net, rng, m_value, backend, fd_backend, shapes, eps) -> float:
    import numpy as np
    V, surrogate, env = _local_numeric(fd_net, f, rng, m_value, fd_backend, shapes)
    numeric = fd.central_differences(surrogate, V, eps)
    try:
        analytic = evaluate(f.expr, env, backend)
    except KeyError:
        return 1.0
    if np.shape(analytic) != numeric.shape:
        return 1.0
    return float(fd.relative_error(analytic, numeric))
