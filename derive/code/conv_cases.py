"""The course's conv, pool and RNN backward functions as ``derive check --code`` reads them: what
each takes (the course's caches), the instances it is run on, and the right answer on each, from
derive's numbers (:mod:`derive.conv.numbers`, :mod:`derive.rnn.numbers`: evaluated from the
derived formulas), never from a second copy of the maths.

Every instance has distinct sizes (so a transposed or swapped axis shows), stride 2 and padding
among them (the course's own conv_backward crops with ``X[pad:-pad]``, empty at pad = 0, so the
judged instances pad by 1 or 2; pad = 0 is tried apart, for a note), T = 1 and T ≥ 3 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from derive.code.loop_names import FORWARD, JUDGED


@dataclass(frozen=True)
class Case:
    """One instance: its sizes (shown in a counterexample), the seed of its numbers, and
    ``kind`` ("judged", "stride1", "T1", "pad0"), the probes being there for the diagnosis."""

    sizes: dict
    seed: int
    kind: str = "judged"


@dataclass
class Instance:
    case: Case
    args: list
    kwargs: dict
    right: dict  # output name -> derive's value
    values: dict = field(default_factory=dict)  # the inputs, for the candidates


@dataclass(frozen=True)
class Target:
    params: tuple[str, ...]  # the course's parameters
    outputs: tuple[str, ...]  # what it returns, in order (a tuple) or by key (a dict)
    returns_dict: bool
    helpers: tuple[str, ...]  # the course's helpers it calls
    cases: tuple[Case, ...]
    build: Callable[[Case, str | None], Instance]
    modes: tuple[str | None, ...] = (None,)


def _rng(case: Case):
    return np.random.default_rng(1000 + case.seed)


def _conv(case: Case, mode: str | None) -> Instance:
    from derive.conv import numbers as conv_numbers

    s = case.sizes
    r = _rng(case)
    A_prev = r.standard_normal((s["m"], s["n_H_prev"], s["n_W_prev"], s["n_C_prev"]))
    W = r.standard_normal((s["f"], s["f"], s["n_C_prev"], s["n_C"]))
    b = r.standard_normal((1, 1, 1, s["n_C"]))
    n_H = (s["n_H_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    n_W = (s["n_W_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    dZ = r.standard_normal((s["m"], n_H, n_W, s["n_C"]))
    hp = {"stride": s["stride"], "pad": s["pad"]}
    dA, dW, db = conv_numbers.conv_backward(dZ, A_prev, W, b, stride=s["stride"], pad=s["pad"])
    return Instance(case, [dZ, (A_prev, W, b, hp)], {}, {"dA_prev": dA, "dW": dW, "db": db},
                    {"dZ": dZ, "A_prev": A_prev, "W": W, "b": b})


def _conv_cs231n(case: Case, mode: str | None) -> Instance:
    """CS231n's conv_backward_naive: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param."""
    from derive.conv import numbers as conv_numbers

    s = case.sizes
    r = _rng(case)
    x = r.standard_normal((s["m"], s["n_C_prev"], s["n_H_prev"], s["n_W_prev"]))
    w = r.standard_normal((s["n_C"], s["n_C_prev"], s["f"], s["f"]))
    b = r.standard_normal(s["n_C"])
    n_H = (s["n_H_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    n_W = (s["n_W_prev"] + 2 * s["pad"] - s["f"]) // s["stride"] + 1
    dout = r.standard_normal((s["m"], s["n_C"], n_H, n_W))
    dx, dw, db = conv_numbers.conv_backward(dout, x, w, b, stride=s["stride"], pad=s["pad"],
                                            layout="cs231n")
    return Instance(case, [dout, (x, w, b, {"stride": s["stride"], "pad": s["pad"]})], {},
                    {"dx": dx, "dw": dw, "db": db},
                    {"dZ": dout, "A_prev": x, "W": w, "b": b, "layout": "cs231n"})


def _pool_cs231n(case: Case, mode: str | None) -> Instance:
    """CS231n's max_pool_backward_naive: x (N, C, H, W), pool_param (square windows here)."""
    from derive.conv import numbers as conv_numbers

    s = case.sizes
    r = _rng(case)
    x = r.standard_normal((s["m"], s["n_C"], s["n_H_prev"], s["n_W_prev"]))
    n_H = (s["n_H_prev"] - s["f"]) // s["stride"] + 1
    n_W = (s["n_W_prev"] - s["f"]) // s["stride"] + 1
    dout = r.standard_normal((s["m"], s["n_C"], n_H, n_W))
    param = {"pool_height": s["f"], "pool_width": s["f"], "stride": s["stride"]}
    right = conv_numbers.pool_backward(dout, x, f=s["f"], stride=s["stride"], mode="max",
                                       layout="cs231n")
    return Instance(case, [dout, (x, param)], {}, {"dx": right}, {"dA": dout, "A_prev": x})


def _pool(case: Case, mode: str | None) -> Instance:
    from derive.conv import numbers as conv_numbers

    s = case.sizes
    r = _rng(case)
    A_prev = r.standard_normal((s["m"], s["n_H_prev"], s["n_W_prev"], s["n_C"]))
    n_H = (s["n_H_prev"] - s["f"]) // s["stride"] + 1
    n_W = (s["n_W_prev"] - s["f"]) // s["stride"] + 1
    dA = r.standard_normal((s["m"], n_H, n_W, s["n_C"]))
    hp = {"stride": s["stride"], "f": s["f"]}
    right = conv_numbers.pool_backward(dA, A_prev, f=s["f"], stride=s["stride"], mode=mode or "max")
    return Instance(case, [dA, (A_prev, hp)], {"mode": mode}, {"dA_prev": right},
                    {"dA": dA, "A_prev": A_prev})


def _parameters(r, s: dict) -> dict:
    return {"Wax": r.standard_normal((s["n_a"], s["n_x"])),
            "Waa": r.standard_normal((s["n_a"], s["n_a"])) * 0.6,
            "Wya": r.standard_normal((s["n_y"], s["n_a"])),
            "ba": r.standard_normal((s["n_a"], 1)), "by": r.standard_normal((s["n_y"], 1))}


def _cell(case: Case, mode: str | None) -> Instance:
    from derive.rnn import numbers as rnn_numbers

    s = case.sizes
    r = _rng(case)
    xt = r.standard_normal((s["n_x"], s["m"]))
    a_prev = np.tanh(r.standard_normal((s["n_a"], s["m"])))
    p = _parameters(r, s)
    da_next = r.standard_normal((s["n_a"], s["m"]))
    a_next, _ = rnn_numbers.rnn_cell_forward(xt, a_prev, p)
    right = rnn_numbers.rnn_cell_backward(da_next, xt, a_prev, p)
    return Instance(case, [da_next, (a_next, a_prev, xt, p)], {}, dict(right),
                    {"da_next": da_next, "xt": xt, "a_prev": a_prev, "a_next": a_next, "p": p})


def _sequence(case: Case, mode: str | None) -> Instance:
    from derive.rnn import numbers as rnn_numbers

    s = case.sizes
    r = _rng(case)
    x = r.standard_normal((s["n_x"], s["m"], s["T_x"]))
    a0 = np.tanh(r.standard_normal((s["n_a"], s["m"])))
    p = _parameters(r, s)
    da = r.standard_normal((s["n_a"], s["m"], s["T_x"]))
    a, _ = rnn_numbers.rnn_forward(x, a0, p)
    caches = [(a[:, :, t], a0 if t == 0 else a[:, :, t - 1], x[:, :, t], p)
              for t in range(s["T_x"])]
    right = rnn_numbers.rnn_backward(da, x, a0, p)
    return Instance(case, [da, (caches, x)], {}, dict(right),
                    {"da": da, "x": x, "a0": a0, "a": a, "p": p})


def _mask(case: Case, mode: str | None) -> Instance:
    from derive.conv import numbers as conv_numbers

    f = case.sizes["f"]
    x = _rng(case).standard_normal((f, f))
    right = conv_numbers.pool_backward(np.ones((1, 1, 1, 1)), x.reshape(1, f, f, 1), f=f, stride=1,
                                  mode="max")[0, :, :, 0]
    return Instance(case, [x], {}, {"mask": right})


def _spread(case: Case, mode: str | None) -> Instance:
    from derive.conv import numbers as conv_numbers

    f = case.sizes["f"]
    dz = float(_rng(case).standard_normal())
    right = conv_numbers.pool_backward(np.full((1, 1, 1, 1), dz), np.zeros((1, f, f, 1)), f=f,
                                  stride=1, mode="average")[0, :, :, 0]
    return Instance(case, [dz, (f, f)], {}, {"a": right})


def _conv_sizes(m, h, w, cp, f, c, stride, pad):
    return {"m": m, "n_H_prev": h, "n_W_prev": w, "n_C_prev": cp, "f": f, "n_C": c,
            "stride": stride, "pad": pad}


def _pool_sizes(m, h, w, c, f, stride):
    return {"m": m, "n_H_prev": h, "n_W_prev": w, "n_C": c, "f": f, "stride": stride}


def _rnn_sizes(n_x, n_a, n_y, m, T=None):
    out = {"n_x": n_x, "n_a": n_a, "n_y": n_y, "m": m}
    return out if T is None else {**out, "T_x": T}


TARGETS: dict[str, Target] = {
    "conv_backward": Target(("dZ", "cache"), ("dA_prev", "dW", "db"), False, ("zero_pad",), (
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 2, 1), 1),
        Case(_conv_sizes(1, 3, 4, 3, 2, 2, 1, 2), 2),
        Case(_conv_sizes(2, 5, 3, 2, 2, 3, 2, 2), 3),
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 1, 1), 4, "stride1"),
        Case(_conv_sizes(1, 3, 4, 3, 2, 2, 1, 1), 5, "stride1"),
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 2, 0), 6, "pad0"),
    ), _conv),
    "pool_backward": Target(("dA", "cache", "mode"), ("dA_prev",), False,
                            ("create_mask_from_window", "distribute_value"), (
        Case(_pool_sizes(2, 5, 4, 2, 2, 2), 1),
        Case(_pool_sizes(1, 4, 5, 3, 3, 1), 2),
        Case(_pool_sizes(2, 5, 5, 2, 3, 2), 3),
        Case(_pool_sizes(2, 4, 5, 2, 2, 1), 4, "stride1"),
    ), _pool, ("max", "average")),
    "rnn_cell_backward": Target(("da_next", "cache"), ("dxt", "da_prev", "dWax", "dWaa", "dba"),
                                True, (), (
        Case(_rnn_sizes(3, 4, 2, 5), 1), Case(_rnn_sizes(2, 3, 3, 2), 2),
    ), _cell),
    "rnn_backward": Target(("da", "caches"), ("dx", "da0", "dWax", "dWaa", "dba"), True,
                           ("rnn_cell_backward",), (
        Case(_rnn_sizes(3, 4, 2, 5, 3), 1), Case(_rnn_sizes(2, 3, 3, 2, 4), 2),
        Case(_rnn_sizes(3, 4, 2, 5, 1), 3, "T1"), Case(_rnn_sizes(2, 3, 3, 2, 1), 4, "T1"),
    ), _sequence),
    "conv_backward_naive": Target(("dout", "cache"), ("dx", "dw", "db"), False, (), (
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 2, 1), 1),
        Case(_conv_sizes(1, 3, 4, 3, 2, 2, 1, 2), 2),
        Case(_conv_sizes(2, 5, 3, 2, 2, 3, 2, 2), 3),
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 1, 1), 4, "stride1"),
        Case(_conv_sizes(2, 4, 5, 2, 3, 3, 2, 0), 6, "pad0"),
    ), _conv_cs231n),
    "max_pool_backward_naive": Target(("dout", "cache"), ("dx",), False, (), (
        Case(_pool_sizes(2, 5, 4, 2, 2, 2), 1),
        Case(_pool_sizes(1, 4, 5, 3, 3, 1), 2),
        Case(_pool_sizes(2, 5, 5, 2, 3, 2), 3),
        Case(_pool_sizes(2, 4, 5, 2, 2, 1), 4, "stride1"),
    ), _pool_cs231n),
    "create_mask_from_window": Target(("x",), ("mask",), False, (), (
        Case({"f": 2}, 1), Case({"f": 3}, 2), Case({"f": 4}, 3)), _mask),
    "distribute_value": Target(("dz", "shape"), ("a",), False, (), (
        Case({"f": 2}, 1), Case({"f": 3}, 2)), _spread),
}

