"""The Regularization assignment's functions, written here in the course's style (its
signatures, its tuple cache, its LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID network):
what ``gradcheck --impl`` / ``--forward`` check, and planted mistakes that it must name."""

from __future__ import annotations

import numpy as np


def _relu(Z):
    return np.maximum(0, Z)


def _sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward_propagation(X, parameters):
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = W1 @ X + b1
    A1 = _relu(Z1)
    Z2 = W2 @ A1 + b2
    A2 = _relu(Z2)
    Z3 = W3 @ A2 + b3
    A3 = _sigmoid(Z3)
    return A3, (Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3)


def backward_propagation_with_regularization(X, Y, cache, lambd):
    m = X.shape[1]
    Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3 = cache
    dZ3 = A3 - Y
    grads = {"dW3": dZ3 @ A2.T / m + lambd / m * W3, "db3": dZ3.sum(axis=1, keepdims=True) / m}
    dZ2 = (W3.T @ dZ3) * (A2 > 0)
    grads.update(dW2=dZ2 @ A1.T / m + lambd / m * W2, db2=dZ2.sum(axis=1, keepdims=True) / m)
    dZ1 = (W2.T @ dZ2) * (A1 > 0)
    grads.update(dW1=dZ1 @ X.T / m + lambd / m * W1, db1=dZ1.sum(axis=1, keepdims=True) / m)
    return grads


def backward_regularization_without_term(X, Y, cache, lambd):
    """Planted: dW2 without its (λ/m) W2."""
    grads = backward_propagation_with_regularization(X, Y, cache, lambd)
    grads["dW2"] = grads["dW2"] - lambd / X.shape[1] * cache[6]
    return grads


def forward_propagation_with_dropout(X, parameters, keep_prob=0.5):
    np.random.seed(1)
    W1, b1, W2, b2, W3, b3 = (parameters[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    Z1 = W1 @ X + b1
    D1 = np.random.rand(*Z1.shape) < keep_prob
    A1 = _relu(Z1) * D1 / keep_prob
    Z2 = W2 @ A1 + b2
    D2 = np.random.rand(*Z2.shape) < keep_prob
    A2 = _relu(Z2) * D2 / keep_prob
    Z3 = W3 @ A2 + b3
    A3 = _sigmoid(Z3)
    return A3, (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)


def _dropout_backward(X, Y, cache, keep_prob, mask=True, divide=True, from_z=False):
    m = X.shape[1]
    Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3 = cache
    dZ3 = A3 - Y
    grads = {"dW3": dZ3 @ A2.T / m, "db3": dZ3.sum(axis=1, keepdims=True) / m}
    dA2 = W3.T @ dZ3
    if mask:
        dA2 = dA2 * D2
    if divide:
        dA2 = dA2 / keep_prob
    dZ2 = dA2 * ((Z2 if from_z else A2) > 0)
    grads.update(dW2=dZ2 @ A1.T / m, db2=dZ2.sum(axis=1, keepdims=True) / m)
    dA1 = W2.T @ dZ2 * D1 / keep_prob
    dZ1 = dA1 * (A1 > 0)
    grads.update(dW1=dZ1 @ X.T / m, db1=dZ1.sum(axis=1, keepdims=True) / m)
    return grads


def backward_propagation_with_dropout(X, Y, cache, keep_prob):
    return _dropout_backward(X, Y, cache, keep_prob)


def backward_dropout_mask_not_applied(X, Y, cache, keep_prob):
    """Planted: dA2 is not multiplied by D2, with relu′ taken from Z2 (relu_backward's way). With
    the course's own (A2 > 0) the mask is applied anyway: A2 is 0 wherever D2 is, so that
    omission is harmless (and a gradient check rightly passes it)."""
    return _dropout_backward(X, Y, cache, keep_prob, mask=False, from_z=True)


def backward_dropout_mask_not_applied_a_form(X, Y, cache, keep_prob):
    """dA2 not multiplied by D2, relu′ from (A2 > 0): the same gradients as the correct code."""
    return _dropout_backward(X, Y, cache, keep_prob, mask=False)


def backward_dropout_not_divided(X, Y, cache, keep_prob):
    """Planted: dA2 is not divided by keep_prob."""
    return _dropout_backward(X, Y, cache, keep_prob, divide=False)
