"""Both proofs of every CNN step: SymPy entry by entry, and central differences.

For a step ``d(wrt) = formula`` with local problem (:class:`~derive.conv.steps.TensorLocal`)
J̃ = c Σ U ⊙ output(wrt, …), U the upstream gradient and c the walk's 1/m where scaled, the
gradient ∂J̃/∂wrt is, by the multivariable chain rule, what the formula must equal for every U.

- **SymPy, entry by entry.** Every input of the layer's forward definition is an array of SymPy
  symbols; the forward node evaluates over them (:class:`~derive.core.tensor.SympyTensors`, the
  same ``compute`` the numbers run), J̃ is differentiated by SymPy with respect to each entry of
  wrt, and each derivative is compared with the formula's entry. Polynomial steps (convolution,
  average pooling, flatten) stay symbolic and are compared exactly (``expand`` of the difference is
  0). Steps through a non-polynomial function (the activation, max pooling) are compared at a
  point: the other inputs are random rationals (no ties, off the kinks), U stays symbolic, and the
  difference must vanish (exactly, else to 50 digits). This runs on the printed node itself when
  the layer is small (:data:`SYMPY_TERMS` terms), else on a tiny instance of the same layer built by the
  same rule (stride and pad kept, two window positions per axis, 2 channels, m = 2).
- **Finite differences** on the printed node at the spec's sizes (m = the spec's ``examples`` or
  2): central differences of J̃ at up to :data:`FD_ENTRIES` entries of wrt, relative error
  ‖g − ĝ‖/(‖g‖ + ‖ĝ‖) below 1e-7.

The dense head is proven by the dense engine's own proof (:func:`derive.engine.proof.prove`).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path
from typing import Any

import sympy as sp

from derive.conv.spec import CNNLayer
from derive.conv.steps import CNNDerivation, ConvStep, TensorWalk, with_proofs
from derive.core import tensor as T
from derive.core.fd import DEFAULT_EPS
from derive.core.names import m as M
from derive.engine import proof_cache
from derive.engine.proof_result import FormulaProof, Proof
from derive.errors import ProofFailure
from derive.layers import layer_type

#: terms of the surrogate J̃ the SymPy proof expands on the printed node; beyond, it runs on a tiny
#: instance of the same layer (a switch, not a refusal: every spec is proven)
SYMPY_TERMS = 2500
FD_ENTRIES = 300  # entries of wrt differenced per step (a seeded sample beyond)
THRESHOLD = 1e-7  # the course's gradient-check threshold
FD_WORK = 400_000  # terms of one forward evaluation beyond which the differences run on a tiny instance
PROOF_M = 2


def _nonpolynomial(step: ConvStep, layer: CNNLayer) -> bool:
    return step.kind == "dZ" or (layer.kind == "pool" and layer.mode == "max")


def tiny(layer: CNNLayer) -> CNNLayer:
    """The same layer (kind, f, s, pad, mode, activation) at the smallest sizes that still have
    two window positions per axis (and, at stride > 1, a row the windows skip), 2 channels."""
    if layer.kind == "flatten":
        return replace(layer, in_shape=(2, 2, 2), out_shape=(8,))
    f, s, p = layer.size, layer.stride, layer.pad
    n = max(1, f - 2 * p) + s + (1 if s > 1 else 0)
    c = min(layer.in_shape[2], 2)
    if layer.kind == "pool":
        o = (n - f) // s + 1
        return replace(layer, in_shape=(n, n, c), out_shape=(o, o, c))
    o = (n + 2 * p - f) // s + 1
    k = min(layer.filters, 2)
    return replace(layer, in_shape=(n, n, c), out_shape=(o, o, k), filters=k)


def _terms(step: ConvStep, definition: T.Tensor, m_: int) -> int:
    out = 1
    for d in T.concrete(definition.shape, T.TensorBackend({M: m_})):
        out *= d
    inner = 1
    for node in definition.walk():
        if hasattr(node, "weights"):
            fw = node.weights.shape  # type: ignore[attr-defined]
            inner = fw[0] * fw[1] * fw[2]
        elif hasattr(node, "size") and isinstance(node.size, int):  # pooling
            inner = node.size ** 2  # type: ignore[attr-defined]
    return out * (inner + 1)


def _symbols(name: str, shape: tuple[int, ...]):
    import numpy as np
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = sp.Symbol(f"{name}_{'_'.join(map(str, idx))}", real=True)
    return out


def _rational_point(rng, shape: tuple[int, ...]):
    """Distinct nonzero rationals: no ties for max pooling, never on relu's kink at 0."""
    import numpy as np
    count = int(np.prod(shape))
    values = rng.permutation(np.arange(1, count + 1)) * rng.choice([-1, 1], size=count)
    out = np.empty(shape, dtype=object)
    for idx, v in zip(np.ndindex(shape), values, strict=True):
        out[idx] = sp.Rational(int(v), count)
    return out


