"""Inverted dropout on a dense layer, as the course teaches it: A[l] = g(Z[l]) ⊙ D[l] / keep_prob,
D[l] a 0/1 mask drawn once per forward pass and **held fixed** in the backward pass, so the
formulas are the gradients of the sampled network. The dense layer asks here for its output's
definition, its mask and the step that carries dA[l] through the mask (citing ``dropout_mask``);
the mask is a leaf of every proof that runs through A[l] (a constant, never differentiated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from derive.core import expr as E
from derive.layers.base import Key
from derive.network.dropout import inverse
from derive.network.scales import factor_at

if TYPE_CHECKING:
    from derive.network.spec import Network


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


def note(l: int) -> str:
    """The dropout step's note: the mask is held fixed."""
    return (f"A[{l}] = g(Z[{l}]) ⊙ D[{l}] / keep_prob with the mask D[{l}] held fixed (the "
            f"gradient of the sampled network): the gradient with respect to g(Z[{l}]) is "
            f"dA[{l}] ⊙ D[{l}] / keep_prob, zero where a unit was dropped")
