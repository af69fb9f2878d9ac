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

from derive.errors import DeriveError
from derive.limits import Limit, require

ALL_LAYERS = 16  # networks up to this deep are checked at every layer
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


__all__ = ["ALL_LAYERS", "GENERIC_LAYERS", "layers_to_check"]
