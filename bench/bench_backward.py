"""Derivation time against depth: must grow linearly (flat time per layer).

    python bench/bench_backward.py [--repeat 7] [--prove]

Prints, per depth, the median wall time of derive(net, prove=False) plus rendering every formula
to LaTeX (in-process), the time per layer, and its ratio to the per-layer time at depth 10. With
--prove, also the median time of the two proofs (element-wise SymPy + finite differences).
Baseline named in issue 2: tensorgrad took 104 s for all dW of a 10-layer network (measured there).
"""

from __future__ import annotations

import argparse
import statistics
import time

from derive.engine.backward import derive
from derive.engine.proof import prove
from derive.network.spec import Network

DEPTHS = (2, 5, 10, 20, 50, 100)


def network(depth: int) -> Network:
    return Network(activations=["tanh"] * (depth - 1) + ["sigmoid"], loss="bce")


def time_derivation(depth: int) -> float:
    net = network(depth)
    t0 = time.perf_counter()
    d = derive(net, prove=False)
    for f in d.formulas:
        f.latex  # noqa: B018 - rendering is part of the measured job
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--prove", action="store_true")
    args = parser.parse_args()
    derive(network(2), prove=False)  # warm the catalogue cache (loaded once per process)
    rows = []
    for depth in DEPTHS:
        med = statistics.median(time_derivation(depth) for _ in range(args.repeat))
        proof = None
        if args.prove:
            d = derive(network(depth), prove=False)
            runs = []
            for _ in range(max(1, args.repeat // 3)):
                t0 = time.perf_counter()
                prove(d)
                runs.append(time.perf_counter() - t0)
            proof = statistics.median(runs)
        rows.append((depth, med, proof))
    ref = next(med / depth for depth, med, _ in rows if depth == 10)
    print(
        f"{'depth':>5}  {'derive+LaTeX (ms)':>17}  {'per layer (ms)':>14}  {'ratio vs depth 10':>17}"
        + ("  proof (s)" if args.prove else "")
    )
    for depth, med, proof in rows:
        line = f"{depth:>5}  {med * 1e3:>17.2f}  {med / depth * 1e3:>14.3f}  {med / depth / ref:>17.2f}"
        if proof is not None:
            line += f"  {proof:>9.2f}"
        print(line)


if __name__ == "__main__":
    main()
