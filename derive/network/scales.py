"""The cost's scale, decided once: whether J is a mean, and where its 1/m is written.

>>> SCALE_RULES["dZ"].cost_is_mean, SCALE_RULES["dZ"].in_output, SCALES
(True, True, ('mean', 'sum', 'dZ'))
>>> factor_at(1 / m, 4), factor_at(LAMBDA / m, 2) == LAMBDA_STANDIN / 2
(0.25, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from derive.core.names import EPS, KEEP_PROB, LAMBDA, m

#: the value a symbolic L2 coefficient λ takes wherever numbers are computed from a formula
#: (the numeric proof, gradient values): any positive number serves, one not 1 shows a lost λ
LAMBDA_STANDIN = 0.37
#: the value a symbolic dropout keep probability takes wherever numbers are computed: the
#: course's 0.8 (the masks are drawn with it too)
KEEP_PROB_STANDIN = 0.8
#: the value batch normalisation's ε takes wherever numbers are computed (CS231n's eps = 1e-5)
EPS_STANDIN = 1e-5


@dataclass(frozen=True)
class CostScale:
    """What a scale means, in one place: whether J is a mean, and where its 1/m is written.

    ``mean`` (the course's): J = (1/m) Σ ℓ, dZ[l] stacks the per-example ∂ℓ/∂Z[l], the 1/m sits in
    dW and db. ``sum``: J = Σ ℓ, no 1/m anywhere. ``dZ`` (CS231n's): J = (1/m) Σ ℓ, the 1/m sits in
    dA[L] and dZ[L], so every dZ[l], dA[l] is the true gradient ∂J/∂Z[l], and dW, db carry none."""

    name: str
    cost_is_mean: bool  # J = (1/m) Σ ℓ (else Σ ℓ)
    in_output: bool  # the mean's 1/m is written in dA[L], dZ[L] (else in dW, db)
    statement: str  # where the 1/m is, in words: every output prints it
    weight_note: str  # the note on a dW, db step
    output_note: str = ""  # the note on the step that puts the 1/m in dA[L] or dZ[L]


SCALE_RULES: dict[str, CostScale] = {
    "mean": CostScale(
        "mean", True, False,
        "cost J = (1/m) Σ over examples of ℓ; dZ[l] and dA[l] are the per-example gradients "
        "∂ℓ/∂Z[l] stacked (so J's gradient is dZ[l]/m); the 1/m sits in dW and db",
        "the 1/m comes from J = (1/m) Σₜ ℓₜ"),
    "sum": CostScale(
        "sum", False, False,
        "cost J = Σ over examples of ℓ (scale sum): no 1/m anywhere; dZ[l] = ∂J/∂Z[l]",
        "scale sum: no 1/m"),
    "dZ": CostScale(
        "dZ", True, True,
        "cost J = (1/m) Σ over examples of ℓ (scale dZ, CS231n's): the 1/m sits in dA[L] and "
        "dZ[L], so every dZ[l] and dA[l] is the true gradient ∂J/∂Z[l], ∂J/∂A[l]; dW and db "
        "carry no 1/m",
        "scale dZ: no 1/m here, it is already in dZ (from dZ[L])",
        "scale dZ: the 1/m of J = (1/m) Σₜ ℓₜ is written here, so this is ∂J/∂·, not ∂ℓ/∂·"),
}
SCALES = tuple(SCALE_RULES)


def factor_at(factor, m_value: int, dims: Mapping[sp.Symbol, int] | None = None) -> float:
    """A scalar factor (1/m, λ/m, 1) as a float for ``m_value`` examples, a symbolic λ at
    :data:`LAMBDA_STANDIN`, a symbolic keep_prob at :data:`KEEP_PROB_STANDIN`, batch
    normalisation's ε at :data:`EPS_STANDIN`, and the symbolic
    sizes n[l] at ``dims`` (n2 → 3: the 2/n[L] of mse_units)."""
    return float(sp.sympify(factor, strict=True).subs({m: m_value, LAMBDA: LAMBDA_STANDIN,
                                                       KEEP_PROB: KEEP_PROB_STANDIN, EPS: EPS_STANDIN,
                                                       **(dims or {})}))
