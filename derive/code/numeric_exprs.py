"""The expressions of a numeric reading that reach into containers and calls: comparisons,
list comprehensions, subscripts and slices, attributes (only those of the table in
:mod:`.numeric_table`), and calls (used by :class:`derive.code.numeric.Interpreter`)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

import numpy as np

from derive.code import numeric_calls
from derive.code.numeric_table import (
    _CMP,
    ARRAY_ATTRS,
    ARRAY_METHODS,
    DICT_METHODS,
    DTYPES,
    LIST_METHODS,
    NP,
    NP_CONSTANTS,
    NUMPY,
    Builtin,
    Fn,
    Obj,
)


class Expressions:
    """The mixin: methods ``e_<Node>`` of the interpreter (``self`` is an Interpreter)."""

    if TYPE_CHECKING:  # the interpreter's own methods these call
        def expr(self, node, env: dict) -> Any: ...
        def fail(self, node, message: str) -> Exception: ...
        def truth(self, v, node) -> bool: ...
        def tick(self, n: int = 1) -> None: ...
        def made(self, n: int, what: str = "an array") -> None: ...
        def iterate(self, v, node) -> Any: ...
        def assign(self, target, value, env: dict) -> None: ...
        def invoke(self, fn, args, kwargs, node=None, top: bool = False) -> Any: ...
        def _value(self, v, node) -> None: ...
        functions: dict

    def e_Compare(self, node, env):  # noqa: N802
        left = self.expr(node.left, env)
        result = True
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.expr(right_node, env)
            if isinstance(op, ast.Is | ast.IsNot):
                if not (right is None or left is None):
                    raise self.fail(node, "'is' is read with None only")
                out = (left is right) == isinstance(op, ast.Is)
            elif isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, list | tuple | dict | str | range):
                    raise self.fail(node, "'in' is read on a list, tuple, dict or string")
                out = (left in right) == isinstance(op, ast.In)
            else:
                self._value(left, node)
                self._value(right, node)
                out = _CMP[type(op)](left, right)
            if len(node.ops) == 1:
                return out
            result = result and self.truth(out, node)
            left = right
        return result

    def e_ListComp(self, node, env):  # noqa: N802
        if len(node.generators) != 1 or node.generators[0].ifs or node.generators[0].is_async:
            raise self.fail(node, "a list comprehension with one for and no if is read")
        gen = node.generators[0]
        items = self.iterate(self.expr(gen.iter, env), node)
        self.made(len(items), "a list")
        out, inner = [], dict(env)
        for item in items:
            self.tick()
            self.assign(gen.target, item, inner)
            out.append(self.expr(node.elt, inner))
        return out

    def e_Subscript(self, node, env):  # noqa: N802
        container = self.expr(node.value, env)
        key = self.index(node.slice, env)
        if isinstance(container, np.ndarray | list | tuple | str):
            out = container[key]
            if isinstance(out, np.ndarray) and not np.shares_memory(out, container):
                self.made(out.size, "an indexed array")
            return out
        if isinstance(container, dict):
            if key not in container:
                raise self.fail(node, f"{key!r} is not in this dict")
            return container[key]
        raise self.fail(node, f"cannot index {type(container).__name__}")

    def index(self, node, env):
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self.expr(p, env)
                     for p in (node.lower, node.upper, node.step)]
            for p in parts:
                if p is not None and not isinstance(p, int | np.integer):
                    raise self.fail(node, "a slice's bounds are whole numbers")
            return slice(*parts)
        if isinstance(node, ast.Tuple):
            return tuple(self.index(e, env) for e in node.elts)
        v = self.expr(node, env)
        if isinstance(v, range):
            self.made(len(v), "an index")
            return np.arange(v.start, v.stop, v.step)
        if isinstance(v, list):
            return np.asarray(v)
        return v

    def e_Attribute(self, node, env):  # noqa: N802
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__"):
            raise self.fail(node, f"the attribute {attr} is refused (no dunders)")
        owner = self.expr(node.value, env)
        if owner is NP:
            if attr in NUMPY:
                return Builtin(f"np.{attr}")
            if attr in NP_CONSTANTS:
                return NP_CONSTANTS[attr]
            if attr in DTYPES:
                return DTYPES[attr]
            raise self.fail(node, f"np.{attr} is not in derive's table of numpy functions")
        if isinstance(owner, Obj):
            if attr in owner.attrs:
                return owner.attrs[attr]
            fn = self.functions.get(attr)
            if fn is not None:
                return Fn(fn.name, fn.node, fn.source, owner)
            raise self.fail(node, f"self.{attr} is not set")
        if isinstance(owner, np.ndarray | np.generic):
            if attr in ARRAY_ATTRS:
                return getattr(owner, attr)
            if attr in ARRAY_METHODS:
                return Builtin(f"array.{attr}", owner)
        if isinstance(owner, list) and attr in LIST_METHODS or \
                isinstance(owner, dict) and attr in DICT_METHODS:
            return Builtin(f"{type(owner).__name__}.{attr}", owner)
        raise self.fail(node, f"the attribute .{attr} is not in derive's table")

    def e_Call(self, node, env):  # noqa: N802
        fn = self.expr(node.func, env)
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                args += list(self.iterate(self.expr(a.value, env), a))
            else:
                args.append(self.expr(a, env))
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                raise self.fail(node, "** in a call is not read")
            kwargs[k.arg] = self.expr(k.value, env)
        if isinstance(fn, Fn):
            return self.invoke(fn, args, kwargs, node)
        if isinstance(fn, Builtin):
            return numeric_calls.builtin(self, fn, args, kwargs, node)
        raise self.fail(node, "this is not a function derive can call")


__all__ = ["Expressions"]
