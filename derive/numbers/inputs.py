"""Reading a worked example from JSON or TOML, numbers as the student wrote them (a LaTeX fragment:
:mod:`derive.numbers.latex`; a file of either kind: :func:`derive.numbers.files.read_file`).

Numbers keep the digits written, so a check can be rounding-aware: ``0,999`` has three decimals,
``-3,7 \\cdot 10^{-7}`` two significant digits. Decimal commas are read (``0,1`` is 0.1; in a list a
comma followed by a digit is a decimal comma, followed by a space a separator). Nothing is ever
evaluated: numbers are matched by a regular expression and converted with ``float``.

>>> n = parse_number("-3,7 \\\\cdot 10^{-7}")
>>> n.value, n.ulp
(-3.7e-07, 1e-08)
>>> resolve_name("\\\\frac{\\\\partial L}{\\\\partial Z^{[2]}}"), resolve_name("yhat", depth=2)
(('dZ', 2), ('A', 2))
>>> to_matrix(["0,2", "-1,5e-7"], "dW2").entries()[1].ulp
1e-08
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from derive.errors import ParseError
from derive.limits import Limit, require
from derive.network.textfile import load_toml, scan

#: numbers in one numbers file (given values and the student's together): a worked example is
#: read by a person, and a 1 MB file holds at most about this many
ENTRIES = Limit("numbers.entries", 100_000, "numbers", "a smaller FILE",
                "the numbers of one file")
MAX_ENTRIES = ENTRIES.value
MAX_DIGITS = 30
MAX_NUMBER_TEXT = 100  # characters of one number as written: -3,7 \cdot 10^{-7} is 18


@dataclass(frozen=True)
class Num:
    """A number as written: its value, its text and the unit of its last written digit (ulp)."""

    value: float
    text: str
    ulp: float | None  # None: an exact number (a Python float given by code, not text)


_NUM_RE = re.compile(
    r"""^\s*(?P<sign>[-+−–]?)\s*(?P<int>\d*)(?:[.,](?P<frac>\d*))?
        (?:\s*(?:[eE](?P<e>[-+−]?\d+)
          |\s*(?:\\cdot|\\times|·|×|\*|x)\s*10\s*\^\s*\{?\s*(?P<p>[-+−]?\s*\d+)\s*\}?))?\s*$""",
    re.VERBOSE,
)


def parse_number(text: str) -> Num:
    """``"0,999"``, ``"-3.7e-7"``, ``"1,1 \\cdot 10^{-8}"``, ``"−34"`` -> :class:`Num`; at most
    :data:`MAX_NUMBER_TEXT` characters (the pattern's optional spaces take quadratic time on a
    long run of them)."""
    s = str(text).strip().strip("$").strip()
    if len(s) > MAX_NUMBER_TEXT:
        raise ParseError(f"not a number: {s[:30]!r}… ({len(s):,} characters; a number is at most "
                         f"{MAX_NUMBER_TEXT})")
    s = s.replace("{,}", ",").replace("\\!", "").replace("\\,", "")
    mt = _NUM_RE.match(s)
    if not mt or not (mt.group("int") or mt.group("frac")):
        raise ParseError(f"not a number: {text!r}")
    digits = (mt.group("int") or "") + (mt.group("frac") or "")
    if len(digits) > MAX_DIGITS:
        raise ParseError(f"number with more than {MAX_DIGITS} digits: {text[:40]!r}")
    exp_text = mt.group("e") or mt.group("p") or "0"
    exp = int(exp_text.replace("−", "-").replace(" ", ""))
    if abs(exp) > 300:
        raise ParseError(f"exponent out of range in {text!r}")
    neg = mt.group("sign") in ("-", "−", "–")
    frac_len = len(mt.group("frac") or "")
    value = float(f"{'-' if neg else ''}{mt.group('int') or '0'}.{mt.group('frac') or '0'}e{exp}")
    return Num(value, text.strip(), 10.0 ** (exp - frac_len))


def as_num(x, where: str) -> Num:
    """A JSON/TOML leaf: a number (kept as written when the reader gave us its text) or a string."""
    if isinstance(x, Num):
        return x
    if isinstance(x, bool) or x is None:
        raise ParseError(f"{where}: {x!r} is not a number")
    if isinstance(x, int):
        if x.bit_length() > 100:  # more than 30 digits: float() would lose them or overflow
            raise ParseError(f"{where}: a whole number with more than {MAX_DIGITS} digits")
        return Num(float(x), str(x), 1.0)
    if isinstance(x, float):  # NaN and ±inf are kept here and refused, with their place, by to_matrix
        return parse_number(repr(x)) if math.isfinite(x) else Num(x, _NONFINITE.get(repr(x), repr(x)), None)
    if isinstance(x, str):
        try:
            return parse_number(x)
        except ParseError as exc:
            raise ParseError(f"{where}: {exc}") from None
    raise ParseError(f"{where}: expected a number or a list of numbers, not {type(x).__name__}")


@dataclass(frozen=True)
class Matrix:
    """Numbers as written, with their shape: ``flat`` when written as one list (shape to be fitted)."""

    rows: tuple[tuple[Num, ...], ...]
    flat: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.rows[0]) if self.rows else 0)

    @property
    def size(self) -> int:
        return sum(len(r) for r in self.rows)

    def entries(self) -> list[Num]:
        return [x for r in self.rows for x in r]

    def fitted(self, shape: tuple[int, int], strict: bool = False) -> Matrix | None:
        """The same numbers in ``shape``: a flat list or a vector refits to any vector shape;
        ``strict`` (a student's answer): only a flat list does, so a column written where the
        step is a row (a transposed answer) does not fit."""
        if self.shape == shape:
            return self
        vec = self.flat if strict else self.flat or 1 in self.shape
        if vec and 1 in shape and self.size == shape[0] * shape[1]:
            e = self.entries()
            return Matrix(tuple(tuple(e[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])))
        return None

    def values(self) -> np.ndarray:
        return np.array([[x.value for x in r] for r in self.rows], dtype=float)


_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # as JSON writes them


def to_matrix(x, where: str) -> Matrix:
    """A number, a flat list or a list of rows into a :class:`Matrix`; every entry finite (NaN or
    an infinity is refused naming ``where`` and the entry, 1-based)."""
    if isinstance(x, list | tuple):
        if not x:
            raise ParseError(f"{where}: empty list")
        if all(isinstance(r, list | tuple) for r in x):
            rows = tuple(tuple(as_num(v, where) for v in r) for r in x)
            if len({len(r) for r in rows}) != 1 or not rows[0]:
                lengths = [len(r) for r in rows]
                raise ParseError(f"{where}: rows of different lengths {lengths if len(lengths) <= 20 else ''}".rstrip())
            return _finite(Matrix(rows), where)
        if any(isinstance(r, list | tuple) for r in x):
            raise ParseError(f"{where}: mixes numbers and lists")
        return _finite(Matrix((tuple(as_num(v, where) for v in x),), flat=True), where)
    return _finite(Matrix(((as_num(x, where),),)), where, scalar=True)


def _finite(mat: Matrix, where: str, scalar: bool = False) -> Matrix:
    for i, row in enumerate(mat.rows, start=1):
        for j, x in enumerate(row, start=1):
            if not math.isfinite(x.value):
                at = "the value" if scalar else f"entry {j}" if mat.flat else f"entry ({i}, {j})"
                raise ParseError(f"{where}: {at} is {x.text}: every value must be a finite number")
    return mat


# -- names ---------------------------------------------------------------------------------------
_GRAD_RE = re.compile(r"^(?:d(?:l|j|e|cost|loss)/)?d(w|b|z|a|g)(\d+|l)$")
_FWD_RE = re.compile(r"^(w|b|z|a)(\d+|l)$|^(d)(\d+)$")  # D1: a dropout mask (digits only: dL is not one)
#: a parameter after the update step: W1_new, new W1, W1', W1 (updated), W1^{new}, W1:=
_NEW_RE = re.compile(r"^(?:new|updated)(w|b)(\d+|l)$|^(w|b)(\d+|l)(?:new|updated|\(updated\)|'|\+|:=)$")
_GP_RE = re.compile(r"^(?:[a-zσ]+?)(\d*)'\(z(\d+|l)\)$|^(?:g|gprime|gp)(\d+)'?$|^da(\d+|l)/dz(\d+|l)$")
#: batch norm's quantities and their gradients: gamma1, γ[1], dbeta1, mu1, var1, σ²[1], Z_norm1,
#: x_hat1, Z_tilde1, Z̃[1] (the layer index required: unindexed, CS231n's x_hat is the layer's)
_BN_RE = re.compile("^(d?)(gamma|γ|beta|β|mu|μ|var|sigmoid²|sigmoid2|znorm|xhat|ztilde|z\u0303)"
                    r"(\d+|l)$")
_BN_BASES = {"gamma": "gamma", "γ": "gamma", "beta": "beta", "β": "beta", "mu": "mu", "μ": "mu",
             "var": "var", "sigmoid²": "var", "sigmoid2": "var", "znorm": "Znorm", "xhat": "Znorm",
             "ztilde": "Ztilde", "z\u0303": "Ztilde"}
COST_NAMES = {"l", "j", "cost", "loss", "e", "c"}
OUTPUT_NAMES = {"yhat", "ŷ", "y^", "output", "al", "a[l]"}


def normalize_name(text: str) -> str:
    s = text.strip().strip("$").strip()
    s = s.replace("}{", "/").replace("∂", "d").replace("\\partial", "d").replace("\\hat{y}", "yhat")
    s = s.replace("\\prime", "'").replace("′", "'").replace("^{'}", "'").replace("\\sigma", "sigmoid")
    s = s.replace("σ", "sigmoid").replace("ŷ", "yhat").replace("\\mathcal", "")
    s = re.sub(r"\\(?:frac|mathrm|text|operatorname|mathbf|left|right|dfrac|tfrac)", "", s)
    s = re.sub(r"[\s{}\[\]^_\\]", "", s)
    return s.casefold()


def resolve_name(text: str, depth: int | None = None) -> tuple[str, int | None] | None:
    """A step name as written -> (kind, layer): ("Z", 1), ("dW", 2), ("J", None), ("gp", 2) for
    g′(Z[2]), ("W", 1) and ("X", None)/("Y", None) for given values; None if not a name."""
    s = normalize_name(text)
    if not s or len(s) > 60:
        return None

    def layer(tok: str) -> int | None:
        if tok == "l":
            return depth
        return int(tok) if len(tok) <= 4 else None

    if s in COST_NAMES:
        return ("J", None)
    if s in ("x", "a0"):
        return ("X", None)
    if s in ("y", "t", "target"):
        return ("Y", None)
    if s in OUTPUT_NAMES:
        return ("A", depth)
    if s in ("dl/dyhat", "dyhat", "dj/dyhat", "dl/dal", "dal"):
        return ("dA", depth)
    if s in ("dx", "dl/dx", "dj/dx"):
        return ("dA", 0)
    mt = _BN_RE.match(s)
    if mt:
        lay = layer(mt.group(3))
        return (mt.group(1) + _BN_BASES[mt.group(2)], lay) if lay is not None else None
    mt = _NEW_RE.match(s)
    if mt:
        lay = layer(mt.group(2) or mt.group(4))
        base = mt.group(1) or mt.group(3)
        return (f"{base.upper() if base == 'w' else base}_new", lay) if lay is not None else None
    mt = _GRAD_RE.match(s)
    if mt:
        lay = layer(mt.group(2))
        kind = {"w": "dW", "b": "db", "z": "dZ", "a": "dA", "g": "dG"}[mt.group(1)]
        return (kind, lay) if lay is not None else None
    mt = _FWD_RE.match(s)
    if mt:
        lay = layer(mt.group(2) or mt.group(4))
        base = {"w": "W", "b": "b", "z": "Z", "a": "A", "d": "D"}[mt.group(1) or mt.group(3)]
        return (base, lay) if lay is not None else None
    mt = _GP_RE.match(s)
    if mt:
        tok = mt.group(2) or mt.group(3) or mt.group(5)
        lay = layer(tok) if tok else None
        return ("gp", lay) if lay is not None else None
    return None


# -- files ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One student value: the names it was written under (first = its label) and the numbers."""

    names: tuple[str, ...]
    keys: tuple[tuple[str, int | None], ...]
    value: Matrix
    line: int | None = None


@dataclass(frozen=True)
class NumbersInput:
    """What a numbers file holds: the network mapping (if any), the given values, student entries."""

    network: dict | None
    values: dict  # key (base, layer) -> Matrix, for X, Y, W[l], b[l]
    student: tuple[Entry, ...] = ()
    tolerance: float | None = None
    notes: tuple[str, ...] = field(default=())
    mask_seed: int | None = None  # dropout masks not given: drawn from this seed (the course's draw)


def parse_mapping_text(text: str, where: str = "input") -> NumbersInput:
    """JSON (first non-space character ``{``) or TOML, numbers kept as written; nesting and
    digits bounded first (:func:`derive.network.textfile.scan`), errors with line and column."""
    try:
        if text.lstrip().startswith("{"):
            scan(text, where, "json", error=ParseError)
            data = json.loads(text, parse_float=parse_number, object_pairs_hook=_Pairs)
        else:
            data = load_toml(text, where, ParseError, parse_float=_toml_float)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{where}, line {exc.lineno}, column {exc.colno}: malformed JSON: "
                         f"{exc.msg}") from None
    except (RecursionError, ValueError):  # scan() bounds both; kept as a last guard
        raise ParseError(f"{where}: cannot be read as JSON (nested too deeply or too long a "
                         "number)") from None
    except ParseError as exc:  # a number the reader handed to parse_number: "1e999"
        if exc.message.startswith(where):
            raise
        raise ParseError(f"{where}: {exc.message}") from None
    return from_mapping(data, where)


