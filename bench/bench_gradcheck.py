"""Gradient checking time: `derive gradcheck` against `torch.autograd.gradcheck`.

The same network for both: 64-32-10, m = 16, relu hidden, softmax + cross-entropy, float64 on the
CPU, every parameter checked (W1 32×64, b1, W2 10×32, b2: 2,410 entries, so 2 × 2,410 perturbed
costs). torch runs its default mode (not fast_mode). Also timed: the central differences alone,
and a plain numpy loop (one perturbed copy at a time) as a second baseline. Prints medians and
ratios. torch is a benchmark-only dependency: `pip install torch==2.13.0` (a CPU wheel); without it
the torch rows are skipped with a message.

    python bench/bench_gradcheck.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time

import numpy as np

from derive.engine.backward import derive
from derive.network import model
from derive.network.spec import Network

G = importlib.import_module("derive.numbers.gradcheck")  # the module; derive.numbers.gradcheck is the function

SIZES = (64, 32, 10)
M = 16


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def plain_loop(net, inst, eps=1e-4):
    """One perturbed copy at a time, the course's loop: 2 × 2,410 full forward passes."""
    out = {}
    for key in G.param_keys(net):
        P = inst.params[key]
        g = np.empty(P.size)
        for k in range(P.size):
            for sign in (1, -1):
                Q = P.copy().ravel()
                Q[k] += sign * eps
                p = dict(inst.params)
                p[key] = Q.reshape(P.shape)
                J = float(model.cost(net, model.forward(net, p, inst.X), inst.Y))
                g[k] = g[k] + J / (2 * eps) if sign == -1 else J / (2 * eps)
            g[k] = g[k]
        out[key] = g
    return out


def torch_check(inst):
    import torch

    X = torch.tensor(inst.X, dtype=torch.float64)
    Y = torch.tensor(inst.Y, dtype=torch.float64)
    params = [torch.tensor(inst.params[k], dtype=torch.float64, requires_grad=True)
              for k in (("W", 1), ("b", 1), ("W", 2), ("b", 2))]

    def cost(W1, b1, W2, b2):
        A1 = torch.relu(W1 @ X + b1)
        A2 = torch.softmax(W2 @ A1 + b2, dim=0)
        return -(Y * torch.log(A2)).sum() / X.shape[1]

    def run():
        assert torch.autograd.gradcheck(cost, params)  # default: eps 1e-6, atol 1e-5, rtol 1e-3

    return run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    net = Network(layers=list(SIZES), activations=["relu", "softmax"], loss="ce")
    inst = G.random_instance(net, 0, M, None, G.EPS)
    d = derive(net, prove=False)
    print(f"network {net.describe()}, m = {M}, "
          f"{sum(inst.params[k].size for k in G.param_keys(net))} parameters")

    r = G.gradcheck(net, instance=inst, derivation=d)
    assert r.passed, r.to_dict()
    ours = median_time(lambda: G.gradcheck(net, instance=inst, derivation=d), args.repeat)
    fd_only = median_time(lambda: G.numeric_gradients(net, inst.params, inst.X, inst.Y), args.repeat)
    loop = median_time(lambda: plain_loop(net, inst), max(1, args.repeat // 3))
    print(f"derive gradcheck (derived formulas + batched differences): {ours * 1e3:8.1f} ms median")
    print(f"  of which central differences:                            {fd_only * 1e3:8.1f} ms")
    print(f"plain numpy loop, one copy at a time:                       {loop * 1e3:8.1f} ms "
          f"({loop / ours:.1f}x ours)")
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch not installed: skipping torch.autograd.gradcheck "
              "(pip install torch==2.13.0, a CPU wheel)")
        return
    import torch

    default_threads = torch.get_num_threads()
    t = median_time(torch_check(inst), args.repeat)
    print(f"torch.autograd.gradcheck (float64, CPU, default mode, {default_threads} threads): "
          f"{t * 1e3:8.1f} ms median, ratio torch / derive {t / ours:.1f}x")
    torch.set_num_threads(1)  # the conservative comparison: torch without thread contention
    t1 = median_time(torch_check(inst), args.repeat)
    torch.set_num_threads(default_threads)
    print(f"torch.autograd.gradcheck (float64, CPU, default mode, 1 thread):  "
          f"{t1 * 1e3:8.1f} ms median, ratio torch / derive {t1 / ours:.1f}x")
    print(f"goal: at least 10x; conservative ratio {min(t, t1) / ours:.1f}x")

if __name__ == "__main__":
    main()
