"""Gradient check of a CNN's derived formulas: every entry of every W[l], b[l] and of the input
X = A[0], moved by ±ε and ±ε/2, the whole cost J evaluated each time (the forward pass of
:mod:`derive.conv.numbers`), against the derived backward pass
(:func:`derive.conv.numbers.network_gradients`).

The criterion is the dense check's (:mod:`derive.numbers.gradcheck`, docs/numbers.md): an array
passes when ‖g − ĝ‖ ≤ rtol · (‖g‖ + ‖ĝ‖) + floor, rtol = 1e-7, the floor the error of ĝ itself
(round-off 8·u·√n·max|J|/ε, the noise of J measured by the fourth difference, and the truncation
3·‖ĝ(ε) − ĝ(ε/2)‖); the split of the moved costs is :func:`derive.numbers.difference_parts.split`.

Central differences cannot straddle a kink or a tie: the instance is drawn so that no ReLU's
pre-activation lies within :data:`MARGIN` (or 10 ε) of 0 and no max-pool window has its two largest
entries as close (one entry's step moves either by at most about ε·max|A|, far less); the draw is
repeated with the next seed until both hold, and the result says so.

Planted mistakes (:data:`MISTAKES`) replace one layer's derived backward step by a wrong one built
from the same derived functions: the filters not flipped in dA_prev, the pad cropped one off, the
stride left out, the average pool's 1/f² left out. Each must fail the check.

>>> from derive.conv.spec import load_cnn
>>> cnn = load_cnn('''input = [5, 5, 2]
... [[layer]]
... kind = "conv2d"
... filters = 2
... size = 3
... stride = 2
... pad = 1
... activation = "tanh"
... [[layer]]
... kind = "pool"
... mode = "average"
... size = 2
... stride = 1
... [[layer]]
... kind = "flatten"
... [[layer]]
... kind = "dense"
... units = 3
... activation = "softmax"
... ''')
>>> r = gradcheck(cnn, seed=0, m=2)
>>> r.passed, [a.name for a in r.arrays]
(True, ['W[1]', 'b[1]', 'W[4]', 'b[4]', 'X'])
>>> gradcheck(cnn, seed=0, m=2, plant="average_without_scale").failed
('W[1]', 'b[1]', 'X')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from derive.conv.planted import MISTAKES
from derive.conv.spec import CNN
from derive.core import tensor as T
from derive.core.names import m as M
from derive.errors import DeriveError
from derive.limits import Limit, require
from derive.numbers.difference_parts import MULTIPLES, _require_finite_costs, split
from derive.numbers.differences import entry, entry_index, norm, relative_error
from derive.numbers.gradcheck import (
    FLOOR_FACTOR,
    NOISE_FACTOR,
    RESOLUTION,
    TRUNCATION_FACTOR,
    ArrayCheck,
    ArrayVerdicts,
    U,
)

EPS = 1e-5  # central-difference step, relative to the array's largest entry (at least 1e-5)
RTOL = 1e-7  # the course's threshold on ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖), above the floor
MARGIN = 1e-3  # a ReLU's |Z| and a max-pool window's gap between its two largest entries
DRAWS = 200  # draws tried for an instance clear of kinks and ties
CRITERION = (
    "pass if ‖g − ĝ‖ ≤ rtol·(‖g‖ + ‖ĝ‖) + floor, floor = the error of ĝ: round-off "
    "8·u·√n·max|J|/ε (u = 2⁻⁵²) + noise 4·√n·σ/ε (σ of J, measured along the steps) + "
    "truncation 3·‖ĝ(ε) − ĝ(ε/2)‖; unresolved when floor > 5 % of max(‖g‖, ‖ĝ‖); "
    "ε = eps·max(1, max|P|) per array"
)
#: every entry is moved four times and the whole forward pass run each time
ENTRIES = Limit("conv.gradcheck_entries", 20_000, "entries", "smaller sizes in the spec (or --m)",
                "the entries of every W[l], b[l] and X, each checked by central differences")
#: the forward passes' multiply-adds (≈ 1 ns each here, in numpy) plus PASS_COST per pass (the
#: nodes' evaluation in Python, ≈ 0.6 ms a pass, measured): 2.5·10¹⁰ is about 25 s
WORK = Limit("conv.gradcheck_work", 25_000_000_000, "operations", "smaller sizes in the spec (or --m)",
             "the forward passes of a CNN gradient check, four per entry")
PASS_COST = 600_000


# -- central differences of the whole cost, entry by entry ---------------------------------------
@dataclass(frozen=True)
class Moved:
    """ĝ at ε and at ε/2, the step, J's noise σ along the steps, per array (keys ("W", 1), ...)."""

    gradients: dict
    halves: dict
    steps: dict
    noise: dict
    jmax: float


