r"""A LaTeX fragment as students post it: ``X = \begin{bmatrix} 20 \\ 3 \\ 4 \end{bmatrix}``.

Each display (``$$ … $$``, ``\[ … \]``) or line is split at its top-level relations (=, ≈,
``\approx``); the first part names a quantity, every later part that is a name (``= A_1``) names
the same value, and the last part that is a plain number or matrix is the value. Parts that are
computations (``0,1 \cdot 20 + …``) are skipped, so a worked line ``Z_2 = 0,2 \cdot 3,9 + … = 18,3``
gives Z[2] = 18.3. X, Y (or y), W_l, b_l are the given values; every other name is the student's.

>>> inp = parse_latex(r"$$X = \begin{bmatrix} 20 \\ 3 \end{bmatrix}$$ $$y = 18$$ $$A_2 \approx 0,999$$")
>>> inp.values[("X", None)].shape, inp.student[0].keys, inp.student[0].value.entries()[0].text
((2, 1), (('A', 2),), '0,999')
"""

from __future__ import annotations

import re

from derive.errors import ParseError
from derive.limits import require
from derive.numbers.inputs import (
    ENTRIES,
    Entry,
    Matrix,
    NumbersInput,
    parse_number,
    resolve_name,
)

MAX_LINES = 5000
# A display opens with $$, \[ or \begin{equation|align} and runs to the next closer of its kind
_OPEN_RE = re.compile(r"\$\$|\\\[|\\begin\{(?:equation|align)\*?\}")
_CLOSE_RE = {"$$": re.compile(r"\$\$"), "\\[": re.compile(r"\\\]"),
             "begin": re.compile(r"\\end\{(?:equation|align)\*?\}")}
_BMATRIX_RE = re.compile(r"^\\begin\{([pbBvV]?matrix)\}(.*)\\end\{\1\}$", re.S)
_TRAIL_RE = re.compile(r"\\(?:quad|qquad)\b.*$", re.S)


def parse_latex(text: str) -> NumbersInput:
    """Read the given values and the student's values from a LaTeX fragment."""
    if text.count("\n") > MAX_LINES:
        raise ParseError(f"more than {MAX_LINES} lines")
    chunks = _chunks(text)
    values: dict = {}
    entries: list[Entry] = []
    notes: list[str] = []
    count = 0
    for line_no, chunk in chunks:
        for stmt in re.split(r"\\quad|\\qquad|,\s*\\quad", chunk) if _is_defs(chunk) else [chunk]:
            parsed = _statement(stmt)
            if parsed is None:
                continue
            names, keys, mat = parsed
            count += mat.size
            require(ENTRIES, count, "the LaTeX fragment")
            if keys[0][0] in ("X", "Y", "W", "b"):
                values[keys[0]] = mat
                continue
            entries.append(Entry(tuple(names), tuple(keys), mat, line_no))
    if not values:
        raise ParseError("no given values found: write X = \\begin{bmatrix}…\\end{bmatrix}, y = …, "
                         "W_1 = …, b_1 = … in the fragment")
    return NumbersInput(None, values, tuple(entries), None, tuple(notes))


def _is_defs(chunk: str) -> bool:
    """A display holding several definitions side by side: ``W_1 = … \\quad b_1 = …``."""
    return len(re.findall(r"(?<![<>!\\])=", chunk)) > 1 and bool(
        re.search(r"\\q?quad\s*[A-Za-z](?:\s*[_^]\s*(?:\{[^{}=]*(?:\{[^{}=]*\}[^{}=]*)*\}|\w+))*\s*=",
                  chunk))


def _chunks(text: str) -> list[tuple[int, str]]:
    """Displays if the text has any, else non-empty lines; with 1-based line numbers."""
    return _displays(text) or [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]


