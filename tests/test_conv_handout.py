"""`derive handout --spec cnn.toml`: the convolutional handout is built from the derivation (every
conv, pool and flatten step's formula, entry-wise form and loop form, as the derivation gives
them), compiles with pdflatex without an overfull line, and its verification section reports
the gradient check passing and each planted mistake failing, as the checks themselves say."""

from __future__ import annotations

import re
import shutil

import pytest

from derive.cli import main
from derive.conv import gradcheck as G
from derive.conv.derivation import derive_cnn
from derive.conv.spec import cnn_from_mapping
from derive.conv.worked import ascii_code, wrap_code
from derive.handout.conv import conv_handout
from derive.handout.doc import tex_text
from derive.network.textfile import load_toml
from tests.cnn_specs import small_cnn

OVERFULL = re.compile(r"Overfull \\hbox \(([\d.]+)pt too wide\)")
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def _cnn(mode):
    return cnn_from_mapping(load_toml(small_cnn(mode), "test"), "test")


@pytest.fixture(scope="module")
def average():
    cnn = _cnn("average")
    return cnn, conv_handout(cnn)


def test_the_handout_is_the_derivations(average):
    cnn, h = average
    d = derive_cnn(cnn, prove=False)
    for s in d.steps:
        assert s.expr.to_latex() in h.tex, s.name
    for s in d.steps:
        if not s.dense:  # each loop line, as the verbatim block prints it (wrapped at 88)
            for line in wrap_code(ascii_code(s.loop)).splitlines():
                assert line in h.tex, line
    for _, e in d.forward:
        assert e.to_latex() in h.tex
    assert r"\section{Backward through layer 1: conv2d}" in h.tex
    assert r"\section{Backward through layer 2: pool}" in h.tex
    assert "rotated by 180 degrees" in h.tex and "the crop takes the pad of 1" in h.tex
    assert "Shapes" in h.tex and r"m \times 5 \times 5 \times 2" in h.tex


def test_the_verification_reports_what_the_checks_find(average):
    cnn, h = average
    ok = G.gradcheck(cnn)
    assert ok.passed and f"largest relative error {ok.max_relative_error:.1e}, passed" in h.tex
    for name, mistake in G.MISTAKES.items():
        r = G.gradcheck(cnn, plant=name)
        assert not r.passed
        assert f"{tex_text(mistake.title)} & {tex_text(', '.join(r.failed))} &" in h.tex, name


@needs_tex
def test_the_handout_compiles_without_overfull_lines(average):
    from derive.handout.document import compile_tex

    _, h = average
    log = compile_tex(h.tex).log
    assert [float(x) for x in OVERFULL.findall(log) if float(x) > 1.0] == []


def test_wrapped_code_stays_within_its_width_and_stays_python():
    line = ("        dA_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, :] += "
            "W[:, :, :, c] * dZ[i, h, w, c]")
    wrapped = wrap_code(line, 60).splitlines()
    assert len(wrapped) > 1 and all(len(x) <= 60 for x in wrapped)
    assert " ".join(x.strip().rstrip("\\").strip() for x in wrapped) == line.strip()
    compile("\n".join(x[8:] for x in wrapped), "wrapped", "exec")  # still Python: a statement


