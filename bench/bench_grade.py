"""Throughput of ``derive check --batch`` and ``derive grade`` at ``--jobs 1`` and ``--jobs 2``
(issue 16): lines per second, medians over repeats, and the ratio jobs 2 / jobs 1 in the same run.

    python bench/bench_grade.py                 # 2,000 lines each, 3 repeats
    python bench/bench_grade.py --lines 400 --repeats 1
    python bench/bench_grade.py --dask          # also the dask.bag recipe, lines/s per worker

1. ``check --batch``: 2,000 mixed JSON Lines (right and wrong formulas, text, numpy and LaTeX,
   five networks: bench/bench_check.py's mix), end to end in a subprocess (start-up included).
2. ``grade``: a folder of submissions with four answers each (2,000 answers in all, right and
   wrong), against one rubric of four questions.
Goal: a ratio of 1.7 or more on a 2-core machine. The ratio depends on what else the machine
runs; the script prints the load average beside it. No timing is asserted anywhere.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_check import batch_lines  # noqa: E402  (the same mix as the batch benchmark)

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
RUBRIC = """[network]
layers = [3, 4, 1]
activations = ["relu", "sigmoid"]
loss = "bce"
[[question]]
id = "dz2"
target = "dZ[2]"
points = 1
[[question]]
id = "dw2"
target = "dW[2]"
points = 2
[[question]]
id = "dz1"
target = "dZ[1]"
points = 2
[[question]]
id = "dw1"
target = "dW[1]"
points = 2
"""
ANSWERS = {
    "dz2": ["dZ2 = A2 - Y", "dZ2 = Y - A2"],
    "dw2": ["dW2 = 1/m * np.dot(dZ2, A1.T)", "dW2 = np.dot(dZ2, A1.T)"],
    "dz1": ["dZ1 = np.dot(W2.T, dZ2) * (Z1 > 0)", "dZ1 = np.dot(W2.T, dZ2) * A1"],
    "dw1": ["dW1 = 1/m * np.dot(dZ1, X.T)", "dW1 = 1/m * np.dot(X.T, dZ1)"],
}


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=False, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dask", action="store_true",
                    help="also docs/grading.md's dask.bag recipe on a 2-worker LocalCluster")
    a = ap.parse_args()
    derive = [PY, "-m", "derive"]
    with tempfile.TemporaryDirectory() as tmp:
        batch = Path(tmp) / "in.jsonl"
        batch.write_text("\n".join(batch_lines(a.lines)) + "\n", encoding="utf-8")
        (Path(tmp) / "r.toml").write_text(RUBRIC, encoding="utf-8")
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for s in range(a.lines // len(ANSWERS)):
            ans = {q: alts[(s >> k) % 2] for k, (q, alts) in enumerate(ANSWERS.items())}
            (subs / f"s{s:04d}.json").write_text(json.dumps(ans), encoding="utf-8")
        files = sorted(str(f) for f in subs.iterdir())  # one student per file (a folder is one)
        runs = {
            "check --batch": lambda j: derive + ["check", "--batch", str(batch), "--jobs", j],
            "grade": lambda j: derive + ["grade", "--rubric", str(Path(tmp) / "r.toml"),
                                         *files, "--json", "--jobs", j],
        }
        print(f"{a.lines} lines, median of {a.repeats}; load average before: "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for name, cmd in runs.items():
            med = {}
            for j in ("1", "2"):
                med[j] = statistics.median(timed(cmd(j)) for _ in range(a.repeats))
            r1, r2 = a.lines / med["1"], a.lines / med["2"]
            print(f"{name:14s} jobs 1: {r1:7.1f} lines/s  jobs 2: {r2:7.1f} lines/s  "
                  f"ratio {r2 / r1:.2f}")
        if a.dask:
            dask_rate(batch, a.lines, a.repeats)
        print(f"load average after: {os.getloadavg()[0]:.1f}")


def dask_rate(batch: Path, n: int, repeats: int) -> None:
    """docs/grading.md's recipe: check_line over a dask.bag on a 2-process LocalCluster; the
    median over repeats after one warm-up pass (each worker's caches warm, as --jobs keeps them)."""
    import dask.bag as db
    from distributed import Client, LocalCluster

    from derive.grade import check_line

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        bag = db.read_text(str(batch), blocksize=None).map(str.strip).filter(bool)
        bag = bag.repartition(8).map(check_line)
        times = []
        for k in range(repeats + 1):
            t = time.perf_counter()
            bag.compute()
            if k:
                times.append(time.perf_counter() - t)
    rate = n / statistics.median(times)
    print(f"dask bag, 2 workers: {rate:7.1f} lines/s ({rate / 2:.1f} per worker)")


if __name__ == "__main__":
    main()
