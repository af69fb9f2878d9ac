"""Gradient checking, end to end: derived gradients against central differences of the whole cost.

For every parameter array P (each W[l] and b[l]) the numeric gradient is
ĝₖ = (J(P + ε eₖ) − J(P − ε eₖ)) / 2ε, all k of one array in ONE batched forward pass (the
perturbed copies ride on a leading batch axis through :func:`derive.network.model.forward`). The analytic
gradient g is the engine's own formulas evaluated by :func:`derive.engine.values.gradient_values`.

The criterion (see docs/numbers.md, "Gradient checking"): an array passes when

    ‖g − ĝ‖ ≤ rtol · (‖g‖ + ‖ĝ‖) + floor,    floor = 8 · √n · u · max|J| / ε

with ε = 1e-4 · max(1, max|P|) per array, rtol = 1e-6, u = 2⁻⁵² (float64). The floor is the
round-off of the central difference itself: J is known to about u·|J|, so no gradient entry below
u·|J|/ε can be resolved. An array whose gradients both sit below the floor is reported as
"unresolved" (neither right nor wrong: it vanished below float64 resolution at this ε).

>>> from derive.network.spec import Network
>>> r = gradcheck(Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce"), seed=1)
>>> r.passed, [a.name for a in r.arrays]
(True, ['W[1]', 'b[1]', 'W[2]', 'b[2]'])
>>> r.max_relative_error < 1e-6
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from derive.core import fd
from derive.engine.backward import Derivation, derive
from derive.engine.values import gradient_values
from derive.errors import DeriveError
from derive.network import model
from derive.network.spec import Network

EPS = 1e-4  # central-difference step (relative to the array's largest entry, at least 1e-4)
RTOL = 1e-6  # relative tolerance on ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) above the round-off floor
FLOOR_FACTOR = 8.0  # safety factor on the round-off estimate u·|J|/ε per entry
U = float(np.finfo(float).eps)
CRITERION = (
    "pass if ‖g − ĝ‖ ≤ rtol·(‖g‖ + ‖ĝ‖) + floor, floor = 8·√n·u·max|J|/ε "
    "(u = 2⁻⁵², the round-off of a central difference); ε = eps·max(1, max|P|) per array"
)


@dataclass(frozen=True)
class ArrayCheck:
    """The check of one parameter array: both gradients' norms, the error and the verdict."""

    name: str  # "W[1]"
    key: tuple[str, int]
    shape: tuple[int, ...]
    eps: float
    analytic_norm: float
    numeric_norm: float
    abs_error: float
    relative_error: float
    floor: float
    status: str  # "pass", "fail" or "unresolved"
    worst_entry: tuple[int, ...] | None = None  # the entry with the largest |g − ĝ|

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "shape": list(self.shape), "eps": self.eps,
            "relative_error": self.relative_error, "abs_error": self.abs_error,
            "analytic_norm": self.analytic_norm, "numeric_norm": self.numeric_norm,
            "floor": self.floor, "status": self.status,
            "worst_entry": list(self.worst_entry) if self.worst_entry is not None else None,
        }


@dataclass(frozen=True)
class KinkWarning:
    """A pre-activation close enough to an activation's kink that a difference can straddle it."""

    layer: int
    entry: tuple[int, int]
    z: float
    kink: float
    activation: str

    def message(self) -> str:
        return (f"Z[{self.layer}]{list(self.entry)} = {self.z:.3g} lies within the step of "
                f"{self.activation}'s kink at {self.kink:g}: the difference there straddles it")


@dataclass(frozen=True)
class GradCheck:
    """A whole gradient check: one :class:`ArrayCheck` per W[l] and b[l], and the overall error."""

    network: Network
    source: str  # "derived formulas" or "module:function"
    arrays: tuple[ArrayCheck, ...]
    overall_relative_error: float
    rtol: float
    eps: float
    seed: int | None
    m: int
    kinks: tuple[KinkWarning, ...] = ()
    criterion: str = CRITERION
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.arrays)

    @property
    def max_relative_error(self) -> float:
        return max((a.relative_error for a in self.arrays if a.status != "unresolved"), default=0.0)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arrays if a.status == "fail")

    def to_dict(self) -> dict:
        return {
            "network": self.network.to_dict(), "source": self.source, "passed": self.passed,
            "max_relative_error": self.max_relative_error,
            "overall_relative_error": self.overall_relative_error,
            "criterion": self.criterion, "rtol": self.rtol, "eps": self.eps, "seed": self.seed,
            "m": self.m, "arrays": [a.to_dict() for a in self.arrays],
            "failed": list(self.failed), "kinks": [k.message() for k in self.kinks],
            "notes": list(self.notes),
        }


