"""The CNN walk: from the loss down through the dense head, the flatten, the pool and conv
layers, each step citing an identity, in index form (the catalogue's statement) and in the
course's loop form.

Why a walk of its own: the dense engine (:mod:`derive.engine.backward`) carries 2-D matrices
whose sizes are ``net.dim(l)`` ints; conv and pool quantities are rank 4 (m, n_H, n_W, n_C). The
dense head is still the dense engine's: :meth:`CNN.head` is a :class:`~derive.network.spec.Network`
whose derivation (its steps, formulas and proofs) is renumbered into this one (its layer k is
the CNN's layer ``flatten_at + k``, its X the flatten's output). Below the flatten, each layer type
(:mod:`derive.layers.conv2d`, ``pool``, ``flatten``) emits its own steps through
:class:`TensorWalk`, as dense layers do through the dense walk.

>>> from derive.conv.spec import load_cnn, EXAMPLE
>>> d = derive_cnn(load_cnn(EXAMPLE), prove=False)
>>> for s in d.steps[-6:]:
...     print(s.layer, s.name, s.rule)
3 dA[2] flatten_gradient
2 dA[1] maxpool_gradient
1 dZ[1] conv_activation_chain
1 dW[1] conv_weight_gradient
1 db[1] conv_bias_gradient
1 dX conv_input_gradient
>>> print(d.step("dW", 1).text)
dW[1] = (1/m) corr_W(pad(X, 1), dZ[1], s=2)
"""

from __future__ import annotations

import sympy as sp

from derive.catalogue import rules
from derive.conv.steps import CNNDerivation, ConvStep, TensorLocal, TensorWalk, with_proofs
from derive.core import expr as E
from derive.core import tensor as T
from derive.core.names import m as M
from derive.layers import layer_type


def renumbered(expr: E.Expr, off: int) -> E.Expr:
    """A dense head's expression with its layers renumbered: layer k → off + k, X → A[off]."""
    if isinstance(expr, E.Sym):
        if expr.base in ("X", "dX") or (expr.base in ("A", "dA") and expr.layer == 0):
            base = "dA" if expr.base.startswith("d") else "A"
            return E.Sym(base, off, expr.shape)
        if expr.layer is not None:
            return E.Sym(expr.base, expr.layer + off, expr.shape)
        return expr
    return E.map_children(expr, lambda c: renumbered(c, off))


def head_steps(head, off: int, scale: sp.Expr) -> list[ConvStep]:
    """The dense head's steps as the CNN's: renumbered, their statements filled at the CNN's layer."""
    ids = rules.identities()
    out = []
    for s in head.steps:
        ident = ids.lookup(s.rule)
        facts = rules.Facts(scale=scale)
        target = renumbered(s.target, off)
        assert isinstance(target, E.Sym)
        kind = target.base
        expr = renumbered(s.expr, off)
        code = f"{target.to_code()} = {expr.to_code()}"
        out.append(ConvStep(s.layer + off, kind, target, expr, s.rule, ident.title_for(facts),
                            ident.index_for(s.layer + off, facts),
                            ident.index_latex_for(s.layer + off, facts), code))
    return out


def forward_definitions(walk: TensorWalk, cnn) -> tuple[tuple[T.TSym, T.Tensor], ...]:
    """Every conv, pool and flatten layer's definitions, in order (the head's are the dense engine's)."""
    out: list[tuple[T.TSym, T.Tensor]] = []
    for layer in cnn.layers:
        if layer.kind == "dense":
            break
        out.extend(layer_type(layer.kind).cnn_forward(walk, layer))  # type: ignore[attr-defined]
    return tuple(out)


def derive_cnn(cnn, prove: bool = True, input_gradient: bool = True, seed: int = 0) -> CNNDerivation:
    """Derive a CNN's gradients step by step; with ``prove`` prove every step (SymPy entry by
    entry on the printed formula, or on a tiny instance of the same rule for a large layer, and
    central differences; :mod:`derive.conv.proof`) and raise :class:`derive.errors.ProofFailure`
    if any fails. ``input_gradient``: also dA[0] = dX (below a conv first layer)."""
    from derive.engine.backward import derive

    head = derive(cnn.head(), prove=False, input_gradient=True)
    off = cnn.flatten_at
    walk = TensorWalk({l.number: l for l in cnn.layers}, M, 1 / M, input_gradient)
    steps = head_steps(head, off, 1 / M)
    upstream: T.Tensor | None = walk.sym("dA", off)
    for layer in reversed(cnn.layers[:off]):
        upstream = layer_type(layer.kind).cnn_backward(walk, layer, upstream)  # type: ignore[attr-defined]
    head_layers = f"layer {off + 1}" if off + 1 == cnn.L else f"layers {off + 1}..{cnn.L}"
    notes: tuple[str, ...] = (
        "dZ[l], dA[l] stack the per-example gradients ∂ℓ/∂Z[l], ∂ℓ/∂A[l]; dW, db are of "
        "J = (1/m) Σ ℓ (the 1/m in them)",
        f"the dense head is {head_layers} (the dense engine's derivation, renumbered), its input "
        f"the flatten's A[{off}]")
    if any(l.kind == "pool" and l.mode == "max" for l in cnn.layers):
        notes += ("max pooling: the gradient goes to each window's maximum (a tie would send it to "
                  "every maximal entry, as create_mask_from_window does; the proofs draw no ties)",)
    notes += tuple(n for l in cnn.layers if l.kind == "conv2d" and l.pad >= l.size
                   for n in (_padding_only(l),) if n)
    d = CNNDerivation(cnn, tuple(steps + walk.steps), forward_definitions(walk, cnn), head, notes)
    if prove:
        from derive.conv.proof import prove_cnn
        d = prove_cnn(d, seed=seed, strict=True)
    return d


def _padding_only(layer) -> str | None:
    """A note for pad ≥ f: the output rows and columns whose windows read only zeros (None if the
    stride steps over every such window)."""
    p, f, s = layer.pad, layer.size, layer.stride

    def outside(n: int, out: int) -> list[int]:  # window r covers padded positions s·r … s·r + f − 1
        return [r for r in range(out) if s * r + f - 1 < p or s * r >= p + n]

    rows = outside(layer.in_shape[0], layer.out_shape[0])
    cols = outside(layer.in_shape[1], layer.out_shape[1])
    if not rows and not cols:
        return None
    l, name = layer.number, ", ".join(map(str, rows))
    where = (f"rows and columns {name}" if rows == cols else
             f"rows {name or 'none'} and columns {', '.join(map(str, cols)) or 'none'}")
    return (f"layer {l}: pad {p} ≥ f = {f}, so {where} of Z[{l}] (0-based) read only padding: "
            f"there Z[{l}] = b[{l}], and no gradient flows back to A[{l - 1}] through them")


__all__ = ["CNNDerivation", "ConvStep", "TensorLocal", "TensorWalk", "derive_cnn", "head_steps",
           "with_proofs"]
