"""The quantities a Jacobian relates, their concrete sizes, and the forward map on symbol matrices.

A :class:`Quantity` is X, W[l], b[l], Z[l], A[l] (A[0] is X) or the cost J, read from a short
name by a strict pattern (:func:`parse_quantity`). :func:`resolve_sizes` makes every size concrete
(the entries are listed one by one), and :func:`symbolic_model` builds the forward values on
SymPy symbol matrices, the dense layer's affine map taken from :func:`derive.layers.dense.affine`.

>>> from derive.network.spec import Network
>>> net, m = resolve_sizes(Network(depth=1))
>>> quantity_shape(net, m, parse_quantity("W^{[1]}", net)), sizes_of(net), m
((2, 2), (2, 2), 2)
>>> symbolic_model(net, m).values["Z", 1][0, 0]
W1_0_0*X_0_0 + W1_0_1*X_1_0 + b1_0_0
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sympy as sp

from derive.core.expr import as_sympy
from derive.core.names import latex_name, text_name
from derive.errors import ParseError, SpecError
from derive.layers.dense import affine
from derive.limits import Limit, require
from derive.network.model import symbol_matrix, sympy_activation
from derive.network.spec import Network
from derive.network.spec import m as m_symbol
from derive.network.symbols import shape_of

#: any one size: the entries are listed one by one, and a quantity of 64 × 64 already has 4096
SIZE = Limit("jacobian.size", 64, "units", "--sizes (or --layers)", "one size, entry by entry,")
MAX_SIZE = SIZE.value
DEFAULT_SIZE = 2

Key = tuple[str, int | None]  # (base, layer) of a quantity: ("W", 1), ("X", None), ("J", None)

# -- names -------------------------------------------------------------------------------------
_LAYER = r"(?:(?P<a>\d{1,4})|\[(?P<b>\d{1,4})\]|\^\[(?P<c>\d{1,4})\]|\^\{\[(?P<d>\d{1,4})\]\}|" \
         r"\^\{(?P<e>\d{1,4})\}|_(?P<f>\d{1,4})|_\{(?P<g>\d{1,4})\})"
_NAME = re.compile(rf"(?P<base>[WbBZA]){_LAYER}")
_PLAIN: dict[str, Key] = {"X": ("X", None), "J": ("J", None), "cost": ("J", None)}


@dataclass(frozen=True)
class Quantity:
    """A quantity of the network: X, W[l], b[l], Z[l], A[l] (A[0] is X) or the cost J."""

    base: str
    layer: int | None
    written: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        return "J" if self.base == "J" else text_name(self.base, self.layer)

    @property
    def latex(self) -> str:
        return "J" if self.base == "J" else latex_name(self.base, self.layer)

    @property
    def key(self) -> Key:
        return (self.base, self.layer)

    @property
    def code(self) -> str:
        """The stem of its entry symbols: ``W1`` for W1_0_1, ``X`` for X_0_0."""
        return code(self.base, self.layer)


def code(base: str, layer: int | None) -> str:
    """The stem of a quantity's entry symbols: ``code("W", 1)`` is ``W1``."""
    return base if layer is None else f"{base}{layer}"


def parse_quantity(text: str, net: Network) -> Quantity:
    """Read a name such as ``Z1``, ``Z[1]``, ``W^{[1]}``, ``b_2``, ``A0`` / ``X`` or ``J``.

    A small strict pattern, never ``eval``: anything else is a :class:`ParseError` with a position.

    >>> net = Network(depth=2)
    >>> parse_quantity("W^{[2]}", net).text, parse_quantity("A0", net).text
    ('W[2]', 'X')
    """
    raw = text
    s = text.strip()
    if len(s) > 20:
        raise ParseError("a quantity name is short, like Z1 or W[2]", 20, raw)
    if s in _PLAIN:
        return Quantity(*_PLAIN[s], written=raw)
    hit = _NAME.fullmatch(s)
    if hit is None:
        pos = 0 if not s or s[0] not in "WbBZA" else 1
        offset = len(raw) - len(raw.lstrip())
        raise ParseError(
            f"cannot read {s!r} as a quantity: write X, J, or W, b, Z, A with a layer "
            "(Z1, Z[1], Z^{[1]}, Z_1)", pos + offset, raw)
    base = "b" if hit["base"] == "B" else hit["base"]
    layer = int(next(v for k, v in hit.groupdict().items() if k != "base" and v is not None))
    if base == "A" and layer == 0:
        return Quantity("X", None, written=raw)
    lo = 0 if base == "A" else 1
    if not lo <= layer <= net.L:
        raise SpecError(f"{s}: this network has layers 1 to {net.L}, so {base} takes a layer "
                        f"from {lo} to {net.L}, not {layer}")
    return Quantity(base, layer, written=raw)


