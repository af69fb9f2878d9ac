"""`derive stability` analysis time at depth 1,000, width 256 (goal: under 5 s).

    python bench/bench_stability.py [--repeat 5] [--depth 1000] [--width 256] [--threads N]

Prints the median wall time of analyse(depth, width, tanh, xavier) (in-process, the catalogue and
SymPy's homogeneity check warmed first), the share spent on spectral norms (2·depth matrices:
W[l] and example 0's J[l]) with the method used, and the same norms by full SVD
(np.linalg.norm(M, 2)) on a sample, extrapolated to 2·depth matrices, as the baseline ratio.
--threads N sets OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before numpy loads (on a busy 2-core
machine one BLAS thread is often faster for these small matrix products).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        if "numpy" in sys.modules:
            raise SystemExit("--threads must be set before numpy is imported")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    import importlib

    import numpy as np

    S = importlib.import_module("derive.stability.analyse")  # the module; derive.stability.analyse is the function

    S.analyse(depth=2, width=4)  # warm: catalogue, lambdify, SymPy homogeneity check
    timings, norm_share, method = [], [], ""
    original = S.spectral_norms
    for _ in range(args.repeat):
        spent = [0.0]

        def timed(M, spent=spent):
            t0 = time.perf_counter()
            out = original(M)
            spent[0] += time.perf_counter() - t0
            return out

        S.spectral_norms = timed
        try:
            t0 = time.perf_counter()
            r = S.analyse(depth=args.depth, width=args.width, activation="tanh", init="xavier")
            timings.append(time.perf_counter() - t0)
        finally:
            S.spectral_norms = original
        norm_share.append(spent[0])
        method = r.norm_method
    med = statistics.median(timings)
    med_norms = statistics.median(norm_share)

    rng = np.random.default_rng(0)
    sample = rng.normal(size=(16, args.width, args.width)) / np.sqrt(args.width)
    t0 = time.perf_counter()
    for M in sample:
        np.linalg.norm(M, 2)
    svd_each = (time.perf_counter() - t0) / len(sample)
    svd_total = svd_each * 2 * args.depth

    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"derive stability analysis: depth {args.depth}, width {args.width}, tanh, xavier, "
          f"batch 32; median of {args.repeat} runs (BLAS threads: {threads})")
    print(f"  total                       {med:8.3f} s   (goal < 5 s: "
          f"{'met' if med < 5 else 'NOT met'}; runs: {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"  spectral norms ({method:7s})    {med_norms:8.3f} s   "
          f"({2 * args.depth} matrices, {med_norms / med:.0%} of the total)")
    print(f"  the same by full SVD        {svd_total:8.3f} s   (extrapolated from "
          f"{len(sample)}: {svd_each * 1e3:.2f} ms each; ratio SVD/{method} "
          f"{svd_total / med_norms:.1f}×)")
    print(f"  verdict {r.verdict}, growth factor ×{r.growth_factor:.6g} per layer")


if __name__ == "__main__":
    main()
