"""What a CNN derivation is made of: its steps (:class:`ConvStep`, each with the local problem
its proof differentiates, :class:`TensorLocal`), the walk the layer types emit them through
(:class:`TensorWalk`) and the whole (:class:`CNNDerivation`). The walk itself is
:mod:`derive.conv.derivation`; the proofs, :mod:`derive.conv.proof`, read these types only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core import tensor as T
from derive.core.names import m as M
from derive.engine.proof_result import FormulaProof
from derive.errors import InternalError
from derive.layers import layer_type

Key = tuple[str, int | None]


@dataclass(frozen=True)
class TensorLocal:
    """What one step's proof differentiates: the gradient with respect to ``wrt`` of
    J̃ = c Σ d(output) ⊙ output, c the walk's scale where ``scaled`` (dW, db: 1/m), else 1."""

    wrt: Key
    output: Key
    upstream: Key
    scaled: bool


@dataclass(frozen=True)
class ConvStep:
    """One step: ``target = expr`` because of ``rule``; ``index`` the element-wise statement,
    ``loop`` the course's loop form; ``proof`` both proofs' result (None until proven)."""

    layer: int
    kind: str  # dZ, dW, db, dA
    target: Any  # T.TSym, or E.Sym for the dense head
    expr: Any  # T.Tensor, or E.Expr for the dense head
    rule: str
    title: str
    index: str
    index_latex: str
    loop: str
    local: TensorLocal | None = field(default=None, compare=False, repr=False)
    proof: FormulaProof | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.target.to_text()

    @property
    def text(self) -> str:
        return f"{self.target.to_text()} = {self.expr.to_text()}"

    @property
    def latex(self) -> str:
        return f"{self.target.to_latex()} = {self.expr.to_latex()}"

    @property
    def dense(self) -> bool:
        return isinstance(self.expr, E.Expr)


class TensorWalk:
    """What a conv, pool or flatten layer's rule may ask: its symbols (shapes from the layer
    types), the walk's scale (1/m under a mean cost, 1 for the course's conv_backward, which is
    given dZ = ∂J/∂Z), and ``step``."""

    def __init__(self, layers: Mapping[int, Any], m=M, scale: sp.Expr = 1 / M,
                 input_gradient: bool = True):
        self.layers = dict(layers)  # number -> CNNLayer
        self.m = m
        self.scale = sp.sympify(scale, strict=True)
        self.input_gradient = input_gradient
        self.steps: list[ConvStep] = []
        self._syms: dict[Key, T.TSym] = {}

    def shape(self, base: str, l: int) -> T.TShape:
        plain = base[1:] if base.startswith("d") else base
        if l in self.layers:
            layer = self.layers[l]
            return layer_type(layer.kind).tensor_shape(layer, plain, self.m)  # type: ignore[attr-defined]
        return (self.m, *self.layers[l + 1].in_shape)

    def sym(self, base: str, layer: int | None = None) -> T.TSym:
        key = (base, layer)
        if key not in self._syms:
            self._syms[key] = T.TSym(base, layer, self.shape(base, layer or 0))
        return self._syms[key]

    def scaled(self, expr: T.Tensor) -> T.Tensor:
        return expr if self.scale == 1 else T.TScale(self.scale, expr)

    def scale_lines(self, name: str) -> tuple[str, ...]:
        return () if self.scale == 1 else (f"{name} = {sp.sstr(self.scale)} * {name}".replace("1/m *", "(1/m) *"),)

    def step(self, layer, kind: str, expr, rule: str, loop: Sequence[str], *, wrt: Key,
             output: Key, upstream: Key, scaled: bool, target_layer: int | None = None) -> None:
        ident = rules.identities().lookup(rule)
        facts = rules.Facts(scale=self.scale)
        tl = layer.number if target_layer is None else target_layer
        target = self.sym(kind, tl)
        if tuple(map(str, target.shape)) != tuple(map(str, expr.shape)):  # a rule's own mistake
            raise InternalError(f"layer {layer.number} ({layer.kind}): {rule} gives {target.to_text()} "
                                f"the shape {expr.shape}, not {target.shape}")
        self.steps.append(ConvStep(
            layer.number, kind, target, expr, rule, ident.title_for(facts),
            ident.index_for(layer.number, facts), ident.index_latex_for(layer.number, facts),
            "\n".join(loop), TensorLocal(wrt, output, upstream, scaled)))


@dataclass(frozen=True)
class CNNDerivation:
    """Every layer's gradients of a CNN: ``steps`` (the dense head's, renumbered, then the
    flatten's, pool's and conv's, from the top), the forward definitions, the head's own
    derivation, notes, and ``proof`` (None until proven)."""

    cnn: Any  # derive.conv.spec.CNN
    steps: tuple[ConvStep, ...]
    forward: tuple[tuple[T.TSym, T.Tensor], ...]
    head: Any  # derive.engine.backward.Derivation of cnn.head()
    notes: tuple[str, ...] = ()
    proof: Any = field(default=None, compare=False)

    def step(self, kind: str, layer: int) -> ConvStep:
        """The step that gives ``kind`` (dW, db, dZ, dA) of ``layer`` (dA[l]: the step of layer
        l + 1 that hands it down)."""
        for s in reversed(self.steps):  # the last: a head's dZ[L] is simplified after its chain rule
            if s.kind == kind and s.target.layer == layer:
                return s
        raise KeyError(f"no step for {kind}[{layer}] in this derivation")

    @property
    def passed(self) -> bool:
        return self.proof is not None and all(s.proof is not None and s.proof.passed for s in self.steps)

    def __str__(self) -> str:
        return "\n".join(s.text for s in self.steps)


def with_proofs(d: CNNDerivation, proofs: Sequence[FormulaProof], proof) -> CNNDerivation:
    """``d`` with each step's proof result (in step order) and the whole proof."""
    steps = tuple(replace(s, proof=p) for s, p in zip(d.steps, proofs, strict=True))
    return replace(d, steps=steps, proof=proof)
