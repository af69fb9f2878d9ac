"""Matrix expressions: a small immutable tree, its shapes, and its evaluation.

Why our own tree rather than SymPy's MatMul/HadamardProduct: SymPy's matrix expressions do not
check symbolic shapes (``dZ2*W2.T`` is accepted), cannot name the operands a user wrote in an error,
have no element-wise division or per-entry functions that ``lambdify`` can evaluate, and
``MatrixSymbol.diff`` is wrong for composite costs (docs/design.md). This tree is all the engine
needs; :meth:`Expr.to_sympy` gives the SymPy matrix expression for users who want one, and SymPy
does the scalar calculus inside :class:`Pointwise` and :class:`Deriv`.

Every node knows its shape; building a node whose shapes clash raises :class:`ShapeMismatch`
naming the operation, both operands as written and both shapes:

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

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.errors import ShapeMismatch

Shape = tuple[sp.Expr, sp.Expr]


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


def _same(a, b) -> bool:
    return bool(as_sympy(a) == as_sympy(b))


class Expr:
    """Base of the expression tree. Subclasses are frozen dataclasses with a ``shape``."""

    shape: Shape
    src: str | None = None  # the operand as the user wrote it (set by the parsers)

    def children(self) -> tuple[Expr, ...]:
        return ()

    def written(self) -> str:
        """How to name this operand in a message: as written if known, else printed."""
        if self.src:
            return self.src
        from derive.core.printing import to_text

        return to_text(self)

    def walk(self):
        yield self
        for c in self.children():
            yield from c.walk()

    def symbols(self) -> set[Sym]:
        return {e for e in self.walk() if isinstance(e, Sym)}

    def to_sympy(self):
        """The same expression as a SymPy matrix expression (for printing and for users)."""
        return _to_sympy(self)

    def _repr_latex_(self) -> str:
        from derive.core.printing import to_latex

        return f"${to_latex(self)}$"

    def __str__(self) -> str:
        from derive.core.printing import to_text

        return to_text(self)


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
        from derive.network.symbols import text_name

        return text_name(self.base, self.layer)

    @property
    def latex(self) -> str:
        from derive.network.symbols import latex_name

        return latex_name(self.base, self.layer)

    @property
    def code(self) -> str:
        from derive.network.symbols import code_name

        return code_name(self.base, self.layer)


@dataclass(frozen=True)
class Ones(Expr):
    """A matrix of ones, 𝟙 (used for sums over units: 𝟙 𝟙ᵀ in the softmax rule)."""

    shape: Shape
    src: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Scalar(Expr):
    """A scalar constant such as 1/m or 2, as a 1×1 that scales by broadcasting."""

    value: sp.Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return (sp.Integer(1), sp.Integer(1))


@dataclass(frozen=True)
class MatMul(Expr):
    left: Expr
    right: Expr
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        (_, c1), (r2, _) = self.left.shape, self.right.shape
        if not _same(c1, r2):
            raise ShapeMismatch(
                "matrix product",
                self.left.written(),
                self.right.written(),
                self.left.shape,
                self.right.shape,
                f"inner dimensions {c1} and {r2} differ",
            )

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return (self.left.shape[0], self.right.shape[1])

    def children(self):
        return (self.left, self.right)


def _broadcast(op: str, left: Expr, right: Expr, broadcast: bool) -> Shape:
    out = []
    for axis, (a, b) in enumerate(zip(left.shape, right.shape, strict=True)):
        if _same(a, b):
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


@dataclass(frozen=True)
class Hadamard(Expr):
    """The element-wise product A ⊙ B (numpy ``*``); ``broadcast`` allows numpy broadcasting."""

    left: Expr
    right: Expr
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        _broadcast(
            "element-wise product",
            self.left,
            self.right,
            self.broadcast or _is_scalar(self.left) or _is_scalar(self.right),
        )

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return _broadcast("element-wise product", self.left, self.right, True)

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Add(Expr):
    left: Expr
    right: Expr
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        _broadcast("sum", self.left, self.right, self.broadcast)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return _broadcast("sum", self.left, self.right, True)

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Sub(Expr):
    left: Expr
    right: Expr
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        _broadcast("difference", self.left, self.right, self.broadcast)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return _broadcast("difference", self.left, self.right, True)

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Div(Expr):
    """Element-wise division A ⊘ B (numpy ``/``)."""

    left: Expr
    right: Expr
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        _broadcast(
            "element-wise division",
            self.left,
            self.right,
            self.broadcast or _is_scalar(self.left) or _is_scalar(self.right),
        )

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return _broadcast("element-wise division", self.left, self.right, True)

    def children(self):
        return (self.left, self.right)


@dataclass(frozen=True)
class Scale(Expr):
    """A scalar times a matrix: ``Scale(1/m, dZ Aᵀ)`` is (1/m) dZ Aᵀ."""

    factor: sp.Expr
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return self.arg.shape

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Transpose(Expr):
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        r, c = self.arg.shape
        return (c, r)

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Sum(Expr):
    """numpy's ``np.sum(arg, axis=axis, keepdims=True)``; ``axis=None`` sums every entry (1×1)."""

    arg: Expr
    axis: int | None
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        r, c = self.arg.shape
        one = sp.Integer(1)
        return {0: (one, c), 1: (r, one), None: (one, one)}[self.axis]

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Deriv(Expr):
    """g′(arg) applied entry by entry: the layer's activation derivative (``None``: generic g[l])."""

    activation: object  # rules.Activation | None
    layer: int
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return self.arg.shape

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Act(Expr):
    """g(arg) applied entry by entry (``None``: generic g[l])."""

    activation: object
    layer: int
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return self.arg.shape

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Pointwise(Expr):
    """A scalar SymPy expression in ``params`` applied entry by entry to equally shaped ``args``.

    ``Pointwise(a - y, (a, y), (A2, Y))`` is A[2] − Y. The engine makes these from SymPy's
    derivative of a loss (dA[L]) and from output-layer simplifications (dZ[L] = A[L] − Y).
    """

    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    args: tuple[Expr, ...]
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        for other in self.args[1:]:
            _broadcast("element-wise expression", self.args[0], other, False)

    @property
    def shape(self) -> Shape:  # type: ignore[override]
        return self.args[0].shape

    def children(self):
        return self.args


