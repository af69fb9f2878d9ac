"""The dense layer: Z[l] = W[l] A[l-1] + b[l] (columns) or A[l-1] W[l] + b[l] (rows), A[l] = g[l](Z[l]).

The affine map is written here once (:func:`pre_activation`, an expression tree): the layer's
forward definition is that tree, and :func:`affine` evaluates it on numpy arrays (with any leading
batch axes) or explicit SymPy matrices for the code that works on arrays (stability, jacobian):

>>> import numpy as np, sympy as sp
>>> from derive.network.layout import LAYOUTS
>>> W, A, b = np.ones((2, 3)), np.ones((3, 4)), np.arange(2.0).reshape(2, 1)
>>> affine(LAYOUTS["columns"], W, A, b)[:, 0]
array([3., 4.])
>>> affine(LAYOUTS["rows"], sp.Matrix([[1], [2]]), sp.Matrix([[1, 1], [0, 1]]), sp.Matrix([[5]]))
Matrix([
[8],
[7]])
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import sympy as sp

from derive.core import expr as E
from derive.core.expr import evaluate
from derive.errors import SpecError
from derive.layers import dropout, l2
from derive.layers.base import Definition, Key, LayerType, Local, SymFn, Upstream, Walk
from derive.layers.loss import fuse_output, output_local
from derive.network.layout import Layout

if TYPE_CHECKING:
    import numpy as np

    from derive.network.spec import Network


def pre_activation(layout: Layout, W: E.Expr, A: E.Expr, b: E.Expr | None) -> E.Expr:
    """Z = W A + b in the layout's order, b broadcast over the examples: the affine map, written
    once (the layer's forward definition and :func:`affine` both are this tree)."""
    product = E.MatMul(*layout.ordered(W, A))
    return product if b is None else E.Add(product, b, broadcast=True)


@functools.lru_cache(maxsize=256)
def _affine_tree(layout: Layout, shapes: tuple[tuple[int, ...], ...]) -> E.Expr:
    W, A, *b = (E.Sym(name, None, tuple(sp.Integer(d) for d in shape))
                for name, shape in zip("WAb", shapes, strict=False))
    return pre_activation(layout, W, A, b[0] if b else None)


_NUMPY, _SYMPY = E.NumpyBackend(), E.SympyBackend()


def affine(layout: Layout, W: Any, A: Any, b: Any = None) -> Any:
    """:func:`pre_activation` evaluated on numpy arrays (leading batch axes allowed; a 1-D A is
    one example, and so is the result) or explicit SymPy matrices; without ``b``, W A."""
    import numpy as np
    sympy = isinstance(W, sp.MatrixBase)
    vector = not sympy and np.ndim(A) == 1
    if vector:  # one example as a vector: a column (columns) or a row (rows), and back
        A = np.reshape(A, layout.batch(-1, 1))
        b = None if b is None else np.reshape(b, layout.bias(-1, 1))
    values = (W, A) if b is None else (W, A, b)
    tree = _affine_tree(layout, tuple(tuple(v.shape[-2:]) for v in values))
    env = {(name, None): v for name, v in zip("WAb", values, strict=False)}
    Z = evaluate(tree, env, _SYMPY if sympy else _NUMPY)
    return np.reshape(Z, Z.shape[:-2] + (-1,)) if vector else Z


class Dense(LayerType):
    """Z[l] = W[l] A[l-1] + b[l] (in the layout's order), A[l] = g[l](Z[l])."""

    kind = "dense"
    title = ("affine map and an element-wise (or softmax) activation: Z = W A + b, A = g(Z); with "
             "dropout (keep_prob) G = g(Z), A = G ⊙ D / keep_prob, the mask D held fixed")
    keys = ("units", "activation", "batchnorm")  # batchnorm = true: the batchnorm kind instead
    parameters: ClassVar[tuple[str, ...]] = ("W", "b")
    constants: ClassVar[tuple[str, ...]] = ("D",)  # a hidden layer's dropout mask, where it has one
    values: ClassVar[tuple[str, ...]] = ("Z", "G", "A")  # G[l] = g(Z[l]) before the mask, where the layer has dropout
    cites: ClassVar[tuple[str, ...]] = ("elementwise_chain", "softmax_chain", "output_simplification", "substitution",
             "weight_gradient", "bias_gradient", "input_gradient", "frobenius_gradient",
             "dropout_mask")

    def units(self, table: Mapping[str, Any], previous: int | None, where: str) -> int | None:
        if "units" not in table:
            raise SpecError(f"{where}: a dense layer needs units (units = 3)")
        return table["units"]

    def shape(self, net: Network, base: str, l: int) -> tuple[sp.Expr, sp.Expr]:
        layout, n = net.layout, net.dim(l)
        if base == "W":
            return layout.weight(n, net.dim(l - 1))
        if base == "b":
            return layout.bias(n, sp.Integer(1))
        return super().shape(net, base, l)  # Z, G, A (and D, the mask: A[l]'s shape)

    def has(self, net: Network, base: str, l: int) -> bool:
        return base not in dropout.QUANTITIES or net.dropout(l) is not None

    def forward(self, net: Network, l: int, sym: SymFn) -> tuple[Definition, ...]:
        W, b, Z, A = sym("W", l), sym("b", l), sym("Z", l), sym("A", l)
        affine_def = (Z, pre_activation(net.layout, W, sym("A", l - 1), b))
        g = E.Act(net.activation(l), l, Z)
        if net.dropout(l) is None:
            return (affine_def, (A, g))
        # inverted dropout: G[l] = g(Z[l]), A[l] = G[l] ⊙ (1/keep_prob) D[l]
        G = sym("G", l)
        return (affine_def, (G, g), (A, dropout.masked(net, l, G, sym("D", l))))

    def init(self, net: Network, l: int, rng: np.random.Generator, sizes: Sequence[int],
             A_prev: np.ndarray, margin: float) -> dict[Key, np.ndarray]:
        """W ~ N(0, 1/n[l-1]), b ~ N(0, 0.3²); units whose pre-activation comes within ``margin``
        of a kink of the activation (ReLU at 0) are drawn again (their row of W and their bias)."""
        import numpy as np
        layout, n_out, n_in = net.layout, sizes[l], sizes[l - 1]
        W = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=layout.weight(n_out, n_in))
        b = rng.normal(0.0, 0.3, size=layout.bias(n_out, 1))
        act = net.activation(l)
        kinks = [float(k) for k in act.kinks] if act is not None else []
        example_axis = layout.example_sum_axis
        for _ in range(200):
            Z = affine(layout, W, A_prev, b)
            near = np.zeros(n_out, dtype=bool)
            for k in kinks:
                near |= np.any(np.abs(Z - k) < margin, axis=example_axis)
            if not near.any():
                drawn: dict[Key, np.ndarray] = {("W", l): W, ("b", l): b}
                if net.dropout(l) is not None:  # the mask, drawn from the same generator
                    drawn["D", l] = dropout.draw_mask(net, l, rng, np.shape(Z))
                return drawn
            count = int(near.sum())
            if layout.columns:
                W[near] = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(count, n_in))
                b[near] = rng.normal(0.0, 0.3, size=(count, 1))
            else:
                W[:, near] = rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(n_in, count))
                b[:, near] = rng.normal(0.0, 0.3, size=(1, count))
        raise RuntimeError(f"layer {l}: could not draw units away from the activation's kinks")

    # -- backward: dZ from dA, then dW, db, and dA[l-1] for the layer below ------------------
    def backward(self, walk: Walk, l: int, upstream: Upstream | None) -> Upstream | None:
        defs = self.forward(walk.net, l, walk.sym)
        self.activation_backward(walk, l, upstream, defs[1:], "Z")
        return self.affine_backward(walk, l, defs[:1], bias=True)

    def activation_backward(self, walk: Walk, l: int, upstream: Upstream | None,
                            act_defs: tuple[Definition, ...], pre: str) -> None:
        """Emit d{pre}[l] from dA[l] through A[l] = g(pre[l]) (``act_defs``, with dropout's mask
        where the layer has one): ``pre`` is Z for a dense layer, Z̃ under batch norm."""
        net, layout = walk.net, walk.net.layout
        act = net.activation(l)
        Z, A, dA, dZ = walk.sym(pre, l), walk.sym("A", l), walk.sym("dA", l), walk.sym(f"d{pre}", l)
        pre_text = Z.text
        cite_act = (f"activation:{act.name}",) if act is not None else ()
        masks = dropout.mask_keys(net, l)  # (D[l],) under dropout: a constant leaf of the proofs
        g_text = f"g({pre_text}) ⊙ D[{l}]/keep_prob" if masks else f"g({pre_text})"
        own = Local((pre, l), act_defs, ("A", l), masks, f"Σ dA[{l}] ⊙ {g_text}")
        if masks and upstream is not None:  # dG[l] = dA[l] ⊙ D[l] / keep_prob, before the mask
            dropout.emit_gradient(walk, l, act_defs[-1], upstream, pre_text)
        if act is not None and not act.elementwise:  # softmax: its full Jacobian, per example
            units = layout.unit_sum_axis
            spread = E.Sum(E.Hadamard(A, dA), units)  # Σₖ aₖ ∂ℓ/∂aₖ, one per example
            general: E.Expr = E.Hadamard(A, E.Sub(dA, spread, broadcast=True))
            walk.step(l, dZ, general, "softmax_chain", cite_act,
                      f"sum(A ⊙ dA, axis={units}) is each example's Σₖ aₖ ∂ℓ/∂aₖ, broadcast over its units")
        else:
            general = E.Hadamard(dropout.masked(net, l, dA, walk.sym("D", l)) if masks else dA,
                                 E.Deriv(act, l, Z, masked=bool(masks)))
            act_note = f"{act.text}′ = {act.derivative_text}" if act is not None else ""
            if masks and act is not None and "A" in act.derivative_text:
                act_note += f" with A = {act.text}({pre_text}) before the mask"
            if masks:
                walk.step(l, dZ, general, "dropout_mask", cite_act,
                          "; ".join(n for n in (dropout.note(l, pre_text), act_note) if n))  # = dG ⊙ g′
            else:
                rule = "elementwise_chain" if pre == "Z" else "batchnorm_activation"
                walk.step(l, dZ, general, rule, cite_act, act_note)
        loss = net.loss_entry
        if upstream is None and loss is not None:  # the output layer: the loss's own problem
            result, local = general, output_local(net, l, act_defs, act)
            if pre != "Z":
                local = replace(local, wrt=(pre, l), method=local.method.replace(f"(Z[{l}])", f"({pre_text})"))
            fused = fuse_output(net, act, loss, walk.sym)
            if fused is not None:
                result, note = fused  # with the output factor (the 1/m of scale dZ) in front
                if net.output_factor != 1:
                    note = f"{note}; {net.scale_rule.output_note}"
                walk.step(l, dZ, result, "output_simplification", (*cite_act, f"loss:{loss.name}"), note)
        elif upstream is not None and (act is None or act.elementwise):
            # substitute dA[l] from the layer above: the proof runs through both maps
            through = upstream.expr if not masks else dropout.masked(net, l, upstream.expr,
                                                                     walk.sym("D", l))
            result = E.Hadamard(through, E.Deriv(act, l, Z, masked=bool(masks)))
            walk.step(l, dZ, result, "substitution", cite_act,
                      f"dA[{l}] = {upstream.expr} from layer {l + 1}", index_layer=l)
            up = upstream.local
            inner = f"({g_text})" if masks else g_text
            method = f"Σ d{up.output[0]}[{up.output[1]}] ⊙ ({up.forward_text.replace(f'A[{l}]', inner)})"
            local = Local((pre, l), act_defs + up.through, up.output,
                          tuple(k for k in up.leaves if k != ("A", l)) + masks, method, scaled=up.scaled)
        else:  # dA[l] is given (a generic loss) or comes from above unsubstituted (softmax)
            result, local = general, own
        walk.emit(l, f"d{pre}", result, local)

    def affine_backward(self, walk: Walk, l: int, affine_def: tuple[Definition, ...],
                        bias: bool, up_note: str = "per example: no 1/m here") -> Upstream | None:
        """dW (and db where the layer has a bias) and dA[l-1]: J̃ = s Σ dZ ⊙ (W A + b)."""
        net, layout = walk.net, walk.net.layout
        dZ = walk.sym("dZ", l)
        W, A_prev = walk.sym("W", l), walk.sym("A", l - 1)
        leaves: tuple[Key, ...] = ((("W", l), ("b", l), A_prev.key) if bias
                                   else (("W", l), A_prev.key))
        text = f"Σ dZ[{l}] ⊙ Z[{l}]"
        scaled_text = text if walk.scale == 1 else f"(1/m) {text}"
        forward_text = f"W[{l}] A[{l - 1}] + b[{l}]" if bias else f"W[{l}] A[{l - 1}]"
        mean_note = net.scale_rule.weight_note
        dW_expr = _unit_scale(walk.scale, E.MatMul(*layout.ordered(dZ, E.Transpose(A_prev))))
        db_expr = _unit_scale(walk.scale, E.Sum(dZ, layout.example_sum_axis)) if bias else dZ
        walk.step(l, walk.sym("dW", l), dW_expr, layout.identity("weight_gradient"), (), mean_note)
        dW_local = Local(("W", l), affine_def, ("Z", l), leaves, scaled_text, scaled=True)
        dW_expr, dW_local = l2.weight_gradient(walk, l, dW_expr, dW_local)
        walk.emit(l, "dW", dW_expr, dW_local)
        if bias:
            walk.step(l, walk.sym("db", l), db_expr, layout.identity("bias_gradient"), (),
                      l2.bias_note(walk, mean_note))
            walk.emit(l, "db", db_expr, Local(("b", l), affine_def, ("Z", l), leaves, scaled_text,
                                              scaled=True))
        if l == 1 and not walk.input_gradient:
            return None
        up_expr = E.MatMul(*layout.ordered(E.Transpose(W), dZ))
        up_local = Local(A_prev.key, affine_def, ("Z", l), leaves, text, forward_text=forward_text)
        walk.step(l, walk.sym("dA", l - 1), up_expr, layout.identity("input_gradient"), (), up_note)
        walk.emit(l - 1, "dA", up_expr, up_local)
        return Upstream(up_expr, up_local)


def _unit_scale(scale: sp.Expr, e: E.Expr) -> E.Expr:
    return e if scale == 1 else E.Scale(scale, e)
