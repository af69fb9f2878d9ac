"""An independent oracle for tests: the forward pass written here again, differentiated by the
`autograd` package (an autodiff this project did not write). Nothing here imports the engine's
formulas or the catalogue's derivatives."""

from __future__ import annotations

import autograd.numpy as anp
from autograd import grad

ACTIVATIONS = {
    "linear": lambda z: z,
    "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
    "tanh": anp.tanh,
    "relu": lambda z: anp.maximum(z, 0.0),
    "leaky_relu": lambda z: anp.where(z > 0, z, 0.01 * z),
    "elu": lambda z: anp.where(z > 0, z, anp.exp(anp.minimum(z, 0.0)) - 1),
    "softplus": lambda z: anp.logaddexp(0.0, z),
    "swish": lambda z: z / (1 + anp.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1 + anp.tanh(anp.sqrt(2 / anp.pi) * (z + 0.044715 * z**3))),
}

PER_UNIT = {
    "bce": lambda a, y: -(y * anp.log(a) + (1 - y) * anp.log(1 - a)),
    "ce": lambda a, y: -y * anp.log(a),
    "mse": lambda a, y: (a - y) ** 2,
    "half_mse": lambda a, y: 0.5 * (a - y) ** 2,
    None: lambda a, y: anp.log(anp.cosh(a - y)) + (a - y) ** 2 / 4,  # the documented stand-in
}


def _mean_over_units(A, Y, columns):
    """Keras' MSE: each example's squared errors averaged over its output units."""
    units = A.shape[0] if columns else A.shape[1]
    return anp.sum((A - Y) ** 2) / units


def _multiclass_hinge(A, Y, columns):
    """CS231n's SVM loss: Σ over examples of Σ_{j≠y} max(0, s_j − s_y + 1), Y one-hot."""
    S, T = (A.T, Y.T) if columns else (A, Y)  # one row per example
    correct = anp.sum(S * T, axis=1, keepdims=True)
    margins = anp.maximum(0.0, S - correct + 1.0)
    return anp.sum(margins * (1 - T))


WHOLE = {"mse_units": _mean_over_units, "svm": _multiclass_hinge}  # not a sum of per-unit terms


def total_loss(name, A, Y, columns):
    """Σ over the examples of the per-example loss (no 1/m)."""
    if name in WHOLE:
        return WHOLE[name](A, Y, columns)
    return anp.sum(PER_UNIT[name](A, Y))


def activation(name, layer, columns):
    if name is None:  # the documented stand-in for a generic g[l]
        return lambda z: anp.tanh(z) + z / (layer + 2)
    if name == "softmax":
        axis = 0 if columns else 1

        def softmax(z):
            e = anp.exp(z - anp.max(z, axis=axis, keepdims=True))
            return e / anp.sum(e, axis=axis, keepdims=True)

        return softmax
    return ACTIVATIONS[name]


KEEP_PROB_STANDIN = 0.8  # documented: what numbers use for a symbolic keep_prob


def keep_prob(net, layer):
    """Layer ``layer``'s keep probability, or None where it has no dropout mask (the output layer
    never has one; docs/spec.md): read from the spec's field, never from derive's formulas."""
    probs = getattr(net, "keep_prob", None)
    if probs is None or layer >= net.L or probs[layer - 1] is None:
        return None
    p = probs[layer - 1]
    return KEEP_PROB_STANDIN if p.free_symbols else float(p)


def dropped(net, layer, A, masks):
    """Inverted dropout: A ⊙ D / keep_prob with the layer's fixed mask (unchanged without one)."""
    p = keep_prob(net, layer)
    return A if p is None else A * masks[layer] / p


EPS_STANDIN = 1e-5  # documented: batch normalisation's ε in numbers (CS231n's eps)


def batch_normalised(net, layer, Z, params, columns):
    """Batch norm in training mode, from its definition (Ioffe & Szegedy 2015, Algorithm 1): the
    batch mean and (biased) variance of each unit over the examples, then γ x̂ + β."""
    axis = 1 if columns else 0
    mu = anp.mean(Z, axis=axis, keepdims=True)
    var = anp.mean((Z - mu) ** 2, axis=axis, keepdims=True)
    x_hat = (Z - mu) / anp.sqrt(var + EPS_STANDIN)
    return params[f"gamma{layer}"] * x_hat + params[f"beta{layer}"]


def is_batchnorm(net, layer):
    return net.kinds[layer - 1] == "batchnorm"


def cost_from(net, start, value, params, X, Y, masks=None):
    """J as a function of Z[start] (kind 'Z'), A[start] (kind 'A'), G[start] (kind 'G', the
    activation before the mask), Z̃[start] (kind 'Ztilde', batch norm's output) or of the
    parameters; ``masks`` (layer -> 0/1 array) are the dropout masks, held fixed. A batch-norm
    layer (kind batchnorm) has no b: Z = W A, then :func:`batch_normalised`."""
    columns = net.convention == "columns"
    kind, layer = start
    m = X.shape[1] if columns else X.shape[0]
    A = X
    first = 1
    if kind == "Z":
        if is_batchnorm(net, layer):
            value = batch_normalised(net, layer, value, params, columns)
        A = dropped(net, layer, activation(net.activations[layer - 1], layer, columns)(value), masks)
        first = layer + 1
    elif kind == "Ztilde":  # a dropout mask (if the layer has one) comes after g(Z̃)
        A = dropped(net, layer, activation(net.activations[layer - 1], layer, columns)(value), masks)
        first = layer + 1
    elif kind == "A":
        A = value
        first = layer + 1
    elif kind == "G":  # the activation before a dropout mask, G[l] = g(Z[l])
        A = dropped(net, layer, value, masks)
        first = layer + 1
    for l in range(first, net.L + 1):
        W = params[f"W{l}"]
        Z = anp.dot(W, A) if columns else anp.dot(A, W)
        Z = batch_normalised(net, l, Z, params, columns) if is_batchnorm(net, l) else Z + params[f"b{l}"]
        A = dropped(net, l, activation(net.activations[l - 1], l, columns)(Z), masks)
    total = total_loss(net.loss, A, Y, columns)
    mean = net.scale in ("mean", "dZ")  # J is a mean under scales mean and dZ
    return (total / m if mean else total) + l2_penalty(net, params, m, mean)


L2_STANDIN = 0.37  # documented: what numbers use for a symbolic λ


def l2_penalty(net, params, m, mean):
    """The L2 term as docs/spec.md defines its forms: course (λ/(2m)) Σ‖W‖² ((λ/2) Σ‖W‖² when J
    is a sum), half ½ λ Σ‖W‖², plain λ Σ‖W‖²; b is not regularised."""
    if net.l2 is None:
        return 0.0
    lam = L2_STANDIN if net.l2.free_symbols else float(net.l2)
    coef = {"course": lam / (2 * m) if mean else lam / 2, "half": lam / 2, "plain": lam}[net.l2_form]
    layers = net.l2_layers if net.l2_layers is not None else range(1, net.L + 1)
    return coef * sum(anp.sum(params[f"W{l}"] ** 2) for l in layers)


def param_gradients(net, params, X, Y, masks=None):
    return grad(lambda p: cost_from(net, ("P", 0), None, p, X, Y, masks))(params)


def intermediate_gradient(net, kind, layer, value, params, X, Y, masks=None):
    return grad(lambda v: cost_from(net, (kind, layer), v, params, X, Y, masks))(value)