def _leaves(definition: T.Tensor) -> list[T.TSym]:
    return list(dict.fromkeys(n for n in definition.walk() if isinstance(n, T.TSym)))


def _definition(walk: TensorWalk, layer: CNNLayer, output) -> T.Tensor:
    defs = dict((t.key, e) for t, e in layer_type(layer.kind).cnn_forward(walk, layer))  # type: ignore[attr-defined]
    return defs[output]


def sympy_check(step: ConvStep, walk: TensorWalk, layer: CNNLayer, m_: int, seed: int
                ) -> tuple[str, int, str]:
    """("exact" | "failed", entries compared, how) for ``step`` of ``layer`` built by ``walk``;
    ``how`` says where the comparison was not symbolic (a rational point, 60 digits)."""
    import numpy as np
    local = step.local
    assert local is not None
    definition = _definition(walk, layer, local.output)
    be = T.SympyTensors({M: m_})
    rng = np.random.default_rng(seed)
    point = _nonpolynomial(step, layer)
    env: dict[Any, Any] = {}
    sym_env: dict[Any, Any] = {}
    for leaf in _leaves(definition):
        shape = T.concrete(leaf.shape, be)
        sym_env[leaf.key] = _symbols(f"{leaf.base}{leaf.layer}", shape)
        env[leaf.key] = _rational_point(rng, shape) if point else sym_env[leaf.key]
    U = _symbols(f"d{local.output[0]}{local.output[1]}", T.concrete(definition.shape, be))
    env[local.upstream] = U
    out = T.tevaluate(definition, sym_env, be)
    c = be.scalar(walk.scale) if local.scaled else sp.Integer(1)
    J = sp.expand(sum((u * v for u, v in zip(U.ravel(), out.ravel(), strict=True)), sp.Integer(0)))
    buckets: dict[sp.Symbol, list[sp.Expr]] = {}
    for term in sp.Add.make_args(J):
        for s in term.free_symbols:
            buckets.setdefault(s, []).append(term)  # type: ignore[arg-type]
    formula = T.tevaluate(step.expr, env, be)
    wrt_syms = sym_env[local.wrt]
    digits = False
    subs = {} if not point else {
        s: v for key in sym_env if key != local.upstream
        for s, v in zip(sym_env[key].ravel(), env[key].ravel(), strict=True)}
    if formula.shape != wrt_syms.shape:
        return "failed", 0, ""
    for count, idx in enumerate(np.ndindex(wrt_syms.shape)):
        x = wrt_syms[idx]
        if subs:  # the other entries at their point first: Max(x, r₁, r₂, …) is Max(x, r) when
            # derived (SymPy's derivative of a symbolic Max of 16 entries takes minutes)
            grad = c * sp.Add(*[_at_point(t, x, subs).diff(x).xreplace({x: subs[x]}) if x in subs
                                else _at_point(t, x, subs).diff(x) for t in buckets.get(x, ())])
        else:
            grad = c * sp.Add(*[t.diff(x) for t in buckets.get(x, ())])
        diff = sp.expand(grad - sp.sympify(formula[idx], strict=True))
        if diff != 0 and not (point and _cancels(diff)):
            if not point or not _vanishes(diff, U):
                return "failed", count, ""
            digits = True
    how = ("" if not point else "at a rational point, the upstream gradient kept symbolic"
           + ("; exp/tanh differences zero to 45 digits" if digits else ""))
    return "exact", int(wrt_syms.size), how


def _at_point(term: sp.Expr, x: sp.Symbol, subs: dict) -> sp.Expr:
    """``term`` with every symbol but ``x`` (and U) at its rational point; a Max over the window
    becomes Max(x, the largest of the other entries' values) (SymPy builds a Max of many
    rationals and one symbol slowly: its pairwise comparisons)."""
    others = {k: subs[k] for k in term.free_symbols if k != x and k in subs}

    def reduced(*args):
        values = [a.xreplace(others) for a in args]
        numbers = [v for v in values if v.is_Rational]
        rest = [v for v in values if not v.is_Rational]
        return sp.Max(*rest, max(numbers)) if numbers and rest else sp.Max(*values)

    return term.replace(sp.Max, reduced).xreplace(others)


