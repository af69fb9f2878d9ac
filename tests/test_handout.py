"""Handout content (no TeX needed): the right formulas, shapes, real numbers, escaping, options."""

from __future__ import annotations

import re

import numpy as np
import pytest

from derive.cli import main
from derive.core.printing import to_latex
from derive.engine.backward import derive
from derive.engine.values import gradient_values
from derive.errors import DeriveError, ResourceLimit, SpecError
from derive.handout.checks import fd_rows, judge, own_verdict, variants
from derive.handout.doc import md_text, tex_text
from derive.handout.document import handout, key_path, parse_sections
from derive.handout.prose import rule_name
from derive.handout.steps import _named
from derive.network.model import random_instance
from derive.network.spec import Network

DLS = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
SOFTMAX = Network(layers=[4, 5, 5, 5, 3], activations=["tanh", "tanh", "tanh", "softmax"], loss="ce")
GENERIC = Network(depth=2)


@pytest.fixture(scope="module")
def dls():
    d = derive(DLS)
    return d, handout(d)


def _body(tex: str) -> str:
    return tex.split(r"\begin{document}", 1)[1]


def test_every_formula_and_step_appears_as_the_engine_prints_it(dls):
    d, h = dls
    for f in d.formulas:
        assert to_latex(f.expr) in h.tex, f.name
    for s in d.steps:
        # the index form, with the generic g named once the layer's activation is known
        assert _named(d.network, s.layer, s.index_latex) in h.tex, (s.rule, s.layer)
        name = rule_name(s.rule)
        assert name[:1].upper() + name[1:] in h.tex, s.rule  # in the table of rules used


def test_textbook_results_appear_independently_typed(dls):
    # typed by hand from the course (not from the engine): the results a student expects
    _, h = dls
    for tex in (r"dZ^{[2]} &= A^{[2]} - Y", r"W^{[2]\top} dZ^{[2]} \odot \operatorname{ReLU}^{\prime}(Z^{[1]})",
                r"\frac{1}{m} dZ^{[1]} X^{\top}", r"\frac{1}{m} dZ^{[2]} A^{[1]\top}"):
        assert tex in h.tex


def test_shape_table_has_every_quantity(dls):
    _, h = dls
    table = h.tex.split(r"\section{Shapes}")[1].split(r"\section")[0]
    for head in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA"):
        assert f"${head}^{{[l]}}$" in table
    # layer 1 of 3,3,1: W 3×3, b 3×1, Z A 3×m, same for the gradients (by hand)
    assert r"1 & $3 \times 3$ & $3 \times 1$ & $3 \times m$ & $3 \times m$ & $3 \times 3$ & " \
           r"$3 \times 1$ & $3 \times m$ & $3 \times m$ \\" in table
    assert r"$X = A^{[0]}$ is $3 \times m$" in h.tex


def test_output_simplification_in_full(dls):
    _, h = dls
    assert r"\left(\frac{1 - y}{1 - a} - \frac{y}{a}\right)\left(a \left(1 - a\right)\right)" in h.tex
    assert "a - y" in h.tex


def test_order_section_uses_the_tools_shape_error(dls):
    _, h = dls
    section = h.tex.split(r"\section{Why")[1].split(r"\section")[0]
    assert r"matrix product $dZ^{[2]}$ and $W^{[2]\top}$" in section  # the message, in maths
    assert "inner dimensions m and 3 differ" in section


def _fd_table(tex: str) -> list[tuple[str, float]]:
    section = tex.split(r"\section{Verification}")[1].split(r"\section")[0]
    rows = []
    for line in section.splitlines():
        cells = line.split(" & ")
        if len(cells) == 8 and cells[0].startswith("$") and "times" in line:
            err = re.match(r"\$(-?[\d.]+)\\times 10\^\{(-?\d+)\}\$", cells[6])
            value = 0.0 if cells[6] == "$0$" else float(err[1]) * 10 ** int(err[2])
            rows.append((cells[0], value, cells[7].rstrip(" \\")))
    return rows


@pytest.mark.parametrize("net", [DLS, SOFTMAX, GENERIC], ids=["dls", "softmax", "generic"])
def test_verification_table_errors_below_threshold(net):
    h = handout(net, sections=["verification"])
    rows = _fd_table(h.tex)
    assert len(rows) == 2 * net.L
    assert all(err < 1e-6 and status == "pass" for _, err, status in rows), rows