def map_children(expr: Expr, fn: Callable[[Expr], Expr], **overrides) -> Expr:
    """The node rebuilt (through its checked constructor) with ``fn`` applied to each child
    expression, and any other fields given in ``overrides``; the building block of every tree
    rewrite (binding m, substituting a node, concrete sizes).

    >>> n, m = sp.symbols("n m")
    >>> e = Transpose(Sym("dZ", 1, (n, m)))
    >>> map_children(e, lambda c: Sym("A", 1, c.shape)).arg.base
    'A'
    """
    from dataclasses import fields, replace

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


def _is_scalar(e: Expr) -> bool:
    return isinstance(e, Scalar)


# -- evaluation ----------------------------------------------------------------------------------
class NumpyBackend:
    """Evaluates with numpy in float64. Values may carry leading batch axes: (..., rows, cols)."""

    def __init__(self, standins: Mapping[int, object] | None = None):
        # stand-ins: layer -> activation-like object used where the network's g[l] is generic
        self.standins = standins or {}

    def activation(self, act, layer):
        return act if act is not None else self.standins[layer]

    def matmul(self, a, b):
        return np.matmul(a, b)

    def transpose(self, a):
        return np.swapaxes(a, -1, -2)

    def sum(self, a, axis):
        if axis is None:
            return np.sum(a, axis=(-2, -1), keepdims=True)
        return np.sum(a, axis=axis - 2, keepdims=True)

    def ones(self, shape):
        return np.ones(tuple(int(d) for d in shape))

    def scalar(self, value):
        return np.array([[float(value)]])

    def deriv(self, act, layer, x):
        return np.asarray(
            self.activation(act, layer).numpy_derivative(x), dtype=float
        ) * np.ones_like(x)

    def act(self, act, layer, x):
        return np.asarray(self.activation(act, layer).numpy_forward(x), dtype=float) * np.ones_like(
            x
        )

    def pointwise(self, expr, params, values):
        fn = _lambdify(params, expr)
        return np.asarray(fn(*values), dtype=float) * np.ones_like(values[0])


@functools.lru_cache(maxsize=512)
def _lambdify(params, expr) -> Callable:
    # The numpy module object, not "numpy": SymPy then skips `from numpy import *` (~0.2 s cold).
    return sp.lambdify(params, expr, [np])


class SympyBackend:
    """Evaluates on explicit SymPy matrices. With ``generic=True`` every element-wise activation is
    an undefined function g_l (so a proof holds for any g); otherwise the catalogue's own."""

    def __init__(self, generic: bool = False, layers: Mapping[int, object] | None = None):
        self.generic = generic
        self.layers = layers or {}  # layer -> the network's activation there

    def _fn(self, layer):
        return sp.Function(f"g{layer}")

    def _use_generic(self, act, layer) -> bool:
        # g_l stands for the layer's own activation only: another activation's derivative written
        # at layer l stays concrete, so a proof can tell them apart.
        if act is None:
            return True
        own = self.layers.get(layer, act)
        return self.generic and act.elementwise and act == own

    def matmul(self, a, b):
        return a * b

    def transpose(self, a):
        return a.T

    def sum(self, a, axis):
        if axis is None:
            return sp.Matrix([[sum(a)]])
        if axis == 0:
            return sp.ones(1, a.rows) * a
        return a * sp.ones(a.cols, 1)

    def ones(self, shape):
        return sp.ones(int(shape[0]), int(shape[1]))

    def scalar(self, value):
        return sp.Matrix([[value]])

    def deriv(self, act, layer, x):
        if self._use_generic(act, layer):
            t = sp.Dummy("t")
            d = sp.diff(self._fn(layer)(t), t)
            return x.applyfunc(
                lambda e: d.subs(t, e) if not e.is_Symbol else sp.diff(self._fn(layer)(e), e)
            )
        from derive.catalogue.rules import z

        return x.applyfunc(lambda e: act.derivative_at_z.subs(z, e))

    def act(self, act, layer, x):
        if self._use_generic(act, layer):
            return x.applyfunc(self._fn(layer))
        from derive.catalogue.rules import z

        return x.applyfunc(lambda e: act.forward.subs(z, e))

    def pointwise(self, expr, params, values):
        first = values[0]
        return sp.Matrix(
            first.rows,
            first.cols,
            lambda i, j: expr.subs({p: v[i, j] for p, v in zip(params, values, strict=True)}, simultaneous=True),
        )


