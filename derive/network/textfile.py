"""Reading a user's TOML or JSON file: bounded in size, nesting and digits, errors with a line.

Python's readers fail on hostile input in ways a user cannot act on: ``tomllib`` recurses once per
nested array (a file nested 100,000 deep is a RecursionError) and takes quadratic time and memory
on a dotted key 100,000 parts long; ``int()`` refuses more than 4,300 digits (a ValueError that
names no place in the file). So before any parser sees the text, one linear scan (:func:`scan`)
finds the first bracket, inline table or dotted key nested deeper than :data:`NESTING`, and the
first number longer than :data:`MAX_DIGITS` digits, outside strings and comments, and names its
line and column. :func:`read_bounded` reads at most a limit of bytes (``/dev/zero`` included) and
:func:`load_toml` turns tomllib's errors into the caller's error class with the line and column.

>>> scan("layers = [[3, 3], [1]]", "net.toml")
>>> scan("layers = [[[3]]]", "net.toml", nesting=2)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
derive.errors.SpecError: net.toml, line 1, column 12: nested more than 2 levels deep (arrays, ...
>>> load_toml("layers = [3, 3]\\nloss = \\n", "net.toml")
Traceback (most recent call last):
...
derive.errors.SpecError: net.toml, line 2, column 8: malformed TOML: invalid value
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from derive.errors import DeriveError, SpecError
from derive.limits import Limit, require

#: brackets, inline tables and dotted-key parts open at any point of a spec or numbers file
NESTING = Limit("input.nesting", 32, "levels", "a flatter file",
                "the nesting of a TOML or JSON file")
#: digits in one number of a spec or numbers file (a layer size or a value needs far fewer)
MAX_DIGITS = 30

_STRINGS = {
    "toml": r'"""[\s\S]*?"""(?!")|\'\'\'[\s\S]*?\'\'\'(?!\')|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'',
    "json": r'"(?:[^"\\]|\\.)*"',
}
_TOKENS = {
    kind: re.compile(
        rf"(?P<str>{strings})"
        + (r"|(?P<comment>\#[^\n]*)" if kind == "toml" else "")
        + rf"|(?P<num>[0-9][0-9_]{{{MAX_DIGITS},}})"
        r"|(?P<open>[\[{])|(?P<close>[\]}])|(?P<nl>\n)|(?P<eq>=)|(?P<comma>,)|(?P<dot>\.)"
    )
    for kind, strings in _STRINGS.items()
}


def where_in(text: str, pos: int) -> str:
    """``line L, column C`` (1-based) of the 0-based offset ``pos``."""
    line = text.count("\n", 0, pos) + 1
    return f"line {line}, column {pos - text.rfind(chr(10), 0, pos)}"


def scan(text: str, where: str, kind: str = "toml", nesting: int | None = None,
         error: type[DeriveError] = SpecError) -> None:
    """Raise ``error`` naming ``where``, the line and the column of the first place in ``text``
    nested more than ``nesting`` (default :data:`NESTING`) levels deep, or of a number with more
    than :data:`MAX_DIGITS` digits. ``kind`` is ``"toml"`` or ``"json"``. Linear in the text;
    a string left open is skipped over (the parser reports it)."""
    limit = NESTING.value if nesting is None else nesting
    stack: list[str] = []
    in_key, dots = kind == "toml", 0  # TOML: in a key (before '='), and its dots so far
    for hit in _TOKENS[kind].finditer(text):
        token = hit.lastgroup
        if token in ("str", "comment"):
            continue
        if token == "num":
            digits = len(hit.group().replace("_", ""))
            if digits > MAX_DIGITS:
                raise error(f"{where}, {where_in(text, hit.start())}: a number with {digits:,} "
                            f"digits; at most {MAX_DIGITS} digits are read")
            continue
        if token == "open":
            in_key, dots = kind == "toml" and _opens_key(text, hit.start(), stack), 0
            stack.append(hit.group())
        elif token == "close":
            if stack:
                stack.pop()
            in_key, dots = False, 0
        elif token == "nl":
            if not stack:
                in_key, dots = kind == "toml", 0
            continue
        elif token == "eq":
            in_key, dots = False, 0
        elif token == "comma":
            in_key, dots = kind == "toml" and bool(stack) and stack[-1] == "{", 0
        elif token == "dot" and in_key:
            dots += 1
        if len(stack) + dots > limit:
            raise error(f"{where}, {where_in(text, hit.start())}: nested more than {limit} levels "
                        f"deep (arrays, tables or dotted keys); the limit is {NESTING.name}")


def _opens_key(text: str, pos: int, stack: list[str]) -> bool:
    """Whether the bracket at ``pos`` starts a key: an inline table's ``{``, or a table header's
    ``[`` (or ``[[``) with only blanks before it on its line, outside any array."""
    if text[pos] == "{":
        return True
    if stack and not (stack == ["["] and text[pos - 1] == "["):
        return False
    start = text.rfind("\n", 0, pos) + 1
    return text[start:pos].strip(" \t[") == ""


def read_bounded(path: str | Path, limit: Limit, what: str,
                 error: type[DeriveError] = SpecError) -> str:
    """The UTF-8 text of ``path``, refused (:class:`derive.errors.ResourceLimit`) when it holds
    more than ``limit.value`` bytes; at most that many bytes (and one) are ever read."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            size = p.stat().st_size
            if size > limit.value:
                require(limit, size, f"{what} {str(p)!r}")
            data = fh.read(limit.value + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {str(p)!r}: {exc.strerror or exc}") from None
    require(limit, len(data), f"{what} {str(p)!r}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{p}: not UTF-8 text (byte {exc.start + 1} is {data[exc.start]:#04x}); "
                    f"save the {what.removesuffix(' file')} as UTF-8") from None


_AT = re.compile(r"^(?P<msg>.*?)\s*\(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$")


def load_toml(text: str, where: str, error: type[DeriveError] = SpecError,
              parse_float: Callable[[str], Any] = float) -> dict:
    """``tomllib.loads`` after :func:`scan`; a malformed file is ``error`` naming ``where``, the
    line and the column (tomllib's own message, reworded)."""
    scan(text, where, "toml", error=error)
    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        msg, place = str(exc), "end of file"
        hit = _AT.match(msg)
        if hit:
            msg = hit.group("msg")
            if hit.group("line"):
                place = f"line {hit.group('line')}, column {hit.group('col')}"
        msg = msg[:1].lower() + msg[1:]
        raise error(f"{where}, {place}: malformed TOML: {msg}") from None
    except (RecursionError, ValueError) as exc:  # scan() bounds both; kept as a last guard
        raise error(f"{where}: cannot be read as TOML ({type(exc).__name__})") from None
