"""Functions applied entry by entry: an activation g(Z), its derivative g′(Z), and a scalar SymPy
expression over equally shaped operands (:class:`Pointwise`, e.g. A − Y from a loss's derivative).

Each class holds its shape rule, its value (through the backend), its printing (see
:mod:`derive.core.node`); SymPy's matrix expressions have no faithful form of these, so their
``to_sympy`` is the default named matrix symbol. An activation is any object with the attributes
of :class:`Activation` (the catalogue's entries have them); core never imports the catalogue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from derive.core.names import code_name
from derive.core.node import (
    ATOM,
    Backend,
    Ev,
    Expr,
    Shape,
    Sym,
    broadcast_shape,
    same,
    wrap_code,
    wrap_latex,
    wrap_text,
)
from derive.errors import ShapeMismatch


class Activation(Protocol):
    """What core asks of an activation: how to print it, its SymPy forms in z and its numpy forms.

    ``kind`` is ``"elementwise"`` or ``"softmax"`` (softmax is applied along the unit axis by the
    backends; its ``forward`` is only a placeholder)."""

    @property
    def name(self) -> str: ...  # also the numpy function name in code: relu(Z1)
    @property
    def kind(self) -> str: ...
    @property
    def elementwise(self) -> bool: ...
    @property
    def text(self) -> str: ...
    @property
    def latex(self) -> str: ...
    @property
    def derivative_numpy(self) -> str: ...  # numpy code of g′ in Z (and/or A)
    @property
    def forward(self) -> sp.Expr: ...  # g(z)
    @property
    def derivative_at_z(self) -> sp.Expr: ...  # g′(z)
    @property
    def numpy_forward(self) -> Callable: ...
    @property
    def numpy_derivative(self) -> Callable: ...


def _fname_text(activation: Activation | None, layer: int) -> str:
    return activation.text if activation is not None else f"g[{layer}]"


@dataclass(frozen=True)
class _Applied(Expr):
    """A layer's activation (or its derivative) applied to ``arg``: same shape as ``arg``."""

    activation: Activation | None
    layer: int
    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        return self.arg.shape

    def children(self):
        return (self.arg,)


@dataclass(frozen=True)
class Deriv(_Applied):
    """g′(arg) applied entry by entry: the layer's activation derivative (``None``: generic g[l]).

    ``masked``: the layer's A[l] is not g(Z[l]) (dropout's A = g(Z) ⊙ D / keep_prob), so the
    catalogue's numpy snippets written in A (``A1 * (1 - A1)``) do not hold there and the code
    prints the named call ``sigmoid_prime(Z1)``; the value and the text (σ′(Z[1])) are the same.
    """

    masked: bool = field(default=False, compare=False)

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.deriv(self.activation, self.layer, ev(self.arg))

    def to_text(self) -> str:
        return f"{_fname_text(self.activation, self.layer)}′({self.arg.to_text()})"

    def to_latex(self) -> str:
        if self.activation is None:
            return rf"g^{{[{self.layer}]\prime}}({self.arg.to_latex()})"
        return rf"{self.activation.latex}^{{\prime}}({self.arg.to_latex()})"

    def to_code(self) -> str:
        """The catalogue's numpy snippet with Z (and A) filled in: ``np.int64(Z1 > 0)``,
        ``A2 * (1 - A2)``; a snippet in A of an argument other than Z[l] is a named call."""
        arg, act = self.arg.to_code(), self.activation
        if act is None:
            return f"g{self.layer}_prime({arg})"
        tmpl = act.derivative_numpy
        uses_a = re.search(r"\bA\b", tmpl) is not None
        if uses_a and self.masked:  # A[l] is masked: a snippet in A would be wrong
            return f"{act.name}_prime({arg})"
        if isinstance(self.arg, Sym) and self.arg.base in ("Z", "Ztilde"):  # A = g(Z), g(Z̃)
            a_name = code_name("A", self.arg.layer)
            return _paren_template(re.sub(r"\bZ\b", arg, re.sub(r"\bA\b", a_name, tmpl)))
        if uses_a:
            return f"{act.name}_prime({arg})"
        return _paren_template(re.sub(r"\bZ\b", wrap_code(self.arg, ATOM), tmpl))