def param_keys(net: Network) -> list[tuple[str, int]]:
    return [(base, l) for l in range(1, net.L + 1) for base in ("W", "b")]


def numeric_gradients(net: Network, params: dict, X: np.ndarray, Y: np.ndarray, eps: float = EPS
                      ) -> tuple[dict, dict, float]:
    """Central differences of the whole cost J w.r.t. every W[l], b[l].

    Returns (gradients, steps, max|J| seen). All copies of one array go through ONE forward
    pass. Moving entry (i, j) of W[l] by δ moves Z[l] = W[l] A[l−1] + b[l] by exactly
    δ eᵢ A[l−1][j, :] (columns convention), so each copy is Z[l] with one unit shifted, not a
    product of its own. The copies enter the network at Z[l] (the layers below do not depend on
    W[l], b[l]) and run through every later layer and the cost, side by side as extra examples
    (:func:`_batched_cost`).
    """
    base_cache = model.forward(net, params, X)
    grads, steps = {}, {}
    jmax = abs(float(model.cost(net, base_cache, Y)))
    cols = net.layout.columns
    for key in param_keys(net):
        base, layer = key
        P = np.asarray(params[key], dtype=float)
        step = eps * max(1.0, float(np.max(np.abs(P))) if P.size else 1.0)
        Z, A_prev = base_cache["Z", layer], base_cache["A", layer - 1]
        n = P.size
        rows, cols_idx = np.unravel_index(np.arange(n), P.shape)
        if base == "W":  # columns: W is n_l × n_{l-1}, entry (i, j) moves row i of Z by δ A_prev[j]
            unit, src = (rows, cols_idx) if cols else (cols_idx, rows)
            shift = A_prev[src, :] if cols else A_prev[:, src].T  # (n, m)
        else:
            unit = rows if cols else cols_idx
            shift = np.ones((n, Z.shape[1] if cols else Z.shape[0]))
        unit2 = np.tile(unit, 2)
        delta = np.concatenate([step * shift, -step * shift])  # copies 0..n-1: +δ, n..2n-1: −δ
        act = model.activation_or_standin(net, layer)
        if layer < net.L and act.elementwise:
            Jb = _cost_from_next_layer(net, params, X, Y, base_cache, layer, unit2, delta)
        else:
            Zp = np.broadcast_to(Z, (2 * n, *Z.shape)).copy()
            if cols:
                Zp[np.arange(2 * n), unit2, :] += delta
            else:
                Zp[np.arange(2 * n), :, unit2] += delta
            Jb = _batched_cost(net, params, X, Y, layer, Zp)
        J = (Jb[:n], Jb[n:])
        grads[key] = ((J[0] - J[1]) / (2 * step)).reshape(P.shape)
        steps[key] = step
        jmax = max(jmax, float(np.max(np.abs(J[0]))), float(np.max(np.abs(J[1]))))
    return grads, steps, jmax


def _batched_cost(net: Network, params: dict, X, Y, layer: int, Zp: np.ndarray) -> np.ndarray:
    """J of each of the k copies Zp[k] of Z[layer], through ONE batched forward pass of
    :func:`derive.network.model.forward` (which takes leading batch axes) and :func:`derive.network.model.cost`."""
    cache = model.forward(net, params, X, start=layer, start_value=("Z", Zp))
    return model.cost(net, cache, Y)


def _cost_from_next_layer(net, params, X, Y, cache, layer, unit, delta) -> np.ndarray:
    """The same copies, entering one layer higher: copy k changes only unit uₖ of Z[l] (by
    δₖ, a row of m numbers), so only that unit of A[l] changes, by Δₖ = g(Z[l]ᵤ + δₖ) − A[l]ᵤ
    (the activation applied by :func:`derive.network.model.apply_activation`), and
    Z[l+1] = W[l+1] A[l] + b[l+1] moves by exactly W[l+1][:, uₖ] Δₖ. The copies then run from
    Z[l+1] through the batched forward pass and the cost (an outer product per copy: the affine
    map is linear in A[l], and a full product per copy would cost n[l] times more). Element-wise
    layers only."""
    cols = net.layout.columns
    Z, A, Z_next, W_next = cache["Z", layer], cache["A", layer], cache["Z", layer + 1], params["W", layer + 1]
    if cols:
        rows = Z[unit, :] + delta  # (k, m)
        change = model.apply_activation(net, layer, rows) - A[unit, :]
        Zp = Z_next[None, :, :] + W_next[:, unit].T[:, :, None] * change[:, None, :]
    else:
        rows = Z[:, unit].T + delta
        change = model.apply_activation(net, layer, rows) - A[:, unit].T
        Zp = Z_next[None, :, :] + change[:, :, None] * W_next[unit, :][:, None, :]
    return _batched_cost(net, params, X, Y, layer + 1, Zp)


