"""The convolutional layer: Z[l] = corr(pad(A[l-1], p), W[l], s) + b[l], A[l] = g(Z[l]), in the
Deep Learning Specialization's layout (A (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C),
b (1, 1, 1, n_C)).

Its quantities are rank 4, which the dense engine's matrices (2-D shapes, ``net.dim(l)`` ints)
cannot carry; so the type declares its forward map and backward rule over the tensor nodes
(:mod:`derive.core.tensor`, :mod:`derive.core.convolution`), and the CNN walk
(:mod:`derive.conv.derivation`) calls them as the dense walk calls ``LayerType.backward``. Each
backward step cites an identity of ``rules/identities.toml`` and carries the course's loop form
(the ``for i, h, w, c`` accumulation of ``conv_backward``) and the local problem its proof
differentiates (:mod:`derive.conv.proof`).

The tensor nodes are imported where a CNN is walked, not at registration: a dense command (every
``derive check``) registers this type but never builds a rank-4 node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from derive.catalogue import rules
from derive.errors import SpecError
from derive.layers.base import LayerType

if TYPE_CHECKING:
    from derive.conv.spec import CNNLayer
    from derive.conv.steps import TensorWalk
    from derive.core import tensor as T


def loop_header(layer: CNNLayer, per_example: Sequence[str] = (), windows: bool = True) -> list[str]:
    """The course's loop over examples (``per_example``: its lines at the top of each, such as
    ``a_prev_pad = A_prev_pad[i]``), output positions and channels, with this layer's f, s;
    ``windows``: with the window's corners (db's loop reads none)."""
    return [
        "for i in range(m):",
        *(f"    {line}" for line in per_example),
        f"    for h in range(n_H):        # n_H = {layer.out_shape[0]}",
        f"        for w in range(n_W):    # n_W = {layer.out_shape[1]}",
        f"            for c in range(n_C):    # n_C = {layer.out_shape[2]}",
        *([f"                vert_start = h * {layer.stride}; vert_end = vert_start + {layer.size}",
           f"                horiz_start = w * {layer.stride}; horiz_end = horiz_start + {layer.size}"]
          if windows else []),
    ]


def pad_line(layer: CNNLayer, name: str, source: str) -> str:
    p = layer.pad
    if not p:
        return f"{name} = {source}"
    return f"{name} = np.pad({source}, ((0, 0), ({p}, {p}), ({p}, {p}), (0, 0)))   # zero_pad, pad = {p}"


class TensorLayer(LayerType):
    """A layer type whose quantities are rank 4: the dense engine's network (2-D matrices) cannot
    hold it, so its matrix-side methods say where it belongs (a CNN spec, :mod:`derive.conv`)."""

    def _refuse(self, where: str):
        raise SpecError(f"{where}: a {self.kind} layer belongs to a CNN spec (input = [n_H, n_W, "
                        "n_C] and [[layer]] tables; derive.conv), not to a dense network")

    def units(self, table, previous, where):
        self._refuse(where)

    def forward(self, net, l, sym):
        self._refuse(f"layer {l} ({self.kind})")

    def backward(self, walk, l, upstream):
        self._refuse(f"layer {l} ({self.kind})")


class Conv2D(TensorLayer):
    """A 2-D convolutional layer (multi-channel, strided, zero-padded) and its activation."""

    kind = "conv2d"
    title = ("2-D convolution (the course's layout): Z = corr(pad(A[l-1], p), W, s) + b, "
             "A = g(Z); filters, size f, stride s, pad p")
    keys = ("filters", "size", "stride", "pad", "activation")
    parameters = ("W", "b")
    values = ("Z", "A")
    cites = ("conv_activation_chain", "conv_weight_gradient", "conv_bias_gradient",
             "conv_input_gradient")

    # -- shapes and the forward map ------------------------------------------------------------
    def tensor_shape(self, layer: CNNLayer, base: str, m) -> T.TShape:
        f, (_, _, k), (h, w, c) = layer.size, layer.in_shape, layer.out_shape
        if base == "W":
            return (f, f, k, c)
        if base == "b":
            return (1, 1, 1, c)
        return (m, h, w, c)

    def cnn_forward(self, walk: TensorWalk, layer: CNNLayer) -> tuple[tuple[T.TSym, T.Tensor], ...]:
        """Z[l] = corr(pad(A[l-1], p), W[l], s) + b[l]; A[l] = g(Z[l])."""
        from derive.core import convolution as C
        from derive.core import tensor as T

        l = layer.number
        Z = walk.sym("Z", l)
        z = T.AddBias(C.Correlate(T.Pad(walk.sym("A", l - 1), layer.pad), walk.sym("W", l),
                                  layer.stride), walk.sym("b", l))
        act = rules.activations()[layer.activation or "relu"]
        return ((Z, z), (walk.sym("A", l), T.TAct(act, Z)))

    # -- the backward rule ------------------------------------------------------------------
    def cnn_backward(self, walk: TensorWalk, layer: CNNLayer, upstream: T.Tensor | None) -> T.Tensor:
        """dZ[l], dW[l], db[l], and dA[l-1] for the layer below (returned)."""
        from derive.core import convolution as C
        from derive.core import tensor as T

        l, p, s, f = layer.number, layer.pad, layer.stride, layer.size
        act = rules.activations()[layer.activation or "relu"]
        dA = upstream if upstream is not None else walk.sym("dA", l)
        dZ_expr = T.THadamard(dA, T.TDeriv(act, walk.sym("Z", l)))
        walk.step(layer, "dZ", dZ_expr, "conv_activation_chain",
                  ("dZ = np.zeros(Z.shape)",
                   f"dZ[i, h, w, c] = dA[i, h, w, c] * {act.text}′(Z[i, h, w, c])   # every i, h, w, c",
                   f"# {act.text}′ as numpy writes it: {act.derivative_numpy} (A = {act.text}(Z))"),
                  wrt=("Z", l), output=("A", l), upstream=("dA", l), scaled=False)
        dZ = walk.sym("dZ", l)
        padded = T.Pad(walk.sym("A", l - 1), p)
        head = [pad_line(layer, "A_prev_pad", "A_prev"), "dW = np.zeros(W.shape)",
                *loop_header(layer, ("a_prev_pad = A_prev_pad[i]",)),
                "                a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]",
                "                dW[:, :, :, c] += a_slice * dZ[i, h, w, c]"]
        dW = C.WeightCorrelate(padded, dZ, s, f)
        walk.step(layer, "dW", walk.scaled(dW), "conv_weight_gradient",
                  (*head, *walk.scale_lines("dW")),
                  wrt=("W", l), output=("Z", l), upstream=("dZ", l), scaled=True)
        db = T.TSum(dZ, (0, 1, 2))
        walk.step(layer, "db", walk.scaled(db), "conv_bias_gradient",
                  ("db = np.zeros(b.shape)", *loop_header(layer, windows=False),
                   "                db[:, :, :, c] += dZ[i, h, w, c]", *walk.scale_lines("db")),
                  wrt=("b", l), output=("Z", l), upstream=("dZ", l), scaled=True)
        if l == 1 and not walk.input_gradient:
            return dZ
        h_prev, w_prev = layer.in_shape[0], layer.in_shape[1]
        size = (h_prev + 2 * p - f + 1, w_prev + 2 * p - f + 1)
        dA_prev = T.Crop(C.FullConvolve(C.Dilate(dZ, s, size), walk.sym("W", l)), p, (h_prev, w_prev))
        crop = f"dA_prev = dA_prev_pad[:, {p}:-{p}, {p}:-{p}, :]" if p else "dA_prev = dA_prev_pad"
        walk.step(layer, "dA", dA_prev, "conv_input_gradient",
                  (pad_line(layer, "dA_prev_pad", "np.zeros(A_prev.shape)"), *loop_header(layer),
                   "                dA_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, :] "
                   "+= W[:, :, :, c] * dZ[i, h, w, c]", crop),
                  wrt=("A", l - 1), output=("Z", l), upstream=("dZ", l), scaled=False, target_layer=l - 1)
        return walk.sym("dA", l - 1)
