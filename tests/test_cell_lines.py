"""Lines of the course's rnn_cell_backward checked alone: derive check --spec rnn.toml "…"
(derive.code.cell_lines). Each line's label (right or wrong) is established here, by evaluating
the line with numpy on a random cell and comparing with autograd (tests/oracle_rnn.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.cli import main
from derive.code.cell_lines import check_cell
from tests.oracle_rnn import rnn_cell_gradients

LINES = [  # (the student's lines, the gradient judged, right?)
    ("dxt = np.dot(Wax.T, dtanh)", "dxt", True),
    ("dtanh = (1 - a_next ** 2) * da_next\ndWaa = np.dot(dtanh, a_prev.T)", "dWaa", True),
    ("dba = np.sum(dtanh, axis=1, keepdims=True)", "dba", True),
    ("dWaa = np.dot(dtanh, a_next.T)", "dWaa", False),
    ("da_prev = np.dot(Waa, dtanh)", "da_prev", False),
    ("dWax = np.dot(dtanh, xt.T) / 5", "dWax", False),
    # rnn_backward's accumulation, as derive backward prints it: the cell's one step's term
    ("dWaa += np.dot(dtanh, a_prev.T)", "dWaa", True),
    ("dWax += np.dot(dtanh, xt.T) * 2", "dWax", False),
]


def _value(lines: str, name: str) -> bool:
    """The lines' value of ``name`` by numpy on one cell (derive's own test text, run here)."""
    rng = np.random.default_rng(7)
    n_x, n_a, m = 3, 4, 5
    p = {"Wax": rng.normal(size=(n_a, n_x)), "Waa": rng.normal(size=(n_a, n_a)),
         "ba": rng.normal(size=(n_a, 1))}
    xt, a_prev, da_next = rng.normal(size=(n_x, m)), rng.normal(size=(n_a, m)), rng.normal(size=(n_a, m))
    a_next = np.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"])
    env = {"np": np, "xt": xt, "a_prev": a_prev, "a_next": a_next, "da_next": da_next, **p,
           "dtanh": (1 - a_next ** 2) * da_next}
    exec(lines.replace("+=", "="), env)  # noqa: S102 - the test's own lines (one cell's term)
    want = rnn_cell_gradients(da_next, xt, a_prev, {**p, "Wya": np.zeros((2, n_a)),
                                                    "by": np.zeros((2, 1))})[name]
    return bool(np.allclose(env[name], want))


@pytest.mark.parametrize("lines, name, right", LINES)
def test_each_line_gets_the_verdict_autograd_gives_it(lines, name, right):
    assert _value(lines, name) is right  # the label, by autograd
    out = check_cell(lines)
    (r,) = [r for r in out.results if r.name == name]
    assert r.verdict.verdict == ("correct" if right else "not_equivalent"), r.verdict.message
    assert r.line == lines.count("\n") + 1  # the student's own line number
    assert all("line 8" not in n for n in r.verdict.notes)  # no line of the wrapper shows


def test_dtanh_alone_is_judged_through_the_lines_that_use_it():
    out = check_cell("dtanh = (1 - a_prev ** 2) * da_next")
    (r,) = out.results
    assert r.name == "dtanh" and r.verdict.verdict == "not_equivalent"
    assert r.verdict.mistakes[0].code == "tanh_derivative_at_a_prev"
    assert "dtanh (line 1)" in r.verdict.mistakes[0].message
    assert check_cell("dtanh = (1 - a_next ** 2) * da_next").results[0].verdict.correct
    (r,) = check_cell("dtanh = da_next").results  # its right formula is dtanh's, not dxt's
    assert r.verdict.target == "dtanh" and r.verdict.expected.startswith("dtanh = (1 - a_next")
    assert r.verdict.mistakes[0].code == "missing_tanh_derivative"
    assert any("the counterexample is an entry of dxt" in n for n in r.verdict.notes)


def test_a_spec_whose_activation_is_not_tanh_is_refused_not_judged_as_tanh(tmp_path, capsys):
    """The lines are judged in the course's tanh cell: a relu or sigmoid spec would get tanh's
    verdicts (its own right dz line called wrong), so it is refused, naming the activation."""
    for act in ("relu", "sigmoid"):
        spec = tmp_path / f"{act}.toml"
        spec.write_text(f'[rnn]\ninput = 2\nhidden = 3\noutput = 4\nsteps = 3\nactivation = "{act}"\n')
        assert main(["check", "--spec", str(spec), "dtanh = (1 - a_next**2) * da_next"]) == 2
        assert f"activation = '{act}'" in capsys.readouterr().err


def test_the_cli_takes_an_rnn_spec_and_refuses_a_cnn_spec_with_the_way_to_check_it(
        tmp_path, capsys):
    spec = tmp_path / "rnn.toml"
    spec.write_text("[rnn]\ninput = 3\nhidden = 5\noutput = 2\nsteps = 4\n")
    assert main(["check", "--spec", str(spec), "dWaa = np.dot(dtanh, a_next.T)",
                 "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["verdict"]) for r in out["results"]] == [("dWaa", "not_equivalent")]
    assert main(["check", "--spec", str(spec), "x = 1"]) == 2
    assert "write one of dtanh = ..." in capsys.readouterr().out
    cnn = tmp_path / "cnn.toml"
    cnn.write_text('input = [4, 4, 1]\nloss = "ce"\n[[layer]]\nkind = "flatten"\n'
                   '[[layer]]\nkind = "dense"\nunits = 2\nactivation = "softmax"\n')
    assert main(["check", "--spec", str(cnn), "dW = 1"]) == 2
    assert "derive check --code conv_backward.py" in capsys.readouterr().err


def test_batch_and_code_with_an_rnn_or_cnn_spec_are_refused_with_the_way_that_works(tmp_path, capsys):
    rnn = tmp_path / "rnn.toml"
    rnn.write_text("[rnn]\ninput = 3\nhidden = 5\noutput = 2\nsteps = 4\n")
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"equation": "dtanh = da_next"}\n')
    assert main(["check", "--batch", str(batch), "--spec", str(rnn)]) == 2
    err = capsys.readouterr().err
    assert "an RNN spec: --batch checks a dense network's formulas" in err and "derive check --spec" in err
    code = tmp_path / "f.py"
    code.write_text("def f(x):\n    return x\n")
    assert main(["check", "--code", str(code), "--spec", str(rnn)]) == 2
    assert "check --code reads the course's" in capsys.readouterr().err