def _vanishes(expr: sp.Expr, U) -> bool:
    """A difference linear in the symbolic upstream U is 0 when the coefficient of each U entry in
    it is (to 60 digits: exp and tanh at rationals have no exact cancellation SymPy finds cheaply)."""
    present = expr.free_symbols
    if present - set(U.ravel()):
        return False
    for u in present:
        value = expr.coeff(u)
        if value.free_symbols or abs(sp.N(value, 60)) > sp.Float("1e-45", 60):
            return False
    return True


def _cancels(expr: sp.Expr) -> bool:
    """Exactly 0 once put over one denominator (exp(1/3) and tanh(1/3) as atoms): sigmoid's
    e⁻ᶻ/(1 + e⁻ᶻ)² against a(1 − a)."""
    return sp.cancel(sp.together(expr)) == 0


def fd_check(step: ConvStep, walk: TensorWalk, layer: CNNLayer, m_: int, seed: int,
             eps: float = DEFAULT_EPS) -> float:
    """The relative error of the printed formula against central differences of J̃."""
    import numpy as np
    local = step.local
    assert local is not None
    definition = _definition(walk, layer, local.output)
    be = T.NumpyTensors({M: m_})
    rng = np.random.default_rng(seed + 7919 * layer.number)
    env: dict[Any, Any] = {}
    for leaf in _leaves(definition):
        value = rng.normal(size=T.concrete(leaf.shape, be))
        if leaf.base == "Z":  # off relu's kink by more than eps
            value = np.where(np.abs(value) < 0.05, value + 0.1, value)
        env[leaf.key] = value
    U = rng.normal(size=T.concrete(definition.shape, be))
    env[local.upstream] = U
    c = float(be.scalar(walk.scale)) if local.scaled else 1.0
    formula = np.asarray(T.tevaluate(step.expr, env, be), dtype=float)
    x = env[local.wrt]
    picks = list(np.ndindex(x.shape))
    if len(picks) > FD_ENTRIES:
        picks = [picks[i] for i in rng.choice(len(picks), FD_ENTRIES, replace=False)]
    g, ghat = [], []
    for idx in picks:
        old = x[idx]
        x[idx] = old + eps
        jp = float(np.sum(U * T.tevaluate(definition, env, be)))
        x[idx] = old - eps
        jm = float(np.sum(U * T.tevaluate(definition, env, be)))
        x[idx] = old
        ghat.append(c * (jp - jm) / (2 * eps))
        g.append(formula[idx] if formula.shape == x.shape else np.nan)
    ga, gh = np.asarray(g), np.asarray(ghat)
    denom = np.linalg.norm(ga) + np.linalg.norm(gh)
    return float(np.linalg.norm(ga - gh) / denom) if denom else 0.0


def _step_proof(d: CNNDerivation, step: ConvStep, seed: int, threshold: float) -> FormulaProof:
    cnn = d.cnn
    layer = cnn.layer(step.layer)
    m_ = cnn.examples or PROOF_M
    walk = TensorWalk({l.number: l for l in cnn.layers}, M, 1 / M)  # the printed nodes' m
    definition = _definition(walk, layer, step.local.output)  # type: ignore[union-attr]
    terms = _terms(step, definition, PROOF_M)
    t = tiny(layer)
    own = TensorWalk({layer.number: t}, M, 1 / M)
    layer_type(t.kind).cnn_backward(own, t, None)  # type: ignore[attr-defined]
    same = [s for s in own.steps if s.kind == step.kind]
    where = f"a tiny instance of the same layer ({'×'.join(map(str, t.in_shape))} input, m = {PROOF_M})"
    if terms <= SYMPY_TERMS:
        verdict, entries, how = sympy_check(step, walk, layer, PROOF_M, seed)
        method = f"SymPy on the printed formula (m = {PROOF_M}{', ' + how if how else ''})"
    else:
        verdict, entries, how = sympy_check(same[0], own, t, PROOF_M, seed) if same else ("failed", 0, "")
        method = f"SymPy on {where}{', ' + how if how else ''}"
    if terms * m_ <= FD_WORK:
        error = fd_check(step, walk, layer, m_, seed)
    else:
        error = fd_check(same[0], own, t, PROOF_M, seed) if same else 1.0
        method += f"; finite differences on {where}"
    return FormulaProof(step.name, step.kind, step.layer, verdict, entries, method, error, error < threshold)