def differences(cost: Callable[[dict], float], arrays: Mapping, eps: float = EPS) -> Moved:
    """Move each entry of each array of ``arrays`` by ±ε, ±ε/2 (ε = eps·max(1, max|P|) per array)
    and evaluate ``cost`` (a function of the whole dict) at each copy; the moved costs of one
    array are split by :func:`derive.numbers.difference_parts.split` (ĝ(ε), ĝ(ε/2), the noise)."""
    base = {k: np.array(v, dtype=float) for k, v in arrays.items()}
    J0 = float(cost(base))
    if not math.isfinite(J0):
        raise DeriveError(f"the cost J is {J0} at these values: give values where it is finite")
    steps = {k: eps * max(1.0, float(np.max(np.abs(v))) if v.size else 1.0) for k, v in base.items()}
    found: dict = {"grads": {}, "halves": {}, "noise": {}, "still": {}}
    jmax = abs(J0)
    for k, P in base.items():
        moved = np.empty((len(MULTIPLES), P.size))
        flat = P.reshape(-1)  # a view: each entry is moved in place and put back
        for e in range(P.size):
            keep = flat[e]
            for q, multiple in enumerate(MULTIPLES):
                flat[e] = keep + multiple * steps[k]
                moved[q, e] = cost(base)
            flat[e] = keep
        _require_finite_costs(moved, J0, [k], [P], steps)
        jmax = max(jmax, float(np.max(np.abs(moved))) if moved.size else 0.0)
        split(moved, J0, [k], base, steps, found)
    return Moved(found["grads"], found["halves"], steps, found["noise"], jmax)


def compare(analytic: Mapping, d: Moved, rtol: float = RTOL) -> tuple[tuple[ArrayCheck, ...], float]:
    """The dense check's criterion (:func:`derive.numbers.gradcheck.compare`), array by array, and
    the overall relative error over all arrays."""
    checks = []
    for key, h in d.gradients.items():
        name = f"{key[0]}[{key[1]}]"
        g = np.asarray(analytic[key], dtype=float)
        step, n = d.steps[key], h.size
        roundoff = (FLOOR_FACTOR * U * math.sqrt(n) * max(d.jmax, 1e-300) / step
                    + NOISE_FACTOR * math.sqrt(n) * d.noise[key] / step)
        truncation = TRUNCATION_FACTOR * norm(h - d.halves[key])
        floor = roundoff + truncation
        hn = norm(h)
        if g.shape != h.shape:
            checks.append(ArrayCheck(name, key, tuple(h.shape), step, math.nan, hn, math.nan,
                                     math.nan, floor, "fail", None,
                                     f"shape {g.shape}, not {h.shape}"))
            continue
        diff = g - h
        err, gn, rel = norm(diff), norm(g), relative_error(g, h)
        worst = entry_index(np.abs(diff)) if diff.size else None
        reason = None
        if not np.all(np.isfinite(g)):
            worst = entry_index(~np.isfinite(g))
            reason = f"entry {entry(worst)} is {g[worst]}"
        if reason is not None or err > rtol * (gn + hn) + floor:
            status = "fail"
        elif floor > RESOLUTION * max(gn, hn):
            status = "unresolved"
            if truncation > roundoff:
                reason = "ĝ at ε and ε/2 disagree (a kink or a tie within the step)"
        else:
            status = "pass"
        checks.append(ArrayCheck(name, key, tuple(g.shape), step, gn, hn, err, rel, float(floor),
                                 status, worst, reason))
    same = [k for k in d.gradients if np.shape(analytic[k]) == np.shape(d.gradients[k])]
    G = np.concatenate([np.ravel(analytic[k]) for k in same] or [np.zeros(0)])
    H = np.concatenate([np.ravel(d.gradients[k]) for k in same] or [np.zeros(0)])
    return tuple(checks), relative_error(G, H)


