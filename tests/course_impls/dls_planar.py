"""The planar network of the Deep Learning Specialization (2 -> n_h tanh -> 1 sigmoid) in its
style: ``forward_propagation(X, parameters) -> (A2, cache)`` and
``backward_propagation(parameters, cache, X, Y) -> grads`` (tanh′ written as 1 − A1²)."""

import numpy as np


def forward_propagation(X, parameters):
    W1, b1, W2, b2 = parameters["W1"], parameters["b1"], parameters["W2"], parameters["b2"]
    Z1 = np.dot(W1, X) + b1
    A1 = np.tanh(Z1)
    Z2 = np.dot(W2, A1) + b2
    A2 = 1 / (1 + np.exp(-Z2))
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1, A2 = cache["A1"], cache["A2"]
    dZ2 = A2 - Y
    dW2 = 1 / m * np.dot(dZ2, A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
    dW1 = 1 / m * np.dot(dZ1, X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def backward_propagation_with_A1(parameters, cache, X, Y):
    """A planted mistake: A1 where tanh′ = 1 − A1² belongs."""
    grads = backward_propagation(parameters, cache, X, Y)
    m = X.shape[1]
    dZ1 = np.dot(parameters["W2"].T, cache["A2"] - Y) * cache["A1"]
    grads["dW1"] = 1 / m * np.dot(dZ1, X.T)
    return grads
