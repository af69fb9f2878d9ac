"""The numbers behind a handout: an end-to-end finite-difference run and wrong variants' verdicts.

Verification: analytic gradients are the engine's formulas evaluated by
:func:`derive.engine.values.gradient_values`; numeric ones are central differences of the network's own
cost (:func:`derive.network.model.cost` ∘ :func:`derive.network.model.forward`), end to end, per W[l] and b[l].

Common mistakes: wrong variants of the engine's formulas (wrong order, missing transpose, A for
g′(Z), missing 1/m, wrong sum axis, sign), each judged by ``derive.check.checker`` when that module is
installed, else by shapes (the tool's own :class:`ShapeMismatch`) and by value on a random instance.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> d = derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"), prove=False)
>>> rows = fd_rows(d, seed=0)
>>> [r.name for r in rows], all(r.passed for r in rows)
(['W[1]', 'b[1]', 'W[2]', 'b[2]'], True)
>>> v = [x for x in variants(d) if x.code == "wrong_order"][0]
>>> v.text
'dZ[1] = dZ[2] W[2]ᵀ ⊙ relu′(Z[1])'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import sympy as sp

from derive.check.checker import check
from derive.core import expr as E
from derive.core import fd
from derive.core.expr import as_sympy
from derive.core.printing import to_text
from derive.engine.backward import Derivation, Formula, derive
from derive.engine.proof import MAX_FD_WIDTH
from derive.engine.values import bind_m, env_sizes, gradient_values
from derive.errors import ShapeMismatch
from derive.network import model
from derive.network.spec import Network
from derive.network.symbols import SymbolTable

NOISE_MARGIN = 0.1  # a row counts only when float64 noise is below this fraction of the threshold


# -- verification ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FDRow:
    """One parameter's end-to-end check: ‖analytic‖, ‖numeric‖ and their relative error."""

    name: str
    latex: str
    entries: int
    analytic: float  # Frobenius norm
    numeric: float
    first_analytic: float  # entry (1, 1)
    first_numeric: float
    error: float
    noise: float  # estimated relative error from float64 round-off alone
    threshold: float

    @property
    def meaningful(self) -> bool:
        return self.noise < NOISE_MARGIN * self.threshold

    @property
    def passed(self) -> bool:
        return self.error < self.threshold or not self.meaningful


def fd_network(net: Network) -> Network:
    """The network the finite-difference table runs on: its own sizes (symbolic ones filled in),
    layers wider than MAX_FD_WIDTH narrowed to it (the formulas do not depend on the sizes)."""
    return net.replace(layers=tuple(min(s, MAX_FD_WIDTH) for s in model.concrete_sizes(net)))


def fd_rows(derivation: Derivation, seed: int = 0, m: int = 4, eps: float = fd.DEFAULT_EPS,
            threshold: float = fd.DEFAULT_THRESHOLD) -> list[FDRow]:
    """Every W[l] and b[l]: the engine's gradient against central differences of J, end to end."""
    net = fd_network(derivation.network)
    if net.layers != derivation.network.layers:
        derivation = derive(net, prove=False)  # the same formulas, at the sizes of the run
    inst = model.random_instance(net, seed=seed, m=m)
    values = gradient_values(derivation, inst)
    J = abs(float(model.cost(net, model.forward(net, inst.params, inst.X), inst.Y, inst.params)))
    T = SymbolTable(net)
    rows = []
    for l in range(1, net.L + 1):
        for base in net.block(l).parameters:  # W, b; W, γ, β under batch norm
            key = (base, l)

            def f(batch: np.ndarray, key: tuple[str, int] = key) -> np.ndarray:
                params = dict(inst.params)
                params[key] = batch
                return model.cost(net, model.forward(net, params, inst.X), inst.Y, params)  # + L2

            numeric = fd.central_differences(f, inst.params[key], eps)
            analytic = np.asarray(values["d" + base, l], dtype=float)
            norm = float(np.linalg.norm(analytic))
            noise_abs = np.finfo(float).eps * max(J, 1.0) / eps * np.sqrt(analytic.size)
            noise = np.inf if norm == 0 else float(noise_abs / norm)
            rows.append(FDRow(
                T[base, l].text, T[base, l].latex, analytic.size, norm,
                float(np.linalg.norm(numeric)), float(analytic.flat[0]), float(numeric.flat[0]),
                fd.relative_error(analytic, numeric), noise, threshold))
    return rows


