"""The expression tree's base: what every node defines, what a node may ask of a backend, the
leaf :class:`Sym` (a named quantity) and the helpers the node types share.

A node type is one class (a frozen dataclass deriving from :class:`Expr`) that holds, together:

- its **shape rule**: ``shape`` (a field or a property) and, in ``__post_init__``, the check that
  raises :class:`~derive.errors.ShapeMismatch` naming the operation, both operands and both shapes;
- its **evaluation**: ``compute(backend, ev, env)``, its value from its children's values
  (``ev(child)``), written once against the :class:`Backend` interface, so the numpy evaluator
  and the SymPy one are the same code;
- its **SymPy form**: ``to_sympy()``, a SymPy matrix expression (by default a named
  ``MatrixSymbol``, for nodes SymPy has no faithful form of);
- its **printing**: ``to_text()``, ``to_latex()``, ``to_code()``, and the precedences
  ``text_prec`` (text and LaTeX) and ``code_prec`` that decide where its parent puts parentheses.

Nothing outside the class dispatches on the node's type: the evaluator, the printers and
:func:`map_children` only call these methods, so a new node (a convolution, an index sum) is one
class and touches no other function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import sympy as sp

from derive.core.names import code_name, latex_name, text_name
from derive.errors import ShapeMismatch

Shape = tuple[sp.Expr, sp.Expr]

ATOM = 9  # the precedence of a name, a call or a bracket: never parenthesized


def as_sympy(value) -> sp.Basic:
    """A number or SymPy object as SymPy, never text: ``strict=True`` makes ``sympify`` refuse a
    string, so no path can turn user text into code. Every conversion in the package goes here.

    >>> as_sympy(3), as_sympy(sp.Symbol("n") + 1)
    (3, n + 1)
    >>> as_sympy("x + 1")
    Traceback (most recent call last):
    ...
    sympy.core.sympify.SympifyError: SympifyError: 'x + 1'
    """
    return sp.sympify(value, strict=True)


def same(a, b) -> bool:
    """Are two sizes equal (SymPy's structural equality: n1 and n1, 3 and 3)?"""
    return bool(as_sympy(a) == as_sympy(b))


class MissingValue(KeyError):
    """No value for a symbol: ``args[0]`` says so (``no value for W[2]``), ``key`` is its
    (base, layer)."""

    def __init__(self, message: str, key: tuple[str, int | None]):
        super().__init__(message)
        self.key = key


class Backend(Protocol):
    """What a node may ask of a backend: numpy arrays (..., rows, cols) or SymPy matrices."""

    def ones(self, shape: Shape) -> Any: ...
    def scalar(self, value: sp.Expr) -> Any: ...
    def scale(self, factor: sp.Expr, a: Any) -> Any: ...
    def matmul(self, a: Any, b: Any) -> Any: ...
    def multiply(self, a: Any, b: Any) -> Any: ...  # element-wise, with broadcasting
    def add(self, a: Any, b: Any) -> Any: ...
    def subtract(self, a: Any, b: Any) -> Any: ...
    def divide(self, a: Any, b: Any) -> Any: ...
    def transpose(self, a: Any) -> Any: ...
    def sum(self, a: Any, axis: int | None) -> Any: ...
    def act(self, activation: Any, layer: int, a: Any) -> Any: ...
    def deriv(self, activation: Any, layer: int, a: Any) -> Any: ...
    def pointwise(self, expr: sp.Expr, params: tuple[sp.Symbol, ...], values: Sequence[Any]) -> Any: ...


Ev = Callable[["Expr"], Any]  # a child's value, in Expr.compute


class Expr:
    """Base of the expression tree. Subclasses are frozen dataclasses with a ``shape``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]  # every node is a dataclass (map_children)
    if TYPE_CHECKING:  # a field in Sym and Ones, a property elsewhere

        @property
        def shape(self) -> Shape: ...

    src: str | None = None  # the operand as the user wrote it (set by the parsers)

    # -- the tree --------------------------------------------------------------------------------
    def children(self) -> tuple[Expr, ...]:
        return ()

    def written(self) -> str:
        """How to name this operand in a message: as written if known, else printed."""
        if self.src:
            return self.src
        return self.to_text()

    def walk(self):
        yield self
        for c in self.children():
            yield from c.walk()

    def symbols(self) -> set[Sym]:
        """The named quantities in the tree."""
        return {e for e in self.walk() if isinstance(e, Sym)}

    # -- evaluation ------------------------------------------------------------------------------
    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        """This node's value: ``ev(child)`` is a child's value, ``env`` maps (base, layer) to a
        symbol's value (see :func:`~derive.core.evaluation.evaluate`)."""
        raise TypeError(f"cannot evaluate {type(self).__name__}")

    # -- SymPy -----------------------------------------------------------------------------------
    def to_sympy(self):
        """The same expression as a SymPy matrix expression (for printing and for users); a node
        SymPy has no faithful form of (an element-wise function) is a named matrix symbol."""
        return sp.MatrixSymbol(self.to_text(), *self.shape)

    # -- printing --------------------------------------------------------------------------------
    @property
    def text_prec(self) -> int:
        """Binding strength in text and LaTeX: 1 sums, 2 ⊙ ⊘, 3 products, ATOM names and calls."""
        return ATOM

    @property
    def code_prec(self) -> int:
        """Binding strength in numpy code: 1 sums, 2 ``*`` ``/``, ATOM names and calls."""
        return ATOM

    def to_text(self) -> str:
        raise TypeError(type(self).__name__)

    def to_latex(self) -> str:
        raise TypeError(type(self).__name__)

    def to_code(self) -> str:
        raise TypeError(type(self).__name__)

    def _repr_latex_(self) -> str:
        return f"${self.to_latex()}$"

    def __str__(self) -> str:
        return self.to_text()


@dataclass(frozen=True, eq=True)
class Sym(Expr):
    """A named quantity: ``Sym("W", 2, shape)`` is W[2]; ``Sym("X", None, shape)`` is X."""

    base: str
    layer: int | None
    shape: Shape
    src: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.base, self.layer)

    @property
    def text(self) -> str:
        return text_name(self.base, self.layer)

    @property
    def latex(self) -> str:
        return latex_name(self.base, self.layer)

    @property
    def code(self) -> str:
        return code_name(self.base, self.layer)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        try:
            return env[self.key]
        except KeyError:
            raise MissingValue(f"no value for {self.written()}", self.key) from None

    def to_sympy(self):
        return sp.MatrixSymbol(self.text, *self.shape)

    def to_text(self) -> str:
        return self.text

    def to_latex(self) -> str:
        return self.latex

    def to_code(self) -> str:
        return self.code


