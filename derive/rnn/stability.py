"""Stability through time: how ∂a⟨T⟩/∂a⟨0⟩ grows or shrinks over the steps of an RNN.

From the derived step da_prev⟨t⟩ = Waaᵀ ((1 − a⟨t⟩²) ⊙ da_next⟨t⟩), the gradient crosses a step
through the transpose of the Jacobian

    J⟨t⟩ = ∂a⟨t⟩/∂a⟨t−1⟩ = diag(g′(z⟨t⟩)) Waa        (tanh: diag(1 − a⟨t⟩²) Waa)

for each example, so T steps multiply P⟨T⟩ = J⟨T⟩ ⋯ J⟨1⟩ = ∂a⟨T⟩/∂a⟨0⟩. Reported, on a random
instance of the spec run forward with its own forward definitions (example 1 of the batch):
‖J⟨t⟩‖₂ and ‖P⟨t⟩‖₂ for t = 1..T (tracked as logarithms, the product rescaled each step), Waa's
spectral radius ρ and 2-norm (|g′| ≤ 1 for tanh, so ‖P⟨t⟩‖₂ ≤ ‖Waa‖₂ᵗ), the per-step growth
factor r (least squares of ln‖P⟨t⟩‖₂ against t: ‖P⟨t⟩‖₂ ≈ c rᵗ) and a verdict in the vocabulary
of ``derive stability`` for dense networks (:mod:`derive.stability.analyse`): ``stable`` when r^T
is within one decade of 1, ``vanishing`` below, ``exploding`` above, ``vanished``/``exploded``
past float64's range.

The course's remedy for exploding gradients, ``clip(gradients, maxValue)`` (every entry of dWax,
dWaa, dWya, dba, dby put in [−maxValue, maxValue] by ``np.clip``), is applied to the BPTT
gradients of the same instance and shown as norms before and after.

>>> from derive.rnn.spec import RNN, STEPS
>>> r = analyse(RNN(3, 8, 2, 30, examples=2), radius=0.5)
>>> r.verdict, round(r.rho, 12), r.growth < 0.6
('vanishing', 0.5, True)
>>> c = analyse(RNN(3, 8, 2, 30, examples=2), radius=3.0, max_value=0.5).clip
>>> all(after <= before for _, before, after, _ in c.rows)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.errors import ResourceLimit, SpecError
from derive.limits import Limit, require
from derive.rnn.derivation import PARAMETERS, build
from derive.rnn.gradcheck import DEFAULT_SIZES, derived_gradients, instance
from derive.rnn.numbers import run_forward
from derive.rnn.spec import RNN, STEPS
from derive.stability.analyse import _verdict

if TYPE_CHECKING:
    import numpy as np

#: T SVDs of an n_a×n_a product (about n_a³ each) and the forward and backward passes
WORK = Limit("rnn.stability_work", 2_000_000_000, "operations",
             "--steps or a smaller hidden in the [rnn] table",
             "the Jacobian products of one run through time")
DEFAULT_MAX_VALUE = 5.0  # the course's optimize() clips at 5
MAX_RADIUS = 1e3


@dataclass(frozen=True)
class Clip:
    """The course's clipping of the BPTT gradients: (name, ‖·‖_F before, after, entries clipped)."""

    max_value: float
    rows: tuple[tuple[str, float, float, int], ...]
    overflow: bool = False  # the forward or backward pass left float64's range: nothing to clip


@dataclass(frozen=True, eq=False)
class RNNStability:
    """One run through time (see the module docstring)."""

    rnn: RNN
    seed: int
    radius: float | None  # the spectral radius Waa was scaled to (None: as drawn)
    rho: float  # Waa's spectral radius (numpy's eigvals)
    norm2: float  # ‖Waa‖₂ (numpy's largest singular value)
    log_jacobian: np.ndarray  # ln ‖J⟨t⟩‖₂, t = 1..T
    log_product: np.ndarray  # ln ‖J⟨t⟩ ⋯ J⟨1⟩‖₂, t = 1..T
    max_derivative: np.ndarray  # max |g′(z⟨t⟩)| of example 1, t = 1..T
    growth: float  # the per-step growth factor r
    verdict: str
    clip: Clip

    @property
    def steps(self) -> int:
        return self.rnn.steps

    @property
    def decades(self) -> float:
        """log10 r^T: the decades ‖P‖ changes by over the T steps at the fitted rate."""
        return self.steps * math.log10(self.growth) if self.growth > 0 else -math.inf


