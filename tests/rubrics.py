"""Rubrics the grading tests share (a helper module: ``from tests.rubrics import ...``).

``RUBRIC`` is the course's two-layer network (relu, sigmoid, bce) with four formula questions and
partial credit; ``write_rubric`` writes one into a test's tmp folder (the tests' ``rubric_file``
fixture). ``VARIANTS`` is the same
questions with a ``[variants]`` table: each student's sizes and hidden activation drawn.
"""

from __future__ import annotations

from pathlib import Path

NET = {"layers": [3, 4, 1], "activations": ["relu", "sigmoid"], "loss": "bce"}

QUESTIONS = """\
[[question]]
id = "q1"
target = "dW[1]"
points = 2
partial = { missing_scale = 1.5 }
feedback = { missing_scale = "J is a mean over the examples." }

[[question]]
id = "q2"
target = "db1"
points = 2

[[question]]
id = "q3"
target = "dZ[1]"
points = 3
partial = { wrong_order = 2, activation_instead_of_derivative = 2, sign_error = 2 }

[[question]]
id = "q4"
target = "dW[1]"
points = 1
conditional = 0.25
"""

NETWORK = """\
[network]
layers = [3, 4, 1]
activations = ["relu", "sigmoid"]
loss = "bce"
"""

RUBRIC = 'title = "Week 4"\n' + NETWORK + "\n" + QUESTIONS

VARIANTS = """\
title = "Week 4, one network each"
[network]
layers = [3, 4, 1]
activations = ["relu", "sigmoid"]
loss = "bce"

[variants]
sizes = [[2, 6], [2, 6], 1]
activations = [["relu", "tanh", "sigmoid", "leaky_relu"], "sigmoid"]

[[question]]
id = "q1"
target = "dW[1]"
points = 2
partial = { missing_scale = 1 }

[[question]]
id = "q2"
target = "db[1]"
points = 2
partial = { missing_scale = 1 }

[[question]]
id = "q3"
target = "dZ[1]"
points = 3
partial = { sign_error = 2, wrong_activation_derivative = 1 }
feedback = { sign_error = "Where would a minus come from?" }

[[question]]
id = "q4"
target = "dA[1]"
points = 1
"""


def write_rubric(folder: Path, text: str = RUBRIC, name: str = "rubric.toml") -> Path:
    """``text`` (default ``RUBRIC``) in ``folder/name``; the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
