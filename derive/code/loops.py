"""The numeric reading of the course's loop-form backward functions (conv, pool, RNN): derive's
own interpreter (:class:`derive.code.numeric.Interpreter`, bounded, the snippet never run as
Python) with ``np.pad`` added (constant mode only, its size counted before numpy allocates), the
course's helpers the snippet may call without defining them, and a static reading of which lines
write each gradient (its accumulations: ``x[...] += ...``).

>>> src = read_source("def f(X, pad):\\n    return np.pad(X, ((1, 1), (pad, pad)))\\n")
>>> run(src, "f", [np.ones((1, 1)), 2]).value.shape
(3, 5)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import numpy as np

from derive.code.numeric import Interpreter
from derive.code.numeric_table import NP, Builtin, CodeFailure, Fn
from derive.code.source import Source, read_source
from derive.errors import ParseError

# The course's helpers, as its templates define them (written from their definitions: zero
# padding of the two spatial axes, the window's maximum, an even spread, one cell's backward).
HELPERS = {
    "zero_pad": """
def zero_pad(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)
""",
    "create_mask_from_window": """
def create_mask_from_window(x):
    return x == np.max(x)
""",
    "distribute_value": """
def distribute_value(dz, shape):
    (n_H, n_W) = shape
    return np.ones(shape) * (dz / (n_H * n_W))
""",
    "rnn_cell_backward": """
def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters) = cache
    dtanh = (1 - a_next ** 2) * da_next
    return {"dxt": np.dot(parameters["Wax"].T, dtanh), "da_prev": np.dot(parameters["Waa"].T, dtanh),
            "dWax": np.dot(dtanh, xt.T), "dWaa": np.dot(dtanh, a_prev.T),
            "dba": np.sum(dtanh, axis=1, keepdims=True)}
""",
}
_SOURCES: dict[str, Source] = {}


def helper(name: str) -> Fn:
    """The course's helper ``name`` as a function the interpreter calls."""
    if name not in _SOURCES:
        _SOURCES[name] = read_source(HELPERS[name])
    src = _SOURCES[name]
    node = src.tree.body[0]
    assert isinstance(node, ast.FunctionDef)
    return Fn(name, node, src)


EXTRA = ("pad", "unravel_index", "flip", "rot90")  # numpy functions read here beside the table


class LoopInterpreter(Interpreter):
    """The interpreter with ``np.pad`` (``mode="constant"``, zeros or given constants), and
    ``np.unravel_index``, ``np.flip``, ``np.rot90`` (a window's maximum, a turned filter)."""

    def e_Attribute(self, node, env):  # noqa: N802 - named for the ast node
        if node.attr in EXTRA and self.expr(node.value, env) is NP:
            return Builtin(f"np.{node.attr}")
        return super().e_Attribute(node, env)

    def e_Call(self, node, env):  # noqa: N802
        fn = self.expr(node.func, env)
        if isinstance(fn, Builtin) and fn.name.startswith("np.") and fn.name[3:] in EXTRA:
            args = [self.expr(a, env) for a in node.args]
            kwargs = {k.arg: self.expr(k.value, env) for k in node.keywords}
            if None in kwargs:
                raise self.fail(node, "** in a call is not read")
            return getattr(self, fn.name[3:])(node, *args, **kwargs)
        return super().e_Call(node, env)

    def unravel_index(self, node, index=None, shape=None):
        """np.unravel_index of one whole-number index (the place of a window's maximum)."""
        dims = shape if isinstance(shape, tuple | list) else (shape,)
        if not isinstance(index, int | np.integer) or not dims or not all(
                isinstance(d, int | np.integer) and 0 < d <= 10**6 for d in dims):
            raise self.fail(node, "np.unravel_index is read with one index and a shape")
        return tuple(int(i) for i in np.unravel_index(int(index), tuple(int(d) for d in dims)))

    def flip(self, node, array=None, axis=None):
        if not isinstance(array, np.ndarray) or not (axis is None or isinstance(axis, int) or (
                isinstance(axis, tuple) and all(isinstance(a, int) for a in axis))):
            raise self.fail(node, "np.flip is read on an array, with whole-number axes")
        self.made(array.size, "np.flip")
        return np.flip(array, axis)

    def rot90(self, node, array=None, k=1, axes=(0, 1)):
        if not isinstance(array, np.ndarray) or not isinstance(k, int) or not (
                isinstance(axes, tuple | list) and len(axes) == 2 and
                all(isinstance(a, int) for a in axes)):
            raise self.fail(node, "np.rot90 is read on an array, k and two axes whole numbers")
        self.made(array.size, "np.rot90")
        return np.rot90(array, k, tuple(axes))

    def pad(self, node, array=None, pad_width=None, mode="constant", constant_values=0):
        if not isinstance(array, np.ndarray) or mode != "constant":
            raise self.fail(node, "np.pad is read on an array, with mode 'constant'")
        widths = _widths(pad_width, array.ndim)
        if widths is None:
            raise self.fail(node, "np.pad's widths are whole numbers ≥ 0, one pair per axis")
        values = constant_values
        if not _numbers(values):
            raise self.fail(node, "np.pad's constant_values are numbers")
        size = 1
        for d, (lo, hi) in zip(array.shape, widths, strict=True):
            size *= d + lo + hi
            self.made(0)
            if size > 10**12:
                break
        self.made(size, "np.pad")
        return np.pad(array, widths, mode="constant", constant_values=values)