def jacobians(rnn: RNN, inst: dict, example: int = 0) -> tuple[list, list]:
    """J⟨t⟩ = diag(g′(z⟨t⟩)) Waa for t = 1..T (one example), z⟨t⟩ from the forward definitions,
    and the derivatives g′(z⟨t⟩) (the catalogue's g′ in z)."""
    import numpy as np

    d = build(rnn)
    env: dict = {(k, None): v for k, v in inst["parameters"].items()}
    env[("a", 0)] = inst["a0"]
    for t in range(1, rnn.steps + 1):
        env[("x", t)] = inst["x"][:, :, t - 1]
    with np.errstate(all="ignore"):  # a linear RNN's states may overflow: g′ is still defined
        env = run_forward(d, env)
    Waa = inst["parameters"]["Waa"]
    act = rnn.act
    out, derivs = [], []
    for t in range(1, rnn.steps + 1):
        g = np.asarray(act.numpy_derivative(env[("z", t)][:, example]), dtype=float)
        g = g * np.ones(Waa.shape[0])
        derivs.append(g)
        out.append(g[:, None] * Waa)
    return out, derivs


def analyse(rnn: RNN, steps: int | None = None, seed: int = 0, radius: float | None = None,
            max_value: float = DEFAULT_MAX_VALUE) -> RNNStability:
    """Stability of ``rnn`` through ``steps`` (default the spec's) steps; ``radius`` rescales
    Waa to that spectral radius first; ``max_value`` is the clip threshold."""
    import numpy as np

    if radius is not None and not 0 < radius <= MAX_RADIUS:
        raise SpecError(f"--radius must be in (0, {MAX_RADIUS:g}], not {radius:g}")
    if not (max_value > 0 and math.isfinite(max_value)):
        raise SpecError(f"--max-value must be a positive number, not {max_value:g}")
    if steps is not None:
        if steps < 1:
            raise SpecError(f"--steps must be at least 1, not {steps}")
        if steps > STEPS.value:  # rnn.steps, the flag that narrows it named as given here
            raise ResourceLimit(STEPS.name, steps, STEPS.value, STEPS.unit, "a smaller --steps",
                                f"--steps {steps}")
    c = rnn.concrete(*DEFAULT_SIZES, steps=steps)
    na = int(c.na)
    require(WORK, c.steps * (na ** 3 + int(c.m) * na * (int(c.nx) + na + int(c.ny))),
            f"{c.steps} steps of an RNN with {na} hidden units")
    inst = instance(c, seed)
    Waa = inst["parameters"]["Waa"]
    if radius is not None:
        Waa *= radius / float(np.max(np.abs(np.linalg.eigvals(Waa))))
    rho = float(np.max(np.abs(np.linalg.eigvals(Waa))))
    norm2 = float(np.linalg.norm(Waa, 2))
    Js, derivs = jacobians(c, inst)
    log_j = np.array([_log_norm2(J) for J in Js])  # every step's, also after P has reached 0
    log_p = np.full(c.steps, -math.inf)
    P, log_scale = np.eye(Waa.shape[0]), 0.0
    for i, J in enumerate(Js):
        P = J @ P
        n = float(np.linalg.norm(P, 2))
        if n == 0.0:  # the product is 0 from here on (log_p stays −∞)
            break
        log_scale += math.log(n)
        P = P / n  # rescaled: T steps neither underflow nor overflow
        log_p[i] = log_scale
    growth = _fit(log_p)
    verdict, _ = _verdict(log_p, growth, c.steps)
    return RNNStability(c, seed, radius, rho, norm2, log_j, log_p,
                        np.array([float(np.max(np.abs(g))) for g in derivs]), growth, verdict,
                        clip(c, inst, max_value))


def _log_norm2(M) -> float:
    import numpy as np

    n = float(np.linalg.norm(M, 2))
    return math.log(n) if n > 0 else -math.inf


def _fit(log_p) -> float:
    """r = exp(slope) of ln‖P⟨t⟩‖₂ against t (least squares), from P⟨0⟩ = I (ln 1 = 0)."""
    import numpy as np

    y = np.concatenate([[0.0], log_p])
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return 0.0
    slope = np.polyfit(np.arange(len(y), dtype=float)[ok], y[ok], 1)[0]
    return float(math.exp(slope))


def clip(rnn: RNN, inst: dict, max_value: float) -> Clip:
    """The course's clip(gradients, maxValue) on the instance's BPTT gradients."""
    import numpy as np

    d = build(rnn)
    with np.errstate(all="ignore"):  # an exploding linear RNN overflows: said, not warned
        grads = derived_gradients(d, inst)
    if not all(np.all(np.isfinite(g)) for g in grads.values()):
        return Clip(max_value, (), overflow=True)
    rows = []
    for k in PARAMETERS:
        g = grads["d" + k]
        clipped = np.clip(g, -max_value, max_value)
        with np.errstate(all="ignore"):
            before = float(np.linalg.norm(g))
        if not math.isfinite(before):  # entries near 1e308: their norm is past float64
            return Clip(max_value, (), overflow=True)
        rows.append((f"d{k}", before, float(np.linalg.norm(clipped)),
                     int(np.sum(np.abs(g) > max_value))))
    return Clip(max_value, tuple(rows))
