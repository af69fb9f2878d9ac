"""Numbers from the derived formulas: the course's conv and pool functions, and a whole CNN's
gradients, each evaluated (numpy, float64) from the nodes the layer types' rules build (the same
nodes the derivation prints and the proofs differentiate), never from a second copy of the maths.

The course's layout and names (Deep Learning Specialization, course 4, "Convolution model Step by
Step"): A_prev (m, n_H_prev, n_W_prev, n_C_prev), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C);
``layout="cs231n"`` takes and returns CS231n's x (N, C, H, W), w (F, C, HH, WW), b (F,).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> A_prev, W, b = rng.normal(size=(2, 5, 5, 3)), rng.normal(size=(3, 3, 3, 4)), rng.normal(size=(1, 1, 1, 4))
>>> Z = conv_forward(A_prev, W, b, stride=2, pad=1)
>>> Z.shape
(2, 3, 3, 4)
>>> dA_prev, dW, db = conv_backward(np.ones_like(Z), A_prev, W, b, stride=2, pad=1)
>>> dA_prev.shape, dW.shape, db.shape, float(db.ravel()[0])
((2, 5, 5, 3), (3, 3, 3, 4), (1, 1, 1, 4), 18.0)
>>> pool_backward(np.ones((1, 1, 1, 1)), np.arange(4.0).reshape(1, 2, 2, 1), f=2, stride=2, mode="max").ravel()
array([0., 0., 0., 1.])
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from derive.conv.derivation import TensorWalk, derive_cnn, forward_definitions
from derive.conv.spec import CNN, CNNLayer
from derive.core import tensor as T
from derive.core.names import m as M
from derive.errors import SpecError
from derive.layers import layer_type

if TYPE_CHECKING:
    import numpy as np

__all__ = ["conv_backward", "conv_forward", "network_gradients", "pool_backward", "pool_forward"]


def _shape4(name: str, x) -> tuple[int, ...]:
    shape = tuple(int(d) for d in x.shape)
    if len(shape) != 4:
        raise SpecError(f"{name} must be rank 4 (the course's layout), not of shape {shape}")
    return shape


def _conv_layer(A_prev, W, stride: int, pad: int) -> CNNLayer:
    m_, h, w, c = _shape4("A_prev", A_prev)
    f1, f2, k, n_c = _shape4("W", W)
    if f1 != f2 or k != c:
        raise SpecError(f"W of shape {(f1, f2, k, n_c)} does not fit A_prev's {c} channels "
                        "(square f×f filters of shape (f, f, n_C_prev, n_C))")
    if f1 > h + 2 * pad or f1 > w + 2 * pad or stride < 1 or pad < 0:
        raise SpecError(f"an {f1}×{f1} filter at stride {stride}, pad {pad} does not fit {h}×{w}")
    out = ((h + 2 * pad - f1) // stride + 1, (w + 2 * pad - f1) // stride + 1, n_c)
    return CNNLayer(1, "conv2d", (h, w, c), out, filters=n_c, size=f1, stride=stride, pad=pad,
                    activation="linear")


def _pool_layer(A_prev, f: int, stride: int, mode: str) -> CNNLayer:
    _, h, w, c = _shape4("A_prev", A_prev)
    mode = {"avg": "average", "mean": "average"}.get(mode, mode)
    if mode not in ("max", "average"):
        raise SpecError(f"mode {mode!r}: max or average")
    if f > h or f > w or f < 1 or stride < 1:
        raise SpecError(f"a {f}×{f} window at stride {stride} does not fit {h}×{w}")
    return CNNLayer(1, "pool", (h, w, c), ((h - f) // stride + 1, (w - f) // stride + 1, c),
                    size=f, stride=stride, mode=mode)


def _walk(layer: CNNLayer, m_: int) -> TensorWalk:
    """A one-layer walk at the arrays' own m, scale 1: the course's functions are given
    dZ = ∂J/∂Z (dA = ∂J/∂A) and return the gradients of the same J, with no 1/m of their own."""
    return TensorWalk({1: layer}, m_, 1, input_gradient=True)


def _backward_steps(layer: CNNLayer, m_: int):
    walk = _walk(layer, m_)
    layer_type(layer.kind).cnn_backward(walk, layer, None)  # type: ignore[attr-defined]
    return {s.kind: s for s in walk.steps}


def _forward(layer: CNNLayer, m_: int):
    walk = _walk(layer, m_)
    return dict((t.key, e) for t, e in layer_type(layer.kind).cnn_forward(walk, layer))  # type: ignore[attr-defined]


LAYOUTS = ("course", "cs231n")


def _layout(layout: str) -> bool:
    """True for CS231n's layout: x (N, C, H, W), w (F, C, HH, WW), b (F,)."""
    if layout not in LAYOUTS:
        raise SpecError(f"layout {layout!r}: one of {', '.join(LAYOUTS)}")
    return layout == "cs231n"


