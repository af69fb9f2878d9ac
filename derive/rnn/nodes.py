"""The two node types a recurrent network adds to the expression language: a quantity at a time
step (:class:`TimeSym`, a⟨3⟩ or, in a template, a⟨t−1⟩) and a sum over the steps
(:class:`TimeSum`, Σₜ dtanh⟨t⟩ x⟨t⟩ᵀ). Each holds its shape rule, its value and its printing, as
every node of :mod:`derive.core.node` does; the evaluator and the backends are the core's.

>>> import sympy as sp
>>> from derive.core.expr import MatMul, Transpose
>>> d, x = TimeSym("dtanh", 2, (2, 3), course="dtanh"), TimeSym("x", 2, (4, 3), course="xt")
>>> d.to_text(), d.to_latex(), TimeSym("a", None, (2, 3), offset=-1).to_text()
('dtanh⟨2⟩', 'd\\\\tanh^{\\\\langle 2 \\\\rangle}', 'a⟨t−1⟩')
>>> term = MatMul(d, Transpose(x))
>>> s = TimeSum((term, term), MatMul(d.template(0), Transpose(x.template(0))), 2)
>>> s.to_text(), s.shape, s.to_code()
('Σₜ₌₁^2 dtanh⟨t⟩ x⟨t⟩ᵀ', (2, 4), 'np.dot(dtanh, xt.T)')
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from derive.core.node import ATOM, Backend, Ev, Expr, Shape, Sym, same, wrap_latex, wrap_text
from derive.errors import ShapeMismatch

#: how a base prints in LaTeX when it is not itself (the course's subscripted weights)
LATEX = {"Wax": "W_{ax}", "Waa": "W_{aa}", "Wya": "W_{ya}", "ba": "b_a", "by": "b_y",
         "yhat": r"\hat{y}", "zy": "z_y", "dtanh": r"d\tanh", "dxt": "dx", "da_prev": r"da_{\text{prev}}",
         "da_next": r"da_{\text{next}}", "da_out": r"da_{\text{out}}", "dzy": "dz_y"}
TEXT = {"yhat": "ŷ", "zy": "z_y"}


def _latex_base(base: str) -> str:
    if base in LATEX:
        return LATEX[base]
    if base.startswith("d") and base[1:] in LATEX:
        return "d" + LATEX[base[1:]]
    return base


def _step_text(at: int | None, offset: int | None) -> str | None:
    if at is not None:
        return str(at)
    if offset is None:
        return None
    return "t" if offset == 0 else f"t{'+' if offset > 0 else '−'}{abs(offset)}"


@dataclass(frozen=True, eq=True)
class TimeSym(Sym):
    """A named quantity, at step ``layer`` (a whole number: a⟨3⟩), at ``t + offset`` in a
    template (``layer`` None, ``offset`` a number: a⟨t−1⟩), or timeless (both None: Wax).
    ``course`` is the course's variable name, printed as its code (``a_prev``, ``dtanh``)."""

    offset: int | None = None
    course: str | None = field(default=None, compare=False)

    @property
    def step(self) -> str | None:
        return _step_text(self.layer, self.offset)

    @property
    def text(self) -> str:
        base = TEXT.get(self.base, self.base)
        return base if self.step is None else f"{base}⟨{self.step}⟩"

    @property
    def latex(self) -> str:
        base = _latex_base(self.base)
        step = self.step
        if step is None:
            return base
        return f"{base}^{{\\langle {step.replace('−', '-')} \\rangle}}"

    @property
    def code(self) -> str:
        if self.course:
            return self.course
        return self.base if self.layer is None else f"{self.base}{self.layer}"

    def template(self, offset: int) -> TimeSym:
        """The same quantity at ``t + offset`` (a template's symbol)."""
        return TimeSym(self.base, None, self.shape, offset=offset, course=self.course)


@dataclass(frozen=True)
class TimeSum(Expr):
    """Σₜ₌₁^T of ``terms`` (one per step, equal shapes); ``template`` is the term at a generic t,
    which is what prints. A shared weight is used at every step, so its gradient is this sum."""

    terms: tuple[Expr, ...]
    template: Expr
    steps: int
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        first = self.template
        for term in self.terms:
            if not all(same(a, b) for a, b in zip(first.shape, term.shape, strict=True)):
                raise ShapeMismatch("sum over the steps", first.written(), term.written(),
                                    first.shape, term.shape, "every step's term needs one shape")
        if len(self.terms) != self.steps:
            raise ValueError(f"a sum over {self.steps} steps needs {self.steps} terms")

    @property
    def shape(self) -> Shape:
        return self.template.shape

    def children(self):
        return self.terms

    def compute(self, backend: Backend, ev: Ev, env: Mapping) -> Any:
        return functools.reduce(backend.add, (ev(t) for t in self.terms))

    text_prec = 1
    code_prec = ATOM

    def to_text(self) -> str:
        return f"Σₜ₌₁^{self.steps} {wrap_text(self.template, 3)}"

    def to_latex(self) -> str:
        return rf"\sum_{{t=1}}^{{{self.steps}}} {wrap_latex(self.template, 3)}"

    def to_code(self) -> str:
        """The term the course's loop adds at each step (``dWax += np.dot(dtanh, xt.T)``)."""
        return self.template.to_code()
