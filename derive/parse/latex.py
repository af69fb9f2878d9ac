"""LaTeX into expressions: our own tokenizer and recursive-descent parser over the symbol table.

Why not latex2sympy2 or SymPy's ``parse_latex``: they read ``W^{[2]}`` as a power, drop ``^T``
and turn juxtaposition, ``*`` and ``\\cdot`` into one commutative product (docs/parsing.md).

Grammar (juxtaposition binds tighter than the written products, as in the course's notation)::

    expr    := ['-'] term (('+' | '-') term)*
    term    := jux (('\\odot' | '\\circ' | '*' | '\\ast' | '\\cdot' | '\\times' | '/') jux)*
    jux     := factor factor*                   (side by side: a matrix product)
    factor  := atom (^{...} | _{...} | ' | ᵀ)*
    atom    := number | name | (expr) | {expr} | \\frac{..}{..} | \\sum_{i=1}^{m} jux
             | \\mathrm{..} | \\operatorname{..} | \\mathbf{1} | \\sigma | \\exp | \\log | ...

``\\cdot`` is resolved by shapes; ``\\frac`` of two matrices and ``*`` are element-wise and need
equal shapes; ``A^{[1]2}`` and ``(A^{[1]})^2`` are element-wise squares (notes say so).

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> text = r"\\frac{1}{m} dZ^{[1]} X^T"
>>> e = parse(Builder(Network(layers=[3, 3, 1]), text), 0, len(text))
>>> e.shape, type(e).__name__, e.src
((3, 3), 'Scale', '\\\\frac{1}{m} dZ^{[1]} X^T')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from derive.core import expr as E
from derive.errors import ParseError
from derive.network.spec import m
from derive.parse.build import Builder, Const, OnesVec, Value
from derive.parse.latex_names import FUNC_CMDS, NameMixin
from derive.parse.names import (
    MAX_DEPTH,
    MAX_TOKENS,
    bad_character,
    check_number,
    parse_layer_index,
)

SKIP = {",", ";", ":", "!", " ", "quad", "qquad", "left", "right", "big", "Big", "bigl", "bigr",
        "Bigl", "Bigr", "bigg", "Bigg", "displaystyle", "limits", "mathopen", "mathclose"}
UNICODE = {"′": ("op", "'"), "’": ("op", "'"), "⊙": ("cmd", "odot"), "∘": ("cmd", "odot"),
           "·": ("cmd", "cdot"), "⋅": ("cmd", "cdot"), "×": ("cmd", "times"), "−": ("op", "-"),
           "ᵀ": ("cmd", "top"), "⊤": ("cmd", "top"), "σ": ("cmd", "sigma"),
           "∂": ("cmd", "partial"), "𝟙": ("cmd", "ones"), "²": ("op", "²"), "∗": ("op", "*"),
           "⊘": ("cmd", "oslash")}
OPS = "{}^_()[]'+-*/=,.<>"
PRODUCTS = {"*": "*", "ast": "*", "odot": "⊙", "circ": "⊙", "cdot": "·", "times": "·",
            "/": "/", "oslash": "/", "div": "/"}
NAME_CMDS = {"mathrm", "operatorname", "text", "textrm", "mathit", "textit", "mathbf",
             "boldsymbol", "mathsf", "mathbb", "bm", "mathtt", "texttt"}
FACTOR_CMDS = {"frac", "dfrac", "tfrac", "sum", "partial", "ones", *NAME_CMDS, *FUNC_CMDS}
TRANSPOSE = {"top", "intercal", "mathsf{T}"}


@dataclass(frozen=True)
class Tok:
    kind: str  # cmd, word, num, op, end
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
            mt = re.compile(r"\\([A-Za-z]+|.)").match(text, i, end)
            if not mt:
                raise ParseError("a lone backslash", i, text)
            name = mt.group(1)
            i = mt.end()
            if name in SKIP:
                if name in ("left", "right") and i < end and text[i] == ".":
                    i += 1
                space = True
                continue
            if name in ("{", "}"):
                toks.append(Tok("op", "(" if name == "{" else ")", mt.start(), i, space))
            elif name.isalpha():
                toks.append(Tok("cmd", name, mt.start(), i, space))
            else:
                raise ParseError(f"the LaTeX command \\{name} is not read in formulas",
                                 mt.start(), text)
        elif ch.isascii() and ch.isalpha():
            mt = re.compile(r"[A-Za-z]+").match(text, i, end)
            toks.append(Tok("word", mt.group(), i, mt.end(), space))
            i = mt.end()
        elif ch.isascii() and ch.isdigit():
            mt = re.compile(r"\d+(?:\.\d+)?").match(text, i, end)
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


class _Parser(NameMixin):
    def __init__(self, b: Builder, toks: list[Tok]):
        self.b, self.toks, self.i = b, toks, 0
        self.depth = 0
        self.in_call = [False]
        self.in_sum = 0
        self.example_seen = False

    # -- token access -----------------------------------------------------------------------
    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return t

    def err(self, message: str, t: Tok) -> ParseError:
        return ParseError(message, t.start, self.b.text)

    def expect(self, text: str) -> Tok:
        t = self.next()
        if t.text != text or t.kind in ("end", "word", "num"):
            raise self.err(f"expected {text!r} here" if t.kind != "end" else
                           f"the formula ends where {text!r} was expected", t)
        return t

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"the formula nests more than {MAX_DEPTH} levels deep", self.peek())

    # -- grammar ----------------------------------------------------------------------------
    def expr(self) -> tuple[Value, tuple[int, int]]:
        v, span = self.signed()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.next()
            r, rspan = self.term()
            span = (span[0], rspan[1])
            v = self.b.add(v, r, span, op.start, minus=op.text == "-")
        return v, span

    def signed(self) -> tuple[Value, tuple[int, int]]:
        t = self.peek()
        if t.kind == "op" and t.text in "+-":
            self.enter()
            self.next()
            v, span = self.signed()
            self.depth -= 1
            span = (t.start, span[1])
            return (self.b.negate(v, span, t.start) if t.text == "-" else v), span
        return self.term()

    def term(self) -> tuple[Value, tuple[int, int]]:
        v, span = self.jux()
        while True:
            t = self.peek()
            key = t.text if t.kind in ("op", "cmd") else None
            if key not in PRODUCTS or (t.kind == "op" and key not in "*/"):
                return v, span
            self.next()
            r, rspan = self.jux()
            span, op, b = (span[0], rspan[1]), PRODUCTS[key], self.b
            if op == "*" or op == "⊙":
                v = b.elementwise(v, r, span, t.start, op=op)
            elif op == "·":
                v = b.cdot(v, r, span, t.start, sign="\\" + key if key != "·" else "·")
            else:
                v = b.divide(v, r, span, t.start)

    def starts_factor(self, t: Tok) -> bool:
        if t.kind in ("word", "num"):
            return True
        if t.kind == "op":
            return t.text in "({"
        return t.kind == "cmd" and t.text in FACTOR_CMDS

    def jux(self) -> tuple[Value, tuple[int, int]]:
        items = [self.factor()]
        while self.starts_factor(self.peek()):
            items.append(self.factor())
        if len(items) == 1:
            return items[0]
        span = (items[0][1][0], items[-1][1][1])
        return self.b.juxtapose(items, items[0][1][0]), span

    def factor(self) -> tuple[Value, tuple[int, int]]:
        self.enter()
        t = self.peek()
        if t.kind == "word" or (t.kind == "cmd" and t.text in NAME_CMDS | set(FUNC_CMDS)):
            v, span = self.name()
        else:
            v, span = self.atom()
            v, span = self.postfix(v, span)
        self.depth -= 1
        return v, span

    def atom(self) -> tuple[Value, tuple[int, int]]:
        t = self.next()
        if t.kind == "num":
            return self.number(t)
        if t.kind == "op" and t.text in "({":
            close = ")" if t.text == "(" else "}"
            self.in_call.append(False)
            if self.peek().text == close:
                raise self.err("empty brackets", t)
            v, _ = self.expr()
            self.in_call.pop()
            c = self.expect(close)
            return v, (t.start, c.end)
        if t.kind == "cmd":
            if t.text in ("frac", "dfrac", "tfrac"):
                return self.frac(t)
            if t.text == "sum":
                return self.sum(t)
            if t.text == "partial":
                return self.partial(t)
            if t.text == "ones":
                return OnesVec(False, self.b.src((t.start, t.end))), (t.start, t.end)
        if t.kind == "end":
            raise self.err("the formula ends where an operand was expected", t)
        raise self.err(f"unexpected {t.text!r}" if t.kind != "cmd" else
                       f"the LaTeX command \\{t.text} is not read in formulas", t)

    def number(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        text, end = t.text, t.end
        nxt, after = self.peek(), self.peek(1)
        if (not self.in_call[-1] and nxt.text == "," and not nxt.space and after.kind == "num"
                and not after.space and "." not in text):
            self.i += 2
            text, end = f"{text}.{after.text}", after.end
            check_number(text, t.start, self.b.text)
            self.b.note(f"{self.b.text[t.start:end]} read as the decimal number {text}")
        value = sp.Rational(text)
        slash, den = self.peek(), self.peek(1)
        if slash.text == "/" and slash.kind == "op" and (den.kind == "num" or (
                den.kind == "word" and den.text == "m")) and self.peek(2).text not in "^_(":
            self.i += 2
            value = value / (sp.Rational(den.text) if den.kind == "num" else m)
            if value.has(sp.zoo):
                raise self.err("division by zero", slash)
            end = den.end
        return self.b.const(value, (t.start, end), t.start), (t.start, end)

    # -- scripts ------------------------------------------------------------------------------
    def script(self) -> list[Tok]:
        """The tokens of a ^ or _ argument: a {group}, or one token (one letter of a word)."""
        t = self.next()
        if t.kind == "op" and t.text == "{":
            out, level = [], 0
            while True:
                u = self.next()
                if u.kind == "end":
                    raise self.err("unclosed '{'", t)
                if u.text == "{" and u.kind == "op":
                    level += 1
                elif u.text == "}" and u.kind == "op":
                    if level == 0:
                        return out
                    level -= 1
                out.append(u)
        if t.kind == "word" and len(t.text) > 1:  # ^Ty is ^{T} y: split the word in the list
            first = Tok("word", t.text[0], t.start, t.start + 1, t.space)
            self.toks[self.i - 1] = first
            self.toks.insert(self.i, Tok("word", t.text[1:], t.start + 1, t.end, False))
            return [first]
        if t.kind == "end":
            raise self.err("the formula ends after ^ or _", t)
        return [t]

    def layer_of(self, toks: list[Tok], where: Tok):
        text = "".join(u.text for u in toks).strip("[]")
        index = parse_layer_index(text)
        if index is None:
            raise self.err(f"cannot read {text!r} as a layer (a number, l, L, l-1, L-1)", where)
        return index

    def sup_items(self, toks: list[Tok], where: Tok) -> list[tuple]:
        items, k = [], 0
        while k < len(toks):
            u = toks[k]
            if u.text == "[" and u.kind == "op":
                j = next((j for j in range(k, len(toks)) if toks[j].text == "]"), None)
                if j is None:
                    raise self.err("unclosed '['", u)
                items.append(("layer", self.layer_of(toks[k + 1:j], u)))
                k = j + 1
                continue
            if u.text == "(" and u.kind == "op":
                j = next((j for j in range(k, len(toks)) if toks[j].text == ")"), None)
                if j is None or j != k + 2 or toks[k + 1].kind != "word":
                    raise self.err("an example index is written (i)", u)
                items.append(("example",))
                k = j + 1
                continue
            if (u.kind == "word" and u.text == "T") or (u.kind == "cmd" and u.text in TRANSPOSE):
                items.append(("T",))
            elif (u.kind == "cmd" and u.text == "prime") or u.text == "'":
                items.append(("prime",))
            elif u.kind == "num":
                items.append(("pow", sp.Rational(u.text)))
            elif u.text == "-" and k + 1 < len(toks) and toks[k + 1].kind == "num":
                items.append(("pow", -sp.Rational(toks[k + 1].text)))
                k += 1
            elif u.kind == "cmd" and u.text in ("mathsf", "mathrm", "text") and k + 3 < len(
                    toks) and toks[k + 2].text == "T":
                items.append(("T",))
                k += 3
            else:
                raise self.err(f"cannot read {u.text!r} in a superscript (expected [l], T, "
                               "\\top, \\prime, (i) or a power)", u)
            k += 1
        return items

    def postfix(self, v: Value, span, allow_layer: bool = False):
        """^T, ^2, ' and ᵀ after an operand that is not a name."""
        while True:
            t = self.peek()
            if t.kind == "op" and t.text == "^":
                self.next()
                save = self.i
                try:
                    items = self.sup_items(self.script(), t)
                except ParseError:
                    self.i = save  # not T, ′ or a number: an expression, as in 2^{k} or e^{-Z}
                    x, xspan = self.group(t) if self.peek().text == "{" else self.factor()
                    span = (span[0], xspan[1])
                    v = self.b.power(v, x, span, t.start)
                    continue
                for item in items:
                    span = (span[0], self.toks[self.i - 1].end)
                    v = self.apply_item(v, item, span, t)
            elif t.kind == "cmd" and t.text == "top":
                self.next()
                span = (span[0], t.end)
                v = self.b.transpose(v, span)
            elif t.kind == "op" and t.text == "²":
                self.next()
                span = (span[0], t.end)
                v = self.b.power(v, Const(sp.Integer(2)), span, t.start)
            elif t.kind == "op" and t.text == "'":
                raise self.err("a prime ′ follows an activation: g′(Z), \\sigma'(Z)", t)
            else:
                return v, span

    def apply_item(self, v: Value, item: tuple, span, where: Tok) -> Value:
        if item[0] == "T":
            return self.b.transpose(v, span)
        if item[0] == "pow":
            return self.b.power(v, Const(item[1]), span, where.start)
        if item[0] == "example":
            if not self.in_sum:
                raise self.err("an example index (i) appears only inside \\sum_i", where)
            self.example_seen = True
            return v
        raise self.err("a layer index or prime belongs right after a name", where)

    # -- fractions, sums, ∂ -------------------------------------------------------------------
    def group(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        open_ = self.peek()
        if open_.text != "{":
            return self.factor()
        self.next()
        self.in_call.append(False)
        v, _ = self.expr()
        self.in_call.pop()
        close = self.expect("}")
        return v, (open_.start, close.end)

    def is_dL(self) -> int:
        """Tokens of a derivative numerator (∂L, dL, ∂J, ∂\\mathcal{L}, d\\ell) at the cursor."""
        a, b_, c = self.peek(), self.peek(1), self.peek(2)
        if a.kind == "word" and a.text in ("dL", "dJ"):
            return 1
        if a.kind == "word" and a.text == "d" and b_.kind == "word" and b_.text in ("L", "J"):
            return 2
        if (a.kind == "cmd" and a.text == "partial") or (a.kind == "word" and a.text == "d"):
            if b_.kind == "word" and b_.text in ("L", "J") or b_.text == "ell":
                return 2
            if b_.text == "mathcal" and c.text == "{":
                return 5
        return 0

    def frac(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        if self.peek().text == "{":
            save = self.i
            self.next()
            n = self.is_dL()
            if n and self.toks[self.i + n].text == "}":
                self.i += n + 1
                if self.next().text != "{":
                    raise self.err("\\frac needs two {groups}", t)
                q, _ = self.derivative_denominator(t)
                close = self.expect("}")
                span = (t.start, close.end)
                return self.b.gradient_of(q, span, t.start), span
            self.i = save
        num, _ = self.group(t)
        den, dspan = self.group(t)
        span = (t.start, dspan[1])
        if isinstance(num, E.Expr) and isinstance(den, E.Expr):
            self.b.note(f"{self.b.src(span)} of two matrices read element-wise (⊘)")
        return self.b.divide(num, den, span, t.start), span

    def derivative_denominator(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        u = self.peek()
        if u.kind == "cmd" and u.text == "partial":
            self.next()
            return self.factor()
        if u.kind == "word" and u.text.startswith("d") and len(u.text) > 1:
            self.next()
            rest = Tok("word", u.text[1:], u.start + 1, u.end, False)
            self.toks.insert(self.i, rest)
            return self.factor()
        if u.kind == "word" and u.text == "d":
            self.next()
            return self.factor()
        raise self.err("below a derivative's bar write ∂Z^{[1]} or dZ_1", u)

    def partial(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        self.i -= 1
        n = self.is_dL()
        if not n:
            raise self.err("∂ is read as \\partial L / \\partial Q", t)
        self.i += n
        self.expect("/")
        q, qspan = self.derivative_denominator(t)
        span = (t.start, qspan[1])
        return self.b.gradient_of(q, span, t.start), span

    def sum(self, t: Tok) -> tuple[Value, tuple[int, int]]:
        for _ in range(2):
            if self.peek().text in ("_", "^") and self.peek().kind == "op":
                self.next()
                self.script()
        self.in_sum += 1
        seen, self.example_seen = self.example_seen, False
        body, bspan = self.jux()
        self.in_sum -= 1
        span = (t.start, bspan[1])
        if not self.example_seen:
            self.b.note(f"{self.b.src(span)}: \\sum read as the sum over the m examples")
        self.example_seen = seen
        axis = 1 if self.b.net.convention == "columns" else 0
        return self.b.total(body, axis, True, span, t.start), span


def parse(b: Builder, start: int, end: int) -> Value:
    """Parse ``b.text[start:end]`` as LaTeX (mathematical notation: strict element-wise)."""
    b.mode = "math"
    p = _Parser(b, tokenize(b.text, start, end))
    v, _ = p.expr()
    t = p.peek()
    if t.kind != "end":
        raise p.err(f"unexpected {t.text!r}" if t.kind != "cmd" else
                    f"the LaTeX command \\{t.text} is not read here", t)
    return v
