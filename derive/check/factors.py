"""Constant factors of a shape-free tree (:class:`~derive.check.raw.Raw`): the pieces the mistake
rules of :mod:`derive.check.mistakes` and :mod:`derive.check.penalty` share.

>>> from derive.core.names import m
>>> k, rest = split_factor(Raw(E.Scale, (2 / m, Raw(E.Transpose, (sym("A", 1),)))))
>>> k, rest
(2/m, Raw(Transpose, (Raw(Sym, ('A', 1)),)))
>>> rescale(Raw(E.Scale, (2 / m, sym("A", 1))), 2)
Raw(Scale, (1/m, Raw(Sym, ('A', 1))))
"""

from __future__ import annotations

import sympy as sp

from derive.check.raw import Raw
from derive.core import expr as E
from derive.core.expr import as_sympy


def sym(base: str, layer: int | None) -> Raw:
    return Raw(E.Sym, (base, layer))


def factor_text(f) -> str:
    return sp.sstr(as_sympy(f))


def split_factor(r: Raw) -> tuple[sp.Expr, Raw]:
    """(K, rest): the constant factors through which the whole value scales (a Scale, a scalar
    operand of a product, a division by a scalar, under products, transposes and sums)
    multiplied into K, and ``r`` without them (``r`` itself when it has none)."""
    kind = r.kind
    if kind is E.Scale:
        k, rest = split_factor(r.kids[0])
        return as_sympy(r.get("factor")) * k, rest
    if kind is E.Div and r.kids[1].kind is E.Scalar:
        k, rest = split_factor(r.kids[0])
        return k / as_sympy(r.kids[1].get("value")), rest
    if kind in (E.MatMul, E.Hadamard):
        a, b = r.kids
        for scalar, other in ((a, b), (b, a)):
            if scalar.kind is E.Scalar and other.kind is not E.Scalar:
                k, rest = split_factor(other)
                return as_sympy(scalar.get("value")) * k, rest
    if kind in (E.MatMul, E.Hadamard, E.Transpose, E.Sum):
        parts = [split_factor(kid) for kid in r.kids]
        if all(rest is kid for (_, rest), kid in zip(parts, r.kids, strict=True)):
            return sp.Integer(1), r
        k = sp.Integer(1)
        for f, _ in parts:
            k *= f
        return k, r.with_kids([rest for _, rest in parts])
    return sp.Integer(1), r


def rescale(r: Raw, c) -> Raw:
    """``r`` divided by the constant c, its own constant factor K folded in: (K/c) rest, or
    rest alone when K/c = 1 (so 2/m ÷ 2 reads 1/m, not (1/2)(2/m))."""
    k, rest = split_factor(r)
    new = k / as_sympy(c)
    return rest if new == 1 else Raw(E.Scale, (new, rest))


def written(value) -> Raw:
    """A constant as a sentence names it (``2/m``)."""
    return Raw(E.Scalar, (value,), factor_text(value))


__all__ = ["factor_text", "rescale", "split_factor", "sym", "written"]
