"""An independent oracle for convolutional networks: the forward pass written here from the
definitions, differentiated by the `autograd` package (an autodiff this project did not write).
Nothing here imports derive; it shares no code with derive.conv.

Layout: the Deep Learning Specialization's (course 4) unless ``layout="cs231n"``:
  course   A (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C)
  cs231n   x (N, C, H, W),       w (F, C, HH, WW),        b (F,)
The cs231n forms transpose to the course's layout and back (transposes are differentiated too).

Building blocks (course layout by default), each a forward and its gradients by autograd:
  conv_forward(A_prev, W, b, *, stride, pad, layout="course") -> Z
      Z[i, h, w, c] = Σ_{a, b', k} A_pad[i, h·s + a, w·s + b', k] W[a, b', k, c] + b[c]
      (a cross-correlation, as every deep-learning library computes it; zero padding).
  conv_gradients(dZ, A_prev, W, b, *, stride, pad, layout="course") -> (dA_prev, dW, db)
      the vector-Jacobian product of conv_forward with dZ (the course's conv_backward contract).
  pool_forward(A_prev, *, f, stride, mode="max"|"average", layout="course") -> A
  pool_gradients(dA, A_prev, *, f, stride, mode, layout="course") -> dA_prev
      (autograd splits a max's gradient evenly between tied entries; random inputs have no ties).

Whole networks:
  cnn_gradients(spec, params, X, Y, *, scale="mean", head="rows") -> dict
      ``spec`` is the parsed TOML table (a Mapping): ``input = [n_H, n_W, n_C]`` and a list
      ``layer`` of tables: kind "conv2d" (filters, size, stride=1, pad=0, activation="relu"),
      "pool" (mode="max", size, stride=size), "flatten", "dense" (units, activation="relu");
      ``loss`` "ce" (softmax output) | "bce" (sigmoid output) | "mse" ((a − y)²) | "half_mse".
      Layers are numbered from 1 in the list's order; layer l's parameters are ``W{l}``, ``b{l}``
      (conv2d: the course's shapes; dense with head="rows": W (n_prev, units), b (1, units),
      Z = A W + b; with head="columns": W (units, n_prev), b (units, 1), Z = W A + b on the
      flattened activation transposed to (n, m)). Flatten is row-major over (n_H, n_W, n_C)
      (numpy's reshape(m, -1), Keras' order). ``X`` is (m, n_H, n_W, n_C); ``Y`` has the output's
      layout ((m, units) for rows, (units, m) for columns).
      J = (1/m) Σ_i L(ŷ(i), y(i)) with scale="mean" (the course's), the plain sum with "sum".
      Returns the gradient of J: "dW{l}", "db{l}" for every layer with parameters, "dA0" for X,
      and "J" (the cost, a float).
  cnn_cost(spec, params, X, Y, *, scale="mean", head="rows") -> float   (the same J)
"""

from __future__ import annotations

from collections.abc import Mapping

import autograd.numpy as anp
import numpy as np
from autograd import grad

ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: anp.maximum(z, 0.0),
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
}


