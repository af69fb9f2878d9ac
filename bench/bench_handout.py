"""Handout generation time for depths 2 and 20: median of several runs, without and with --pdf.

Each run builds the handout from a Network (derivation, proof, finite differences, the checker's
verdicts, rendering); "pdf" adds the pdflatex runs (skipped when pdflatex is not installed).
Ratios are against depth 2 in the same run.

    python bench/bench_handout.py [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from derive.handout.document import compile_tex, handout
from derive.network.spec import Network


def networks():
    return {
        2: Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
        20: Network(layers=[3] + [4] * 19 + [1], activations=["tanh"] * 19 + ["sigmoid"], loss="bce"),
    }


def median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _pages(pdf: bytes) -> str:
    if shutil.which("pdfinfo") is None:
        return "?"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        info = subprocess.run(["pdfinfo", f.name], capture_output=True, text=True).stdout
    hit = re.search(r"Pages:\s+(\d+)", info)
    return hit[1] if hit else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    has_tex = shutil.which("pdflatex") is not None
    handout(networks()[2])  # warm-up: imports, catalogue, lambdify caches
    base = {}
    print(f"{'depth':>5}  {'tex (s)':>8}  {'ratio':>6}  {'tex+pdf (s)':>11}  {'ratio':>6}  pages")
    for depth, net in networks().items():
        t_tex = median_time(lambda net=net: handout(net), args.runs)
        t_pdf = None
        if has_tex:
            t_pdf = median_time(lambda net=net: compile_tex(handout(net).tex), args.runs)
            pdf = compile_tex(handout(net).tex).pdf
            pages = _pages(pdf)
        base.setdefault("tex", t_tex)
        base.setdefault("pdf", t_pdf)
        pdf_txt = f"{t_pdf:11.2f}  {t_pdf / base['pdf']:6.1f}" if t_pdf else f"{'(no TeX)':>11}  {'':>6}"
        print(f"{depth:>5}  {t_tex:8.2f}  {t_tex / base['tex']:6.1f}  {pdf_txt}  "
              f"{pages if has_tex else ''}")


if __name__ == "__main__":
    main()
