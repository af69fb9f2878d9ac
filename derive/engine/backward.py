"""The chain rule through the layers, one rule per step, into a :class:`Derivation`.

Each step names the identity (``rules/identities.toml``) or catalogue entry it applies and carries
the element-wise reasoning behind it. Output-layer simplifications (sigmoid + bce ⇒ A − Y) are
derived here by SymPy from the loss and the activation, never looked up; :mod:`derive.engine.proof`
then proves every formula.

>>> from derive.network.spec import Network
>>> d = derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"), prove=False)
>>> for f in d.formulas: print(f)
dA[2] = (1 − Y) ⊘ (1 − A[2]) − Y ⊘ A[2]
dZ[2] = A[2] − Y
dW[2] = (1/m) dZ[2] A[1]ᵀ
db[2] = (1/m) sum(dZ[2], axis=1)
dA[1] = W[2]ᵀ dZ[2]
dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])
dW[1] = (1/m) dZ[1] Xᵀ
db[1] = (1/m) sum(dZ[1], axis=1)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.printing import to_code, to_latex, to_text
from derive.network.spec import Network, m
from derive.network.symbols import SymbolTable

KINDS = ("dA", "dZ", "dW", "db")


@dataclass(frozen=True)
class Step:
    """One application of one rule: ``target = expr`` because of ``rule``."""

    layer: int
    target: E.Sym
    expr: E.Expr
    rule: str  # an identity's name, e.g. "weight_gradient"
    title: str
    index: str  # the element-wise reasoning, Unicode
    index_latex: str
    cites: tuple[str, ...] = ()  # catalogue entries used, e.g. ("activation:sigmoid", "loss:bce")
    note: str = ""

    @property
    def text(self) -> str:
        return f"{to_text(self.target)} = {to_text(self.expr)}"

    @property
    def latex(self) -> str:
        return f"{to_latex(self.target)} = {to_latex(self.expr)}"


@dataclass(frozen=True)
class Formula:
    """A result: ``target = expr``, e.g. dW[1] = (1/m) dZ[1] Xᵀ."""

    layer: int
    target: E.Sym
    expr: E.Expr
    kind: str  # "dA", "dZ", "dW" or "db"

    @property
    def name(self) -> str:
        return to_text(self.target)

    @property
    def shape(self):
        return self.expr.shape

    @property
    def text(self) -> str:
        return f"{to_text(self.target)} = {to_text(self.expr)}"

    @property
    def latex(self) -> str:
        return f"{to_latex(self.target)} = {to_latex(self.expr)}"

    @property
    def code(self) -> str:
        return f"{to_code(self.target)} = {to_code(self.expr)}"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Derivation:
    """Every layer's dA, dZ, dW, db for one network, the steps that led there, and their proof."""

    network: Network
    formulas: tuple[Formula, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    proof: object = field(default=None, compare=False)  # derive.engine.proof.Proof

    def formula(self, kind: str, layer: int) -> Formula:
        for f in self.formulas:
            if f.kind == kind and f.layer == layer:
                return f
        raise KeyError(f"no formula for {kind}[{layer}] in this derivation")

    def get(self, kind: str, layer: int) -> Formula | None:
        try:
            return self.formula(kind, layer)
        except KeyError:
            return None

    def steps_for(self, layer: int) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.layer == layer)

    def __iter__(self):
        return iter(self.formulas)

    def _repr_latex_(self) -> str:
        rows = r" \\ ".join(rf"{to_latex(f.target)} &= {to_latex(f.expr)}" for f in self.formulas)
        return rf"$\begin{{aligned}} {rows} \end{{aligned}}$"

    def __str__(self) -> str:
        return "\n".join(f.text for f in self.formulas)


def derive(net: Network, prove: bool = True) -> Derivation:
    """Derive every layer's gradients; with ``prove`` (the default) also prove each formula and
    raise :class:`derive.errors.ProofFailure` if any fails."""
    d = _derive(net)
    if prove:
        from derive.engine.proof import prove as run_proof

        d = replace(d, proof=run_proof(d, strict=True))
    return d


