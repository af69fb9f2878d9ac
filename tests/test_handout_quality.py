"""Issue 18: handouts typeset like lecture notes, worksheets that keep their answers.

Every section is compiled for several networks; the pdflatex log must hold no ``Overfull \\hbox``
wider than 1 pt, and the PDF's text (pdftotext) none of the engine's jargon: rule ids, "cites",
"SymPy", SymPy strings (``a*(1 - a)``), plain-text notation (``W[2]``, ``n0×m``) or numbers in
e-notation. Each worksheet blank's answer, in its LaTeX, Unicode-text and code forms and as
pdftotext reads it when typeset alone, must be absent from the worksheet's LaTeX and its PDF text.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from derive.handout.document import Handout, compile_tex, handout
from derive.network.spec import Network

pytestmark = [
    pytest.mark.tex,
    pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
                       reason="needs pdflatex and pdftotext (texlive-latex-base, poppler-utils)"),
]

_OVERFULL = re.compile(r"Overfull \\hbox \(([\d.]+)pt too wide\)")


def overfull(log: str, tolerance: float = 1.0) -> list[str]:
    """The log's ``Overfull \\hbox`` messages wider than ``tolerance`` points, with their line."""
    lines = log.splitlines()
    return [f"{line} {lines[i + 1] if i + 1 < len(lines) else ''}"
            for i, line in enumerate(lines)
            if (m := _OVERFULL.search(line)) and float(m[1]) > tolerance]


JARGON = [
    (re.compile(r"\(rule[: ]"), "a rule id in the running text"),
    (re.compile(r"\bcites\b"), "'cites'"),
    (re.compile(r"SymPy"), "SymPy named"),
    (re.compile(r"\b[a-z]+_[a-z]+(_[a-z]+)*\b"), "an identifier (rule id)"),
    (re.compile(r"[a-z)]\*[a-z(]|\*\*"), "a SymPy product or power"),
    (re.compile(r"\d(\.\d+)?e\s*[−-]?\s*\d"), "a number in e-notation"),
    (re.compile(r"sum_\{|\\[a-z]+\{"), "LaTeX source in the text"),
]


def code_lines(tex: str) -> set[str]:
    """The lines of the source's verbatim blocks: numpy and commands, meant to be copied."""
    blocks = re.findall(r"\\begin\{verbatim\}\n(.*?)\\end\{verbatim\}", tex, re.S)
    return {line.strip() for b in blocks for line in b.splitlines() if line.strip()}


def jargon(text: str, tex: str = "") -> list[str]:
    """Lines of PDF text that show the engine's jargon, each with what it is (a line of code
    the source sets in verbatim is code, not jargon)."""
    out = []
    code = code_lines(tex)
    for line in text.splitlines():
        if line.strip() in code:
            continue
        for pattern, what in JARGON:
            if pattern.search(line):
                out.append(f"{what}: {line.strip()}")
                break
    return out


_MATHS = re.compile(r"\$[^$]*\$|\\\[.*?\\\]|\\begin\{(align\*?|aligned|equation\*?|tikzpicture)\}"
                    r".*?\\end\{\1\}|\\ensuremath\{[^{}]*(\{[^{}]*\}[^{}]*)*\}", re.S)
_PLAIN = re.compile(r"\b(d?[A-Z]|d[A-Z]\w?)\[\d+\]|\bn\d+\s*\\ensuremath\{\\times\}|"
                    r"\\ensuremath\{\\times\}\s*n\d+\b")


def plain_notation(tex: str) -> list[str]:
    """Maths written as text in the LaTeX source (``W[2]``, ``n0×m`` outside math mode):
    pdftotext reads ``$W^{[2]}$`` as ``W[2]`` too, so this looks at the source."""
    body = tex.split("\\begin{document}", 1)[-1]
    return [m[0] for m in _PLAIN.finditer(_MATHS.sub(" ", body))]


def pdf_text(pdf: bytes, *pages: int) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp, "x.pdf")
        p.write_bytes(pdf)
        span = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
        return subprocess.run(["pdftotext", "-layout", *span, str(p), "-"], check=True,
                              capture_output=True, timeout=60).stdout.decode("utf-8")


def _norm(s: str) -> str:
    """Whitespace, braces and size commands removed: forms that differ only in typesetting agree."""
    s = re.sub(r"\\(left|right|big|Big|bigl|bigr|Bigl|Bigr|,|;|!|quad)(?![a-zA-Z])", "", s)
    return re.sub(r"[\s{}]", "", s)


def answer_texts(h: Handout) -> list[str]:
    """Each answer typeset alone (one page each), as pdftotext reads it back."""
    body = "\n\\newpage\n".join(f"${latex}$" for _, _, latex, _ in h.answer_forms)
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\pagestyle{empty}"
           f"\\begin{{document}}\n{body}\n\\end{{document}}\n")
    pdf = compile_tex(doc).pdf
    return [pdf_text(pdf, i + 1) for i in range(len(h.answer_forms))]