# -- wrong variants -------------------------------------------------------------------------------
N = TypeVar("N", bound=E.Expr)


def unchecked(cls: type[N], **fields: Any) -> N:
    """A node built WITHOUT its shape check, only to print a formula that cannot be built (the
    wrong order ``dZ[2] W[2]ᵀ``); :func:`rebuild` re-creates it through the checked constructors."""
    node = object.__new__(cls)
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not an expression node")
    for k, v in fields.items():
        object.__setattr__(node, k, v)
    for f in dataclasses.fields(cls):
        if f.name not in fields:
            object.__setattr__(node, f.name, f.default)
    return node


def rebuild(e: E.Expr) -> E.Expr:
    """The same tree through the checked constructors: raises ShapeMismatch where shapes clash."""
    return E.map_children(e, rebuild)


@dataclass(frozen=True)
class Variant:
    """A wrong formula for ``target``: ``expr`` (maybe unbuildable), its mistake code and how a
    student might put it."""

    code: str
    kind: str
    layer: int
    target: E.Sym
    expr: E.Expr
    correct: E.Expr

    @property
    def formula(self) -> Formula:
        """The wrong formula as a Formula, so it prints as every derived one does."""
        return Formula(self.layer, self.target, self.expr, self.kind)

    @property
    def text(self) -> str:
        return self.formula.text

    @property
    def latex(self) -> str:
        return self.formula.latex

    @property
    def code_text(self) -> str:
        return self.formula.code


def variants(derivation: Derivation) -> list[Variant]:
    """Typical wrong versions of a hidden layer's dZ, dW, db and the output layer's dZ."""
    net = derivation.network
    T = SymbolTable(net)
    out: list[Variant] = []

    def add(code: str, f: Formula, expr: E.Expr) -> None:
        out.append(Variant(code, f.kind, f.layer, f.target, expr, f.expr))

    h = net.L - 1 if net.L >= 2 else 1
    f = derivation.get("dZ", h)
    if h < net.L and f is not None and isinstance(f.expr, E.Hadamard) and isinstance(f.expr.left, E.MatMul):
        prod, gp = f.expr.left, f.expr.right
        swapped = unchecked(E.MatMul, left=prod.right, right=prod.left)
        add("wrong_order", f, unchecked(E.Hadamard, left=swapped, right=gp))
        W = next(x for x in (prod.left, prod.right) if isinstance(x, E.Transpose))
        bare = unchecked(E.MatMul, **{"left": W.arg, "right": prod.right} if prod.left is W
                         else {"left": prod.left, "right": W.arg})
        add("missing_transpose", f, unchecked(E.Hadamard, left=bare, right=gp))
        if isinstance(gp, E.Deriv):
            add("activation_instead_of_derivative", f, E.Hadamard(prod, T["A", h]))
    f = derivation.get("dW", h)
    if f is not None:
        inner = f.expr.arg if isinstance(f.expr, E.Scale) else f.expr
        if isinstance(f.expr, E.Scale):
            add("missing_scale", f, inner)
        if isinstance(inner, E.MatMul):
            for side in ("left", "right"):
                t = getattr(inner, side)
                if isinstance(t, E.Transpose):
                    bare = unchecked(E.MatMul, **{"left": inner.left, "right": inner.right, side: t.arg})
                    add("missing_transpose", f, _rescale(f.expr, bare))
    f = derivation.get("db", h)
    if f is not None:
        s = f.expr.arg if isinstance(f.expr, E.Scale) else f.expr
        if isinstance(s, E.Sum) and s.axis is not None:
            add("wrong_sum_axis", f, _rescale(f.expr, E.Sum(s.arg, 1 - s.axis)))
            add("missing_sum", f, _rescale(f.expr, s.arg))
    f = derivation.get("dZ", net.L)
    if f is not None and isinstance(f.expr, E.Pointwise) and net.loss is not None:
        add("sign_error", f, E.Pointwise(sp.expand(-f.expr.expr), f.expr.params, f.expr.args))
    return out


