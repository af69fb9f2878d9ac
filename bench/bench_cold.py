"""Cold paths, whole process: ``derive backward`` with an empty and a warm proof cache, a deep
network's LaTeX, a cold ``derive check``; each against ``python -c "import sympy"`` in the same
run (issue 19). Prints medians (ms) and ratios, the load average, and batch throughput.

    python bench/bench_cold.py            # 7 runs each
    python bench/bench_cold.py --quick    # 3 runs each, no batch

Goals: backward 3,3,1 first run (empty cache) ≤ 2.5×, warm ≤ 1.5×; depth 100 tanh with
--format latex, warm ≤ 2×; cold check ≤ 1.3×. Batch throughput: bench/bench_check.py's, printed
here as checks/s (compare with a run on the commit before). No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
BACKWARD = ["backward", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce"]
DEEP = ["backward", "--layers", ",".join(["4"] * 100 + ["1"]), "--act",
        ",".join(["tanh"] * 99 + ["sigmoid"]), "--loss", "bce", "--format", "latex"]
CHECK = ["check", "dZ1 = W2^T dZ2 * g1'(Z1)", "--layers", "3,3,1", "--act", "relu,sigmoid",
         "--loss", "bce"]


def wall(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])}: exit {done.returncode}: {done.stderr[-400:]!r}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    runs = 3 if args.quick else 7
    derive = [PY, "-m", "derive"]
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    warm_dir = tmp / "warm"
    # bytecode is written (the first run below compiles it, as installing the package does): with
    # PYTHONDONTWRITEBYTECODE inherited, every run would compile each module changed since the
    # last write again, tens of ms that are no part of derive's start
    env = {k: v for k, v in os.environ.items() if k not in ("DERIVE_NO_CACHE", "PYTHONDONTWRITEBYTECODE")}
    warm_env = {**env, "DERIVE_CACHE_DIR": str(warm_dir)}
    try:
        subprocess.run([*derive, *CHECK], cwd=ROOT, env=warm_env, capture_output=True)  # .pyc
        for cmd in (BACKWARD, DEEP):  # fill the warm cache
            subprocess.run([*derive, *cmd], cwd=ROOT, env=warm_env, capture_output=True)
        times: dict[str, list[float]] = {k: [] for k in ("sympy", "empty", "warm", "deep", "check")}
        for i in range(runs):  # interleaved, so a change of load hits every figure alike
            times["sympy"].append(wall([PY, "-c", "import sympy"], env))
            empty_env = {**env, "DERIVE_CACHE_DIR": str(tmp / f"empty{i}")}
            times["empty"].append(wall([*derive, *BACKWARD], empty_env))
            times["warm"].append(wall([*derive, *BACKWARD], warm_env))
            times["deep"].append(wall([*derive, *DEEP], warm_env))
            times["check"].append(wall([*derive, *CHECK], warm_env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["sympy"]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"whole process, median of {runs} runs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = [
        ("python -c 'import sympy'", "sympy", None),
        ("backward 3,3,1, empty cache", "empty", 2.5),
        ("backward 3,3,1, warm cache", "warm", 1.5),
        ("backward depth 100 tanh, LaTeX, warm", "deep", 2.0),
        ("check one formula (3,3,1)", "check", 1.3),
    ]
    for label, key, goal in rows:
        ratio = med[key] / base
        verdict = "" if goal is None else f"   goal ≤ {goal:.1f}: {'met' if ratio <= goal else 'MISSED'}"
        print(f"  {label:40s} {med[key] * 1000:7.0f} ms   {ratio:5.2f}×{verdict}")
    if not args.quick:
        print("batch throughput (bench/bench_check.py):")
        subprocess.run([PY, str(ROOT / "bench" / "bench_check.py"), "--quick"], cwd=ROOT, env=env)


if __name__ == "__main__":
    main()