def leaked(h: Handout, text: str) -> list[str]:
    """The blanks whose answer appears in the worksheet ``h`` (its LaTeX or its PDF ``text``)."""
    tex, pdf = _norm(h.text), _norm(text)
    out = []
    for (n, label, latex, plain), typeset in zip(h.answer_forms, answer_texts(h), strict=True):
        forms = {f for f in (_norm(latex), _norm(plain)) if len(f) > 2}
        shown = _norm(typeset)
        if any(f in tex or f in pdf for f in forms) or (len(shown) > 2 and shown in pdf):
            out.append(f"blank {n} ({label}): {plain}")
    return out


NETWORKS = {
    "dls": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
    "softmax": Network(layers=[4, 5, 3, 2], activations=["tanh", "relu", "softmax"], loss="ce"),
    "deep": Network(layers=[3, 4, 4, 4, 4, 2], activations=["tanh", "relu", "tanh", "relu",
                                                           "softmax"], loss="ce"),
    "l2": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce", l2=0.7),
    "dropout": Network(layers=[3, 4, 3, 1], activations=["relu", "tanh", "sigmoid"], loss="bce",
                       keep_prob=0.8),
    "batchnorm": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce",
                         batchnorm=[1]),
    "batchnorm-softmax": Network(layers=[4, 3, 3, 2], activations=["tanh", "relu", "softmax"],
                                 loss="ce", batchnorm=[1, 2], l2=0.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NETWORKS))
def test_every_section_typesets_without_overfull_lines_or_jargon(name):
    h = handout(NETWORKS[name], sections="all")
    result = compile_tex(h.tex, files=h.files)
    assert overfull(result.log) == []
    assert jargon(pdf_text(result.pdf), h.tex) == []
    assert plain_notation(h.tex) == []


@pytest.mark.parametrize("name", list(NETWORKS))
def test_worksheet_blanks_keep_their_answers(name):
    h = handout(NETWORKS[name], exercises=True)
    assert h.answers >= 6 and h.key is not None
    result = compile_tex(h.tex)
    text = pdf_text(result.pdf)
    assert leaked(h, text) == []
    assert overfull(result.log) == []
    assert jargon(text, h.tex) == []
    assert plain_notation(h.tex) == []
    # the key shows every answer boxed where its blank was
    key = compile_tex(h.key, files=h.files)
    assert overfull(key.log) == []
    assert h.key.count(r"\boxed{") >= h.answers


def test_leak_detector_finds_a_planted_answer():
    """The detector is not blind: an answer pasted into the worksheet is found."""
    h = handout(NETWORKS["dls"], exercises=True)
    _, _, latex, _ = h.answer_forms[-1]
    planted = Handout(h.title, h.format, h.sections,
                      h.text.replace(r"\end{document}", f"${latex}$\n\\end{{document}}"),
                      h.key, h.answers, h.answer_forms)
    assert leaked(planted, pdf_text(compile_tex(planted.text).pdf))



def test_seed_draws_another_network_for_another_worksheet(tmp_path):
    from derive.cli import main

    described = set()
    for seed in (1, 2, 3, 4):
        out = tmp_path / f"w{seed}.tex"
        assert main(["handout", "--exercises", "--seed", str(seed), "-o", str(out)]) == 0
        described.add(out.read_text().split("derive handout: ")[1].split(r"\par")[0])
    assert len(described) >= 3, described  # four seeds, (nearly) four networks
    # a network given by flags is kept whatever the seed
    out = tmp_path / "given.tex"
    assert main(["handout", "--exercises", "--seed", "5", "--layers", "3,3,1", "--act",
                 "relu,sigmoid", "--loss", "bce", "-o", str(out)]) == 0
    assert "sizes 3,3,1" in out.read_text()


@pytest.mark.parametrize("seed", [3, 7])
def test_drawn_worksheets_keep_their_answers(seed):
    from derive.handout.document import worksheet_network

    h = handout(worksheet_network(seed), exercises=True, seed=seed)
    assert leaked(h, pdf_text(compile_tex(h.text).pdf)) == []


def test_l2_handout_says_why_lambda_over_m_and_its_gradients_pass():
    h = handout(NETWORKS["l2"], sections=["network", "backward", "verification"])
    assert r"\frac{\lambda}{2 m} \sum_l \lVert W^{[l]}\rVert_F^2" in h.tex
    assert "the same $\\tfrac{1}{m}$ as the mean of the losses" in h.tex
    table = h.tex.split(r"\section{Verification}")[1]
    rows = [line for line in table.splitlines() if line.startswith("$W^{[") or line.startswith("$b^{[")]
    assert len(rows) == 4 and all(line.rstrip(" \\").endswith("pass") for line in rows), rows
