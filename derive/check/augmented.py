"""``G += e`` as one formula: the gradient's value so far, for a line alone, is its data term.

Code adds the L2 term to a gradient in place: ``dW += reg * W``, ``grads['W2'] += reg * W2``
(CS231n), ``dW -= ...``. Read as one formula, the G on the right is G's value before the line,
which for a single line is the engine's formula for G on the same network without its L2 term,
the data term: ``G += e`` is checked as G = G_data + e (``-=``: G_data − e), with G_data inlined
as an expression and a note that says so. Whether e is the right L2 term then decides the verdict.

>>> from derive.network.spec import Network
>>> from derive.parse import parse_equation
>>> net = Network(layers=[3, 4, 2], l2=True, l2_form="half")
>>> eq = with_data_term(parse_equation("dW2 += reg * W2", net), net)
>>> print(eq.rhs)
(1/m) dZ[2] A[1]ᵀ + λ W[2]
>>> eq.notes[-1]
'dW2 += … read as dW[2] = (its data term, (1/m) dZ[2] A[1]ᵀ) + reg * W2'
"""

from __future__ import annotations

import functools
from dataclasses import replace

import sympy as sp

from derive.check import cost_terms
from derive.core import expr as E
from derive.engine.backward import derive as run_derive
from derive.errors import ParseError
from derive.network.spec import Network
from derive.network.spec import m as m_symbol
from derive.network.symbols import SymbolTable
from derive.parse import Equation
from derive.parse.bindings import rebind
from derive.parse.names import gradients


@functools.lru_cache(maxsize=64)
def _derivation(net: Network):
    return run_derive(net, prove=False, input_gradient=True)


def data_term(net: Network, target: E.Sym) -> E.Expr:
    """The engine's formula for ``target`` on ``net`` without its L2 term, over ``net``'s own
    symbols (``net`` may be the checker's variant with every size equal)."""
    if target.base == "J":  # loss += 0.5 * reg * np.sum(W * W): the loss so far, the data term
        return cost_terms.expression(net, SymbolTable(net), "data")
    plain = net.replace(l2=None, l2_form=None, l2_layers=None)
    formula = _derivation(plain).get(target.base, target.layer)
    if formula is None:
        raise ParseError(f"{target.text} += ... adds to the value {target.text} has so far, its "
                         f"data term, for which derive has no formula in this network: write "
                         f"{target.text} whole")
    return rebind(formula.expr, net, SymbolTable(net), "", 0)


def with_data_term(eq: Equation, net: Network) -> Equation:
    """``eq`` with an in-place update's right side completed: G_data ± e when e adds a term to
    the gradient (``dW += reg * W``: e uses no gradient); when e is itself a gradient's value
    (``dW += np.dot(dz, x.T)``, a loop that sums one example's gradient into a dW that starts at
    0), G = ± e. ``G = f(G, ...)`` uses G's value so far likewise (:func:`_prior`). Any other
    equation is returned as it is."""
    if getattr(eq, "augmented", None) is None:
        return _prior(eq, net)
    if any(s.base in gradients() for s in eq.rhs.symbols()):
        said = (f"{eq.written or eq.target.text} {eq.augmented}= … read as {eq.target.text} = "
                f"{'' if eq.augmented == '+' else '−'}{eq.rhs.src or eq.rhs} (the line adds a "
                "gradient's value: a sum over examples that starts at 0)")
        rhs = eq.rhs if eq.augmented == "+" else E.Scale(-1, eq.rhs, src=eq.rhs.src)
        return replace(eq, rhs=rhs, notes=(*eq.notes, said))
    data = replace(data_term(net, eq.target), src=eq.written or eq.target.text)
    rhs = (E.Add if eq.augmented == "+" else E.Sub)(data, eq.rhs, broadcast=True,
                                                     src=f"{eq.written} {eq.augmented} "
                                                         f"{eq.rhs.src or eq.rhs}")
    said = (f"{eq.written or eq.target.text} {eq.augmented}= … read as {eq.target.text} = "
            f"(its data term, {data}) {eq.augmented} "
            f"{eq.rhs.src or eq.rhs}")
    return replace(eq, rhs=rhs, notes=(*eq.notes, said))


def _prior(eq: Equation, net: Network) -> Equation:
    """``G = f(G, ...)`` on one line: the G on the right is its value so far. Divided by m
    (``dW = dW/N + reg*W``, CS231n's ``dW /= num_train`` after a loop that sums the examples'
    gradients) it is that sum, m times the data term; otherwise (``dW = dW + reg*W``) the data
    term itself, as for ``+=``. Only for a parameter's gradient (dW, db), which code accumulates:
    in ``dZ = dZ * (Z > 0)`` the dZ on the right is a copy of dA, which one line cannot say."""
    if eq.target.base not in ("dW", "db"):
        return eq
    key = eq.target.key
    found: list[bool] = []  # per occurrence: divided by m

    def scan(e: E.Expr, over_m: bool) -> None:
        if isinstance(e, E.Sym) and e.key == key:
            found.append(over_m)
            return
        if isinstance(e, E.Scale):
            den = sp.fraction(sp.together(e.factor))[1]
            over_m = over_m or bool(den.has(m_symbol))
        for c in e.children():
            scan(c, over_m)

    scan(eq.rhs, False)
    if not found:
        return eq
    data = data_term(net, eq.target)
    summed = all(found)
    prior = replace(E.Scale(m_symbol, data) if summed else data, src=eq.target.text)

    def put(e: E.Expr) -> E.Expr:
        return prior if isinstance(e, E.Sym) and e.key == key else E.map_children(e, put)

    said = (f"{eq.target.text} on the right read as its value so far: "
            + (f"the sum over the examples' gradients, m × {data} (it is divided by m here)"
               if summed else f"its data term, {data}"))
    return replace(eq, rhs=put(eq.rhs), notes=(*eq.notes, said))


__all__ = ["data_term", "with_data_term"]
