"""The Deep Learning Specialization's logistic regression in its style: w a column, b a number,
``propagate(w, b, X, Y) -> (grads, cost)`` with keys dw, db."""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def propagate(w, b, X, Y):
    m = X.shape[1]
    A = sigmoid(np.dot(w.T, X) + b)
    cost = -1 / m * np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A))
    dw = 1 / m * np.dot(X, (A - Y).T)
    db = 1 / m * np.sum(A - Y)
    return {"dw": dw, "db": db}, float(np.squeeze(cost))


def propagate_forgets_m(w, b, X, Y):
    """A planted mistake: no 1/m in dw."""
    grads, cost = propagate(w, b, X, Y)
    grads["dw"] = grads["dw"] * X.shape[1]
    return grads, cost
