"""derive grade's output formats against the published schemas, field by field.

* Gradescope: the autograder specification (gradescope/autograder_samples, docs/specs.md,
  "Output format"): top-level ``score`` (float), ``output`` (str), ``visibility``, ``tests``;
  each test ``score``, ``max_score`` (floats), ``name``, ``number``, ``output`` (str), ``tags``
  (list of str), ``visibility`` (hidden | after_due_date | after_published | visible).
* PrairieLearn: External Grading, "Grading results" (PrairieLearn/PrairieLearn docs): ``score``
  a float in [0, 1], ``gradable`` a bool, ``format_errors`` a string or a list of strings,
  ``message``, ``output``; each test ``name``, ``description``, ``points``, ``max_points``,
  ``message``, ``output``.

The scores expected are computed here from the rubric's points.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "grading.md"

GRADESCOPE_TOP = {"score": float, "execution_time": (int, float), "output": str,
                  "visibility": str, "stdout_visibility": str, "extra_data": dict,
                  "tests": list, "leaderboard": list}
GRADESCOPE_TEST = {"score": float, "max_score": float, "name": str, "number": str,
                   "output": str, "tags": list, "visibility": str, "extra_data": dict}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
PL_TOP = {"gradable": bool, "score": float, "format_errors": (str, list), "message": str,
          "output": str, "images": list, "tests": list}
PL_TEST = {"name": str, "description": str, "points": (int, float), "max_points": (int, float),
           "message": str, "output": str, "images": list}

RUBRIC = """\
[network]
layers = [3, 4, 1]
activations = ["relu", "sigmoid"]
loss = "bce"

[[question]]
id = "q1"
target = "dW[1]"
points = 2
partial = { missing_scale = 1 }

[[question]]
id = "q2"
target = "db[1]"
points = 2
visibility = "after_due_date"

