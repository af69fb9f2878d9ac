"""Stability through time: the Jacobian products, Waa's spectral radius and 2-norm checked against
numpy's own eigvals/svd on products the test builds itself (hidden states from the autograd
oracle's forward pass), the verdicts, and the course's clipping."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from derive.cli import main
from derive.errors import SpecError
from derive.rnn.gradcheck import instance
from derive.rnn.spec import RNN
from derive.rnn.stability import analyse
from tests import oracle_rnn as O


def _scaled(rnn, seed, radius):
    inst = instance(rnn, seed)
    p = inst["parameters"]
    p["Waa"] = p["Waa"] * radius / np.max(np.abs(np.linalg.eigvals(p["Waa"])))
    return inst


@pytest.mark.parametrize(("radius", "steps"), [(0.5, 8), (1.0, 12), (1.7, 20)])
def test_products_and_norms_are_numpys_on_the_oracles_states(radius, steps):
    rnn = RNN(3, 6, 2, steps, examples=3)
    r = analyse(rnn, seed=2, radius=radius)
    inst = _scaled(rnn, 2, radius)
    Waa = inst["parameters"]["Waa"]
    a, _ = O.rnn_forward(inst["x"], inst["a0"], inst["parameters"])
    P = np.eye(6)
    for t in range(steps):
        J = np.diag(1 - a[:, 0, t] ** 2) @ Waa  # example 1, diag(1 − a⟨t⟩²) Waa
        P = J @ P
        assert r.log_jacobian[t] == pytest.approx(math.log(np.linalg.svd(J, compute_uv=False)[0]),
                                                  abs=1e-9)
        assert r.log_product[t] == pytest.approx(math.log(np.linalg.svd(P, compute_uv=False)[0]),
                                                 abs=1e-9)
    assert r.rho == pytest.approx(radius, rel=1e-12)
    assert r.rho == pytest.approx(float(np.max(np.abs(np.linalg.eigvals(Waa)))), rel=1e-12)
    assert r.norm2 == pytest.approx(float(np.linalg.svd(Waa, compute_uv=False)[0]), rel=1e-12)
    # |1 − a²| ≤ 1: no product exceeds ‖Waa‖₂ᵗ
    assert np.all(r.log_product <= np.arange(1, steps + 1) * math.log(r.norm2) + 1e-9)
    slope = np.polyfit(np.arange(steps + 1), np.concatenate([[0.0], r.log_product]), 1)[0]
    assert r.growth == pytest.approx(math.exp(slope), rel=1e-9)


def test_every_steps_jacobian_is_reported_after_the_product_reaches_zero():
    """Waa scaled to ρ = 1000 saturates tanh: P⟨t⟩ is exactly 0 from some step on, and each
    step's ‖J⟨t⟩‖₂ is still numpy's (it was left unset memory after that step)."""
    rnn = RNN(3, 5, 2, 6, examples=2)
    for _ in range(2):  # the same numbers twice
        r = analyse(rnn, seed=0, radius=1000.0)
        inst = _scaled(rnn, 0, 1000.0)
        a, _ = O.rnn_forward(inst["x"], inst["a0"], inst["parameters"])
        assert np.isneginf(r.log_product).any()
        for t in range(6):
            J = np.diag(1 - a[:, 0, t] ** 2) @ inst["parameters"]["Waa"]
            n = np.linalg.svd(J, compute_uv=False)[0]
            assert (r.log_jacobian[t] == -math.inf) if n == 0 else \
                r.log_jacobian[t] == pytest.approx(math.log(n), abs=1e-9)
            assert r.log_jacobian[t] <= math.log(r.norm2) + math.log(max(r.max_derivative[t], 1e-300)) + 1e-9


def test_verdicts():
    assert analyse(RNN(3, 6, 2, 30), radius=0.3).verdict == "vanishing"
    # a linear RNN: J⟨t⟩ = Waa, the product grows as ρᵗ
    r = analyse(RNN(3, 6, 2, 40, activation="linear"), radius=1.5)
    assert r.verdict == "exploding" and r.growth == pytest.approx(1.5, rel=0.05)
    assert analyse(RNN(3, 6, 2, 10, activation="linear"), radius=1.0).verdict == "stable"
    big = analyse(RNN(3, 6, 2, 1000, activation="linear"), radius=3.0)
    assert big.verdict == "exploded"  # 3¹⁰⁰⁰ is past float64; tracked as a logarithm here
    assert big.log_product[-1] / math.log(10) > 400
    assert big.clip.overflow and big.clip.rows == ()  # the forward pass itself overflows


def test_clipping_is_the_courses_np_clip_of_the_bptt_gradients():
    rnn = RNN(3, 6, 2, 15, examples=3)
    r = analyse(rnn, seed=1, radius=2.5, max_value=0.7)
    inst = _scaled(rnn, 1, 2.5)
    g = O.rnn_gradients(inst["x"], inst["a0"], inst["parameters"], inst["Y"])
    assert r.clip.max_value == 0.7
    for name, before, after, clipped in r.clip.rows:
        assert before == pytest.approx(np.linalg.norm(g[name]), rel=1e-10)
        assert after == pytest.approx(np.linalg.norm(np.clip(g[name], -0.7, 0.7)), rel=1e-10)
        assert clipped == int(np.sum(np.abs(g[name]) > 0.7))
    assert any(c > 0 for *_, c in r.clip.rows)


def test_bad_arguments():
    with pytest.raises(SpecError, match="--radius"):
        analyse(RNN(2, 2, 2, 3), radius=-1.0)
    with pytest.raises(SpecError, match="--max-value"):
        analyse(RNN(2, 2, 2, 3), max_value=0.0)
    with pytest.raises(SpecError, match="--steps must be at least 1"):
        analyse(RNN(2, 2, 2, 3), steps=0)


SPEC = "[rnn]\ninput = 3\nhidden = 5\noutput = 2\nsteps = 4\nexamples = 3\n"


def test_command_text_json_and_plot(tmp_path, capsys):
    spec = tmp_path / "rnn.toml"
    spec.write_text(SPEC, encoding="utf-8")
    png = tmp_path / "through_time.png"
    assert main(["stability", "--spec", str(spec), "--steps", "25", "--radius", "0.4",
                 "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "verdict: vanishing" in out and "T_x=25" in out
    assert "gradient clipping (the course's clip(gradients, maxValue = 5)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["stability", "--spec", str(spec), "--json", "--max-value", "1"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    assert data["steps"] == 4 and data["clip"]["max_value"] == 1.0
    assert len(data["log10_product_norm"]) == 4


def test_command_refuses_a_dense_spec_and_rnn_flags_without_one(tmp_path, capsys):
    dense = tmp_path / "net.toml"
    dense.write_text("layers = [3, 2, 1]\n", encoding="utf-8")
    assert main(["stability", "--spec", str(dense)]) == 2
    assert "takes an RNN spec" in capsys.readouterr().err
    assert main(["stability", "--steps", "3"]) == 2
    assert "give --spec rnn.toml" in capsys.readouterr().err


@pytest.mark.tex
@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_latex_fragment_typesets_in_an_article_without_overfull_lines():
    import re

    from derive.handout.document import compile_tex
    from derive.rnn.stability_render import to_latex

    tex = to_latex(analyse(RNN(3, 5, 2, 10, examples=2)))
    doc = ("\\documentclass{article}\\usepackage{amsmath,booktabs}\\begin{document}\n"
           f"{tex}\n\\end{{document}}\n")
    log = compile_tex(doc).log
    wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 1.0 for w in wide), wide


def test_a_plot_path_with_another_suffix_is_refused(tmp_path, capsys):
    """--plot p.txt wrote PNG bytes under a text name: a plot is PNG, PDF or SVG by its suffix."""
    spec = tmp_path / "rnn.toml"
    spec.write_text("[rnn]\ninput = 3\nhidden = 5\noutput = 2\nsteps = 4\n")
    assert main(["stability", "--spec", str(spec), "--plot", str(tmp_path / "p.txt")]) != 0
    assert "a plot is PNG, PDF or SVG" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists()
    assert main(["stability", "--spec", str(spec), "--plot", str(tmp_path / "p.svg")]) == 0
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
