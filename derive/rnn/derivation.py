"""Backpropagation through time, derived step by step for an RNN spec: each formula an expression
tree of the core language, citing an identity of ``rules/rnn.toml``, with the local problem that
proves it (:mod:`derive.rnn.proof`).

The forward map is written once here (:func:`forward`): numbers evaluate it with numpy, the proofs
with SymPy. The backward steps, for t = T_x down to 1, in the course's names (derive's beside):

- dy⟨t⟩ = ŷ⟨t⟩ − y⟨t⟩                        (∂J/∂z_y⟨t⟩; the dinosaur assignment's dy)
- da_out⟨t⟩ = Wyaᵀ dy⟨t⟩                      (∂J/∂a⟨t⟩ through ŷ⟨t⟩: rnn_backward's da[:, :, t])
- da_next⟨t⟩ = da_out⟨t⟩ + da_prev⟨t+1⟩       (∂J/∂a⟨t⟩, both paths)
- dtanh⟨t⟩ = (1 − a⟨t⟩²) ⊙ da_next⟨t⟩         (∂J/∂z⟨t⟩)
- dxt⟨t⟩ = Waxᵀ dtanh⟨t⟩                      (∂J/∂x⟨t⟩)
- da_prev⟨t⟩ = Waaᵀ dtanh⟨t⟩                  (∂J/∂a⟨t−1⟩ through step t; da0 at t = 1)

and the shared parameters' sums dWax, dWaa, dba, dWya, dby over the steps.

>>> from derive.rnn.spec import RNN
>>> d = build(RNN(3, 2, 2, 2, examples=1))
>>> [s.text for s in d.steps[:4]]
['dy⟨2⟩ = ŷ⟨2⟩ − y⟨2⟩', 'da_out⟨2⟩ = Wyaᵀ dy⟨2⟩', 'da_next⟨2⟩ = da_out⟨2⟩', 'dtanh⟨2⟩ = (1 − a⟨2⟩²) ⊙ da_next⟨2⟩']
>>> d.step("dWaa").text, d.step("dWaa").loop
('dWaa = Σₜ₌₁^2 dtanh⟨t⟩ a⟨t−1⟩ᵀ', 'dWaa += np.dot(dtanh, a_prev.T)')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.names import z as z_symbol
from derive.rnn.identities import lookup
from derive.rnn.nodes import TimeSum, TimeSym
from derive.rnn.spec import RNN

if TYPE_CHECKING:  # annotations only: the proof module imports this one
    from derive.rnn.proof import StepProof

Key = tuple[str, int | None]
Definition = tuple[TimeSym, E.Expr]

PARAMETERS = ("Wax", "Waa", "Wya", "ba", "by")
#: the course's variable names of the quantities at a generic step t (by base and offset)
COURSE = {("a", 0): "a_next", ("a", -1): "a_prev", ("x", 0): "xt", ("x", 1): "x_next",
          ("da_next", 0): "da_next", ("dtanh", 0): "dtanh", ("dtanh", 1): "dtanh_next",
          ("dz", 0): "dz", ("dz", 1): "dz_next",
          ("dxt", 0): "dxt", ("da_prev", 0): "da_prev", ("da_prev", 1): "da_prevt",
          ("da_out", 0): "da[:, :, t]", ("dy", 0): "dy", ("yhat", 0): "y_hat", ("y", 0): "y",
          ("z", 0): "z", ("zy", 0): "zy"}
#: derive's own name of each course name (the gradient it is)
DERIVE_NAMES = {"dy": "∂J/∂z_y⟨t⟩", "da_out": "∂J/∂a⟨t⟩ through ŷ⟨t⟩", "da_next": "∂J/∂a⟨t⟩",
                "dtanh": "∂J/∂z⟨t⟩", "dz": "∂J/∂z⟨t⟩", "dxt": "∂J/∂x⟨t⟩", "da_prev": "∂J/∂a⟨t−1⟩ through step t",
                "dWax": "∂J/∂Wax", "dWaa": "∂J/∂Waa", "dba": "∂J/∂ba", "dWya": "∂J/∂Wya",
                "dby": "∂J/∂by"}

#: the same in LaTeX
DERIVE_LATEX = {"dy": r"\partial J/\partial z_y^{\langle t \rangle}",
                "da_out": r"\partial J/\partial a^{\langle t \rangle}\ \text{through}\ \hat{y}^{\langle t \rangle}",
                "da_next": r"\partial J/\partial a^{\langle t \rangle}",
                "dtanh": r"\partial J/\partial z^{\langle t \rangle}",
                "dz": r"\partial J/\partial z^{\langle t \rangle}",
                "dxt": r"\partial J/\partial x^{\langle t \rangle}",
                "da_prev": r"\partial J/\partial a^{\langle t-1 \rangle}\ \text{through step}\ t",
                **{f"d{p}": rf"\partial J/\partial {w}" for p, w in
                   (("Wax", "W_{ax}"), ("Waa", "W_{aa}"), ("ba", "b_a"), ("Wya", "W_{ya}"),
                    ("by", "b_y"))}}


@dataclass(frozen=True)
class Local:
    """The local problem proving one formula: the formula is ∂J̃/∂(``wrt``) for the surrogate
    J̃ = Σ_(U, F) Σ U ⊙ F (+ Σ ℓ(``loss``, its target) when ``loss`` is set), where ``defs`` are the
    forward definitions from ``wrt`` to each F and every other symbol is drawn at random. Any
    upstream U is allowed, so by the multivariable chain rule the formula holds inside the whole
    network. ``before`` are the derivation's earlier formulas the formula names (substituted:
    evaluated first, from the same random U)."""

    wrt: TimeSym
    defs: tuple[Definition, ...]
    terms: tuple[tuple[TimeSym, TimeSym], ...] = ()
    loss: tuple[TimeSym, TimeSym] | None = None  # (ŷ⟨t⟩, y⟨t⟩)
    before: tuple[str, ...] = ()  # text names of earlier formulas, evaluated first


@dataclass(frozen=True)
class Step:
    """One formula of backpropagation through time: ``target = expr`` at step ``t`` (None for a
    sum over the steps), its generic-t form ``template``, the identity ``rule`` it applies and the
    catalogue identities it ``cites`` beside it."""

    t: int | None
    target: TimeSym
    expr: E.Expr
    template_target: TimeSym
    template: E.Expr
    rule: str
    cites: tuple[str, ...]
    local: Local
    proof: StepProof | None = None

    @property
    def name(self) -> str:
        return self.target.text

    @property
    def course(self) -> str:
        """The course's name of the quantity (``dtanh``, ``da_prev``, ``dWax``)."""
        return self.target.base

    @property
    def derive_name(self) -> str:
        return DERIVE_NAMES[self.target.base]

    @property
    def derive_latex(self) -> str:
        return DERIVE_LATEX[self.target.base]

    @property
    def text(self) -> str:
        return f"{self.target.text} = {self.expr.to_text()}"

    @property
    def generic(self) -> E.Expr:
        """The formula at a generic step t (a sum over the steps shows its Σₜ)."""
        return self.expr if self.t is None else self.template

    @property
    def template_text(self) -> str:
        return f"{self.template_target.text} = {self.generic.to_text()}"

    @property
    def latex(self) -> str:
        return f"{self.template_target.latex} = {self.generic.to_latex()}"

    @property
    def loop(self) -> str:
        """The line of the course's loop that computes it (``dtanh = (1 - a_next**2) * da_next``;
        a sum over the steps is the accumulation ``dWax += np.dot(dtanh, xt.T)``)."""
        op = "+=" if self.t is None else "="
        return f"{self.template_target.code} {op} {self.template.to_code()}"

    @property
    def identity(self) -> rules.Identity:
        return lookup(self.rule)

    # the names a CNN's steps use (derive.conv.steps.ConvStep), for code that reads either
    @property
    def layer(self) -> int | None:
        """The time step t (None for a sum over the steps)."""
        return self.t

    @property
    def kind(self) -> str:
        return self.course

    @property
    def title(self) -> str:
        return self.identity.title

    @property
    def index(self) -> str:
        return self.identity.index

    @property
    def index_latex(self) -> str:
        return self.identity.index_latex


