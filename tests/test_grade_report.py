"""derive grade --report: the class report's counts, wrong forms and chart, checked against the
answers planted here (what each student wrote is known, so every count is known)."""

from __future__ import annotations

import json

import numpy as np

from derive.cli import main
from derive.grade.report import COLOURS

RUBRIC = """\
title = "Quiz 1"
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
target = "dZ[1]"
points = 2
"""
RIGHT_W = "dW1 = 1/m * np.dot(dZ1, X.T)"
NO_M = "dW1 = np.dot(dZ1, X.T)"
RIGHT_Z = "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"
WITH_A = "dZ1 = np.dot(W2.T, dZ2) * A1"
SWAPPED = "dZ1 = dZ2 W2^T * relu'(Z1)"
CLASS = {  # six students: q1 right 2, missing 1/m 3 (two spacings of one form), unreadable 1
    "s1": {"q1": RIGHT_W, "q2": RIGHT_Z}, "s2": {"q1": RIGHT_W, "q2": WITH_A},
    "s3": {"q1": NO_M, "q2": WITH_A}, "s4": {"q1": "dW1 =  np.dot(dZ1,  X.T)", "q2": SWAPPED},
    "s5": {"q1": NO_M, "q2": WITH_A}, "s6": {"q1": "dW1 = (((", "q2": RIGHT_Z}}


def _run(tmp_path, report: str):
    (tmp_path / "rubric.toml").write_text(RUBRIC, encoding="utf-8")
    paths = []
    for who, answers in CLASS.items():
        (tmp_path / f"{who}.json").write_text(json.dumps(answers), encoding="utf-8")
        paths.append(str(tmp_path / f"{who}.json"))
    out = tmp_path / "grades.csv"
    code = main(["grade", "--rubric", str(tmp_path / "rubric.toml"), *paths, "--format", "csv",
                 "-o", str(out), "--report", str(tmp_path / report)])
    return code, (tmp_path / report).read_text(encoding="utf-8")


def test_markdown_report_counts_by_hand(tmp_path):
    code, text = _run(tmp_path, "report.md")
    assert code == 2  # s6 is not gradable
    # q1: right 2 of 6 (33%), partly 3 (missing_scale keeps 1), not gradable 1; mean (2+2+1+1+1)/6
    assert "| q1: dW[1] | 2 (33%) | 3 | 0 | 0 | 1 | 0 | 1.17 of 2 |" in text
    # q2: right 2, wrong 3 (activation itself), shape error 1; mean 4/6
    assert "| q2: dZ[1] | 2 (33%) | 0 | 3 | 1 | 0 | 0 | 0.67 of 2 |" in text
    assert "- `missing_scale`: 3" in text
    assert "- `activation_instead_of_derivative`: 3" in text and "- `wrong_order`: 1" in text
    # the most common wrong forms, written out, whitespace-insensitive, most frequent first
    assert f"1. `{NO_M}` — 3 students (missing_scale)" in text
    assert f"1. `{WITH_A}` — 3 students (activation_instead_of_derivative)" in text
    assert "2. `dZ1 = dZ2 W2^T * relu'(Z1)` — 1 student (wrong_order" in text
    assert "6 submissions; mean score 1.83 of 4; 1 with full marks; 1 not gradable." in text
    assert "![share of each status per question](report.png)" in text


def test_html_report_and_its_chart(tmp_path):
    import matplotlib.image as mpimg

    _, text = _run(tmp_path, "report.html")
    assert text.startswith("<!DOCTYPE html>") and '<img src="report.png"' in text
    assert "<code>dZ1 = dZ2 W2^T * relu&#x27;(Z1)</code>" in text  # escaped
    img = mpimg.imread(tmp_path / "report.png")[:, :, :3]

    def pixels(colour: str) -> int:
        rgb = np.array([int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        return int((np.abs(img - rgb).max(axis=2) < 0.02).sum())

    green, red, orange = (pixels(COLOURS[s]) for s in ("correct", "incorrect", "shape_error"))
    # bars of equal height: q1 2/6 and q2 2/6 right, q2 3/6 wrong, 1/6 shape error (plus one
    # small legend patch each)
    assert green > 0 and red > 0 and orange > 0
    assert 0.8 < (red / green) / (3 / 4) < 1.25
    assert 0.8 < (orange / green) / (1 / 4) < 1.4
