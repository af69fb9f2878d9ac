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
    wrap_code,
    wrap_latex,
    wrap_text,
)


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
    """g′(arg) applied entry by entry: the layer's activation derivative (``None``: generic g[l])."""

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
        if isinstance(self.arg, Sym) and self.arg.base == "Z":
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
    derivative of a loss (dA[L]) and from output-layer simplifications (dZ[L] = A[L] − Y).
    """

    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    args: tuple[Expr, ...]
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        for other in self.args[1:]:
            broadcast_shape("element-wise expression", self.args[0], other, False)

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
        s = sp.latex(self.expr, symbol_names=names, mul_symbol=r" \odot ", order="none")
        return re.sub(r"(?<![\w}])(\d+) \\odot ", r"\1 ", s)

    def to_code(self) -> str:
        s = _PlaceholderCode(self.params).doprint(self.expr).replace("math.", "np.")
        for i, a in enumerate(self.args):
            s = s.replace(f"__{i}__", wrap_code(a, ATOM))
        return s


class _Placeholders(StrPrinter):
    """Prints a Pointwise's parameters as __0__, __1__ (replaced by operands afterwards) without
    re-evaluating the expression (which would undo its student-friendly order)."""

    def __init__(self, params, settings=None):
        super().__init__(settings)
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)


class _PlaceholderCode(PythonCodePrinter):
    def __init__(self, params):
        super().__init__({"standard": "python3"})
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)


def _paren_template(code: str) -> str:
    """Parenthesize a catalogue snippet unless it is one call or one name (``A * (1 - A)``)."""
    if re.fullmatch(r"[\w.]+(\((?:[^()]|\([^()]*\))*\))?", code):
        return code
    return f"({code})"
