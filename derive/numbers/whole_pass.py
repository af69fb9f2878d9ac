"""Central differences of the whole cost for a network with a layer whose copies cannot enter
as a shifted Z[l] (batch normalisation: γ[l] and β[l] act after the batch statistics, and
moving W[l] moves μ[l] and σ²[l] with Z[l]): every copy of a parameter array rides on a leading
batch axis through the whole forward pass (:func:`derive.network.model.forward`) and the cost,
the other arrays shared. The statistics are recomputed for every copy, over the m examples of
that copy's own batch: the cost differentiated is the training-mode cost through μ and σ².

The measurements are those of :mod:`derive.numbers.differences` (ĝ at ε and ε/2, the noise σ
of J from the fourth difference, pooled per layer, the entries that did not move J).

>>> from derive.network.spec import Network
>>> from derive.network.model import random_instance
>>> net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", batchnorm=[1])
>>> inst = random_instance(net, seed=1, m=5)
>>> d = whole_pass_differences(net, inst.params, inst.X, inst.Y)
>>> sorted(d.gradients)[:3], d.gradients["gamma", 1].shape
([('W', 1), ('W', 2), ('b', 2)], (4, 1))
"""

from __future__ import annotations

import numpy as np

from derive.limits import FLOAT
from derive.network import model
from derive.network.spec import Network
from derive.numbers.difference_parts import (
    ELEMENT_COST,
    LAYER_COST,
    MULTIPLES,
    Differences,
    _require_finite_costs,
    split,
)

#: the copies in flight at once (as :data:`derive.numbers.differences.BATCH_BYTES`)
BATCH_BYTES = 16 * 2**20
#: floats a copy holds per unit and example of the network, over all its layers' quantities
FLOATS_PER_VALUE = 12


def keys(net: Network) -> list[tuple[str, int]]:
    """Every trained array, layer by layer, in the layer type's own order (W, γ, β; W, b)."""
    return [(base, l) for l in range(1, net.L + 1) for base in net.block(l).parameters]


def copy_bytes(net: Network, m: int) -> int:
    """The bytes one copy holds during a whole forward pass."""
    sizes = [int(s or 0) for s in net.layers]
    return FLOAT * m * FLOATS_PER_VALUE * sum(sizes)


def whole_pass_differences(net: Network, params: dict, X: np.ndarray, Y: np.ndarray,
                           eps: float = 1e-4):
    """:class:`derive.numbers.differences.Differences` of every trained array, each copy a whole
    forward pass (see the module docstring)."""
    m = model.example_count(net, X)
    cache = model.forward(net, params, X)
    J0 = float(model.cost(net, cache, Y, params))
    scale = 1.0 / m if net.cost_is_mean else 1.0
    jscale = scale * float(np.sum(np.abs(cache["A", net.L])) + np.sum(np.abs(Y)))
    steps = {k: eps * max(1.0, float(np.max(np.abs(params[k]))) if np.size(params[k]) else 1.0)
             for k in keys(net)}
    room = max(1, BATCH_BYTES // max(copy_bytes(net, m), 1))
    out: dict = {"grads": {}, "halves": {}, "noise": {}, "still": {}}
    jmax = abs(J0)
    for layer in range(1, net.L + 1):
        layer_keys = [(b, l) for b, l in keys(net) if l == layer]
        moved = np.concatenate([_moved_costs(net, params, X, Y, k, steps[k], room)
                                for k in layer_keys], axis=1)
        _require_finite_costs(moved, J0, layer_keys, [params[k] for k in layer_keys], steps)
        jmax = max(jmax, float(np.max(np.abs(moved))) if moved.size else 0.0)
        split(moved, J0, layer_keys, params, steps, out)
    assert len(MULTIPLES) == 4  # the rows of ``moved``: +ε, −ε, +ε/2, −ε/2
    return Differences(out["grads"], out["halves"], steps, out["noise"], out["still"], jmax, jscale)


def _moved_costs(net: Network, params: dict, X, Y, key, step: float, room: int) -> np.ndarray:
    """J with each entry of ``params[key]`` moved by each multiple of ``step``: an array
    len(MULTIPLES) × entries (row q: every entry moved by MULTIPLES[q]·step)."""
    P = np.asarray(params[key], dtype=float)
    n = P.size
    deltas = np.repeat(np.asarray(MULTIPLES) * step, n)  # copy q·n + e moves entry e
    entries = np.tile(np.arange(n), len(MULTIPLES))
    out = np.empty(deltas.size)
    for first in range(0, deltas.size, room):
        stop = min(first + room, deltas.size)
        batch = np.broadcast_to(P.ravel(), (stop - first, n)).copy()
        batch[np.arange(stop - first), entries[first:stop]] += deltas[first:stop]
        moved = {**params, key: batch.reshape(stop - first, *P.shape)}
        cache = model.forward(net, moved, X)
        out[first:stop] = np.broadcast_to(model.cost(net, cache, Y, moved), (stop - first,))
    return out.reshape(len(MULTIPLES), n)


def whole_pass_work(net: Network, m: int) -> tuple[int, int]:
    """(operations, bytes) of :func:`whole_pass_differences`, before anything is allocated:
    every copy runs every layer (its products and about a dozen element-wise values per unit
    and example), and each batched pass costs a fixed amount per layer (the evaluator)."""
    sizes = [int(s or 0) for s in net.layers]
    params = sum(int(r) * int(c) for r, c in (net.block(l).shape(net, b, l) for b, l in keys(net)))
    copies = len(MULTIPLES) * params
    madds = copies * m * sum(sizes[k] * sizes[k - 1] for k in range(1, net.L + 1))
    values = copies * m * FLOATS_PER_VALUE * sum(sizes[1:])
    room = max(1, BATCH_BYTES // max(copy_bytes(net, m), 1))
    passes = net.L * (copies // room + len(keys(net)))
    memory = FLOAT * (8 * m * sum(sizes) + 16 * params) + min(copies, room) * copy_bytes(net, m)
    return int(madds + ELEMENT_COST * values + LAYER_COST * passes), int(memory)
