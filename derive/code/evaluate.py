"""One expression of a snippet into a value (:mod:`derive.code.values`).

What Python computes with (numbers, strings, tuples, dicts, calls of the snippet's own functions,
``self.params['W1']``, ``caches[l]``, ``range``, ``zip``) is followed here; every array
expression is read by the formula parser, :func:`derive.parse.parse_expression`, from its own
source text, with the snippet's variables bound to the expressions they hold (``names=``). A
sub-expression this module follows inside an array expression (``np.dot(cache['A1'], dZ)``) is
replaced in that text by a fresh name bound to its value. So all numpy knowledge stays in
:mod:`derive.parse`; what this module adds is Python's data structures.

The rule for gradients (docs/code.md): a variable holding a gradient (``dZ``, ``grads['dW2']``)
means that gradient's quantity in any *other* gradient's formula (``dW = 1/m dZ A_prev.T`` is
judged given the true dZ), and its value so far in its own (``dZ[Z <= 0] = 0``, ``dW += reg*W``).
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

import sympy as sp

from derive.code import numpy_calls as M
from derive.code import values as V
from derive.core import expr as E
from derive.errors import DeriveError, ParseError
from derive.limits import Limit, require
from derive.parse import parse_expression

MAX_BITS = 1400  # a constant of a snippet: about 420 digits (x = x * x in a loop stops here)
TERMS = Limit("code.terms", 5_000, "terms", "a snippet whose variables hold shorter formulas",
              "the terms one variable of a snippet holds, written out (s = s * s in a loop "
              "doubles them each time)")

if TYPE_CHECKING:
    from derive.code.reader import Frame

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BUILTINS = ("len", "range", "xrange", "reversed", "zip", "str", "list", "tuple", "enumerate")
CONTAINERS = (V.Seq, V.Mapping, V.Self, V.Func, V.Str, V.Null, V.Rows, V.Labels)


class WrongValue(ParseError):
    """The code itself cannot run on these values (a tuple where an array belongs, a cache
    unpacked into the wrong number of names): the gradient it should give is wrong, not
    unreadable."""


def error(frame: Frame, node: ast.AST | None, message: str, wrong: bool = False) -> ParseError:
    line = getattr(node, "lineno", None) or frame.line
    return (WrongValue if wrong else ParseError)(f"line {line}: {message}", None, None)


def at_line(exc: DeriveError, line: int) -> DeriveError:
    """The parser's error, its message naming the snippet's line (ParseErrors only)."""
    if isinstance(exc, ParseError) and not exc.message.startswith("line "):
        text = exc.describe().replace("\n", " ")
        copy = type(exc).__new__(type(exc))
        copy.__dict__.update(exc.__dict__)
        copy.message, copy.position, copy.text = f"line {line}: {text}", None, None
        copy.args = (copy.message,)
        return copy
    return exc


# -- values --------------------------------------------------------------------------------------
def value(frame: Frame, node: ast.AST) -> V.Value:
    """The value of an expression node (arrays through the parser)."""
    if isinstance(node, ast.Name):
        return name(frame, node)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool):
            return V.Int(int(node.value))
        if isinstance(node.value, int):
            return V.Int(node.value)
        if isinstance(node.value, str):
            return V.Str(node.value)
        if node.value is None:
            return V.Null()
        return tensor(frame, node)
    if isinstance(node, ast.Tuple | ast.List):
        return V.Seq([value(frame, e) for e in node.elts],
                     "tuple" if isinstance(node, ast.Tuple) else "list")
    if isinstance(node, ast.Dict):
        out = V.Mapping()
        for k, v in zip(node.keys, node.values, strict=True):
            key = value(frame, k) if k is not None else None
            if not isinstance(key, V.Str):
                raise error(frame, node, "a dict key must be a string")
            out.items[key.value] = value(frame, v)
        return out
    if isinstance(node, ast.Subscript):
        return subscript(frame, node)
    if isinstance(node, ast.Attribute):
        return attribute(frame, node)
    if isinstance(node, ast.Call):
        return call(frame, node)
    if isinstance(node, ast.BinOp | ast.UnaryOp | ast.Compare | ast.BoolOp):
        plain = python_op(frame, node)
        if plain is not None:
            return plain
    if isinstance(node, ast.ListComp):
        raise error(frame, node, "a list comprehension is not read here")
    return tensor(frame, node)


def name(frame: Frame, node: ast.Name) -> V.Value:
    found = frame.lookup(node.id)
    if found is not None:
        return found
    if node.id == "self":
        return V.Self()
    return V.Own(node.id)


def python_op(frame: Frame, node: ast.AST) -> V.Value | None:
    """Arithmetic on Python numbers and strings (``L - 1``, ``"dW" + str(l)``); None when
    an operand is an array (the parser reads it then)."""
    if isinstance(node, ast.BinOp):
        a, b = value(frame, node.left), value(frame, node.right)
        if isinstance(a, V.Str) and isinstance(b, V.Str) and isinstance(node.op, ast.Add):
            return V.Str(a.value + b.value)
        if isinstance(a, V.Int) and isinstance(b, V.Int):
            x, y = a.value, b.value
            ops = {ast.Add: lambda: x + y, ast.Sub: lambda: x - y, ast.Mult: lambda: x * y,
                   ast.FloorDiv: lambda: x // y if y else None, ast.Mod: lambda: x % y if y else None}
            fn = ops.get(type(node.op))
            out = fn() if fn else None
            if out is not None and abs(out) < 10**9:
                return V.Int(out)
        return None
    if isinstance(node, ast.UnaryOp):
        a = value(frame, node.operand)
        if isinstance(a, V.Int) and isinstance(node.op, ast.USub):
            return V.Int(-a.value)
        if isinstance(node.op, ast.Not):
            t = truth(frame, node.operand)
            return None if t is None else V.Int(int(not t))
        return None
    if isinstance(node, ast.Compare | ast.BoolOp):
        t = truth(frame, node)
        return None if t is None else V.Int(int(t))
    return None


def truth(frame: Frame, node: ast.AST) -> bool | None:
    """An ``if``'s test decided from Python values, None when it depends on arrays."""
    if isinstance(node, ast.BoolOp):
        parts = [truth(frame, v) for v in node.values]
        if isinstance(node.op, ast.And):
            return False if False in parts else (None if None in parts else True)
        return True if True in parts else (None if None in parts else False)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        t = truth(frame, node.operand)
        return None if t is None else not t
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, ast.Is | ast.IsNot) and isinstance(right, ast.Constant) \
                and right.value is None:
            left = value(frame, node.left)
            is_none = isinstance(left, V.Null)
            return is_none if isinstance(op, ast.Is) else not is_none
        a, b = value(frame, node.left), value(frame, right)
        if isinstance(a, V.Str | V.Int) and type(a) is type(b):
            x: Any = a.value
            y: Any = b.value  # type: ignore[union-attr]
            table = {ast.Eq: x == y, ast.NotEq: x != y}
            if isinstance(a, V.Int):
                table.update({ast.Lt: x < y, ast.LtE: x <= y, ast.Gt: x > y, ast.GtE: x >= y})
            return table.get(type(op))
        return None
    v = value(frame, node)
    if isinstance(v, V.Int):
        return bool(v.value)
    if isinstance(v, V.Null):
        return False
    if isinstance(v, V.Str):
        return bool(v.value)
    return None


