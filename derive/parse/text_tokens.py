"""The text tokenizer: ASCII names, numbers, a fixed set of operators and symbols; anything else
is refused with the character named (docs/parsing.md, "Characters").

>>> [t.text for t in tokenize("W2ᵀ dZ2 ⊙ g′(Z1)", 0, 16)]
['W2', 'ᵀ', 'dZ2', '⊙', 'g', "'", '(', 'Z1', ')', '']
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from derive.errors import ParseError
from derive.parse.names import MAX_TOKENS, bad_character, check_number, match_at

UNICODE = {"′": "'", "’": "'", "ʹ": "'", "ᵀ": "ᵀ", "⊤": "ᵀ", "⊙": "⊙", "∘": "⊙", "∗": "*",
           "·": "·", "⋅": "·", "×": "·", "−": "-", "–": "-", "÷": "/", "⊘": "/", "²": "²",
           "𝟙": "𝟙", "∂": "∂", "Σ": "Σ", "∑": "Σ"}
TEX = {"cdot": "·", "odot": "⊙", "circ": "⊙", "times": "·", "top": "ᵀ", "prime": "'",
       "ast": "*", "partial": "∂", "sigma": "σ", "lambda": "λ", "sum": "Σ"}
NAMES = ("σ", "λ")  # the Greek letters read as names (σ the sigmoid, λ the L2 strength)
# batch norm's names in semi-math text (docs/parsing.md): γ, β, μ, ε, σ² (the variance, not σ
# squared: σ alone is the sigmoid, and σ²(...) stays its square), Z̃ and x̂ (a letter with a
# combining tilde or circumflex), inside a name (dγ1, σ²[1], dZ̃1) as at its start
GREEK = "γβμµεϵ"
MARKS = "\u0303\u0302"  # combining tilde, combining circumflex
_NAME = re.compile(r"(?:[A-Za-z_" + GREEK + r"]|σ²(?!\())(?:[A-Za-z0-9_" + GREEK + MARKS +
                   r"]|σ²(?!\())*")
OPS2 = ("**", ">=", "<=", "==", "!=", ".*", "./", ".^")  # the last three: Octave
OPS1 = "+-*/@^()[],.=<>'"
_NUM = re.compile(r"\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_COMMAND = re.compile(r"\\([A-Za-z]+)")
TokKind = Literal["NAME", "NUM", "OP", "END"]


@dataclass(frozen=True)
class Tok:
    kind: TokKind
    text: str
    start: int
    end: int
    space: bool  # whitespace before it


def tokenize(text: str, start: int, end: int,
             joined: Mapping[int, tuple[int, str]] | None = None) -> list[Tok]:
    """Tokens of ``text[start:end]``; an unknown character is a ParseError naming it.
    ``joined`` maps a start to (end, name): a dialect's list or dict entry (``nabla_w[-l]``,
    ``grads['W1']``) read as one name."""
    toks: list[Tok] = []
    i, space = start, False
    joined = joined or {}
    while i < end:
        ch = text[i]
        if i in joined and joined[i][0] <= end:
            stop, key = joined[i]
            toks.append(Tok("NAME", key, i, stop, space))
            i, space = stop, False
            continue
        if ch in " \t\r\n":
            i, space = i + 1, True
            continue
        if ch == "\\" and text[i + 1:end].lstrip(" \t")[:1] in ("\n", "\r"):
            i, space = i + 1, True  # a line continuation, as Python reads it
            continue
        if len(toks) >= MAX_TOKENS:
            raise ParseError(f"more than {MAX_TOKENS} tokens in one formula", i, text)
        if ch.isascii() and (ch.isalpha() or ch == "_") or ch in GREEK or \
                text.startswith("σ²", i) and not text.startswith("σ²(", i):
            mt = match_at(_NAME, text, i, end)
            toks.append(Tok("NAME", mt.group().replace("µ", "μ").replace("ϵ", "ε"), i, mt.end(),
                            space))
            i = mt.end()
        elif ch.isascii() and (ch.isdigit() or (ch == "." and i + 1 < end and
                                                text[i + 1].isdigit())):
            mt = match_at(_NUM, text, i, end)
            check_number(mt.group(), i, text)
            toks.append(Tok("NUM", mt.group(), i, mt.end(), space))
            i = mt.end()
        elif ch == "\\":
            cmd = _COMMAND.match(text, i, end)
            if not cmd or cmd.group(1) not in TEX:
                raise ParseError("a LaTeX command in text: only \\cdot, \\odot, \\circ, \\times, "
                                 "\\top, \\prime, \\ast, \\partial, \\sigma, \\lambda and \\sum are read "
                                 "here "
                                 "(use LaTeX syntax for the rest)", i, text)
            sym = TEX[cmd.group(1)]
            kind: TokKind = "NAME" if sym in NAMES else "OP"
            toks.append(Tok(kind, sym, i, cmd.end(), space))
            i = cmd.end()
        elif ch in NAMES:
            toks.append(Tok("NAME", ch, i, i + 1, space))
            i += 1
        elif text.startswith(OPS2, i) and text[i:i + 2] in OPS2:
            toks.append(Tok("OP", text[i:i + 2], i, i + 2, space))
            i += 2
        elif ch in OPS1:
            toks.append(Tok("OP", ch, i, i + 1, space))
            i += 1
        elif ch in UNICODE:
            toks.append(Tok("OP", UNICODE[ch], i, i + 1, space))
            i += 1
        else:
            raise bad_character(text, i)
        space = False
    toks.append(Tok("END", "", end, end, space))
    return toks


def ast_depth_ok(tree: ast.AST, limit: int) -> bool:
    """Whether the tree nests no deeper than ``limit`` (checked without recursion)."""
    stack = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            return False
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return True


def detect_mode(flags: set[str]) -> str:
    """"math" or "numpy" from what the text uses (module docstring)."""
    if "jux" in flags or "odot" in flags:
        return "math"
    if "numpy" in flags:
        return "numpy"
    return "math" if "weak" in flags else "numpy"


__all__ = ["NAMES", "TEX", "Tok", "TokKind", "UNICODE", "ast_depth_ok", "detect_mode", "tokenize"]