# -- sizes -------------------------------------------------------------------------------------
def resolve_sizes(net: Network, sizes: Mapping[str, int] | None = None) -> tuple[Network, int]:
    """The network with every size concrete, and m: ``sizes`` like ``{"n0": 3, "m": 2}`` fills the
    symbolic sizes (default 2 each); a size the spec already fixes must agree.

    >>> resolve_sizes(Network(layers=[3, None]), {"n1": 2})[0].layers
    (3, 2)
    >>> resolve_sizes(Network(depth=1))[1]
    2
    """
    given_sizes = dict(sizes or {})
    known = {f"n{l}" for l in range(net.L + 1)} | {"m"}
    for key, value in given_sizes.items():
        if key not in known:
            raise SpecError(f"unknown size {key!r}: this network has "
                            f"{', '.join(sorted(known - {'m'}, key=lambda k: int(k[1:])))} and m")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SpecError(f"size {key} = {value!r}: give a whole number from 1 to {MAX_SIZE}")
        require(SIZE, value, f"size {key}")
    filled = []
    for l, given in enumerate(net.layers or ()):
        want = given_sizes.get(f"n{l}")
        if given is not None and want is not None and want != given:
            raise SpecError(f"size n{l} = {want} disagrees with the spec's layer size {given}")
        size = given if given is not None else (want if want is not None else DEFAULT_SIZE)
        if given is not None:
            require(SIZE, given, f"the layer size n{l}")
        filled.append(size)
    return net.replace(layers=tuple(filled)), given_sizes.get("m", DEFAULT_SIZE)


def sizes_of(net: Network) -> tuple[int, ...]:
    """n[0..L] of a network whose every size is given (as :func:`resolve_sizes` returns it)."""
    sizes = tuple(s for s in net.layers or () if s is not None)
    if len(sizes) != net.L + 1:
        raise ValueError(f"the network has symbolic sizes: {net.describe()}")
    return sizes


def size_map(net: Network, m: int) -> dict[str, int]:
    """Every size of a concrete network as ``sizes=`` takes them: {"n0": 2, …, "m": 2}."""
    return {**{f"n{l}": n for l, n in enumerate(sizes_of(net))}, "m": m}


def quantity_shape(net: Network, m: int, q: Quantity) -> tuple[int, ...]:
    """The concrete shape: () for J, else (rows, cols) under the network's layout."""
    if q.base == "J":
        return ()
    return tuple(int(as_sympy(d).subs(m_symbol, m)) for d in shape_of(net, q.base, q.layer))


# -- the symbolic forward map -------------------------------------------------------------------
@dataclass(frozen=True)
class SymbolicModel:
    """Forward values as SymPy matrices (the cost J a scalar); ``leaves`` are the independent
    symbol matrices (with the cut quantity, if any, made independent). Entry symbols are named
    ``W1_0_1`` (0-based)."""

    net: Network
    m: int
    values: Mapping[Key, sp.Matrix | sp.Expr]
    leaves: Mapping[Key, sp.Matrix]

    def matrix(self, key: Key) -> sp.Matrix:
        """The forward value of a matrix quantity (every one but J)."""
        value = self.values[key]
        if not isinstance(value, sp.MatrixBase):
            raise TypeError(f"{key} is a scalar, not a matrix")
        return value


def symbolic_model(net: Network, m: int, cut: Quantity | None = None, upto: int | None = None,
                   with_cost: bool = False) -> SymbolicModel:
    """Z[l] = W[l] A[l-1] + b[l] 1ᵀ (rows: A W + 1 b), A[l] = g[l](Z[l]) and J = scale · Σ ℓ on
    symbol matrices; ``cut`` (Z[l] or A[l]) is a fresh symbol matrix instead of its forward value.
    A generic g[l] is the undefined function g{l}; a generic loss is the undefined ℓ(a, y)."""
    values: dict[Key, sp.Matrix | sp.Expr] = {}
    leaves: dict[Key, sp.Matrix] = {}
    upto = net.L if upto is None or with_cost else upto

    def leaf(base: str, layer: int | None) -> sp.Matrix:
        shape = quantity_shape(net, m, Quantity(base, layer))
        mat = symbol_matrix(code(base, layer), *shape)
        leaves[base, layer] = mat
        values[base, layer] = mat
        return mat

    A = leaf("X", None)
    for l in range(1, upto + 1):
        W, b = leaf("W", l), leaf("b", l)
        Z = leaf("Z", l) if cut is not None and cut.key == ("Z", l) else affine(net.layout, W, A, b)
        values["Z", l] = Z
        if cut is not None and cut.key == ("A", l):
            A = leaf("A", l)
        else:
            A = sympy_activation(net, l, Z, generic=False)
        values["A", l] = A
    if with_cost:
        Y = leaf("Y", None)
        loss = net.loss_entry
        ell = sp.Function("ℓ")
        if loss is None:
            terms = [ell(A[i, j], Y[i, j]) for i, j in cells((A.rows, A.cols))]
        else:
            terms = list(loss.sympy_terms(A, Y, net.layout.columns))
        scale = sp.Rational(1, m) if net.cost_is_mean else sp.Integer(1)
        values["J", None] = scale * sp.Add(*terms)
    return SymbolicModel(net, m, values, leaves)


# -- index helpers -------------------------------------------------------------------------------
T = TypeVar("T")


def cells(shape: Sequence[int]) -> Iterator[tuple[int, ...]]:
    """Every index of an array of ``shape``, in row-major order."""
    return itertools.product(*map(range, shape))


def prod(shape: Sequence[int]) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def nested(flat: Sequence[T], shape: Sequence[int]) -> tuple[Any, ...]:
    """A row-major flat list as nested tuples of ``shape`` (one axis or more)."""
    if len(shape) == 1:
        return tuple(flat)
    step = len(flat) // shape[0]
    return tuple(nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0]))


def fmt_shape(shape: Sequence[object]) -> str:
    return "×".join(str(d) for d in shape)
