"""LaTeX tokens: the tokenizer, its tables, and the token cursor the parser's levels share.

The LaTeX parser is one class built in levels, each calling only into itself and the levels below:
:class:`Cursor` (token access and state, here) → :class:`derive.parse.latex_scripts.ScriptMixin`
(``^{...}``, ``_{...}``, ``'``) → :class:`derive.parse.latex_names.NameMixin` (names and calls) →
:class:`derive.parse.latex._Parser` (the grammar). The grammar's two entry points, ``expr`` and
``factor``, are what a lower level may call back into; the cursor declares them abstract.

>>> [t.text for t in tokenize(r"W^{[2]\\top} ⊙ 2", 0, 15)]
['W', '^', '{', '[', '2', ']', 'top', '}', 'odot', '2', '']
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from derive.errors import ParseError
from derive.parse.build import Builder, Span, Value
from derive.parse.cursor import TokenCursor
from derive.parse.names import MAX_DEPTH, MAX_TOKENS, bad_character, check_number, match_at

SKIP = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigl", "bigr",
        "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "limits", "mathopen", "mathclose"}
UNICODE: dict[str, tuple[Literal["op", "cmd"], str]] = {
    "′": ("op", "'"), "’": ("op", "'"), "⊙": ("cmd", "odot"), "∘": ("cmd", "odot"),
    "·": ("cmd", "cdot"), "⋅": ("cmd", "cdot"), "×": ("cmd", "times"), "−": ("op", "-"),
    "ᵀ": ("cmd", "top"), "⊤": ("cmd", "top"), "σ": ("cmd", "sigma"),
    "∂": ("cmd", "partial"), "𝟙": ("cmd", "ones"), "²": ("op", "²"), "∗": ("op", "*"),
    "⊘": ("cmd", "oslash"), "λ": ("cmd", "lambda"), "Σ": ("cmd", "sum"), "∑": ("cmd", "sum"),
    "δ": ("cmd", "delta"), "∇": ("cmd", "nabla")}
OPS = "{}^_()[]'+-*/=,.<>;:"
PRODUCTS = {"*": "*", "ast": "*", "odot": "⊙", "circ": "⊙", "bullet": "⊙", "cdot": "·",
            "centerdot": "·", "times": "·", ".": "·", "/": "/", "oslash": "/", "div": "/"}
# \phi, \varphi: textbooks' name for a layer's activation (d2l's φ), read as its g
FUNC_CMDS = {"sigma": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log",
             "phi": "g", "varphi": "g"}
NAME_CMDS = {"mathrm", "operatorname", "text", "textrm", "mathit", "textit", "mathbf",
             "boldsymbol", "mathsf", "mathbb", "bm", "mathtt", "texttt", "textbf", "rm"}
# Greek letters read as quantities: δ is ∂L/∂z of its layer (textbooks' δ^{(l)}, δ^l, δ^{[l]});
# Ng's Θ^{(l)} is the weights W[l] (without the bias column the course removes)
GREEK = {"delta": "dZ", "Theta": "W"}
GREEK_NOTES = {"delta": "∂L/∂z of its layer",
               "Theta": "the weights (Ng's Θ without its bias column)"}
GREEK_CONDITIONS = {"Theta": "condition: only when Θ's bias column is left out of the product "
                             "(δ₀ removed, as the course does)"}
HATS = {"hat", "widehat"}  # \hat{y}, \hat{Y}: the prediction, A[L]
# Ng's Δ^{(l)} (the accumulator), Nielsen's Σ'(z) (a diagonal matrix), \underbrace{x}_{...}
SPECIAL_CMDS = {"Delta", "Sigma", "underbrace", "overbrace"}
# batch normalisation's names (on a network with batch norm): \gamma, \beta, \mu, \tilde{Z};
# \sigma^2 and (\sigma^{[l]})^2 are its variance, \hat{x}, \hat{z}, Z_{norm} the normalised Z
BN_CMDS = {"gamma": "gamma", "beta": "beta", "mu": "mu", "tilde": "Ztilde", "widetilde": "Ztilde"}
EPSILONS = {"epsilon", "varepsilon"}  # batch norm's ε
FACTOR_CMDS = {"frac", "dfrac", "tfrac", "sum", "partial", "nabla", "ones", "lambda",
               "hat", "widehat", "sqrt", *GREEK, *SPECIAL_CMDS, *NAME_CMDS, *FUNC_CMDS, *BN_CMDS,
               *EPSILONS}
TRANSPOSE = {"top", "intercal", "mathsf{T}"}
ELLIPSES = {"ldots", "cdots", "dots", "dotsb", "dotsm"}  # Nielsen's unrolled products: refused
# commands derive does not read, each with the nearest form it does (the message names both)
NEAREST = {
    "otimes": "an outer product is written u v^T (dZ^{[1]} (A^{[0]})^T), element-wise \\odot",
    "oplus": "a sum is written +",
    "prod": "a product over layers is written out factor by factor, or as one layer's "
            "recurrence (\\delta^l = ((w^{l+1})^T \\delta^{l+1}) \\odot \\sigma'(z^l))",
    "int": "a gradient is written as \\frac{\\partial L}{\\partial W^{[1]}} or dW^{[1]}",
    "max": "ReLU's derivative is written g'(Z^{[1]}) or (Z^{[1]} > 0)",
    "in": "a shape is not read: write the formula alone (dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^T)",
    "mathbb": "a shape is not read: write the formula alone",
    "approx": "a formula is written with =", "propto": "a formula is written with =",
    "to": "a formula is written with =", "rightarrow": "a formula is written with =",
    "Rightarrow": "each formula is checked on its own: write one per line",
    "implies": "each formula is checked on its own: write one per line",
    "forall": "a generic layer is written l (dZ^{[l]}), checked at every layer",
}


def unsupported(name: str) -> str:
    """The message for a LaTeX command derive does not read: the command, and the nearest
    form derive does read where there is one."""
    near = NEAREST.get(name)
    return f"the LaTeX command \\{name} is not read in formulas" + (f"; {near}" if near else "")


MACRO = re.compile(r"[VM]([A-Za-z])")  # the Deep Learning book's \Vx, \MW (latex_names)

TokKind = Literal["cmd", "word", "num", "op", "end"]
_COMMAND = re.compile(r"\\([A-Za-z]+|.)")
_WORD = re.compile(r"[A-Za-z]+")
_BLANK = re.compile(r"\{[\s~]*\}")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Tok:
    kind: TokKind
    text: str
    start: int
    end: int
    space: bool


def tokenize(text: str, start: int, end: int) -> list[Tok]:
    toks: list[Tok] = []
    i, space = start, False
    while i < end:
        ch = text[i]
        if ch in " \t\r\n~":
            i, space = i + 1, True
            continue
        if len(toks) >= MAX_TOKENS:
            raise ParseError(f"more than {MAX_TOKENS} tokens in one formula", i, text)
        if ch == "\\":
            mt = _COMMAND.match(text, i, end)
            if not mt:
                raise ParseError("a lone backslash", i, text)
            name = mt.group(1)
            i = mt.end()
            blank = _BLANK.match(text, i, end)
            if name in NAME_CMDS and blank:  # \text{ }: a space
                i, space = blank.end(), True
                continue
            if name in SKIP:
                if name in ("left", "right") and i < end and text[i] == ".":
                    i += 1
                space = True
                continue
            if name in ("{", "}"):
                toks.append(Tok("op", "(" if name == "{" else ")", mt.start(), i, space))
            elif name == "prime" and not (toks and toks[-1].text in ("^", "{")):
                toks.append(Tok("op", "'", mt.start(), i, space))  # \sigma\prime(z): g′(z)
            elif name.isalpha():
                toks.append(Tok("cmd", name, mt.start(), i, space))
            else:
                raise ParseError(unsupported(name), mt.start(), text)
        elif ch.isascii() and ch.isalpha():
            mt = match_at(_WORD, text, i, end)
            toks.append(Tok("word", mt.group(), i, mt.end(), space))
            i = mt.end()
        elif ch.isascii() and ch.isdigit():
            mt = match_at(_NUMBER, text, i, end)
            check_number(mt.group(), i, text)
            toks.append(Tok("num", mt.group(), i, mt.end(), space))
            i = mt.end()
        elif ch in OPS:
            toks.append(Tok("op", ch, i, i + 1, space))
            i += 1
        elif ch in UNICODE:
            kind, val = UNICODE[ch]
            toks.append(Tok(kind, val, i, i + 1, space))
            i += 1
        else:
            raise bad_character(text, i)
        space = False
    toks.append(Tok("end", "", end, end, space))
    return toks


class Cursor(TokenCursor[Tok], ABC):
    """The tokens of one formula, the position in them (derive.parse.cursor's, shared with the
    text pre-pass), and the parser's state."""

    def __init__(self, b: Builder, toks: list[Tok]):
        super().__init__(b, toks)
        self.depth = 0
        self.in_call = [False]  # inside call arguments ("1,5" is then two arguments, not 1.5)
        self.in_sum = 0  # inside \sum (where an example index (i) may appear)
        self.example_seen = False
        self.diagonals: list[Value] = []  # Nielsen's Σ′(z): diagonal matrices (latex_textbook)
        self.jacobians: list[tuple[Value, Value, Span]] = []  # ∂P/∂Q: stand-in, Q, span
        # index form (latex_index): the side read, the left side's indices, \sum's letters
        self.left_side = False
        self.index_mode = False
        self.lhs_letters: list[str] = []
        self.lhs_target_letters: tuple[str, ...] = ()
        self.sum_letters: list[str | None] = []
        self.any_weight: list[str] = []  # w_k on the left: any weight, its one index letter

    # -- the grammar's entry points (derive.parse.latex._Parser) -------------------------------
    @abstractmethod
    def expr(self) -> tuple[Value, Span]:
        """A whole expression: terms joined by + and -."""

    @abstractmethod
    def factor(self) -> tuple[Value, Span]:
        """One operand with its scripts."""

    @abstractmethod
    def jux(self) -> tuple[Value, Span]:
        """Factors side by side (a matrix product)."""

    # -- hooks a higher level fills in (derive.parse.latex_textbook) ---------------------------
    def running_gradient(self, start: int, end: int) -> tuple[Value, Span]:
        """The Deep Learning book's ``\\Vg``."""
        raise self.err("\\Vg is not read here", self.peek())

    def entry(self, v: Value, letters: list[str], span: Span, where: Tok) -> Value:
        """A quantity written with entry indices (a^l_j, w^l_{jk}: latex_index)."""
        raise self.err("index form is not read here", where)

    def entry_gradient(self, q: Value, span: Span, pos: int) -> Value:
        """∂C/∂q for an entry q (latex_index)."""
        raise self.err("index form is not read here", self.peek())

    def ix_sum(self, letter: str, t: Tok) -> tuple[Value, Span]:
        """``\\sum_i`` over an entry index (latex_index)."""
        raise self.err("index form is not read here", t)

    def braces_transparent(self) -> bool:
        """Drop an ``\\underbrace``'s braces and label at the cursor where they change nothing
        (latex_textbook); whether it did."""
        return False

    def regulariser(self, q: Value, t: Tok) -> tuple[Value, Span]:
        """``\\nabla_Q \\Omega(\\theta)``."""
        raise self.err("\\Omega is not read here", t)

    # -- token access (peek, next, err: derive.parse.cursor) --------------------------------
    def unexpected(self, t: Tok) -> ParseError:
        """``unexpected ...`` for a token no rule reads here (``;`` and ``:`` named as the
        characters they are: they are read only inside a cost's arguments, J(W,b;x,y))."""
        if t.kind == "op" and t.text in ";:":
            return bad_character(self.b.text, t.start)
        if t.kind == "cmd" and t.text in ELLIPSES:
            return self.err(f"\\{t.text} (a product or sum written with an ellipsis) is not "
                            "read: write every factor, or the recurrence for one layer "
                            "(\\delta^l = \\Sigma'(z^l) (w^{l+1})^T \\delta^{l+1})", t)
        return self.err(f"unexpected {t.text!r}" if t.kind != "cmd" else
                        unsupported(t.text).replace(" in formulas", " here"), t)

    def expect(self, text: str) -> Tok:
        t = self.next()
        if t.kind == "op" and t.text in ";:" and text not in ";:":
            raise bad_character(self.b.text, t.start)
        if t.text != text or t.kind in ("end", "word", "num"):
            raise self.err(f"expected {text!r} here" if t.kind != "end" else
                           f"the formula ends where {text!r} was expected", t)
        return t

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"the formula nests more than {MAX_DEPTH} levels deep", self.peek())

    def starts_factor(self, t: Tok) -> bool:
        if t.kind in ("word", "num"):
            return True
        if t.kind == "op":
            return t.text in "({["
        return t.kind == "cmd" and (t.text in FACTOR_CMDS or bool(MACRO.fullmatch(t.text)))
