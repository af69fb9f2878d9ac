"""Inverted dropout on a dense layer, as the course teaches it: A[l] = g(Z[l]) ⊙ D[l] / keep_prob,
D[l] a 0/1 mask drawn once per forward pass and **held fixed** in the backward pass, so the
formulas are the gradients of the sampled network. The dense layer asks here for its output's
definition, its mask and the step that carries dA[l] through the mask (citing ``dropout_mask``);
the mask is a leaf of every proof that runs through A[l] (a constant, never differentiated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derive.core import expr as E
from derive.layers.base import Definition, Key, Local, Upstream, Walk
from derive.network.dropout import inverse
from derive.network.scales import factor_at

if TYPE_CHECKING:
    import numpy as np

    from derive.network.spec import Network


QUANTITIES = ("D", "G")  # what a dense layer has only under dropout: the mask, g(Z) before it


def masked(net: Network, l: int, value: E.Expr, D: E.Sym) -> E.Expr:
    """``value ⊙ (1/keep_prob) D[l]`` where layer ``l`` has dropout, else ``value``."""
    p = net.dropout(l)
    return value if p is None else E.Hadamard(value, E.Scale(inverse(p), D))


def mask_keys(net: Network, l: int) -> tuple[Key, ...]:
    """(("D", l),) where layer ``l`` has dropout: the leaf its local problems add."""
    return (("D", l),) if net.dropout(l) is not None else ()


def draw_mask(net: Network, l: int, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A 0/1 mask, each entry 1 with probability keep_prob (a symbolic one at its stand-in), as
    the course draws it: ``D = np.random.rand(*A.shape) < keep_prob``."""
    p = net.dropout(l)
    keep = 1.0 if p is None else factor_at(p, 1)
    return (rng.random(shape) < keep).astype(float)


def emit_gradient(walk: Walk, l: int, mask_def: Definition, upstream: Upstream,
                  pre: str = "") -> None:
    """dG[l] = dA[l] ⊙ (1/keep_prob) D[l], the gradient with respect to G[l] = g(Z[l]) before
    the mask (the course's ``dA = dA * D; dA = dA / keep_prob``): a step citing ``dropout_mask``
    (``pre`` names what g acts on: Z[l], or Z̃[l] under batch norm) and the formula with dA[l]
    substituted from the layer above, proven through the mask (a leaf) and the layer above's map."""
    net, D = walk.net, walk.sym("D", l)
    dG = walk.sym("dG", l)
    pre = pre or f"Z[{l}]"
    walk.step(l, dG, masked(net, l, walk.sym("dA", l), D), "dropout_mask", (),
              f"G[{l}] = g({pre}) is the activation before the mask, A[{l}] = G[{l}] ⊙ D[{l}] / "
              f"keep_prob, the mask held fixed; dA[{l}] = {upstream.expr} from layer {l + 1}; dG[{l}] "
              f"is what the course's dA{l} holds after dA{l} = dA{l} * D{l}; dA{l} = dA{l} / keep_prob")
    up = upstream.local
    method = (f"Σ d{up.output[0]}[{up.output[1]}] ⊙ "
              f"({up.forward_text.replace(f'A[{l}]', f'(G[{l}] ⊙ D[{l}]/keep_prob)')})")
    local = Local(("G", l), (mask_def,) + up.through, up.output,
                  tuple(k for k in up.leaves if k != ("A", l)) + (D.key,), method, scaled=up.scaled)
    walk.emit(l, "dG", masked(net, l, upstream.expr, D), local)


def note(l: int, pre: str = "") -> str:
    """The dropout step's note: the mask is held fixed (``pre``: Z[l], or Z̃[l] under batch norm)."""
    pre = pre or f"Z[{l}]"
    dpre = f"d{pre}"
    return (f"A[{l}] = g({pre}) ⊙ D[{l}] / keep_prob with the mask D[{l}] held fixed (the "
            f"gradient of the sampled network), so {dpre} = dG[{l}] ⊙ g′({pre}) with dG[{l}] = "
            f"dA[{l}] ⊙ D[{l}] / keep_prob, zero where a unit was dropped")
