"""Printing expressions three ways: Unicode text, LaTeX and numpy code.

Text follows the course's notation: juxtaposition is the matrix product and binds tighter than ⊙,
ᵀ the transpose, (1/m) the mean. Each node type prints itself (its ``to_text``, ``to_latex`` and
``to_code`` methods, beside its shape rule and its value); these functions are the entry points.

>>> import sympy as sp
>>> from derive.core.expr import Sym, MatMul, Transpose, Hadamard, Deriv, Scale, Sum
>>> from derive.catalogue.rules import activations
>>> n1, n2, m = sp.symbols("n1 n2 m")
>>> W2, dZ2, Z1 = Sym("W", 2, (n2, n1)), Sym("dZ", 2, (n2, m)), Sym("Z", 1, (n1, m))
>>> e = Hadamard(MatMul(Transpose(W2), dZ2), Deriv(activations()["relu"], 1, Z1))
>>> to_text(e)
'W[2]ᵀ dZ[2] ⊙ relu′(Z[1])'
>>> to_latex(e)
'W^{[2]\\\\top} dZ^{[2]} \\\\odot \\\\operatorname{ReLU}^{\\\\prime}(Z^{[1]})'
>>> to_code(e)
'np.dot(W2.T, dZ2) * np.int64(Z1 > 0)'
>>> to_code(Scale(1 / m, Sum(dZ2, 1)))
'(1/m) * np.sum(dZ2, axis=1, keepdims=True)'
"""

from __future__ import annotations

from derive.core.node import Expr


def to_text(e: Expr) -> str:
    """Unicode text: ``W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])``."""
    return e.to_text()


def to_latex(e: Expr) -> str:
    """LaTeX: ``W^{[2]\\top} dZ^{[2]} \\odot g^{[1]\\prime}(Z^{[1]})``."""
    return e.to_latex()


def to_code(e: Expr) -> str:
    """numpy code, as the course writes it: ``np.dot(W2.T, dZ2) * np.int64(Z1 > 0)``."""
    return e.to_code()
