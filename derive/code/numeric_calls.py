"""The calls a numeric reading makes (:mod:`.numeric`): Python's few builtins, numpy's table
(:data:`derive.code.numeric.NUMPY`) and the array, list and dict methods, each given checked
arguments and bounded before numpy allocates.

>>> from derive.code.numeric import Interpreter, read_source
>>> run = Interpreter(read_source("def f(n):\\n    return np.zeros((n, n)).sum()\\n"))
>>> float(run.call("f", [3]))
0.0
>>> run.call("f", [10**6])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
derive.errors.ResourceLimit: line 2: np.zeros needs 1,000,000,000,000 elements, ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from derive.code.numeric_table import (
    _DOT,
    _FLOAT_TYPES,
    _NEW,
    _OUTER,
    _SAME,
    ELEMENTS,
    NUMPY,
    Builtin,
    CodeFailure,
    Fn,
    Obj,
    _dot_size,
    _Lazy,
)
from derive.limits import require

if TYPE_CHECKING:
    from derive.code.numeric import Interpreter

_PLAIN = (int, float, bool, str, type(None), np.ndarray, np.generic)


def _check_arg(run: Interpreter, v, node, depth: int = 0) -> None:
    """An argument numpy may be given: numbers, arrays, None, and tuples/lists of them."""
    if depth > 4:
        raise run.fail(node, "an argument nests too deeply")
    if isinstance(v, list | tuple):
        for x in v:
            _check_arg(run, x, node, depth + 1)
        return
    if isinstance(v, slice):
        return
    if not isinstance(v, _PLAIN):
        raise run.fail(node, f"{type(v).__name__} is not an argument derive passes to numpy")


def _dtype(run: Interpreter, v, node):
    if isinstance(v, Builtin) and v.name.startswith("dtype:"):
        return _FLOAT_TYPES[v.name[6:]]
    if isinstance(v, Builtin) and v.name in ("float", "int", "bool"):
        return _FLOAT_TYPES[v.name]
    if isinstance(v, str) and v in _FLOAT_TYPES:
        return _FLOAT_TYPES[v]
    if isinstance(v, np.dtype) and v.kind in "fiub":  # x.dtype: an array's own
        return v.type
    raise run.fail(node, "dtype is float, int or bool")


def _shape_size(run: Interpreter, shape, node, what: str) -> int:
    dims = shape if isinstance(shape, tuple | list) else (shape,)
    total = 1
    for d in dims:
        if not isinstance(d, int | np.integer) or isinstance(d, bool) or d < 0:
            raise run.fail(node, f"{what}'s shape is whole numbers ≥ 0")
        total *= int(d)
        run.made(0)
        if total > 10**15:
            break
    return total


def builtin(run: Interpreter, fn: Builtin, args: list, kwargs: dict, node):
    name = fn.name
    if name.startswith("np."):
        return numpy_call(run, name[3:], args, kwargs, node)
    if name.startswith("array."):
        return array_method(run, fn.owner, name[6:], args, kwargs, node)
    if name.startswith(("list.", "dict.")):
        return container_method(run, fn.owner, name.split(".", 1)[1], args, kwargs, node)
    if name.startswith("dtype:"):
        return _FLOAT_TYPES[name[6:]](*args)
    return python_builtin(run, name, args, kwargs, node)


def python_builtin(run: Interpreter, name: str, args: list, kwargs: dict, node):
    if kwargs and name not in ("sorted", "round", "print"):
        raise run.fail(node, f"{name}() is called with keywords")
    if name in ("range", "xrange"):
        if not all(isinstance(a, int | np.integer) and not isinstance(a, bool) for a in args) \
                or not 1 <= len(args) <= 3:
            raise run.fail(node, "range() takes whole numbers")
        return range(*(int(a) for a in args))
    if name == "len":
        (v,) = args
        if isinstance(v, np.ndarray) and v.ndim == 0:
            raise run.fail(node, "len() of a number")
        return len(v)
    if name == "reversed":
        return run.items(args[0], node)[::-1]
    if name == "enumerate":
        items = run.items(args[0], node)
        run.made(len(items), "a list")
        return [(i, v) for i, v in enumerate(items)]
    if name == "zip":
        seqs = [run.items(a, node) for a in args]
        return [tuple(t) for t in zip(*seqs, strict=False)]
    if name in ("list", "tuple", "sorted"):
        items = run.items(args[0], node) if args else []
        run.made(len(items), "a list")
        if name == "sorted":
            return sorted(items, reverse=bool(kwargs.get("reverse", False)))
        return items if name == "list" else tuple(items)
    if name == "dict":
        return dict(args[0]) if args else {}
    if name in ("float", "int", "bool", "abs", "round"):
        for a in args:
            if not isinstance(a, int | float | bool | np.generic | np.ndarray):
                raise run.fail(node, f"{name}() of {type(a).__name__}")
        convert: dict[str, Any] = {"float": float, "int": int, "bool": bool, "abs": abs,
                                   "round": round}
        return convert[name](*args)
    if name in ("min", "max", "sum"):
        items = run.items(args[0], node) if len(args) == 1 else args
        reduce: dict[str, Any] = {"min": min, "max": max, "sum": sum}
        return reduce[name](items)
    if name == "str":
        (v,) = args
        if not isinstance(v, int | float | str | np.generic):
            raise run.fail(node, "str() of a number or a string only")
        return str(v)
    if name == "print":
        return None
    if name == "isinstance":
        raise run.fail(node, "isinstance() is not read")
    raise run.fail(node, f"{name}() is not read")


def numpy_call(run: Interpreter, name: str, args: list, kwargs: dict, node):
    func, keywords, size = NUMPY[name]
    for k in kwargs:
        if k not in keywords:
            raise run.fail(node, f"np.{name} is called with the keyword {k}=, which derive does "
                                 "not pass on")
    if "dtype" in kwargs:
        kwargs = {**kwargs, "dtype": _dtype(run, kwargs["dtype"], node)}
    for a in [*args, *kwargs.values()]:
        if a is not kwargs.get("dtype"):
            _check_arg(run, a, node)
    if size == _NEW:
        if name == "arange":
            r = range(*(int(a) for a in args)) if all(
                isinstance(a, int | np.integer) for a in args) else None
            n = len(r) if r is not None else int(np.ceil(float(args[-1]) if len(args) == 1 else
                                                          abs(float(args[1]) - float(args[0]))))
        elif name == "eye":
            n = _shape_size(run, args[0], node, "np.eye") ** 2 if args else 0
        else:
            n = _shape_size(run, args[0] if args else (), node, f"np.{name}")
        require_new(run, n, name)
    elif size == _DOT and len(args) == 2:
        run.made(_dot_size(np.shape(args[0]), np.shape(args[1])), f"np.{name}")
    elif size == _OUTER:
        run.made(int(np.prod([np.size(a) for a in args])) if args else 0, f"np.{name}")
    estimate = _result_size(args) if size == _SAME else 0
    if estimate:  # counted before numpy allocates (np.vstack([x] * 1000))
        run.made(estimate, f"np.{name}")
    with np.errstate(all="ignore"):
        out = func(*args, **kwargs)
    if isinstance(out, np.ndarray) and size != _NEW and out.size > estimate:
        run.made(out.size - estimate, f"np.{name}")
    return out


def _result_size(args: list) -> int:
    """An upper bound, before the call, on the elements an element-wise or joining numpy
    function returns: the broadcast of its array arguments, or the items of a list it joins."""
    shapes, joined = [], 0
    for a in args:
        if isinstance(a, list | tuple):
            joined += sum(int(np.size(item)) if isinstance(item, np.ndarray | list | tuple)
                          else 1 for item in a)
        elif isinstance(a, np.ndarray | np.generic | int | float):
            shapes.append(np.shape(a))
    try:
        broadcast = int(np.prod(np.broadcast_shapes(*shapes))) if shapes else 0
    except ValueError:  # shapes that do not broadcast: numpy refuses them itself
        broadcast = max((int(np.prod(s)) for s in shapes), default=0)
    return max(broadcast, joined)


def require_new(run: Interpreter, n: int, name: str) -> None:
    require(ELEMENTS, run.elements + n, f"line {run.line}: np.{name} needs {n:,} elements, "
                                        "and so this snippet")
    run.made(n)


def array_method(run: Interpreter, owner, name: str, args: list, kwargs: dict, node):
    if name == "astype":
        (dt,) = args
        return np.asarray(owner).astype(_dtype(run, dt, node))
    if name == "item":
        return np.asarray(owner).item(*args)
    if name == "tolist":
        run.made(np.size(owner), "a list")
        return np.asarray(owner).tolist()
    if name == "reshape" and len(args) > 1:
        args = [tuple(args)]
    if name == "transpose" and len(args) > 1:
        args = [tuple(args)]
    if name == "copy":
        run.made(np.size(owner), "a copy")
        return np.array(owner, copy=True)
    return numpy_call(run, {"flatten": "ravel"}.get(name, name), [owner, *args], kwargs, node)


def container_method(run: Interpreter, owner, name: str, args: list, kwargs: dict, node):
    if kwargs:
        raise run.fail(node, f".{name}() is called with keywords")
    for a in args:
        if isinstance(a, Fn | Builtin | Obj):
            raise run.fail(node, f".{name}() of a function")
    if isinstance(owner, list):
        if name in ("append", "insert", "extend"):
            run.made(1 if name != "extend" else len(run.items(args[0], node)), "a list")
        if name == "copy":
            run.made(len(owner), "a list")
        return getattr(owner, name)(*args)
    if name in ("keys", "values", "items"):
        return _Lazy(list(getattr(owner, name)()))
    if name == "copy":
        return dict(owner)
    if name == "update":
        if len(args) != 1 or not isinstance(args[0], dict):
            raise run.fail(node, ".update() takes one dict")
        owner.update(args[0])
        return None
    return getattr(owner, name)(*args)


__all__ = ["CodeFailure", "builtin", "numpy_call"]