# -- the result ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CNNGradCheck(ArrayVerdicts):
    """A CNN's gradient check: one :class:`ArrayCheck` per W[l], b[l] and A[0] = X."""

    description: str  # the network, one line
    source: str  # "derived formulas" or the planted mistake, named
    arrays: tuple[ArrayCheck, ...]
    overall_relative_error: float
    rtol: float
    eps: float
    seed: int
    m: int
    notes: tuple[str, ...] = field(default=())
    criterion: str = CRITERION
    plant: str | None = None

    @property
    def kinks(self) -> tuple[()]:
        return ()  # drawn clear of every kink and tie (a note says so)

    def to_dict(self) -> dict[str, Any]:
        def finite(x: float) -> float | None:
            return x if math.isfinite(x) else None

        return {
            "network": self.description, "source": self.source, "plant": self.plant,
            "passed": self.passed, "max_relative_error": finite(self.max_relative_error),
            "overall_relative_error": finite(self.overall_relative_error),
            "criterion": self.criterion, "rtol": self.rtol, "eps": self.eps, "seed": self.seed,
            "m": self.m, "arrays": [a.to_dict() for a in self.arrays],
            "failed": list(self.failed), "notes": list(self.notes),
        }


# -- the network's numbers, all from the derivation ------------------------------------------------
def _key(name: str) -> tuple[str, int]:
    base = name.rstrip("0123456789")
    return (base, int(name[len(base):]))


def _forward(cnn: CNN, params: Mapping, X: np.ndarray):
    """(env, head, its parameters, its cache): the derived forward definitions of the conv, pool and flatten layers
    (:func:`derive.conv.numbers.forward_values`), then the dense head's own forward pass
    (:func:`derive.network.model.forward`) from the flatten's A."""
    from derive.conv.numbers import forward_values
    from derive.network import model

    env = forward_values(cnn, params, X)
    off, head = cnn.flatten_at, cnn.head()
    hparams = {(base, l - off): np.asarray(params[base, l]) for base, l in cnn.params() if l > off}
    return env, head, hparams, model.forward(head, hparams, env["A", off])


def cost(cnn: CNN, params: Mapping, X: np.ndarray, Y: np.ndarray) -> float:
    """J = (1/m) Σ ℓ after :func:`_forward` (the dense head's cost, :func:`derive.network.model.cost`)."""
    from derive.network import model

    _, head, hparams, cache = _forward(cnn, params, X)
    return float(model.cost(head, cache, Y, hparams))


def analytic(cnn: CNN, params: Mapping, X: np.ndarray, Y: np.ndarray, plant: str | None = None
             ) -> dict:
    """The derived gradients of J, keyed as the differences are: ("W", l), ("b", l), ("X", 0)
    (dA[0] stacks the per-example gradients: ∂J/∂X = dA[0]/m). With ``plant``, every conv, pool
    and flatten step below the head evaluated again with that mistake put in its formula."""
    from derive.conv.derivation import derive_cnn
    from derive.conv.numbers import network_gradients

    values = {_key(k): v for k, v in network_gradients(cnn, params, X, Y).items()}
    if plant is not None:
        mistake = MISTAKES[plant]
        env = {**values, **{k: np.asarray(v) for k, v in params.items()}, ("A", 0): X}
        be = T.NumpyTensors({M: X.shape[0]})
        changed = False
        for s in derive_cnn(cnn, prove=False).steps:
            if s.dense:
                continue
            expr = mistake.apply(s.expr)
            changed |= expr is not s.expr
            env[s.target.key] = T.tevaluate(expr, env, be)
        if not changed:
            raise DeriveError(f"--plant {plant}: this network has nowhere to plant it (it needs "
                              f"{mistake.needs})")
        values = env
    out = {k: values["d" + k[0], k[1]] for k in cnn.params()}
    out["X", 0] = values["dA", 0] / X.shape[0]
    return out


