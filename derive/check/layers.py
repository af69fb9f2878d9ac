"""Which layers a formula with a generic index l is checked at.

``dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g[l]′(Z[l])`` is checked at every layer l of the network where it can
be read. In a deep network most layers pose the same problem: the formula sees the layers l+k for
the offsets k it writes, so two layers whose neighbourhoods look alike (the same layer kinds and
activations, the same sizes or pattern of equal sizes, the same distance to the input, to the
output and to every layer the formula names by number) get the same verdict. Up to
:data:`ALL_LAYERS` layers every layer is checked; beyond, one layer per kind of neighbourhood,
and at most :data:`GENERIC_LAYERS` of them.

>>> from derive.network.spec import Network
>>> from derive.parse import parse_equation
>>> from derive.check.checker import square
>>> net = Network(depth=200)
>>> parse = lambda n, l: parse_equation("dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g[l]′(Z[l])", n, layer=l)
>>> layers_to_check(parse, net, square)
(1, 2, 3, 198, 199, 200)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.names import m as m_symbol
from derive.errors import DeriveError, ParseError, ShapeMismatch
from derive.limits import Limit, require
from derive.network.spec import Network
from derive.parse import LayerOutOfRange
from derive.parse.resolve import Unindexed, reading

if TYPE_CHECKING:
    from derive.check.verdict import Verdict

ALL_LAYERS = 16  # networks up to this deep are checked at every layer
PROBE_DEPTH = 64  # a generic network this deep reads any layer number a student writes
MAX_OFFSET = 16  # L - 16 .. L in the probe are read as written with L
GENERIC_DEPTH = 4  # a generic index l is checked at l = 1..4 of a 4-layer generic network
GENERIC_LAYERS = Limit(
    "check.generic_layers", 64, "layers", "a concrete layer index (dZ[3] rather than dZ[l])",
    "checking a generic layer l at one layer per kind of neighbourhood")


def layers_to_check(parse: Callable, net, square: Callable) -> tuple[int, ...]:
    """The layers l to check a generic-l formula at: all of them in a network of up to
    :data:`ALL_LAYERS` layers, else the first layer of each kind of neighbourhood."""
    L = net.L
    if L <= ALL_LAYERS:
        return tuple(range(1, L + 1))
    relative, fixed = _offsets(parse, square(net), L)
    reach = max((abs(k) for k in relative), default=0) + 1
    chosen: dict[tuple, int] = {}
    for l in range(1, L + 1):
        chosen.setdefault(_neighbourhood(net, l, reach, fixed), l)
    require(GENERIC_LAYERS, len(chosen), "this formula")
    return tuple(sorted(chosen.values()))


def _offsets(parse: Callable, net, L: int) -> tuple[set[int], set[int]]:
    """The offsets k of the layers l+k the formula writes, and the layers it names by number:
    read at two neighbouring layers, an index that moves with l is relative."""
    readings = []
    for l in range(1, L + 1):
        try:
            readings.append((l, parse(net, l)))
        except DeriveError:
            continue
        if len(readings) == 2 and readings[1][0] == readings[0][0] + 1:
            break
        readings = readings[-1:]
    if len(readings) < 2:
        return set(range(-2, 3)), set()  # read at one layer only: a wide neighbourhood
    (a, ea), (_, eb) = readings
    relative, fixed = {0}, set()
    for x, y in zip(layer_indices(ea), layer_indices(eb), strict=False):
        if y == x + 1:
            relative.add(x - a)
        else:
            fixed.add(x)
    return relative, fixed


def layer_indices(eq) -> list[int]:
    """The layer numbers an equation names: its target's (0 for none), then its right side's."""
    out = [eq.target.layer or 0]
    for node in eq.rhs.walk():
        layer = getattr(node, "layer", None)
        if isinstance(layer, int):
            out.append(layer)
    return out


def _neighbourhood(net, l: int, reach: int, fixed: set[int]) -> tuple:
    """What the formula can see around layer l: for each layer l+k within ``reach`` its kind,
    activation, whether it is the input or the output, its size (as a pattern of equal sizes),
    and where the layers named by number sit relative to l."""
    L = net.L
    window = range(l - reach, l + reach + 1)
    sizes = [net.layers[j] if 0 <= j <= L else None for j in window]
    out: list[object] = []
    for i, j in enumerate(window):
        if not 0 <= j <= L:
            out.append("outside")
            continue
        act = net.activation(j) if j >= 1 else None
        kind = net.kinds[j - 1] if j >= 1 else "input"
        size = sizes[i]
        pattern = None if size is None else (size == 1, sizes.index(size))
        out.append((kind, getattr(act, "name", None), j == L, pattern))
    out.append(tuple(sorted(f - l for f in fixed if abs(f - l) <= reach)))
    return tuple(out)




# -- names without a layer index: the current layer ----------------------------------------------
@dataclass(frozen=True)
class Current:
    """The layers a formula written with names without a layer index (``dW = 1/m dZ A_prev.T``)
    is checked at, why (when that is one layer for a reason), and notes on layers left out."""

    layers: tuple[int, ...]
    why: str = ""
    notes: tuple[str, ...] = ()
    sampled: bool = False  # one layer per kind of neighbourhood (a deep network), none left out


def current_layers(parse: Callable, net, free, square: Callable) -> Current:
    """Every layer where the formula can be read (as for a generic l), narrowed to the layers
    where its shapes fit at free sizes (``dW = 1/m dZ X.T`` fits at layer 1 only); if they fit
    nowhere, X pins layer 1 and Y the output layer L; else every readable layer (``dA_prev`` at
    layer 1 is dA[0] = dX, which the check derives too)."""
    readable: list[int] = []
    fitting: list[int] = []
    names: set[str] = set()
    for l in layers_to_check(parse, net, square):
        try:
            eq, fits = parse(free, l), True
        except ShapeMismatch:
            try:
                eq, fits = parse(square(free), l), False
            except DeriveError:
                continue
        except DeriveError:
            continue  # W[l+1] at the output layer, ...
        names |= {s.base for s in eq.rhs.symbols()}
        readable.append(l)
        if fits and _same_shape(eq.rhs.shape, eq.target.shape):
            fitting.append(l)
    notes: tuple[str, ...] = ()
    if fitting:
        if len(fitting) == len(readable):
            return Current(tuple(fitting), "", notes, net.L > ALL_LAYERS)
        why = "the only layer where its shapes fit" if len(fitting) == 1 else \
            "the layers where its shapes fit"
        return Current(tuple(fitting), why, notes)
    pins = ([1] if "X" in names else []) + ([net.L] if "Y" in names else [])
    pinned = [l for l in dict.fromkeys(pins) if l in readable]
    if pinned:
        why = "X is A[0], the input of layer 1" if pinned == [1] else \
            "Y belongs to the output layer" if len(pinned) == 1 else ""
        return Current(tuple(pinned), why, notes)
    return Current(tuple(readable), "", notes, net.L > ALL_LAYERS)


def _same_shape(a, b) -> bool:
    return all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(a, b, strict=True))



@dataclass(frozen=True)
class Plan:
    """Where a formula with names without a layer index is checked, and how its verdicts at
    those layers become one: the names as read, the layers and why."""

    plans: list[tuple[object, int]]
    unindexed: tuple[Unindexed, ...]
    current: Current
    merge: Callable  # the checker's combination of per-layer verdicts (results, name) -> Verdict

    def combine(self, results: list[tuple[int | None, Verdict]]) -> Verdict:
        """One verdict; its notes say what each name was read as and at which layers."""
        cur = self.current
        if len(results) == 1:
            l, v = results[0]
            if v.verdict in ("parse_error", "internal_error"):
                return v
            why = f" ({cur.why})" if cur.why else ""
            read = f"read {reading(self.unindexed, l)}" if self.unindexed else \
                f"generic layer l read as l = {l}"
            return replace(v, notes=(*v.notes, read + why, *cur.notes))
        v = self.merge(results, _current_target(results), cur.sampled)
        if v.verdict in ("parse_error", "internal_error"):
            return v
        read = (f"read {reading(self.unindexed)} (names without a layer index: the current "
                "layer l, as in the course's linear_backward)")
        return replace(v, notes=(*v.notes[:-1], read, *v.notes[-1:], *cur.notes))


def _current_target(results: list[tuple[int | None, Verdict]]) -> str | None:
    """``dA[l-1]`` for dA_prev: the left side's layer relative to l, from the first verdict."""
    for l, v in results:
        base, _, rest = ("dA[0]" if v.target == "dX" else v.target or "").partition("[")
        if rest[:-1].isdigit() and l is not None:
            offset = int(rest[:-1]) - l
            return f"{base}[l{offset:+d}]" if offset else f"{base}[l]"
    return None


