"""Python-level calls of a snippet that the formula reader does not read itself (used by
:mod:`.evaluate`): a dict's ``.get(key, default)`` (CS231n's ``bn_param.get('eps', 1e-5)``), and
numpy's variance and standard deviation (``x.var(axis=0)``, ``np.std(x, axis=0)``) written out
as means, which it reads."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.code import values as V
from derive.core import expr as E

if TYPE_CHECKING:
    from derive.code.reader import Frame


@dataclass(frozen=True)
class Evaluator:
    """The reader's own evaluation (:mod:`.evaluate`'s ``value``, ``error``, ``as_expr``), handed
    in by it: this module is its helper, and importing it back would make a cycle."""

    value: Callable[..., V.Value]
    error: Callable[..., Exception]
    as_expr: Callable[..., E.Expr]


def dict_get(fn: ast.expr) -> bool:
    return isinstance(fn, ast.Attribute) and fn.attr == "get" and not (
        isinstance(fn.value, ast.Name) and fn.value.id in ("np", "numpy"))


def get(X: Evaluator, frame: Frame, fn: ast.Attribute, node: ast.Call) -> V.Value | None:
    """``d.get(key, default)`` on a dict of the snippet's (CS231n's ``bn_param.get('eps',
    1e-5)``): the entry, else the default (None without one); None when ``d`` is no such dict."""
    owner = X.value(frame, fn.value)
    if not isinstance(owner, V.Mapping) or owner.keyed or not node.args or len(node.args) > 2:
        return None
    key = X.value(frame, node.args[0])
    if not isinstance(key, V.Str):
        return None
    if key.value in owner.items:
        return owner.items[key.value]
    return X.value(frame, node.args[1]) if len(node.args) == 2 else V.Null()


def number_cast(frame: Frame, fn: ast.expr) -> bool:
    """``float(...)`` or ``int(...)`` (the builtins, not a function of the snippet's)."""
    return isinstance(fn, ast.Name) and fn.id in ("float", "int") and frame.lookup(fn.id) is None


def cast(X: Evaluator, frame: Frame, node: ast.Call) -> V.Value | None:
    """``float(N)`` of a number the code holds (N = x.shape[0], the examples m): that number;
    None for anything else (the formula reader reads or refuses it)."""
    if len(node.args) != 1 or node.keywords:
        return None
    v = X.value(frame, node.args[0])
    if isinstance(v, V.Int) or isinstance(v, V.Tensor) and isinstance(v.expr, E.Scalar):
        return v
    return None


def moment_kind(fn: ast.expr) -> str | None:
    """"var" or "std" for ``x.var(...)``, ``np.var(x, ...)`` (and std), else None."""
    if not isinstance(fn, ast.Attribute) or fn.attr not in ("var", "std"):
        return None
    return fn.attr


def moment(X: Evaluator, frame: Frame, node: ast.Call) -> V.Tensor:
    """numpy's (biased) variance or standard deviation, written out as the mean of the squared
    deviations, which the formula reader reads: ``x.var(axis=0)`` is
    ``np.mean((x - np.mean(x, axis=0, keepdims=True)) ** 2, axis=0)``, its std the square root."""
    fn = node.func
    assert isinstance(fn, ast.Attribute)
    kind = fn.attr
    args = list(node.args)
    on_np = isinstance(fn.value, ast.Name) and fn.value.id in ("np", "numpy")
    if on_np:
        if not args:
            raise X.error(frame, node, f"np.{kind} needs an array")
        operand = args.pop(0)
    else:
        operand = fn.value
    keywords = {k.arg: k.value for k in node.keywords if k.arg}
    if len(args) > 1 or set(keywords) - {"axis", "keepdims", "ddof"} or \
            len(keywords) != len(node.keywords):
        raise X.error(frame, node, f".{kind} is read with axis= and keepdims= only")
    axis_node = args[0] if args else keywords.get("axis")
    axis = literal(X, frame, axis_node, "axis")
    keep = literal(X, frame, keywords.get("keepdims"), "keepdims")
    ddof = literal(X, frame, keywords.get("ddof"), "ddof")
    if ddof not in (None, 0):
        raise X.error(frame, node, f"{kind} with ddof={ddof}: derive reads the batch's own "
                                 "(biased) statistics, ddof=0")
    where = frame.source.segment(operand)
    a = X.as_expr(frame, X.value(frame, operand), operand, where)
    ax = "" if axis is None else f", axis={axis}"
    kd = ", keepdims=True" if keep else ""
    template = f"np.mean(({{a}} - np.mean({{a}}{ax}, keepdims=True)) ** 2{ax}{kd})"
    if kind == "std":
        template = f"np.sqrt({template})"
    return V.Tensor(frame.reader.combine(frame, template, a=a))


def literal(X: Evaluator, frame: Frame, node: ast.expr | None, what: str):
    """A small Python constant of a call (an axis, keepdims, ddof): None when absent."""
    if node is None:
        return None
    v = X.value(frame, node)
    if isinstance(v, V.Int):
        return v.value
    if isinstance(v, V.Null):
        return None
    raise X.error(frame, node, f"{what}= must be a number or True/False here")


__all__ = ["Evaluator", "cast", "dict_get", "get", "literal", "moment", "moment_kind", "number_cast"]