def test_fd_rows_are_real_numbers_checked_against_numpy_differences():
    # an independent numeric check of one row: perturb W[1][0, 0] by hand
    d = derive(DLS, prove=False)
    row = fd_rows(d, seed=3)[0]
    inst = random_instance(DLS, seed=3, m=4)
    analytic = gradient_values(d, inst)["dW", 1][0, 0]

    def J(w):
        p = dict(inst.params)
        W = p["W", 1].copy()
        W[0, 0] = w
        p["W", 1] = W
        Z1 = W @ inst.X + p["b", 1]
        A1 = np.maximum(Z1, 0)
        A2 = 1 / (1 + np.exp(-(p["W", 2] @ A1 + p["b", 2])))
        Y = inst.Y
        return -np.mean(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))

    w0, h = inst.params["W", 1][0, 0], 1e-6
    assert abs((J(w0 + h) - J(w0 - h)) / (2 * h) - analytic) < 1e-7
    assert row.first_analytic == pytest.approx(analytic)


def test_a_wrong_formula_fails_the_verification():
    from dataclasses import replace

    from derive.core import expr as E

    d = derive(DLS, prove=False)
    bad = [replace(f, expr=f.expr.arg) if f.kind == "dW" and f.layer == 1 else f for f in d.formulas]
    assert isinstance(d.formula("dW", 1).expr, E.Scale)
    rows = fd_rows(replace(d, formulas=tuple(bad)))
    assert not rows[0].passed and all(r.passed for r in rows[1:])


def test_mistakes_have_verdicts(dls):
    d, h = dls
    judged = judge(d)
    codes = [v.code for v, _ in judged]
    for code in ("wrong_order", "missing_transpose", "activation_instead_of_derivative",
                 "missing_scale", "wrong_sum_axis", "missing_sum", "sign_error"):
        assert code in codes
    for v, verdict in judged:
        assert verdict["verdict"] in ("shape_error", "not_equivalent")
        assert v.latex in h.tex
    order = dict((v.code, verdict) for v, verdict in judged if v.kind == "dZ")["wrong_order"]
    assert order["verdict"] == "shape_error"


def test_own_verdict_agrees_with_the_kind_of_mistake():
    d = derive(GENERIC, prove=False)
    env = gradient_values(d, random_instance(GENERIC, seed=0))
    got = {(v.code, v.kind): own_verdict(v, env, GENERIC)["verdict"] for v in variants(d)}
    assert got["wrong_order", "dZ"] == "shape_error"
    assert got["missing_scale", "dW"] == "not_equivalent"
    assert got["activation_instead_of_derivative", "dZ"] == "not_equivalent"
    assert got["missing_sum", "db"] == "shape_error"


@pytest.mark.parametrize("title", [r"\input{/etc/passwd}", r"\write18{rm -rf ~}", "$x$ 50% {a} #1 & _^~",
                                   r"}\end{document}\documentclass{x}", "σ′ — ∂ℓ 漢字 é"])
def test_title_cannot_inject(title):
    h = handout(DLS, title=title, sections=["shapes"])
    head = _body(h.tex).split("\n")[1]
    assert r"\input" not in head.replace(r"\textbackslash{}input", "")
    assert r"\write" not in head.replace(r"\textbackslash{}write", "")
    assert h.tex.count(r"\end{document}") == 1 and h.tex.isascii()
    # braces balance in the title line: nothing can close the group early
    depth = 0
    for i, ch in enumerate(head):
        if ch in "{}" and (i == 0 or head[i - 1] != "\\"):
            depth += 1 if ch == "{" else -1
            assert depth >= 0
    assert depth == 0


def test_text_escaping_helpers():
    assert tex_text("a_b ^ % $ & # { } ~ \\") == (
        r"a\_b \^{} \% \$ \& \# \{ \} \~{} \textbackslash{}")
    assert tex_text("é ü") == r"\'{e} \"{u}"
    assert tex_text("漢") == "?"
    assert md_text("$x$ <b>") == r"\$x\$ &lt;b&gt;"


