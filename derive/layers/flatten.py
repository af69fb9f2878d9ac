"""The flatten layer: A[l] = A[l-1].reshape(m, -1).T, (m, n_H, n_W, n_C) → (n_H·n_W·n_C, m),
one example per column, the dense head's input (columns convention). Its backward reshapes the
gradient back (the inverse permutation), citing ``flatten_gradient``. Called by the CNN walk
(:mod:`derive.conv.derivation`), as for :mod:`derive.layers.conv2d`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derive.layers.conv2d import TensorLayer

if TYPE_CHECKING:
    from derive.conv.spec import CNNLayer
    from derive.conv.steps import TensorWalk
    from derive.core import tensor as T


class Flatten(TensorLayer):
    """Flatten a rank-4 tensor into the dense head's columns."""

    kind = "flatten"
    title = "flatten (m, n_H, n_W, n_C) into (n_H·n_W·n_C) × m, one example per column"
    values = ("A",)
    cites = ("flatten_gradient",)

    def tensor_shape(self, layer: CNNLayer, base: str, m) -> T.TShape:
        return (layer.out_shape[0], m)

    def cnn_forward(self, walk: TensorWalk, layer: CNNLayer) -> tuple[tuple[T.TSym, T.Tensor], ...]:
        from derive.core import tensor as T

        l = layer.number
        return ((walk.sym("A", l), T.Flatten(walk.sym("A", l - 1))),)

    def cnn_backward(self, walk: TensorWalk, layer: CNNLayer, upstream: T.Tensor | None) -> T.Tensor:
        from derive.core import tensor as T

        l = layer.number
        dA = upstream if upstream is not None else walk.sym("dA", l)
        target = walk.sym("A", l - 1).shape
        walk.step(layer, "dA", T.Unflatten(dA, target), "flatten_gradient",
                  ("dA_prev = dA.T.reshape(A_prev.shape)   # A = A_prev.reshape(m, -1).T",),
                  wrt=("A", l - 1), output=("A", l), upstream=("dA", l), scaled=False,
                  target_layer=l - 1)
        return walk.sym("dA", l - 1)
