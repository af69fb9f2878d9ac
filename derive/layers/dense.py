"""The dense layer: Z[l] = W[l] A[l-1] + b[l] (columns) or A[l-1] W[l] + b[l] (rows), A[l] = g[l](Z[l]).

The affine map is written here once, for numpy arrays (with any leading batch axes) and for
explicit SymPy matrices alike:

>>> import numpy as np, sympy as sp
>>> from derive.network.layout import LAYOUTS
>>> W, A, b = np.ones((2, 3)), np.ones((3, 4)), np.arange(2.0).reshape(2, 1)
>>> affine(LAYOUTS["columns"], W, A, b)[:, 0]
array([3., 4.])
>>> affine(LAYOUTS["rows"], sp.Matrix([[1], [2]]), sp.Matrix([[1, 1], [0, 1]]), sp.Matrix([[5]]))
Matrix([
[8],
[7]])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from derive.network.layout import Layout


def affine(layout: Layout, W: Any, A: Any, b: Any) -> Any:
    """Z = W A + b broadcast over the examples, in the layout's order (numpy or SymPy)."""
    first, second = layout.ordered(W, A)
    if isinstance(first, sp.MatrixBase):
        product = first * second
        ones = sp.ones(1, product.cols) if layout.columns else sp.ones(product.rows, 1)
        return product + (b * ones if layout.columns else ones * b)
    return np.matmul(first, second) + b