def subscript(frame: Frame, node: ast.Subscript) -> V.Value:
    base = node.value
    if isinstance(base, ast.Attribute) and base.attr == "shape":
        return tensor(frame, node)
    container = value(frame, base)
    if isinstance(container, V.Seq | V.Mapping):
        key = value(frame, node.slice)
        return frame.reader.item(frame, container, key, node)
    if isinstance(container, V.Tensor | V.Broken) and _entry_index(frame, node.slice):
        what = frame.source.segment(node)
        raise error(frame, node, f"{what} is one entry of an array: derive reads whole arrays "
                                 "(vectorised code such as np.dot(X.T, A - Y)), not a loop over "
                                 "their entries")
    return tensor(frame, node)


def _entry_index(frame: Frame, index: ast.expr) -> bool:
    """Whether ``index`` picks single entries: integers or loop indices (``grad[j]``,
    ``X[i, j]``), not a slice, a mask or the labels' pick."""
    parts = index.elts if isinstance(index, ast.Tuple) else [index]
    return all(isinstance(p, ast.Constant) and type(p.value) is int
               or isinstance(p, ast.Name) and isinstance(frame.lookup(p.id), V.Int)
               for p in parts)


def attribute(frame: Frame, node: ast.Attribute) -> V.Value:
    if isinstance(node.value, ast.Name) and node.value.id == "self":
        return frame.reader.self_attribute(frame, node.attr, node)
    if node.attr == "shape":
        owner = value(frame, node.value)
        if isinstance(owner, V.Tensor | V.Own):
            dims = [tensor(frame, node, suffix=f"[{k}]") for k in range(2)]
            return V.Seq(list(dims), "tuple", "a shape")
    return tensor(frame, node)


