"""Matrix expressions: a small immutable tree, its shapes, and its evaluation.

Why our own tree rather than SymPy's MatMul/HadamardProduct: SymPy's matrix expressions do not
check symbolic shapes (``dZ2*W2.T`` is accepted), cannot name the operands a user wrote in an error,
have no element-wise division or per-entry functions that ``lambdify`` can evaluate, and
``MatrixSymbol.diff`` is wrong for composite costs (docs/design.md). This tree is all the engine
needs; :meth:`Expr.to_sympy` gives the SymPy matrix expression for users who want one, and SymPy
does the scalar calculus inside :class:`Pointwise` and :class:`Deriv`.

This module is the language's public face; each node type is one class that holds its shape rule,
its value, its SymPy form and its printing (:mod:`derive.core.node` says what a node defines):
:mod:`~derive.core.node` the base and :class:`Sym`, :mod:`~derive.core.matrix` the matrix algebra,
:mod:`~derive.core.elementwise` the entry-by-entry functions, :mod:`~derive.core.evaluation` the
one evaluator and its numpy and SymPy backends.

Every node knows its shape; building a node whose shapes clash raises :class:`ShapeMismatch`
naming the operation, both operands as written and both shapes:

>>> import sympy as sp
>>> n1, n2, m = sp.symbols("n1 n2 m")
>>> dZ2, W2 = Sym("dZ", 2, (n2, m)), Sym("W", 2, (n2, n1))
>>> MatMul(Transpose(W2), dZ2).shape
(n1, m)
>>> MatMul(dZ2, Transpose(W2))
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: matrix product dZ[2] and W[2]ᵀ: (n2×m)·(n1×n2) — inner dimensions m and n1 differ
"""

from __future__ import annotations

from derive.core.elementwise import Act, Activation, Deriv, Pointwise
from derive.core.evaluation import NumpyBackend, SympyBackend, evaluate
from derive.core.matrix import Add, Div, Hadamard, MatMul, Ones, Scalar, Scale, Sub, Sum, Transpose
from derive.core.node import Backend, Expr, MissingValue, Shape, Sym, as_sympy, map_children

__all__ = [
    "Act", "Activation", "Add", "Backend", "Deriv", "Div", "Expr", "Hadamard", "MatMul",
    "MissingValue", "NumpyBackend", "Ones", "Pointwise", "Scalar", "Scale", "Shape", "Sub", "Sum",
    "Sym", "SympyBackend", "Transpose", "as_sympy", "evaluate", "map_children",
]