def analytic_gradients(derivation: Derivation, instance: model.Instance) -> dict:
    """dW[l], db[l] from the engine's own formulas (:func:`derive.engine.values.gradient_values`)."""
    values = gradient_values(derivation, instance)
    return {(base, l): values["d" + base, l] for base, l in param_keys(derivation.network)}


def compare(net: Network, analytic: dict, numeric: dict, steps: dict, jmax: float,
            rtol: float = RTOL) -> tuple[tuple[ArrayCheck, ...], float]:
    """Apply the criterion array by array; also the overall relative error over all arrays."""
    checks = []
    for key in param_keys(net):
        g, h = np.asarray(analytic[key], dtype=float), np.asarray(numeric[key], dtype=float)
        diff = g - h
        err = float(np.linalg.norm(diff))
        gn, hn = float(np.linalg.norm(g)), float(np.linalg.norm(h))
        floor = FLOOR_FACTOR * np.sqrt(g.size) * U * max(jmax, 1e-300) / steps[key]
        rel = fd.relative_error(g, h)
        if gn + hn <= 2 * floor:
            status = "unresolved"
        elif err <= rtol * (gn + hn) + floor:
            status = "pass"
        else:
            status = "fail"
        worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(diff)), diff.shape)) if diff.size else None
        base, layer = key
        checks.append(ArrayCheck(f"{base}[{layer}]", key, tuple(g.shape), steps[key], gn, hn, err,
                                 rel, float(floor), status, worst))
    G = np.concatenate([np.ravel(analytic[k]) for k in param_keys(net)])
    H = np.concatenate([np.ravel(numeric[k]) for k in param_keys(net)])
    return tuple(checks), fd.relative_error(G, H)


def kink_warnings(net: Network, params: dict, X: np.ndarray, eps: float = EPS) -> tuple[KinkWarning, ...]:
    """Pre-activations within reach of a kink: |Z − k| ≤ 10 ε · max(1, Σⱼ |A[l−1]ⱼ|) per example."""
    cache = model.forward(net, params, X)
    out = []
    for l in range(1, net.L + 1):
        act = net.activation(l)
        if act is None or not act.kinks:
            continue
        Z, A_prev = cache["Z", l], cache["A", l - 1]
        axis = net.layout.unit_axis
        reach = 10 * eps * np.maximum(1.0, np.sum(np.abs(A_prev), axis=axis, keepdims=True))
        scale = max(1.0, float(np.max(np.abs(params["W", l]))))
        for k in act.kinks:
            close = np.argwhere(np.abs(Z - float(k)) <= reach * scale)
            for i, j in close[:20]:
                out.append(KinkWarning(l, (int(i), int(j)), float(Z[i, j]), float(k), act.name))
    return tuple(out)


def gradcheck(net: Network, seed: int | None = 0, m: int = 4, eps: float = EPS, rtol: float = RTOL,
              instance: model.Instance | None = None, derivation: Derivation | None = None,
              sizes=None) -> GradCheck:
    """Check the derived formulas of ``net`` against central differences (see module docstring).

    ``instance`` gives the parameters and data (else a seeded random one, away from kinks);
    ``derivation`` the formulas to check (else ``derive(net, prove=False)``).
    """
    _check_numbers(eps, rtol)
    net = _concrete(net, instance, sizes)
    if instance is None:
        instance = random_instance(net, seed, m, sizes, eps)
    d = derivation if derivation is not None else derive(net, prove=False)
    if d.network != net:
        d = replace(d, network=net)
    analytic = analytic_gradients(d, instance)
    numeric, steps, jmax = numeric_gradients(net, instance.params, instance.X, instance.Y, eps)
    arrays, overall = compare(net, analytic, numeric, steps, jmax, rtol)
    return GradCheck(net, "derived formulas", arrays, overall, rtol, eps, seed, instance.m,
                     kink_warnings(net, instance.params, instance.X, eps), notes=_notes(net))