def _rescale(original: E.Expr, inner: E.Expr) -> E.Expr:
    if isinstance(original, E.Scale):
        return unchecked(E.Scale, factor=original.factor, arg=inner)
    return inner


_REASONS = {
    "wrong_order": "the matrix product is taken in the wrong order",
    "missing_transpose": "a transpose is missing",
    "activation_instead_of_derivative": "the activation A appears where its derivative g′(Z) belongs",
    "missing_scale": "the 1/m of the mean cost is missing",
    "wrong_sum_axis": "the sum runs over the wrong axis",
    "missing_sum": "the sum over the examples is missing",
    "sign_error": "the sign is wrong",
}


def own_verdict(v: Variant, env: dict, net: Network, narrowed: Variant | None = None
                ) -> dict[str, Any]:
    """Judge a variant without the checker: shapes first (ShapeMismatch), then the value on
    ``env`` (the values of ``net``'s quantities). ``narrowed``: the same variant of a narrowed
    copy of the network, whose values ``env`` holds (:func:`judge`; the shapes are the full
    network's)."""
    expected = f"{to_text(v.target)} = {to_text(v.correct)}"
    base = {"mistakes": [v.code], "expected": expected, "source": "handout"}
    try:
        built = rebuild(v.expr)
    except ShapeMismatch as exc:
        return {**base, "verdict": "shape_error", "message": f"{exc}; {_REASONS[v.code]}"}
    if not all(bool(as_sympy(a) == as_sympy(b)) for a, b in zip(built.shape, v.target.shape, strict=True)):
        got, want = "×".join(map(str, built.shape)), "×".join(map(str, v.target.shape))
        return {**base, "verdict": "shape_error",
                "message": f"the right side is {got} but {v.target.text} is {want}; {_REASONS[v.code]}"}
    if narrowed is not None:
        v, built = narrowed, rebuild(narrowed.expr)
    backend = E.NumpyBackend(model.standins(net))
    m_value = model.example_count(net, env["X", None])
    value = np.asarray(E.evaluate(bind_m(built, m_value, env_sizes(net, env)), env, backend), dtype=float)
    err = fd.relative_error(value, env[v.kind, v.layer])
    if err < 1e-9:
        return {**base, "verdict": "correct", "mistakes": [], "message": "equal on this instance"}
    return {**base, "verdict": "not_equivalent",
            "message": f"shapes fit, but the values differ (relative error {err:.2g} on a random "
                       f"instance); {_REASONS[v.code]}"}


def judge(derivation: Derivation, seed: int = 0) -> list[tuple[Variant, dict[str, Any]]]:
    """Each variant with its verdict: ``derive.check.check`` when present, else :func:`own_verdict`.
    Variants that turn out correct for this network are dropped."""
    net = derivation.network
    # the numbers for own_verdict, drawn only when the checker gives no verdict, on the network
    # with layers wider than MAX_FD_WIDTH narrowed (a 100,000-unit W would be 80 GB)
    small = fd_network(net)
    narrowed = small.layers != tuple(model.concrete_sizes(net))
    small_derivation = derive(small, prove=False) if narrowed else derivation
    values: dict | None = None
    checker = _checker()
    out = []
    for v, sv in zip(variants(derivation), variants(small_derivation), strict=True):
        verdict = None
        if checker is not None:
            for text in (v.text, v.code_text):
                try:
                    verdict = checker(text, net).to_dict()
                except Exception:  # the checker's failure must not lose the handout: own verdict
                    verdict = None
                if verdict is not None and verdict.get("verdict") != "parse_error":
                    verdict = {**verdict, "source": "derive check", "input": text}
                    break
                verdict = None
        if verdict is None:
            if values is None:
                values = gradient_values(small_derivation,
                                         model.random_instance(small_derivation.network,
                                                               seed=seed, m=4))
            verdict = own_verdict(v, values, small_derivation.network, sv if narrowed else None)
        if verdict.get("verdict") != "correct":
            out.append((v, verdict))
    return out


def _checker() -> Callable[..., Any] | None:
    """The checker of ``derive check`` (the handout falls back on its own verdicts without it)."""
    return check
