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
from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.printing import to_code, to_latex, to_text
from derive.layers import loss
from derive.layers.base import Local, Upstream
from derive.network.spec import Network
from derive.network.symbols import SymbolTable

if TYPE_CHECKING:
    from derive.engine.proof import Proof

KINDS = ("dA", "dG", "dZ", "dW", "db")  # dG: a dropout layer's gradient before its mask
#: batch normalisation's gradients (derive.layers.batchnorm), besides dZ, dW and dA
BATCHNORM_KINDS = ("dZtilde", "dgamma", "dbeta", "dZnorm", "dvar", "dmu")


class _Equation:
    """``target = expr`` printed three ways (Step and Formula both are one)."""

    target: E.Sym
    expr: E.Expr

    @property
    def text(self) -> str:
        return f"{to_text(self.target)} = {to_text(self.expr)}"

    @property
    def latex(self) -> str:
        return f"{to_latex(self.target)} = {to_latex(self.expr)}"

    @property
    def code(self) -> str:
        return f"{to_code(self.target)} = {to_code(self.expr)}"


@dataclass(frozen=True)
class Step(_Equation):
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


@dataclass(frozen=True)
class Formula(_Equation):
    """A result: ``target = expr``, e.g. dW[1] = (1/m) dZ[1] Xᵀ."""

    layer: int
    target: E.Sym
    expr: E.Expr
    kind: str  # "dA", "dZ", "dW", "db", or "dG" (before a dropout mask)
    local: Local | None = field(default=None, compare=False, repr=False)  # what its proof differentiates

    @property
    def name(self) -> str:
        return to_text(self.target)

    @property
    def shape(self):
        return self.expr.shape

    def __str__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


@dataclass(frozen=True)
class Derivation:
    """Every layer's dA, dZ, dW, db for one network, the steps that led there, and their proof."""

    network: Network
    formulas: tuple[Formula, ...]
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()
    proof: Proof | None = field(default=None, compare=False)

    def formula(self, kind: str, layer: int) -> Formula:
        """The formula of ``kind`` at ``layer``; where a layer gives two (batch norm's dZ through
        the graph, then its compact form), the last: what the layers below and dW read."""
        for f in reversed(self.formulas):
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

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


def derive(net: Network, prove: bool = True, input_gradient: bool = False) -> Derivation:
    """Derive every layer's gradients; with ``prove`` (the default) also prove each formula and
    raise :class:`derive.errors.ProofFailure` if any fails. With ``input_gradient`` the walk goes
    on below layer 1 to dA[0] = dX, the gradient with respect to the input (what a layer test's
    ``dx`` or the course's ``grads["dA0"]`` holds); it is left out by default, since training
    needs no dX.

    >>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    >>> print(derive(net, prove=False, input_gradient=True).formulas[-1])
    dX = W[1]ᵀ dZ[1]
    """
    d = _derive(net, input_gradient)
    if prove:
        # imported here, not at the top: derive check derives without proving, and its cold start
        # is measured (bench/bench_check.py); proof.py does not import this module at run time
        from derive.engine.proof import prove as run_proof

        d = replace(d, proof=run_proof(d, strict=True))
    return d


class _Walk:
    """The derivation's state as the layers see it (:class:`derive.layers.base.Walk`)."""

    def __init__(self, net: Network, input_gradient: bool = False):
        self.net = net
        self.input_gradient = input_gradient
        self.table = SymbolTable(net)
        self.scale: sp.Expr = net.weight_factor  # the 1/m of dW and db, or 1
        self.steps: list[Step] = []
        self.formulas: list[Formula] = []
        self.notes = list(net.notes)
        self._identities = rules.identities()

    def sym(self, base: str, layer: int | None = None) -> E.Sym:
        return self.table[base, layer]

    def identity(self, layer: int, rule: str) -> rules.Identity:
        own = self.net.block(layer).identities
        if rule in own:
            return own[rule]
        try:
            return self._identities[rule]
        except KeyError:
            kind = self.net.kinds[layer - 1]
            raise KeyError(f"layer {layer} ({kind}) cites {rule!r}, which is not in rules/identities.toml") from None

    def step(self, layer, target, expr_, rule, cites=(), note="", index_layer=None) -> None:
        ident = self.identity(layer, rule)
        il = layer if index_layer is None else index_layer
        facts = self.facts(layer)  # the statement says what this layer has (b, Z̃, D, 1/m, L2)
        self.steps.append(Step(layer, target, expr_, rule, ident.title_for(facts),
                               ident.index_for(il, facts), ident.index_latex_for(il, facts),
                               tuple(cites), note))

    def facts(self, layer: int) -> rules.Facts:
        """What layer ``layer`` has, as the statements of its steps say it."""
        net, block = self.net, self.net.block(layer)
        return rules.Facts(scale=self.scale, penalised=net.regularised(layer),
                           bias="b" in block.parameters, normalised="Ztilde" in block.values,
                           masked=net.dropout(layer) is not None)

    def emit(self, layer, kind, expr_, local: Local) -> None:
        self.formulas.append(Formula(layer, self.table[kind, layer], expr_, kind, local))


def _derive(net: Network, input_gradient: bool = False) -> Derivation:
    """The walk: the loss seeds dA[L], then each layer, from the top, emits its own formulas and
    hands dA[l-1] to the layer below."""
    walk = _Walk(net, input_gradient)
    loss.seed(walk)
    if net.loss_entry is None:
        walk.notes.append(
            "generic loss ℓ: the derivation starts at dA[L] = ∂ℓ/∂A[L], taken as given"
            if net.output_factor == 1 else
            "generic loss ℓ: the derivation starts at dA[L] = ∂J/∂A[L] = (1/m) ∂ℓ/∂A[L] (scale dZ: "
            "the 1/m is in it), taken as given")
    if net.l2 is not None:
        walk.notes.append(net.l2_statement())
    if net.keep_prob is not None:
        walk.notes.append(net.dropout_statement())
    walk.notes.extend(n for l in range(1, net.L + 1) if (n := net.block(l).statement(net, l)))
    upstream: Upstream | None = None
    for l in range(net.L, 0, -1):
        upstream = net.block(l).backward(walk, l, upstream)
    return Derivation(net, tuple(walk.formulas), tuple(walk.steps), tuple(walk.notes))
