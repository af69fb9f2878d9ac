"""Names a user may write, bounds on untrusted input, and the errors that point into it.

One table for both parsers (LaTeX and text): an identifier such as ``dZ1``, ``dz_1``, ``W``,
``AL``, ``dA_prev``, ``relu``, ``sigmoid_prime`` or ``g1`` is resolved here into what it names.

>>> resolve_ident("dZ_1")
Name(kind='sym', base='dZ', layer=('num', 1), lower=False, prime=False, act=None, bound=False)
>>> resolve_ident("dz1").lower, resolve_ident("AL").layer
(True, ('L', 0))
>>> resolve_ident("sigmoid_prime").prime, resolve_ident("g2").layer
(True, ('num', 2))
>>> parse_layer_index("l-1")
('l', -1)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Literal

from derive.catalogue import rules
from derive.core.names import EPS_NAMES, KEEP_PROB_NAMES, LAMBDA_NAMES
from derive.errors import ParseError
from derive.limits import Limit
from derive.network import symbols

# -- bounds on untrusted input (see docs/parsing.md) ---------------------------------------------
# Each is a ParseError at the position where the input crosses it (declared as a Limit too, so
# that docs/limits.md lists it). Together they bound the time one formula takes to read: a
# generic l is read at most once per layer, every pass over the text is linear in it, and every
# constant is computed by a bounded evaluator (derive.parse.scalars).
LENGTH = Limit("parse.length", 2000, "characters", "a shorter formula", "one formula")
DEPTH = Limit("parse.depth", 40, "levels", "fewer nested brackets",
              "nesting of brackets, braces, unary signs and powers")
TOKENS = Limit("parse.tokens", 400, "tokens", "a shorter formula", "one formula")
SYMBOLS = Limit("parse.symbols", 120, "symbols", "a shorter formula",
                "named quantities (W[2], dZ[1], ...) in one formula")
EXPONENT = Limit("parse.exponent", 64, "largest exponent", "a smaller exponent",
                 "the exponent k of a power A**k or 2**k")
NUMBER_DIGITS = Limit("parse.number_digits", 30, "digits", "a shorter number",
                      "one number literal")
MAX_LENGTH = LENGTH.value  # characters in one equation
MAX_DEPTH = DEPTH.value  # nesting of brackets, braces, unary signs and powers
MAX_TOKENS = TOKENS.value  # tokens in one equation
MAX_SYMBOLS = SYMBOLS.value  # named quantities (W[2], dZ[1], ...) in one equation
MAX_EXPONENT = EXPONENT.value  # |k| in a power A**k or 2**k
MAX_NUMBER_DIGITS = NUMBER_DIGITS.value  # digits in one number literal
MAX_MAGNITUDE = 10**300  # largest constant a formula may compute (2**999 is refused)


class LayerOutOfRange(ParseError):
    """A layer index the network does not have (W[3] in a 2-layer network); ``layer`` is the
    index read and ``low``..``high`` the layers that exist (None where not known)."""

    def __init__(self, message: str, position: int | None = None, text: str | None = None,
                 layer: int | None = None, low: int | None = None, high: int | None = None):
        super().__init__(message, position, text)
        self.layer, self.low, self.high = layer, low, high


class GenericLayerNeeded(ParseError):
    """A generic index l and no concrete layer to put in its place."""


# the cost's named scalars: the L2 strength λ (the course's lambd, CS231n's reg and self.reg, λ,
# \lambda) and the dropout keep probability (keep_prob): the network's symbol, or its number
# (derive.parse.resolve.Resolver.l2_strength)
L2_NAMES = frozenset({*LAMBDA_NAMES, "self.reg", *KEEP_PROB_NAMES, *EPS_NAMES})
MATH_FUNCS = {"exp": "exp", "log": "log", "ln": "log", "sqrt": "sqrt", "sum": "sum",
              "mean": "mean", "abs": "abs"}
PRIME_SUFFIXES = ("_prime", "_derivative", "_deriv", "_grad", "prime")

_SYM_RE = re.compile(r"(d?)([A-Za-z])(?:_?(\d+)|_?(L)|(_prev))?")
# batch normalisation's quantities as people write them (the course's Z_norm, Z_tilde; CS231n's
# gamma, beta, mu, var, x_hat; Greek letters), with a d for the gradient and a layer
_BATCHNORM = {"gamma": "gamma", "γ": "gamma", "beta": "beta", "β": "beta", "mu": "mu", "μ": "mu",
              "var": "var", "sigma2": "var", "σ2": "var", "σ²": "var", "variance": "var",
              "znorm": "Znorm", "z_norm": "Znorm", "x_hat": "Znorm", "xhat": "Znorm",
              "x̂": "Znorm", "sample_mean": "mu", "sample_var": "var",  # CS231n's skeleton
              "ztilde": "Ztilde", "z_tilde": "Ztilde", "z̃": "Ztilde",
              "zn": "Znorm", "zt": "Ztilde"}  # the regularisation corpus's Zn[1], dZt[1]
_BN_RE = re.compile(r"(d_?)?(" + "|".join(sorted(map(re.escape, _BATCHNORM), key=len, reverse=True))
                    + r")(?:_?(\d+)|_?(L)|(_prev))?", re.IGNORECASE)
_G_RE = re.compile(r"g(?:_?(\d+)|_?(L))?")
_LAYER_RE = re.compile(r"\s*(?:(\d+)|([lL])\s*(?:([+-])\s*(\d+))?)\s*")

# A layer index as written: ("num", 2) is [2]; ("l", -1) is [l-1]; ("L", 0) is [L]; ("prev", -1)
# is the course's ``_prev`` (one below the current layer).
LayerIndex = tuple[Literal["num", "l", "L", "prev"], int]


def quantities() -> tuple[str, ...]:
    """The quantities a formula may name, from the symbol table: X, Y, then W, b, Z, A and the
    gradients dW, db, dZ, dA (the layers' declared quantities)."""
    return (*symbols.GLOBAL, *symbols.layered())


def gradients() -> tuple[str, ...]:
    """The quantities that are a gradient of another: dW, db, dZ, dA."""
    names = quantities()
    return tuple(q for q in names if q.startswith("d") and q[1:] in names)


def below_bar() -> tuple[str, ...]:
    """What ∂L/∂(...) may have below the bar: W, b, Z, A (those with a gradient) and X (whose
    gradient is dA[0])."""
    return (*(q[1:] for q in gradients()), "X")


@cache
def _letters(names: tuple[str, ...]) -> dict[str, str]:
    """One-letter quantities by the letter a user may write: each in either case (w is W, B is
    b); a gradient is ``d`` before one of these. The dropout mask D and the activation before it
    G are upper case only: ``d`` is the gradient's prefix and ``g`` the activation."""
    out: dict[str, str] = {}
    for q in names:
        if len(q) == 1:
            out.setdefault(q, q)
            if q.swapcase() not in ("d", "g"):
                out.setdefault(q.swapcase(), q)
    return out


def letters() -> dict[str, str]:
    """W, w -> W; b, B -> b; Z, z; A, a; X, x; Y, y (from :func:`quantities`)."""
    return _letters(quantities())


@dataclass(frozen=True)
class Name:
    """What an identifier names.

    ``kind``: "sym" (a quantity such as dZ[1]; ``base`` and ``layer``), "act" (an activation:
    ``act`` is the catalogue entry or None for a generic g; ``prime`` marks g′), "func" (exp, log,
    sqrt, sum, mean, abs: ``base``), "m" (the number of examples) or "e" (Euler's number).
    ``layer`` is a layer index: ("num", k), ("l", offset), ("L", offset), ("prev", -1) or None.
    """

    kind: Literal["sym", "act", "func", "m", "e"]
    base: str = ""
    layer: LayerIndex | None = None
    lower: bool = False
    prime: bool = False
    act: rules.Activation | None = None
    bound: bool = False  # read through an explicit binding (derive.parse.bindings)


def parse_layer_index(text: str) -> LayerIndex | None:
    """``"2"`` -> ("num", 2); ``"l"`` -> ("l", 0); ``"L-1"`` -> ("L", -1); None if not an index."""
    mt = _LAYER_RE.fullmatch(text)
    if not mt:
        return None
    if mt.group(1) is not None:
        if len(mt.group(1)) > 6:
            return None
        return ("num", int(mt.group(1)))
    off = int(mt.group(4)) if mt.group(4) else 0
    if mt.group(4) and len(mt.group(4)) > 6:
        return None
    kind: Literal["l", "L"] = "l" if mt.group(2) == "l" else "L"
    return (kind, -off if mt.group(3) == "-" else off)


def _num(s: str | None) -> LayerIndex | None:
    return ("num", int(s)) if s is not None and len(s) <= 6 else None


def resolve_ident(ident: str) -> Name | None:
    """The meaning of one identifier, or None if it names nothing we know."""
    if ident == "m":
        return Name("m")
    if ident == "e":
        return Name("e")
    mt = _SYM_RE.fullmatch(ident)
    known = letters()
    if mt and mt.group(2) in known:
        d, letter = mt.group(1), mt.group(2)
        layer: LayerIndex | None
        if mt.group(3) is not None:
            layer = _num(mt.group(3))
            if layer is None:
                return None
        elif mt.group(4):
            layer = ("L", 0)
        elif mt.group(5):
            layer = ("prev", -1)
        else:
            layer = None
        base = d + known[letter]
        lower = letter.islower() and letter != known[letter]
        return Name("sym", base, layer, lower=lower)
    mb = _BN_RE.fullmatch(ident)
    if mb and (mb.group(2) == mb.group(2).casefold() or mb.group(2)[0] in "ZX"):  # not MU, Var
        index = (_num(mb.group(3)) if mb.group(3) is not None else ("L", 0) if mb.group(4)
                 else ("prev", -1) if mb.group(5) else None)
        if mb.group(3) is None or index is not None:
            return Name("sym", ("d" if mb.group(1) else "") + _BATCHNORM[mb.group(2).casefold()], index)
    if ident.casefold() in MATH_FUNCS:
        return Name("func", MATH_FUNCS[ident.casefold()])
    prime = False
    stem = ident
    for suffix in PRIME_SUFFIXES:
        if stem.casefold().endswith(suffix) and len(stem) > len(suffix):
            stem, prime = stem[: -len(suffix)], True
            break
    if prime and stem.startswith("d_"):
        return None
    mg = _G_RE.fullmatch(stem)
    if mg:
        layer = _num(mg.group(1)) if mg.group(1) else (("L", 0) if mg.group(2) else None)
        return Name("act", "g", layer, prime=prime, act=None)
    registry = rules.activations()
    if stem in registry and stem.casefold() not in ("none", "id"):
        entry = registry[stem]
        return Name("act", entry.name, None, prime=prime, act=entry)
    return None


def activation_name(key: str) -> Name:
    """The catalogue activation ``key`` as a name (np.tanh, \\mathrm{np.tanh})."""
    entry = rules.activations()[key]
    return Name("act", entry.name, act=entry)


def known_names(L: int) -> str:
    """A one-line list of what may be written, for "unknown name" errors."""
    acts = ", ".join(sorted(rules.activations()))
    names = ", ".join(q if q in symbols.GLOBAL else f"{q}[l]" for q in quantities())
    return (f"{names} (l = 1..{L}; also W2, "
            f"W_2, dz2), m, g[l] and g′, activations ({acts}) with ′ for the derivative, "
            "exp, log, np.dot, np.sum, np.multiply, np.power, np.where")


def _guess(ident: str) -> str:
    """A plausible quantity for an unknown name, for the example in its error (grad_w2 ->
    dW[2], h_relu -> A[1]): a gradient if it says so, its layer from its digits."""
    low = ident.casefold()
    grad = bool(re.match(r"(grad|d[a-z]*_?d|delta|d)", low))
    stem = re.sub(r"^(grad_?|dl_?d|dj_?d|d(?=[a-z]))", "", low)
    letter = "z" if low.startswith("delta") else next((c for c in stem if c in "wbza"), "a")
    digits = re.findall(r"\d+", ident)
    layer = digits[-1] if digits and len(digits[-1]) <= 3 else "1"
    return f"{'d' if grad else ''}{letter.upper() if letter != 'b' else 'b'}[{layer}]"


def unknown_names_error(idents: list[str], pos: int, text: str) -> ParseError:
    """Every name of the formula no notation reads, and how to bind them (issue 12)."""
    example = ",".join(f"{i}={_guess(i)}" for i in idents)
    if len(idents) == 1:
        head, them = f"unknown name {idents[0]!r}", "it to a network quantity"
    else:
        head, them = f"unknown names {', '.join(idents)}", "them to the network's quantities"
    return ParseError(f'{head}: bind {them}, e.g. --bind "{example}" (batch field "names")',
                      pos, text)


# -- characters ----------------------------------------------------------------------------------
def bad_character(text: str, pos: int) -> ParseError:
    """A clear error for a character no parser accepts: look-alike letters are named."""
    ch = text[pos]
    code = f"U+{ord(ch):04X}"
    try:
        uname = unicodedata.name(ch)
    except ValueError:
        uname = code
    if unicodedata.category(ch) == "Cs":
        return ParseError(f"a lone surrogate {code}: not a character (the text is not valid "
                          "Unicode)", pos, text)
    if unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cn"):
        shown = code if uname == code else f"{uname} ({code})"
        return ParseError(f"control or invisible character {shown}", pos, text)
    if unicodedata.category(ch).startswith("L"):
        last = uname.rsplit(" ", 1)[-1]
        hint = ""
        if len(last) == 1 and last.isalpha():
            latin = last if "CAPITAL" in uname else last.lower()
            hint = f"; it looks like the Latin letter '{latin}': retype it"
        return ParseError(f"the character {ch!r} is {uname}, not a letter a formula may use{hint}",
                          pos, text)
    return ParseError(f"unexpected character {ch!r} ({uname})", pos, text)


def match_at(pattern: re.Pattern[str], text: str, i: int, end: int) -> re.Match[str]:
    """``pattern`` at ``text[i:end]``, where the tokenizer has seen that its first character fits."""
    mt = pattern.match(text, i, end)
    if mt is None:  # not reached: each pattern matches the character that selected it
        raise bad_character(text, i)
    return mt


def check_text(text: object) -> None:
    """Type, emptiness and length: the first bounds, before any parsing."""
    if not isinstance(text, str):
        raise ParseError(f"a formula is text, not {type(text).__name__}", None, None)
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the input is {len(text)} characters long; at most {MAX_LENGTH} are read",
                         MAX_LENGTH, text[:MAX_LENGTH + 100])  # an excerpt is shown
    if not text.strip():
        raise ParseError("the input is empty: write an equation such as dZ1 = W2.T @ dZ2 * g1'(Z1)",
                         0, text)


def check_nesting(text: str, start: int, end: int) -> None:
    """Bracket balance and nesting depth of ``text[start:end]``, without recursion."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i in range(start, end):
        ch = text[i]
        if i > start and text[i - 1] == "\\":
            continue  # \{ \} in LaTeX are characters, not groups
        if ch in "([{":
            stack.append((ch, i))
            if len(stack) > MAX_DEPTH:
                raise ParseError(f"brackets nested more than {MAX_DEPTH} deep", i, text)
        elif ch in ")]}":
            if not stack or stack[-1][0] != pairs[ch]:
                raise ParseError(f"unmatched {ch!r}", i, text)
            stack.pop()
    if stack:
        ch, i = stack[-1]
        raise ParseError(f"unclosed {ch!r}", i, text)


def check_number(digits: str, pos: int, text: str) -> None:
    if sum(c.isdigit() for c in digits) > MAX_NUMBER_DIGITS:
        raise ParseError(f"a number with more than {MAX_NUMBER_DIGITS} digits", pos, text)