def _x_in(x, cs: bool):
    return x.transpose(0, 2, 3, 1) if cs else x  # (N, C, H, W) -> (m, n_H, n_W, n_C)


def _x_out(x, cs: bool):
    return x.transpose(0, 3, 1, 2) if cs else x


def _w_in(W, b, cs: bool):
    if cs:  # (F, C, HH, WW) -> (f, f, n_C_prev, n_C); b (F,)
        return W.transpose(2, 3, 1, 0), b.reshape(1, 1, 1, -1)
    return W, b.reshape(1, 1, 1, -1)


def conv_forward(A_prev, W, b, *, stride: int, pad: int, layout: str = "course") -> np.ndarray:
    """Z = corr(pad(A_prev, pad), W, stride) + b (the course's conv_forward, without its cache;
    ``layout="cs231n"``: x (N, C, H, W), w (F, C, HH, WW), b (F,), out (N, F, H', W'))."""
    import numpy as np
    cs = _layout(layout)
    A_prev, W, b = (np.asarray(v, dtype=float) for v in (A_prev, W, b))
    A_prev, (W, b) = _x_in(A_prev, cs), _w_in(W, b, cs)
    layer = _conv_layer(A_prev, W, stride, pad)
    env = {("A", 0): A_prev, ("W", 1): W, ("b", 1): b}
    return _x_out(T.tevaluate(_forward(layer, A_prev.shape[0])[("Z", 1)], env), cs)


