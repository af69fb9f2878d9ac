"""The well-known functions of the courses, in one table: what their parameters mean, and what
the ones a snippet calls without defining compute.

Each entry names a function of the Deep Learning Specialization's assignments, of CS231n's
``layers.py`` or of Nielsen's ``network.py``, and gives each parameter a *role* at the function's
layer l (the layer of the cache it is given, else the layer being checked):

| role | the value |
|---|---|
| a quantity, ``"dZ[l]"``, ``"A[L]"``, ``"Y"`` | that quantity of the network |
| ``linear_cache`` | the course's (A[l-1], W[l], b[l]); CS231n's (x, w, b) |
| ``activation_cache`` | Z[l] |
| ``layer_cache`` | (linear_cache, activation_cache) |
| ``caches`` | the list of every layer's layer_cache: ``caches[l]`` is layer l+1's |
| ``parameters``, ``forward`` | dicts whose keys name quantities (``'W1'``, ``'A2'``) |
| ``activation`` | the name of layer l's activation (``"relu"``) |
| ``labels`` | CS231n's ``y``: one class label per example (Y is one-hot) |
| ``dropout_cache`` | CS231n's ``(dropout_param, mask)``: training mode, mask = D[l] / p |
| ``batchnorm_cache`` | CS231n's batch-norm cache, read by the names it unpacks (x, x_hat, mu, ...) |

``body`` is the function's code as the course gives it, read like the snippet's own functions
when the snippet calls it without defining it (``relu_backward(dA, activation_cache)`` in the
course's ``linear_activation_backward``); ``activation`` pins the activation a function spells
out (a ``relu_backward`` is checked at the layers whose activation is relu).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from derive.parse import dialects


@dataclass(frozen=True)
class Known:
    roles: dict[str, str]  # parameter name -> role (a parameter not listed means itself)
    body: str | None = None  # the course's code, used when the snippet does not define it
    activation: str | None = None  # the activation the function spells out
    bodies: dict[str, str] = field(default_factory=dict)  # by the network's loss
    numeric: str | None = None  # the course's code for a numeric reading only (forward helpers)
    bias: bool = True  # False: the function's model has no b (CS231n's linear classifiers)
    # a name it computes -> its quantity (``.T``: the name holds the gradient transposed)
    outputs: dict[str, str] = field(default_factory=dict)


_LINEAR = """
def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1 / m * np.dot(dZ, A_prev.T)
    db = 1 / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db
"""
_LINEAR_ACT = """
def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    elif activation == "tanh":
        dZ = tanh_backward(dA, activation_cache)
    dA_prev, dW, db = linear_backward(dZ, linear_cache)
    return dA_prev, dW, db
"""
_AFFINE = """
def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T)
    dw = x.T.dot(dout)
    db = np.sum(dout, axis=0, keepdims=True)
    return dx, dw, db
"""
_AFFINE_RELU = """
def affine_relu_backward(dout, cache):
    fc_cache, relu_cache = cache
    upstream = relu_backward(dout, relu_cache)
    dx, dw, db = affine_backward(upstream, fc_cache)
    return dx, dw, db
"""


def _activation_body(fname: str, param: str, formula: str) -> str:
    return f"\ndef {fname}({param}, cache):\n    Z = cache\n    dZ = {formula}\n    return dZ\n"


_AFFINE_FORWARD = """
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    cache = (x, w, b)
    return out, cache
"""
_RELU_FORWARD = """
def relu_forward(x):
    out = np.maximum(0, x)
    return out, x
"""
_AFFINE_RELU_FORWARD = """
def affine_relu_forward(x, w, b):
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)
"""
_SOFTMAX_LOSS = """
def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
"""
_SVM_LOSS = """
def svm_loss(x, y):
    N = x.shape[0]
    correct = x[np.arange(N), y]
    margins = np.maximum(0, x - correct[:, np.newaxis] + 1.0)
    margins[np.arange(N), y] = 0
    loss = np.sum(margins) / N
    num_pos = np.sum(margins > 0, axis=1)
    dx = np.zeros_like(x)
    dx[margins > 0] = 1
    dx[np.arange(N), y] -= num_pos
    dx /= N
    return loss, dx
