"""A worked example: every forward and backward quantity of a small network, with numbers.

Forward: Z[l] = W[l] A[l−1] + b[l], A[l] = g[l](Z[l]) and J = (1/m) Σ ℓ(A[L], Y) (the model's
definitions, as expression trees). Backward: the ENGINE's formulas (``derive(net).formulas``),
printed by :mod:`derive.core.printing` and evaluated by :func:`derive.core.expr.evaluate` with the
:class:`~derive.core.expr.NumpyBackend`; nothing is re-typed here. Before each dZ[l] of an element-wise
layer the local derivative g[l]′(Z[l]) (the engine's own ``Deriv`` node) is shown on its own,
because that is where hand computations go wrong (seed 003: σ′(18.3) ≈ 1.1e-8).

>>> import numpy as np
>>> from derive.network.spec import Network
>>> net = Network(layers=[1, 1], activations=["sigmoid"], loss="mse")
>>> w = worked_example(net, {"X": [[0.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]})
>>> [s.name for s in w.steps]
['Z[1]', 'A[1]', 'J', 'dA[1]', 'σ′(Z[1])', 'dZ[1]', 'dW[1]', 'db[1]', 'dX']
>>> w.value("J").item(), w.value("dZ1").item()
(0.25, -0.25)

Given intermediates (:mod:`derive.numbers.given`: a course's cache Z, A and an upstream dA or dZ)
replace the recomputed values from that point on; where a given A[l] is not g(Z[l]) (a random
cache) or dA[l] is given, dZ[l] takes the local form dZ[l] = dA[l] ⊙ g′(Z[l]), as the course's
``linear_activation_backward`` does; ``learning_rate`` adds the
update W[l] − α dW[l], b[l] − α db[l].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from derive import layers
from derive.catalogue import rules
from derive.check import cost_terms
from derive.core import expr as E
from derive.core.printing import to_latex, to_text
from derive.engine.backward import Derivation, derive
from derive.engine.values import bind_m, env_sizes
from derive.errors import DeriveError, InternalError, SpecError
from derive.network import model
from derive.network.spec import Network
from derive.network.symbols import SymbolTable
from derive.numbers import arrays as A
from derive.numbers import given as G
from derive.numbers.arrays import WORK
from derive.numbers.teacher import (
    SATURATION,
    Warning_,
    activation,
    notes,
    teacher_warnings,
)

__all__ = ["SATURATION", "WORK", "given_values", "NumStep", "Warning_", "Worked", "given_arrays", "worked_example"]

Key = tuple[str, int | None]  # (base, layer): ("Z", 1) is Z[1], ("J", None) the cost
PlanStep = tuple[Key, E.Expr, E.Expr, str, tuple[E.Expr, ...]]  # key, target, formula, source, forms

ALPHA = sp.Symbol("α")  # the learning rate of the update step, printed as α
UPDATED = ("W_new", "b_new")  # the update step's keys: W[l] − α dW[l], b[l] − α db[l]



@dataclass(frozen=True)
class NumStep:
    """One quantity: ``target = expr`` (its formula), the value, and other engine forms of it."""

    key: tuple[str, int | None]
    target: E.Expr
    expr: E.Expr
    value: np.ndarray
    source: str  # "forward model" or "derivation" (the engine's formula)
    alternatives: tuple[E.Expr, ...] = ()  # the engine's other forms (dZ[1] = dA[1] ⊙ relu′(Z[1]))
    given: bool = False  # the value was given (a course's cache), not computed
    computed: np.ndarray | None = None  # a given step: what its formula gives, if it can
    local: bool = False  # g′(Z[l]) from Z[l] alone (a cache's A[l] need not be g(Z[l]))

    @property
    def name(self) -> str:
        if self.key[0] in UPDATED:
            return f"{self.key[0][0]}[{self.key[1]}] (updated)"
        return to_text(self.target)

    @property
    def code(self) -> str:
        base, layer = self.key
        if base in UPDATED:
            return f"{base[0]}{layer}_new"
        return base if layer is None else f"{base}{layer}"

    @property
    def formula_text(self) -> str:
        if self.key[0] in UPDATED:
            return f"{self.name} = {to_text(self.expr)}"
        act = self.expr.activation if isinstance(self.expr, E.Deriv) else None
        if self.key[0] == "gp" and self.local:
            return to_text(self.target)
        if self.key[0] == "gp" and isinstance(act, rules.Activation):
            l = self.key[1]  # the catalogue's textbook derivative, for layer l
            text = re.sub(r"\bZ\b", f"Z[{l}]", re.sub(r"\bA\b", f"A[{l}]", act.derivative_text))
            return f"{to_text(self.target)} = {text}"
        return f"{to_text(self.target)} = {to_text(self.expr)}"

    @property
    def formula_latex(self) -> str:
        if self.given:
            return f"{to_latex(self.target)} \\quad \\text{{(given)}}"
        if self.key[0] in UPDATED:  # α as LaTeX's \alpha (pdflatex has no Unicode α)
            return f"{to_latex(self.target)} \\leftarrow {to_latex(self.expr)}".replace("α", "\\alpha ")
        if self.key[0] == "gp" and self.local:
            return to_latex(self.target)
        if self.key[0] == "gp" and self.alternatives:
            return f"{to_latex(self.target)} = {to_latex(self.alternatives[0])}"
        if self.key[0] == "gp":
            return to_latex(self.target)
        return f"{to_latex(self.target)} = {to_latex(self.expr)}"


@dataclass(frozen=True)
class Worked:
    """The worked example: the steps in order, the given values, warnings and notes."""

    network: Network
    derivation: object
    steps: tuple[NumStep, ...]
    given: dict  # (base, layer) -> ndarray: X, Y, W[l], b[l]
    m: int
    warnings: tuple[Warning_, ...] = ()
    notes: tuple[str, ...] = field(default=())
    learning_rate: float | None = None
    skipped: tuple[str, ...] = ()  # steps that could not be computed from what was given

    @property
    def given_steps(self) -> tuple[str, ...]:
        """The names of the intermediates that were given (a cache), in order."""
        return tuple(s.name for s in self.steps if s.given)

    def step(self, name) -> NumStep:
        key = name if isinstance(name, tuple) else G.resolve_given(name, self.network.L)
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(f"no step {name!r}")

    def value(self, name) -> np.ndarray:
        return self.step(name).value

    def env(self) -> dict:
        env = dict(self.given)
        for s in self.steps:
            env[s.key] = s.value
        return env

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


# -- building ------------------------------------------------------------------------------------
given_arrays, given_values = A.given_arrays, A.given_values  # the arrays of a worked example


def worked_example(net: Network, values: dict | None = None, derivation=None, *, X=None, Y=None,
                   params: dict | None = None, cache=None, learning_rate: float | None = None,
                   input_notes: tuple[str, ...] = (), derivative_from: str = "Z",
                   mask_seed: int | None = None, **named) -> Worked:
    """Every quantity of ``net`` on the given values, in order (module docstring).

    ``values`` names every array (X, Y, W1, b1, ..., and intermediates Z1, A1, dA1, dZ1, ...);
    or give them as arrays: ``X=``, ``Y=``, ``params={"W1": ..., "b1": ...}``, ``cache=`` (the
    course's dict ``{"Z1": ..., "A1": ...}``, or its list of ``((A_prev, W, b), Z)`` per layer)
    and any other name as a keyword (``dAL=...``). ``learning_rate`` adds the update step.
    ``derivative_from="A"`` takes g′ from A[l] where the catalogue has it in A (1 − A², A(1 − A)),
    and dZ[L] from the engine's simplified formula (A[L] − Y), as the planar network's
    ``backward_propagation`` does with its cache; the default "Z" takes g′(Z[l]) from Z[l], as the
    deep network's ``relu_backward`` and ``sigmoid_backward`` do.
    """
    if derivative_from not in ("Z", "A"):
        raise SpecError(f"derivative_from is 'Z' or 'A', not {derivative_from!r}")
    if net.l2_symbolic:
        raise SpecError("a worked example needs λ's value, not a symbol: give --l2 0.7 "
                        "(l2 = 0.7), not --l2 alone")
    values = G.collect(values, X=X, Y=Y, params=params, cache=cache, named=named)
    if any(a is None for a in net.activations):
        raise SpecError("a worked example needs concrete activations (e.g. --act relu,sigmoid)")
    net, given, inter, notes_in = given_values(net, values, mask_seed)
    if net.loss is None and ("dA", net.L) not in inter and ("dZ", net.L) not in inter:
        raise SpecError("a worked example needs a concrete loss (e.g. --loss mse), or the "
                        f"upstream gradient dA{net.L} (as the course's backward tests give it)")
    if learning_rate is not None and not (0 < learning_rate < 1e6):
        raise SpecError(f"the learning rate {learning_rate:g} must be a positive number")
    d = derivation if derivation is not None else derive(net, prove=False, input_gradient=True)
    m = (model.example_count(net, given[("X", None)]) if ("X", None) in given
         else model.example_count(net, inter[("A", net.L)]) if ("A", net.L) in inter else 1)
    cost_only = ("X", None) not in given and ("A", net.L) in inter and ("Y", None) in given
    env = dict(given)
    steps: list[NumStep] = []
    notes_given: list[str] = []
    skipped: list[str] = []
    differs: set = set()  # layers whose given A[l] is not g(Z[l]): dZ[l] from dA[l] and Z[l]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        planned = plan(net, d, lr=learning_rate)
        upstream = [k for k in inter if k not in {p[0] for p in planned}]  # dA[L] of a generic ℓ
        T = SymbolTable(net)
        for key, target, expr_, source, alts in planned:
            if key[0] == "dZ" and (("dA", key[1]) in inter or key[1] in differs):
                expr_, alts = G.local_first(expr_, alts, key[1])
            if derivative_from == "A" and key[0] in ("gp", "dZ"):
                expr_ = G.in_terms_of_A(net, expr_, key[1])
            if source == "derivation" and upstream:
                for k in upstream:  # given before the backward pass starts
                    env[k] = inter[k]
                    steps.append(NumStep(k, T[k], T[k], inter[k], "derivation", (), True, None))
                upstream = []
            try:
                value = evaluate_step(net, key, expr_, env, m, learning_rate)
            except E.MissingValue:
                value = None
            if key in inter:
                mine = inter[key]
                note = G.disagreement(to_text(target), mine, value, to_text(expr_))
                if note is not None:
                    notes_given.append(note)
                    if key[0] == "A" and derivative_from == "Z":
                        differs.add(key[1])
                env[key] = mine
                steps.append(NumStep(key, target, expr_, mine, source, alts, True, value))
                continue
            if value is None:
                skipped.append(to_text(target))
                continue
            if inter and key == ("J", None) and not np.all(np.isfinite(value)):
                notes_given.append("J is not finite at the given values (a given A[L] outside the "
                                   "loss's domain, as a course's random cache can be): left out")
                continue
            _require_finite(target, source, value, given)
            env[key] = value
            steps.append(NumStep(key, target, expr_, value, source, alts,
                                 local=key[0] == "gp" and key[1] in differs))
        if not inter and net.loss is not None and ("Y", None) in given:
            _cross_check(net, given, env)
    missing = [f"d{b}[{l}]" for l in range(1, net.L + 1) for b in net.block(l).parameters
               if (f"d{b}", l) not in env]
    if missing and not cost_only:
        raise SpecError(f"cannot compute {', '.join(missing)} from the given values: "
                        f"{', '.join(skipped)} needed values that were not given")
    if inter:
        names = ", ".join(s.name for s in steps if s.given)
        notes_given.insert(0, f"given (a cache): {names}; each replaces the computed value "
                              "from there on; where a given A[l] is not g(Z[l]) or dA[l] is "
                              "given, dZ[l] = dA[l] ⊙ g′(Z[l]) (g′ of the given Z[l], as the "
                              "course's relu_backward and sigmoid_backward)")
    w = Worked(net, d, tuple(steps), given, m, learning_rate=learning_rate, skipped=tuple(skipped))
    all_notes = [*notes(net, d, m), *input_notes, *notes_in, *notes_given]
    if cost_only:
        all_notes.append(f"no X: the cost from the given A[{net.L}] and Y (and W[l] for the L2 "
                         "term), and what follows from the given values"
                         + (f"; not computed: {', '.join(skipped)}" if skipped else ""))
    elif ("X", None) not in given:
        all_notes.append("no X: the update step alone, from the given dW[l], db[l]")
    elif skipped:
        all_notes.append(f"not computed (their inputs were not given): {', '.join(skipped)}")
    return replace(w, warnings=tuple(teacher_warnings(w)), notes=tuple(all_notes))


def plan(net: Network, d: Derivation, lr: float | None = None) -> list[PlanStep]:
    """(key, target, expression, source, alternative forms) for every step, in order: the forward
    steps are each layer's own definitions (Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]) for a
    dense layer, in the layout's order), the backward steps the engine's formulas, then, with a learning
    rate ``lr``, the update W[l] − α dW[l], b[l] − α db[l]."""
    T = SymbolTable(net)
    out: list[PlanStep] = []
    for l in range(1, net.L + 1):
        for target, definition in model.definitions(net, l):
            out.append((target.key, target, definition, "forward model", ()))
    if net.loss is not None:  # the data term and, with L2, the penalty: the checker's own pieces
        J = cost_terms.expression(net, T, "J")
        out.append((("J", None), E.Sym("J", None, (sp.Integer(1), sp.Integer(1))), J,
                    "forward model", ()))
    for f in d.formulas:
        key = (f.kind, f.layer)
        forms = [f.expr, *(s.expr for s in d.steps if s.target.key == f.target.key and s.expr != f.expr)]
        if f.kind == "dW" and net.l2 is not None and net.regularised(f.layer):
            # the engine's data-term step (dW[l] before its L2 term) is not a form of dW[l]
            forms = [e for e in forms if any(isinstance(n, E.Sym) and n.key == ("W", f.layer)
                                             for n in e.walk())]
        expr_, alts = forms[0], tuple(forms[1:])
        if f.kind == "dZ":
            gp = _deriv_node(net, d, f.layer)
            act = gp.activation if gp is not None else None
            if gp is not None and isinstance(act, rules.Activation):
                a_form: tuple[E.Expr, ...] = ()
                if act.derivative.free_symbols <= {rules.a}:
                    a_form = (E.Pointwise(act.derivative, (rules.a,), (T["A", f.layer],)),)
                out.append((("gp", f.layer), gp, gp, "derivation", a_form))
        out.append((key, f.target, expr_, "derivation", alts))
    if lr is not None:
        for l in range(1, net.L + 1):
            for base in net.block(l).parameters:  # W, b; W, γ, β
                P, dP = T[base, l], T["d" + base, l]
                out.append(((f"{base}_new", l), P, E.Sub(P, E.Scale(ALPHA, dP)), "update", ()))
    return out


def _deriv_node(net: Network, d, layer: int) -> E.Deriv | None:
    """The engine's g[l]′(Z[l]) node for layer ``layer`` (from its formula or its steps)."""
    exprs = [f.expr for f in d.formulas if f.kind == "dZ" and f.layer == layer]
    exprs += [s.expr for s in d.steps if s.target.key == ("dZ", layer)]
    for e in exprs:
        for node in e.walk():
            if isinstance(node, E.Deriv) and node.layer == layer and node.activation is not None:
                return node
    return None


def evaluate_step(net: Network, key, expr_: E.Expr, env: dict, m: int,
                  learning_rate: float | None = None) -> np.ndarray:
    """The value of one step's expression on ``env`` (the NumpyBackend; m bound to its value).
    Overflow is not warned about: a caller checks the value (a student's own huge numbers give an
    infinite recomputation, which simply matches nothing)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if key[0] == "A" and activation(net, key[1]).kind == "softmax":
            if ("Z", key[1]) not in env:
                raise E.MissingValue(f"no value for Z[{key[1]}]", ("Z", key[1]))
            return model.apply_activation(net, key[1], env[("Z", key[1])])
        backend = (E.NumpyBackend(model.standins(net)) if net.all_dense  # batch norm: ε and m
                   else model.numpy_backend(net, m, env_sizes(net, env)))
        extra = {ALPHA: learning_rate} if learning_rate is not None else None
        out = E.evaluate(bind_m(expr_, m, env_sizes(net, env), extra), env, backend)
        return np.asarray(out, dtype=float)


def substitute_gp(expr_: E.Expr, layer: int) -> E.Expr:
    """``expr`` with the node g[layer]′(Z[layer]) replaced by the symbol gp[layer] (a student's
    own value of the local derivative then feeds the recomputation)."""
    if isinstance(expr_, E.Deriv) and expr_.layer == layer:
        return E.Sym("gp", layer, expr_.shape)
    return E.map_children(expr_, lambda c: substitute_gp(c, layer))


def _require_finite(target: E.Expr, source: str, value: np.ndarray, given: dict) -> None:
    """A step whose value is not finite (the given numbers are finite: they overflowed float64
    on the way, or the loss met log 0) is an input error naming the step, its layer and the
    first entry, never a wrong worked example."""
    bad = np.flatnonzero(~np.isfinite(value))
    if not len(bad):
        return
    first = float(value.reshape(-1)[bad[0]])
    i, j = (int(v) + 1 for v in np.unravel_index(bad[0], value.shape)) if value.ndim == 2 else (1, 1)
    name = to_text(target)
    layer = getattr(target, "layer", None)
    at = f"{name} (layer {layer})" if layer else name
    entry = f"entry ({i}, {j}) is {_g(first)}" + (f", {len(bad)} entries in all" if len(bad) > 1 else "")
    largest = max((float(np.max(np.abs(v))) for v in given.values()), default=0.0)
    if name == "J":
        at = "J (the cost)"
        why = ("the loss is too large for float64 (about 1.8e308), or takes log 0 where an output "
               "reached 0 or 1 exactly")
    else:
        why = (f"the given values (largest magnitude {_g(largest)}) are too large for float64, "
               "whose largest number is about 1.8e308")
    pass_ = "forward pass" if source == "forward model" else "backward pass"
    verb = "overflows" if np.isinf(first) else "is not a number (NaN)"
    raise DeriveError(f"the {pass_} {verb} at {at}: {entry}; {why}; scale the values down")


def _cross_check(net: Network, given: dict, env: dict) -> None:
    """The forward steps agree with :func:`derive.network.model.forward` (the proofs' model); a
    disagreement on finite values is a bug in derive, never the user's input."""
    params = {k: v for k, v in given.items() if k[0] in layers.given()}  # parameters and fixed masks
    cache = model.forward(net, params, given[("X", None)])
    for l in range(1, net.L + 1):
        for base in ("Z", "A"):
            if not np.allclose(cache[base, l], env[base, l], rtol=1e-12, atol=1e-300):
                raise InternalError(f"{base}[{l}] of the worked example disagrees with the forward "
                                    "model: this is a bug in derive")
    J = float(model.cost(net, cache, given[("Y", None)], params))
    if not np.isclose(J, float(env[("J", None)].squeeze()), rtol=1e-12, atol=0):
        raise InternalError("J of the worked example disagrees with the forward model: this is a "
                            "bug in derive")


def _g(x: float) -> str:
    return f"{x:.4g}"