@functools.cache
def conv_source_hash() -> str:
    """SHA-256 of derive/conv's source files: the proof cache's own stamp covers the engine, core,
    layers, network and catalogue packages, not this one (its proofs, walk and spec)."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(cnn, step: ConvStep, seed: int, threshold: float) -> list:
    """The proof cache's key of one conv, pool or flatten step: everything its two proofs read —
    the whole spec (every layer's sizes, stride, pad, mode, activation; the loss; m), the step
    (its kind, name, formula tree and local problem: a planted formula is another key), the seed,
    the threshold, this module's bounds, and derive/conv's sources (the tool's version, the
    catalogue and the core's sources are the cache's own stamp)."""
    return ["cnn-step", 1, conv_source_hash(), repr(cnn), step.kind, step.name, repr(step.expr),
            repr(step.local), seed, threshold, [SYMPY_TERMS, FD_ENTRIES, FD_WORK, PROOF_M, DEFAULT_EPS]]


def _from_cache(entry: dict | None) -> FormulaProof | None:
    """A cached step's proof when every field has its type, else None (proven again)."""
    if entry is None:
        return None
    types = {"name": str, "kind": str, "layer": int, "elementwise": str, "entries": int,
             "method": str, "fd_error": float, "fd_passed": bool, "date": str}
    if any(not isinstance(entry.get(k), t) or isinstance(entry.get(k), bool) is not (t is bool)
           for k, t in types.items()):
        return None
    return FormulaProof(entry["name"], entry["kind"], entry["layer"], entry["elementwise"],
                        entry["entries"], entry["method"], entry["fd_error"], entry["fd_passed"],
                        cached=entry["date"])


def _cached_step_proof(d: CNNDerivation, step: ConvStep, seed: int, threshold: float,
                       store) -> FormulaProof:
    """:func:`_step_proof` through the proof cache ``store`` (None: proven afresh)."""
    if store is None:
        return _step_proof(d, step, seed, threshold)
    key = cache_key(d.cnn, step, seed, threshold)
    hit = _from_cache(store.get(key))
    if hit is not None:
        return hit
    p = _step_proof(d, step, seed, threshold)
    store.put(key, {"name": p.name, "kind": p.kind, "layer": p.layer, "elementwise": p.elementwise,
                    "entries": p.entries, "method": p.method, "fd_error": float(p.fd_error),
                    "fd_passed": bool(p.fd_passed)})
    return p


def prove_step(d: CNNDerivation, step: ConvStep, seed: int = 0, threshold: float = THRESHOLD,
               cache: bool | None = None) -> FormulaProof:
    """Both proofs of one conv, pool or flatten step of ``d`` (a step taken from it, or the same
    step with its formula changed: how the tests plant a mistake); ``cache`` as
    :func:`prove_cnn`'s."""
    if step.dense:
        raise ValueError(f"{step.name} is a dense-head step: the dense engine proves it")
    return _cached_step_proof(d, step, seed, threshold, proof_cache.open_cache(cache))


def prove_cnn(d: CNNDerivation, seed: int = 0, threshold: float = THRESHOLD,
              strict: bool = False, cache: bool | None = None) -> CNNDerivation:
    """``d`` with every step proven; ``strict``: raise ProofFailure naming the failed steps.
    ``cache``: read and write the proof cache (:mod:`derive.engine.proof_cache`; None, the
    default, follows ``--no-cache`` and ``$DERIVE_NO_CACHE``; False proves afresh). A cached
    step's result is the same result, dated (``FormulaProof.cached``)."""
    from derive.engine.proof import prove

    store = proof_cache.open_cache(cache)
    head_proof = prove(d.head, seed=seed, threshold=threshold, strict=False, cache=cache)
    by_target = {(f.kind, f.layer): p for f, p in zip(d.head.formulas, head_proof.formulas, strict=True)}
    off = d.cnn.flatten_at
    results = []
    for step in d.steps:
        if step.dense:
            layer = step.target.layer - off if step.target.layer is not None else 0
            p = by_target.get((step.kind, layer))
            own = (f" (the dense head's numbering: its layer {layer} is layer {layer + off})" if layer
                   else f" (the dense head's numbering: its X is A[{off}], the flatten's output)")
            results.append(replace(p, name=step.name, layer=step.layer, method=p.method + own) if p else
                           FormulaProof(step.name, step.kind, step.layer, "failed", 0, "no proof", 1.0, False))
        else:
            results.append(_cached_step_proof(d, step, seed, threshold, store))
    proof = Proof(tuple(results), head_proof.identities, DEFAULT_EPS, threshold, (), d.cnn.examples or PROOF_M, seed)
    out = with_proofs(d, results, proof)
    if strict and not proof.passed:
        bad = ", ".join(f"{r.name} (layer {r.layer})" for r in results if not r.passed)
        raise ProofFailure(f"the CNN derivation's proof failed for: {bad}")
    return out