def gradcheck_impl(net: Network, backward: Callable, seed: int | None = 0, m: int = 4,
                   eps: float = EPS, rtol: float = RTOL, instance: model.Instance | None = None,
                   sizes=None, source: str = "user function") -> GradCheck:
    """Check a user's numpy backward function against central differences.

    ``backward(params, X, Y) -> grads`` with ``params = {"W1": ..., "b1": ..., "W2": ...}`` (the
    network's convention) and ``grads = {"dW1": ..., "db1": ..., ...}`` of the cost J as defined
    by the spec (mean over the m examples unless scale = "sum").
    """
    _check_numbers(eps, rtol)
    net = _concrete(net, instance, sizes)
    if instance is None:
        instance = random_instance(net, seed, m, sizes, eps)
    named = {f"{b}{l}": np.array(instance.params[b, l], copy=True) for b, l in param_keys(net)}
    try:
        out = backward(named, instance.X.copy(), instance.Y.copy())
    except DeriveError:
        raise
    except Exception as exc:  # the user's code: report what it raised, in their terms
        raise DeriveError(f"{source} raised {type(exc).__name__}: {exc}") from None
    analytic = _validate_grads(net, instance, out, source)
    numeric, steps, jmax = numeric_gradients(net, instance.params, instance.X, instance.Y, eps)
    arrays, overall = compare(net, analytic, numeric, steps, jmax, rtol)
    return GradCheck(net, source, arrays, overall, rtol, eps, seed, instance.m,
                     kink_warnings(net, instance.params, instance.X, eps), notes=_notes(net))


def random_instance(net: Network, seed: int | None, m: int, sizes, eps: float) -> model.Instance:
    """A seeded instance away from every kink (margin 0.05, narrowed for deep ReLU networks where
    some pre-activation almost always falls near 0, but always far beyond the step ε)."""
    for margin in (0.05, 0.01, 1e-3):
        try:
            return model.random_instance(net, seed=seed or 0, m=m, sizes=sizes, margin=margin)
        except RuntimeError:
            continue
    raise DeriveError("could not draw parameters away from the activation kinks; try another --seed")


def _validate_grads(net: Network, instance: model.Instance, out, source: str) -> dict:
    if not isinstance(out, dict):
        raise DeriveError(f"{source} returned {type(out).__name__}; expected a dict with keys "
                          + ", ".join(f"d{b}{l}" for b, l in param_keys(net)))
    grads = {}
    for b, l in param_keys(net):
        name = f"d{b}{l}"
        if name not in out:
            raise DeriveError(f"{source} returned no {name!r} (keys: {', '.join(map(str, out)) or 'none'})")
        try:
            value = np.asarray(out[name], dtype=float)
        except (TypeError, ValueError):
            raise DeriveError(f"{source}: {name} is not a numeric array") from None
        want = np.shape(instance.params[b, l])
        if value.shape != want:
            raise DeriveError(f"{source}: {name} has shape {_fmt(value.shape)}, but {b}{l} has "
                              f"shape {_fmt(want)} (a gradient has its parameter's shape)")
        if not np.all(np.isfinite(value)):
            raise DeriveError(f"{source}: {name} contains NaN or infinite entries")
        grads[b, l] = value
    return grads


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _check_numbers(eps: float, rtol: float) -> None:
    if not (1e-10 <= eps <= 1e-1):
        raise DeriveError(f"--eps {eps:g} is outside 1e-10..1e-1")
    if not (0 < rtol < 1):
        raise DeriveError(f"--rtol {rtol:g} must lie between 0 and 1")


def _concrete(net: Network, instance, sizes) -> Network:
    if all(s is not None for s in net.layers):
        return net
    if instance is not None:
        return net.with_sizes(instance.sizes)
    return net.with_sizes(model.concrete_sizes(net, sizes))


def _notes(net: Network) -> tuple[str, ...]:
    notes = [f"cost J = {'(1/m) ' if net.scale == 'mean' else ''}Σ ℓ over the m examples"]
    if any(a is None for a in net.activations):
        notes.append("generic g[l] replaced by g(z) = tanh(z) + z/(l + 2) for numbers")
    if net.loss is None:
        notes.append("generic loss ℓ replaced by log cosh(a − y) + (a − y)²/4 for numbers")
    return tuple(notes)