def _derive(net: Network) -> Derivation:
    T = SymbolTable(net)
    ids = rules.identities()
    cols = net.convention == "columns"
    scale = sp.Integer(1) / m if net.scale == "mean" else sp.Integer(1)
    L = net.L
    steps: list[Step] = []
    formulas: list[Formula] = []
    notes = list(net.notes)

    def step(layer, target, expr_, rule, cites=(), note="", index_layer=None):
        ident = ids[rule]
        il = layer if index_layer is None else index_layer
        steps.append(
            Step(
                layer,
                target,
                expr_,
                rule,
                ident.title,
                ident.index_for(il),
                ident.index_latex_for(il),
                tuple(cites),
                note,
            )
        )

    def emit(layer, kind, expr_):
        formulas.append(Formula(layer, T[kind, layer], expr_, kind))

    loss = net.loss_entry
    if loss is not None:
        dl = loss.gradient
        dA_L = E.Pointwise(dl, (rules.a, rules.y), (T["A", L], T["Y"]))
        step(
            L,
            T["dA", L],
            dA_L,
            "loss_gradient",
            (f"loss:{loss.name}",),
            f"ℓ = {loss.text}; SymPy: ∂ℓ/∂a = {sp.sstr(dl, order='none')} (element-wise)",
        )
        emit(L, "dA", dA_L)
    else:
        notes.append("generic loss ℓ: the derivation starts at dA[L] = ∂ℓ/∂A[L], taken as given")

    for l in range(L, 0, -1):
        act = net.activation(l)
        Z, A, dA, dZ = T["Z", l], T["A", l], T["dA", l], T["dZ", l]
        cite_act = (f"activation:{act.name}",) if act is not None else ()
        if act is not None and act.kind == "softmax":
            units = 0 if cols else 1
            spread = E.Sum(E.Hadamard(A, dA), units)  # Σₖ aₖ ∂ℓ/∂aₖ, one per example
            general: E.Expr = E.Hadamard(A, E.Sub(dA, spread, broadcast=True))
            step(
                l,
                dZ,
                general,
                "softmax_chain",
                cite_act,
                f"sum(A ⊙ dA, axis={units}) is each example's Σₖ aₖ ∂ℓ/∂aₖ, broadcast over its units",
            )
        else:
            general = E.Hadamard(dA, E.Deriv(act, l, Z))
            step(
                l,
                dZ,
                general,
                "elementwise_chain",
                cite_act,
                f"{_gprime_text(act, l)} = {act.derivative_text}" if act is not None else "",
            )
        result = general
        if l == L and loss is not None:
            fused = _fuse_output(net, act, loss, T)
            if fused is not None:
                expr_, note = fused
                step(l, dZ, expr_, "output_simplification", (*cite_act, f"loss:{loss.name}"), note)
                result = expr_
            emit(l, "dZ", result)
        elif l < L:
            if act is None or act.elementwise:
                result = E.Hadamard(_upstream(T, l + 1, cols), E.Deriv(act, l, Z))
                step(
                    l,
                    dZ,
                    result,
                    "substitution",
                    cite_act,
                    f"dA[{l}] = {to_text(_upstream(T, l + 1, cols))} from layer {l + 1}",
                    index_layer=l,
                )
            emit(l, "dZ", result)
        else:  # output layer with a generic loss: dA[L] is given
            emit(l, "dZ", result)

        A_prev = T["A", l - 1]
        if cols:
            dW_expr = E.Scale(scale, E.MatMul(dZ, E.Transpose(A_prev)))
            db_expr = E.Scale(scale, E.Sum(dZ, 1))
        else:
            dW_expr = E.Scale(scale, E.MatMul(E.Transpose(A_prev), dZ))
            db_expr = E.Scale(scale, E.Sum(dZ, 0))
        suffix = "" if cols else "_rows"
        mean_note = (
            "the 1/m comes from J = (1/m) Σₜ ℓₜ" if net.scale == "mean" else "scale sum: no 1/m"
        )
        dW_expr, db_expr = _unit_scale(dW_expr), _unit_scale(db_expr)
        step(l, T["dW", l], dW_expr, "weight_gradient" + suffix, (), mean_note)
        emit(l, "dW", dW_expr)
        step(l, T["db", l], db_expr, "bias_gradient" + suffix, (), mean_note)
        emit(l, "db", db_expr)
        if l > 1:
            up = _upstream(T, l, cols)
            step(l, T["dA", l - 1], up, "input_gradient" + suffix, (), "per example: no 1/m here")
            emit(l - 1, "dA", up)
    return Derivation(net, tuple(formulas), tuple(steps), tuple(notes))


def _unit_scale(e: E.Scale) -> E.Expr:
    return e.arg if e.factor == 1 else e


def _upstream(T: SymbolTable, l: int, cols: bool) -> E.Expr:
    """dA[l-1] from layer l: W[l]ᵀ dZ[l] (columns) or dZ[l] W[l]ᵀ (rows)."""
    W, dZ = T["W", l], T["dZ", l]
    return E.MatMul(E.Transpose(W), dZ) if cols else E.MatMul(dZ, E.Transpose(W))


def _gprime_text(act, l: int) -> str:
    return f"{act.text}′" if act is not None else f"g[{l}]′"


def _fuse_output(net: Network, act, loss: rules.Loss, T: SymbolTable):
    """Try to simplify dZ[L] from ∂ℓ/∂a and the activation; None when nothing simpler comes out."""
    a, y, z = rules.a, rules.y, rules.z
    L = net.L
    dl = loss.gradient
    if act is None:
        return None
    if act.elementwise:
        gprime = act.derivative
        if z in gprime.free_symbols:
            return None  # the derivative is not a function of a alone (relu, gelu, ...)
        fused = rules.tidy(sp.factor(sp.cancel(dl * gprime)))
        if sp.count_ops(fused) >= sp.count_ops(dl) + sp.count_ops(gprime) + 1:
            return None
        note = (
            f"∂ℓ/∂a · {act.text}′ = ({sp.sstr(dl)}) · ({sp.sstr(gprime)}) "
            f"= {sp.sstr(fused, order='none')} (SymPy cancel)"
        )
        return E.Pointwise(fused, (a, y), (T["A", L], T["Y"])), note
    # softmax: dzⱼ = aⱼ (∂ℓ/∂aⱼ − Σₖ aₖ ∂ℓ/∂aₖ); fusable when aₖ ∂ℓ/∂aₖ = c yₖ and Σₖ yₖ = 1
    weighted = sp.cancel(a * dl)
    c = sp.cancel(weighted / y)
    if weighted.free_symbols != {y} or c.free_symbols or not loss.assumes:
        return None
    fused = rules.tidy(sp.factor(sp.cancel(a * (dl - c))))
    note = (
        f"aₖ ∂ℓ/∂aₖ = {sp.sstr(weighted)}, so Σₖ aₖ ∂ℓ/∂aₖ = {sp.sstr(c)} because "
        f"{loss.assumes}; then aⱼ(∂ℓ/∂aⱼ − ({sp.sstr(c)})) = {sp.sstr(fused, order='none')}"
    )
    return E.Pointwise(fused, (a, y), (T["A", L], T["Y"])), note
