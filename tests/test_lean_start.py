"""A lean start (issue 19): what a warm ``derive backward`` does not need, it does not import.

Each check runs a fresh interpreter (the test session has numpy loaded already) and reads
``sys.modules`` after the command has run, so a module-level ``import numpy`` anywhere on the
path, or a function that reaches for numpy when no number is computed, fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BACKWARD = ["backward", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce"]
PROBE = """
import contextlib, io, json, sys
from derive.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "numpy": "numpy" in sys.modules}))
"""


def _run(args: list[str], cache: Path) -> dict:
    env = {"DERIVE_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_warm_backward_imports_no_numpy(tmp_path):
    first = _run(BACKWARD, tmp_path)  # an empty cache: the proof computes numbers
    assert first == {"code": 0, "numpy": True}
    warm = _run(BACKWARD, tmp_path)  # every proof cached: nothing numeric to do
    assert warm == {"code": 0, "numpy": False}


def test_warm_batchnorm_and_dropout_import_no_numpy(tmp_path):
    args = [*BACKWARD, "--batchnorm", "1", "--keep-prob", "0.8", "--steps", "--format", "latex"]
    _run(args, tmp_path)
    assert _run(args, tmp_path) == {"code": 0, "numpy": False}
