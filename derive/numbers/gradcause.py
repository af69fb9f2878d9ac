"""The mistake behind a failed ``gradcheck --impl``: the derived formulas with one common
regularisation mistake made in them (a dropout mask not applied at layer l, or not divided by
keep_prob; an L2 term left out of dW[l], or written without its 1/m; batch norm's dγ[l], dβ[l]
divided by the batch size once too often, or a sum of its backward over the units instead of
the examples), evaluated on the same instance; a variant whose gradients equal the user's
function's names the mistake.

>>> import sympy as sp
>>> from derive.core import expr as E
>>> D = E.Sym("D", 1, (sp.Integer(2), sp.Integer(3)))
>>> x = E.Sym("dA", 1, (sp.Integer(2), sp.Integer(3)))
>>> print(_unmasked(E.Hadamard(x, E.Scale(sp.Float(1.25), D)), 1))
dA[1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from derive.core import expr as E
from derive.engine.values import gradient_values
from derive.errors import ShapeMismatch
from derive.network import model
from derive.network.spec import m as m_symbol
from derive.numbers.differences import param_keys

Rewrite = Callable[[E.Expr, int], E.Expr]


def _is_mask(e: E.Expr, l: int) -> bool:
    inner = e.arg if isinstance(e, E.Scale) else e
    return isinstance(inner, E.Sym) and inner.key == ("D", l)


def _unmasked(e: E.Expr, l: int) -> E.Expr:
    """Every ``x ⊙ D[l]/p`` (or ``x ⊙ D[l]``) as ``x``: no dropout in the backward pass."""
    e = E.map_children(e, lambda c: _unmasked(c, l))
    if isinstance(e, E.Hadamard):
        if _is_mask(e.right, l):
            return e.left
        if _is_mask(e.left, l):
            return e.right
    return e


def _unmasked_divided(e: E.Expr, l: int) -> E.Expr:
    """Every ``x ⊙ D[l]/p`` as ``x/p``: the course's ``dA = dA * D`` line left out, its
    ``dA = dA / keep_prob`` kept."""
    e = E.map_children(e, lambda c: _unmasked_divided(c, l))
    if isinstance(e, E.Hadamard):
        for x, mask in ((e.left, e.right), (e.right, e.left)):
            if _is_mask(mask, l) and isinstance(mask, E.Scale):
                return E.Scale(mask.factor, x)
    return e


def _undivided(e: E.Expr, l: int) -> E.Expr:
    """Every ``D[l]/p`` as ``D[l]``: the mask not divided by keep_prob."""
    if isinstance(e, E.Scale) and isinstance(e.arg, E.Sym) and e.arg.key == ("D", l):
        return e.arg
    return E.map_children(e, lambda c: _undivided(c, l))


def _no_l2(e: E.Expr, l: int) -> E.Expr:
    if isinstance(e, E.Add) and isinstance(e.right, E.Scale) and isinstance(e.right.arg, E.Sym) \
            and e.right.arg.key == ("W", l):
        return e.left
    return e


def _l2_unscaled(e: E.Expr, l: int) -> E.Expr:
    if isinstance(e, E.Add) and isinstance(e.right, E.Scale) and isinstance(e.right.arg, E.Sym) \
            and e.right.arg.key == ("W", l):
        return E.Add(e.left, E.Scale(e.right.factor * m_symbol, e.right.arg))
    return e


def _divided_by_m(e: E.Expr, l: int) -> E.Expr:
    """dγ[l] or dβ[l] divided by m once more (CS231n's ``np.sum(dout, axis=0) / N``, whose dout
    already carries the 1/N)."""
    return E.Scale(1 / m_symbol, e)


def _other_axis(e: E.Expr, l: int) -> E.Expr:
    """Every sum over the examples as a sum over the units (``axis=0`` for ``axis=1``): what
    broadcasts back in dZ[l]'s compact form (a 1×m row against n×m) but is wrong."""
    e = E.map_children(e, lambda c: _other_axis(c, l))
    if isinstance(e, E.Sum) and e.axis is not None:
        return E.Sum(e.arg, 1 - e.axis)
    return e


