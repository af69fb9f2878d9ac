"""Scripts in LaTeX: ``^{[l]}``, ``_{2}``, ``^T``, ``^{\\top}``, ``^2``, ``'``, ``^{(i)}``, ``ᵀ``, ``²``.

A level of the LaTeX parser (see :mod:`derive.parse.latex_tokens`): reading the tokens of a
script, the items of a superscript, and the postfix operators after an operand.

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> from derive.parse.latex import parse
>>> text = r"(A^{[1]})^{2T}"
>>> parse(Builder(Network(layers=[3, 4, 1]), text), 0, len(text)).shape
(m, 4)
"""

from __future__ import annotations

import re
from typing import Literal

import sympy as sp

from derive.errors import ParseError
from derive.parse.build import Const, Span, Value
from derive.parse.latex_tokens import GREEK, HATS, NAME_CMDS, TRANSPOSE, Cursor, Tok
from derive.parse.names import LayerIndex, parse_layer_index

DECORATIONS = NAME_CMDS | HATS  # \\mathbf{W}, \\hat{y}: a name in braces after the command
NAMED_CMDS = {*GREEK, "sigma"}  # commands that are a name alone
EXAMPLE_LETTERS = ("i", "j", "n", "t", "x")  # ^{(i)}: an example's index, not a layer
SUM = re.compile(r"\d{1,3}(?:[+-]\d{1,3}){1,3}")  # a layer written as a sum, δ^{2+1}
OLD_STYLE = {"rm", "bf", "it", "sf", "tt"}  # {\rm d}: a font switch inside the braces
OUTPUT_NAMES = ("O", "o", "out", "output")  # a named output layer, dZ^{O}, a^{out}
GOODFELLOW_K = re.compile(r"k(?:[+-]\d)?")  # the Deep Learning book's layer k, k-1

# One item of a superscript: ^{[2]} is a layer, ^{(i)} an example index, ^T, ^{\prime}, ^{2}.
SupItem = (tuple[Literal["layer"], LayerIndex] | tuple[Literal["example"]] | tuple[Literal["T"]]
           | tuple[Literal["prime"]] | tuple[Literal["pow"], sp.Expr])


