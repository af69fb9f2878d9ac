"""The network's cost pieces as expressions (J, its data term, the L2 penalty), built from the
engine's own parts: what derive.check.costs checks a cost formula against, and what the
checker's numbers evaluate (derive.check.numeric).

>>> from derive.network.spec import Network
>>> from derive.network.symbols import SymbolTable
>>> net = Network(layers=[3, 2, 1], activations=["relu", "sigmoid"], loss="bce", l2=True)
>>> print(expressions(net, SymbolTable(net))["penalty"])
(λ/(2m)) (‖W[1]‖² + ‖W[2]‖²)
"""

from __future__ import annotations

from derive.core import expr as E
from derive.errors import ParseError
from derive.layers import loss as loss_layer
from derive.network.penalty import gradient_coefficient
from derive.network.spec import Network
from derive.parse.cost_names import KINDS, TITLES


def expressions(net: Network, table) -> dict[str, E.Expr]:
    """The network's cost pieces over ``table``'s symbols: ``data`` (needs a catalogue loss),
    ``penalty`` (a network with L2) and ``J``."""
    out: dict[str, E.Expr] = {}
    if net.loss is not None:
        data: E.Expr = E.Sum(loss_layer.terms(net, lambda base, l=None: table[base, l]), None)
        out["data"] = data if net.cost_factor == 1 else E.Scale(net.cost_factor, data)
    if net.l2 is not None:
        p = gradient_coefficient(net.l2_form, net.l2, net.cost_is_mean) / 2
        layers = [l for l in range(1, net.L + 1) if net.regularised(l)]
        sums = [E.Sum(E.Hadamard(table["W", l], table["W", l]), None) for l in layers]
        total: E.Expr = sums[0]
        for s in sums[1:]:
            total = E.Add(total, s)
        out["penalty"] = E.Scale(p, total)
    if "data" in out:
        out["J"] = out["data"] if "penalty" not in out else E.Add(out["data"], out["penalty"])
    return out


def expression(net: Network, table, kind: str) -> E.Expr:
    """One cost piece, or a ParseError that says what the network lacks for it."""
    found = expressions(net, table)
    if kind in found:
        return found[kind]
    if kind == "penalty":
        raise ParseError("the left side names the L2 penalty, but the network has no L2 term: "
                         "pass --l2 (and --l2-form)")
    raise ParseError(f"the left side names {TITLES[kind]}, but the loss is generic: give the "
                     "loss (--loss bce, ce, mse, ...) to check a cost")


__all__ = ["KINDS", "TITLES", "expression", "expressions"]