@dataclass(frozen=True)
class Act(_Applied):
    """g(arg) applied entry by entry (``None``: generic g[l]); a softmax along the unit axis."""

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.act(self.activation, self.layer, ev(self.arg))

    def to_text(self) -> str:
        return f"{_fname_text(self.activation, self.layer)}({self.arg.to_text()})"

    def to_latex(self) -> str:
        act = self.activation
        name = act.latex if act is not None else f"g^{{[{self.layer}]}}"
        return rf"{name}({self.arg.to_latex()})"

    def to_code(self) -> str:
        name = self.activation.name if self.activation is not None else f"g{self.layer}"
        return f"{name}({self.arg.to_code()})"


@dataclass(frozen=True)
class Pointwise(Expr):
    """A scalar SymPy expression in ``params`` applied entry by entry to equally shaped ``args``.

    ``Pointwise(a - y, (a, y), (A2, Y))`` is A[2] − Y. The engine makes these from SymPy's
    derivative of a loss (dA[L]) and from output-layer simplifications (dZ[L] = A[L] − Y). With
    ``broadcast`` the later operands may be a row or a column that numpy stretches to the first's
    shape (each example's score Σₖ yₖ aₖ of the hinge loss). An indicator
    ``Piecewise((v, c), (0, True))`` prints as ``v ⊙ [c]`` (Iverson's bracket, ``v * (c)`` in
    numpy), and ``Piecewise((v, v > 0), (0, True))`` as ``max(0, v)``.
    """

    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    args: tuple[Expr, ...]
    broadcast: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        for other in self.args[1:]:
            shape = broadcast_shape("element-wise expression", self.args[0], other, self.broadcast)
            if self.broadcast and not all(same(x, y) for x, y in zip(shape, self.args[0].shape, strict=True)):
                raise ShapeMismatch("element-wise expression", self.args[0].written(), other.written(),
                                    self.args[0].shape, other.shape,
                                    "only the later operands stretch to the first's shape")

    @property
    def shape(self) -> Shape:
        return self.args[0].shape

    def children(self):
        return self.args

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return backend.pointwise(self.expr, self.params, [ev(a) for a in self.args])

    @property
    def text_prec(self) -> int:
        if isinstance(self.expr, sp.Add) or (self.expr.could_extract_minus_sign()):
            return 1
        if isinstance(self.expr, sp.Mul):
            return 2
        return ATOM

    code_prec = 1

    def to_text(self) -> str:
        s = _Placeholders(self.params, {"order": "none"}).doprint(self.expr)
        s = s.replace("**2", "²").replace("**3", "³")
        s = re.sub(r"(?<![\w_])(\d+)\*", r"\1 ", s)
        s = s.replace("*", " ⊙ ").replace("/", " ⊘ ").replace(" - ", " − ")
        s = re.sub(r"^-", "−", s)
        s = re.sub(r"\(-", "(−", s)
        for i, a in enumerate(self.args):
            s = s.replace(f"__{i}__", wrap_text(a, ATOM))
        return s

    def to_latex(self) -> str:
        names = {p: wrap_latex(a, ATOM) for a, p in zip(self.args, self.params, strict=True)}
        printer = _IndicatorLatex({"symbol_names": names, "mul_symbol": r" \odot ", "order": "none"})
        s = printer.doprint(self.expr)
        return re.sub(r"(?<![\w}])(\d+) \\odot ", r"\1 ", s)

    def to_code(self) -> str:
        s = _PlaceholderCode(self.params).doprint(self.expr).replace("math.", "np.")
        for i, a in enumerate(self.args):
            s = s.replace(f"__{i}__", wrap_code(a, ATOM))
        return s


