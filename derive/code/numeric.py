"""A numeric reading of a snippet: its whitelisted ``ast`` walked by derive's own interpreter,
on derive's arrays, for code that has no formula form (loops over the examples, ``if margin >
0:``, ``continue``, ``scores[np.arange(N), y]``).

The student's code is **never run as Python**: nothing is compiled, ``exec``-ed or ``eval``-ed.
This module walks the tree :mod:`.source` has checked and gives each node its meaning itself:
Python numbers, strings, tuples, lists and dicts; ``if``/``elif``/``else``, ``for`` over
``range``/``reversed``/``enumerate``/``zip``/a list/an array (bounded), ``break``, ``continue``,
``return``; the snippet's own functions (and the course's, :mod:`.known`). numpy is one fixed
table (:data:`NUMPY`) of functions and array methods mapped to numpy callables, each given
checked arguments only (arrays, numbers, tuples of them, a few keywords). An attribute outside
the table, a dunder, an import (other than ``numpy``), ``open`` or any other name is refused.
Everything is bounded (:mod:`derive.limits`): statements and loop iterations
(``code.statements``), nested calls (``code.calls``), time (``code.seconds``) and the array
elements created (``code.elements``, checked *before* numpy allocates). A refusal is a
:class:`CodeFailure` naming its line, never a crash.

>>> src = read_source("def f(W, X):\\n    s = 0.0\\n    for i in range(X.shape[0]):\\n"
...                   "        s += X[i].dot(W).max()\\n    return s\\n")
>>> run = Interpreter(src)
>>> float(run.call("f", [np.eye(2), np.array([[1.0, 2.0], [3.0, -1.0]])]))
5.0
"""

from __future__ import annotations

import ast
import operator
import time

import numpy as np

from derive.code.calls import CALLS
from derive.code.numeric_exprs import Expressions
from derive.code.numeric_table import (
    _BIN,
    BUILTINS,
    ELEMENTS,
    NP,
    NUMPY,
    Builtin,
    CodeFailure,
    Fn,
    Obj,
    _Break,
    _Continue,
    _dot_size,
    _Lazy,
    _Return,
)
from derive.code.reader import SECONDS, STATEMENTS
from derive.code.source import Source, read_source
from derive.errors import ParseError
from derive.limits import require


def size_of(v) -> int:
    """The elements a value holds (arrays, and lists/tuples/dicts counted by their items)."""
    if isinstance(v, np.ndarray):
        return int(v.size)
    if isinstance(v, list | tuple):
        return len(v)
    return 1