@dataclass(frozen=True)
class RNNDerivation:
    """The forward definitions and the backward steps of one RNN spec (and their proof)."""

    rnn: RNN
    forward: tuple[Definition, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()

    def step(self, name: str) -> Step:
        """The step whose target prints as ``name`` (``dWaa``, ``dtanh⟨2⟩``)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    @property
    def passed(self) -> bool:
        return all(s.proof is not None and s.proof.passed for s in self.steps)

    def with_proofs(self, proofs) -> RNNDerivation:
        return replace(self, steps=tuple(replace(s, proof=p)
                                         for s, p in zip(self.steps, proofs, strict=True)))


class Names:
    """The RNN's quantities as symbols with their shapes: ``q("a", 3)`` is a⟨3⟩, ``q("Wax")``.
    ``dz`` is the name of ∂J/∂z⟨t⟩: the course's ``dtanh`` in a tanh RNN, ``dz`` in any other
    (a relu RNN's gradient has no tanh in it)."""

    def __init__(self, rnn: RNN):
        nx, na, ny, m = rnn.nx, rnn.na, rnn.ny, rnn.m
        self.dz = "dtanh" if rnn.activation == "tanh" else "dz"
        one = sp.Integer(1)
        self.shapes = {"x": (nx, m), "dxt": (nx, m), "y": (ny, m), "yhat": (ny, m),
                       "zy": (ny, m), "dy": (ny, m), "Wax": (na, nx), "Waa": (na, na),
                       "Wya": (ny, na), "ba": (na, one), "by": (ny, one)}
        for base in ("a", "z", "da_out", "da_next", "dtanh", "dz", "da_prev"):
            self.shapes[base] = (na, m)
        for p in PARAMETERS:
            self.shapes["d" + p] = self.shapes[p]

    def q(self, base: str, t: int | None = None) -> TimeSym:
        course = base if t is None else None
        return TimeSym(base, t, self.shapes[base], course=course)

    def at(self, base: str, offset: int) -> TimeSym:
        """The quantity at t + ``offset`` in a template, printed as the course's variable."""
        return TimeSym(base, None, self.shapes[base], offset=offset,
                       course=COURSE.get((base, offset), base))


def _pre(n: Names, at) -> E.Expr:
    """z = Wax x + Waa a_prev + ba (the course's order) with ``at(base, offset)`` the symbols."""
    return E.Add(E.Add(E.MatMul(n.q("Wax"), at("x", 0)), E.MatMul(n.q("Waa"), at("a", -1))),
                 n.q("ba"), broadcast=True)


def _out(n: Names, at) -> E.Expr:
    return E.Add(E.MatMul(n.q("Wya"), at("a", 0)), n.q("by"), broadcast=True)


#: the activations whose derivative prints as itself (1 − a², a ⊙ (1 − a), [z > 0]); any other
#: prints g′(z⟨t⟩), as the dense engine prints it (leaky_relu's is a SymPy Piecewise)
WRITTEN_OUT = ("tanh", "sigmoid", "relu")


def _derivative(act: rules.Activation, a: E.Expr, z: E.Expr) -> E.Expr:
    """g′ entry by entry as the catalogue writes it (tanh: 1 − a²), in a and/or z; g′(z) for an
    activation not in :data:`WRITTEN_OUT`."""
    if act.name not in WRITTEN_OUT:
        return E.Deriv(act, 1, z)
    d = act.derivative
    params = tuple(p for p, _ in ((rules.a, a), (z_symbol, z)) if p in d.free_symbols)
    if not params:
        return E.Pointwise(d + 0 * rules.a, (rules.a,), (a,))
    return E.Pointwise(d, params, tuple(a if p == rules.a else z for p in params))


def _chain(act: rules.Activation, a: E.Expr, z: E.Expr, upstream: E.Expr) -> E.Expr:
    """g′ ⊙ upstream, the course's order; a linear activation's g′ = 1 leaves the upstream."""
    if act.derivative == 1:
        return upstream
    return E.Hadamard(_derivative(act, a, z), upstream)


def forward(rnn: RNN, n: Names | None = None) -> tuple[Definition, ...]:
    """z⟨t⟩, a⟨t⟩, z_y⟨t⟩, ŷ⟨t⟩ for t = 1..T_x, in order (a⟨0⟩, x⟨t⟩ and the parameters given)."""
    n = n or Names(rnn)
    out: list[Definition] = []
    for t in range(1, rnn.steps + 1):
        at = _at_step(n, t)
        out.append((n.q("z", t), _pre(n, at)))
        out.append((n.q("a", t), E.Act(rnn.act, 1, n.q("z", t))))
        out.append((n.q("zy", t), _out(n, at)))
        out.append((n.q("yhat", t), E.Act(rnn.out_act, 2, n.q("zy", t))))
    return tuple(out)


def _at_step(n: Names, t: int):
    return lambda base, offset: n.q(base, t + offset)


def build(rnn: RNN) -> RNNDerivation:
    """Backpropagation through time for ``rnn``, every step citing an identity, not yet proven
    (:func:`derive.rnn.proof.derive_rnn` proves it)."""
    n = Names(rnn)
    T, act = rnn.steps, rnn.act
    steps: list[Step] = []

    def add(t, target, expr, tmpl_target, tmpl, rule, cites, local):
        steps.append(Step(t, target, expr, tmpl_target, tmpl, rule, tuple(cites), local))

    for t in range(T, 0, -1):
        at, q = _at_step(n, t), n.q
        zy_def = (q("zy", t), _out(n, at))
        add(t, q("dy", t), E.Sub(q("yhat", t), q("y", t)), n.at("dy", 0),
            E.Sub(n.at("yhat", 0), n.at("y", 0)), "rnn_output_gradient",
            ("softmax_chain", "output_simplification"),
            Local(q("zy", t), ((q("yhat", t), E.Act(rnn.out_act, 2, q("zy", t))),),
                  loss=(q("yhat", t), q("y", t))))
        add(t, q("da_out", t), E.MatMul(E.Transpose(q("Wya")), q("dy", t)), n.at("da_out", 0),
            E.MatMul(E.Transpose(q("Wya")), n.at("dy", 0)), "rnn_output_to_state",
            ("input_gradient",), Local(q("a", t), (zy_def,), ((q("dy", t), q("zy", t)),)))
        if t < T:
            later = _at_step(n, t + 1)
            z_next = (q("z", t + 1), _pre(n, later))
            add(t, q("da_next", t), E.Add(q("da_out", t), q("da_prev", t + 1)), n.at("da_next", 0),
                E.Add(n.at("da_out", 0), n.at("da_prev", 1)), "rnn_state_two_paths",
                ("substitution",),
                Local(q("a", t), (zy_def, z_next), ((q("dy", t), q("zy", t)),
                                                     (q(n.dz, t + 1), q("z", t + 1))),
                      before=(q("da_out", t).text, q("da_prev", t + 1).text)))
        else:
            add(t, q("da_next", t), q("da_out", t), n.at("da_next", 0), n.at("da_out", 0),
                "rnn_state_two_paths", ("substitution",),
                Local(q("a", t), (zy_def,), ((q("dy", t), q("zy", t)),),
                      before=(q("da_out", t).text,)))
        add(t, q(n.dz, t), _chain(act, q("a", t), q("z", t), q("da_next", t)),
            n.at(n.dz, 0), _chain(act, n.at("a", 0), n.at("z", 0), n.at("da_next", 0)),
            "rnn_activation_chain", ("elementwise_chain",),
            Local(q("z", t), ((q("a", t), E.Act(act, 1, q("z", t))),),
                  ((q("da_next", t), q("a", t)),)))
        z_def = (q("z", t), _pre(n, at))
        add(t, q("dxt", t), E.MatMul(E.Transpose(q("Wax")), q(n.dz, t)), n.at("dxt", 0),
            E.MatMul(E.Transpose(q("Wax")), n.at(n.dz, 0)), "rnn_input_gradient",
            ("input_gradient",), Local(q("x", t), (z_def,), ((q(n.dz, t), q("z", t)),)))
        add(t, q("da_prev", t), E.MatMul(E.Transpose(q("Waa")), q(n.dz, t)), n.at("da_prev", 0),
            E.MatMul(E.Transpose(q("Waa")), n.at(n.dz, 0)), "rnn_recurrent_gradient",
            ("input_gradient",), Local(q("a", t - 1), (z_def,), ((q(n.dz, t), q("z", t)),)))

    _sums(n, rnn, add)
    notes = (*rnn.notes,
             "J = Σₜ Σᵢ ce(ŷ⟨t⟩(i), y⟨t⟩(i)): summed over the steps and the examples, no 1/m (the "
             "course's rnn_backward)",
             "names: the course's (rnn_cell_backward, rnn_backward), derive's ∂J/∂… beside each")
    return RNNDerivation(rnn, forward(rnn, n), tuple(steps), notes)


def _sums(n: Names, rnn: RNN, add) -> None:
    """The shared parameters' gradients: one term per step, summed (rnn_shared_weight/bias)."""
    T, q = rnn.steps, n.q
    zs = tuple((q("z", t), _pre(n, _at_step(n, t))) for t in range(1, T + 1))
    zys = tuple((q("zy", t), _out(n, _at_step(n, t))) for t in range(1, T + 1))
    hidden = tuple((q(n.dz, t), q("z", t)) for t in range(1, T + 1))
    output = tuple((q("dy", t), q("zy", t)) for t in range(1, T + 1))

    def weight(up: str, right: str, offset: int):
        terms = tuple(E.MatMul(q(up, t), E.Transpose(q(right, t + offset))) for t in range(1, T + 1))
        return TimeSum(terms, E.MatMul(n.at(up, 0), E.Transpose(n.at(right, offset))), T)

    def bias(up: str):
        terms = tuple(E.Sum(q(up, t), 1) for t in range(1, T + 1))
        return TimeSum(terms, E.Sum(n.at(up, 0), 1), T)

    for name, expr, rule, cites, defs, terms in (
        ("dWax", weight(n.dz, "x", 0), "rnn_shared_weight", ("weight_gradient",), zs, hidden),
        ("dWaa", weight(n.dz, "a", -1), "rnn_shared_weight", ("weight_gradient",), zs, hidden),
        ("dba", bias(n.dz), "rnn_shared_bias", ("bias_gradient",), zs, hidden),
        ("dWya", weight("dy", "a", 0), "rnn_shared_weight", ("weight_gradient",), zys, output),
        ("dby", bias("dy"), "rnn_shared_bias", ("bias_gradient",), zys, output),
    ):
        add(None, q(name), expr, q(name), expr.template, rule, cites,
            Local(q(name[1:]), defs, terms))