def _indicator(expr: sp.Piecewise) -> tuple[sp.Expr, Any] | None:
    """(v, c) of ``Piecewise((v, c), (0, True))``, the indicator form; else None."""
    if len(expr.args) == 2 and expr.args[1].cond == sp.true and expr.args[1].expr == 0:
        return expr.args[0].expr, expr.args[0].cond
    return None


def _hinge(expr: sp.Piecewise) -> sp.Expr | None:
    """v of ``Piecewise((v, v > 0), (0, True))``, which is max(0, v); else None."""
    pair = _indicator(expr)
    if pair is not None and isinstance(pair[1], sp.StrictGreaterThan) \
            and sp.expand(pair[1].lhs - pair[1].rhs - pair[0]) == 0:
        return pair[0]
    return None


def _condition(c) -> Any:
    """A comparison with 0 on its right, as a margin is written: a − s + 1 > 0, not SymPy's
    canonical a − s > −1."""
    if isinstance(c, sp.core.relational.Relational) and c.rhs != 0 and c.rhs.is_Number:
        return c.func(sp.Add(*sp.Add.make_args(c.lhs), -c.rhs, evaluate=False), 0, evaluate=False)
    return c


class _AtomicIndicators:
    """A printer mixin: an indicator or a max(0, ·) prints as one bracketed unit, never wrapped in
    parentheses again by its product."""

    def parenthesize(self, item, level, strict=False):
        if isinstance(item, sp.Piecewise) and _indicator(item) is not None:
            return self._print(item)  # type: ignore[attr-defined]
        return super().parenthesize(item, level, strict)  # type: ignore[misc]


class _Placeholders(_AtomicIndicators, StrPrinter):
    """Prints a Pointwise's parameters as __0__, __1__ (replaced by operands afterwards) without
    re-evaluating the expression (which would undo its student-friendly order)."""

    def __init__(self, params, settings=None):
        super().__init__(settings)
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Piecewise(self, expr):
        hinge, pair = _hinge(expr), _indicator(expr)
        if hinge is not None:
            return f"max(0, {self._print(hinge)})"
        if pair is None:  # SymPy's own form (StrPrinter has no _print_Piecewise of its own)
            return self._print_Basic(expr)
        v, c = pair
        bracket = f"[{self._print(_condition(c))}]"
        return bracket if v == 1 else f"{self.parenthesize(v, 50)}*{bracket}"


class _PlaceholderCode(_AtomicIndicators, PythonCodePrinter):
    def __init__(self, params):
        super().__init__({"standard": "python3"})
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)

    def _print_Piecewise(self, expr):  # numpy code, entry by entry: np.maximum, a 0/1 mask
        hinge, pair = _hinge(expr), _indicator(expr)
        if hinge is not None:
            return f"np.maximum(0, {self._print(hinge)})"
        if pair is None:
            return super()._print_Piecewise(expr)
        v, c = pair
        mask = self._print(_condition(c))  # Python's printer brackets a comparison: (x > 0)
        mask = mask if mask.startswith("(") and mask.endswith(")") else f"({mask})"
        return mask if v == 1 else f"{self.parenthesize(v, 50)} * {mask}"


class _IndicatorLatex(_AtomicIndicators, LatexPrinter):
    def _print_Piecewise(self, expr):
        hinge, pair = _hinge(expr), _indicator(expr)
        if hinge is not None:
            return rf"\max\left(0, {self._print(hinge)}\right)"
        if pair is None:
            return super()._print_Piecewise(expr)
        v, c = pair
        bracket = rf"\left[{self._print(_condition(c))}\right]"
        return bracket if v == 1 else rf"{self.parenthesize(v, 50)}{self._settings['mul_symbol_latex']}{bracket}"


def _paren_template(code: str) -> str:
    """Parenthesize a catalogue snippet unless it is one call or one name (``A * (1 - A)``)."""
    if re.fullmatch(r"[\w.]+(\((?:[^()]|\([^()]*\))*\))?", code):
        return code
    return f"({code})"
