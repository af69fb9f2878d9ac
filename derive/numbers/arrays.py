"""The arrays of a worked example: the named values fitted to the network's shapes, sizes
inferred, Y's labels converted, dropout masks checked (0/1) or drawn from a seed, and the size of
the work bounded (:data:`WORK`).

>>> from derive.network.spec import Network
>>> net, given = given_arrays(Network(layers=[None, None], activations=["relu"], loss="mse"),
...                           {"X": [[1, 2]], "Y": [[0, 1]], "W1": [[3]], "b1": [[0]]})
>>> net.layers, given[("X", None)].shape
((1, 1), (1, 2))
"""

from __future__ import annotations

import numpy as np

from derive.core.expr import as_sympy
from derive.errors import SpecError
from derive.limits import Limit, require
from derive.network.spec import Network
from derive.network.spec import m as m_symbol
from derive.network.symbols import shape_of
from derive.numbers import given as G
from derive.numbers.inputs import Matrix

__all__ = ["WORK", "draw_masks", "given_arrays", "given_values", "work_entries"]

#: float64 entries of every quantity of a worked example together (X, Y, W, b; Z, A, g′, dA,
#: dZ, dW, db): each is printed, so a worked example is for a page, not for a data set; 2,000,000
#: entries take about 5 s to compute and print
WORK = Limit("numbers.worked_entries", 2_000_000, "entries",
             "fewer examples or units in the values", "the worked example")


def given_arrays(net: Network, values: dict) -> tuple[Network, dict]:
    """Named values (``{"X": [[20], [3], [4]], "W1": ...}`` or keys (base, layer), or
    :class:`Matrix`) checked against the network's shapes; sizes inferred when not given. The
    inputs X, Y, W[l], b[l] only (:func:`given_values` has the intermediates too)."""
    net, inputs, _, _ = given_values(net, values)
    return net, inputs


def given_values(net: Network, values: dict, mask_seed: int | None = None
                 ) -> tuple[Network, dict, dict, list[str]]:
    """(network with sizes, inputs, intermediates, notes): every array fitted to its shape;
    Y may be booleans or integer class labels (converted, with a note) and is optional when the
    loss is not needed (a given dA[L] or dZ[L]). A dropout layer's mask D[l] is given, or drawn
    from ``mask_seed`` (:func:`draw_masks`)."""
    arrays, inter = G.split(net, values)
    for l in range(1, net.L + 1):
        for base in net.block(l).parameters:  # W, b; a batch-normalised layer's W, γ, β
            if (base, l) not in arrays:
                raise SpecError(f"no value for {base}{l} (the network has {net.L} layers)")
        keep = net.dropout(l)
        if keep is not None and keep.free_symbols:
            raise SpecError(f"layer {l}: a worked example needs keep_prob's value, not a symbol")
        if keep is not None and ("D", l) not in arrays and mask_seed is None:
            raise SpecError(f"no value for D{l}: layer {l} has dropout, and a worked example "
                            "needs its 0/1 mask (the course's cache holds D1, D2, ...), or a "
                            "seed to draw it from (--mask-seed, mask_seed)")
    grads_given = all((f"d{b}", l) in inter for l in range(1, net.L + 1)
                      for b in net.block(l).parameters)
    cost_only = ("X", None) not in arrays and ("A", net.L) in inter and ("Y", None) in arrays
    if ("X", None) not in arrays and not grads_given and not cost_only:
        raise SpecError("no value for X (A_prev: the input of the first layer)")
    if ("Y", None) not in arrays and not grads_given and not (
            {("dA", net.L), ("dZ", net.L)} & set(inter)):
        raise SpecError("no value for Y (or give the upstream gradient dA or dZ of the last layer)")
    if any(s is None for s in net.layers):
        net = net.with_sizes(_infer_sizes(net, arrays))
    m = (_count(arrays[("X", None)], net.dim(0)) if ("X", None) in arrays
         else _count(inter[("A", net.L)], net.dim(net.L)) if cost_only else 1)
    require(WORK, work_entries(net, m), f"the worked example of sizes "
                                        f"{','.join(str(s) for s in net.layers)} with m = {m}")
    notes: list[str] = []
    out = {}
    X = arrays[("X", None)] if ("X", None) in arrays else None
    if isinstance(X, np.ndarray) and X.ndim > 2 and not net.layout.columns:
        notes.append(f"X of shape {X.shape} read as {X.shape[0]}×{int(np.prod(X.shape[1:]))} "
                     "(CS231n's reshape of (N, d1, ..., dk) inputs)")
        arrays[("X", None)] = X.reshape(X.shape[0], -1)
    for key, raw in arrays.items():
        if key == ("Y", None):
            hot, note = G.as_labels(raw, _shape(net, key, m), net.layout.columns)
            if note is not None:
                notes.append(note)
                raw = hot
        out[key] = _fit(raw, _shape(net, key, m), key)
    fitted = {key: _fit(raw, _shape(net, key, m), key) for key, raw in inter.items()}
    for key, mask in out.items():
        if key[0] == "D" and not np.isin(mask, (0.0, 1.0)).all():
            i, j = (int(v) + 1 for v in np.argwhere(~np.isin(mask, (0.0, 1.0)))[0])
            raise SpecError(f"D{key[1]} entry ({i}, {j}) is {_g(float(mask[i - 1, j - 1]))}: a "
                            "dropout mask holds 0 and 1 (or false and true) only")
    if mask_seed is not None:
        drawn = draw_masks(net, m, mask_seed, skip=set(out))
        out.update(drawn)
        if drawn:
            names = ", ".join(f"D[{l}]" for _, l in drawn)
            notes.append(f"{names} drawn from the seed {mask_seed} as the course draws them: "
                         f"np.random.seed({mask_seed}), then D[l] = np.random.rand(...) < "
                         "keep_prob layer by layer (1 = kept)")
    return net, out, fitted, notes