def _displays(text: str) -> list[tuple[int, str]]:
    """(line, body) of each display, left to right. Linear in the text: an opener whose kind has
    no closer after it is skipped, and so is every later one of that kind (one regex with lazy
    bodies rescanned to the end for each of 30,000 unclosed ``\\[``: 33 s for 64 kB)."""
    out: list[tuple[int, str]] = []
    pos, line, counted = 0, 1, 0
    unclosed: set[str] = set()
    while (mt := _OPEN_RE.search(text, pos)) is not None:
        kind = "begin" if mt.group().startswith("\\begin") else mt.group()
        close = None if kind in unclosed else _CLOSE_RE[kind].search(text, mt.end())
        if close is None:  # none now, none later
            unclosed.add(kind)
            pos = mt.start() + 1
            continue
        line += text.count("\n", counted, mt.start())
        counted = mt.start()
        out.append((line, text[mt.end():close.start()]))
        pos = close.end()
    return out


def _split_relations(s: str) -> list[str]:
    """Split at =, ≈, \\approx that are not inside (), {} or []."""
    parts: list[str] = []
    cur: list[str] = []
    depth, i = 0, 0
    while i < len(s):
        c = s[i]
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth = max(0, depth - 1)
        if depth == 0:
            for rel in ("\\approx", "≈", "\\simeq", "="):
                if s.startswith(rel, i) and not (rel == "=" and i > 0 and s[i - 1] in "<>!"):
                    parts.append("".join(cur))
                    cur = []
                    i += len(rel)
                    break
            else:
                cur.append(c)
                i += 1
            continue
        cur.append(c)
        i += 1
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _statement(stmt: str):
    stmt = re.sub(r"^\s*\d+\.\s*", "", stmt.strip())  # "3. \frac{dL}{dW_2} = …"
    parts = _split_relations(stmt)
    if len(parts) < 2:
        return None
    first = _clean_name(parts[0])
    key = resolve_name(first, None)
    if key is None or key == ("?", None):
        return None
    names, keys = [first], [key]
    value = None
    for part in parts[1:]:
        part = _TRAIL_RE.sub("", part).strip().rstrip(",;.")
        if "\\text" in part or "\\mathrm" in part:
            break  # prose follows ("\text{ where } ..."): nothing after it is a value
        mat = _try_matrix(part)
        if mat is not None:
            value = mat
            continue
        k = resolve_name(_clean_name(part), None)
        if k is not None and k not in keys:
            names.append(_clean_name(part))
            keys.append(k)
    if value is None:
        return None
    return names, keys, value


def _clean_name(s: str) -> str:
    return re.sub(r"^\d+\.\s*", "", s.strip())


def _try_matrix(s: str) -> Matrix | None:
    s = s.strip()
    if not s:
        return None
    s = re.sub(r"\\left|\\right", "", s)
    try:
        mt = _BMATRIX_RE.match(s)
        if mt:
            return parse_bmatrix_body(mt.group(2))
        if s[0] == "[" and s.endswith("]"):
            nums, _ = parse_matrix_text(s)
            return Matrix((tuple(nums),), flat=True)
        return Matrix(((parse_number(s),),))
    except ParseError:
        return None


def parse_bmatrix_body(body: str) -> Matrix:
    rows = [r for r in re.split(r"\\\\", body) if r.strip()]
    out = tuple(tuple(parse_number(x) for x in r.split("&")) for r in rows)
    if not out or len({len(r) for r in out}) != 1:
        raise ParseError("a matrix with rows of different lengths")
    return Matrix(out)


def parse_matrix_text(s: str):
    r"""``[0,2 \ 0,4 \ 0,6]`` or ``[3,9; 12,1; 20,3]`` or ``[1.5, 2]`` -> (numbers, separators)."""
    inner = s.strip()[1:-1]
    # separators: "\ ", ";", "&", "\\", whitespace runs, and a comma NOT followed by a digit
    tokens = re.split(r"\\\\|\\\s|;|&|,(?=\s)|,$|\s{2,}", inner)
    tokens = [t.strip() for t in tokens if t.strip()]
    nums = [parse_number(t) for t in tokens]
    if not nums:
        raise ParseError("empty list")
    return nums, len(tokens)
