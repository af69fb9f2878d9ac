"""Gradient check of backpropagation through time: the derived formulas' gradients (evaluated by
:mod:`derive.rnn.numbers`) against central differences of the whole unrolled cost J, for every
parameter and for the inputs x and a0, on a random, well-scaled instance of the spec.

The finite differences perturb one entry at a time, every perturbed copy through one batched
forward pass of the same forward definitions (the batch axis goes through numpy's broadcasting).
The relative error is ‖g − ĝ‖/(‖g‖ + ‖ĝ‖); it passes below 1e-7, the course's threshold.

Planted mistakes (:data:`MISTAKES`) change the derivation before it is evaluated, so a check
that passes on the true formulas is seen to fail on wrong ones:

- ``missing_sum``: dWaa is only the last step's term, dtanh⟨T⟩ a⟨T−1⟩ᵀ (no Σₜ);
- ``no_carry``: da_prev is not carried back, da_next⟨t⟩ = da_out⟨t⟩ (the path through a⟨t+1⟩ lost).

>>> from derive.rnn.spec import RNN
>>> r = gradcheck(RNN(3, 5, 2, 4, examples=3))
>>> r.passed, max(e for _, e in r.errors) < 1e-7
(True, True)
>>> bad = gradcheck(RNN(3, 5, 2, 4, examples=3), mistake="missing_sum")
>>> bad.passed, [k for k, e in bad.errors if e > 1e-7]
(False, ['dWaa'])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from derive.core import fd
from derive.errors import SpecError
from derive.limits import Limit, require
from derive.rnn.derivation import PARAMETERS, RNNDerivation, build
from derive.rnn.nodes import TimeSum
from derive.rnn.numbers import run_backward, run_forward
from derive.rnn.spec import RNN

if TYPE_CHECKING:
    import numpy as np

#: the multiply-adds of the central differences: 2 · entries · (one forward pass)
WORK = Limit("rnn.gradcheck_work", 20_000_000_000, "operations",
             "smaller sizes, fewer examples or fewer steps in the [rnn] table",
             "the batched central differences of an RNN gradient check")

THRESHOLD = 1e-7
CHUNK_ENTRIES = 8_000_000  # float64 entries of the forward states of one batch of copies
#: one step of one batched forward pass, in operations of the limit: the evaluator's overhead,
#: whatever the batch (measured: 218 passes of 1,000 steps in 40 s, about 180 µs a step-pass),
#: at ~3e9 operations a second: the limit is then about 7 s of passes
STEP_OVERHEAD = 500_000
DEFAULT_SIZES = (3, 5, 2, 4)  # n_x, n_a, n_y, m where the spec gives none
MISTAKES = {
    "missing_sum": "dWaa without the sum over t: only the last step's dtanh⟨T⟩ a⟨T−1⟩ᵀ",
    "no_carry": "da_prev not carried back: da_next⟨t⟩ = da_out⟨t⟩ (the path through a⟨t+1⟩ lost)",
}
CHECKED = (*PARAMETERS, "x", "a0")


@dataclass(frozen=True)
class GradcheckResult:
    """The relative error of each checked gradient (dWax, …, dx, da0), and the verdict."""

    rnn: RNN
    errors: tuple[tuple[str, float], ...]
    threshold: float
    eps: float
    seed: int
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        return all(e < self.threshold for _, e in self.errors)

    @property
    def mistake_changes_nothing(self) -> bool:
        """A mistake planted at T_x = 1: one step has no sum over t and no later step to carry
        from, so the planted derivation is the true one."""
        return self.mistake is not None and self.rnn.steps == 1

    def as_dict(self) -> dict:
        return {"spec": self.rnn.describe(), "threshold": self.threshold, "eps": self.eps,
                "seed": self.seed, "mistake": self.mistake, "passed": self.passed,
                "mistake_changes_nothing": self.mistake_changes_nothing,
                "errors": {k: e for k, e in self.errors}}


def plant(d: RNNDerivation, mistake: str | None) -> RNNDerivation:
    """The derivation with one of :data:`MISTAKES` planted (``None``: unchanged)."""
    if mistake is None:
        return d
    if mistake not in MISTAKES:
        raise SpecError(f"unknown mistake {mistake!r}; known: {', '.join(MISTAKES)}")
    steps = []
    for s in d.steps:
        if mistake == "missing_sum" and s.name == "dWaa" and isinstance(s.expr, TimeSum):
            s = replace(s, expr=s.expr.terms[-1])
        if mistake == "no_carry" and s.course == "da_next":
            s = replace(s, expr=d.step(f"da_out⟨{s.t}⟩").target)
        steps.append(s)
    return replace(d, steps=tuple(steps))


def instance(rnn: RNN, seed: int) -> dict:
    """Random inputs of the spec's sizes (the defaults where it gives none): x, a0 standard
    normal; weights N(0, 1/fan-in) (Waa's spectral radius near 1: neither vanishing nor exploding
    over a few steps); biases N(0, 0.1²); Y one-hot."""
    import numpy as np

    c = rnn.concrete(*DEFAULT_SIZES)
    nx, na, ny, m, T = int(c.nx), int(c.na), int(c.ny), int(c.m), c.steps
    rng = np.random.default_rng(seed)
    p = {"Wax": rng.standard_normal((na, nx)) / math.sqrt(nx),
         "Waa": rng.standard_normal((na, na)) / math.sqrt(na),
         "Wya": rng.standard_normal((ny, na)) / math.sqrt(na),
         "ba": 0.1 * rng.standard_normal((na, 1)), "by": 0.1 * rng.standard_normal((ny, 1))}
    Y = np.eye(ny)[rng.integers(0, ny, (m, T))].transpose(2, 0, 1)
    return {"parameters": p, "x": rng.standard_normal((nx, m, T)),
            "a0": rng.standard_normal((na, m)), "Y": Y}


def env_of(d: RNNDerivation, inst: dict) -> dict:
    """The inputs of ``inst`` as the evaluator's env: parameters, a⟨0⟩, x⟨t⟩, y⟨t⟩."""
    env: dict = {(k, None): v for k, v in inst["parameters"].items()}
    env[("a", 0)] = inst["a0"]
    for t in range(1, d.rnn.steps + 1):
        env[("x", t)] = inst["x"][:, :, t - 1]
        env[("y", t)] = inst["Y"][:, :, t - 1]
    return env


