"""An independent oracle for recurrent networks: the forward pass written here from the
definitions, differentiated by the `autograd` package (an autodiff this project did not write).
Nothing here imports derive; it shares no code with derive.rnn.

Shapes (the Deep Learning Specialization's course 5): xt (n_x, m), a_prev (n_a, m),
x (n_x, m, T_x), a (n_a, m, T_x), y_pred (n_y, m, T_x); ``parameters`` holds Wax (n_a, n_x),
Waa (n_a, n_a), Wya (n_y, n_a), ba (n_a, 1), by (n_y, 1).
  a⟨t⟩ = tanh(Wax x⟨t⟩ + Waa a⟨t−1⟩ + ba),   ŷ⟨t⟩ = softmax(Wya a⟨t⟩ + by)  (softmax over rows)

  rnn_cell_forward(xt, a_prev, parameters) -> (a_next, yt_pred)
  rnn_forward(x, a0, parameters) -> (a, y_pred)
  rnn_cell_gradients(da_next, xt, a_prev, parameters) -> dict(dxt, da_prev, dWax, dWaa, dba)
      the gradient of Σ a_next ⊙ da_next (the course's rnn_cell_backward contract)
  rnn_backward_gradients(da, x, a0, parameters) -> dict(dx, da0, dWax, dWaa, dba)
      the gradient of Σ_t Σ a⟨t⟩ ⊙ da[:, :, t]: ``da`` is the upstream gradient of every hidden
      state (n_a, m, T_x), as the course's rnn_backward takes it
  rnn_gradients(x, a0, parameters, Y, *, scale="sum") -> dict
      the whole loss J = Σ_t Σ_i CE(ŷ⟨t⟩(i), y⟨t⟩(i)) (cross-entropy −Σ y log ŷ, Y one-hot with
      y_pred's shape), divided by m when scale="mean"; returns "dWax", "dWaa", "dWya", "dba",
      "dby", "dx", "da0" and "J" (the cost, a float)
  rnn_cost(x, a0, parameters, Y, *, scale="sum") -> float
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import grad

NAMES = ("Wax", "Waa", "Wya", "ba", "by")


def _softmax(z):
    e = anp.exp(z - anp.max(z, axis=0, keepdims=True))
    return e / anp.sum(e, axis=0, keepdims=True)


def _step(xt, a_prev, p):
    return anp.tanh(anp.dot(p["Wax"], xt) + anp.dot(p["Waa"], a_prev) + p["ba"])


def _floats(parameters):
    return {k: np.asarray(v, dtype=float) for k, v in parameters.items() if k in NAMES}


def rnn_cell_forward(xt, a_prev, parameters):
    p = _floats(parameters)
    a_next = _step(np.asarray(xt, float), np.asarray(a_prev, float), p)
    return a_next, _softmax(anp.dot(p["Wya"], a_next) + p["by"])


def _states(x, a0, p):
    a, states = a0, []
    for t in range(x.shape[2]):
        a = _step(x[:, :, t], a, p)
        states.append(a)
    return states


def rnn_forward(x, a0, parameters):
    p = _floats(parameters)
    states = _states(np.asarray(x, float), np.asarray(a0, float), p)
    preds = [_softmax(anp.dot(p["Wya"], a) + p["by"]) for a in states]
    return np.stack(states, axis=2), np.stack(preds, axis=2)


def _cell_inputs_grads(da_next, xt, a_prev, p):
    da_next = np.asarray(da_next, float)

    def project(xt, a_prev, Wax, Waa, ba):
        q = dict(p, Wax=Wax, Waa=Waa, ba=ba)
        return anp.sum(_step(xt, a_prev, q) * da_next)

    args = (np.asarray(xt, float), np.asarray(a_prev, float), p["Wax"], p["Waa"], p["ba"])
    return [grad(project, k)(*args) for k in range(5)]


def rnn_cell_gradients(da_next, xt, a_prev, parameters):
    g = _cell_inputs_grads(da_next, xt, a_prev, _floats(parameters))
    return dict(zip(("dxt", "da_prev", "dWax", "dWaa", "dba"), g, strict=True))


def rnn_backward_gradients(da, x, a0, parameters):
    p = _floats(parameters)
    da = np.asarray(da, float)

    def project(x, a0, Wax, Waa, ba):
        q = dict(p, Wax=Wax, Waa=Waa, ba=ba)
        states = _states(x, a0, q)
        return sum(anp.sum(a * da[:, :, t]) for t, a in enumerate(states))

    args = (np.asarray(x, float), np.asarray(a0, float), p["Wax"], p["Waa"], p["ba"])
    g = [grad(project, k)(*args) for k in range(5)]
    return dict(zip(("dx", "da0", "dWax", "dWaa", "dba"), g, strict=True))


def _cost(x, a0, p, Y, scale):
    total = 0.0
    for t, a in enumerate(_states(x, a0, p)):
        total = total - anp.sum(Y[:, :, t] * anp.log(_softmax(anp.dot(p["Wya"], a) + p["by"])))
    return total / x.shape[1] if scale == "mean" else total


def rnn_cost(x, a0, parameters, Y, *, scale="sum"):
    p = _floats(parameters)
    return float(_cost(np.asarray(x, float), np.asarray(a0, float), p, np.asarray(Y, float), scale))


def rnn_gradients(x, a0, parameters, Y, *, scale="sum"):
    p = _floats(parameters)
    x, a0, Y = (np.asarray(v, float) for v in (x, a0, Y))
    d = grad(lambda q: _cost(x, a0, q, Y, scale))(p)
    out = {f"d{k}": v for k, v in d.items()}
    out["dx"] = grad(lambda v: _cost(v, a0, p, Y, scale))(x)
    out["da0"] = grad(lambda v: _cost(x, v, p, Y, scale))(a0)
    out["J"] = rnn_cost(x, a0, p, Y, scale=scale)
    return out