def _to_course(x):
    return anp.transpose(x, (0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)


def _from_course(x):
    return anp.transpose(x, (0, 3, 1, 2))


def _course_weights(W, b, layout):
    if layout == "course":
        return W, anp.reshape(b, (-1,))
    if layout == "cs231n":
        return anp.transpose(W, (2, 3, 1, 0)), b  # (F, C, HH, WW) -> (HH, WW, C, F)
    raise ValueError(f"unknown layout {layout!r}")


def _pad(A, pad):
    return anp.pad(A, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")


def _out_size(n, f, stride, pad=0):
    return (n + 2 * pad - f) // stride + 1


def _conv_course(A_prev, W, b, stride, pad):
    """Z in the course's layout: one tensordot per output position (window × filters)."""
    f = W.shape[0]
    A = _pad(A_prev, pad)
    n_H = _out_size(A_prev.shape[1], f, stride, pad)
    n_W = _out_size(A_prev.shape[2], f, stride, pad)
    rows = []
    for h in range(n_H):
        cols = []
        for w in range(n_W):
            window = A[:, h * stride : h * stride + f, w * stride : w * stride + f, :]
            cols.append(anp.tensordot(window, W, axes=([1, 2, 3], [0, 1, 2])) + b)  # (m, n_C)
        rows.append(anp.stack(cols, axis=1))  # (m, n_W, n_C)
    return anp.stack(rows, axis=1)  # (m, n_H, n_W, n_C)


def conv_forward(A_prev, W, b, *, stride, pad, layout="course"):
    Wc, bc = _course_weights(W, b, layout)
    if layout == "course":
        return _conv_course(A_prev, Wc, bc, stride, pad)
    return _from_course(_conv_course(_to_course(A_prev), Wc, bc, stride, pad))


def conv_gradients(dZ, A_prev, W, b, *, stride, pad, layout="course"):
    """(dA_prev, dW, db): the gradient of Σ Z ⊙ dZ with respect to each input, by autograd."""
    dZ = np.asarray(dZ, dtype=float)

    def project(A_prev, W, b):
        return anp.sum(conv_forward(A_prev, W, b, stride=stride, pad=pad, layout=layout) * dZ)

    args = tuple(np.asarray(x, dtype=float) for x in (A_prev, W, b))
    return tuple(grad(project, k)(*args) for k in range(3))


def _pool_course(A_prev, f, stride, mode):
    n_H = _out_size(A_prev.shape[1], f, stride)
    n_W = _out_size(A_prev.shape[2], f, stride)
    reduce = {"max": anp.max, "average": anp.mean}[mode]
    rows = []
    for h in range(n_H):
        cols = [
            reduce(A_prev[:, h * stride : h * stride + f, w * stride : w * stride + f, :], axis=(1, 2))
            for w in range(n_W)
        ]
        rows.append(anp.stack(cols, axis=1))
    return anp.stack(rows, axis=1)


def pool_forward(A_prev, *, f, stride, mode="max", layout="course"):
    if layout == "course":
        return _pool_course(A_prev, f, stride, mode)
    return _from_course(_pool_course(_to_course(A_prev), f, stride, mode))


def pool_gradients(dA, A_prev, *, f, stride, mode="max", layout="course"):
    dA = np.asarray(dA, dtype=float)

    def project(A_prev):
        return anp.sum(pool_forward(A_prev, f=f, stride=stride, mode=mode, layout=layout) * dA)

    return grad(project)(np.asarray(A_prev, dtype=float))


def _softmax(z, axis):
    e = anp.exp(z - anp.max(z, axis=axis, keepdims=True))
    return e / anp.sum(e, axis=axis, keepdims=True)


def _loss(name, A, Y):
    if name == "ce":
        return -anp.sum(Y * anp.log(A))
    if name == "bce":
        return -anp.sum(Y * anp.log(A) + (1 - Y) * anp.log(1 - A))
    if name == "mse":
        return anp.sum((A - Y) ** 2)
    if name == "half_mse":
        return 0.5 * anp.sum((A - Y) ** 2)
    raise ValueError(f"unknown loss {name!r}")


def _layers(spec: Mapping):
    return list(spec.get("layer", spec.get("layers", [])))


def _cost(spec, params, X, Y, scale, head):
    layers = _layers(spec)
    loss = spec.get("loss", "ce")
    m = X.shape[0]
    A = X
    for l, layer in enumerate(layers, start=1):
        kind = layer["kind"]
        last = l == len(layers)
        if kind == "conv2d":
            stride, pad = layer.get("stride", 1), layer.get("pad", 0)
            Z = conv_forward(A, params[f"W{l}"], params[f"b{l}"], stride=stride, pad=pad)
            A = ACTIVATIONS[layer.get("activation", "relu")](Z)
        elif kind == "pool":
            size = layer["size"]
            A = pool_forward(A, f=size, stride=layer.get("stride", size), mode=layer.get("mode", "max"))
        elif kind == "flatten":
            A = anp.reshape(A, (m, -1)) if head == "rows" else anp.transpose(anp.reshape(A, (m, -1)))
        elif kind == "dense":
            W, b = params[f"W{l}"], params[f"b{l}"]
            Z = anp.dot(A, W) + b if head == "rows" else anp.dot(W, A) + b
            act = layer.get("activation", "softmax" if last and loss == "ce" else "relu")
            A = _softmax(Z, axis=1 if head == "rows" else 0) if act == "softmax" else ACTIVATIONS[act](Z)
        else:
            raise ValueError(f"layer {l}: unknown kind {kind!r}")
    total = _loss(loss, A, Y)
    return total / m if scale == "mean" else total


def cnn_cost(spec, params, X, Y, *, scale="mean", head="rows"):
    return float(_cost(spec, params, np.asarray(X, dtype=float), Y, scale, head))


def cnn_gradients(spec, params, X, Y, *, scale="mean", head="rows"):
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
    d_params = grad(lambda p: _cost(spec, p, X, Y, scale, head))(params)
    out = {f"d{k}": v for k, v in d_params.items()}
    out["dA0"] = grad(lambda x: _cost(spec, params, x, Y, scale, head))(X)
    out["J"] = cnn_cost(spec, params, X, Y, scale=scale, head=head)
    return out