def _toml_float(text: str):
    """A TOML float as written; nan and inf pass as floats, to be refused with their place."""
    if text.lstrip("+-") in ("nan", "inf"):
        return float(text)
    return parse_number(text.replace("_", ""))


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs: repeated keys survive (a student may write
    the same name twice, as seed 003 does with ∂L/∂Z2)."""

    def __init__(self, pairs):
        super().__init__(pairs)

    def get(self, key, default=None):
        for k, v in self:
            if k == key:
                return v
        return default

    def keys(self):
        return [k for k, _ in self]

    def items(self):
        return list(self)


def _as_dict(x) -> dict:
    return dict(x.items()) if isinstance(x, _Pairs) else x


def _plain(x):
    """Num leaves back to floats and pairs back to dicts (for the network table)."""
    if isinstance(x, Num):
        return x.value
    if isinstance(x, _Pairs):
        return {k: _plain(v) for k, v in x}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def given_bases() -> tuple[str, ...]:
    """What the layer registry says a network is given: W, b, D, γ, β (derive.layers.given)."""
    from derive import layers  # here: the registry loads SymPy, and reading a file need not

    return layers.given()


def from_mapping(data, where: str = "input") -> NumbersInput:
    if not isinstance(data, dict | _Pairs):
        raise ParseError(f"{where}: expected a table with 'network' and 'values'")
    top = _as_dict(data)
    known = {"network", "values", "student", "tolerance", "mask_seed"}
    unknown = sorted(set(top) - known)
    if unknown:
        raise ParseError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    net = _plain(top.get("network")) if top.get("network") is not None else None
    if net is not None and not isinstance(net, dict):
        raise ParseError(f"{where}: 'network' must be a table")
    values_raw = top.get("values")
    if values_raw is None:
        raise ParseError(f"{where}: no 'values' (X, Y, W1, b1, ...)")
    values: dict = {}
    notes: list[str] = []
    count = 0
    for name, raw in _items(values_raw, f"{where}: values"):
        key = resolve_name(name)
        if key is None or key == ("?", None) or key[1] is None and key[0] not in ("X", "Y"):
            key = name  # a course's cache name (A_prev, dout, Z): read once the depth is known
        elif key[0] not in ("X", "Y", *given_bases(), "Z", "G", "A", "dA", "dG", "dZ"):
            raise ParseError(f"{where}: values: {name!r} is not X, Y, a parameter (W1, b1, "
                             f"gamma1, beta1, ...) or a "
                             "cache value (Z1, A1, dA1, dZ1, ...)")
        raw, had_bool = _bools(raw)
        if had_bool:
            notes.append(f"{name}: true/false read as 1/0")
        values[key] = to_matrix(raw, f"{where}: values.{name}")
        count += values[key].size
    entries = []
    for i, (name, raw) in enumerate(_student_items(top.get("student"), where)):
        mat = to_matrix(raw, f"{where}: student.{name}")
        count += mat.size
        entries.append(Entry((name,), (resolve_name(name) or ("?", None),), mat, i + 1))
    require(ENTRIES, count, f"{where}")
    tol = top.get("tolerance")
    if tol is not None:
        tol = as_num(tol, "tolerance").value
        if not 0 <= tol < 1:
            raise ParseError(f"{where}: tolerance {tol} must lie in [0, 1) (a relative tolerance)")
    seed = top.get("mask_seed")
    if seed is not None:
        seed = as_num(seed, "mask_seed").value
        if seed != int(seed) or not 0 <= seed < 2**32:
            raise ParseError(f"{where}: mask_seed {seed} must be a whole number in [0, 2**32) "
                             "(numpy's legacy seed, as the course's np.random.seed(1))")
        seed = int(seed)
    return NumbersInput(net, values, tuple(entries), tol, tuple(notes), seed)


def _bools(raw):
    """``raw`` with every true/false leaf as 1/0 (the course's labels ``Y = randn(1, m) > 0``
    saved as booleans), and whether there was one."""
    if isinstance(raw, bool):
        return int(raw), True
    if isinstance(raw, list | tuple):
        pairs = [_bools(v) for v in raw]
        return [v for v, _ in pairs], any(b for _, b in pairs)
    return raw, False


def _items(raw, where: str):
    if isinstance(raw, _Pairs):
        return list(raw)
    if isinstance(raw, dict):
        return list(raw.items())
    raise ParseError(f"{where} must be a table of name = number or matrix")


def _student_items(raw, where: str):
    if raw is None:
        return []
    if isinstance(raw, list) and not isinstance(raw, _Pairs):  # [{"name": ..., "value": ...}]
        out = []
        for i, item in enumerate(raw):
            item = _as_dict(item) if isinstance(item, _Pairs | dict) else None
            if not item or "name" not in item or "value" not in item:
                raise ParseError(f"{where}: student[{i}] needs 'name' and 'value'")
            out.append((str(item["name"]), item["value"]))
        return out
    return _items(raw, f"{where}: student")
