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

from typing import Literal

import sympy as sp

from derive.errors import ParseError
from derive.parse.build import Const, Span, Value
from derive.parse.latex_tokens import TRANSPOSE, Cursor, Tok
from derive.parse.names import LayerIndex, parse_layer_index

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

    def layer_of(self, toks: list[Tok], where: Tok) -> LayerIndex:
        text = "".join(u.text for u in toks).strip("[]")
        if text == "prev":  # A_{prev}: the course's layer below the current one
            return ("prev", -1)
        index = parse_layer_index(text)
        if index is None:
            raise self.err(f"cannot read {text!r} as a layer (a number, l, L, l-1, L-1)", where)
        return index

    def sup_items(self, toks: list[Tok], where: Tok) -> list[SupItem]:
        items: list[SupItem] = []
        k = 0
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
