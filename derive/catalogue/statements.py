"""An identity's element-wise statement filled for one step: its layer and what the network has there.

The templates of ``rules/identities.toml`` hold placeholders; :func:`fill` puts in the step's own
values (:class:`Facts`, which the derivation's walk knows), so the statement printed beside a step
is true for that step's network: {l}, {p}, {n} the layer, the one before, the one after; {s} the
factor of dW, db, dγ, dβ (1/m under scale mean, nothing when it is 1; "s " where no network is
known); {bias} the bias term of Z = W A + b ({+bias} in a title), empty on a layer without one (batch
norm: β shifts instead); {pre} the pre-activation the activation acts on, Z or, under batch norm, Z̃;
{mask} the layer's dropout mask, ⊙ D / keep_prob where it drops units; {l2} a note where the cost's
L2 term also penalises the layer's W (the statement is then of the data term alone).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Facts:
    """What a step's layer has, as its statement needs it (the defaults: a dense layer, no network)."""

    scale: sp.Expr | None = None  # the factor of dW, db, dγ, dβ; None: not known (prints "s ")
    penalised: bool = False  # the cost's L2 term penalises this layer's W
    bias: bool = True  # Z = W A + b (False: Z = W A, a batch-normalised layer)
    normalised: bool = False  # the activation acts on Z̃ (batch norm), not on Z
    masked: bool = False  # the layer has a dropout mask D


_PLAIN = Facts()


@functools.lru_cache(maxsize=64)
def _factor(scale: sp.Expr | None, latex: bool) -> str:
    """{s}: "(1/m) " (LaTeX \frac{1}{m}), nothing for 1, "s " unknown; printed once per scale (a
    depth-100 network fills 1500 statements)."""
    if scale is None:
        return "s "
    if scale == 1:
        return ""
    return f"{sp.latex(scale)} " if latex else f"({sp.sstr(scale)}) "


def fill(template: str, layer: int, facts: Facts = _PLAIN, latex: bool = False) -> str:
    r"""``template`` at ``layer`` with ``facts`` put in (see the module's docstring).

    >>> fill("∂J/∂b[{l}]ᵢ = {s}Σₜ dZ[{l}]ᵢₜ", 2, Facts(scale=1 / sp.Symbol("m")))
    '∂J/∂b[2]ᵢ = (1/m) Σₜ dZ[2]ᵢₜ'
    >>> fill(r"d{pre}^{[{l}]} = dA^{[{l}]}{mask}", 2, Facts(normalised=True, masked=True), latex=True)
    'd\\tilde{Z}^{[2]} = dA^{[2]} \\odot D^{[2]} / \\text{keep\\_prob}'
    >>> fill("Z[{l}]ᵢₜ = Σⱼ W[{l}]ᵢⱼ A[{p}]ⱼₜ{bias}", 1, Facts(bias=False))
    'Z[1]ᵢₜ = Σⱼ W[1]ᵢⱼ Xⱼₜ'
    """
    if layer == 1:  # A[0] is the input X
        template = template.replace("A[{p}]", "X").replace("A^{[{p}]}", "X")
    factor = _factor(facts.scale, latex) if "{s}" in template else ""
    if latex:
        bias, pre, mask = r" + b^{[{l}]}_i", r"\tilde{Z}", r" \odot D^{[{l}]} / \text{keep\_prob}"
        l2 = r"\ (\text{data term})"
    else:
        bias, pre, mask = " + b[{l}]ᵢ", "Z̃", " ⊙ D[{l}] / keep_prob"
        l2 = " (J's data term; the L2 term's gradient comes next)"
    return (
        template.replace("{s}", factor)
        .replace("{l2}", l2 if facts.penalised else "")
        .replace("{+bias}", " + b" if facts.bias else "")
        .replace("{bias}", bias if facts.bias else "")
        .replace("{pre}", pre if facts.normalised else "Z")
        .replace("{mask}", mask if facts.masked else "")
        .replace("{l}", str(layer))
        .replace("{p}", str(layer - 1))
        .replace("{n}", str(layer + 1))
    )
