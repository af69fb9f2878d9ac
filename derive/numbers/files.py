"""A numbers file by its kind: JSON or TOML (:mod:`derive.numbers.inputs`) or a LaTeX fragment
(:mod:`derive.numbers.latex`), both read into the same :class:`~derive.numbers.inputs.NumbersInput`."""

from __future__ import annotations

from pathlib import Path

from derive.errors import ParseError, SpecError
from derive.numbers.inputs import NumbersInput, parse_mapping_text
from derive.numbers.latex import parse_latex

MAX_FILE_BYTES = 1_000_000


def read_file(path: str | Path, latex: bool = False) -> NumbersInput:
    """A numbers file: JSON or TOML (by content), or a LaTeX fragment with ``latex=True``."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise ParseError(f"{p}: larger than {MAX_FILE_BYTES // 1000} kB")
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ParseError(f"{p}: not UTF-8 text") from None
    if latex or p.suffix.lower() in (".tex", ".latex"):
        return parse_latex(text)
    return parse_mapping_text(text, str(p))