# -- an instance clear of kinks and ties -----------------------------------------------------------
def _shapes(cnn: CNN) -> dict[tuple[str, int], tuple[int, ...]]:
    """Every parameter's shape: a conv2d layer's as its layer type gives them, a dense one's in
    the head's columns convention (W n[l]×n[l−1], b n[l]×1)."""
    from derive.layers import layer_type

    out: dict[tuple[str, int], tuple[int, ...]] = {}
    for layer in cnn.layers:
        if layer.kind == "conv2d":
            for base in ("W", "b"):
                out[base, layer.number] = tuple(
                    layer_type("conv2d").tensor_shape(layer, base, 1))  # type: ignore[attr-defined]
        elif layer.kind == "dense":
            out["W", layer.number] = (layer.units, layer.in_shape[0])
            out["b", layer.number] = (layer.units, 1)
    return out


def _near(cnn: CNN, params: Mapping, X: np.ndarray, margin: float = MARGIN) -> str | None:
    """Where a step could straddle a kink or a tie: a ReLU-like pre-activation within ``margin``
    of its kink, or a max-pool window whose two largest entries are within it (unless both are
    a ReLU's exact zeros); None if clear."""
    from derive.catalogue import rules

    env, _, _, cache = _forward(cnn, params, X)
    off = cnn.flatten_at
    for layer in cnn.layers:
        l = layer.number
        if layer.kind in ("conv2d", "dense") and layer.activation is not None:
            act = rules.activations().lookup(layer.activation)
            Z = env["Z", l] if layer.kind == "conv2d" else cache["Z", l - off]
            for k in act.kinks:
                if np.any(np.abs(Z - float(k)) < margin):
                    return f"Z[{l}] near {layer.activation}'s kink at {k}"
        if layer.kind == "pool" and layer.mode == "max":
            A, f, s = env["A", l - 1], layer.size, layer.stride
            for h in range(layer.out_shape[0]):
                for w in range(layer.out_shape[1]):
                    window = np.sort(A[:, h * s:h * s + f, w * s:w * s + f, :].reshape(
                        A.shape[0], f * f, -1), axis=1)
                    top, second = window[:, -1], window[:, -2]
                    # a tie of exact zeros is a ReLU's clamp (its Z is clear of 0, checked
                    # below the pool): no step moves them, and no gradient goes through them
                    if f * f > 1 and np.any((top - second < margin) & (top != 0.0)):
                        return f"a tie in layer {l}'s max-pool window ({h + 1}, {w + 1})"
    return None


def random_instance(cnn: CNN, seed: int = 0, m: int = 2, margin: float = MARGIN
                    ) -> tuple[dict, np.ndarray, np.ndarray, int]:
    """(params, X, Y, draws): X ~ N(0, 1), conv W ~ N(0, 1/(f² n_C_prev)), dense W ~ N(0, 1/n),
    b ~ N(0, 0.3²), targets in the loss's domain; drawn again (the seed's next stream) until no
    ReLU pre-activation lies within ``margin`` of 0 and no max-pool window has a near tie."""
    from derive.network import model

    for draw in range(DRAWS):
        rng = np.random.default_rng([seed, draw])
        X = rng.normal(size=(m, *cnn.input))
        params: dict = {}
        for key, shape in _shapes(cnn).items():
            fan_in = int(np.prod(shape[:-1])) if len(shape) == 4 else shape[1]
            params[key] = (rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape) if key[0] == "W"
                           else rng.normal(0.0, 0.3, size=shape))
        Y = model.random_targets(cnn.head(), rng, cnn.layers[-1].units, m)
        if _near(cnn, params, X, margin) is None:
            return params, X, Y, draw + 1
    raise DeriveError(f"no instance clear of kinks and ties (margin {margin:g}) in {DRAWS} draws; "
                      "try another --seed or a smaller --eps")