def current_plan(parse: Callable, network, make: Callable, layer: int | None, square: Callable,
                 merge: Callable) -> tuple[Plan | None, str | None]:
    """The plan for a formula with names without a layer index (or a generic l and ``layer``),
    else (None, a note if ``layer`` was given but the formula names every layer)."""
    if layer is not None and network is not None and not 1 <= layer <= network.L:
        raise ParseError(f"layer {layer} is not in this network: it has layers 1 to {network.L}")
    probe_net = network if network is not None else make(max(PROBE_DEPTH, layer or 0))
    try:
        eq = _readable(parse, probe_net, layer, square, network is None)
    except DeriveError:
        if layer is not None:  # what stops the formula at the layer given: the verdict
            raise
        return None, None  # the checker's usual path reports it
    if eq is None:
        return None, None
    unindexed = tuple(getattr(eq, "unindexed", ()))
    if not unindexed and not (layer is not None and getattr(eq, "generic_layer", False)):
        unused = None if layer is None else \
            f"layer {layer} was not used: every name in the formula has its layer index"
        return None, unused
    net = network if network is not None else \
        make(_generic_depth(parse, make, square, eq, layer))
    if layer is not None:
        if not 1 <= layer <= net.L:
            raise ParseError(f"layer {layer} is not in this network: it has layers 1 to {net.L}")
        cur = Current((layer,), f"layer {layer} as given")
    else:
        cur = current_layers(parse, net, net.replace(layers=(None,) * (net.L + 1)), square)
        if not cur.layers:
            raise ParseError("the formula cannot be read at any layer of this network")
    return Plan([(net, l) for l in cur.layers], unindexed, cur, merge), None


