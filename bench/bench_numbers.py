"""Worked examples with the courses' caches (issue 14): what a given cache, one layer at a time
and a course signature cost, each against its baseline in the same run.

- the course's L_model_backward test (4-3-1, m = 2) as a worked example with its random cache,
  against the same network's worked example without a cache (the derivation is shared: both
  are timed with it derived once);
- one layer (``layer_backward``, the course's linear_activation_backward test) against the
  course-style numpy of tests/course_impls/dls_deep.py (what the student's code does);
- ``gradcheck_impl`` on CS231n's TwoLayerNet class (4-10-3, m = 5), against ``gradcheck`` of the
  derived formulas on the same network and values.

Prints medians of --repeat runs and the ratios.

    python bench/bench_numbers.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.course_impls

from derive.engine.backward import derive  # noqa: E402
from derive.network.spec import Network  # noqa: E402
from derive.numbers.gradcheck import gradcheck, gradcheck_impl  # noqa: E402
from derive.numbers.layer import layer_backward  # noqa: E402
from derive.numbers.worked import worked_example  # noqa: E402
from tests.course_impls import cs231n_net, dls_deep  # noqa: E402


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    repeat = ap.parse_args().repeat

    np.random.seed(3)
    AL, Y = np.random.randn(1, 2), np.array([[1, 0]])
    caches = []
    for rows, cols in ((3, 4), (1, 3)):
        caches.append(((np.random.randn(cols, 2), np.random.randn(rows, cols),
                        np.random.randn(rows, 1)), np.random.randn(rows, 2)))
    net = Network(layers=[4, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    d = derive(net, prove=False, input_gradient=True)
    (X, W1, b1), _ = caches[0]
    (_, W2, b2), _ = caches[1]
    plain = {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}
    t_cache = median_time(lambda: worked_example(net, derivation=d, Y=Y, cache=caches, AL=AL), repeat)
    t_plain = median_time(lambda: worked_example(net, plain, derivation=d), repeat)
    print(f"worked example with the course's cache (L_model_backward):  {t_cache * 1e3:8.2f} ms median")
    print(f"  the same network without a cache:                          {t_plain * 1e3:8.2f} ms "
          f"({t_cache / t_plain:.2f}x)")

    np.random.seed(2)
    dA, A_prev, W, b, Z = (np.random.randn(*s) for s in ((1, 2), (3, 2), (1, 3), (1, 1), (1, 2)))
    t_layer = median_time(lambda: layer_backward(A_prev, W, b, dA=dA, Z=Z, activation="sigmoid"), repeat)
    cache = ((A_prev, W, b), Z)
    t_np = median_time(lambda: dls_deep.linear_activation_backward(dA, cache, "sigmoid"), repeat)
    print(f"layer_backward (linear_activation_backward's test, sigmoid): {t_layer * 1e3:8.2f} ms median "
          "(derivation included)")
    print(f"  the course-style numpy function:                           {t_np * 1e3:8.4f} ms "
          f"({t_layer / t_np:.0f}x)")

    net2 = Network(layers=[4, 10, 3], activations=["relu", "softmax"], loss="ce", convention="rows")
    np.random.seed(0)
    Xc, yc = 10 * np.random.randn(5, 4), np.array([0, 1, 2, 2, 1])
    params = dict(cs231n_net.TwoLayerNet(4, 10, 3, std=1e-1).params)
    t_impl = median_time(lambda: gradcheck_impl(net2, cs231n_net.TwoLayerNet, X=Xc, Y=yc,
                                                params=params), repeat)
    t_derived = median_time(lambda: gradcheck(net2, X=Xc, Y=yc, params=params), repeat)
    print(f"gradcheck --impl CS231n TwoLayerNet (4-10-3, m = 5):          {t_impl * 1e3:8.2f} ms median")
    print(f"  gradcheck of the derived formulas, same values:            {t_derived * 1e3:8.2f} ms "
          f"({t_impl / t_derived:.2f}x)")


if __name__ == "__main__":
    main()
