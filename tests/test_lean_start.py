"""A lean start (issue 19): what a warm ``derive backward`` does not need, it does not import.

Each check runs a fresh interpreter (the test session has numpy loaded already) and reads
``sys.modules`` after the command has run, so a module-level ``import numpy`` anywhere on the
path, or a function that reaches for numpy when no number is computed, fails it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BACKWARD = ["backward", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce"]
PROBE = """
import contextlib, gc, io, json, sys
from derive.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "numpy": "numpy" in sys.modules, "sympy": "sympy" in sys.modules,
                  "frozen": gc.get_freeze_count(),
                  "modules": sorted(m for m in sys.modules if m.startswith("derive."))}))
"""
CHECK = ["check", "dZ1 = W2^T dZ2 * g1'(Z1)", "--layers", "3,3,1", "--act", "relu,sigmoid",
         "--loss", "bce"]


# the process's own command line (main() reads sys.argv): what `derive ...` runs, preload included
PROCESS = PROBE.replace("main(sys.argv[1:])", "main()").replace(
    "from derive.cli import main", "from derive.cli import main; sys.argv[0] = 'derive'")


def _run(args: list[str], cache: Path, probe: str = PROBE) -> dict:
    env = {"DERIVE_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("probe", [PROBE, PROCESS], ids=["main(argv)", "process"])
def test_warm_backward_imports_no_numpy(tmp_path, probe):
    first = _run(BACKWARD, tmp_path, probe)  # an empty cache: the proof computes numbers
    assert (first["code"], first["numpy"]) == (0, True)
    warm = _run(BACKWARD, tmp_path, probe)  # every proof cached: nothing numeric to do
    assert (warm["code"], warm["numpy"]) == (0, False)


def test_warm_batchnorm_and_dropout_import_no_numpy(tmp_path):
    args = [*BACKWARD, "--batchnorm", "1", "--keep-prob", "0.8", "--steps", "--format", "latex"]
    _run(args, tmp_path)
    warm = _run(args, tmp_path)
    assert (warm["code"], warm["numpy"]) == (0, False)


@pytest.mark.parametrize("probe", [PROBE, PROCESS], ids=["main(argv)", "process"])
def test_a_text_check_loads_neither_the_latex_reader_nor_other_commands(tmp_path, probe):
    """A text formula is read without the LaTeX reader, and the command line builds only the
    parser of the command it names (the others' modules are not imported)."""
    done = _run(CHECK, tmp_path, probe)
    assert done["code"] == 0
    assert (done["frozen"] > 0) == (probe is PROCESS)  # the process's path preloads and freezes
    loaded = set(done["modules"])
    assert "derive.check.checker" in loaded and "derive.parse.text" in loaded  # the probe works
    assert "derive.parse.latex" not in loaded
    commands = {"backward", "handout", "numbers", "gradcheck", "stability", "jacobian", "grade",
                "serve", "variants", "rules", "notations", "completion"}
    assert not {f"derive.cli.{c}" for c in commands} & loaded
    assert "derive.layers.conv2d" in loaded  # registered, but no rank-4 node is built
    assert not {"derive.core.tensor", "derive.core.convolution"} & loaded
    latex = _run([*CHECK[:1], r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})",
                  *CHECK[2:]], tmp_path, probe)
    assert latex["code"] == 0 and "derive.parse.latex" in latex["modules"]


def test_help_still_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "derive", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    for command in ("backward", "check", "handout", "completion", "variants"):
        assert command in done.stdout
    typo = subprocess.run([sys.executable, "-m", "derive", "chek"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert typo.returncode == 2 and "'backward'" in typo.stderr and "'variants'" in typo.stderr


def test_preload_pauses_the_collector_and_freezes_what_it_imported():
    """derive.cli.preload (the process's command line calls it, through process_preload): the
    modules are imported, the collector is back on afterwards and their objects are in the
    permanent generation."""
    import gc

    from derive.cli import preload

    before = gc.get_freeze_count()
    assert gc.isenabled()
    try:
        preload(("derive.check.checker", "derive.parse"))
        assert gc.isenabled()
        assert gc.get_freeze_count() > before
        assert "derive.check.checker" in sys.modules
    finally:
        gc.unfreeze()  # the test session's objects are collected again as before
    preload(())  # nothing to import: nothing frozen
    assert gc.get_freeze_count() == 0


def test_an_in_process_main_leaves_the_collector_alone(tmp_path, monkeypatch):
    """main([...]) (tests, the docs, a notebook) neither pauses nor freezes anything."""
    import contextlib
    import gc
    import io

    from derive.cli import main

    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    gc.unfreeze()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(CHECK) == 0
    assert "correct" in out.getvalue()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_derive_process_gives_the_same_answer_with_its_collector_paused(tmp_path):
    """The command line (preload, then a final collection and freeze) prints what main([...])
    in a fresh interpreter prints, a wrong formula's counterexample included."""
    env = {"DERIVE_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    wrong = [CHECK[0], "dZ1 = W2^T dZ2 * A1", *CHECK[2:], "--format", "json"]
    for args in (CHECK, wrong):
        process = subprocess.run([sys.executable, "-m", "derive", *args], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        probe = ("import sys; from derive.cli import main; sys.exit(main(sys.argv[1:]))")
        in_process = subprocess.run([sys.executable, "-c", probe, *args], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=120)
        assert process.returncode == in_process.returncode
        assert process.stdout == in_process.stdout and process.stdout
    wrong_verdict = json.loads(process.stdout)
    assert wrong_verdict["verdict"] == "not_equivalent" and wrong_verdict["counterexample"]


def test_preload_sets_the_environment_only_where_the_user_did_not(monkeypatch):
    import os

    from derive.cli import preload

    monkeypatch.delenv("DERIVE_TEST_THREADS", raising=False)
    preload((), {"DERIVE_TEST_THREADS": "1"})
    assert os.environ["DERIVE_TEST_THREADS"] == "1"
    monkeypatch.setenv("DERIVE_TEST_THREADS", "4")  # the user's own setting wins
    preload((), {"DERIVE_TEST_THREADS": "1"})
    assert os.environ["DERIVE_TEST_THREADS"] == "4"


def test_a_usage_error_preloads_nothing(tmp_path):
    """The checks of the arguments come first: `derive check -o x` says what is wrong without
    importing SymPy."""
    env = {"DERIVE_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", PROCESS, "check", "-o", "x"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["code"] == 2 and "-o/--output goes with --batch" in done.stderr
    assert out["sympy"] is False