def _cost_terms(d: RNNDerivation, env: dict):
    """Each step's cross-entropy Σᵢ ce(ŷ⟨t⟩(i), y⟨t⟩(i)), stacked on a last axis of T_x (J is
    their sum): a batch of copies gives (k, T_x)."""
    import numpy as np

    env = run_forward(d, env)
    return np.stack([-np.sum(env[("y", t)] * np.log(env[("yhat", t)]), axis=(-2, -1))
                     for t in range(1, d.rnn.steps + 1)], axis=-1)


def _central(f, x, eps: float, chunk: int):
    """∂J/∂x by central differences, J = Σₜ f(x)[..., t]: each step's term differenced, then
    summed, so the round-off is each term's (about m · 1e-16 / ε), not the whole sum's (T_x times
    more); batches as :func:`derive.core.fd.central_differences` makes them."""
    import numpy as np

    x = np.asarray(x, dtype=float)
    chunk = max(1, min(chunk, 4_000_000 // max(x.size, 1)))
    out = np.empty(x.size)
    for start in range(0, x.size, chunk):
        stop = min(start + chunk, x.size)
        k = stop - start
        delta = np.zeros((k, x.size))
        delta[np.arange(k), np.arange(start, stop)] = eps
        delta = delta.reshape((k, *x.shape))
        out[start:stop] = np.sum(f(x + delta) - f(x - delta), axis=-1) / (2 * eps)
    return out.reshape(x.shape)


def derived_gradients(d: RNNDerivation, inst: dict) -> dict[str, np.ndarray]:
    """dWax, dWaa, dWya, dba, dby, dx and da0 from every step of ``d`` (mistakes included)."""
    import numpy as np

    env = run_backward(d, run_forward(d, env_of(d, inst)))
    out = {"d" + k: env[("d" + k, None)] for k in PARAMETERS}
    out["dx"] = np.stack([env[("dxt", t)] for t in range(1, d.rnn.steps + 1)], axis=-1)
    out["da0"] = env[("da_prev", 1)]
    return out


def _chunk(r: RNN) -> int:
    """Perturbed copies per batch: ~64 MB of one batch's forward states."""
    per_copy = int(r.m) * r.steps * (int(r.nx) + 2 * int(r.na) + 2 * int(r.ny))
    return max(1, CHUNK_ENTRIES // per_copy)


def forward_passes(r: RNN) -> int:
    """The batched forward passes :func:`numeric_gradients` runs (each walks every step): two a
    batch of copies (+ε and −ε), for each parameter, a0 and x (every x⟨t⟩ at once), with
    :func:`_central`'s cap on a batch."""
    nx, na, ny, m, T = int(r.nx), int(r.na), int(r.ny), int(r.m), r.steps
    sizes = (na * nx, na * na, ny * na, na, ny, na * m, nx * m * T)
    chunk = _chunk(r)
    return sum(2 * -(-n // max(1, min(chunk, 4_000_000 // n))) for n in sizes)


def numeric_gradients(d: RNNDerivation, inst: dict, eps: float = fd.DEFAULT_EPS) -> dict:
    """Central differences of J for every parameter, x and a0."""
    base = env_of(d, inst)
    T = d.rnn.steps
    r = d.rnn
    chunk = _chunk(r)

    def along(key):
        def f(batch):
            env = dict(base)
            env[key] = batch
            return _cost_terms(d, env)
        return f

    out = {"d" + k: _central(along((k, None)), base[(k, None)], eps, chunk) for k in PARAMETERS}
    out["da0"] = _central(along(("a", 0)), base[("a", 0)], eps, chunk)

    def every_x(batch):  # (k, n_x, m, T): every x⟨t⟩ of a copy perturbed in one forward pass
        env = dict(base)
        for t in range(1, T + 1):
            env[("x", t)] = batch[..., t - 1]
        return _cost_terms(d, env)

    out["dx"] = _central(every_x, inst["x"], eps, chunk)
    return out


def gradcheck(rnn: RNN, seed: int = 0, eps: float = fd.DEFAULT_EPS,
              threshold: float = THRESHOLD, mistake: str | None = None) -> GradcheckResult:
    """Check every derived gradient of ``rnn`` (with ``mistake`` planted) by central differences."""
    c = rnn.concrete(*DEFAULT_SIZES)
    nx, na, ny, m, T = int(c.nx), int(c.na), int(c.ny), int(c.m), c.steps
    entries = na * (nx + na + 1) + ny * (na + 1) + na * m + nx * m * T
    arithmetic = 2 * entries * T * m * (na * (nx + na) + ny * na)
    require(WORK, arithmetic + forward_passes(c) * T * STEP_OVERHEAD,
            f"the gradient check ({forward_passes(c):,} forward passes of {T} steps)")
    d = plant(build(c), mistake)
    inst = instance(c, seed)
    derived, numeric = derived_gradients(d, inst), numeric_gradients(d, inst, eps)
    errors = tuple((f"d{k}", fd.relative_error(derived[f"d{k}"], numeric[f"d{k}"]))
                   for k in CHECKED)
    return GradcheckResult(c, errors, threshold, eps, seed, mistake)