class ScriptMixin(Cursor):
    """Reading scripts and postfix operators."""

    def script(self) -> list[Tok]:
        """The tokens of a ^ or _ argument: a {group}, or one token (one letter of a word)."""
        t = self.next()
        if t.kind == "op" and t.text == "{":
            out: list[Tok] = []
            level = 0
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

    def unbrace(self) -> None:
        """``{w}^{[l]}``, ``{{w}^{[l]}}``, ``{\\mathbf{W}^{(2)}}^\\top``: a name (with its scripts)
        in braces, as the course's notes write it, is that name: the braces are dropped."""
        while self.peek().kind == "op" and self.peek().text == "{":
            if self.peek(1).kind == "cmd" and self.peek(1).text in OLD_STYLE \
                    and self.peek(2).kind == "word" and self.peek(3).text == "}":
                word = self.peek(2)  # {\rm d}: the old font switch, the letters alone
                self.toks[self.i:self.i + 4] = [Tok("word", word.text, word.start, word.end,
                                                    self.peek().space)]
                if self.peek(1).kind == "word" and not self.peek(1).space:  # {\rm d}z: dz
                    nxt = self.peek(1)
                    self.toks[self.i:self.i + 2] = [Tok("word", word.text + nxt.text,
                                                        word.start, nxt.end, word.space)]
                return
            j = self._close(self.i)
            if j is None or not self._name_like(self.i + 1, j):
                return
            del self.toks[j]
            del self.toks[self.i]
            # the name the braces held: drop its own inner braces as well ({{w}^{[l]}})

    def _close(self, k: int) -> int | None:
        level = 0
        for j in range(k, len(self.toks)):
            u = self.toks[j]
            if u.kind == "op" and u.text == "{":
                level += 1
            elif u.kind == "op" and u.text == "}":
                level -= 1
                if level == 0:
                    return j
        return None

    def _name_like(self, k: int, stop: int) -> bool:
        """Whether tokens k..stop-1 are one name and its scripts (no operator, no product)."""
        toks = self.toks
        if k >= stop:
            return False
        first = toks[k]
        if first.kind == "word":
            k += 1
        elif first.kind == "op" and first.text == "{":  # {{w}^{[l]}}: the inner braces too
            end = self._close(k)
            if end is None or end >= stop or not self._name_like(k + 1, end):
                return False
            k = end + 1
        elif first.kind == "cmd" and first.text in DECORATIONS and k + 1 < stop \
                and toks[k + 1].text == "{":
            end = self._close(k + 1)
            if end is None or end >= stop:
                return False
            k = end + 1
        elif first.kind == "cmd" and first.text in NAMED_CMDS:
            k += 1
        else:
            return False
        while k < stop:
            u = toks[k]
            if u.kind == "op" and u.text == "'":
                k += 1
            elif u.kind == "op" and u.text in "^_" and k + 1 < stop:
                if toks[k + 1].kind == "op" and toks[k + 1].text == "{":
                    end = self._close(k + 1)
                    if end is None or end >= stop:
                        return False
                    k = end + 1
                else:
                    k += 2
            else:
                return False
        return True

    def layer_of(self, toks: list[Tok], where: Tok) -> LayerIndex:
        text = "".join(u.text for u in toks).strip("[]")
        if text == "prev":  # A_{prev}: the course's layer below the current one
            return ("prev", -1)
        if text in OUTPUT_NAMES:  # dZ^{[out]}: the output layer
            self.b.note(f"{text} read as the output layer L")
            return ("L", 0)
        index = parse_layer_index(text)
        if index is None:
            raise self.err(f"cannot read {text!r} as a layer (a number, l, L, l-1, L-1)", where)
        return index

    def sup_items(self, toks: list[Tok], where: Tok) -> list[SupItem]:
        items: list[SupItem] = []
        k = 0
        if len(toks) > 1 and SUM.fullmatch("".join(u.text for u in toks)):  # ^{2+1}: 3
            total = sum(int(n) for n in re.findall(r"[+-]?\d+", "".join(u.text for u in toks)))
            return [("pow", sp.Integer(total))]  # added here: user text never reaches SymPy
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
                inside = "".join(x.text for x in toks[k + 1:j]) if j is not None else ""
                index = parse_layer_index(inside) if j is not None else None
                if inside in OUTPUT_NAMES:
                    index = ("L", 0)
                if j is not None and inside in ("n_l", "n_{l}", "n_L", "n_{L}"):  # UFLDL's n_l
                    self.b.note(f"^{{({inside})}} read as the output layer L (UFLDL's network "
                                "has n_l layers)")
                    items.append(("layer", ("L", 0)))
                    k = j + 1
                    continue
                if index is None and j is not None and GOODFELLOW_K.fullmatch(inside):
                    index = parse_layer_index("l" + inside[1:])  # the book's layer k
                    assert index is not None  # l, l-1, l+1 are layer indices
                    self.b.note(f"^{{({inside})}} read as the layer l{inside[1:]} (the Deep "
                                "Learning book's k is a generic layer)")
                    items.append(("layer", index))
                elif index is not None:  # ^{(l)}, ^{(2)}, ^{(l+1)}: a layer (textbooks')
                    self.b.note(f"^{{({inside})}} read as the layer {inside} (a layer in "
                                "parentheses, as textbooks write it; an example is (i))")
                    items.append(("layer", index))
                elif j is not None and j == k + 2 and toks[k + 1].kind == "word" \
                        and toks[k + 1].text in EXAMPLE_LETTERS:
                    items.append(("example",))
                else:
                    raise self.err(f"cannot read ({inside}) in a superscript: a layer is (l), "
                                   "(2), (l+1) or [l], an example (i)", u)
                k = (j if j is not None else k) + 1
                continue
            if u.kind == "word" and u.text in OUTPUT_NAMES:  # dZ^{O}, a^{out}: the output
                self.b.note(f"^{{{u.text}}} read as the output layer L")
                items.append(("layer", ("L", 0)))
                k += 1
                continue
            if u.kind == "word" and u.text in ("l", "L"):  # Nielsen's z^l, w^{l+1}, a^{L-1}
                j = k + 1
                if j + 1 < len(toks) and toks[j].text in "+-" and toks[j + 1].kind == "num":
                    j += 2
                index = parse_layer_index("".join(x.text for x in toks[k:j]))
                if index is None:  # not reached: l, L and l±k are layer indices
                    raise self.err("cannot read this layer index", u)
                items.append(("layer", index))
                k = j
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

    def postfix(self, v: Value, span: Span) -> tuple[Value, Span]:
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

    def apply_item(self, v: Value, item: SupItem, span: Span, where: Tok) -> Value:
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

    def group(self, t: Tok) -> tuple[Value, Span]:
        """A {group} (its braces in the span), else one factor."""
        open_ = self.peek()
        if open_.text != "{":
            return self.factor()
        self.next()
        self.in_call.append(False)
        v, _ = self.expr()
        self.in_call.pop()
        close = self.expect("}")
        return v, (open_.start, close.end)
