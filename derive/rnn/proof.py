"""Proof of every formula of backpropagation through time, two ways, as the dense engine proves its
own (:mod:`derive.engine.proof`): each formula is one local step of the chain rule, proven for any
upstream value, so the proofs chain through any number of steps.

For a step's :class:`~derive.rnn.derivation.Local` problem the surrogate is
J̃ = Σ_(U, F) Σ U ⊙ F(wrt) (+ Σ ce(ŷ, y) at an output), F the RNN's own forward definitions
(:func:`derive.rnn.derivation.forward`'s nodes, not the formulas) and U the upstream gradients,
free. A sum over the steps (dWaa = Σₜ dtanh⟨t⟩ a⟨t−1⟩ᵀ) has one term per step: the weight is
used T_x times, and each use is a term of J̃.

1. Entry by entry with SymPy: every entry of wrt, U and the other inputs a symbol, on an instance
   of (n_x, n_a, n_y, m) = :data:`SYMBOLIC_SIZES`; each ∂J̃/∂wrtᵢⱼ (SymPy's diff) minus the
   formula's entry simplifies to 0 exactly (softmax with cross-entropy: y's last unit is 1 − Σ the
   others, the distribution the loss assumes).
2. Central differences (numpy, float64) of the same surrogate on a random instance of
   :data:`FD_SIZES`; relative error ‖g − ĝ‖/(‖g‖ + ‖ĝ‖) below the threshold.

The formulas do not depend on the sizes nor, beyond the length of the sums, on T_x: a derivation
of more than :data:`PROOF_STEPS` steps is proven at T_x = PROOF_STEPS, each of its steps by the
step of the same kind (the last step, an inner one, the first).

>>> from derive.rnn.spec import RNN
>>> d = derive_rnn(RNN(3, 2, 2, 2))
>>> d.passed, d.step("dWaa").proof.elementwise, d.step("dWaa").proof.entries
(True, 'exact', 4)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sympy as sp

from derive.core import fd
from derive.core.expr import NumpyBackend, SympyBackend, evaluate
from derive.engine import proof_cache
from derive.rnn.derivation import Local, RNNDerivation, Step, build
from derive.rnn.nodes import TimeSym

SYMBOLIC_SIZES = (3, 2, 2, 2)  # n_x, n_a, n_y, m of the exact proof: small, n_x ≠ n_a
FD_SIZES = (3, 4, 5, 3)  # of the finite differences: every size distinct
PROOF_STEPS = 6


@dataclass(frozen=True)
class StepProof:
    """How one formula was proven: ``elementwise`` is "exact" (every entry's difference
    simplified to 0) or names the first entry that did not; ``fd_error`` the central
    differences' relative error."""

    name: str
    rule: str
    elementwise: str
    entries: int
    fd_error: float
    threshold: float
    cached: str | None = None  # the date it was proven, when read from the proof cache

    @property
    def passed(self) -> bool:
        return self.elementwise == "exact" and self.fd_error < self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "rule": self.rule, "elementwise": self.elementwise,
                "entries": self.entries, "fd_error": self.fd_error, "passed": self.passed}


def derive_rnn(rnn, prove: bool = True, seed: int = 0) -> RNNDerivation:
    """Backpropagation through time for ``rnn`` (:func:`derive.rnn.derivation.build`), every
    formula proven (``prove``) by :func:`prove_steps`; ``seed`` draws the finite-difference instances."""
    d = build(rnn)
    return d.with_proofs(prove_steps(d, seed=seed)) if prove else d


def _sizes(d: RNNDerivation, sizes: Sequence[int], steps: int) -> RNNDerivation:
    nx, na, ny, m = sizes
    rnn = d.rnn
    from derive.rnn.spec import RNN

    small = RNN(nx, na, ny, steps, rnn.activation, rnn.output_activation, rnn.loss, m)
    return build(small)


def _counterpart(step: Step, T: int, small: int) -> tuple[str, int | None]:
    """The step of the small derivation that proves ``step`` (same kind at the same place)."""
    if step.t is None:
        return step.course, None
    if step.t == T:
        return step.course, small
    return step.course, min(step.t, small - 1)


def prove_steps(d: RNNDerivation, seed: int = 0, eps: float = fd.DEFAULT_EPS,
                threshold: float = fd.DEFAULT_THRESHOLD,
                cache: bool | None = None) -> tuple[StepProof, ...]:
    """One :class:`StepProof` per step of ``d``, in order; ``cache``: read and write the proof
    cache (:mod:`derive.engine.proof_cache`; None follows ``--no-cache`` and
    ``$DERIVE_NO_CACHE``, False proves afresh). A cached result is the same result, dated."""
    T = d.rnn.steps
    small = min(T, PROOF_STEPS)
    exact, numeric = _sizes(d, SYMBOLIC_SIZES, small), _sizes(d, FD_SIZES, small)
    index = {(s.course, s.t): i for i, s in enumerate(exact.steps)}
    store = proof_cache.open_cache(cache)
    done: dict[int, StepProof] = {}
    out = []
    for step in d.steps:
        i = index[_counterpart(step, T, small)]
        if i not in done:
            key = cache_key(exact.steps[i], numeric.steps[i], seed + i, eps, threshold)
            hit = _from_cache(store.get(key)) if store is not None else None
            if hit is None:
                ew, entries = symbolic_check(exact, exact.steps[i])
                err = numeric_check(numeric, numeric.steps[i], seed + i, eps)
                hit = StepProof(step.name, step.rule, ew, entries, err, threshold)
                if store is not None:
                    store.put(key, {"elementwise": ew, "entries": entries, "fd_error": float(err)})
            done[i] = hit
        p = done[i]
        out.append(StepProof(step.name, step.rule, p.elementwise, p.entries, p.fd_error, threshold,
                             p.cached))
    return tuple(out)


