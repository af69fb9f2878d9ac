"""One evaluator for every node, and its two backends: numpy (float64, batched) and SymPy.

:func:`evaluate` knows no node type: it asks each node for its value (``Expr.compute``, which
calls back for each child's value), and the node asks the backend for the operation. A backend
works on numpy arrays with optional leading batch axes, (..., rows, cols), or on explicit SymPy
matrices.

>>> import numpy as np
>>> from derive.core.expr import Hadamard, Scale, Sym, Transpose
>>> W, dZ = Sym("W", 2, (2, 3)), Sym("dZ", 2, (2, 1))
>>> e = Scale(sp.Rational(1, 2), Hadamard(Transpose(W), Transpose(dZ), broadcast=True))
>>> env = {("W", 2): np.arange(6.0).reshape(2, 3), ("dZ", 2): np.array([[1.0], [2.0]])}
>>> evaluate(e, env, NumpyBackend()).tolist()
[[0.0, 3.0], [0.5, 4.0], [1.0, 5.0]]
>>> exact = {("W", 2): sp.Matrix(2, 3, range(6)), ("dZ", 2): sp.Matrix([1, 2])}
>>> evaluate(e, exact, SympyBackend()).tolist()
[[0, 3], [1/2, 4], [1, 5]]

Softmax (an activation whose ``kind`` is ``"softmax"``) is applied along the unit axis, given to
each backend as the numpy axis of a (..., rows, cols) array: -2 (the default) when each example
is a column, -1 when each example is a row.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sympy as sp

from derive.core.names import z
from derive.core.node import Backend, Expr, Shape

if TYPE_CHECKING:  # numpy is imported where numbers are computed
    import numpy as np


def evaluate(expr: Expr, env: Mapping, backend: Backend) -> Any:
    """The value of ``expr`` with ``env[(base, layer)]`` giving each symbol's value (a missing one
    raises :class:`~derive.core.node.MissingValue`, a KeyError).

    No memo: the engine's trees share no subtree (a memo by ``id`` cost the checker a fifth of
    its evaluation time), so a subtree written twice is evaluated twice."""

    def ev(e: Expr) -> Any:
        return e.compute(backend, ev, env)  # noqa: F821 - ev is deleted only after the call

    try:
        return ev(expr)
    finally:  # ev refers to itself through its closure: break that cycle, which would keep env
        del ev  # and every input array alive until the garbage collector runs (128 MB a W wide)


def _unit_axis(axis: int) -> int:
    if axis not in (-2, -1):
        raise ValueError(f"the unit axis is -2 (examples in columns) or -1 (rows), not {axis!r}")
    return axis


def numpy_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax along ``axis``, with the maximum subtracted first (no overflow)."""
    import numpy as np
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def sympy_softmax(Z: sp.Matrix, columns: bool) -> sp.Matrix:
    """Softmax of each column (``columns``: one example per column) or of each row."""
    if not columns:
        return sympy_softmax(Z.T, True).T
    out = sp.zeros(Z.rows, Z.cols)
    for t in range(Z.cols):
        denom = sum(sp.exp(Z[k, t]) for k in range(Z.rows))
        for i in range(Z.rows):
            out[i, t] = sp.exp(Z[i, t]) / denom
    return out


class NumpyBackend:
    """Evaluates with numpy in float64. Values may carry leading batch axes: (..., rows, cols).

    Sizes and constants must be numbers here (bind m first); a subclass may bind them instead by
    overriding :meth:`number` and :meth:`size`."""

    def __init__(self, standins: Mapping[int, Any] | None = None, *, unit_axis: int = -2):
        # stand-ins: layer -> activation-like object used where the network's g[l] is generic
        self.standins = standins or {}
        self.unit_axis = _unit_axis(unit_axis)

    def activation(self, act, layer):
        return act if act is not None else self.standins[layer]

    def number(self, value) -> float:
        """A constant (1/m, 2, a size) as a float."""
        return float(value)

    def size(self, d) -> int:
        """A dimension as an int."""
        return int(d)

    def ones(self, shape: Shape):
        import numpy as np
        return np.ones(tuple(self.size(d) for d in shape))

    def scalar(self, value):
        import numpy as np
        return np.array([[self.number(value)]])

    def scale(self, factor, a):
        return a * self.number(factor)

    # the operators themselves (no Python frame per node: the checker evaluates many small trees)
    @staticmethod
    def matmul(a, b):
        import numpy as np
        return np.matmul(a, b)
    multiply = staticmethod(operator.mul)  # a * b, broadcasting
    add = staticmethod(operator.add)
    subtract = staticmethod(operator.sub)
    divide = staticmethod(operator.truediv)

    def transpose(self, a):
        import numpy as np
        return np.swapaxes(a, -1, -2)

    def sum(self, a, axis):
        import numpy as np
        if axis is None:
            return np.sum(a, axis=(-2, -1), keepdims=True)
        return np.sum(a, axis=axis - 2, keepdims=True)

    def deriv(self, act, layer, x):
        import numpy as np
        return np.asarray(
            self.activation(act, layer).numpy_derivative(x), dtype=float
        ) * np.ones_like(x)

    def act(self, act, layer, x):
        import numpy as np
        act = self.activation(act, layer)
        if act.kind == "softmax":
            return numpy_softmax(x, self.unit_axis)
        return np.asarray(act.numpy_forward(x), dtype=float) * np.ones_like(x)

    def pointwise(self, expr, params, values):
        import numpy as np
        fn = _lambdify(params, expr)
        return np.asarray(fn(*values), dtype=float) * np.ones_like(values[0])