def test_markdown_format(dls):
    d, _ = dls
    md = handout(d, format="md").text
    assert md.startswith("# Backpropagation")
    assert "$$\n\\begin{aligned}" in md and r"\begin{document}" not in md
    assert "$A^{[2]} - Y$" in md or "A^{[2]} - Y" in md


def test_exercises_make_a_worksheet_and_a_key(dls):
    d, _ = dls
    h = handout(d, exercises=True, sections=["shapes", "backward"])
    assert h.answers > 10 and h.key is not None
    assert h.tex.count(r"\blank{") + h.tex.count(r"\cellblank{") == h.answers
    assert r"\blank{" not in h.key and h.key.count(r"\boxed{") >= h.answers
    # answers are hidden from the worksheet's backward results
    results = h.tex.split(r"\section{Backward")[1]
    assert r"W^{[2]\top} dZ^{[2]} \odot" not in results.split("Results for layer 1")[1]
    assert r"\section{Answers}" in h.key


def test_sections_option():
    assert parse_sections("shapes, order") == ("shapes", "order")
    assert parse_sections(None)[0] == "network"
    assert "mistakes" in parse_sections("core")
    with pytest.raises(SpecError, match="unknown handout section 'bogus'"):
        parse_sections("shapes,bogus")
    h = handout(DLS, sections="order")
    assert r"\section{Shapes}" not in h.tex and r"\section{Why" in h.tex


def test_rows_convention_flips_the_order_argument():
    h = handout(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce",
                        convention="rows"), sections=["order"])
    assert r"dZ^{[2]} W^{[2]\top} &:" in h.tex
    assert r"matrix product $W^{[2]\top}$ and $dZ^{[2]}$" in h.tex


def test_cli_writes_files(tmp_path, capsys):
    out = tmp_path / "h.tex"
    assert main(["handout", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "-o", str(out), "--exercises", "--sections", "shapes,backward"]) == 0
    assert out.exists() and key_path(out).exists()
    assert "wrote" in capsys.readouterr().out
    assert main(["handout", "--act", "g,g", "--format", "md", "--sections", "shapes"]) == 0
    assert "| $l$ |" in capsys.readouterr().out


def test_cli_errors(capsys):
    assert main(["handout", "--pdf"]) == 2
    assert "give -o" in capsys.readouterr().err
    assert main(["handout", "--sections", "nope"]) == 2
    assert "unknown handout section" in capsys.readouterr().err
    assert main(["handout", "--format", "md", "--pdf", "-o", "x.md"]) == 2


def test_missing_tex_engine_is_a_clear_error(monkeypatch):
    import importlib

    H = importlib.import_module("derive.handout.document")  # the module; derive.handout.document is the function

    monkeypatch.setattr(H.shutil, "which", lambda name: None)
    with pytest.raises(DeriveError, match="apt-get install --no-install-recommends texlive-latex-base"):
        H.compile_tex("x")


def test_depth_bound():
    with pytest.raises(ResourceLimit, match=r"61 layers, over the limit of 60 layers \(handout"):
        handout(Network(depth=61))


def test_plugin_sections():
    from derive.handout import plugins
    from derive.handout.document import PLUGINS, plugin_available

    assert all(plugin_available(p) for p in PLUGINS)  # every feature ships with the package
    assert PLUGINS == tuple(plugins.SECTIONS) == ("jacobian", "stability", "numbers")
    assert not plugin_available("nope")
    assert set(PLUGINS) <= set(parse_sections("all"))
    h = handout(DLS, sections=list(PLUGINS))
    assert h.tex.isascii() and r"\documentclass" not in h.tex.split(r"\begin{document}")[1]
    assert r"\partial Z^{[1]}/\partial W^{[1]}" in h.tex
    assert r"\section{Worked numbers}" in h.tex
    assert r"\section{Vanishing and exploding gradients}" in h.tex
    # relu layers: He initialisation keeps the gradient's scale (its variance argument), Xavier's
    # halves the signal per layer on average and the gradient vanishes over 30 layers
    rows = {line.split("&")[2].strip(): line for line in h.tex.splitlines()
            if line.count("&") >= 6 and "relu" in line}
    assert "stable" in rows["he"] and "vanishing" in rows["xavier"]


