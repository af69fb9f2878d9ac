"""Benchmarks of ``derive check``: cold start and batch throughput (prints medians and ratios).

    python bench/bench_check.py            # 7 cold runs each, 1,000 batch lines
    python bench/bench_check.py --quick    # 3 cold runs, 200 batch lines

1. Cold start: wall time of ``derive check "<formula>"`` in a fresh interpreter, as a ratio against
   ``python -c "import sympy"`` measured in the same run (goal: below 1.3), for a generic network
   and for a named one (--layers 3,3,1 --act relu,sigmoid --loss bce).
2. Batch: ``derive check --batch`` on 1,000 mixed formulas (correct and wrong, text, numpy and
   LaTeX, five networks), in checks per second: end to end in a subprocess (startup included) and
   warm in-process (goal: 200/s or more).
No timing is asserted anywhere; this script only reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FORMULA = "dZ1 = W2^T dZ2 * g1'(Z1)"

NETWORKS = [
    {},  # generic: g[l], generic loss, depth from the formula
    {"layers": "3,3,1", "activations": "relu,sigmoid", "loss": "bce"},
    {"layers": [4, 5, 3], "activations": ["tanh", "softmax"], "loss": "ce"},
    {"layers": "5,4,3,2", "activations": "relu,tanh,sigmoid", "loss": "bce"},
    {"layers": "4,3,2", "activations": "relu,sigmoid", "loss": "bce", "convention": "rows"},
]
# (equation, networks it applies to); right and wrong, in several notations
FORMULAS = [
    "dZ1 = W2^T dZ2 * g1'(Z1)",
    "dZ1 = np.dot(W2.T, dZ2) * g1'(Z1)",
    "dZ^{[1]} = W^{[2]T} dZ^{[2]} \\odot g^{[1]\\prime}(Z^{[1]})",
    "dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])",
    "dZ1 = np.dot(W2, dZ2) * g1'(Z1)",
    "dZ1 = np.dot(W2.T, dZ2) * A1",
    "dZ1 = W2.T @ dZ2 @ g1'(Z1)",
    "dZ1 = -np.dot(W2.T, dZ2) * g1'(Z1)",
    "dW1 = 1/m np.dot(dZ1, X.T)",
    "dW1 = (1/m) * np.dot(dZ1, X.T)",
    "dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^T",
    "dW1 = np.dot(dZ1, X.T)",
    "dW1 = 1/m np.dot(X.T, dZ1)",
    "dW1 = 1/m np.dot(dZ1, A1.T)",
    "db1 = (1/m) * np.sum(dZ1, axis=1, keepdims=True)",
    "db1 = (1/m) * np.sum(dZ1, axis=0, keepdims=True)",
    "db1 = 1/m dZ1",
    "db1 = np.sum(dZ1, axis=1, keepdims=True)",
    "dA1 = np.dot(W2.T, dZ2)",
    "dA1 = 1/m np.dot(W2.T, dZ2)",
    "dA1 = np.dot(W1.T, dZ1)",
    "dZ2 = A2 - Y",
    "dZ2 = Y - A2",
    "dW2 = 1/m np.dot(A2 - Y, A1.T)",
    "db2 = 1/m np.sum(A2 - Y, axis=1, keepdims=True)",
    "dZ2 = dA2 * g2'(Z2)",
    "dZ2 = dA2 * A2",
    "dW[l] = 1/m dZ[l] A[l-1]^T",
    "dZ[l] = W[l+1]^T dZ[l+1] * g[l]'(Z[l])",
    "dZ1 = W2^T dZ2 * g1'(Z1",  # a parse error
]


def median_wall(cmd: list[str], runs: int) -> float:
    times = []
    # bytecode written, as for a user: any value of PYTHONDONTWRITEBYTECODE (even "0") stops it
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def batch_lines(n: int) -> list[str]:
    lines = []
    i = 0
    while len(lines) < n:
        eq = FORMULAS[i % len(FORMULAS)]
        spec = NETWORKS[(i // len(FORMULAS)) % len(NETWORKS)]
        lines.append(json.dumps({"id": i, "equation": eq, **spec}))
        i += 1
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 3 if args.quick else 7
    n = 200 if args.quick else 1000

    derive_cmd = [PY, "-m", "derive", "check"]
    subprocess.run([*derive_cmd, FORMULA], cwd=ROOT, capture_output=True)  # warm the .pyc files
    base = median_wall([PY, "-c", "import sympy"], runs)
    cold = median_wall([*derive_cmd, FORMULA], runs)
    named = median_wall([*derive_cmd, FORMULA, "--layers", "3,3,1", "--act", "relu,sigmoid",
                         "--loss", "bce"], runs)
    print(f"cold start, median of {runs} runs")
    print(f"  python -c 'import sympy'                 {base * 1000:8.0f} ms   1.00")
    print(f"  derive check (generic network)           {cold * 1000:8.0f} ms   {cold / base:.2f}"
          "   goal < 1.3")
    print(f"  derive check --layers 3,3,1 relu,sigmoid {named * 1000:8.0f} ms   {named / base:.2f}")

    lines = batch_lines(n)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = Path(tmp) / "out.jsonl"
        t0 = time.perf_counter()
        subprocess.run([*derive_cmd, "--batch", str(path), "-o", str(out)], cwd=ROOT,
                       capture_output=True)
        wall = time.perf_counter() - t0
        results = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert len(results) == n, "one result per line"
    counts: dict[str, int] = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1

    sys.path.insert(0, str(ROOT))
    from derive.cli.check import check_line

    for line in lines[: len(FORMULAS) * len(NETWORKS)]:  # warm the per-network caches
        check_line(line)
    rounds = []
    for _ in range(3):
        t0 = time.perf_counter()
        for line in lines:
            check_line(line)
        rounds.append(time.perf_counter() - t0)
    warm = statistics.median(rounds)
    print(f"batch of {n} mixed formulas ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    print(f"  end to end (subprocess, startup included) {wall:7.2f} s   {n / wall:7.0f} checks/s")
    print(f"  warm, in process (median of 3)            {warm:7.2f} s   {n / warm:7.0f} checks/s"
          "   goal >= 200")
    print(f"  ratio end-to-end / goal: {n / wall / 200:.2f}; warm / goal: {n / warm / 200:.2f}")


if __name__ == "__main__":
    main()