def _readable(parse: Callable, net, layer: int | None, square: Callable, square_only: bool):
    """The equation read at ``layer`` (at equal sizes if its shapes clash), or None if its
    shapes clash even then; other errors are raised."""
    for candidate in ((square(net),) if square_only else (net, square(net))):
        try:
            return parse(candidate, layer)
        except ShapeMismatch:
            continue
    return None


def _generic_depth(parse: Callable, make: Callable, square: Callable, eq,
                   layer: int | None) -> int:
    """The generic network's depth for a formula with names without a layer index: 4, or when
    it names Y (the output layer's) 1 (dz = a - y; logistic regression) or the given layer;
    deep enough for every layer number it writes."""
    names = {s.base for s in eq.rhs.symbols()}
    if layer is not None:
        depth = layer if "Y" in names else max(GENERIC_DEPTH, layer)
    else:
        depth = 1 if "Y" in names else GENERIC_DEPTH
    try:
        readings = [_readable(parse, make(PROBE_DEPTH), l, square, True) for l in (2, 3)]
    except DeriveError:
        readings = []
    if readings and all(r is not None for r in readings):
        fixed = [a for a, b in zip(*(layer_indices(r) for r in readings), strict=False)
                 if a == b and 0 < a < PROBE_DEPTH - MAX_OFFSET]
        depth = max([depth, *fixed])
    for d in range(depth, depth + 4):  # W[l+1] at the given layer needs one more
        try:
            parse(square(make(d)), layer)
        except LayerOutOfRange:
            continue
        except DeriveError:
            pass
        return d
    return depth


# -- the network a formula is checked on --------------------------------------------------------
def generic_network(generic: dict) -> Callable[[int], Network]:
    """The generic network of a depth, with the options (loss, convention, scale; ``output``,
    an output activation assumed) given."""
    def make(depth: int) -> Network:
        options = {k: v for k, v in generic.items() if v is not None and k != "output"}
        if generic.get("output"):  # the output activation assumed (derive.check.conditions)
            return Network(activations=[None] * (depth - 1) + [generic["output"]], **options)
        return Network(depth=depth, **options)

    return make


def one_example(parse: Callable, plans: list, square: Callable) -> tuple[list, str | None]:
    """A formula read as one example (lower-case names, no m) is checked with m = 1: the cost
    is that example's loss, which is what scale = sum gives (no 1/m in dW and db)."""
    net, layer = plans[0]
    for candidate in (net, square(net)):
        try:
            eq = parse(candidate, layer)
        except DeriveError:
            continue
        if not getattr(eq, "one_example", False) or not net.cost_is_mean:
            return plans, None
        return ([(n.replace(scale="sum"), l) for n, l in plans],
                "checked with scale = sum: for one example the mean cost is that example's "
                "loss")
    return plans, None


def one_example_sum(eq, net):
    """An equation read as one example whose gradient has one column (db, n×1) and whose right
    side has one per example (dz, n×m): at m = 1 the two shapes are the same and db = dz, the
    sum over the one example. Checked at the checker's m examples (scale sum), that reading is
    the sum over the examples of the right side (Nielsen's ``nabla_b[-1] = delta``); a note says
    so. Any other equation is returned as it is."""
    if not getattr(eq, "one_example", False):
        return eq
    axis = net.layout.example_sum_axis
    want, got = tuple(eq.target.shape), tuple(eq.rhs.shape)
    if want[axis] != 1 or got[axis] != m_symbol or want[1 - axis] != got[1 - axis]:
        return eq
    rhs = E.Sum(eq.rhs, axis, src=eq.rhs.src)
    note = (f"one example (m = 1): {eq.target.text} is {eq.rhs.src or eq.rhs} itself (its sum over "
            "the one example), checked as that sum over the examples")
    return replace(eq, rhs=rhs, notes=(*eq.notes, note))


__all__ = ["ALL_LAYERS", "GENERIC_DEPTH", "GENERIC_LAYERS", "MAX_OFFSET", "PROBE_DEPTH",
           "Current", "Plan", "current_layers", "current_plan", "generic_network", "layers_to_check",
           "one_example", "one_example_sum"]