def _numbers(v, depth: int = 0) -> bool:
    """A number, or (nested at most twice) tuples or lists of numbers."""
    if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool):
        return True
    return depth < 2 and isinstance(v, tuple | list) and len(v) <= 64 and \
        all(_numbers(x, depth + 1) for x in v)


def _widths(pad_width, ndim: int):
    """np.pad's widths as one (before, after) pair per axis, or None if they are not that."""
    def whole(v) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool) and bool(0 <= v <= 10**6)

    if whole(pad_width):
        return [(int(pad_width), int(pad_width))] * ndim
    if not isinstance(pad_width, tuple | list):
        return None
    items = list(pad_width)
    if len(items) == 2 and all(whole(v) for v in items):
        return [(int(items[0]), int(items[1]))] * ndim
    if len(items) == 1 and isinstance(items[0], tuple | list):
        items = items * ndim
    if len(items) != ndim:
        return None
    out = []
    for pair in items:
        if whole(pair):
            pair = (pair, pair)
        if not isinstance(pair, tuple | list) or len(pair) != 2 or not all(whole(v) for v in pair):
            return None
        out.append((int(pair[0]), int(pair[1])))
    return out


@dataclass
class Run:
    """One call of a snippet's function on one instance: what it returned (or the failure that
    stopped it) and the names its frame held at the end."""

    value: object = None
    failure: CodeFailure | None = None
    env: dict = field(default_factory=dict)


def run(src: Source, fname: str, args: list, kwargs: dict | None = None,
        replace: dict[str, Fn] | None = None, missing: tuple[str, ...] = ()) -> Run:
    """Call ``fname`` of the snippet on ``args``: the course's helpers named in ``missing`` (the
    snippet does not define them) and those in ``replace`` stand in for the snippet's."""
    interp = LoopInterpreter(src)
    for name in missing:
        interp.functions.setdefault(name, helper(name))
    interp.functions.update(replace or {})
    try:
        value = interp.call(fname, args, kwargs or {})
    except CodeFailure as exc:
        return Run(None, exc, interp.last_env)
    except ParseError as exc:  # a refusal of the interpreter that names no line
        return Run(None, CodeFailure(interp.line, str(exc)), interp.last_env)
    return Run(value, None, interp.last_env)


# -- which lines write a gradient --------------------------------------------------------------
def root(target) -> str | None:
    while isinstance(target, ast.Subscript | ast.Attribute):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


