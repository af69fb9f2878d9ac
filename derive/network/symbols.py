"""The network's symbols: every quantity its layers own, with its shape under the layout (how a
name prints, W[2] ↔ ``W^{[2]}`` ↔ ``W2``, is :mod:`derive.core.names`).

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
from derive.core.names import (
    EPS,
    EPS_NAMES,
    KEEP_PROB,
    KEEP_PROB_NAMES,
    LAMBDA,
    LAMBDA_NAMES,
    text_name,
)
from derive.layers import constants, layer_type, vocabulary
from derive.network.spec import Network, m

GLOBAL = ("X", "Y")


def layered() -> tuple[str, ...]:
    """Every name some registered layer type owns, then the gradient of each but the constants
    (W, b, D, Z, A, dW, db, dZ, dA for dense: the mask D has none): with :data:`GLOBAL`, the
    parsers' vocabulary."""
    return vocabulary() + tuple(f"d{base}" for base in vocabulary() if base not in constants())


def shape_of(net: Network, base: str, layer: int | None) -> tuple[sp.Expr, sp.Expr]:
    """The shape of a named quantity (or its gradient) under the network's layout, as the layer
    that owns it declares it."""
    if base in ("X", "Y"):
        n = net.dim(0) if base == "X" else net.dim(net.L)
        return net.layout.batch(n, m)
    if layer is None:
        raise KeyError(f"{base} needs a layer")
    stem = base[1:] if base.startswith("d") and len(base) > 1 else base
    if layer == 0 and stem == "A":
        return net.layout.batch(net.dim(0), m)
    return net.block(layer).shape(net, stem, layer)


class SymbolTable:
    """The symbols of one network, looked up by ``table[base, layer]`` or ``table["X"]``; the
    cost's scalars (a symbolic L2 coefficient λ) by ``table.scalars`` or ``table.scalar(name)``.

    >>> SymbolTable(Network(depth=1, l2=True)).scalar("lambd"), SymbolTable(Network(depth=1)).scalars
    (λ, {})
    """

    def __init__(self, net: Network):
        self.net = net
        self._cache: dict[tuple[str, int | None], Sym] = {}

    @property
    def scalars(self) -> dict[str, sp.Symbol]:
        """The network's scalar symbols by key: ``{"lambda": LAMBDA}`` when its L2 coefficient is
        symbolic (what ``lambd``, ``lambda``, ``reg``, ``λ`` and ``\\lambda`` name),
        ``"keep_prob": KEEP_PROB`` when its dropout keep probability is; else empty."""
        out: dict[str, sp.Symbol] = {"lambda": LAMBDA} if self.net.l2_symbolic else {}
        if self.net.keep_prob_symbolic:
            out["keep_prob"] = KEEP_PROB
        if "batchnorm" in self.net.kinds:  # batch norm's ε in √(σ² + ε)
            out["epsilon"] = EPS
        return out

    def scalar(self, name: str) -> sp.Symbol:
        """The scalar a user's name stands for (any of :data:`LAMBDA_NAMES`); KeyError if the
        network has none by that name."""
        if name.strip() in LAMBDA_NAMES and "lambda" in self.scalars:
            return self.scalars["lambda"]
        if name.strip() in KEEP_PROB_NAMES and "keep_prob" in self.scalars:
            return self.scalars["keep_prob"]
        if name.strip() in EPS_NAMES and "epsilon" in self.scalars:
            return self.scalars["epsilon"]
        raise KeyError(f"{name!r} is not a scalar of this network"
                       + ("" if self.scalars else " (its cost has no symbolic λ: give --l2)"))

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
        stem = base[1:] if base.startswith("d") and base[1:] in vocabulary() \
            and base[1:] not in constants() else base
        if stem not in vocabulary():
            raise KeyError(f"unknown quantity {base!r}")
        lo = 0 if stem == "A" else 1
        if layer is None or not lo <= layer <= self.net.L:
            raise KeyError(f"{base} needs a layer from {lo} to {self.net.L}, not {layer}")
        if layer >= 1 and stem not in self.net.block(layer).quantities():
            if stem in set(layer_type("batchnorm").quantities()) - set(layer_type("dense").quantities()):
                raise KeyError(f"{text_name(base, layer)} is a quantity of batch normalisation, and "
                               f"layer {layer} has none (give --batchnorm {layer})")
            raise KeyError(f"layer {layer} ({self.net.kinds[layer - 1]}) has no {stem}")
        if layer >= 1 and not self.net.block(layer).has(self.net, stem, layer):
            what = "a dropout mask" if stem in constants() else "a quantity of dropout"
            raise KeyError(f"{base}[{layer}] is {what}, and layer {layer} has no dropout "
                           "(give --keep-prob for its hidden layers)")
