"""Central differences of the whole cost for every entry of every W[l] and b[l], batched and
chunked, with the measurements the gradient check's floor is made of (docs/numbers.md).

Every entry is moved by ±ε and ±ε/2 (ε = eps · max(1, max|P|) per array); one more copy per
layer is not moved. ĝ(ε) − ĝ(ε/2) measures the truncation error, the fourth difference
J(−ε) − 4J(−ε/2) + 6J(0) − 4J(ε/2) + J(ε) ≈ √70 σ the noise σ of J along the steps.

The copies are planned before anything is allocated (:func:`plan`): consecutive layers' copies
share one batched pass up the network (a sweep), each joining at the layer where it enters, in
groups of at most :data:`BATCH_BYTES`; the same plan gives the work estimate (:func:`work_estimate`).

>>> from derive.network.spec import Network
>>> from derive.network.model import random_instance
>>> net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
>>> inst = random_instance(net, seed=1)
>>> d = differences(net, inst.params, inst.X, inst.Y)
>>> d.gradients["W", 1].shape, d.noise["W", 1] < 1e-15
((4, 3), True)
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from derive.core.expr import evaluate
from derive.errors import InternalError
from derive.limits import FLOAT
from derive.network import model
from derive.network.spec import Network, factor_at
from derive.numbers.difference_parts import (
    ACTIVATION_COST,
    COPY_COST,
    ELEMENT_COST,
    LAYER_COST,
    MULTIPLES,
    Differences,
    _require_finite_costs,
    split,
)
from derive.numbers.difference_parts import entry as entry  # re-exported: gradcheck's messages

EPS = 1e-4  # central-difference step (relative to the array's largest entry, at least 1e-4)
BATCH_BYTES = 16 * 2**20  # the copies in flight at once (larger batches ran slower: measured)
COPY_FLOATS = 6  # floats a copy holds per unit and example of the widest layer it passes


def param_keys(net: Network) -> list[tuple[str, int]]:
    """Every trained array, layer by layer, as its layer type declares them (W[l], b[l]; a
    batch-normalised layer's W[l], γ[l], β[l])."""
    return [(base, l) for l in range(1, net.L + 1) for base in net.block(l).parameters]


def given_sizes(net: Network) -> list[int]:
    """n[0..L] of a network whose sizes are all given (the numbers' networks are)."""
    given = [s for s in net.layers if s is not None]
    if len(given) != len(net.layers):
        raise InternalError(f"sizes {net.layers} are not all given")
    return given


def numeric_gradients(net: Network, params: dict, X: np.ndarray, Y: np.ndarray, eps: float = EPS
                      ) -> tuple[dict, dict, float]:
    """Central differences of the whole cost J w.r.t. every W[l], b[l]: (gradients, steps,
    max|J| seen); :func:`differences` has the rest."""
    d = differences(net, params, X, Y, eps)
    return d.gradients, d.steps, d.jmax


def differences(net: Network, params: dict, X: np.ndarray, Y: np.ndarray, eps: float = EPS
                ) -> Differences:
    """Central differences at ε and ε/2 of every entry of every W[l], b[l].

    Moving entry (i, j) of W[l] by δ moves Z[l] = W[l] A[l−1] + b[l] by exactly δ eᵢ A[l−1][j, :]
    (columns convention), so each copy is Z[l] with one unit shifted, not a product of its own
    (:func:`_entering`). The layers below do not depend on W[l], b[l]: the copies enter there and
    run through every later layer and the cost, side by side as extra examples (:func:`_sweep`).
    A network with a layer that is not dense (batch norm) runs every copy through the whole
    forward pass instead (:mod:`derive.numbers.whole_pass`).
    """
    if not net.all_dense:
        from derive.numbers.whole_pass import whole_pass_differences

        return whole_pass_differences(net, params, X, Y, eps)
    cache = model.forward(net, params, X)
    J = float(model.cost(net, cache, Y, params))
    scale = 1.0 / model.example_count(net, Y) if net.cost_is_mean else 1.0
    jscale = scale * float(np.sum(np.abs(cache["A", net.L])) + np.sum(np.abs(Y)))
    steps = {k: eps * max(1.0, float(np.max(np.abs(params[k]))) if np.size(params[k]) else 1.0)
             for k in param_keys(net)}
    copies = {l: _Copies.of(net, params, cache, l, steps) for l in range(1, net.L + 1)}
    costs = {l: np.empty(c.total) for l, c in copies.items()}
    for group in plan(net, model.example_count(net, X)):
        out = _sweep(net, params, X, Y, cache, [(copies[l], a, b) for l, a, b in group])
        for (l, a, b), values in zip(group, out, strict=True):
            costs[l][a:b] = values
    if net.l2 is not None:
        for l, c in copies.items():
            costs[l] += _penalties(net, params, c, steps, model.example_count(net, X))
    found: dict = {"grads": {}, "halves": {}, "noise": {}, "still": {}}
    jmax = abs(J)
    for layer, c in copies.items():
        keys = [("W", layer), ("b", layer)]
        moved, J0 = costs[layer][:-1].reshape(len(MULTIPLES), c.E), costs[layer][-1]
        _require_finite_costs(moved, J0, keys, [params[k] for k in keys], steps)
        jmax = max(jmax, float(np.max(np.abs(costs[layer]))))
        split(moved, J0, keys, params, steps, found)
    return Differences(found["grads"], found["halves"], steps, found["noise"], found["still"], jmax,
                       jscale)


def _penalties(net: Network, params: dict, c: _Copies, steps: dict, m_value: int) -> np.ndarray:
    """The L2 penalty of each copy of layer ``c.layer``: the unmoved penalty, and where a copy
    moves an entry w of a regularised W[l] by δ, p((w + δ)² − w²) more (b is not regularised)."""
    out = np.full(c.total, float(model.penalty(net, params, m_value)))
    if net.regularised(c.layer):
        p = factor_at(net.l2_penalty, m_value)
        w = np.asarray(params["W", c.layer], dtype=float).ravel()
        for q, multiple in enumerate(MULTIPLES):
            delta = multiple * steps["W", c.layer]
            out[q * c.E:q * c.E + w.size] += p * ((w + delta) ** 2 - w**2)
    return out


@dataclass(frozen=True)
class _Copies:
    """The copies of one layer: copy q·E + e moves entry e (W[l]'s, then b[l]'s) by
    MULTIPLES[q] times its step; the last copy (q = len(MULTIPLES)) moves nothing."""

    layer: int
    units: np.ndarray  # the unit of Z[l] each entry moves
    source: np.ndarray  # the row of A[l-1] it moves it by (-1: a bias, by ones)
    step: np.ndarray  # its array's ε

    @classmethod
    def of(cls, net: Network, params: dict, cache: dict, layer: int, steps: dict) -> _Copies:
        cols = net.layout.columns
        W, b = params["W", layer], params["b", layer]
        rows, cidx = np.unravel_index(np.arange(W.size), W.shape)
        b_rows, b_cols = np.unravel_index(np.arange(b.size), b.shape)
        units = np.concatenate([rows if cols else cidx, b_rows if cols else b_cols])
        source = np.concatenate([cidx if cols else rows, np.full(b.size, -1)])
        step = np.concatenate([np.full(W.size, steps["W", layer]), np.full(b.size, steps["b", layer])])
        return cls(layer, units, source, step)

    @property
    def E(self) -> int:
        return int(self.units.size)

    @property
    def total(self) -> int:
        return len(MULTIPLES) * self.E + 1


def _enters_above(net: Network, layer: int) -> bool:
    """Whether the copies of layer ``layer`` enter at Z[layer + 1] (an element-wise layer below
    the top: only one unit of A[layer] changes) rather than at Z[layer]."""
    return (layer < net.L and model.activation_or_standin(net, layer).elementwise
            and net.dropout(layer) is None)  # a mask: A[l] = g(Z[l]) ⊙ D[l] / p, enter at Z[l]


def _entry_layer(net: Network, layer: int) -> int:
    return layer + 1 if _enters_above(net, layer) else layer


def _entering(net: Network, params: dict, cache: dict, c: _Copies, first: int, stop: int
              ) -> np.ndarray:
    """Z[entry] of copies first..stop−1 of ``c``, stacked on a leading axis.

    At Z[l]: the base Z[l] with unit uₖ moved by δₖ (a row of m numbers). One layer higher
    (element-wise layers): only unit uₖ of A[l] changes, by Δₖ = g(Z[l]ᵤ + δₖ) − A[l]ᵤ, so
    Z[l+1] = W[l+1] A[l] + b[l+1] moves by exactly W[l+1][:, uₖ] Δₖ (an outer product per copy:
    the affine map is linear in A[l], and a full product per copy would cost n[l] times more)."""
    cols, layer = net.layout.columns, c.layer
    q, e = np.divmod(np.arange(first, stop), max(c.E, 1))
    e = np.where(q < len(MULTIPLES), e, 0)
    A_prev = cache["A", layer - 1]
    inputs = A_prev if cols else A_prev.T  # n[l-1] × m: row j is what W[l]'s column j multiplies
    shift = np.where((c.source[e] >= 0)[:, None], inputs[np.maximum(c.source[e], 0)], 1.0)
    delta = (np.array((*MULTIPLES, 0.0))[q] * c.step[e])[:, None] * shift
    unit, Z = c.units[e], cache["Z", layer]
    if not _enters_above(net, layer):
        Zp = np.broadcast_to(Z, (len(unit), *Z.shape)).copy()
        if cols:
            Zp[np.arange(len(unit)), unit, :] += delta
        else:
            Zp[np.arange(len(unit)), :, unit] += delta
        return Zp
    A, Z_next, W_next = cache["A", layer], cache["Z", layer + 1], params["W", layer + 1]
    if cols:
        change = model.apply_activation(net, layer, Z[unit, :] + delta) - A[unit, :]
        return Z_next[None, :, :] + W_next[:, unit].T[:, :, None] * change[:, None, :]
    change = model.apply_activation(net, layer, Z[:, unit].T + delta) - A[:, unit].T
    return Z_next[None, :, :] + change[:, :, None] * W_next[unit, :][:, None, :]


def _sweep(net: Network, params: dict, X, Y, cache: dict, group) -> list[np.ndarray]:
    """J of the copies of ``group`` ([(copies, first, stop)], by layer), in ONE batched pass up
    the network: each segment joins the batch at its entry layer, and every layer above it runs
    its own forward definitions (:func:`derive.network.model.definitions`) on the whole batch."""
    backend = model.numpy_backend(net)
    entry = [_entry_layer(net, c.layer) for c, _, _ in group]
    batch: np.ndarray | None = None
    order: list[int] = []  # the segments, in the order of the batch's rows
    env: dict = {("X", None): X, **params}
    A = None
    for k in range(min(entry), net.L + 1):
        joining = [i for i, s in enumerate(entry) if s == k]
        parts = [] if batch is None else [batch]
        parts += [_entering(net, params, cache, *group[i]) for i in joining]
        order += joining
        env["Z", k] = batch = np.concatenate(parts) if len(parts) > 1 else parts[0]
        defs = model.definitions(net, k)
        keys = [sym.key for sym, _ in defs]
        for sym, e in defs[keys.index(("Z", k)) + 1:]:
            env[sym.key] = evaluate(e, env, backend)
        A = env["A", k]
        if k < net.L:
            for sym, e in model.definitions(net, k + 1):
                env[sym.key] = evaluate(e, env, backend)
                if sym.key == ("Z", k + 1):
                    batch = env["Z", k + 1]
                    break
        for key in keys:  # only the batch goes up: the layers passed are not kept
            env.pop(key, None)
    J = np.asarray(model.loss_cost(net, {("A", net.L): A}, Y))  # the L2 term: _penalties
    out: list[np.ndarray] = [np.empty(0)] * len(group)
    start = 0
    for i in order:
        n = group[i][2] - group[i][1]
        out[i] = J[start:start + n]
        start += n
    return out


@dataclass(frozen=True)
class _Layout:
    """Per layer l (index 0 unused): its copies, the layer they enter at, the bytes one of them
    holds in a batch (COPY_FLOATS floats per unit and example of the widest layer above its
    entry, 2 more per example) and how many fit in :data:`BATCH_BYTES` (at least one)."""

    total: list[int]
    entry: list[int]
    per_copy: list[int]
    room: list[int]

    @classmethod
    def of(cls, net: Network, m: int) -> _Layout:
        n, L = given_sizes(net), net.L
        widest = list(n)
        for k in range(L - 1, -1, -1):
            widest[k] = max(n[k], widest[k + 1])
        entry = [0] + [_entry_layer(net, l) for l in range(1, L + 1)]
        total = [0] + [len(MULTIPLES) * n[l] * (n[l - 1] + 1) + 1 for l in range(1, L + 1)]
        per_copy = [0] + [FLOAT * m * (COPY_FLOATS * widest[entry[l]] + 2) for l in range(1, L + 1)]
        return cls(total, entry, per_copy, [max(1, BATCH_BYTES // b) if b else 0 for b in per_copy])


def plan(net: Network, m: int) -> Iterator[list[tuple[int, int, int]]]:
    """The batched passes of :func:`differences`: groups of (layer, first, stop) copy ranges,
    consecutive layers sharing a pass while their copies fit in :data:`BATCH_BYTES` (the room of
    a group is set by its first layer: the widest layers lie above its entry)."""
    lay = _Layout.of(net, m)
    current: list[tuple[int, int, int]] = []
    room = 0
    for layer in range(1, net.L + 1):
        first = 0
        while first < lay.total[layer]:
            if not current:
                room = lay.room[layer]
            take = min(lay.total[layer] - first, room)
            current.append((layer, first, first + take))
            first += take
            room -= take
            if room == 0:
                yield current
                current = []
    if current:
        yield current


def plan_summary(net: Network, m: int) -> tuple[int, int, int, int]:
    """(groups, copies, layers of batched passes, bytes of the largest batch) of :func:`plan`,
    counted without making it (a plan can hold millions of groups)."""
    lay, L = _Layout.of(net, m), net.L
    groups = copies = passes = batch = 0
    first, room, count = 0, 0, 0  # the open group's first layer (0: none), room left, copies
    for layer in range(1, L + 1):
        left = lay.total[layer]
        copies += left
        while left:
            if not first:
                cap, up = lay.room[layer], L - lay.entry[layer] + 1
                full = left // cap
                if full:  # whole groups of this layer alone
                    groups, passes = groups + full, passes + full * up
                    batch = max(batch, cap * lay.per_copy[layer])
                    left -= full * cap
                    continue
                first, room, count = layer, cap, 0
                groups, passes = groups + 1, passes + up
            take = min(left, room)
            left, room, count = left - take, room - take, count + take
            batch = max(batch, count * lay.per_copy[first])
            if room == 0:
                first = 0
    return groups, copies, passes, batch


def work_estimate(net: Network, m: int) -> tuple[int, int]:
    """(operations, bytes) of :func:`differences` on ``net`` (sizes given) with m examples, from
    its :func:`plan`, before anything is allocated. Operations count multiply-adds: an
    element-wise value counts :data:`ELEMENT_COST` (plus its activation's own cost, timed once
    per activation), a layer of a batched pass :data:`LAYER_COST`, a copy :data:`COPY_COST`."""
    if not net.all_dense:
        from derive.numbers.whole_pass import whole_pass_work

        return whole_pass_work(net, m)
    madds, values, activations, passes, copies, memory = work_parts(net, m)
    ops = (madds + ELEMENT_COST * values + ACTIVATION_COST * activations + LAYER_COST * passes
           + COPY_COST * copies)
    return int(ops), memory


def work_parts(net: Network, m: int) -> tuple[int, int, float, int, int, int]:
    """(multiply-adds, element-wise values, activation values weighted by their time, layers of
    batched passes, copies, bytes) of :func:`differences`."""
    n, L = given_sizes(net), net.L
    ratio = [0.0] + [_activation_time_ratio(net, k) for k in range(1, L + 1)]
    # suffix sums over the layers a copy entering at s passes: k = s..L (products: k = s+1..L)
    units, timed, products = [0] * (L + 2), [0.0] * (L + 2), [0] * (L + 2)
    for k in range(L, 0, -1):
        units[k] = units[k + 1] + n[k]
        timed[k] = timed[k + 1] + n[k] * ratio[k]
        products[k] = products[k + 1] + n[k] * n[k - 1]
    madds, values, activations = 0, 0, 0.0
    for layer in range(1, L + 1):
        copies = m * (len(MULTIPLES) * n[layer] * (n[layer - 1] + 1) + 1)
        s = _entry_layer(net, layer)
        madds += copies * products[s + 1]
        values += copies * (units[s] + n[s] + n[L])  # every layer passed, the entry, the loss
        activations += copies * (timed[s] + (ratio[layer] if s > layer else 0.0))
    _, copies, passes, batch = plan_summary(net, m)
    params = sum(n[k] * (n[k - 1] + 1) for k in range(1, L + 1))
    # the instance, the forward cache and the analytic values (≈ 8 arrays per unit and example),
    # the gradients, the copies' costs and the differences (≈ 16 floats per parameter), a batch
    memory = FLOAT * (8 * m * sum(n) + 16 * params) + batch
    return madds, values, activations, passes, copies, int(memory)


def _activation_time_ratio(net: Network, layer: int) -> float:
    """How much longer layer ``layer``'s activation takes per value than x·a + b (timed once per
    activation, on 16,384 values; a generic g's stand-ins share one timing)."""
    act = net.activation(layer)
    name = act.name if act is not None else "generic g"
    if name not in _RATIOS:
        z = np.random.default_rng(0).normal(size=(4, *net.layout.batch(8, 512)))
        with np.errstate(all="ignore"):
            reference = _best_time(lambda: z * 0.5 + 0.25)
            own = _best_time(lambda: model.apply_activation(net, layer, z))
        _RATIOS[name] = own / max(reference, 1e-9)
    return _RATIOS[name]


_RATIOS: dict[str, float] = {}  # activation name -> its time ratio (timed once per process)


def _best_time(f) -> float:
    times = []
    for _ in range(3):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def norm(x: np.ndarray) -> float:
    """‖x‖₂ without overflow for finite entries (scaled by the largest); inf or nan otherwise."""
    x = np.asarray(x, dtype=float)
    if not x.size:
        return 0.0
    top = float(np.max(np.abs(x)))
    if top == 0.0 or not math.isfinite(top):
        return top
    return top * float(np.linalg.norm(x / top))


def relative_error(g: np.ndarray, h: np.ndarray) -> float:
    """‖g − h‖ / (‖g‖ + ‖h‖) with overflow-free norms (0 when both vanish)."""
    denom = norm(g) + norm(h)
    return 0.0 if denom == 0 else norm(np.asarray(g, dtype=float) - h) / denom


def entry_index(mask_or_values: np.ndarray) -> tuple[int, ...]:
    flat = int(np.argmax(mask_or_values))
    return tuple(int(i) for i in np.unravel_index(flat, mask_or_values.shape))