@needs_tex
@pytest.mark.slow
def test_the_command_writes_the_tex_and_the_pdf(tmp_path, capsys):
    spec = tmp_path / "cnn.toml"
    spec.write_text(small_cnn(), encoding="utf-8")
    out = tmp_path / "conv.pdf"
    assert main(["handout", "--spec", str(spec), "-o", str(out)]) == 0
    assert (tmp_path / "conv.tex").read_text().startswith(r"\documentclass")
    assert out.read_bytes().startswith(b"%PDF")
    assert main(["handout", "--spec", str(spec), "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "# Backward through layer 1: conv2d" in md and "```python" in md
    assert main(["handout", "--spec", str(spec), "--sections", "shapes"]) == 2
    assert "--sections is for a dense network" in capsys.readouterr().err


def test_a_wrapped_comment_stays_a_comment():
    line = "        # distribute_value: dA[1][i, h, w, c] / (2 * 2) on every entry of the window, and more"
    wrapped = wrap_code(line, 60).splitlines()
    assert len(wrapped) > 1 and all(x.lstrip().startswith("#") for x in wrapped)
    assert all(len(x) <= 60 for x in wrapped) and not wrapped[0].endswith("\\")


def test_a_check_too_long_for_a_handout_is_left_to_the_command(monkeypatch):
    import importlib

    monkeypatch.setattr(importlib.import_module("derive.handout.conv"), "CHECK_WORK", 0)
    h = conv_handout(_cnn("max"), prove=False)
    assert "is left to derive gradcheck --spec" in h.tex and r"\textbf{planted mistake}" not in h.tex


def test_the_stride_and_pad_numbers_are_the_oracles():
    import numpy as np

    from derive.handout.conv import stride_pad_values
    from tests.oracle_conv import conv_gradients

    cnn = _cnn("max")
    step = derive_cnn(cnn, prove=False).step("dA", 0)
    (_, dZ), (_, W), (dil, D), *_, (_, dX) = stride_pad_values(step)
    assert dil.startswith(r"\operatorname{dilate}_{2}")
    assert np.array_equal(D[0, :, :, 0], [[1, 0, 2, 0, 3], [0] * 5, [4, 0, 5, 0, 6], [0] * 5,
                                          [7, 0, 8, 0, 9]])
    want = conv_gradients(dZ, np.zeros((1, 5, 5, 2)), W, np.zeros(2), stride=2, pad=1)[0]
    np.testing.assert_allclose(dX, want, rtol=1e-12, atol=1e-12)


def test_an_inline_comment_wraps_onto_its_own_line():
    line = "    A_prev_pad = np.pad(A_prev, ((0, 0), (1, 1), (1, 1), (0, 0)))   # zero_pad, pad = 1"
    wrapped = wrap_code(line, 70).splitlines()
    assert wrapped == ["    A_prev_pad = np.pad(A_prev, ((0, 0), (1, 1), (1, 1), (0, 0)))",
                       "        # zero_pad, pad = 1"]


def test_the_sections_run_in_backprop_order_from_the_loss(average):
    """The dense head first (backpropagation starts at the loss), then layer 3, 2, 1."""
    _, h = average
    sections = re.findall(r"\\section\{([^}]*)\}", h.tex)
    backward = [s for s in sections if s.startswith(("The dense head", "Backward through"))]
    assert backward == ["The dense head (layer 4)", "Backward through layer 3: flatten",
                        "Backward through layer 2: pool", "Backward through layer 1: conv2d"]


def test_the_dilations_trailing_zeros_are_explained():
    """6×6 input, pad 1, f = 3, stride 2: 3 windows start at padded rows 0, 2, 4 and read rows
    0..6 of 0..7, so the dilated dZ (entries at rows 0, 2, 4) has 8 − 3 + 1 = 6 rows, the last a
    trailing zero; the prose says so with these numbers (and writes ×, not x)."""
    cnn = cnn_from_mapping(load_toml(small_cnn(input_=(6, 6, 2)), "t"), "t")
    h = conv_handout(cnn, prove=False, check=False)
    text = " ".join(h.tex.split())
    assert ("the dilated dZ has n_H_prev + 2p − f + 1 = 6 rows and columns, 1 of them "
            "trailing zeros: the strided windows never read the padded input's last row and column, "
            "so their gradient is 0") in tex_text_plain(text)
    assert " x " not in tex_text_plain(text).split("Verification")[0]


def tex_text_plain(tex: str) -> str:
    """The prose of a LaTeX text with \\ensuremath{...} unwrapped: what a reader sees."""
    out = re.sub(r"\\ensuremath\{\\times\}", "×", tex)
    return out.replace("\\ensuremath{-}", "−").replace("\\_", "_")


def test_the_proof_sentence_reads_without_nested_brackets():
    from derive.handout.conv import _proof_parts

    d = derive_cnn(_cnn("max"), prove=True)
    text = _proof_parts(d.step("dA", 1))[0]
    assert text.startswith("Proven: ") and "SymPy (SymPy" not in text
    assert "by SymPy on the printed formula, m = 2, at a rational point, the upstream gradient kept symbolic;" in text


def test_steps_refer_to_numbered_rules_listed_at_the_end():
    """The margin shows R1, R2, … (in order of first use), never a rule id; the last section lists
    each rule once with its title and source, the dense head's by the dense handout's names."""
    from derive.catalogue import rules

    cnn = _cnn("max")
    d = derive_cnn(cnn, prove=False)
    h = conv_handout(cnn, prove=False, check=False)
    assert "[conv_weight_gradient]" not in h.tex and "{+bias}" not in h.tex
    conv = sorted((s for s in d.steps if not s.dense), key=lambda s: -s.layer)  # stable: in-layer order
    used = list(dict.fromkeys(s.rule for s in [*(s for s in d.steps if s.dense), *conv]))
    tail = h.tex[h.tex.index("Rules used"):]
    for k, rule in enumerate(used, 1):
        assert f"[R{k}]" in h.tex
        row = tail[tail.index(f"R{k} &"):].split(r"\\", 1)[0]
        identity = rules.identities().get(rule)
        if rule.startswith(("conv", "maxpool", "flatten")):
            assert tex_text(identity.title[:1].upper() + identity.title[1:])[:30] in row
    assert f"[R{len(used) + 1}]" not in h.tex


def test_the_references_in_display_rows_are_text_in_maths():
    """A display row's reference (after &&) is \\text{…}: \\scriptsize is not a maths command
    (pdflatex said 'invalid in math mode' 24 times); in Markdown's $$ it is not escaped as
    Markdown (\\[R1\\] read as a display delimiter)."""
    from derive.handout.doc import Display, Ref, Row, render_md, render_tex

    blocks = [Display((Row("a", "b", (Ref("R1"),)),))]
    assert r"&& \text{{\scriptsize\textsf{[R1]}}}" in render_tex(blocks, "t", "s", key=False)
    md = render_md([Display((Row("a", "b", ("[R1]",)),))], "t", "s", key=False)
    assert r"\text{[R1]}" in md and r"\[R1\]" not in md
