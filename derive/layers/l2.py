"""The L2 penalty as a cost term: a regularised layer's dW[l] gains k W[l], the gradient of
p Σ ‖W[l]‖²_F with k = 2p (derive.network.penalty has the forms). A layer's backward rule hands
its data term here; the step cites ``frobenius_gradient`` and the proof's surrogate gains the
penalty. b is never regularised.
"""

from __future__ import annotations

from dataclasses import replace

from derive.core import expr as E
from derive.core.names import factor_text
from derive.layers.base import Local, Walk


def weight_gradient(walk: Walk, l: int, data: E.Expr, local: Local) -> tuple[E.Expr, Local]:
    """dW[l] = data + k W[l] where the cost penalises W[l] (else data, unchanged)."""
    net = walk.net
    if not net.regularised(l):
        return data, local
    W, k, p = walk.sym("W", l), net.l2_coefficient, net.l2_penalty
    term: E.Expr = W if k == 1 else E.Scale(k, W)
    total = E.Add(data, term)
    walk.step(l, walk.sym("dW", l), total, "frobenius_gradient", (),
              f"L2 ({net.l2_form} form): ∂/∂W[{l}] of {factor_text(p)} ‖W[{l}]‖²_F is "
              f"{factor_text(k)} W[{l}], added to the data term")
    return total, replace(local, penalty=p, method=f"{local.method} + {factor_text(p)} ‖W[{l}]‖²_F")


def bias_note(walk: Walk, note: str) -> str:
    """A db step's note, saying that b is not regularised when the cost has an L2 term."""
    return note if walk.net.l2 is None else f"{note}; b is not regularised (L2 penalises W only)"
