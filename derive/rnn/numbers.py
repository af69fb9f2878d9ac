"""The course's RNN functions, computed from the derived formulas' nodes (numpy through the core's
evaluator, nothing re-typed): the forward definitions of :func:`derive.rnn.derivation.forward`
and the backward steps of :func:`derive.rnn.derivation.build`, evaluated in order.

Shapes (course 5): xt (n_x, m), a_prev (n_a, m), x (n_x, m, T_x), a (n_a, m, T_x);
``parameters`` has Wax (n_a, n_x), Waa (n_a, n_a), Wya (n_y, n_a), ba (n_a, 1), by (n_y, 1).

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> p = {"Wax": rng.standard_normal((5, 3)), "Waa": rng.standard_normal((5, 5)),
...      "Wya": rng.standard_normal((2, 5)), "ba": rng.standard_normal((5, 1)),
...      "by": rng.standard_normal((2, 1))}
>>> x, a0 = rng.standard_normal((3, 10, 4)), rng.standard_normal((5, 10))
>>> a, y_pred = rnn_forward(x, a0, p)
>>> a.shape, y_pred.shape, bool(np.allclose(y_pred.sum(axis=0), 1))
((5, 10, 4), (2, 10, 4), True)
>>> g = rnn_backward(rng.standard_normal((5, 10, 4)), x, a0, p)
>>> {k: v.shape for k, v in g.items()}
{'dx': (3, 10, 4), 'da0': (5, 10), 'dWax': (5, 3), 'dWaa': (5, 5), 'dba': (5, 1)}
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from derive.core.expr import NumpyBackend, evaluate
from derive.errors import ShapeMismatch, SpecError
from derive.limits import require
from derive.rnn.derivation import PARAMETERS, RNNDerivation, build
from derive.rnn.spec import ENTRIES, RNN, STEPS

if TYPE_CHECKING:
    import numpy as np

__all__ = ["cost", "rnn_backward", "rnn_cell_backward", "rnn_cell_forward", "rnn_forward",
           "rnn_gradients"]

#: the backward steps that start from the loss (left out when an upstream da is given)
FROM_LOSS = ("dy", "da_out", "dWya", "dby")


@functools.lru_cache(maxsize=32)
def _derivation(nx: int, na: int, ny: int, m: int, steps: int, activation: str) -> RNNDerivation:
    require(STEPS, steps, f"an RNN of {steps} steps")
    require(ENTRIES, m * steps * (nx + 2 * na + 2 * ny) + na * (nx + na + ny + 1) + ny,
            "the arrays of this RNN")
    return build(RNN(nx, na, ny, steps, activation, examples=m))


def _array(value, name: str, ndim: int) -> np.ndarray:
    import numpy as np

    out = np.asarray(value, dtype=float)
    if out.ndim != ndim:
        raise SpecError(f"{name} must have {ndim} axes, not shape {out.shape}")
    return out


def _params(parameters: Mapping[str, Any], nx: int | None, na: int) -> tuple[dict, int, int]:
    missing = [k for k in PARAMETERS if k not in parameters]
    if missing:
        raise SpecError(f"parameters lacks {', '.join(missing)} (the course's keys: "
                        f"{', '.join(PARAMETERS)})")
    p = {k: _array(parameters[k], k, 2) for k in PARAMETERS}
    ny = p["Wya"].shape[0]
    nx = p["Wax"].shape[1] if nx is None else nx
    want = {"Wax": (na, nx), "Waa": (na, na), "Wya": (ny, na), "ba": (na, 1), "by": (ny, 1)}
    for k, shape in want.items():
        if p[k].shape != shape:
            raise ShapeMismatch("RNN parameters", k, f"n_a = {na} from the hidden state",
                                p[k].shape, shape, f"{k} must be {shape[0]}×{shape[1]}")
    return p, nx, ny


def _env(p: Mapping[str, np.ndarray], x: np.ndarray, a0: np.ndarray) -> dict:
    env: dict = {(k, None): v for k, v in p.items()}
    env[("a", 0)] = a0
    for t in range(1, x.shape[2] + 1):
        env[("x", t)] = x[:, :, t - 1]
    return env


def _setup(x, a0, parameters, steps_axis: bool = True):
    x = _array(x, "x", 3)
    a0 = _array(a0, "a0", 2)
    na, m = a0.shape
    p, nx, ny = _params(parameters, x.shape[0], na)
    if x.shape[1] != m:
        raise ShapeMismatch("RNN input", "x", "a0", x.shape, a0.shape,
                            f"x has {x.shape[1]} examples and a0 {m}")
    if x.shape[2] < 1:
        raise SpecError(f"x has no time steps: its shape {x.shape} needs T_x ≥ 1 on the last axis")
    if m < 1:
        raise SpecError(f"x and a0 have no examples (m = 0): shapes {x.shape} and {a0.shape}")
    d = _derivation(nx, na, ny, m, x.shape[2], "tanh")
    return d, _env(p, x, a0)


def run_forward(d: RNNDerivation, env: dict) -> dict:
    """``env`` with every forward quantity z⟨t⟩, a⟨t⟩, z_y⟨t⟩, ŷ⟨t⟩ added, evaluated from the
    forward definitions."""
    backend = NumpyBackend()
    for target, expr in d.forward:
        env[target.key] = evaluate(expr, env, backend)
    return env


def run_backward(d: RNNDerivation, env: dict, skip: Iterable[str] = ()) -> dict:
    """``env`` with every backward step evaluated in order (the steps whose course name is in
    ``skip`` left out: their values are given in ``env`` or not wanted)."""
    backend, skip = NumpyBackend(), set(skip)
    for step in d.steps:
        if step.course in skip or step.target.key in env:
            continue
        env[step.target.key] = evaluate(step.expr, env, backend)
    return env


def _stack(env: Mapping, base: str, steps: int):
    import numpy as np

    return np.stack([env[(base, t)] for t in range(1, steps + 1)], axis=-1)


def rnn_cell_forward(xt, a_prev, parameters) -> tuple[np.ndarray, np.ndarray]:
    """(a_next, yt_pred) of one step, as the course's rnn_cell_forward."""
    x = _array(xt, "xt", 2)[:, :, None]
    d, env = _setup(x, a_prev, parameters)
    env = run_forward(d, env)
    return env[("a", 1)], env[("yhat", 1)]


