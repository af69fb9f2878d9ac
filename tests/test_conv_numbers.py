"""`derive numbers --spec cnn.toml`: the worked example's every forward and backward value against
the autograd oracle (tests/oracle_conv.py, which shares nothing with derive), its lines the
derivation's own formulas, its text and LaTeX forms, and the command line."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from derive.cli import main
from derive.conv.derivation import derive_cnn
from derive.conv.spec import cnn_from_mapping
from derive.conv.worked import render_latex, render_text, worked_example
from derive.network.textfile import load_toml
from tests.cnn_specs import small_cnn
from tests.oracle_conv import cnn_cost, cnn_gradients, conv_forward, pool_forward


def _load(mode="max"):
    table = load_toml(small_cnn(mode), "test")
    return table, cnn_from_mapping(table, "test")


@pytest.mark.parametrize("mode", ["max", "average"])
def test_every_value_agrees_with_the_autograd_oracle(mode):
    table, cnn = _load(mode)
    w = worked_example(cnn, seed=1)
    given = {x.name: x.value for x in w.given}
    params = {n.replace("[", "").replace("]", ""): v for n, v in given.items() if n[0] in "Wb"}
    X, Y = given["X"], given["Y"]
    assert set(np.unique(Y)) <= {0.0, 1.0} and (Y.sum(axis=0) == 1).all()  # ce: one-hot labels
    fwd = {x.name: x.value for x in w.forward}
    Z1 = conv_forward(X, params["W1"], params["b1"], stride=2, pad=1)
    np.testing.assert_allclose(fwd["Z[1]"], Z1, rtol=1e-12)
    np.testing.assert_allclose(fwd["A[2]"], pool_forward(np.maximum(Z1, 0), f=2, stride=1, mode=mode),
                               rtol=1e-12)
    assert w.J == pytest.approx(cnn_cost(table, params, X, Y, head="columns"), rel=1e-12)
    want = cnn_gradients(table, params, X, Y, head="columns")
    back = {x.name: x.value for x in w.backward}
    for name in ("dW[1]", "db[1]", "dW[4]", "db[4]"):
        np.testing.assert_allclose(back[name], want[name.replace("[", "").replace("]", "")],
                                   rtol=1e-9, atol=1e-14, err_msg=name)
    # dX stacks the per-example gradients (as the dense engine's dA[0] does): ∂J/∂X = dX / m
    np.testing.assert_allclose(back["dX"] / w.m, want["dA0"], rtol=1e-9, atol=1e-14)


def test_the_lines_are_the_derivations_formulas_with_their_rules_and_loops():
    _, cnn = _load()
    w = worked_example(cnn, seed=0, m=1)
    d = derive_cnn(cnn, prove=False)
    assert [(x.text, x.rule) for x in w.backward] == [(s.text, s.rule) for s in d.steps]
    assert [x.text for x in w.forward[:4]] == [f"{t.to_text()} = {e.to_text()}" for t, e in d.forward]
    text = render_text(w)
    for s in d.steps:
        assert s.text in text
    assert "dA_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, :] += W[:, :, :, c] * dZ[i, h, w, c]" in text
    assert "[i=1, c=2]" in text and "[k=2, c=2]" in text  # slices of X and of the filters
    assert w.m == 1 and "m = 1" in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_section_compiles_without_overfull_lines(tmp_path):
    _, cnn = _load()
    body = render_latex(worked_example(cnn, seed=0))
    doc = ("\\documentclass[11pt,a4paper]{article}\n\\usepackage[margin=2.2cm]{geometry}\n"
           "\\usepackage{amsmath,amssymb}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    (tmp_path / "w.tex").write_text(doc, encoding="ascii")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "w.tex"],
                         cwd=tmp_path, capture_output=True, timeout=120, check=False)
    log = (tmp_path / "w.log").read_text(encoding="latin-1")
    assert run.returncode == 0, log[-2000:]
    wide = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert [x for x in wide if x > 1.0] == []


def test_the_command_line(tmp_path, capsys):
    spec = tmp_path / "cnn.toml"
    spec.write_text(small_cnn(), encoding="utf-8")
    assert main(["numbers", "--spec", str(spec)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Worked example: input 5×5×2 per example; conv2d(2 filters 3×3, stride 2")
    assert "Backward pass" in out
    assert main(["numbers", "--spec", str(spec), "--format", "json", "--seed", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["seed"] == 4 and data["backward"][-1]["name"] == "dX"
    assert np.shape(data["backward"][-1]["value"]) == (2, 5, 5, 2)
    assert main(["numbers", "--spec", str(spec), "--format", "latex"]) == 0
    assert r"\subsection*{Backward pass}" in capsys.readouterr().out
    # a dense network's inputs beside a CNN spec, and a CNN's seed without one, are refused
    assert main(["numbers", str(spec), "--spec", str(spec)]) == 2
    assert "FILE is for a dense network" in capsys.readouterr().err
    assert main(["numbers", "--spec", str(spec), "--act", "relu"]) == 2
    assert main(["numbers", "--seed", "1", "--act", "relu", "--layers", "2,1"]) == 2
    assert "--seed draws a CNN spec's worked example" in capsys.readouterr().err


def test_a_large_worked_example_is_refused_before_drawing(tmp_path, capsys):
    spec = tmp_path / "big.toml"
    spec.write_text(small_cnn(input_=(64, 64, 3), m=8), encoding="utf-8")
    assert main(["numbers", "--spec", str(spec)]) == 2
    assert "conv.worked_entries" in capsys.readouterr().err


def test_a_bias_prints_as_one_row_of_its_channels():
    """b and db are 1×1×1×n_C: one value per filter, not per example: no 'i=1' label."""
    _, cnn = _load()
    w = worked_example(cnn, seed=0)
    text = render_text(w)
    given = {x.name: x.value for x in w.given}
    b = np.asarray(given["b[1]"]).ravel()
    block = text.split("\nb[1]\n", 1)[1].splitlines()[:2]
    assert block[0] == "  (1×1×1×2)"
    assert [float(x) for x in block[1].strip().strip("[]").replace(",", " ").split()] == pytest.approx(b, abs=1e-5)
    assert "[i=1, c=" not in text.split("\nW[4]")[0].split("\nb[1]\n")[1]
    assert "db[1]" in text and "[i=1, c=1] " not in text.split("\ndb[1] =")[1].split("\ndX")[0]
    tex = render_latex(w)
    assert r"b^{[1]} = \begin{bmatrix}" in tex and r"b^{[1]}_{i=1" not in tex


def test_a_bce_worked_example_shows_0_1_labels():
    from derive.conv.spec import load_cnn

    w = worked_example(load_cnn(small_cnn(loss="bce", head="sigmoid", units=1)), seed=3)
    Y = {x.name: x.value for x in w.given}["Y"]
    assert Y.shape == (1, 2) and set(np.unique(Y)) <= {0.0, 1.0}
    assert "Y of 0/1 labels" in w.notes[0]