class Interpreter(Expressions):
    """One numeric reading: ``call(fname, args, kwargs)`` runs the snippet's function ``fname``
    (or a course function of :mod:`.known` it calls) on the given values; ``frames`` keeps the
    names each top-level call held when it returned (:attr:`last_env`)."""

    def __init__(self, source: Source, extra: dict[str, Source] | None = None) -> None:
        self.source = source
        self.functions: dict[str, Fn] = {}
        for src in [source, *(extra or {}).values()]:
            for node in src.tree.body:
                if isinstance(node, ast.FunctionDef):
                    self.functions.setdefault(node.name, Fn(node.name, node, src))
                elif isinstance(node, ast.ClassDef):
                    for n in node.body:
                        if isinstance(n, ast.FunctionDef):
                            self.functions.setdefault(n.name, Fn(n.name, n, src))
        self.steps = self.elements = 0
        self.started = time.monotonic()
        self.depth = 0
        self.last_env: dict = {}
        self.snapshots: dict = {}  # (line, name as written) -> its value after that line
        self.line = 0

    # -- bounds ------------------------------------------------------------------------------
    def tick(self, n: int = 1) -> None:
        self.steps += n
        require(STATEMENTS, self.steps, "running this snippet numerically")
        require(SECONDS, int(time.monotonic() - self.started), "running this snippet numerically")

    def made(self, n: int, what: str = "an array") -> None:
        self.elements += int(n)
        require(ELEMENTS, self.elements, f"line {self.line}: {what}")

    def fail(self, node, message: str) -> CodeFailure:
        return CodeFailure(getattr(node, "lineno", None) or self.line, message)

    # -- calls ---------------------------------------------------------------------------------
    def call(self, fname: str, args: list, kwargs: dict | None = None, owner: Obj | None = None):
        fn = self.functions.get(fname)
        if fn is None:
            raise CodeFailure(None, f"the snippet has no function {fname}")
        fn = Fn(fn.name, fn.node, fn.source, owner)
        return self.invoke(fn, args, kwargs or {}, top=True)

    def invoke(self, fn: Fn, args: list, kwargs: dict, node=None, top: bool = False):
        require(CALLS, self.depth + 1, f"the call of {fn.name}")
        a = fn.node.args
        params = [p.arg for p in a.args]
        if fn.owner is not None and params and params[0] == "self":
            args = [fn.owner, *args]
        if len(args) > len(params) or a.vararg or a.kwarg or a.kwonlyargs:
            raise self.fail(node, f"{fn.name} is called with arguments it does not take")
        env = dict(zip(params, args, strict=False))
        for k, v in kwargs.items():
            if k not in params:
                raise self.fail(node, f"{fn.name} has no parameter {k}")
            env[k] = v
        for p, d in zip(params[len(params) - len(a.defaults):], a.defaults, strict=True):
            if p not in env:
                env[p] = self.expr(d, env)
        missing = [p for p in params if p not in env]
        if missing:
            raise self.fail(node, f"{fn.name} is called without {', '.join(missing)}")
        saved, self.depth = self.line, self.depth + 1
        try:
            self.block(fn.node.body, env)
            out = None
        except _Return as ret:
            out = ret.value
        finally:
            self.depth -= 1
            self.line = saved
        if top:
            self.last_env = env
        return out

    # -- statements ----------------------------------------------------------------------------
    def block(self, body: list, env: dict) -> None:
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, node: ast.stmt, env: dict) -> None:
        self.tick()
        self.line = node.lineno
        try:
            self._statement(node, env)
            if self.depth == 1 and isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
                self.snapshot(node, env)
        except (_Return, _Break, _Continue, CodeFailure):
            raise
        except RecursionError:
            raise self.fail(node, "the code nests too deeply") from None
        except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError,
                KeyError, FloatingPointError) as exc:
            if isinstance(exc, ParseError):
                raise
            text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise CodeFailure(node.lineno, f"fails on derive's arrays ({type(exc).__name__}: "
                                           f"{text})", True) from None

    def snapshot(self, node, env: dict) -> None:
        """The values the top frame's statement at ``node`` assigned, under the names the
        symbolic reading gives them (``dW``, ``grads['W1']``, ``nabla_w[-1]``)."""
        targets = list(node.targets) if isinstance(node, ast.Assign) else [node.target]
        while targets:
            t = targets.pop()
            if isinstance(t, ast.Tuple | ast.List):
                targets += t.elts
                continue
            shown, value = None, None
            if isinstance(t, ast.Name):
                shown, value = t.id, env.get(t.id)
            elif isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                base = env.get(t.value.id)
                key = t.slice.value if isinstance(t.slice, ast.Constant) else None
                if isinstance(base, dict | list) and isinstance(key, str | int):
                    try:
                        shown, value = f"{t.value.id}[{key!r}]", base[key]  # type: ignore[index]
                    except (KeyError, IndexError):
                        continue
                else:
                    shown, value = t.value.id, base
            if shown is not None and isinstance(value, np.ndarray | float | int | np.generic):
                self.made(np.size(value), "a copy of a value")
                self.snapshots[node.lineno, shown] = np.array(value, copy=True)

    def _statement(self, node: ast.stmt, env: dict) -> None:
        if isinstance(node, ast.Assign):
            value = self.expr(node.value, env)
            for t in node.targets:
                self.assign(t, value, env)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.assign(node.target, self.expr(node.value, env), env)
        elif isinstance(node, ast.AugAssign):
            self.augmented(node, env)
        elif isinstance(node, ast.Expr):
            if not isinstance(node.value, ast.Constant):
                self.expr(node.value, env)
        elif isinstance(node, ast.Return):
            raise _Return(None if node.value is None else self.expr(node.value, env))
        elif isinstance(node, ast.If):
            self.block(node.body if self.truth(self.expr(node.test, env), node) else node.orelse,
                       env)
        elif isinstance(node, ast.For):
            self.loop(node, env)
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue
        elif isinstance(node, ast.FunctionDef):
            env[node.name] = Fn(node.name, node, self.source)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            if isinstance(node, ast.ImportFrom) or names != ["numpy"]:
                raise self.fail(node, "an import is not run (derive imports nothing a snippet "
                                      "names; numpy is derive's own table)")
            env[node.names[0].asname or "numpy"] = NP
        elif isinstance(node, ast.Pass | ast.Assert | ast.ClassDef):
            return
        else:
            raise self.fail(node, f"{type(node).__name__} is not read")

    def truth(self, v, node) -> bool:
        if isinstance(v, np.ndarray) and v.size != 1:
            raise self.fail(node, "the truth of an array of several entries is ambiguous")
        return bool(v)

    def loop(self, node: ast.For, env: dict) -> None:
        items = self.iterate(self.expr(node.iter, env), node)
        broke = False
        for item in items:
            self.tick()
            self.assign(node.target, item, env)
            try:
                self.block(node.body, env)
            except _Break:
                broke = True
                break
            except _Continue:
                continue
        if not broke:
            self.block(node.orelse, env)

    def iterate(self, v, node):
        if isinstance(v, range | list | tuple):
            return v
        if isinstance(v, dict):
            return list(v)
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            return list(v)
        if isinstance(v, _Lazy):
            return v.items()
        raise self.fail(node, f"a loop over {type(v).__name__} is not read")

    def items(self, v, node) -> list:
        """What ``v`` holds, as a list (for the builtins that take all of it at once): a range
        is counted as the elements it makes *before* it is made (``sorted(range(10**9))``)."""
        it = self.iterate(v, node)
        if isinstance(it, range):
            self.made(len(it), "a list made of a range")
        return list(it)

    def assign(self, target, value, env: dict) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            items = list(self.iterate(value, target))
            if len(items) != len(target.elts):
                raise self.fail(target, f"{len(target.elts)} names are unpacked from "
                                        f"{len(items)} values")
            for t, v in zip(target.elts, items, strict=True):
                self.assign(t, v, env)
        elif isinstance(target, ast.Subscript):
            container = self.expr(target.value, env)
            key = self.index(target.slice, env)
            if isinstance(container, np.ndarray):
                container[key] = value
            elif isinstance(container, list) and isinstance(key, int | np.integer):
                container[key] = value
            elif isinstance(container, dict) and isinstance(key, str | int):
                container[key] = value
            else:
                raise self.fail(target, "this assignment target is not read")
        elif isinstance(target, ast.Attribute):
            owner = self.expr(target.value, env)
            if not isinstance(owner, Obj) or target.attr.startswith("__"):
                raise self.fail(target, f"setting .{target.attr} is not read")
            owner.attrs[target.attr] = value
        else:
            raise self.fail(target, "this assignment target is not read")

    def augmented(self, node: ast.AugAssign, env: dict) -> None:
        op = _BIN.get(type(node.op))
        if op is None:
            raise self.fail(node, "this augmented assignment is not read")
        rhs = self.expr(node.value, env)
        target = node.target
        if isinstance(target, ast.Subscript):
            container = self.expr(target.value, env)
            key = self.index(target.slice, env)
            if isinstance(container, np.ndarray):
                current = container[key]
                new = self.binary(op, current, rhs, node)
                if isinstance(key, tuple) and any(isinstance(k, np.ndarray) for k in key) \
                        or isinstance(key, np.ndarray):
                    container[key] = new  # fancy indexing: numpy's own (last write wins)
                else:
                    container[key] = new
                return
            self.assign(target, self.binary(op, self.expr(target, env), rhs, node), env)
            return
        current = self.expr(target, env)
        if isinstance(current, np.ndarray) and isinstance(target, ast.Name):
            new = self.binary(op, current, rhs, node)
            if new.shape == current.shape and np.can_cast(new.dtype, current.dtype, "same_kind"):
                current[...] = new  # in place, as numpy's += (an alias sees it)
                return
            env[target.id] = new
            return
        self.assign(target, self.binary(op, current, rhs, node), env)

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, node, env: dict):
        method = getattr(self, "e_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{type(node).__name__} is not read")
        return method(node, env)

    def e_Constant(self, node, env):  # noqa: N802 - named for the ast node
        if isinstance(node.value, bytes | complex):
            raise self.fail(node, "this constant is not read")
        return node.value

    def e_Name(self, node, env):  # noqa: N802
        if node.id in env:
            return env[node.id]
        if node.id in self.functions:
            return self.functions[node.id]
        if node.id in ("np", "numpy"):
            return NP
        if node.id in BUILTINS:
            return Builtin(node.id)
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise self.fail(node, f"the name {node.id} is not set here (derive runs no code but "
                              "the snippet's and numpy's table)")

    def e_Tuple(self, node, env):  # noqa: N802
        return tuple(self.expr(e, env) for e in node.elts)

    def e_List(self, node, env):  # noqa: N802
        self.made(len(node.elts), "a list")
        return [self.expr(e, env) for e in node.elts]

    def e_Dict(self, node, env):  # noqa: N802
        out = {}
        for k, v in zip(node.keys, node.values, strict=True):
            if k is None:
                raise self.fail(node, "** in a dict is not read")
            out[self.expr(k, env)] = self.expr(v, env)
        return out

    def e_IfExp(self, node, env):  # noqa: N802
        return self.expr(node.body if self.truth(self.expr(node.test, env), node) else node.orelse,
                         env)

    def e_BoolOp(self, node, env):  # noqa: N802
        v = None
        for part in node.values:
            v = self.expr(part, env)
            if isinstance(node.op, ast.And) and not self.truth(v, node):
                return v
            if isinstance(node.op, ast.Or) and self.truth(v, node):
                return v
        return v

    def e_UnaryOp(self, node, env):  # noqa: N802
        v = self.expr(node.operand, env)
        self._value(v, node)
        if isinstance(node.op, ast.Not):
            return not self.truth(v, node)
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return +v
        return ~v if isinstance(v, np.ndarray) and v.dtype == bool else np.invert(v)

    def e_BinOp(self, node, env):  # noqa: N802
        op = _BIN.get(type(node.op))
        if op is None:
            raise self.fail(node, "this operator is not read")
        return self.binary(op, self.expr(node.left, env), self.expr(node.right, env), node)

    def binary(self, op, a, b, node):
        for v in (a, b):
            self._value(v, node)
        if op is operator.pow and isinstance(a, int) and isinstance(b, int) and not \
                isinstance(a, bool) and (abs(b) > 64 or abs(a).bit_length() * abs(b) > 4096):
            raise self.fail(node, "this power of whole numbers is too large")
        if op is operator.mul and (isinstance(a, list | tuple | str) or isinstance(b, list | tuple
                                                                                  | str)):
            seq, k = (a, b) if isinstance(a, list | tuple | str) else (b, a)
            if not isinstance(k, int):
                raise self.fail(node, "a sequence is multiplied by a whole number only")
            self.made(len(seq) * max(k, 0), "a repeated list or string")
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            sa, sb = np.shape(a), np.shape(b)
            if op is operator.matmul:
                self.made(_dot_size(sa, sb), "a matrix product")
            else:
                try:
                    self.made(int(np.prod(np.broadcast_shapes(sa, sb))), "an array")
                except ValueError:
                    pass  # numpy's own message names the shapes
        if op in (operator.mul, operator.lshift) and _whole(a) and _whole(b) and \
                abs(a).bit_length() + abs(b).bit_length() > 4096:
            raise self.fail(node, "this product of whole numbers is too large")
        with np.errstate(all="ignore"):
            return op(a, b)

    def _value(self, v, node) -> None:
        if isinstance(v, Fn | Builtin | Obj | _Lazy) or v is NP:
            raise self.fail(node, "this operand is not a number or an array")


__all__ = ["ELEMENTS", "NUMPY", "CodeFailure", "Fn", "Interpreter", "Obj", "read_source"]


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
