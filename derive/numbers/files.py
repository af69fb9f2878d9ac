"""A numbers file by its kind: JSON or TOML (:mod:`derive.numbers.inputs`) or a LaTeX fragment
(:mod:`derive.numbers.latex`), both read into the same :class:`~derive.numbers.inputs.NumbersInput`."""

from __future__ import annotations

from pathlib import Path

from derive.errors import ParseError
from derive.limits import Limit
from derive.network.textfile import read_bounded
from derive.numbers.inputs import NumbersInput, parse_mapping_text
from derive.numbers.latex import parse_latex

#: a numbers file: seed 003's is 1 kB; a file this size already holds the 100,000 numbers
#: numbers.entries allows
FILE_BYTES = Limit("numbers.file_bytes", 1 << 20, "bytes", "a smaller FILE", "a numbers file")
MAX_FILE_BYTES = FILE_BYTES.value


def read_file(path: str | Path, latex: bool = False) -> NumbersInput:
    """A numbers file: JSON or TOML (by content), or a LaTeX fragment with ``latex=True``; at
    most :data:`FILE_BYTES`, UTF-8."""
    p = Path(path)
    text = read_bounded(p, FILE_BYTES, "numbers file", error=ParseError)
    if latex or p.suffix.lower() in (".tex", ".latex"):
        return parse_latex(text)
    return parse_mapping_text(text, str(p))
