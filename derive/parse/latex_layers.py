"""Layer numbers as textbooks count them: from the input layer as layer 1 (issue 13).

The course counts the input as layer 0: X = A[0], and W[l] feeds Z[l]. Ng's Machine Learning
course, UFLDL and Welch's tutorials count the input as layer 1: their a^{(l)}, z^{(l)},
δ^{(l)} are derive's layer l − 1, while their W^{(l)}, b^{(l)} (Θ^{(l)}) map layer l to l + 1
and so are derive's W[l], b[l]. Nielsen counts the same way but names the weights by the layer
they feed, so every index is one less in derive's count. WildML numbers only its δ from the
input (δ₃ is dZ[2]); some answers number δ from 1 at the output side (δ₁ = dZ[2] of a
two-layer network), and some count every layer from 0 (W_0 is the first weights).

A formula's own numbering is not written anywhere, so it is inferred: the formula is read as
derive counts (``face``) unless that reading does not fit at any layer (a layer the network
does not have, or shapes that clash) and another numbering does; then that one is used, with a
note. Layers written in brackets (``^{[l]}``, the course's own) are never renumbered, and
``L`` (the output layer) means the output layer in every count.

>>> renumbered("input", "Z", ("num", 3)), renumbered("input", "W", ("num", 3))
(('num', 2), ('num', 3))
>>> renumbered("nielsen", "W", ("l", 1)), renumbered("face", "Z", ("num", 3))
(('l', 0), ('num', 3))
"""

from __future__ import annotations

import re
from collections.abc import Callable

from derive.core.expr import as_sympy
from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import m as M
from derive.parse.build import Builder
from derive.parse.latex_state import state
from derive.parse.names import GenericLayerNeeded, LayerIndex, LayerOutOfRange

UNITS = {"A", "Z", "dA", "dZ", "g"}  # a layer's units (g: its activation)
# numbering -> (quantities shifted, by how much, the ways of writing a layer it applies to:
# "sup" z^{(2)}, z^l; "sub" z_2, z2); tried in this order after "face"
SCHEMES: dict[str, tuple[frozenset[str], int, frozenset[str]]] = {
    "face": (frozenset(), 0, frozenset()),
    "input": (frozenset(UNITS), -1, frozenset({"sup"})),
    "nielsen": (frozenset({*UNITS, "W", "b", "dW", "db"}), -1, frozenset({"sup"})),
    "delta": (frozenset({"dZ"}), -1, frozenset({"sup", "sub"})),
    "delta_up": (frozenset({"dZ"}), +1, frozenset({"sup", "sub"})),
    "zero": (frozenset({*UNITS, "W", "b", "dW", "db"}), +1, frozenset({"sup", "sub"})),
}
NOTES = {
    "input": "layers counted from the input as layer 1 (Ng, UFLDL): a^{(l)}, z^{(l)}, δ^{(l)} "
             "read as derive's layer l − 1, W^{(l)} and b^{(l)} as W[l], b[l]",
    "nielsen": "layers counted from the input as layer 1 (Nielsen): every layer index read as "
               "derive's one less (w^l is W[l-1], a^l is A[l-1])",
    "delta": "δ counted from the input as layer 1 (δ_3 is dZ[2]); the other names as derive "
             "counts them",
    "delta_up": "δ counted from the output side (δ_1 is dZ[2]); the other names as derive "
                "counts them",
    "zero": "layers counted from 0 (W_0 is the first weight matrix): every layer index read as "
            "derive's one more",
}
_BRACKETED = re.compile(r"\^\s*\{?\s*(?:\\left\s*)?\[")  # the course's ^{[l]}: its own count
_CACHE: dict[tuple[str, int, int | None], tuple[object, str]] = {}
TRIAL_LAYERS = 6  # a generic formula is tried at layers 1..6 at most


def renumbered(numbering: str, base: str, index: LayerIndex | None,
               origin: str = "sup") -> LayerIndex | None:
    """``index`` (on a quantity ``base``, or ``g``; written as ``origin`` says) in derive's
    count under ``numbering``."""
    shifted, by, written = SCHEMES[numbering]
    if index is None or base not in shifted or index[0] not in ("num", "l") \
            or origin not in written:
        return index
    return (index[0], index[1] + by)


def numbering(b: Builder, eq: int, parse: Callable) -> str:
    """The numbering of the equation ``b`` reads, whose '=' is at ``eq`` (module docstring)."""
    text = b.text
    if _BRACKETED.search(text) or text[eq - 1:eq] in ("+", "-"):
        return "face"
    key = (text, eq, b.current)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] is b.net:
        return cached[1]
    face, generic = _fit(b, eq, "face", b.generic, parse)
    chosen = "face"
    if face < 2:
        layers = list(range(1, min(b.net.L, TRIAL_LAYERS) + 1)) if generic else [b.generic]
        ranks = {s: max(_fit(b, eq, s, l, parse)[0] for l in layers) for s in SCHEMES}
        best = max(ranks.values())
        chosen = next(s for s in SCHEMES if ranks[s] == best)
    if len(_CACHE) > 512:
        _CACHE.clear()
    _CACHE[key] = (b.net, chosen)
    return chosen


def _fit(b: Builder, eq: int, scheme: str, generic: int | None,
         parse: Callable) -> tuple[int, bool]:
    """How well the equation reads under ``scheme`` at the generic layer ``generic``: 2 its
    sides have the same shape, 1 the shapes clash, 0 it does not read; and whether a layer l
    was needed. ``parse`` is the grammar's (derive.parse.latex.parse, handed in: it imports
    this module)."""

    t = Builder(b.net, b.text, mode=b.mode, current=b.current, generic=generic,
                bindings=b.bindings)
    t.rhs_bindings, t.dialect = b.rhs_bindings, b.dialect
    own = state(t)
    own.trial, own.numbering = True, scheme
    try:
        left = parse(t, 0, eq)
        if t.current is None and not t.unindexed and getattr(left, "layer", None) is not None:
            t.current, t.from_target = getattr(left, "layer", None), True
        if t.rhs_bindings is not None:
            t.bindings = t.rhs_bindings
        right = parse(t, eq + 1, len(b.text))
    except GenericLayerNeeded:
        return 0, True
    except (LayerOutOfRange, RecursionError):
        return 0, t.generic_used
    except ShapeMismatch:
        return 1, t.generic_used
    except ParseError:
        return 0, t.generic_used
    shapes = [getattr(v, "shape", None) for v in (left, right)]
    if shapes[0] is None or shapes[1] is None:
        return 1, t.generic_used
    same = all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(*shapes, strict=True))
    if not same:  # db = δ for one example: the right side per example, summed by the checker
        axis = b.net.layout.example_axis % 2
        per_example = [*shapes[0]]
        per_example[axis] = M
        same = all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(per_example, shapes[1],
                                                                     strict=True))
    return (2 if same else 1), t.generic_used
