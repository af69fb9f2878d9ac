"""One place for names: W[2] ↔ text ``W[2]`` ↔ LaTeX ``W^{[2]}`` ↔ code ``W2``, and every shape.

Quantities: X (= A[0]), Y, and per layer W, b, Z, A and their gradients dW, db, dZ, dA.

>>> from derive.network.spec import Network
>>> t = SymbolTable(Network(layers=[3, 3, 1]))
>>> s = t["dZ", 1]
>>> s.text, s.latex, s.code, s.shape
('dZ[1]', 'dZ^{[1]}', 'dZ1', (3, m))
>>> t["W", 2].shape, t["X"].shape
((1, 3), (3, m))
"""

from __future__ import annotations

import sympy as sp

from derive.core.expr import Sym
from derive.network.spec import Network, m

LAYERED = ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")
GLOBAL = ("X", "Y")


def text_name(base: str, layer: int | None) -> str:
    if layer is None:
        return base
    if base == "A" and layer == 0:
        return "X"
    if base == "dA" and layer == 0:
        return "dX"
    return f"{base}[{layer}]"


def latex_name(base: str, layer: int | None) -> str:
    if layer is None:
        return base
    if base == "A" and layer == 0:
        return "X"
    if base == "dA" and layer == 0:
        return "dX"
    return f"{base}^{{[{layer}]}}"


def code_name(base: str, layer: int | None) -> str:
    if layer is None:
        return base
    if base == "A" and layer == 0:
        return "X"
    if base == "dA" and layer == 0:
        return "dX"
    return f"{base}{layer}"


def shape_of(net: Network, base: str, layer: int | None) -> tuple[sp.Expr, sp.Expr]:
    """The shape of a named quantity under the network's convention."""
    rows = net.convention == "rows"
    if base in ("X", "Y"):
        n = net.dim(0) if base == "X" else net.dim(net.L)
        return (m, n) if rows else (n, m)
    assert layer is not None
    stem = base[1:] if base.startswith("d") else base
    n, p = net.dim(layer), (net.dim(layer - 1) if layer >= 1 else None)
    if stem == "W":
        return (p, n) if rows else (n, p)
    if stem == "b":
        return (sp.Integer(1), n) if rows else (n, sp.Integer(1))
    if stem in ("Z", "A"):
        return (m, n) if rows else (n, m)
    raise KeyError(base)


class SymbolTable:
    """The symbols of one network, looked up by ``table[base, layer]`` or ``table["X"]``."""

    def __init__(self, net: Network):
        self.net = net
        self._cache: dict[tuple[str, int | None], Sym] = {}

    def __getitem__(self, key) -> Sym:
        base, layer = (key, None) if isinstance(key, str) else key
        if base == "A" and layer == 0:
            base, layer = "X", None
        if (base, layer) not in self._cache:
            self._validate(base, layer)
            self._cache[base, layer] = Sym(base, layer, shape_of(self.net, base, layer))
        return self._cache[base, layer]

    def _validate(self, base: str, layer: int | None) -> None:
        if base in GLOBAL:
            if layer is not None:
                raise KeyError(f"{base} has no layer")
            return
        if base not in LAYERED:
            raise KeyError(f"unknown quantity {base!r}")
        lo = 0 if base in ("A", "dA") else 1
        if layer is None or not lo <= layer <= self.net.L:
            raise KeyError(f"{base} needs a layer from {lo} to {self.net.L}, not {layer}")