def conv_backward(dZ, A_prev, W, b, *, stride: int, pad: int, layout: str = "course"
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dA_prev, dW, db) from dZ, as the course's conv_backward returns them, evaluated from the
    derived dA[0] = crop(fullconv(dilate(dZ, s), W), p), dW = corr_W(pad(A_prev, p), dZ, s) and
    db = Σ_{i,h,w} dZ (``layout="cs231n"``: (dx, dw, db) in CS231n's shapes)."""
    import numpy as np
    cs = _layout(layout)
    dZ, A_prev, W, b = (np.asarray(v, dtype=float) for v in (dZ, A_prev, W, b))
    dZ, A_prev, (W, b) = _x_in(dZ, cs), _x_in(A_prev, cs), _w_in(W, b, cs)
    layer = _conv_layer(A_prev, W, stride, pad)
    if tuple(dZ.shape) != (A_prev.shape[0], *layer.out_shape):
        raise SpecError(f"dZ has shape {dZ.shape}, the layer's Z {(A_prev.shape[0], *layer.out_shape)}")
    steps = _backward_steps(layer, A_prev.shape[0])
    env = {("A", 0): A_prev, ("W", 1): W, ("b", 1): b, ("dZ", 1): dZ}
    dA, dW, db = (T.tevaluate(steps[k].expr, env) for k in ("dA", "dW", "db"))
    if cs:
        return _x_out(dA, cs), dW.transpose(3, 2, 0, 1), db.reshape(-1)
    return dA, dW, db


def pool_forward(A_prev, *, f: int, stride: int, mode: str = "max", layout: str = "course") -> np.ndarray:
    """A = maxpool or avgpool of A_prev (f×f windows, stride), as the course's pool_forward."""
    import numpy as np
    cs = _layout(layout)
    A_prev = _x_in(np.asarray(A_prev, dtype=float), cs)
    layer = _pool_layer(A_prev, f, stride, mode)
    return _x_out(T.tevaluate(_forward(layer, A_prev.shape[0])[("A", 1)], {("A", 0): A_prev}), cs)


def pool_backward(dA, A_prev, *, f: int, stride: int, mode: str = "max", layout: str = "course") -> np.ndarray:
    """dA_prev from dA: the max-pool mask (create_mask_from_window) or the average spread
    (distribute_value), as the course's pool_backward."""
    import numpy as np
    cs = _layout(layout)
    dA, A_prev = _x_in(np.asarray(dA, dtype=float), cs), _x_in(np.asarray(A_prev, dtype=float), cs)
    layer = _pool_layer(A_prev, f, stride, mode)
    if tuple(dA.shape) != (A_prev.shape[0], *layer.out_shape):
        raise SpecError(f"dA has shape {dA.shape}, the pool's output {(A_prev.shape[0], *layer.out_shape)}")
    step = _backward_steps(layer, A_prev.shape[0])["dA"]
    return _x_out(T.tevaluate(step.expr, {("A", 0): A_prev, ("dA", 1): dA}), cs)


# -- a whole network ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _key(k) -> tuple[str, int]:
    if isinstance(k, tuple):
        return (str(k[0]), int(k[1]))
    text = str(k)
    base = text.rstrip("0123456789")
    if base == text:
        raise SpecError(f"parameter {text!r}: a name with its layer, such as W1 or b1")
    return (base, int(text[len(base):]))


def forward_values(cnn: CNN, params: Mapping, X) -> dict:
    """X and every conv, pool and flatten layer's Z and A, keyed (base, layer)."""
    import numpy as np
    d = derive_cnn(cnn, prove=False)
    env: dict[Any, Any] = {("A", 0): np.asarray(X, dtype=float)}
    env.update({_key(k): np.asarray(v, dtype=float) for k, v in params.items()})
    m_ = env["A", 0].shape[0]
    if env["A", 0].shape[1:] != cnn.input:
        raise SpecError(f"X has shape {env['A', 0].shape}; the spec's input is (m, {', '.join(map(str, cnn.input))})")
    be = T.NumpyTensors({M: m_})
    for target, expr in d.forward:
        env[target.key] = T.tevaluate(expr, env, be)
    return env


def network_gradients(cnn: CNN, params: Mapping, X, Y) -> dict[str, np.ndarray]:
    """The forward pass and the derived backward pass of ``cnn`` on X (m, n_H, n_W, n_C) and Y
    (n_out, m: the dense head's columns). ``params``: "W1", "b1", ... (or ("W", 1)) in the
    course's layout (conv W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C); dense W (n[l], n[l-1]),
    b (n[l], 1)). Returns "dW1", "db1", ... the gradients of J = (1/m) Σᵢ ℓ(i), and "dZ1",
    "dA1", ..., "dA0" (= dX): like the dense engine's dZ[l], dA[l], the per-example gradients
    stacked (so ∂J/∂X = dA0 / m); "A1", "Z1", ... the forward values."""
    import numpy as np

    from derive.engine.values import gradient_values
    from derive.network import model

    d = derive_cnn(cnn, prove=False)
    env = forward_values(cnn, params, X)
    m_ = env["A", 0].shape[0]
    off = cnn.flatten_at
    head = d.head
    Y = np.asarray(Y, dtype=float)
    hparams = {(base, l - off): env[base, l] for base, l in cnn.params() if l > off}
    inst = model.Instance(tuple(head.network.layers), m_, env["A", off], Y, hparams)
    hv = gradient_values(head, inst)
    for (base, layer), value in hv.items():
        if base in ("X", "Y") or layer is None:
            continue
        env[base, layer + off] = value
    env["dA", off] = hv["dA", 0]
    be = T.NumpyTensors({M: m_})
    for s in d.steps:
        if not s.dense:
            env[s.target.key] = T.tevaluate(s.expr, env, be)
    given = set(cnn.params())
    return {f"{base}{layer}": np.asarray(v) for (base, layer), v in env.items()
            if isinstance(layer, int) and (base, layer) not in given and (base, layer) != ("A", 0)}


forward_definitions = forward_definitions  # re-exported for the proofs and the worked numbers
