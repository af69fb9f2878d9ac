"""What a layer type declares, in one class: its quantities, its forward map, its backward steps.

A layer type is one module with one class (a subclass of :class:`LayerType`) registered by its
``kind``. The engine knows no layer type: the derivation walks the layers and asks each for its
local steps (:meth:`LayerType.backward`); the forward model folds their :meth:`LayerType.forward`
definitions (numbers evaluate them with numpy, the proofs with SymPy, from the one definition);
the symbol table and the parsers' vocabulary come from :meth:`LayerType.quantities`; and every
formula carries the :class:`Local` problem its proof differentiates, so the proof is one loop.

The derivative of each rule sits beside its forward definition, as in micrograd (an op's
``_backward`` beside its forward) and JAX (``ad.defjvp`` below each primitive); a missing rule is an
explicit error naming the layer kind, as in tinygrad's gradient table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.names import m as M  # the number of examples

if TYPE_CHECKING:  # for annotations only: the network package imports this one
    import numpy as np

    from derive.network.spec import Network

Key = tuple[str, int | None]  # (base, layer): ("W", 2) is W[2]; ("X", None) is X
Definition = tuple[E.Sym, E.Expr]  # Z[l] = W[l] A[l-1] + b[l]


@dataclass(frozen=True)
class Local:
    """The local problem that proves one formula (derive.engine.proof differentiates it).

    The formula is the gradient with respect to ``wrt``. ``through`` are forward definitions,
    in order, from ``wrt`` to the quantity ``output``; ``leaves`` are the other inputs of those
    definitions (drawn at random, in this order, for the numeric proof). With ``loss`` the
    surrogate is c · Σ ℓ(output, Y), c the network's ``output_factor`` (1/m for scale dZ, else 1);
    otherwise J̃ = s · Σ d(output) ⊙ output, with s the network's ``weight_factor`` (1/m for
    scale mean) where ``scaled``, else 1. By the multivariable chain rule a formula
    that passes holds for any upstream value. ``method`` says it in words; ``forward_text`` is
    ``output``'s definition as text (how a layer below names the map it is substituted into).
    ``penalty`` p adds p · Σ (wrt)² to the surrogate (the L2 term of a regularised W).
    """

    wrt: Key
    through: tuple[Definition, ...]
    output: Key
    leaves: tuple[Key, ...]
    method: str
    loss: bool = False
    scaled: bool = False
    generic: bool = True  # prove with an undefined g_l for the layer's element-wise activation
    forward_text: str = ""
    penalty: sp.Expr = sp.Integer(0)  # p: the surrogate gains p Σ wrt² (an L2 penalty on wrt)


class Walk(Protocol):
    """What a layer's backward rule may ask of the derivation (derive.engine.backward)."""

    net: Network
    scale: sp.Expr  # the factor of dW and db: the network's weight_factor, 1/m or 1
    input_gradient: bool  # also derive dA[0] = dX (the gradient with respect to the input)

    def sym(self, base: str, layer: int | None = None) -> E.Sym: ...

    def step(self, layer: int, target: E.Sym, expr: E.Expr, rule: str,
             cites: Sequence[str] = (), note: str = "", index_layer: int | None = None) -> None: ...

    def emit(self, layer: int, kind: str, expr: E.Expr, local: Local) -> None: ...


@dataclass(frozen=True)
class Upstream:
    """dA[l] as the layer above wrote it, and the local problem of that formula."""

    expr: E.Expr
    local: Local


class LayerType:
    """Base of the layer types. Subclasses set the class attributes and the methods below."""

    kind: ClassVar[str]
    title: ClassVar[str]  # one line for ``derive rules``
    keys: ClassVar[tuple[str, ...]] = ()  # what a ``[[layer]]`` table may give besides ``kind``
    parameters: ClassVar[tuple[str, ...]] = ()  # trained quantities, e.g. ("W", "b")
    constants: ClassVar[tuple[str, ...]] = ()  # fixed inputs with no gradient (a dropout mask D)
    values: ClassVar[tuple[str, ...]] = ("A",)  # per-example quantities, the output last
    cites: ClassVar[tuple[str, ...]] = ()  # identities the backward rule cites (rules/identities)
    identities: ClassVar[Mapping[str, rules.Identity]] = {}  # a layer's own, beside the catalogue

    # -- the spec --------------------------------------------------------------------------
    def units(self, table: Mapping[str, Any], previous: int | None, where: str) -> int | None:
        """The layer's width from its ``[[layer]]`` table (None: symbolic); default: unchanged."""
        return previous

    # -- quantities ------------------------------------------------------------------------
    def quantities(self) -> tuple[str, ...]:
        """The named quantities a layer of this type owns, parameters first (W, b, D, Z, A)."""
        return self.parameters + self.constants + self.values

    def has(self, net: Network, base: str, l: int) -> bool:
        """Whether layer ``l`` of ``net`` has the quantity ``base`` (one of :meth:`quantities`);
        a type may own some only in some configurations (dense: D and G under dropout)."""
        return True

    def shape(self, net: Network, base: str, l: int) -> tuple[sp.Expr, sp.Expr]:
        """The shape of quantity ``base`` of layer ``l`` under the network's layout."""
        if base in self.values or base in self.constants:
            return net.layout.batch(net.dim(l), M)
        raise KeyError(f"layer {l} ({self.kind}) has no {base}")

    # -- the forward map, written once ----------------------------------------------------
    def forward(self, net: Network, l: int, sym: SymFn) -> tuple[Definition, ...]:
        """Layer ``l``'s definitions, in order, its output A[l] last."""
        raise NotImplementedError(f"layer kind {self.kind!r} defines no forward map")

    def init(self, net: Network, l: int, rng: np.random.Generator, sizes: Sequence[int],
             A_prev: np.ndarray, margin: float) -> dict[Key, np.ndarray]:
        """Random, well-scaled parameters for layer ``l`` (none by default)."""
        return {}

    def statement(self, net: Network, l: int) -> str:
        """What the derivation's notes say about layer ``l`` of this type ("" for nothing)."""
        return ""

    # -- the backward rule ------------------------------------------------------------------
    def backward(self, walk: Walk, l: int, upstream: Upstream | None) -> Upstream | None:
        """Emit layer ``l``'s formulas (each step citing an identity) given dA[l] from above
        (None at the output layer, where dA[L] is the loss's); return dA[l-1] for the layer below
        (None for l = 1)."""
        raise NotImplementedError(f"layer kind {self.kind!r} has no backward rule")


class SymFn(Protocol):
    def __call__(self, base: str, layer: int | None = None) -> E.Sym: ...