def _is_sympy(v) -> bool:
    return isinstance(v, sp.MatrixBase)


def evaluate(expr: Expr, env: Mapping, backend) -> object:
    """The value of ``expr`` with ``env[(base, layer)]`` giving each symbol's value."""
    memo: dict[int, object] = {}

    def ev(e: Expr):
        key = id(e)
        if key in memo:
            return memo[key]
        out = _eval_node(e, ev, env, backend)
        memo[key] = out
        return out

    return ev(expr)


def _eval_node(e: Expr, ev, env, backend):
    if isinstance(e, Sym):
        try:
            return env[e.key]
        except KeyError:
            raise KeyError(f"no value for {e.written()}") from None
    if isinstance(e, Ones):
        return backend.ones(e.shape)
    if isinstance(e, Scalar):
        return backend.scalar(e.value)
    if isinstance(e, MatMul):
        return backend.matmul(ev(e.left), ev(e.right))
    if isinstance(e, Hadamard | Add | Sub | Div):
        a, b = ev(e.left), ev(e.right)
        if _is_sympy(a):
            return _sympy_binary(type(e), a, b)
        if isinstance(e, Hadamard):
            return a * b
        if isinstance(e, Add):
            return a + b
        if isinstance(e, Sub):
            return a - b
        return a / b
    if isinstance(e, Scale):
        v = ev(e.arg)
        return v * (e.factor if _is_sympy(v) else float(e.factor))
    if isinstance(e, Transpose):
        return backend.transpose(ev(e.arg))
    if isinstance(e, Sum):
        return backend.sum(ev(e.arg), e.axis)
    if isinstance(e, Deriv):
        return backend.deriv(e.activation, e.layer, ev(e.arg))
    if isinstance(e, Act):
        return backend.act(e.activation, e.layer, ev(e.arg))
    if isinstance(e, Pointwise):
        return backend.pointwise(e.expr, e.params, [ev(a) for a in e.args])
    raise TypeError(f"cannot evaluate {type(e).__name__}")


def _sympy_binary(kind, a, b):
    def bcast(x, rows, cols):
        if x.shape == (rows, cols):
            return x
        return sp.Matrix(rows, cols, lambda i, j: x[i if x.rows > 1 else 0, j if x.cols > 1 else 0])

    rows, cols = max(a.rows, b.rows), max(a.cols, b.cols)
    a, b = bcast(a, rows, cols), bcast(b, rows, cols)
    if kind is Add:
        return a + b
    if kind is Sub:
        return a - b
    if kind is Hadamard:
        return a.multiply_elementwise(b)
    return sp.Matrix(rows, cols, lambda i, j: a[i, j] / b[i, j])


# -- SymPy matrix expressions (for users and printing) -------------------------------------------
def _to_sympy(e: Expr):
    from derive.core.printing import to_text

    if isinstance(e, Sym):
        return sp.MatrixSymbol(to_text(e), *e.shape)
    if isinstance(e, Ones):
        return sp.OneMatrix(*e.shape)
    if isinstance(e, Scalar):
        return e.value
    if isinstance(e, MatMul):
        return sp.MatMul(_to_sympy(e.left), _to_sympy(e.right))
    if isinstance(e, Hadamard):
        return sp.HadamardProduct(_to_sympy(e.left), _to_sympy(e.right))
    if isinstance(e, Add):
        return sp.MatAdd(_to_sympy(e.left), _to_sympy(e.right))
    if isinstance(e, Sub):
        return sp.MatAdd(_to_sympy(e.left), -_to_sympy(e.right))
    if isinstance(e, Scale):
        return e.factor * _to_sympy(e.arg)
    if isinstance(e, Transpose):
        return sp.Transpose(_to_sympy(e.arg))
    if isinstance(e, Sum):
        inner = _to_sympy(e.arg)
        r, c = e.arg.shape
        if e.axis == 1:
            return sp.MatMul(inner, sp.OneMatrix(c, 1))
        if e.axis == 0:
            return sp.MatMul(sp.OneMatrix(1, r), inner)
        return sp.MatMul(sp.OneMatrix(1, r), inner, sp.OneMatrix(c, 1))
    # element-wise functions have no faithful SymPy matrix-expression form: a named function symbol
    return sp.MatrixSymbol(to_text(e), *e.shape)