assert frozenset(TARGETS) == JUDGED


def candidates(fname: str, inst: Instance, mode: str | None) -> dict[str, dict]:
    """Wrong answers a common mistake gives, each from derive's numbers on changed inputs:
    mistake code -> output name -> value. Only the outputs each mistake changes."""
    v = inst.values
    s = inst.case.sizes
    out: dict[str, dict] = {}
    if fname in ("conv_backward", "conv_backward_naive"):
        from derive.conv import numbers as conv_numbers

        cs = v.get("layout") == "cs231n"
        turned = v["W"][:, :, ::-1, ::-1] if cs else v["W"][::-1, ::-1]
        flipped = conv_numbers.conv_backward(v["dZ"], v["A_prev"], turned, v["b"],
                                             stride=s["stride"], pad=s["pad"],
                                             layout="cs231n" if cs else "course")
        out["filter_flipped"] = {"dx" if cs else "dA_prev": flipped[0]}
    elif fname == "pool_backward" and mode == "average":
        from derive.conv import numbers as conv_numbers

        spread = conv_numbers.pool_backward(v["dA"] * s["f"] ** 2, v["A_prev"], f=s["f"],
                                       stride=s["stride"], mode="average")
        out["average_not_divided"] = {"dA_prev": spread}
    elif fname == "distribute_value":  # derive's spread, times f · f: not divided
        out["average_not_divided"] = {"a": inst.right["a"] * s["f"] ** 2}
    elif fname == "rnn_cell_backward":
        from derive.rnn import numbers as rnn_numbers

        deriv = 1 - v["a_next"] ** 2
        for code, scaled in (("missing_tanh_derivative", v["da_next"] / deriv),
                             ("tanh_derivative_at_a_prev",
                              v["da_next"] * (1 - v["a_prev"] ** 2) / deriv)):
            out[code] = dict(rnn_numbers.rnn_cell_backward(scaled, v["xt"], v["a_prev"], v["p"]))
    elif fname == "rnn_backward":
        out["gradient_through_time_dropped"] = _without_recurrence(v)
    return out


def _without_recurrence(v: dict) -> dict:
    """rnn_backward's outputs when each step's cell gets da[:, :, t] alone (derive's cell)."""
    from derive.rnn import numbers as rnn_numbers

    x, a0, a, p, da = v["x"], v["a0"], v["a"], v["p"], v["da"]
    total: dict = {"dx": np.zeros_like(x)}
    for t in range(x.shape[2]):
        g = rnn_numbers.rnn_cell_backward(da[:, :, t], x[:, :, t], a0 if t == 0 else a[:, :, t - 1], p)
        total["dx"][:, :, t] = g["dxt"]
        for k in ("dWax", "dWaa", "dba"):
            total[k] = total.get(k, 0) + g[k]
        if t == 0:
            total["da0"] = g["da_prev"]
    return total


__all__ = ["FORWARD", "TARGETS", "Case", "Instance", "Target", "candidates"]
