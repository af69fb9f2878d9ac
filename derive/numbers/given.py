"""Given values of a worked example: the inputs (X, Y, W[l], b[l]) and the intermediates a course's
test case hands a function (Z[l], A[l], dA[l], dZ[l]: a cache and an upstream gradient).

The courses' backward tests give each function a cache of independent random arrays: Z is not
W·A_prev + b, AL is not σ(Z_L). A given intermediate replaces the recomputed value from that point
on, so the worked example computes what the course's function computes from that cache; where a
given value disagrees with the forward pass, a note says so (it is not an error).

Names: the course's own (``A_prev``, ``AL``, ``dAL``, ``dA_prev``, ``dA0``), CS231n's (``x``,
``w``, ``b``, ``dout``, ``dx``, ``cache``) and the indexed ones (``Z1``, ``dZ[2]``). Unindexed
names (``W``, ``Z``, ``dA``) mean the one layer of a one-layer network (``derive numbers --layer``).

>>> resolve_given("A_prev", 1), resolve_given("dA_prev", 1), resolve_given("dout", 1)
(('X', None), ('dA', 0), ('dA', 1))
>>> resolve_given("AL", 3), resolve_given("dA0", 3), resolve_given("Z", 1)
(('A', 3), ('dA', 0), ('Z', 1))
"""

from __future__ import annotations

import numpy as np

from derive import layers
from derive.catalogue import rules
from derive.core import expr as E
from derive.errors import SpecError
from derive.network.symbols import SymbolTable
from derive.numbers.inputs import Matrix, resolve_name

INPUTS = ("X", "Y", *layers.given())  # parameters and fixed inputs (D[l]: a dropout mask, as the course's cache has it)
INTERMEDIATES = ("Z", "G", "A", "dA", "dG", "dZ", "dW", "db")  # dW, db: the course's update test gives them
#: CS231n's and the course's unindexed names in a one-layer network (the layer's own quantities)
_ONE_LAYER = {
    "x": ("X", None), "aprev": ("X", None), "w": ("W", 1), "b": ("b", 1),
    "z": ("Z", 1), "cache": ("Z", 1), "activationcache": ("Z", 1), "a": ("A", 1),
    "out": ("A", 1), "dout": ("dA", 1), "da": ("dA", 1), "dz": ("dZ", 1), "dw": ("dW", 1),
    "db": ("db", 1), "dx": ("dA", 0), "daprev": ("dA", 0), "y": ("Y", None),
}


def resolve_given(name: str, depth: int) -> tuple[str, int | None] | None:
    """A value's name -> (kind, layer), or None: indexed names as :func:`resolve_name` reads
    them (L = ``depth``); ``dA_prev``/``dx`` as dA[0] and ``A_prev`` as X in a one-layer network;
    ``dX``, ``dA0`` as dA[0] everywhere."""
    s = name.strip().replace("_", "").replace(" ", "").casefold()
    if s in ("dx", "da0", "dxt"):
        return ("dA", 0)
    if depth == 1 and s in _ONE_LAYER:
        return _ONE_LAYER[s]
    key = resolve_name(name, depth)
    if key == ("A", 0):
        return ("X", None)
    return key


def split(net, values: dict) -> tuple[dict, dict]:
    """``values`` (names or (kind, layer) keys) -> (inputs X, Y, W[l], b[l]; intermediates Z[l],
    A[l], dA[l], dZ[l]), each keyed (kind, layer); a name that is neither is an error."""
    inputs: dict = {}
    inter: dict = {}
    for name, raw in values.items():
        key = name if isinstance(name, tuple) else resolve_given(str(name), net.L)
        if key is not None and key[0] in INPUTS:
            inputs[key] = raw
        elif key is not None and key[0] in INTERMEDIATES and _in_range(net, key):
            inter[key] = raw
        else:
            raise SpecError(f"{name!r} is not a given value (X, Y, W1, b1, ... or a cache value "
                            f"Z1, A1, dA1, dZ1, ...; the network has {net.L} layer"
                            f"{'s' if net.L != 1 else ''})")
    return inputs, inter


def _in_range(net, key) -> bool:
    kind, layer = key
    if layer is None:
        return False
    low = 0 if kind == "dA" else 1  # dA[0] is dX
    return low <= layer <= net.L


def as_labels(raw, want: tuple[int, int], columns: bool) -> tuple[np.ndarray | None, str | None]:
    """Integer class labels (CS231n's ``y`` of shape (N,)) as one-hot targets of shape ``want``,
    or booleans as 0/1: (array, note), or (None, None) when ``raw`` is neither."""
    if isinstance(raw, Matrix):
        return None, None
    arr = np.asarray(raw)
    if arr.dtype == bool:
        return arr.astype(float), "Y: booleans read as 1 (True) and 0 (False)"
    units, m = want if columns else (want[1], want[0])
    if arr.dtype.kind in "iu" and arr.ndim == 1 and arr.size == m and units > 1:
        if arr.min() < 0 or arr.max() >= units:
            raise SpecError(f"Y: class labels {int(arr.min())}..{int(arr.max())} do not fit the "
                            f"{units} output units (labels 0..{units - 1})")
        hot = np.zeros((m, units))
        hot[np.arange(m), arr] = 1.0
        return (hot.T if columns else hot), (f"Y: integer class labels (shape ({m},)) read as "
                                             f"one-hot targets, {want[0]}×{want[1]}")
    return None, None