# -- printing helpers: a child in parentheses when it binds less than its place needs -------------
def wrap_text(x: Expr, need: int) -> str:
    s = x.to_text()
    return f"({s})" if x.text_prec < need else s


def wrap_latex(x: Expr, need: int) -> str:
    s = x.to_latex()
    return rf"\left({s}\right)" if x.text_prec < need else s


def wrap_code(x: Expr, need: int) -> str:
    s = x.to_code()
    return f"({s})" if x.code_prec < need else s


# -- shape rules shared by the element-wise operations --------------------------------------------
def broadcast_shape(op: str, left: Expr, right: Expr, broadcast: bool) -> Shape:
    """The shape of an element-wise ``op`` of ``left`` and ``right``; a size 1 stretches only when
    ``broadcast`` (numpy's rule), else the shapes must be equal."""
    out = []
    for axis, (a, b) in enumerate(zip(left.shape, right.shape, strict=True)):
        if same(a, b):
            out.append(a)
        elif broadcast and a == 1:
            out.append(b)
        elif broadcast and b == 1:
            out.append(a)
        else:
            what = "rows" if axis == 0 else "columns"
            raise ShapeMismatch(
                op,
                left.written(),
                right.written(),
                left.shape,
                right.shape,
                f"{what} {a} and {b} differ"
                + ("" if broadcast else " (an element-wise operation needs equal shapes)"),
            )
    return (out[0], out[1])


def map_children(expr: Expr, fn: Callable[[Expr], Expr], **overrides) -> Expr:
    """The node rebuilt (through its checked constructor) with ``fn`` applied to each child
    expression, and any other fields given in ``overrides``; the building block of every tree
    rewrite (binding m, substituting a node, concrete sizes).

    >>> from derive.core.expr import Sym, Transpose
    >>> n, m = sp.symbols("n m")
    >>> e = Transpose(Sym("dZ", 1, (n, m)))
    >>> map_children(e, lambda c: Sym("A", 1, c.shape)).arg.base
    'A'
    """
    changes = dict(overrides)
    for f in fields(expr):
        if f.name in changes:
            continue
        v = getattr(expr, f.name)
        if isinstance(v, Expr):
            changes[f.name] = fn(v)
        elif isinstance(v, tuple) and v and isinstance(v[0], Expr):
            changes[f.name] = tuple(fn(x) for x in v)
    return replace(expr, **changes) if changes else expr