"""
_SIGMOID = "\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n"
_RELU = "\ndef relu(z):\n    return np.maximum(0, z)\n"
_LINEAR_LOSS = {"W": "W[1]", "X": "X", "y": "labels"}

KNOWN: dict[str, Known] = {
    # the Deep Learning Specialization, course 1 week 4 (and its helpers dnn_utils)
    "linear_backward": Known({"dZ": "dZ[l]", "cache": "linear_cache"}, _LINEAR),
    "relu_backward": Known({"dA": "dA[l]", "dout": "dA[l]", "cache": "activation_cache"},
                           _activation_body("relu_backward", "dA", "dA * (Z > 0)"), "relu",
                           outputs={"dx": "dZ[l]"}),
    "sigmoid_backward": Known({"dA": "dA[l]", "cache": "activation_cache"},
                              _activation_body("sigmoid_backward", "dA",
                                               "dA * sigmoid_prime(Z)"), "sigmoid"),
    "tanh_backward": Known({"dA": "dA[l]", "cache": "activation_cache"},
                           _activation_body("tanh_backward", "dA", "dA * tanh_prime(Z)"),
                           "tanh"),
    "linear_activation_backward": Known(
        {"dA": "dA[l]", "cache": "layer_cache", "activation": "activation"}, _LINEAR_ACT),
    "L_model_backward": Known({"AL": "A[L]", "Y": "Y", "caches": "caches"}),
    "backward_propagation": Known({"parameters": "parameters", "cache": "forward",
                                   "grads": "forward"}),
    "backward_propagation_with_regularization": Known({"cache": "forward"}),
    "backward_propagation_with_dropout": Known({"cache": "forward"}),
    "backward_propagation_n": Known({"cache": "forward"}),
    # CS231n assignment 2, layers.py and layer_utils.py
    "affine_backward": Known({"dout": "dZ[l]", "cache": "linear_cache"}, _AFFINE),
    "affine_relu_backward": Known({"dout": "dA[l]", "cache": "layer_cache"}, _AFFINE_RELU),
    # inverted dropout (assignment 2): cache = (dropout_param, mask), mask = D[l] / p; dx is
    # the gradient before the mask, dG[l]
    "dropout_backward": Known({"dout": "dA[l]", "cache": "dropout_cache"},
                              outputs={"dx": "dG[l]"}),
    # batch normalisation (assignment 2): dout is dZ̃[l], x is Z[l], dx is dZ[l]
    **dict.fromkeys(("batchnorm_backward", "batchnorm_backward_alt"), Known(
        {"dout": "dZtilde[l]", "cache": "batchnorm_cache"},
        outputs={"dx": "dZ[l]", "dgamma": "dgamma[l]", "dbeta": "dbeta[l]"})),
    # CS231n assignment 1: linear classifiers (W is D×C, no bias) and TwoLayerNet.loss; the
    # layer helpers a loss method calls (forward ones only for a numeric reading)
    "svm_loss_naive": Known(_LINEAR_LOSS, bias=False),
    "svm_loss_vectorized": Known(_LINEAR_LOSS, bias=False),
    "softmax_loss_naive": Known(_LINEAR_LOSS, bias=False),
    "softmax_loss_vectorized": Known(_LINEAR_LOSS, bias=False),
    "loss": Known({"X": "X", "y": "labels"}),  # TwoLayerNet / FullyConnectedNet.loss(self, X, y)
    "affine_forward": Known({}, numeric=_AFFINE_FORWARD),
    "relu_forward": Known({}, numeric=_RELU_FORWARD),
    "affine_relu_forward": Known({}, numeric=_AFFINE_RELU_FORWARD),
    "softmax_loss": Known({"x": "Z[L]", "y": "labels"}, numeric=_SOFTMAX_LOSS,
                          outputs={"dx": "dZ[L]"}),
    "svm_loss": Known({"x": "Z[L]", "y": "labels"}, numeric=_SVM_LOSS, outputs={"dx": "dZ[L]"}),
    "sigmoid": Known({}, numeric=_SIGMOID),
    "relu": Known({}, numeric=_RELU),
    # the course's logistic regression: w is the n×1 column W[1]ᵀ, b the number b[1]
    "propagate": Known({"w": "W[1].T", "b": "b[1]", "X": "X", "Y": "Y"},
                       outputs={"dw": "dW[1].T"}),
    # Nielsen's network.py and network2.py
    "cost_derivative": Known({}, "\ndef cost_derivative(output_activations, y):\n"
                                 "    return output_activations - y\n"),
    "delta": Known({}, bodies={
        "bce": "\ndef delta(z, a, y):\n    return a - y\n",
        "half_mse": "\ndef delta(z, a, y):\n    return (a - y) * sigmoid_prime(z)\n"}),
}

# self.<name> in a method: Nielsen's lists (index i is layer i+1) and CS231n's dicts
SELF_LISTS = {"weights": "W", "biases": "b"}
SELF_DICTS = ("params", "parameters")
# local lists of Nielsen's backprop (activations[0] is X = A[0]) and the dicts whose keys name
# parameters and hold their gradients (grads['W2'] is dW[2]): the formula reader's own tables
LISTS = {k: v for k, v in dialects.LISTS.items() if not k.startswith("self.")}
GRADIENT_DICTS = dialects.GRADIENT_DICTS

ACTIVATION_NAMES = ("relu", "leaky_relu", "sigmoid", "tanh", "softmax", "elu", "softplus",
                    "swish", "gelu")
_PINS = re.compile(r"(?i)^(?P<act>" + "|".join(ACTIVATION_NAMES) +
                   r")_?(backward|grad|gradient|prime|derivative|deriv|backprop)$")


def pinned_activation(fname: str) -> str | None:
    """The activation a function spells out, from the table or its name (``relu_backward``)."""
    known = KNOWN.get(fname)
    if known is not None and known.activation:
        return known.activation
    hit = _PINS.match(fname)
    return hit.group("act").lower() if hit else None


__all__ = ["GRADIENT_DICTS", "KNOWN", "LISTS", "SELF_DICTS", "SELF_LISTS", "Known",
           "pinned_activation"]
