"""A worked example of backpropagation through time with numbers: a seeded instance of the
spec's sizes run forward by the forward definitions, then every derived step evaluated in order,
each value printed beside its formula (``derive numbers --spec rnn.toml``).

>>> from derive.rnn.spec import RNN
>>> w = worked(RNN(2, 3, 2, 2, examples=1))
>>> [name for name, _, _ in w.backward][:3]
['dy⟨2⟩', 'da_out⟨2⟩', 'da_next⟨2⟩']
>>> worked_json(w)["results"]["dWaa"]["shape"]
[3, 3]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.limits import require
from derive.numbers.arrays import WORK
from derive.rnn.derivation import PARAMETERS, build
from derive.rnn.gradcheck import DEFAULT_SIZES, env_of, instance
from derive.rnn.numbers import run_backward, run_forward
from derive.rnn.spec import RNN

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, eq=False)
class Worked:
    rnn: RNN
    seed: int
    inputs: dict  # parameters, x, a0, Y
    forward: tuple[tuple[str, str, np.ndarray], ...]  # (name, definition, value)
    backward: tuple[tuple[str, str, np.ndarray], ...]  # (name, formula, value), in order
    cost: float


def worked(rnn: RNN, seed: int = 0) -> Worked:
    """Every forward quantity and every backward step's value on :func:`instance`'s inputs."""
    import numpy as np

    c = rnn.concrete(*DEFAULT_SIZES)
    nx, na, ny, m, T = int(c.nx), int(c.na), int(c.ny), int(c.m), c.steps
    require(WORK, m * T * (nx + 6 * na + 4 * ny) + na * (nx + na + ny + 1) + ny,
            "the worked example's values")
    d = build(c)
    inst = instance(c, seed)
    env = run_forward(d, env_of(d, inst))
    fwd = tuple((target.text, expr.to_text(), env[target.key]) for target, expr in d.forward)
    env = run_backward(d, env)
    bwd = tuple((s.name, s.expr.to_text(), env[s.target.key]) for s in d.steps)
    J = float(sum(-np.sum(env[("y", t)] * np.log(env[("yhat", t)])) for t in range(1, T + 1)))
    return Worked(c, seed, inst, fwd, bwd, J)


def _fmt(value) -> str:
    import numpy as np

    return np.array2string(np.asarray(value), precision=4, suppress_small=True,
                           max_line_width=100)


def worked_text(w: Worked) -> str:
    lines = [f"worked example: {w.rnn.describe()}, seed {w.seed} (weights N(0, 1/fan-in), biases "
             "N(0, 0.01), x and a⟨0⟩ N(0, 1), Y one-hot)", ""]
    for k in PARAMETERS:
        lines += [f"{k} =", _fmt(w.inputs["parameters"][k])]
    lines += ["a⟨0⟩ =", _fmt(w.inputs["a0"])]
    for t in range(1, w.rnn.steps + 1):
        lines += [f"x⟨{t}⟩ =", _fmt(w.inputs["x"][:, :, t - 1]),
                  f"y⟨{t}⟩ =", _fmt(w.inputs["Y"][:, :, t - 1])]
    lines += ["", "forward:"]
    for name, definition, value in w.forward:
        lines += [f"{name} = {definition} =", _fmt(value)]
    lines += [f"J = {w.cost:.6g}", "", "backward (each value from its formula, in order):"]
    for name, formula, value in w.backward:
        lines += [f"{name} = {formula} =", _fmt(value)]
    return "\n".join(lines)


def worked_json(w: Worked) -> dict:
    def arr(v):
        return {"shape": list(v.shape), "values": v.tolist()}

    import numpy as np

    results = {name: arr(v) for name, _, v in w.backward if "⟨" not in name}
    steps = {name: v for name, _, v in w.backward}
    T = w.rnn.steps  # the course's rnn_backward returns these two as well
    results["dx"] = arr(np.stack([steps[f"dxt⟨{t}⟩"] for t in range(1, T + 1)], axis=-1))
    results["da0"] = arr(steps["da_prev⟨1⟩"])
    return {"family": "rnn", "spec": w.rnn.describe(), "seed": w.seed, "cost": w.cost,
            "inputs": {**{k: arr(v) for k, v in w.inputs["parameters"].items()},
                       "x": arr(w.inputs["x"]), "a0": arr(w.inputs["a0"]), "Y": arr(w.inputs["Y"])},
            "forward": [{"name": n, "definition": f, **arr(v)} for n, f, v in w.forward],
            "backward": [{"name": n, "formula": f, **arr(v)} for n, f, v in w.backward],
            "results": results}
