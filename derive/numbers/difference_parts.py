"""What the two ways of taking central differences share (:mod:`derive.numbers.differences`,
each copy entering as a shifted Z[l]; :mod:`derive.numbers.whole_pass`, each copy a whole forward
pass): the steps, the result, the work estimate's weights and the error for a non-finite cost."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from derive.errors import DeriveError

#: the steps of every entry, in units of its array's ε; one more copy per layer is not moved
MULTIPLES = (1.0, -1.0, 0.5, -0.5)
#: the work estimate's weights, in multiply-adds (≈ 0.2 ns each; fitted to 16 networks timed on
#: a 2-core machine under load, where the slowest ran 2× the estimate):
LAYER_COST = 300_000  # a layer of one batched pass (the expression evaluator, in Python)
ELEMENT_COST = 75  # an element-wise value (bias, temporaries, concatenation, loss)
ACTIVATION_COST = 4  # × the activation's time per value over that of x·a + b (timed once)
COPY_COST = 1_500  # a copy's own bookkeeping (its entry, step and row picked, its cost summed)


@dataclass(frozen=True)
class Differences:
    """Central differences of J for every W[l], b[l], with what the floor is estimated from."""

    gradients: dict  # key -> ĝ at ε
    halves: dict  # key -> ĝ at ε/2
    steps: dict  # key -> ε of the array
    noise: dict  # key -> σ, the noise of J along the array's steps (pooled over its layer)
    still: dict  # key -> how many entries did not move J at all (at any of the four steps)
    jmax: float  # the largest |J| seen
    jscale: float  # s · Σ(|A[L]| + |Y|): the size of what J is computed from


def _require_finite_costs(moved: np.ndarray, J0: float, keys, arrays, steps) -> None:
    bad = np.argwhere(~np.isfinite(moved))
    if not bad.size and math.isfinite(J0):
        return
    if not bad.size:
        raise DeriveError(f"the cost J is {J0} at the given values")
    q, e = (int(i) for i in bad[0])
    value = moved[q, e]
    for (base, layer), P in zip(keys, arrays, strict=True):
        if e < np.size(P):
            where = entry(np.unravel_index(e, np.shape(P)))
            move = {0: "+ε", 1: "−ε", 2: "+ε/2", 3: "−ε/2"}[q]
            raise DeriveError(
                f"the cost J is {value} when entry {where} of {base}{layer} moves by {move} "
                f"(ε = {steps[base, layer]:.3g}): the cost is not finite within a step of these "
                "values; give values further from where it blows up, or a smaller --eps")
        e -= np.size(P)


def split(moved: np.ndarray, J0: float, keys, params: dict, steps: dict, out: dict) -> None:
    """One layer's moved costs (rows +ε, −ε, +ε/2, −ε/2; a column per entry of ``keys``' arrays, in
    order) into ``out``'s per-array central differences at ε and ε/2, the cost's noise σ (from the
    fourth difference) and the count of entries whose cost did not move at all."""
    fourth = moved[0] + moved[1] - 4 * (moved[2] + moved[3]) + 6 * J0
    still = np.all(moved == J0, axis=0)  # J did not move at all: below its resolution
    sigma = float(np.sqrt(np.mean(fourth[~still] ** 2) / 70)) if not np.all(still) else 0.0
    start = 0
    for k in keys:
        shape, n = np.shape(params[k]), np.size(params[k])
        part = moved[:, start:start + n]
        out["grads"][k] = ((part[0] - part[1]) / (2 * steps[k])).reshape(shape)
        out["halves"][k] = ((part[2] - part[3]) / steps[k]).reshape(shape)
        out["noise"][k] = sigma
        out["still"][k] = int(np.sum(still[start:start + n]))
        start += n


def entry(index) -> str:
    """A 0-based index as the user reads it: 1-based (row, column)."""
    return "(" + ", ".join(str(int(i) + 1) for i in index) + ")"
