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
['Z[1]', 'A[1]', 'J', 'dA[1]', 'σ′(Z[1])', 'dZ[1]', 'dW[1]', 'db[1]']
>>> w.value("J").item(), w.value("dZ1").item()
(0.25, -0.25)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.printing import to_latex, to_text
from derive.engine.backward import Derivation, derive
from derive.engine.values import bind_m, env_sizes
from derive.errors import DeriveError, InternalError, SpecError
from derive.layers import loss as loss_layer
from derive.limits import Limit, require
from derive.network import model
from derive.network.spec import Network
from derive.network.spec import m as m_symbol
from derive.network.symbols import SymbolTable, shape_of
from derive.numbers.inputs import Matrix, resolve_name

Key = tuple[str, int | None]  # (base, layer): ("Z", 1) is Z[1], ("J", None) the cost
PlanStep = tuple[Key, E.Expr, E.Expr, str, tuple[E.Expr, ...]]  # key, target, formula, source, forms

SATURATION = 1e-4  # |g′(z)| below this fraction of sup|g′| counts as saturated

#: float64 entries of every quantity of a worked example together (X, Y, W, b; Z, A, g′, dA,
#: dZ, dW, db): each is printed, so a worked example is for a page, not for a data set; 2,000,000
#: entries take about 5 s to compute and print
WORK = Limit("numbers.worked_entries", 2_000_000, "entries",
             "fewer examples or units in the values", "the worked example")


@dataclass(frozen=True)
class NumStep:
    """One quantity: ``target = expr`` (its formula), the value, and other engine forms of it."""

    key: tuple[str, int | None]
    target: E.Expr
    expr: E.Expr
    value: np.ndarray
    source: str  # "forward model" or "derivation" (the engine's formula)
    alternatives: tuple[E.Expr, ...] = ()  # the engine's other forms (dZ[1] = dA[1] ⊙ relu′(Z[1]))

    @property
    def name(self) -> str:
        return to_text(self.target)

    @property
    def code(self) -> str:
        base, layer = self.key
        return base if layer is None else f"{base}{layer}"

    @property
    def formula_text(self) -> str:
        act = self.expr.activation if isinstance(self.expr, E.Deriv) else None
        if self.key[0] == "gp" and isinstance(act, rules.Activation):
            l = self.key[1]  # the catalogue's textbook derivative, for layer l
            text = re.sub(r"\bZ\b", f"Z[{l}]", re.sub(r"\bA\b", f"A[{l}]", act.derivative_text))
            return f"{to_text(self.target)} = {text}"
        return f"{to_text(self.target)} = {to_text(self.expr)}"

    @property
    def formula_latex(self) -> str:
        if self.key[0] == "gp" and self.alternatives:
            return f"{to_latex(self.target)} = {to_latex(self.alternatives[0])}"
        if self.key[0] == "gp":
            return to_latex(self.target)
        return f"{to_latex(self.target)} = {to_latex(self.expr)}"


@dataclass(frozen=True)
class Warning_:
    """What a teacher would point out: ``kind`` is target_range, saturation, inactive or kink."""

    kind: str
    message: str
    layer: int | None = None


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

    def step(self, name) -> NumStep:
        key = name if isinstance(name, tuple) else resolve_name(name, self.network.L)
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


# -- building ------------------------------------------------------------------------------------
def given_arrays(net: Network, values: dict) -> tuple[Network, dict]:
    """Named values (``{"X": [[20], [3], [4]], "W1": ...}`` or keys (base, layer), or
    :class:`Matrix`) checked against the network's shapes; sizes inferred when not given."""
    arrays: dict = {}
    for name, raw in values.items():
        key = name if isinstance(name, tuple) else resolve_name(str(name))
        if key is None or key[0] not in ("X", "Y", "W", "b"):
            raise SpecError(f"{name!r} is not a given value (X, Y, W1, b1, ...)")
        arrays[key] = raw
    for l in range(1, net.L + 1):
        for base in ("W", "b"):
            if (base, l) not in arrays:
                raise SpecError(f"no value for {base}{l} (the network has {net.L} layers)")
    for k in ("X", "Y"):
        if (k, None) not in arrays:
            raise SpecError(f"no value for {k}")
    if any(s is None for s in net.layers):
        net = net.with_sizes(_infer_sizes(net, arrays))
    m = _count(arrays[("X", None)], net.dim(0))
    require(WORK, work_entries(net, m), f"the worked example of sizes "
                                        f"{','.join(str(s) for s in net.layers)} with m = {m}")
    out = {key: _fit(raw, _shape(net, key, m), key) for key, raw in arrays.items()}
    return net, out


