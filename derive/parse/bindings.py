"""Explicit bindings: identifiers a formula uses, mapped to the network's quantities.

An autograder's variables (``dL_dh2``, ``h_relu``) are no name the parsers know; a binding says
what each one is, either as a quantity in the course's notation (``"dA[2]"``, ``"A[l-1]"``,
``"W[1].T"``, ``"X"``, ``"m"``, ``"dZ"`` for the current layer) or as an expression already built
over the same network's symbols (a helper variable of earlier code lines). A bound identifier
shadows every other reading of it, on either side of ``=``, in text and in LaTeX (where the
tokenizer reads it as one word).

>>> b = read_bindings({"dL_dh2": "dA[2]", "w": "W[1].T", "N": "m"})
>>> b["dL_dh2"].name.base, b["dL_dh2"].name.layer, b["w"].transposed, b["N"].name.kind
('dA', ('num', 2), True, 'm')
>>> list(read_bindings({"Y_oh[i]": "Y", "self.weights[ k ]": "W[3]"}))  # entries: one name each
['Y_oh[i]', 'self.weights[k]']
>>> read_bindings({"h1": "Q[1]"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
derive.errors.ParseError: binding h1='Q[1]': Q is not a quantity; a binding names one such as ...
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import sympy as sp

from derive.core import expr as E
from derive.core.matrix import Ones, Scalar, Scale
from derive.errors import ParseError
from derive.network.spec import Network, dim_symbol
from derive.network.symbols import SymbolTable
from derive.parse.dialects import COMPOUND
from derive.parse.names import (
    L2_NAMES,
    LayerIndex,
    LayerOutOfRange,
    Name,
    parse_layer_index,
    resolve_ident,
)

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALUE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[([^\]]*)\])?\s*(\.T|ᵀ|\^T)?\s*")
RESERVED = frozenset({"np", "numpy", "True", "False", "None", "float", "int", "len", "_jx", "_nd"})
HINT = "a binding names one such as dA[2], A[l-1], W[1].T, X, Y or m"


@dataclass(frozen=True)
class Binding:
    """What one bound identifier means: a name as the resolver reads it (``name``, with the layer
    index the binding wrote) and whether it is transposed, an expression (``expr``), or the
    network's L2 strength (``l2``: the value was ``lambda``, ``λ``, ``reg``, ...)."""

    ident: str
    written: str  # the binding's value as given ("dA[2]") or the expression's printing
    name: Name | None = None
    transposed: bool = False
    expr: E.Expr | None = None
    l2: bool = False  # the network's L2 strength λ (``reg_coeff=lambda``): neither name nor expr

    @property
    def meaning(self) -> str:
        return self.written


Bindings = Mapping[str, Binding]


@dataclass(frozen=True)
class Formula:
    """A binding's value given as a formula (``"g[2]'(Z[2])"``), read by derive's parser over
    the network: the text as given and its expression."""

    text: str
    expr: E.Expr


def is_quantity(value: str) -> bool:
    """Whether a binding's value is written as one quantity (``dA[2]``, ``W[1].T``, ``m``), not
    as a formula to read."""
    return _VALUE.fullmatch(value) is not None


def read_bindings(names: Mapping[str, object] | None) -> dict[str, Binding]:
    """Each identifier's binding, checked: a ParseError names the binding that is wrong."""
    if names is None:
        return {}
    if not isinstance(names, Mapping):
        raise ParseError(f"names must map identifiers to quantities, not "
                         f"{type(names).__name__}", None, None)
    out: dict[str, Binding] = {}
    for ident, value in names.items():
        if isinstance(ident, str) and COMPOUND.fullmatch(ident.strip()):  # Y_oh[i], self.w[k]
            ident = re.sub(r"\s", "", ident)
        elif not isinstance(ident, str) or not IDENT.fullmatch(ident):
            raise ParseError(f"binding {ident!r}: not a valid name (letters, digits and _, not "
                             "starting with a digit) or entry (Y_oh[i], self.weights[k])",
                             None, None)
        if ident in RESERVED or keyword.iskeyword(ident):
            raise ParseError(f"binding {ident}: {ident} is reserved and cannot be bound",
                             None, None)
        out[ident] = binding(ident, value)
    return out


def binding(ident: str, value: object) -> Binding:
    """One identifier's binding (a dialect's entries, such as ``nabla_w[-l]``, are not
    identifiers: only :func:`read_bindings` checks the key)."""
    if isinstance(value, E.Expr):
        return Binding(ident, value.to_text(), expr=value)
    if isinstance(value, Formula):
        return Binding(ident, value.text, expr=value.expr)
    if not isinstance(value, str):
        raise ParseError(f"binding {ident}: the value must be a quantity such as 'dA[2]' or an "
                         f"expression, not {type(value).__name__}", None, None)
    if value.strip() in L2_NAMES:  # reg_coeff=lambda: the L2 strength, as lambd and reg read
        return Binding(ident, value.strip(), l2=True)
    mt = _VALUE.fullmatch(value)
    if not mt:
        raise ParseError(f"binding {ident}={value!r}: {HINT}", None, None)
    stem, index_text, t = mt.groups()
    name = resolve_ident(stem)
    if name is None or name.kind not in ("sym", "m"):
        raise ParseError(f"binding {ident}={value!r}: {stem} is not a quantity; {HINT}",
                         None, None)
    index: LayerIndex | None = name.layer
    if index_text is not None:
        if index is not None or name.kind != "sym":
            raise ParseError(f"binding {ident}={value!r}: {stem} already has its layer", None,
                             None)
        index = parse_layer_index(index_text)
        if index is None:
            raise ParseError(f"binding {ident}={value!r}: a layer index is a number, l, L, l-1 "
                             "or L-1", None, None)
    if t and name.kind != "sym":
        raise ParseError(f"binding {ident}={value!r}: m is a number, it has no transpose",
                         None, None)
    return Binding(ident, value.strip(), replace(name, layer=index, lower=False, bound=True), bool(t))


def rebind(e: E.Expr, net: Network, table: SymbolTable, text: str, pos: int) -> E.Expr:
    """``e`` over ``table``'s symbols (the network being read may be a variant of the one the
    expression was built on: every size equal, another depth); sizes n[l] in factors and
    shapes become this network's."""
    sizes = {dim_symbol(l): net.dim(l) for l in range(net.L + 1)}

    def size(x: sp.Expr) -> sp.Expr:
        return sp.sympify(x, strict=True).xreplace(sizes)

    def walk(x: E.Expr) -> E.Expr:
        if isinstance(x, E.Sym):
            try:
                s = table[x.base, x.layer] if x.layer is not None else table[x.base]
            except KeyError:
                raise LayerOutOfRange(f"{x.text} (in a bound name) is not in this network",
                                      pos, text, x.layer, None, None) from None
            return replace(s, src=x.src)
        if isinstance(x, Ones):
            return replace(x, shape=(size(x.shape[0]), size(x.shape[1])))
        if isinstance(x, Scale):
            return E.map_children(x, walk, factor=size(x.factor))
        if isinstance(x, Scalar):
            return replace(x, value=size(x.value))
        return E.map_children(x, walk)

    return walk(e)


__all__ = ["Binding", "Bindings", "Formula", "binding", "is_quantity", "read_bindings", "rebind"]
