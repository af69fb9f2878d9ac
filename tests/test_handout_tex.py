"""Handouts compile with pdflatex, cleanly, and page 1 is not blank (CI installs TeX)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from derive.cli import main
from derive.handout.document import compile_tex, handout, log_problems
from derive.network.spec import Network

pytestmark = [
    pytest.mark.tex,
    pytest.mark.skipif(shutil.which("pdflatex") is None,
                       reason="pdflatex not installed (apt-get install texlive-latex-base "
                              "texlive-latex-recommended texlive-pictures)"),
]

NETWORKS = {
    "dls": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
    "tanh-softmax": Network(layers=[4, 5, 5, 5, 3], activations=["tanh", "tanh", "tanh", "softmax"],
                            loss="ce"),
    "generic": Network(depth=2),
    # a layer wider than bmatrix's 10 columns, whose named A[1] is shown transposed in dW[2]
    "wide": Network(layers=[4, 17, 3], activations=["relu", "softmax"], loss="ce"),
}


def _clean(log: str) -> None:
    assert log_problems(log) == []
    for bad in ("Undefined control sequence", "LaTeX Error", "Missing", "! "):
        assert bad not in log, bad
    assert "Output written on handout.pdf" in log


@pytest.mark.parametrize("name", list(NETWORKS))
def test_handout_compiles_cleanly(name):
    title = r"Hostile \input{/etc/passwd} \write18{ls} $x$ 100% {a}_b^c ~#& }" if name == "dls" else None
    # the plug-in sections too, where installed
    sections = "all" if name == "dls" else "numbers" if name == "wide" else None
    h = handout(NETWORKS[name], title=title, exercises=name == "tanh-softmax", sections=sections)
    result = compile_tex(h.tex, files=h.files)
    _clean(result.log)
    assert result.pdf.startswith(b"%PDF")
    assert "(/etc/passwd" not in result.log  # TeX logs "(path" for every file it opens
    if h.key is not None:
        _clean(compile_tex(h.key, files=h.files).log)


def test_error_in_tex_is_reported():
    from derive.errors import DeriveError

    with pytest.raises(DeriveError, match="Undefined control sequence"):
        compile_tex("\\documentclass{article}\\begin{document}\\nosuchmacro\\end{document}")


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) not installed")
def test_cli_pdf_page_one_is_not_blank(tmp_path):
    out = tmp_path / "dls.tex"
    assert main(["handout", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "-o", str(out), "--pdf"]) == 0
    pdf = out.with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=60)
    pgm = next(tmp_path.glob("page*.pgm"))
    pixels = _read_pgm(pgm.read_bytes())
    dark = np.count_nonzero(pixels < 128)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 300  # an A4 page at 40 dpi: 468 × 331
    assert dark > 0.01 * pixels.size, dark  # text and the drawing, not a blank page


def _read_pgm(data: bytes) -> np.ndarray:
    """A binary PGM (P5) as a 2-D uint8 array, with plain numpy."""
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    assert fields[0] == b"P5" and int(fields[3]) < 256
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos + 1:pos + 1 + w * h], dtype=np.uint8).reshape(h, w)


def test_compiler_cannot_read_files_outside_its_directory(tmp_path):
    # defence in depth behind the escaping: even raw \input of an absolute path is refused
    from derive.errors import DeriveError

    secret = tmp_path / "secret.tex"
    secret.write_text("SECRETWORD")
    with pytest.raises(DeriveError, match="LaTeX Error: File"):
        stem = secret.with_suffix("")
        compile_tex(f"\\documentclass{{article}}\\begin{{document}}\\input{{{stem}}}\\end{{document}}")


def test_output_named_pdf_is_a_pdf(tmp_path, capsys):
    # -o h.pdf wrote the LaTeX source under the PDF's name; it compiles now, the .tex beside it
    out = tmp_path / "h.pdf"
    assert main(["handout", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "--keep-prob", "0.8", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF-")
    assert (tmp_path / "h.tex").read_text(encoding="utf-8").startswith("\\documentclass")
    assert main(["handout", "--format", "markdown", "-o", str(tmp_path / "m.pdf")]) == 2
    assert "compiled from LaTeX" in capsys.readouterr().err