def work_entries(net: Network, m: int) -> int:
    """The entries of every quantity a worked example computes and prints (per layer W, b, and
    Z, A, g′, dA, dZ, dW, db; X, Y), from the sizes alone: what :data:`WORK` bounds."""
    total = 2 * int(net.dim(0)) * m + 2 * int(net.dim(net.L)) * m
    for l in range(1, net.L + 1):
        n, prev = int(net.dim(l)), int(net.dim(l - 1))
        total += 2 * (n * prev + n) + 5 * n * m
    return total


def _shape(net: Network, key, m: int) -> tuple[int, int]:
    rows, cols = (int(as_sympy(d).subs(m_symbol, m)) for d in shape_of(net, *key))
    return rows, cols


def _count(X, n0) -> int:
    size = X.size if isinstance(X, Matrix) else np.asarray(X, dtype=float).size
    n0 = int(n0)
    if size % n0:
        raise SpecError(f"X has {size} numbers, not a multiple of n[0] = {n0}")
    return size // n0


def _infer_sizes(net: Network, arrays: dict) -> list[int]:
    sizes = []
    for l in range(1, net.L + 1):
        b = arrays[("b", l)]
        sizes.append(b.size if isinstance(b, Matrix) else np.asarray(b).size)
    W1 = arrays[("W", 1)]
    n_w = W1.size if isinstance(W1, Matrix) else np.asarray(W1).size
    return [n_w // sizes[0], *sizes]


def _fit(raw, shape, key) -> np.ndarray:
    name = key[0] if key[1] is None else f"{key[0]}{key[1]}"
    if isinstance(raw, Matrix):
        fitted = raw.fitted(shape)
        if fitted is None:
            raise SpecError(f"{name} is {raw.shape[0]}×{raw.shape[1]} ({raw.size} numbers) but the "
                            f"network needs {shape[0]}×{shape[1]}")
        arr = fitted.values()
    else:
        try:
            arr = np.asarray(raw, dtype=float)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpecError(f"{name} is not an array of numbers ({type(exc).__name__}: "
                            f"{str(exc)[:80]})") from None
        if arr.ndim < 2 and arr.size == shape[0] * shape[1] and 1 in shape:
            arr = arr.reshape(shape)
        if arr.shape != shape:
            raise SpecError(f"{name} has shape {arr.shape} but the network needs {shape[0]}×{shape[1]}")
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        i, j = (int(v) + 1 for v in bad[0])
        raise SpecError(f"{name} entry ({i}, {j}) is {_g(float(arr[i - 1, j - 1]))}: every value "
                        "must be a finite number"
                        + (f" ({len(bad)} entries are not)" if len(bad) > 1 else ""))
    return arr


def worked_example(net: Network, values: dict, derivation=None) -> Worked:
    """Every quantity of ``net`` on the given X, Y, W[l], b[l], in order (module docstring)."""
    net.require_no_l2("worked examples (derive numbers)")
    if net.loss is None or any(a is None for a in net.activations):
        raise SpecError("a worked example needs concrete activations and a loss "
                        "(e.g. --act relu,sigmoid --loss mse)")
    net, given = given_arrays(net, values)
    d = derivation if derivation is not None else derive(net, prove=False)
    m = model.example_count(net, given[("X", None)])
    env = dict(given)
    steps: list[NumStep] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for key, target, expr_, source, alts in plan(net, d):
            value = evaluate_step(net, key, expr_, env, m)
            _require_finite(target, source, value, given)
            env[key] = value
            steps.append(NumStep(key, target, expr_, value, source, alts))
        _cross_check(net, given, env)
    w = Worked(net, d, tuple(steps), given, m)
    return replace(w, warnings=tuple(teacher_warnings(w)), notes=tuple(_notes(net, d, m)))


def plan(net: Network, d: Derivation) -> list[PlanStep]:
    """(key, target, expression, source, alternative forms) for every step, in order: the forward
    steps are each layer's own definitions (Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]) for a
    dense layer, in the layout's order), the backward steps the engine's formulas."""
    T = SymbolTable(net)
    out: list[PlanStep] = []
    for l in range(1, net.L + 1):
        for target, definition in model.definitions(net, l):
            out.append((target.key, target, definition, "forward model", ()))
    _loss(net)  # a worked example needs a concrete loss
    J: E.Expr = E.Sum(loss_layer.terms(net, lambda base, l=None: T[base, l]), None)
    if net.cost_factor != 1:
        J = E.Scale(net.cost_factor, J)
    out.append((("J", None), E.Sym("J", None, (sp.Integer(1), sp.Integer(1))), J, "forward model", ()))
    for f in d.formulas:
        key = (f.kind, f.layer)
        alts = tuple(s.expr for s in d.steps if s.target.key == f.target.key and s.expr != f.expr)
        if f.kind == "dZ":
            gp = _deriv_node(net, d, f.layer)
            act = gp.activation if gp is not None else None
            if gp is not None and isinstance(act, rules.Activation):
                a_form: tuple[E.Expr, ...] = ()
                if act.derivative.free_symbols <= {rules.a}:
                    a_form = (E.Pointwise(act.derivative, (rules.a,), (T["A", f.layer],)),)
                out.append((("gp", f.layer), gp, gp, "derivation", a_form))
        out.append((key, f.target, f.expr, "derivation", alts))
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


def evaluate_step(net: Network, key, expr_: E.Expr, env: dict, m: int) -> np.ndarray:
    """The value of one step's expression on ``env`` (the NumpyBackend; m bound to its value).
    Overflow is not warned about: a caller checks the value (a student's own huge numbers give an
    infinite recomputation, which simply matches nothing)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        if key[0] == "A" and _activation(net, key[1]).kind == "softmax":
            return model.apply_activation(net, key[1], env[("Z", key[1])])
        backend = E.NumpyBackend(model.standins(net))
        out = E.evaluate(bind_m(expr_, m, env_sizes(net, env)), env, backend)
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
    largest = max(float(np.max(np.abs(v))) for v in given.values())
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
    params = {k: v for k, v in given.items() if k[0] in ("W", "b")}
    cache = model.forward(net, params, given[("X", None)])
    for l in range(1, net.L + 1):
        for base in ("Z", "A"):
            if not np.allclose(cache[base, l], env[base, l], rtol=1e-12, atol=1e-300):
                raise InternalError(f"{base}[{l}] of the worked example disagrees with the forward "
                                    "model: this is a bug in derive")
    J = float(model.cost(net, cache, given[("Y", None)]))
    if not np.isclose(J, float(env[("J", None)].squeeze()), rtol=1e-12, atol=0):
        raise InternalError("J of the worked example disagrees with the forward model: this is a "
                            "bug in derive")


# -- what a teacher would say --------------------------------------------------------------------
def teacher_warnings(w: Worked) -> list[Warning_]:
    net = w.network
    out: list[Warning_] = []
    Y = w.given[("Y", None)]
    L = net.L
    act = _activation(net, L)
    lo, hi = (float(v) for v in act.range)
    outside = (Y < lo) | (Y > hi)
    if np.any(outside):
        y = float(Y[outside][0])
        edge = hi if y > hi else lo
        loss = _loss(net)
        floor = float(loss.per_unit_at(loss.per_unit, net.dim(L)).subs({rules.a: edge, rules.y: y}))
        out.append(Warning_("target_range", (
            f"the target y = {_g(y)} lies outside the range ({_g(lo)}, {_g(hi)}) of {act.name} on "
            f"the output layer: A[{L}] can never reach it, and this example's loss stays above "
            f"ℓ({_g(edge)}, {_g(y)}) = {_g(floor)}. Use a linear output, or scale the targets "
            f"into ({_g(lo)}, {_g(hi)})."), L))
    ylo, yhi = (float(v) for v in _loss(net).y_range)
    if np.any((Y < ylo) | (Y > yhi)):
        out.append(Warning_("target_range", (
            f"{net.loss} expects targets in [{_g(ylo)}, {_g(yhi)}], but Y has "
            f"{_g(float(Y.min()))}..{_g(float(Y.max()))}"), L))
    for l in range(1, L + 1):
        act = _activation(net, l)
        if not act.elementwise:
            continue
        Z = w.value(("Z", l))
        gp = np.asarray(act.numpy_derivative(Z), dtype=float) * np.ones_like(Z)
        bound = float(act.derivative_bound)
        scale = 1e-12 * max(1.0, float(np.max(np.abs(Z))))
        on_kink = np.zeros(Z.shape, dtype=bool)
        for k in act.kinks:
            on = np.abs(Z - float(k)) <= scale
            on_kink |= on
            if np.any(on):
                i, j = np.argwhere(on)[0]
                at = float(act.numpy_derivative(float(k)))
                left = float(act.numpy_derivative(float(k) - 1e-9))
                right = float(act.numpy_derivative(float(k) + 1e-9))
                out.append(Warning_("kink", (
                    f"Z[{l}] entry ({i + 1}, {j + 1}) = {_g(float(Z[i, j]))} sits exactly on "
                    f"{act.name}'s kink at {_g(float(k))}: {act.name} has no derivative there (left "
                    f"{_g(left)}, right {_g(right)}); the catalogue, like numpy's {act.derivative_numpy}, "
                    f"uses {act.text}′({_g(float(k))}) = {_g(at)}"
                    + (f" ({int(on.sum())} entries on the kink)" if on.sum() > 1 else "")), l))
        dead = (gp == 0) & ~on_kink if act.kinks else np.zeros(Z.shape, dtype=bool)
        if np.any(dead):
            out.append(Warning_("inactive", (
                f"{int(dead.sum())} entr{'y' if dead.sum() == 1 else 'ies'} of Z[{l}] below the kink: "
                f"{act.text}′ = 0 there, so no gradient flows back through "
                f"{'that unit' if dead.sum() == 1 else 'those units'} for this example"), l))
        sat = (np.abs(gp) < SATURATION * bound) & ~dead & ~on_kink
        if np.any(sat):
            idx = tuple(np.argwhere(sat)[0])
            out.append(Warning_("saturation", (
                f"{act.text}′(Z[{l}]) = {_g(float(gp[idx]))} at Z[{l}] = {_g(float(Z[idx]))}: the unit "
                f"is saturated and the gradient has vanished (dZ[{l}] is dA[{l}] times "
                f"{_g(float(gp[idx]))}); every gradient below layer {l} is scaled down with it"), l))
    return out


def _notes(net: Network, d, m: int) -> list[str]:
    notes = list(d.notes)
    loss = _loss(net)
    notes.append(f"loss {loss.name}: ℓ = {loss.text} ({loss.title})")
    if net.cost_is_mean:
        notes.append(f"J = (1/m) Σ ℓ over the m = {m} example{'s' if m != 1 else ''}"
                     + ("; with m = 1 the mean and the sum agree" if m == 1 else "")
                     + ("; scale dZ: the 1/m is in dA[L] and dZ[L], none in dW and db"
                        if not net.per_example_dZ else ""))
    else:
        notes.append("J = Σ ℓ over the examples (scale sum: no 1/m)")
    layout = net.layout
    notes.append(f"convention {layout.name}: X is {'×'.join(layout.batch('n[0]', 'm'))}, "
                 f"one {layout.example_word} per example")
    return notes


def _activation(net: Network, layer: int) -> rules.Activation:
    """Layer ``layer``'s catalogue activation (a worked example has no generic g)."""
    act = net.activation(layer)
    if act is None:
        raise SpecError(f"layer {layer} has a generic activation: a worked example needs a concrete one")
    return act


def _loss(net: Network) -> rules.Loss:
    """The network's catalogue loss (a worked example has no generic ℓ)."""
    loss = net.loss_entry
    if loss is None:
        raise SpecError("a worked example needs a concrete loss (e.g. --loss mse)")
    return loss


def _g(x: float) -> str:
    return f"{x:.4g}"