def call(frame: Frame, node: ast.Call) -> V.Value:
    fn = node.func
    if isinstance(fn, ast.Name) and fn.id in BUILTINS and frame.lookup(fn.id) is None:
        return builtin(frame, fn.id, node)
    if isinstance(fn, ast.Attribute) and fn.attr == "arange" and isinstance(fn.value, ast.Name) \
            and fn.value.id in ("np", "numpy"):
        return V.Rows()
    if isinstance(fn, ast.Attribute) and fn.attr == "reshape":
        return value(frame, fn.value)  # the course reshapes to the shape it has
    if M.number_cast(frame, fn):
        found = M.cast(_EVALUATOR, frame, node)
        if found is not None:
            return found
    if isinstance(fn, ast.Attribute) and M.dict_get(fn):
        found = M.get(_EVALUATOR, frame, fn, node)
        if found is not None:
            return found
    if M.moment_kind(fn) is not None:
        return M.moment(_EVALUATOR, frame, node)
    target = frame.reader.function(frame, fn)
    if target is not None:
        args = [value(frame, a) for a in node.args]
        kwargs = {k.arg: value(frame, k.value) for k in node.keywords if k.arg}
        return frame.reader.inline(frame, target, args, kwargs, node)
    return tensor(frame, node)


def builtin(frame: Frame, fname: str, node: ast.Call) -> V.Value:
    args = [value(frame, a) for a in node.args]
    if fname == "len" and len(args) == 1 and isinstance(args[0], V.Seq | V.Mapping):
        return V.Int(len(args[0].items))
    if fname == "len":
        return tensor(frame, node)
    if fname in ("range", "xrange"):
        if args and all(isinstance(a, V.Int) for a in args):
            nums: list[Any] = [a.value for a in args]  # type: ignore[union-attr]
            r = range(*nums)
            frame.reader.count(len(r), node)
            return V.Seq([V.Int(i) for i in r], "list")
        return V.Rows()  # range(N): the examples, as an index
    if fname == "reversed" and len(args) == 1 and isinstance(args[0], V.Seq):
        return V.Seq(list(reversed(args[0].items)), "list")
    if fname == "zip" and all(isinstance(a, V.Seq) for a in args):
        seqs = [a.items for a in args]  # type: ignore[union-attr]
        return V.Seq([V.Seq(list(t)) for t in zip(*seqs, strict=False)], "list")
    if fname == "enumerate" and len(args) == 1 and isinstance(args[0], V.Seq):
        return V.Seq([V.Seq([V.Int(i), v]) for i, v in enumerate(args[0].items)], "list")
    if fname == "str" and len(args) == 1 and isinstance(args[0], V.Int | V.Str):
        return V.Str(str(args[0].value))
    if fname in ("list", "tuple") and len(args) == 1 and isinstance(args[0], V.Seq):
        return V.Seq(list(args[0].items), fname)
    raise error(frame, node, f"{fname}(...) of {', '.join(V.describe(a) for a in args)} is "
                             "not read")


# -- arrays: through the parser ----------------------------------------------------------------
def tensor(frame: Frame, node: ast.AST, suffix: str = "",
           replace: tuple[tuple[int, int, str], ...] = ()) -> V.Tensor:
    """The array expression ``node`` read by the parser, with the snippet's variables bound;
    ``replace`` puts other text in spans of the source (an operator negated)."""
    src = frame.source
    start, end = src.span(node)
    pieces: list[tuple[int, int, str]] = list(replace)
    names: dict[str, Any] = {}
    _collect(frame, node, pieces, names)
    text, pos = "", start
    for a, b, placeholder in sorted(pieces):
        text += src.text[pos:a] + placeholder
        pos = b
    text = (text + src.text[pos:end]).replace("\\\n", "  ").replace("\n", " ").strip() + suffix
    for ident in set(_IDENT.findall(text)):
        if ident in names:
            continue
        bound = frame.lookup(ident)
        if isinstance(bound, V.Own) and bound.name == ident:
            continue  # read by the parser as written
        if bound is not None:
            names[ident] = as_expr(frame, bound, node, ident)
        elif ident in frame.reader.user_names:
            names[ident] = frame.reader.user_names[ident]
    try:
        expr = parse_expression(text, frame.reader.net, syntax="text", layer=frame.layer,
                                names={k: v for k, v in names.items() if k in text} or None,
                                dialect=frame.reader.dialect)
    except RecursionError:
        raise error(frame, node, "the expression nests too deeply") from None
    except DeriveError as exc:
        raise at_line(exc, getattr(node, "lineno", frame.line)) from None
    require(TERMS, _terms(expr), f"line {getattr(node, 'lineno', frame.line)}: the formula "
                                 f"{text[:40]}{'...' if len(text) > 40 else ''}")
    number = getattr(expr, "value", None) if isinstance(expr, E.Scalar) else \
        getattr(expr, "factor", None) if isinstance(expr, E.Scale) else None
    if number is not None and any(isinstance(p, sp.Integer) and int(p).bit_length() > MAX_BITS
                                  for p in sp.fraction(number)):
        raise error(frame, node, "a number too large to compute with")  # x = x * x in a loop
    frame.reader.saw(text, frame, names)
    return V.Tensor(expr)


