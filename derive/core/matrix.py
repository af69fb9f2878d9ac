"""The matrix algebra's nodes: constants, products, element-wise arithmetic, transpose and sums.

Each class holds its shape rule, its value (through the backend), its SymPy form and its printing
(see :mod:`derive.core.node`). Text follows the course's notation: juxtaposition is the matrix
product and binds tighter than ⊙, ᵀ the transpose, (1/m) the mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sympy as sp

from derive.core.names import factor_text, latex_name, m, scalar_code
from derive.core.node import (
    ATOM,
    Backend,
    Ev,
    Expr,
    Shape,
    Sym,
    as_sympy,
    broadcast_shape,
    same,
    wrap_code,
    wrap_latex,
    wrap_text,
)
from derive.errors import ShapeMismatch


@dataclass(frozen=True)
class Ones(Expr):
    """A matrix of ones, 𝟙 (used for sums over units: 𝟙 𝟙ᵀ in the softmax rule)."""

    shape: Shape
    src: str | None = field(default=None, compare=False)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.ones(self.shape)

    def to_sympy(self):
        return sp.OneMatrix(*self.shape)

    def to_text(self) -> str:
        return "𝟙"

    def to_latex(self) -> str:
        return r"\mathbf{1}"

    def to_code(self) -> str:
        return f"np.ones(({self.shape[0]}, {self.shape[1]}))"


@dataclass(frozen=True)
class Scalar(Expr):
    """A scalar constant such as 1/m or 2, as a 1×1 that scales by broadcasting."""

    value: sp.Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        return (sp.Integer(1), sp.Integer(1))

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.scalar(self.value)

    def to_sympy(self):
        return self.value

    def to_text(self) -> str:
        return sp.sstr(self.value)

    def to_latex(self) -> str:
        return sp.latex(self.value)

    def to_code(self) -> str:
        return sp.pycode(self.value)


def _is_scalar(e: Expr) -> bool:
    return isinstance(e, Scalar)


@dataclass(frozen=True)
class MatMul(Expr):
    """The matrix product A B (numpy ``np.dot``); the inner sizes must agree."""

    left: Expr
    right: Expr
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        (_, c1), (r2, _) = self.left.shape, self.right.shape
        if not same(c1, r2):
            raise ShapeMismatch(
                "matrix product",
                self.left.written(),
                self.right.written(),
                self.left.shape,
                self.right.shape,
                f"inner dimensions {c1} and {r2} differ",
            )

    @property
    def shape(self) -> Shape:
        return (self.left.shape[0], self.right.shape[1])

    def children(self):
        return (self.left, self.right)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.matmul(ev(self.left), ev(self.right))

    def to_sympy(self):
        return sp.MatMul(self.left.to_sympy(), self.right.to_sympy())

    text_prec = 3

    def to_text(self) -> str:
        return f"{wrap_text(self.left, 3)} {wrap_text(self.right, 3)}"

    def to_latex(self) -> str:
        return f"{wrap_latex(self.left, 3)} {wrap_latex(self.right, 3)}"

    def to_code(self) -> str:
        return f"np.dot({self.left.to_code()}, {self.right.to_code()})"


@dataclass(frozen=True)
class _EntryWise(Expr):
    """A binary operation entry by entry: equal shapes, or numpy's broadcasting where
    ``broadcast`` (a scalar always broadcasts where the class says ``scalars_broadcast``)."""

    left: Expr
    right: Expr
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    operation: ClassVar[str]  # how a shape error names it: "sum", "element-wise product", ...
    scalars_broadcast: ClassVar[bool] = False

    def __post_init__(self):
        scalar = self.scalars_broadcast and (_is_scalar(self.left) or _is_scalar(self.right))
        broadcast_shape(self.operation, self.left, self.right, self.broadcast or scalar)

    @property
    def shape(self) -> Shape:
        return broadcast_shape(self.operation, self.left, self.right, True)

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Hadamard(_EntryWise):
    """The element-wise product A ⊙ B (numpy ``*``); ``broadcast`` allows numpy broadcasting."""

    operation = "element-wise product"
    scalars_broadcast = True

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.multiply(ev(self.left), ev(self.right))

    def to_sympy(self):
        return sp.HadamardProduct(self.left.to_sympy(), self.right.to_sympy())

    text_prec = 2
    code_prec = 2

    def to_text(self) -> str:
        return f"{wrap_text(self.left, 2)} ⊙ {wrap_text(self.right, 2)}"

    def to_latex(self) -> str:
        return rf"{wrap_latex(self.left, 2)} \odot {wrap_latex(self.right, 2)}"

    def to_code(self) -> str:
        return f"{wrap_code(self.left, 2)} * {wrap_code(self.right, 2)}"


@dataclass(frozen=True)
class Add(_EntryWise):
    """A + B; ``broadcast`` allows numpy broadcasting (Z = W A + b)."""

    operation = "sum"

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.add(ev(self.left), ev(self.right))

    def to_sympy(self):
        return sp.MatAdd(self.left.to_sympy(), self.right.to_sympy())

    text_prec = 1
    code_prec = 1

    def to_text(self) -> str:
        return f"{self.left.to_text()} + {wrap_text(self.right, 1)}"

    def to_latex(self) -> str:
        return f"{self.left.to_latex()} + {wrap_latex(self.right, 1)}"

    def to_code(self) -> str:
        return f"{self.left.to_code()} + {self.right.to_code()}"


@dataclass(frozen=True)
class Sub(_EntryWise):
    """A − B; ``broadcast`` allows numpy broadcasting."""

    operation = "difference"

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.subtract(ev(self.left), ev(self.right))

    def to_sympy(self):
        return sp.MatAdd(self.left.to_sympy(), -self.right.to_sympy())

    text_prec = 1
    code_prec = 1

    def to_text(self) -> str:
        return f"{self.left.to_text()} − {wrap_text(self.right, 2)}"

    def to_latex(self) -> str:
        return f"{self.left.to_latex()} - {wrap_latex(self.right, 2)}"

    def to_code(self) -> str:
        return f"{self.left.to_code()} - {wrap_code(self.right, 2)}"


@dataclass(frozen=True)
class Div(_EntryWise):
    """Element-wise division A ⊘ B (numpy ``/``); its SymPy form is a named matrix symbol."""

    operation = "element-wise division"
    scalars_broadcast = True

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.divide(ev(self.left), ev(self.right))

    text_prec = 2
    code_prec = 2

    def to_text(self) -> str:
        return f"{wrap_text(self.left, 2)} ⊘ {wrap_text(self.right, 3)}"

    def to_latex(self) -> str:
        return rf"{wrap_latex(self.left, 2)} \oslash {wrap_latex(self.right, 3)}"

    def to_code(self) -> str:
        return f"{wrap_code(self.left, 2)} / {wrap_code(self.right, ATOM)}"


@dataclass(frozen=True)
class Scale(Expr):
    """A scalar times a matrix: ``Scale(1/m, dZ Aᵀ)`` is (1/m) dZ Aᵀ."""

    factor: sp.Expr
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        return self.arg.shape

    def children(self):
        return (self.arg,)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.scale(self.factor, ev(self.arg))

    def to_sympy(self):
        return self.factor * self.arg.to_sympy()

    text_prec = 3
    code_prec = 2

    def to_text(self) -> str:
        f = as_sympy(self.factor)
        if f == -1:
            factor = "−"
        else:  # 2 W, 0.1 W, λ W; (1/m) W, (2λ) W
            factor = f"{factor_text(f)} "
        return f"{factor}{wrap_text(self.arg, 3)}"

    def to_latex(self) -> str:
        f = as_sympy(self.factor)
        factor = "-" if f == -1 else sp.latex(f) + " "
        return f"{factor}{wrap_latex(self.arg, 3)}"

    def to_code(self) -> str:
        f = as_sympy(self.factor)
        if f == -1:
            return f"-{wrap_code(self.arg, ATOM)}"
        fs = scalar_code(f) if f.is_Integer or f.is_Float or f.is_Symbol else f"({scalar_code(f)})"
        return f"{fs} * {wrap_code(self.arg, 2)}"


def transpose_latex(s: str) -> str:
    """``s^{\\top}``, or, when ``s`` already ends in a superscript group (``A^{[1]}``, a quantity
    named in a worked example), ``\\top`` inside that group: a second ``^`` is a LaTeX error."""
    if s.endswith("}"):
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {"}": 1, "{": -1}.get(s[i], 0)
            if depth == 0:
                if s[i - 1:i] == "^" and not s[:i - 1].endswith("\\"):
                    return s[:-1] + r"\top}"
                break
    return f"{s}^{{\\top}}"


@dataclass(frozen=True)
class Transpose(Expr):
    """Aᵀ (numpy ``.T``)."""

    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        r, c = self.arg.shape
        return (c, r)

    def children(self):
        return (self.arg,)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.transpose(ev(self.arg))

    def to_sympy(self):
        return sp.Transpose(self.arg.to_sympy())

    def to_text(self) -> str:
        return f"{wrap_text(self.arg, ATOM)}ᵀ"

    def to_latex(self) -> str:
        inner = self.arg
        if (
            isinstance(inner, Sym)
            and inner.layer is not None
            and not (inner.base == "A" and inner.layer == 0)
        ):
            return latex_name(inner.base, inner.layer)[:-1] + r"\top}"  # W^{[2]\top}
        return transpose_latex(wrap_latex(inner, ATOM))

    def to_code(self) -> str:
        return f"{wrap_code(self.arg, ATOM)}.T"


@dataclass(frozen=True)
class Sum(Expr):
    """numpy's ``np.sum(arg, axis=axis, keepdims=True)``; ``axis=None`` sums every entry (1×1)."""

    arg: Expr
    axis: int | None
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        r, c = self.arg.shape
        one = sp.Integer(1)
        return {0: (one, c), 1: (r, one), None: (one, one)}[self.axis]

    def children(self):
        return (self.arg,)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.sum(ev(self.arg), self.axis)

    def to_sympy(self):
        inner = self.arg.to_sympy()
        r, c = self.arg.shape
        if self.axis == 1:
            return sp.MatMul(inner, sp.OneMatrix(c, 1))
        if self.axis == 0:
            return sp.MatMul(sp.OneMatrix(1, r), inner)
        return sp.MatMul(sp.OneMatrix(1, r), inner, sp.OneMatrix(c, 1))

    def _squared(self) -> Expr | None:
        """X when this is the sum of every entry of X ⊙ X: ‖X‖²_F, as the L2 penalty prints."""
        arg = self.arg
        if self.axis is None and isinstance(arg, Hadamard) and arg.left == arg.right:
            return arg.left
        return None

    def to_text(self) -> str:
        x = self._squared()
        if x is not None:
            return f"‖{x.to_text()}‖²"
        axis = "all" if self.axis is None else self.axis
        return f"sum({self.arg.to_text()}, axis={axis})"

    def to_latex(self) -> str:
        x = self._squared()
        if x is not None:
            return rf"\lVert {x.to_latex()} \rVert_F^2"
        arg = self.arg
        if self.axis is not None and arg.shape[self.axis] == m:  # over the examples: Σᵢ
            if isinstance(arg, Sym) and arg.layer is not None:
                body = latex_name(arg.base, arg.layer)[:-1] + "(i)}"
            else:
                body = rf"\left({arg.to_latex()}\right)^{{(i)}}"
            return rf"\sum_{{i=1}}^{{m}} {body}"
        axis = "all" if self.axis is None else self.axis
        return rf"\operatorname{{sum}}_{{\text{{axis}}={axis}}}\left({arg.to_latex()}\right)"

    def to_code(self) -> str:
        if self.axis is None:
            return f"np.sum({self.arg.to_code()})"
        return f"np.sum({self.arg.to_code()}, axis={self.axis}, keepdims=True)"
