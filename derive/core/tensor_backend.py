"""The tensor nodes' backends (:mod:`derive.core.tensor`): float64 arrays for numbers, object
arrays of SymPy expressions for the SymPy form. numpy's indexing, slicing, sums and products work
on both; what differs (zeros, scalars, the activation and the window maximum) is asked of the
backend.

>>> import numpy as np, sympy as sp
>>> SympyTensors().window_max(np.array([sp.Rational(1, 3), sp.Rational(1, 2)]).reshape(1, 2, 1, 1))
array([[[[1/2]]]], dtype=object)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import sympy as sp

from derive.core.names import z

if TYPE_CHECKING:
    import numpy as np

    from derive.catalogue.rules import Activation


class TensorBackend:
    """What a tensor node may ask of a backend besides numpy's indexing and arithmetic, which
    work on float arrays and on object arrays of SymPy expressions alike."""

    name: ClassVar[str] = "numpy"

    def __init__(self, sizes: Mapping[sp.Symbol, int] | None = None):
        self.sizes = dict(sizes or {})  # m (and any symbolic size) -> its value

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np
        return np.zeros(shape)

    def scalar(self, value: sp.Expr) -> Any:
        return float(sp.sympify(value, strict=True).subs(self.sizes))

    def act(self, activation: Activation, x: np.ndarray) -> np.ndarray:
        import numpy as np
        return np.asarray(activation.numpy_forward(x), dtype=float)

    def deriv(self, activation: Activation, x: np.ndarray) -> np.ndarray:
        import numpy as np
        return np.broadcast_to(np.asarray(activation.numpy_derivative(x), dtype=float),
                               x.shape).copy()

    def window_max(self, window: np.ndarray) -> np.ndarray:
        """The maximum over axes 1 and 2 of a (m, f, f, C) window, kept as (m, 1, 1, C)."""
        return window.max(axis=(1, 2), keepdims=True)


class NumpyTensors(TensorBackend):
    """float64 arrays."""


class SympyTensors(TensorBackend):
    """Object arrays of SymPy expressions: the SymPy form of every node, entry by entry."""

    name = "sympy"

    def zeros(self, shape: tuple[int, ...]) -> np.ndarray:
        import numpy as np
        out = np.empty(shape, dtype=object)
        out.fill(sp.Integer(0))
        return out

    def scalar(self, value: sp.Expr) -> Any:
        return sp.sympify(value, strict=True).subs(self.sizes)

    def _map(self, fn: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
        import numpy as np
        out = np.empty(x.shape, dtype=object)
        for idx, v in np.ndenumerate(x):
            out[idx] = fn(v)
        return out

    def act(self, activation: Activation, x: np.ndarray) -> np.ndarray:
        return self._map(lambda v: activation.forward.subs(z, v), x)

    def deriv(self, activation: Activation, x: np.ndarray) -> np.ndarray:
        return self._map(lambda v: activation.derivative_at_z.subs(z, v), x)

    def window_max(self, window: np.ndarray) -> np.ndarray:
        import numpy as np
        m_, _, _, c_ = window.shape
        out = np.empty((m_, 1, 1, c_), dtype=object)
        for i in range(m_):
            for c in range(c_):
                args = [sp.sympify(v, strict=True) for v in window[i, :, :, c].ravel()]
                # numbers: the maximum itself; symbols: unevaluated (SymPy's Max of symbols
                # searches for orderings, ~6 ms each, and its derivative needs none)
                out[i, 0, 0, c] = sp.Max(*args, evaluate=all(a.is_number for a in args))
        return out


