"""What a numeric reading (:mod:`.numeric`) knows: the values it makes (``self`` as
:class:`Obj`, the snippet's functions as :class:`Fn`, builtins and numpy's functions as
:class:`Builtin`), its one table of numpy functions (:data:`NUMPY`), array methods and
attributes, and the bound on the elements it creates (``code.elements``)."""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field

import numpy as np

from derive.code.source import Source
from derive.errors import ParseError
from derive.limits import Limit

ELEMENTS = Limit("code.elements", 5_000_000, "elements",
                 "a snippet that makes smaller arrays",
                 "the array elements (and list items) one numeric reading of a snippet creates, "
                 "counted before numpy allocates them")


class CodeFailure(ParseError):
    """The code cannot be read numerically at a line (refused, or numpy refused it)."""

    def __init__(self, line: int | None, message: str, numpy_error: bool = False) -> None:
        super().__init__(f"line {line}: {message}" if line else message, None, None)
        self.line = line
        self.numpy_error = numpy_error


class _Return(Exception):  # noqa: N818 - control flow
    def __init__(self, value):
        self.value = value


class _Break(Exception):  # noqa: N818
    pass


class _Continue(Exception):  # noqa: N818
    pass


@dataclass
class Obj:
    """``self``: attributes given by derive (``params``, ``reg``) and set by the code."""

    attrs: dict = field(default_factory=dict)
    cls: str = ""


@dataclass(frozen=True)
class Fn:
    name: str
    node: ast.FunctionDef
    source: Source
    owner: Obj | None = None


@dataclass(frozen=True)
class Builtin:
    name: str
    owner: object = None  # a bound method's object (an array, a list, a dict)


NP = Builtin("np")
_FLOAT_TYPES = {"float": float, "float64": np.float64, "float32": np.float64, "int": int,
                "int64": np.int64, "int32": np.int64, "bool": bool, "bool_": np.bool_}
DTYPES = {name: Builtin(f"dtype:{name}") for name in _FLOAT_TYPES}

# numpy functions: name -> (callable, keywords accepted, how big the result may be)
_SAME, _OUTER, _NEW, _DOT = "same", "outer", "new", "dot"
NUMPY: dict[str, tuple] = {
    **{k: (getattr(np, k), (), _SAME) for k in (
        "exp", "log", "log1p", "sqrt", "abs", "absolute", "tanh", "sign", "square", "negative",
        "cosh", "sinh", "isnan", "isfinite", "squeeze", "ravel", "transpose", "copy",
        "zeros_like", "ones_like", "empty_like", "atleast_2d", "argsort", "log2", "log10")},
    **{k: (getattr(np, k), (), _SAME) for k in (
        "maximum", "minimum", "multiply", "add", "subtract", "divide", "true_divide", "power",
        "greater", "greater_equal", "less", "less_equal", "equal", "not_equal", "heaviside",
        "where", "logical_and", "logical_or", "clip", "float_power")},
    **{k: (getattr(np, k), ("axis", "keepdims"), _SAME) for k in (
        "sum", "mean", "max", "min", "amax", "amin", "prod", "argmax", "argmin", "std", "var",
        "cumsum", "all", "any")},
    "dot": (np.dot, (), _DOT), "matmul": (np.matmul, (), _DOT), "outer": (np.outer, (), _OUTER),
    "zeros": (np.zeros, ("dtype",), _NEW), "ones": (np.ones, ("dtype",), _NEW),
    "empty": (np.zeros, ("dtype",), _NEW), "full": (np.full, ("dtype",), _NEW),
    "eye": (np.eye, ("dtype",), _NEW), "arange": (np.arange, ("dtype",), _NEW),
    "array": (np.array, ("dtype", "copy"), _SAME), "asarray": (np.asarray, ("dtype",), _SAME),
    "reshape": (np.reshape, (), _SAME), "float64": (np.float64, (), _SAME),
    "int64": (np.int64, (), _SAME), "concatenate": (np.concatenate, ("axis",), _SAME),
    "hstack": (np.hstack, (), _SAME), "vstack": (np.vstack, (), _SAME),
    "expand_dims": (np.expand_dims, ("axis",), _SAME), "diag": (np.diag, (), _OUTER),
}
NP_CONSTANTS = {"newaxis": None, "inf": np.inf, "pi": np.pi, "e": np.e, "nan": np.nan}
# array methods: name -> (numpy function name, keywords); attributes of arrays
ARRAY_METHODS = {"dot": "dot", "sum": "sum", "mean": "mean", "max": "max", "min": "min",
                 "argmax": "argmax", "argmin": "argmin", "reshape": "reshape", "copy": "copy",
                 "transpose": "transpose", "ravel": "ravel", "flatten": "ravel",
                 "squeeze": "squeeze", "clip": "clip", "astype": "astype", "prod": "prod",
                 "std": "std", "var": "var", "cumsum": "cumsum", "all": "all", "any": "any",
                 "item": "item", "tolist": "tolist"}
ARRAY_ATTRS = ("T", "shape", "ndim", "size", "dtype")
LIST_METHODS = ("append", "copy", "index", "insert", "pop", "reverse", "extend")
DICT_METHODS = ("keys", "values", "items", "get", "copy", "update", "setdefault")
BUILTINS = ("range", "xrange", "len", "reversed", "enumerate", "zip", "list", "tuple", "dict",
            "float", "int", "abs", "min", "max", "sum", "str", "bool", "round", "print",
            "isinstance", "sorted")
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
        ast.Pow: operator.pow, ast.MatMult: operator.matmul, ast.BitAnd: operator.and_,
        ast.BitOr: operator.or_}
_CMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
        ast.Gt: operator.gt, ast.GtE: operator.ge}
_NUMBER = (int, float, bool, np.number, np.bool_)


class _Lazy:
    """A lazily iterated value (dict views, zip, enumerate)."""

    def __init__(self, items: list) -> None:
        self._items = items

    def items(self) -> list:
        return self._items


def _dot_size(sa: tuple, sb: tuple) -> int:
    if not sa or not sb:
        return int(np.prod(sa or sb or (1,)))
    rows = int(np.prod(sa[:-1])) if len(sa) > 1 else 1
    cols = int(sb[-1]) if len(sb) > 1 else 1
    other = int(np.prod(sb[:-2])) if len(sb) > 2 else 1
    return rows * cols * other



__all__ = ["ARRAY_ATTRS", "ARRAY_METHODS", "BUILTINS", "DICT_METHODS", "DTYPES", "ELEMENTS",
           "LIST_METHODS", "NP", "NP_CONSTANTS", "NUMPY", "Builtin", "CodeFailure", "Fn", "Obj"]