def test_wide_network_verification_runs_narrowed():
    h = handout(Network(layers=[1000, 500, 10], activations=["relu", "softmax"], loss="ce"),
                sections=["verification"])
    assert "sizes 16, 16, 10" in h.tex and "Wider layers are narrowed" in h.tex


# -- dropout, batch norm and the figure (issue 18, issue 11's handout part) --------------------------
DROPOUT = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce", keep_prob=0.8)
BATCHNORM = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce", batchnorm=[1])


def test_dropout_handout_explains_the_division_and_prints_the_engines_step():
    d = derive(DROPOUT, prove=False)
    h = handout(d, sections=["network", "backward", "dropout"])
    dropout = _body(h.tex).split(r"\section{Dropout: why divide by the keep probability}")[1]
    step = next(s for s in d.steps_for(1) if s.rule == "dropout_mask" and s.target.key[0] == "dG")
    assert to_latex(step.expr) in dropout  # dA ⊙ (1/0.8) D, as the engine derived it
    assert r"dA^{[1]} \odot \frac{1}{0.8} D^{[1]}" in dropout  # typed by hand from the course
    assert "held fixed" in dropout and r"\mathbb{E}[A^{[1]}_{it}]" in dropout
    # the mean of D/p over the drawn masks: near 1, as E[D] = p says (not a typed-in 1)
    mean = float(re.search(r"the mean of \$D\^\{\[1\]\}/p\$ is \$([\d.]+)\$", dropout)[1])
    assert abs(mean - 1) < 0.01 and mean != 1.0
    # the entry-wise form divides by p (the catalogue's {p} was once filled as a layer index, "}0")
    assert r"D^{[1]}_{it} / p" in h.tex and r"\frac{D^{[1]}_{it}}0" not in h.tex
    assert "Dropout (inverted) on layer 1 (p = 0.8)" in h.tex


def test_batchnorm_handout_has_the_graph_the_compact_dz_and_what_dz_means():
    d = derive(BATCHNORM, prove=False)
    h = handout(d, sections=["shapes", "backward", "batchnorm"])
    section = _body(h.tex).split(r"\section{Batch normalisation: the computational graph}")[1]
    assert r"\begin{tikzpicture}" in section and r"dZ_{\text{norm}}" in section
    compact = next(s for s in d.steps_for(1) if s.rule == "batchnorm_compact")
    assert to_latex(compact.expr).split(r"\odot \left(m")[0] in section
    assert r"m\, \partial J / \partial Z^{[1]}" in section
    # another example's target moves column 1 of dZ[1] (through μ, σ²), not of dZ[2]
    moved = re.search(r"column 1 of \$dZ\^\{\[1\]\}\$ by a relative \$([^$]+)\$, while column 1 of "
                      r"\$dZ\^\{\[2\]\}\$ changes by \$([^$]+)\$", section)
    assert moved and moved[2] == "0" and float(moved[1].split(r"\times")[0]) > 0
    # no bias in the batch-normalised layer: not in the shapes, not in its entry-wise forms
    assert r"b^{[1]}_i" not in _body(h.tex).split(r"Layer 1 (relu")[1]
    assert " = s \\sum" not in h.tex


def test_regularisation_sections_only_where_the_network_has_them():
    h = handout(DLS)
    assert "dropout" not in h.sections and "batchnorm" not in h.sections
    with pytest.raises(SpecError, match="dropout"):
        handout(DLS, sections="dropout")
    assert "batchnorm" in handout(BATCHNORM, sections="all").sections


def test_stability_figure_is_vector_and_written_beside_the_tex(tmp_path, capsys):
    h = handout(DLS, sections=["stability"])
    (name, data), = h.files
    assert data.startswith(b"%PDF") and b"/Subtype /Image" not in data  # vector, no bitmap
    assert rf"\includegraphics[width=\linewidth]{{{name}}}" in h.tex
    assert "includegraphics" not in handout(DLS, sections=["stability"], figures=False).tex
    out = tmp_path / "w.tex"
    assert main(["handout", "--sections", "stability", "-o", str(out)]) == 0
    assert (tmp_path / name).read_bytes()[:4] == b"%PDF"
    assert f"wrote {tmp_path / name}" in capsys.readouterr().out
    assert main(["handout", "--sections", "stability"]) == 0  # to stdout: no figure to point at
    assert "includegraphics" not in capsys.readouterr().out
