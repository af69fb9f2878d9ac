"""CS231n's two-layer net in its style (assignment 1's neural_net.py): rows convention,
``params`` with 1-D biases, ``loss(X, y) -> (loss, grads)`` with integer labels y, softmax
cross-entropy averaged over N and ½·reg·Σ‖W‖² (``reg`` keyword, 0 by default here)."""

import numpy as np


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, std=1e-4):
        self.params = {"W1": std * np.random.randn(input_size, hidden_size),
                       "b1": np.zeros(hidden_size),
                       "W2": std * np.random.randn(hidden_size, output_size),
                       "b2": np.zeros(output_size)}

    def loss(self, X, y=None, reg=0.0):
        W1, b1, W2, b2 = self.params["W1"], self.params["b1"], self.params["W2"], self.params["b2"]
        N = X.shape[0]
        h = np.maximum(0, X.dot(W1) + b1)
        scores = h.dot(W2) + b2
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).sum() / N + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        grads = {"W2": h.T.dot(dscores) + reg * W2, "b2": dscores.sum(axis=0)}
        dh = dscores.dot(W2.T) * (h > 0)
        grads["W1"] = X.T.dot(dh) + reg * W1
        grads["b1"] = dh.sum(axis=0)
        return loss, grads
