"""The pooling layer: A[l] = maxpool or avgpool of A[l-1] over f×f windows at stride s, channel
by channel (no parameters). Its backward routes each window's gradient to the window's maximum
(max: the course's ``create_mask_from_window``) or spreads it evenly (average:
``distribute_value``); each step cites an identity and carries the course's loop form. Rank-4
quantities: the CNN walk (:mod:`derive.conv.derivation`) calls it, as for
:mod:`derive.layers.conv2d`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from derive.layers.conv2d import TensorLayer, loop_header

if TYPE_CHECKING:
    from derive.conv.spec import CNNLayer
    from derive.conv.steps import TensorWalk
    from derive.core import tensor as T


class Pool(TensorLayer):
    """Max or average pooling (size f, stride s)."""

    kind = "pool"
    title = "pooling (max or average) over f×f windows at stride s, per channel: no parameters"
    keys = ("mode", "size", "stride")
    values = ("A",)
    cites = ("maxpool_gradient", "avgpool_gradient")

    def tensor_shape(self, layer: CNNLayer, base: str, m) -> T.TShape:
        return (m, *layer.out_shape)

    def cnn_forward(self, walk: TensorWalk, layer: CNNLayer) -> tuple[tuple[T.TSym, T.Tensor], ...]:
        from derive.core import convolution as C

        l = layer.number
        return ((walk.sym("A", l), C.Pool(walk.sym("A", l - 1), layer.size, layer.stride, layer.mode)),)

    def cnn_backward(self, walk: TensorWalk, layer: CNNLayer, upstream: T.Tensor | None) -> T.Tensor:
        from derive.core import convolution as C

        l, f, s = layer.number, layer.size, layer.stride
        dA = upstream if upstream is not None else walk.sym("dA", l)
        head = ["dA_prev = np.zeros(A_prev.shape)", *loop_header(layer, ("a_prev = A_prev[i]",))]
        expr: T.Tensor
        if layer.mode == "max":
            expr = C.PoolMask(dA, walk.sym("A", l - 1), f, s)
            lines = (*head,
                     "                a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]",
                     "                mask = a_prev_slice == np.max(a_prev_slice)   # create_mask_from_window",
                     "                dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] "
                     "+= mask * dA[i, h, w, c]")
            rule = "maxpool_gradient"
        else:
            expr = C.AvgSpread(dA, f, s, walk.sym("A", l - 1).shape)
            lines = (*head,
                     f"                # distribute_value: dA[i, h, w, c] / ({f} * {f}) on every entry of the window",
                     "                dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] "
                     f"+= np.ones(({f}, {f})) * dA[i, h, w, c] / {f * f}")
            rule = "avgpool_gradient"
        walk.step(layer, "dA", expr, rule, lines, wrt=("A", l - 1), output=("A", l),
                  upstream=("dA", l), scaled=False, target_layer=l - 1)
        return walk.sym("dA", l - 1)