@functools.cache
def rnn_source_hash() -> str:
    """SHA-256 of derive/rnn's source files: the proof cache's own stamp covers the engine, core,
    layers, network and catalogue packages (and rules/), not this one."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_key(exact: Step, numeric: Step, seed: int, eps: float, threshold: float) -> list:
    """The proof cache's key of one step's two proofs: everything they read — the step of the
    symbolic instance and of the numeric one (name, formula tree, local problem: the activation,
    the sizes and T_x are in them), the seed, ε, the threshold, the instances' sizes, and
    derive/rnn's sources (the version, the catalogue and the core's sources are the cache's own
    stamp)."""
    return ["rnn-step", 1, rnn_source_hash(), exact.name, repr(exact.expr), repr(exact.local),
            repr(numeric.expr), repr(numeric.local), seed, eps, threshold,
            [list(SYMBOLIC_SIZES), list(FD_SIZES), PROOF_STEPS]]


def _from_cache(entry: dict | None) -> StepProof | None:
    """A cached step's results when every field has its type, else None (proven again); name,
    rule and threshold are the caller's."""
    if entry is None:
        return None
    types = {"elementwise": str, "entries": int, "fd_error": float, "date": str}
    if any(not isinstance(entry.get(k), t) or isinstance(entry.get(k), bool) for k, t in types.items()):
        return None
    return StepProof("", "", entry["elementwise"], entry["entries"], entry["fd_error"], 0.0,
                     cached=entry["date"])


def _inputs(d: RNNDerivation, step: Step) -> tuple[list[TimeSym], list[Step]]:
    """The symbols a local problem draws (wrt first) and the earlier steps it substitutes."""
    local = step.local
    before = [d.step(name) for name in local.before]
    defined = {t.key for t, _ in local.defs} | {s.target.key for s in before}
    exprs = [e for _, e in local.defs] + [u for u, _ in local.terms] + [s.expr for s in before]
    exprs.append(step.expr)
    if local.loss is not None:
        exprs.append(local.loss[1])
    seen: dict = {local.wrt.key: local.wrt}
    for e in exprs:
        for s in sorted(e.symbols(), key=lambda s: (s.base, s.layer or 0)):
            if s.key not in defined and s.key not in seen:
                seen[s.key] = s
    return list(seen.values()), before


def _surrogate(local: Local, env: Mapping, total, log) -> Any:
    """J̃ from the values in ``env``: Σ U ⊙ F over the terms, plus −Σ y log ŷ at an output."""
    out = 0
    for u, f in local.terms:
        out = out + total(env[u.key], env[f.key])
    if local.loss is not None:
        yhat, y = local.loss
        out = out - total(env[y.key], log(env[yhat.key]))
    return out


def symbolic_check(d: RNNDerivation, step: Step) -> tuple[str, int]:
    """("exact", entries) when every entry of ∂J̃/∂wrt equals the formula's after SymPy's
    simplification, else the first entry that differs."""
    local = step.local
    symbols, before = _inputs(d, step)
    env: dict = {}
    for q in symbols:
        r, c = (int(v) for v in q.shape)
        env[q.key] = sp.Matrix(r, c, lambda i, j, q=q: sp.Symbol(f"{q.code}_{i}{j}", real=True))
    if local.loss is not None:  # each example's targets sum to 1
        y = env[local.loss[1].key]
        env[local.loss[1].key] = sp.Matrix(y.rows, y.cols, lambda i, j: y[i, j] if i < y.rows - 1
                                           else 1 - sum(y[k, j] for k in range(y.rows - 1)))
    backend = SympyBackend()
    for target, e in local.defs:
        env[target.key] = evaluate(e, env, backend)
    J = _surrogate(local, env, lambda a, b: sum(a.multiply_elementwise(b)),
                   lambda m: m.applyfunc(sp.log))
    for s in before:
        env[s.target.key] = evaluate(s.expr, env, backend)
    formula = evaluate(step.expr, env, backend)
    wrt = env[local.wrt.key]
    for i in range(wrt.rows):
        for j in range(wrt.cols):
            diff = sp.diff(J, wrt[i, j]) - formula[i, j]
            if sp.expand(diff) != 0 and sp.simplify(diff) != 0:
                return f"entry ({i}, {j}) differs by {sp.sstr(sp.simplify(diff))}", wrt.rows * wrt.cols
    return "exact", wrt.rows * wrt.cols


def numeric_check(d: RNNDerivation, step: Step, seed: int, eps: float) -> float:
    """The relative error of the formula against central differences of J̃ (float64)."""
    import numpy as np

    local = step.local
    symbols, before = _inputs(d, step)
    rng = np.random.default_rng(seed)
    env: dict = {s.key: rng.standard_normal(tuple(int(v) for v in s.shape)) * 0.7 for s in symbols}
    if local.loss is not None:  # targets: each column a distribution
        y = np.exp(env[local.loss[1].key])
        env[local.loss[1].key] = y / y.sum(axis=0, keepdims=True)
    backend = NumpyBackend()
    wrt = local.wrt.key

    def J(batch):
        e = dict(env)
        e[wrt] = batch
        for target, expr in local.defs:
            e[target.key] = evaluate(expr, e, backend)
        return _surrogate(local, e, lambda a, b: np.sum(a * b, axis=(-2, -1)), np.log)

    numeric = fd.central_differences(J, env[wrt], eps)
    for target, expr in local.defs:
        env[target.key] = evaluate(expr, env, backend)
    for s in before:
        env[s.target.key] = evaluate(s.expr, env, backend)
    return fd.relative_error(evaluate(step.expr, env, backend), numeric)