[[question]]
id = "q3"
target = "dZ[1]"
points = 4
"""
ADA = {"q1": "dW1 = np.dot(dZ1, X.T)",                         # missing_scale: 1 of 2
       "q2": "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)",  # 2 of 2
       "q3": "dZ1 = np.dot(W2.T, dZ2) * A1"}                    # 0 of 4
EVE = {"q1": "dW1 = 1/m dZ1 X^T", "q2": "db1 = np.sum(dZ1, axis=(", "q3": "dZ1 = dZ2 W2^T"}


def conforms(obj: dict, schema: dict) -> None:
    assert set(obj) <= set(schema), set(obj) - set(schema)
    for key, value in obj.items():
        if schema[key] is bool:
            assert isinstance(value, bool), (key, value)
        else:  # a bool is an int in Python, never a number here
            assert isinstance(value, schema[key]) and not isinstance(value, bool), (key, value)


@pytest.fixture
def files(tmp_path):
    (tmp_path / "rubric.toml").write_text(RUBRIC, encoding="utf-8")
    (tmp_path / "ada.json").write_text(json.dumps(ADA), encoding="utf-8")
    (tmp_path / "eve.json").write_text(json.dumps(EVE), encoding="utf-8")
    return tmp_path


def run(files, fmt: str, *names: str, capsys) -> tuple[int, str]:
    code = main(["grade", "--rubric", str(files / "rubric.toml"),
                 *(str(files / n) for n in names), "--format", fmt])
    return code, capsys.readouterr().out


def test_gradescope_results_follow_the_spec(files, capsys):
    code, out = run(files, "gradescope", "ada.json", capsys=capsys)
    assert code == 1
    r = json.loads(out)
    conforms(r, GRADESCOPE_TOP)
    assert r["score"] == 1.0 + 2.0 + 0.0 and r["visibility"] in VISIBILITY
    assert len(r["tests"]) == 3
    for t in r["tests"]:
        conforms(t, GRADESCOPE_TEST)
        assert t["visibility"] in VISIBILITY and all(isinstance(x, str) for x in t["tags"])
        assert 0 <= t["score"] <= t["max_score"]
    assert [(t["score"], t["max_score"]) for t in r["tests"]] == [(1, 2), (2, 2), (0, 4)]
    assert [t["number"] for t in r["tests"]] == ["1", "2", "3"]
    assert r["tests"][1]["visibility"] == "after_due_date"  # the question's own setting
    assert "missing_scale" in r["tests"][0]["tags"]
    assert "activation_instead_of_derivative" in r["tests"][2]["tags"]
    assert "correct formula: dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])" in r["tests"][2]["output"]
    assert sum(t["score"] for t in r["tests"]) == r["score"]


def test_prairielearn_results_follow_the_spec(files, capsys):
    code, out = run(files, "prairielearn", "ada.json", "eve.json", capsys=capsys)
    ada, eve = (json.loads(line) for line in out.splitlines())
    for r in (ada, eve):
        conforms(r, PL_TOP)
        assert 0.0 <= r["score"] <= 1.0
        for t in r["tests"]:
            conforms(t, PL_TEST)
    assert ada["gradable"] is True and ada["format_errors"] == []
    assert ada["score"] == pytest.approx((1 + 2 + 0) / (2 + 2 + 4))
    assert [(t["points"], t["max_points"]) for t in ada["tests"]] == [(1, 2), (2, 2), (0, 4)]
    # eve: q2 cannot be read, so the submission is not gradable (no attempt lost on PL)
    assert eve["gradable"] is False and len(eve["format_errors"]) == 1
    assert eve["format_errors"][0].startswith("q2: ") and "position" in eve["format_errors"][0]
    assert eve["tests"][2]["points"] == 0 and "shape error" in eve["tests"][2]["message"]
    assert code == 2


def test_csv_has_a_row_per_student(files, capsys):
    code, out = run(files, "csv", "ada.json", "eve.json", capsys=capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["student", "source", "score", "max_score", "gradable", "q1", "q2", "q3"]
    assert rows[1][0] == "ada" and [float(x) for x in rows[1][2:4]] == [3, 8]
    assert rows[1][4] == "true" and [float(x) for x in rows[1][5:]] == [1, 2, 0]
    assert rows[2][0] == "eve" and rows[2][4] == "false" and float(rows[2][5]) == 2
    assert len(rows) == 3


def test_csv_cells_never_start_a_spreadsheet_formula(files, capsys):
    (files / "=cmd.json").write_text(json.dumps(ADA), encoding="utf-8")
    _, out = run(files, "csv", "=cmd.json", capsys=capsys)
    row = list(csv.reader(io.StringIO(out)))[1]
    assert row[0] == "'=cmd"


def test_json_lines_hold_every_question(files, capsys):
    _, out = run(files, "json", "ada.json", capsys=capsys)
    g = json.loads(out)
    assert (g["score"], g["max_score"], g["gradable"]) == (3, 8, True)
    assert [q["status"] for q in g["questions"]] == ["partial", "correct", "incorrect"]
    q1 = g["questions"][0]
    assert (q1["points"], q1["max_points"], q1["mistakes"]) == (1, 2, ["missing_scale"])
    assert q1["fix"] == "dW[1] = (1/m) dZ[1] Xᵀ" and q1["answer"] == ADA["q1"]


# -- the recipes of docs/grading.md, run as the hosts run them -------------------------------------
def _block(marker: str) -> str:
    """The fenced block of docs/grading.md whose text holds ``marker``."""
    text = DOC.read_text(encoding="utf-8")
    for hit in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.S | re.M):
        if marker in hit.group(2):
            return hit.group(2)
    raise AssertionError(f"no block with {marker!r} in {DOC}")


def _env(root: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["GRADER_ROOT"] = str(root)
    return env


def test_gradescope_run_autograder_of_the_docs(files, tmp_path):
    root = tmp_path / "autograder"
    for sub in ("source", "submission"):
        (root / sub).mkdir(parents=True)
    (root / "source" / "rubric.toml").write_text(RUBRIC, encoding="utf-8")
    (root / "submission" / "answers.json").write_text(json.dumps(ADA), encoding="utf-8")
    script = root / "run_autograder"
    script.write_text(_block("# run_autograder:"), encoding="utf-8")
    done = subprocess.run(["bash", str(script)], env=_env(root), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    r = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    conforms(r, GRADESCOPE_TOP)
    assert r["score"] == 3.0 and [t["max_score"] for t in r["tests"]] == [2, 2, 4]


def test_prairielearn_grader_of_the_docs(files, tmp_path):
    root = tmp_path / "grade"
    for sub in ("tests", "student", "serverFilesCourse"):
        (root / sub).mkdir(parents=True)
    (root / "tests" / "rubric.toml").write_text(RUBRIC, encoding="utf-8")
    (root / "student" / "answers.json").write_text(json.dumps(EVE), encoding="utf-8")
    script = root / "serverFilesCourse" / "derive_grader.sh"
    script.write_text(_block("# derive_grader.sh, in"), encoding="utf-8")
    done = subprocess.run(["bash", str(script)], env=_env(root), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    r = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    conforms(r, PL_TOP)
    assert r["gradable"] is False and r["format_errors"][0].startswith("q2: ")
    info = json.loads(_block('"externalGradingOptions"'))
    assert info["externalGradingOptions"]["entrypoint"].endswith("derive_grader.sh")


def test_the_rubric_and_submission_of_the_docs_grade_as_the_page_says():
    import numpy as np

    from derive.grade import grade_submission, rubric_from_mapping, submission_from_text
    from derive.network.spec import Network
    from derive.network.textfile import load_toml
    from tests import oracle

    data = load_toml(_block("Week 4: backpropagation"), "docs")
    rubric = rubric_from_mapping(data, "docs")
    answers = json.loads(_block('"q3": {"dZ2"'))
    # the page's numbers are the truth at the digits written (autograd; m = 1)
    v = {k: np.array(x, dtype=float) for k, x in data["question"][2]["values"].items()}
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")
    params = {k: v[k] for k in ("W1", "b1", "W2", "b2")}
    grads = oracle.param_gradients(net, params, v["X"], v["Y"])
    Z2 = v["W2"] @ np.maximum(v["W1"] @ v["X"] + v["b1"], 0) + v["b2"]
    dZ2 = oracle.intermediate_gradient(net, "Z", 2, Z2, params, v["X"], v["Y"])
    assert abs(float(answers["q3"]["dZ2"]) - dZ2[0, 0]) <= 0.0005
    assert np.abs(np.array(answers["q3"]["dW2"], dtype=float) - grads["W2"][0]).max() <= 0.0005
    assert abs(float(answers["q3"]["db2"]) - grads["b2"][0, 0]) <= 0.0005
    g = grade_submission(rubric, submission_from_text(_block('"q3": {"dZ2"'), "ada.json"))
    q1, q2, q3 = g.questions
    assert (q1.points, q1.status) == (2, "correct") and (q2.points, q2.status) == (3, "correct")
    # three of the four steps are given, each right: 4 * 3/4
    assert (q3.points, q3.status) == (4 * 3 / 4, "partial")
    assert [s["status"] for s in q3.steps] == ["right", "right", "right", "missing"]