def disagreement(name: str, given: np.ndarray, computed: np.ndarray | None, formula: str) -> str | None:
    """A note when a given value is not what the forward (or backward) formula gives from the
    values before it; None when they agree (to 1e-6 relative, or 1e-8 of the largest entry: a
    cache printed to 8 decimals agrees) or cannot be compared."""
    if computed is None or computed.shape != given.shape:
        return None
    with np.errstate(all="ignore"):
        diff = np.abs(given - computed)
        scale = np.maximum(np.abs(computed), np.abs(given))
        floor = 1e-8 * float(np.max(np.abs(given), initial=0.0)) + 1e-300
        if bool(np.all(diff <= 1e-6 * scale + floor)):
            return None
        worst = np.unravel_index(int(np.nanargmax(diff)), diff.shape)
    i, j = (int(v) + 1 for v in worst)
    return (f"{name} was given and differs from {formula} (entry ({i}, {j}): given "
            f"{given[worst]:.6g}, the formula gives {computed[worst]:.6g}); the given value is "
            "used from here on")


def collect(values: dict | None, *, X=None, Y=None, params: dict | None = None, cache=None,
            named: dict | None = None) -> dict:
    """One dict of named values from the API's arguments: ``values``, ``X``, ``Y``, ``params``
    (``{"W1": ..., "b1": ...}``), ``cache`` and other names. A cache is the course's dict
    (``{"Z1": ..., "A1": ...}``), its one layer ``((A_prev, W, b), Z)`` or ``(A_prev, W, b)``
    (``linear_activation_backward``'s and ``linear_backward``'s), or a list of those, one per
    layer (``L_model_backward``'s ``caches``)."""
    out: dict = dict(values or {})
    for name, v in (("X", X), ("Y", Y)):
        if v is not None:
            out[name] = v
    out.update(params or {})
    if cache is not None:
        out.update(cache_values(cache))
    out.update(named or {})
    if not out:
        raise SpecError("no values: give X, Y and params (W1, b1, ...), or a values dict")
    return out


def cache_values(cache) -> dict:
    """The named values of a course cache (see :func:`collect`)."""
    if isinstance(cache, dict):
        return dict(cache)
    if not isinstance(cache, list | tuple) or not cache:
        raise SpecError(f"a cache is a dict or the course's tuples, not {type(cache).__name__}")
    if _is_layer(cache):
        cache = [cache]
    out: dict = {}
    for l, layer in enumerate(cache, start=1):
        if not _is_layer(layer):
            raise SpecError(f"cache of layer {l}: expected ((A_prev, W, b), Z) or (A_prev, W, b)")
        linear, Z = (layer[0], layer[1]) if len(layer) == 2 else (layer, None)
        A_prev, W, b = linear
        out[("X", None) if l == 1 else ("A", l - 1)] = A_prev
        out[("W", l)], out[("b", l)] = W, b
        if Z is not None:
            out[("Z", l)] = Z
    return out


def _is_layer(x) -> bool:
    """One layer's cache: (A_prev, W, b) of arrays, or ((A_prev, W, b), Z)."""
    if not isinstance(x, tuple | list):
        return False
    if len(x) == 3 and all(isinstance(v, np.ndarray | int | float) for v in x):
        return True
    return len(x) == 2 and isinstance(x[0], tuple | list) and len(x[0]) == 3 and \
        all(isinstance(v, np.ndarray | int | float) for v in x[0])


def in_terms_of_A(net, expr_: E.Expr, layer: int | None) -> E.Expr:
    """``expr`` with g[layer]′(Z[layer]) written in A[layer] (1 − A[l]², A[l] ⊙ (1 − A[l]))
    where the catalogue's derivative is a function of a alone; unchanged otherwise (ReLU)."""
    if isinstance(expr_, E.Deriv) and expr_.layer == layer and isinstance(expr_.activation, rules.Activation):
        act = expr_.activation
        if act.derivative.free_symbols <= {rules.a}:
            return E.Pointwise(act.derivative, (rules.a,), (SymbolTable(net)["A", layer],))
        return expr_
    return E.map_children(expr_, lambda c: in_terms_of_A(net, c, layer))


def local_first(expr_: E.Expr, alts: tuple[E.Expr, ...], layer: int | None) -> tuple[E.Expr, tuple]:
    """The engine's local form dZ[l] = dA[l] ⊙ g′(Z[l]) first, if it has one."""
    forms = [expr_, *alts]
    local = [f for f in forms if ("dA", layer) in {x.key for x in f.symbols()}]
    if not local:
        return expr_, alts
    return local[0], tuple(f for f in forms if f is not local[0])
