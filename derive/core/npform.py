"""SymPy expressions of the catalogue's vocabulary as numpy functions, without ``lambdify``.

``lambdify`` prints Python source and compiles it, which imports SymPy's code printers and
``sympy.codegen`` (about 0.1 s of a cold ``derive check``). The catalogue's activations and
losses use a dozen functions; :func:`numpy_function` walks such an expression once and returns a
closure over numpy ufuncs, or None when a node is outside that vocabulary (the caller then
lambdifies). Semantics follow lambdify's numpy printer: Piecewise takes its first true piece
(NaN where none is), Heaviside(0) is 1/2, Max and Min are element-wise.

>>> import numpy as np, sympy as sp
>>> z = sp.Symbol("z", real=True)
>>> f = numpy_function((z,), sp.Piecewise((1, z > 0), (sp.Rational(1, 100), True)))
>>> f(np.array([-1.0, 2.0])).tolist()
[0.01, 1.0]
>>> numpy_function((z,), sp.besselj(0, z)) is None
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sympy as sp

#: numpy's functions by name (numpy is imported when a function is built, not with this module)
_UNARY: dict[type, str] = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.cosh: "cosh",
                           sp.sinh: "sinh", sp.Abs: "abs"}
_COMPARE: dict[type, str] = {sp.StrictGreaterThan: "greater", sp.StrictLessThan: "less",
                             sp.GreaterThan: "greater_equal", sp.LessThan: "less_equal"}

Fn = Callable[[Sequence], Any]


def numpy_function(params: Sequence[sp.Symbol], expr: sp.Basic) -> Callable | None:
    """``expr`` as ``f(*values)`` over numpy, or None if it uses a node this walker lacks."""
    index = {p: i for i, p in enumerate(params)}
    try:
        fn = _build(expr, index)
    except _Unsupported:
        return None
    return lambda *values: fn(values)


class _Unsupported(Exception):
    pass


def _build(e: sp.Basic, index: dict) -> Fn:
    import numpy as np

    if e in index:
        i = index[e]
        return lambda v: v[i]
    if e is sp.true or e is sp.false:
        flag = bool(e)
        return lambda v: flag
    if e.is_Number or e in (sp.pi, sp.E):
        if not e.is_real or not e.is_finite:
            raise _Unsupported
        c = float(e)
        return lambda v: c
    if isinstance(e, sp.Piecewise):
        pieces = [(_build(p.expr, index), _build(p.cond, index)) for p in e.args]

        def piecewise(v):
            out = np.nan
            for value, cond in reversed(pieces):
                out = np.where(cond(v), value(v), out)
            return out

        return piecewise
    kids = [_build(a, index) for a in e.args]
    if isinstance(e, sp.Add):
        return lambda v: _fold(np.add, kids, v)
    if isinstance(e, sp.Mul):
        return lambda v: _fold(np.multiply, kids, v)
    if isinstance(e, sp.Pow):
        base, power = kids
        if e.exp == sp.Rational(1, 2):
            return lambda v: np.sqrt(base(v))
        if e.exp == -1:
            return lambda v: np.divide(1.0, base(v))
        return lambda v: np.power(base(v), power(v))
    if type(e) in _UNARY:
        (arg,) = kids
        op = getattr(np, _UNARY[type(e)])
        return lambda v: op(arg(v))
    if type(e) in _COMPARE:
        left, right = kids
        cmp = getattr(np, _COMPARE[type(e)])
        return lambda v: cmp(left(v), right(v))
    if isinstance(e, sp.Max | sp.Min):
        op = np.maximum if isinstance(e, sp.Max) else np.minimum
        return lambda v: _fold(op, kids, v)
    if isinstance(e, sp.Heaviside):
        if len(kids) != 1:
            raise _Unsupported
        (arg,) = kids
        return lambda v: np.heaviside(arg(v), 0.5)
    raise _Unsupported


def _fold(op, kids: list[Fn], v):
    out = kids[0](v)
    for k in kids[1:]:
        out = op(out, k(v))
    return out