# -- the check -------------------------------------------------------------------------------------
def gradcheck(cnn: CNN, seed: int = 0, m: int | None = None, eps: float = EPS, rtol: float = RTOL,
              plant: str | None = None) -> CNNGradCheck:
    """Check the derived gradients of ``cnn`` (or, with ``plant``, one named mistake put into
    them) against central differences of J, on a seeded instance clear of kinks and ties."""
    if plant is not None and plant not in MISTAKES:
        raise DeriveError(f"--plant {plant!r}: known mistakes are {', '.join(MISTAKES)}")
    if not (1e-10 <= eps <= 1e-1):
        raise DeriveError(f"--eps {eps:g} is outside 1e-10..1e-1")
    if not (0 < rtol < 1):
        raise DeriveError(f"--rtol {rtol:g} must lie between 0 and 1")
    m = m if m is not None else (cnn.examples or 2)
    require_within_limits(cnn, m)
    margin = max(MARGIN, 10 * eps)  # one entry's step moves a Z by at most ε·max|A| (|A| ≲ 4)
    params, X, Y, draws = random_instance(cnn, seed, m, margin)
    g = analytic(cnn, params, X, Y, plant)
    arrays = {**params, ("X", 0): X}
    d = differences(lambda a: cost(cnn, a, a["X", 0], Y), arrays, eps)
    checks, overall = compare(g, d, rtol)
    checks = tuple(replace(c, name="X") if c.key == ("X", 0) else c for c in checks)
    source = "derived formulas" if plant is None else f"planted mistake {plant}: {MISTAKES[plant].title}"
    notes = (f"cost J = (1/m) Σ ℓ over the m = {m} examples; X is checked too (∂J/∂X = dA[0]/m)",
             f"drawn clear of kinks and ties: no ReLU pre-activation within {margin:g} of 0, no "
             f"max-pool window with its two largest entries within {margin:g} (draw {draws} of "
             f"seed {seed}); one entry's step moves them by at most about ε·max|A|, far less")
    return CNNGradCheck(describe(cnn), source, checks, overall, rtol, eps, seed, m, notes, plant=plant)


def require_within_limits(cnn: CNN, m: int) -> None:
    """Refuse, before drawing, a check over :data:`ENTRIES` or :data:`WORK`."""
    from derive.conv.spec import EXAMPLES

    require(EXAMPLES, m, "the examples of a CNN gradient check")
    entries, ops = work_estimate(cnn, m)
    require(ENTRIES, entries)
    require(WORK, ops)


def work_estimate(cnn: CNN, m: int) -> tuple[int, int]:
    """(entries checked, operations of their forward passes: ≈ 1 ns each, see :data:`WORK`)."""
    entries = sum(int(np.prod(s)) for s in _shapes(cnn).values()) + m * int(np.prod(cnn.input))
    per_pass = m * sum(_layer_work(layer) for layer in cnn.layers) + PASS_COST
    return entries, len(MULTIPLES) * entries * per_pass


def _layer_work(layer) -> int:
    out = int(np.prod(layer.out_shape))
    if layer.kind == "conv2d":
        return out * layer.size ** 2 * layer.in_shape[2]
    if layer.kind == "dense":
        return out * layer.in_shape[0]
    return out * max(layer.size, 1) ** 2


def describe(cnn: CNN) -> str:
    """The network in one line, as `derive backward --spec` heads it (:func:`derive.conv.render.header`)."""
    from derive.conv.derivation import derive_cnn
    from derive.conv.render import header

    return header(derive_cnn(cnn, prove=False)).removeprefix("CNN: ")