@functools.lru_cache(maxsize=512)
def _lambdify(params, expr) -> Callable:
    # The numpy module object, not "numpy": SymPy then skips `from numpy import *` (~0.2 s cold).
    import numpy as np
    return sp.lambdify(params, expr, [np])


def _is_sympy(v) -> bool:
    return isinstance(v, sp.MatrixBase)


def _broadcast_pair(a, b):
    """Two SymPy matrices stretched to a common shape (numpy's rule: a size 1 repeats)."""

    def stretch(x, rows, cols):
        if x.shape == (rows, cols):
            return x
        return sp.Matrix(rows, cols, lambda i, j: x[i if x.rows > 1 else 0, j if x.cols > 1 else 0])

    rows, cols = max(a.rows, b.rows), max(a.cols, b.cols)
    return stretch(a, rows, cols), stretch(b, rows, cols)


class SympyBackend:
    """Evaluates on explicit SymPy matrices. With ``generic=True`` every element-wise activation is
    an undefined function g_l (so a proof holds for any g); otherwise the catalogue's own, its
    SymPy forms written in ``variable`` (the symbol z)."""

    def __init__(self, generic: bool = False, layers: Mapping[int, Any] | None = None, *,
                 unit_axis: int = -2, variable: sp.Symbol = z):
        self.generic = generic
        self.layers = layers or {}  # layer -> the network's activation there
        self.unit_axis = _unit_axis(unit_axis)
        self.variable = variable

    def _fn(self, layer):
        return sp.Function(f"g{layer}")

    def _use_generic(self, act, layer) -> bool:
        # g_l stands for the layer's own activation only: another activation's derivative written
        # at layer l stays concrete, so a proof can tell them apart.
        if act is None:
            return True
        own = self.layers.get(layer, act)
        return self.generic and act.elementwise and act == own

    def ones(self, shape: Shape):
        return sp.ones(int(shape[0]), int(shape[1]))

    def scalar(self, value):
        return sp.Matrix([[value]])

    def scale(self, factor, a):
        return a * (factor if _is_sympy(a) else float(factor))

    def matmul(self, a, b):
        return a * b

    # element-wise arithmetic broadcasts as numpy does (values that are not SymPy matrices, say
    # numbers, use their own operators)
    def multiply(self, a, b):
        if not _is_sympy(a):
            return a * b
        a, b = _broadcast_pair(a, b)
        return a.multiply_elementwise(b)

    def add(self, a, b):
        if not _is_sympy(a):
            return a + b
        a, b = _broadcast_pair(a, b)
        return a + b

    def subtract(self, a, b):
        if not _is_sympy(a):
            return a - b
        a, b = _broadcast_pair(a, b)
        return a - b

    def divide(self, a, b):
        if not _is_sympy(a):
            return a / b
        a, b = _broadcast_pair(a, b)
        return sp.Matrix(a.rows, a.cols, lambda i, j: a[i, j] / b[i, j])

    def transpose(self, a):
        return a.T

    def sum(self, a, axis):
        if axis is None:
            return sp.Matrix([[sum(a)]])
        if axis == 0:
            return sp.ones(1, a.rows) * a
        return a * sp.ones(a.cols, 1)

    def deriv(self, act, layer, x):
        if self._use_generic(act, layer):
            t = sp.Dummy("t")
            d = sp.diff(self._fn(layer)(t), t)
            return x.applyfunc(
                lambda e: d.subs(t, e) if not e.is_Symbol else sp.diff(self._fn(layer)(e), e)
            )
        return x.applyfunc(lambda e: act.derivative_at_z.subs(self.variable, e))

    def act(self, act, layer, x):
        if act is not None and act.kind == "softmax":
            return sympy_softmax(x, columns=self.unit_axis == -2)
        if self._use_generic(act, layer):
            return x.applyfunc(self._fn(layer))
        return x.applyfunc(lambda e: act.forward.subs(self.variable, e))

    def pointwise(self, expr, params, values: Sequence):
        first = values[0]

        def entry(v, i, j):  # a row or a column repeats, as numpy broadcasts
            return v[i if v.rows > 1 else 0, j if v.cols > 1 else 0]

        return sp.Matrix(
            first.rows,
            first.cols,
            lambda i, j: expr.subs(
                {p: entry(v, i, j) for p, v in zip(params, values, strict=True)}, simultaneous=True
            ),
        )