@dataclass(frozen=True)
class Write:
    line: int
    name: str
    accumulates: bool  # x += ..., x[...] += ...
    into_part: bool  # x[...] = ... (a part of the array)
    loops: tuple[int, ...]  # the lines of the for loops around it, outermost first
    reads: frozenset[str]
    node: ast.stmt
    counters: frozenset[str] = frozenset()  # the loops' variables
    indices: frozenset[str] = frozenset()  # the names in the written part's index

    @property
    def overwrites(self) -> bool:
        """Set (=) in a loop, in a place that does not change with every loop's counter: the
        next iteration overwrites it (``db[:, :, :, c] = ...`` in the loops over i, h, w, c)."""
        return bool(self.loops) and not self.accumulates and \
            not (self.into_part and self.counters <= self.indices)

    @property
    def in_loop(self) -> bool:
        return bool(self.loops)


def writes(fn: ast.FunctionDef) -> list[Write]:
    """Every assignment in ``fn`` (nested blocks included), in the order of the lines."""
    out: list[Write] = []

    def visit(body, loops: tuple[int, ...], counters: frozenset[str]) -> None:
        for s in body:
            if isinstance(s, ast.For):
                names = {n.id for n in ast.walk(s.target) if isinstance(n, ast.Name)}
                visit(s.body, (*loops, s.lineno), counters | names)
                visit(s.orelse, loops, counters)
            elif isinstance(s, ast.If):
                visit(s.body, loops, counters)
                visit(s.orelse, loops, counters)
            elif isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = s.targets if isinstance(s, ast.Assign) else [s.target]
                reads = frozenset(n.id for n in ast.walk(s) if isinstance(n, ast.Name)
                                  and isinstance(n.ctx, ast.Load))
                for t in targets:
                    elts = t.elts if isinstance(t, ast.Tuple | ast.List) else [t]
                    for e in elts:
                        name = root(e)
                        if name is not None:
                            index = frozenset(n.id for n in ast.walk(e.slice) if isinstance(
                                n, ast.Name)) if isinstance(e, ast.Subscript) else frozenset()
                            out.append(Write(s.lineno, name, isinstance(s, ast.AugAssign),
                                             isinstance(e, ast.Subscript), loops, reads, s,
                                             counters, index))
    visit(fn.body, (), frozenset())
    return sorted(out, key=lambda w: w.line)


def _reaches(source: Write, reader: Write) -> bool:
    """Whether ``source``'s value can reach ``reader``: it comes before it, or both are in one
    loop (the next iteration reads it); a later write outside that loop cannot."""
    return source.line < reader.line or bool(set(source.loops) & set(reader.loops))


def lineage(fn: ast.FunctionDef, name: str) -> list[Write]:
    """The writes ``name``'s final value comes from: its own, then those of the names they read
    that reach them (the function's parameters and loop counters end the walk)."""
    every = writes(fn)
    by_name: dict[str, list[Write]] = {}
    for w in every:
        by_name.setdefault(w.name, []).append(w)
    out: list[Write] = list(by_name.get(name, []))
    todo = list(out)
    while todo:
        w = todo.pop()
        for r in w.reads | ({w.name} if w.accumulates or w.into_part else set()):
            for src in by_name.get(r, []):
                if src not in out and _reaches(src, w):
                    out.append(src)
                    todo.append(src)
    return sorted(out, key=lambda w: w.line)


def last_write(fn: ast.FunctionDef, name: str) -> int:
    lines = [w.line for w in writes(fn) if w.name == name]
    return max(lines) if lines else fn.lineno


def returned_names(fn: ast.FunctionDef) -> list[str | None]:
    """The names a function returns as a tuple (``return dA_prev, dW, db``), in order; a
    returned dict's keys as written (``{"dxt": dxt, ...}``), or the dict variable's."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            v = node.value
            if isinstance(v, ast.Tuple):
                return [e.id if isinstance(e, ast.Name) else None for e in v.elts]
            if isinstance(v, ast.Name):
                return [v.id]
    return []


def dict_entries(fn: ast.FunctionDef) -> dict[str, str]:
    """A returned dict's keys and the names they hold, from the dict literal that builds it
    (``gradients = {"dxt": dxt, ...}``, or the literal returned)."""
    out: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    out[k.value] = v.id if isinstance(v, ast.Name) else k.value
    return out


__all__ = ["HELPERS", "LoopInterpreter", "Run", "Write", "dict_entries", "helper", "last_write",
           "lineage", "returned_names", "root", "run", "writes"]