def _variants(net) -> list[tuple[str, int, Rewrite, tuple[str, ...]]]:
    """(mistake code, layer, rewrite, kinds of formula it applies to)."""
    out: list[tuple[str, int, Rewrite, tuple[str, ...]]] = []
    for l in range(1, net.L):
        if net.dropout(l) is not None:
            out += [("mask_not_applied", l, _unmasked_divided, ("dG", "dZ")),
                    ("mask_not_applied", l, _unmasked, ("dG", "dZ")),
                    ("not_divided_by_keep_prob", l, _undivided, ("dG", "dZ"))]
    if net.l2 is not None:
        for l in range(1, net.L + 1):
            if net.regularised(l):
                out += [("missing_l2_term", l, _no_l2, ("dW",)),
                        ("l2_without_scale", l, _l2_unscaled, ("dW",))]
    for l in range(1, net.L + 1):
        if net.kinds[l - 1] == "batchnorm":
            out += [("dgamma_dbeta_divided_by_m", l, _divided_by_m, kinds)
                    for kinds in (("dgamma", "dbeta"), ("dgamma",), ("dbeta",))]
            out += [("bn_sum_wrong_axis", l, _other_axis, ("dZ",))]
    return out


BATCHNORM = ("dgamma_dbeta_divided_by_m", "bn_sum_wrong_axis")
WORDS = {
    "dgamma_dbeta_divided_by_m": "{which} divided by the batch size m once too often (the 1/m "
                                 "is already in dW's scale or in the upstream)",
    "bn_sum_wrong_axis": "a sum in batch norm's backward for dZ[{l}] runs over the units instead "
                         "of the examples (μ[{l}], σ²[{l}] are each unit's statistics over the batch)",
    "mask_not_applied": "the dropout mask D[{l}] is not applied (dA[{l}] not multiplied by D[{l}])",
    "not_divided_by_keep_prob": "dA[{l}] ⊙ D[{l}] is not divided by keep_prob",
    "missing_l2_term": "dW[{l}] has no L2 term",
    "l2_without_scale": "dW[{l}]'s L2 term has no 1/m",
}


def _rewritten(f, rewrite: Rewrite, l: int):
    """``f`` with the mistake made in it, or as it is where the mistake leaves no valid formula
    (a sum over the other axis where the result must keep its shape: the graph form of dZ, whose
    value the compact form after it replaces)."""
    try:
        return replace(f, expr=rewrite(f.expr, l))
    except ShapeMismatch:
        return f


def _which(kinds: tuple[str, ...], l: int) -> str:
    names = {"dgamma": f"dγ[{l}]", "dbeta": f"dβ[{l}]"}
    shown = [names[k] for k in kinds if k in names]
    return " and ".join(shown) + (" are" if len(shown) > 1 else " is")


def named_mistake(derivation, instance: model.Instance, theirs: dict) -> tuple[str, str] | None:
    """(code, message) of the first variant whose dW[l], db[l] all equal ``theirs`` (rtol 1e-7),
    or None (no variant explains them, or the network has no dropout, L2 or batch norm)."""
    net = derivation.network
    for code, l, rewrite, kinds in _variants(net):
        own = code in BATCHNORM  # batch norm's rewrites are of the layer's own formulas only
        formulas = tuple(_rewritten(f, rewrite, l)
                         if f.kind in kinds and (f.layer == l or not own) else f
                         for f in derivation.formulas)
        if formulas == tuple(derivation.formulas):
            continue
        with np.errstate(all="ignore"):
            values = gradient_values(replace(derivation, formulas=formulas), instance)
        if all(np.shape(theirs[k]) == np.shape(values["d" + k[0], k[1]])
               and np.allclose(theirs[k], values["d" + k[0], k[1]], rtol=1e-7, atol=1e-12)
               for k in param_keys(net)):
            return code, ("your gradients are the derived ones with one mistake: "
                          + WORDS[code].format(l=l, which=_which(kinds, l)) + f" ({code})")
    return None
