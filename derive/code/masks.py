"""Masked assignments: ``dZ[Z <= 0] = 0`` keeps dZ where the mask is false (dZ ⊙ (Z > 0)), and
CS231n's ``dscores[range(N), y] -= 1`` subtracts the one-hot labels Y (used by :mod:`.reader`)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from derive.code import evaluate as X
from derive.code import values as V
from derive.errors import DeriveError

if TYPE_CHECKING:
    from derive.code.reader import Frame, Reader

_NEGATE = {ast.Lt: ">=", ast.LtE: ">", ast.Gt: "<=", ast.GtE: "<", ast.Eq: "!=", ast.NotEq: "=="}
_OPS = {ast.Add: "+", ast.Sub: "-"}


def is_mask(frame: Frame, target: ast.Subscript) -> bool:
    sl = target.slice
    if isinstance(sl, ast.Compare):
        return True
    if isinstance(sl, ast.Tuple) and len(sl.elts) == 2:
        try:
            return isinstance(X.value(frame, sl.elts[0]), V.Rows)
        except DeriveError:
            return False
    return False

def masked(reader: Reader, frame: Frame, target: ast.Subscript, value_node, op) -> None:
    base = target.value
    if not isinstance(base, ast.Name):
        raise X.error(frame, target, "a masked assignment is read on a variable only")
    q = reader.target_quantity(frame, base)
    current = X.value(frame, base)
    if q is None and isinstance(current, V.Tensor):
        q = current.grad
    frame.building = q
    x = X.as_expr(frame, current, base, base.id)
    v = X.as_expr(frame, X.value(frame, value_node), value_node,
                  frame.source.segment(value_node))
    sl = target.slice
    if isinstance(sl, ast.Compare):
        if len(sl.ops) != 1:
            raise X.error(frame, target, "a chained comparison as a mask is not read")
        a = frame.source.span(sl.left)[1]
        b = frame.source.span(sl.comparators[0])[0]
        hit = X.tensor(frame, sl).expr
        keep = X.tensor(frame, sl, replace=((a, b, f" {_NEGATE[type(sl.ops[0])]} "),)).expr
    else:
        assert isinstance(sl, ast.Tuple)  # _is_mask: a comparison or (range(N), y)
        labels = sl.elts[1]
        if not (isinstance(labels, ast.Name) and labels.id.lower() in ("y", "labels")):
            raise X.error(frame, target, "x[range(N), ...] is read with the labels y only")
        hit = X.tensor_of_name(frame, "Y", labels)
        keep = reader.combine(frame, "1 - {y}", y=hit)
        reader.note("x[range(N), y] picks each example's entry of its class: the one-hot "
                  "labels Y")
    if op is None:
        zero = isinstance(value_node, ast.Constant) and value_node.value == 0
        new = reader.combine(frame, "{x} * {k}", x=x, k=keep) if zero else \
            reader.combine(frame, "{x} * {k} + {v} * {h}", x=x, k=keep, v=v, h=hit)
    else:
        sym = _OPS.get(type(op))
        if sym not in ("+", "-"):
            raise X.error(frame, target, "this masked update is not read")
        new = reader.combine(frame, f"{{x}} {sym} {{v}} * {{h}}", x=x, v=v, h=hit)
    reader.store(frame, base, V.Tensor(new), q, None)


__all__ = ["is_mask", "masked"]
