"""Calls of the snippet's own functions and of the course's well-known ones: found by name,
inlined with their parameters bound to the arguments' values, at the layer of the cache they are
given (used by :mod:`.reader`)."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING

from derive.code import evaluate as X
from derive.code import values as V
from derive.code.known import KNOWN
from derive.code.source import Source, read_source
from derive.core import expr as E
from derive.limits import Limit, require

if TYPE_CHECKING:
    from derive.code.reader import Frame, Reader

CALLS = Limit("code.calls", 16, "levels", "fewer nested calls",
              "calls of the snippet's functions inlined one inside another")
_KNOWN_SOURCES: dict[str, Source] = {}


def function(reader: Reader, frame: Frame, fn) -> V.Func | None:
    """The snippet's or the course's function a call names (None: numpy, the parser's)."""
    if isinstance(fn, ast.Name):
        found = frame.lookup(fn.id)
        if isinstance(found, V.Func):
            return found
        return known(reader, fn.id) if found is None else None
    if isinstance(fn, ast.Attribute):
        owner = fn.value
        while isinstance(owner, ast.Attribute):
            owner = owner.value
        if isinstance(owner, ast.Name) and owner.id == "self":
            found = reader.globals.get(fn.attr)
            if isinstance(found, V.Func):
                return V.Func(found.name, found.node, V.Self())
            entry = known(reader, fn.attr)
            return V.Func(entry.name, entry.node, V.Self()) if entry else None
    return None

def known(reader: Reader, fname: str) -> V.Func | None:
    entry = KNOWN.get(fname)
    body = None if entry is None else entry.bodies.get(reader.net.loss or "", entry.body)
    if body is None:
        return None
    if body not in _KNOWN_SOURCES:
        _KNOWN_SOURCES[body] = read_source(body)
    src = _KNOWN_SOURCES[body]
    node = src.tree.body[0]
    reader.sources.setdefault(f"known:{fname}", src)
    return V.Func(fname, node, None)

def inline(reader: Reader, frame: Frame, func: V.Func, args: list, kwargs: dict, node) -> V.Value:
    require(CALLS, frame.depth + 1, f"the call of {func.name}")
    fdef = func.node
    assert isinstance(fdef, ast.FunctionDef)
    params = [a.arg for a in fdef.args.args]
    if func.self_value is not None and params and params[0] == "self":
        params = params[1:]
    if len(args) > len(params):
        raise X.error(frame, node, f"{func.name} takes {len(params)} arguments, "
                                   f"{len(args)} given")
    bound = dict(zip(params, args, strict=False))
    bound.update({k: v for k, v in kwargs.items() if k in params})
    defaults = fdef.args.defaults
    for p, d in zip(params[len(params) - len(defaults):], defaults, strict=True):
        if p not in bound:
            bound[p] = X.value(frame, d) if isinstance(d, ast.Constant) else V.Null()
    missing = [p for p in params if p not in bound]
    if missing:
        raise X.error(frame, node, f"{func.name} is called without {', '.join(missing)}")
    if func.self_value is not None:
        bound["self"] = func.self_value
    layer = call_layer(func.name, bound, frame.layer)
    src = reader.sources.get(func.name) or reader.sources.get(f"known:{func.name}", reader.source)
    try:
        out = reader.call_body(src, bound, layer, func.name, frame.depth + 1, fdef.body)
    except X.WrongValue as exc:
        raise _called(frame, node, func.name, exc) from None
    if isinstance(out, V.Broken) and isinstance(out.error, X.WrongValue):
        return V.Broken(_called(frame, node, func.name, out.error), out.line, out.grad)
    if isinstance(out, V.Seq):
        out.items = [V.Broken(_called(frame, node, func.name, v.error), v.line, v.grad)
                     if isinstance(v, V.Broken) and isinstance(v.error, X.WrongValue) else v
                     for v in out.items]
    return out


def _called(frame: Frame, node, fname: str, exc: X.WrongValue) -> X.WrongValue:
    """The error of code that cannot run, at the line of the call in the caller."""
    if exc.message.startswith(f"line {node.lineno}: "):
        return exc
    inner = re.sub(r"^line \d+: (in the call of \w+: )?", "", exc.message)
    error = X.error(frame, node, f"in the call of {fname}: {inner}", True)
    assert isinstance(error, X.WrongValue)
    return error

def call_layer(fname: str, bound: dict, layer):
    """A called function's layer: the layer of the cache it is given, else the caller's."""
    for v in bound.values():
        if isinstance(v, V.Seq) and v.layer is not None:
            return v.layer
        if isinstance(v, V.Tensor) and isinstance(v.expr, E.Sym) and v.expr.base == "Z":
            return v.expr.layer
    return layer


__all__ = ["CALLS", "call_layer", "function", "inline", "known"]