def draw_masks(net: Network, m: int, seed: int, skip=frozenset()) -> dict:
    """Each dropout layer's 0/1 mask D[l] (in the layout's shape), drawn as the Deep Learning
    Specialization's ``forward_propagation_with_dropout`` draws them: numpy's legacy generator
    seeded with ``seed``, ``rand(shape) < keep_prob`` for l = 1, 2, ... in order; a mask in
    ``skip`` (given) is not drawn, and draws nothing.

    >>> net = Network(layers=[3, 2, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce",
    ...               keep_prob=0.5)
    >>> draw_masks(net, 5, 1)[("D", 1)].astype(int).tolist()
    [[1, 0, 1, 1, 1], [1, 1, 1, 1, 0]]
    """
    rng = np.random.RandomState(seed)
    out = {}
    for l in range(1, net.L):
        keep = net.dropout(l)
        if keep is None or ("D", l) in skip:
            continue
        out["D", l] = (rng.rand(*_shape(net, ("D", l), m)) < float(keep)).astype(float)
    return out


def work_entries(net: Network, m: int) -> int:
    """The entries of every quantity a worked example computes and prints (per layer W, b, and
    Z, A, g′, dA, dZ, dW, db; X, Y), from the sizes alone: what :data:`WORK` bounds."""
    total = 2 * int(net.dim(0)) * m + 2 * int(net.dim(net.L)) * m
    for l in range(1, net.L + 1):
        n, prev = int(net.dim(l)), int(net.dim(l - 1))
        total += 2 * (n * prev + n) + 5 * n * m
    return total


def _shape(net: Network, key, m: int) -> tuple[int, int]:
    rows, cols = (int(as_sympy(d).subs(m_symbol, m)) for d in shape_of(net, *key))
    return rows, cols


def _count(X, n0) -> int:
    size = X.size if isinstance(X, Matrix) else np.asarray(X, dtype=float).size
    n0 = int(n0)
    if size % n0:
        raise SpecError(f"X has {size} numbers, not a multiple of n[0] = {n0}")
    return size // n0


def _infer_sizes(net: Network, arrays: dict) -> list[int]:
    sizes = []
    for l in range(1, net.L + 1):
        b = arrays[("b", l) if ("b", l) in arrays else ("gamma", l)]  # γ[l] is shaped like b[l]
        sizes.append(b.size if isinstance(b, Matrix) else np.asarray(b).size)
    W1 = arrays[("W", 1)]
    n_w = W1.size if isinstance(W1, Matrix) else np.asarray(W1).size
    return [n_w // sizes[0], *sizes]


def _fit(raw, shape, key) -> np.ndarray:
    name = key[0] if key[1] is None else f"{key[0]}{key[1]}"
    raw = raw.tolist() if isinstance(raw, np.ndarray) and raw.dtype == bool else raw
    if isinstance(raw, Matrix):
        fitted = raw.fitted(shape)
        if fitted is None:
            raise SpecError(f"{name} is {raw.shape[0]}×{raw.shape[1]} ({raw.size} numbers) but the "
                            f"network needs {shape[0]}×{shape[1]}")
        arr = fitted.values()
    else:
        try:
            arr = np.asarray(raw, dtype=float)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"{name} is not an array of numbers ({type(exc).__name__}: "
                            f"{str(exc)[:80]})") from None
        if arr.ndim < 2 and arr.size == shape[0] * shape[1] and 1 in shape:
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise SpecError(f"{name} has shape {arr.shape} but the network needs {shape[0]}×{shape[1]}")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        i, j = (int(v) + 1 for v in bad[0])
        raise SpecError(f"{name} entry ({i}, {j}) is {_g(float(arr[i - 1, j - 1]))}: every value "
                        "must be a finite number"
                        + (f" ({len(bad)} entries are not)" if len(bad) > 1 else ""))
    return arr


def _g(x: float) -> str:
    return f"{x:.4g}"