def rnn_cell_backward(da_next, xt, a_prev, parameters) -> dict[str, np.ndarray]:
    """dxt, da_prev, dWax, dWaa, dba of one step given da_next = ∂J/∂a_next (the course's
    rnn_cell_backward): the steps dtanh, dxt, da_prev and the one-step sums."""
    x = _array(xt, "xt", 2)[:, :, None]
    d, env = _setup(x, a_prev, parameters)
    env = run_forward(d, env)
    da = _array(da_next, "da_next", 2)
    if da.shape != env[("a", 1)].shape:
        raise ShapeMismatch("rnn_cell_backward", "da_next", "a_next", da.shape,
                            env[("a", 1)].shape, "da_next needs a_next's shape")
    env[("da_next", 1)] = da
    env = run_backward(d, env, skip=FROM_LOSS)
    return {"dxt": env[("dxt", 1)], "da_prev": env[("da_prev", 1)], "dWax": env[("dWax", None)],
            "dWaa": env[("dWaa", None)], "dba": env[("dba", None)]}


def rnn_forward(x, a0, parameters) -> tuple[np.ndarray, np.ndarray]:
    """(a, y_pred), each (units, m, T_x), as the course's rnn_forward."""
    d, env = _setup(x, a0, parameters)
    env = run_forward(d, env)
    T = d.rnn.steps
    return _stack(env, "a", T), _stack(env, "yhat", T)


def rnn_backward(da, x, a0, parameters) -> dict[str, np.ndarray]:
    """dx, da0, dWax, dWaa, dba given ``da`` (n_a, m, T_x), the upstream gradient of every hidden
    state from its output (the course's rnn_backward; derive's da_out⟨t⟩)."""
    d, env = _setup(x, a0, parameters)
    env = run_forward(d, env)
    T = d.rnn.steps
    da = _array(da, "da", 3)
    want = (*env[("a", 1)].shape, T)
    if da.shape != want:
        raise ShapeMismatch("rnn_backward", "da", "a", da.shape, want, "da needs a's shape")
    for t in range(1, T + 1):
        env[("da_out", t)] = da[:, :, t - 1]
    env = run_backward(d, env, skip=FROM_LOSS)
    return {"dx": _stack(env, "dxt", T), "da0": env[("da_prev", 1)],
            "dWax": env[("dWax", None)], "dWaa": env[("dWaa", None)], "dba": env[("dba", None)]}


def _targets(Y, env: dict, steps: int) -> None:
    Y = _array(Y, "Y", 3)
    if Y.shape[2] != steps or Y.shape[:2] != env[("yhat", 1)].shape:
        raise ShapeMismatch("RNN targets", "Y", "y_pred", Y.shape,
                            (*env[("yhat", 1)].shape, steps), "Y needs y_pred's shape")
    for t in range(1, steps + 1):
        env[("y", t)] = Y[:, :, t - 1]


def rnn_gradients(x, a0, parameters, Y) -> dict[str, np.ndarray]:
    """Every gradient of J = Σₜ Σᵢ ce(ŷ⟨t⟩(i), y⟨t⟩(i)) (Y (n_y, m, T_x), each column a
    distribution): dWax, dWaa, dWya, dba, dby, dx, da0, from every derived step."""
    d, env = _setup(x, a0, parameters)
    env = run_forward(d, env)
    T = d.rnn.steps
    _targets(Y, env, T)
    env = run_backward(d, env)
    out = {k: env[(k, None)] for k in ("dWax", "dWaa", "dWya", "dba", "dby")}
    out["dx"], out["da0"] = _stack(env, "dxt", T), env[("da_prev", 1)]
    return out


def cost(x, a0, parameters, Y) -> float:
    """J = Σₜ Σᵢ −Σₖ yₖ log ŷₖ, from the forward definitions."""
    import numpy as np

    d, env = _setup(x, a0, parameters)
    env = run_forward(d, env)
    _targets(Y, env, d.rnn.steps)
    return float(sum(-np.sum(env[("y", t)] * np.log(env[("yhat", t)]))
                     for t in range(1, d.rnn.steps + 1)))