def _terms(expr: E.Expr) -> int:
    """The nodes of ``expr`` written out as a tree (a shared subtree counted each time it is
    used), counted over the shared nodes once each (so ``s * s`` doubling costs nothing)."""
    size: dict[int, int] = {}
    stack: list[tuple[E.Expr, bool]] = [(expr, False)]
    while stack:
        e, done = stack.pop()
        if id(e) in size:
            continue
        kids = e.children()
        if done or not kids:
            size[id(e)] = 1 + sum(size[id(c)] for c in kids)
        else:
            stack.append((e, True))
            stack.extend((c, False) for c in kids if id(c) not in size)
    return size[id(expr)]


def _collect(frame: Frame, node: ast.AST, pieces: list, names: dict) -> None:
    """Sub-expressions followed here rather than by the parser: each becomes a placeholder."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is not node and _ours(frame, n):
            v = value(frame, n)
            a, b = frame.source.span(n)
            if isinstance(v, V.Int):  # a number the code computed (cache['axis']): as written
                pieces.append((a, b, f"({v.value})"))
                continue
            key = frame.reader.fresh()
            pieces.append((a, b, key))
            names[key] = as_expr(frame, v, n, frame.source.segment(n))
            continue
        if isinstance(n, ast.Subscript) and _labels_pick(frame, n):
            raise error(frame, n, "picking each example's class score (x[range(N), y]) is not "
                                  "read in an array expression")
        stack.extend(reversed(list(ast.iter_child_nodes(n))))


def _ours(frame: Frame, n: ast.AST) -> bool:
    if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self":
        return True
    if isinstance(n, ast.Subscript):
        base = n.value
        if isinstance(base, ast.Attribute) and base.attr == "shape":
            return False
        if isinstance(base, ast.Name | ast.Subscript | ast.Attribute | ast.Call):
            try:
                return isinstance(value(frame, base), V.Seq | V.Mapping)
            except DeriveError:
                return False
        return False
    if isinstance(n, ast.Call):
        fn = n.func
        if isinstance(fn, ast.Name) and fn.id in BUILTINS and fn.id != "len":
            return True
        if isinstance(fn, ast.Attribute) and fn.attr == "reshape" or \
                M.moment_kind(fn) is not None or M.number_cast(frame, fn):
            return True
        if isinstance(fn, ast.Attribute) and M.dict_get(fn):
            try:
                return isinstance(value(frame, fn.value), V.Mapping)
            except DeriveError:
                return False
        return frame.reader.function(frame, fn) is not None
    return False


def _labels_pick(frame: Frame, n: ast.Subscript) -> bool:
    sl = n.slice
    return isinstance(sl, ast.Tuple) and len(sl.elts) == 2 and \
        isinstance(_safe(frame, sl.elts[0]), V.Rows)


def _safe(frame: Frame, node: ast.AST):
    try:
        return value(frame, node)
    except DeriveError:
        return None


def as_expr(frame: Frame, v: V.Value, node: ast.AST, what: str) -> E.Expr:
    """A value as an array expression: a gradient other than the one being built is its
    quantity; a name of its own meaning is read by the parser."""
    if isinstance(v, V.Tensor):
        if v.grad is not None and v.grad != frame.building:
            return v.grad
        return v.expr
    if isinstance(v, V.Own):
        return tensor_of_name(frame, v.name, node)
    if isinstance(v, V.Int):
        return E.Scalar(v.value, src=what)
    if isinstance(v, V.Broken):
        if v.grad is not None and v.grad != frame.building:
            return v.grad
        raise v.error
    raise error(frame, node, f"{what} is {V.describe(v)}, not an array",
                wrong=isinstance(v, V.Seq))


def tensor_of_name(frame: Frame, ident: str, node: ast.AST | None) -> E.Expr:
    try:
        expr = parse_expression(ident, frame.reader.net, syntax="text", layer=frame.layer,
                                names=({ident: frame.reader.user_names[ident]}
                                       if ident in frame.reader.user_names else None),
                                dialect=frame.reader.dialect)
    except DeriveError as exc:
        raise at_line(exc, getattr(node, "lineno", frame.line)) from None
    frame.reader.saw(ident, frame, {})
    return expr


_EVALUATOR = M.Evaluator(value=value, error=error, as_expr=as_expr)  # for numpy_calls' helpers

__all__ = ["WrongValue", "as_expr", "at_line", "error", "tensor", "tensor_of_name", "truth", "value"]
