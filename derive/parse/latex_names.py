"""Names and function calls in LaTeX: ``dZ^{[1]}``, ``W_2^T``, ``g^{[l]\\prime}(Z^{[l]})``,
``\\operatorname{ReLU}'(Z)``, ``\\mathrm{np.sum}(dZ, axis=1, keepdims=True)``, ``e^{-Z}``.

A level of the LaTeX parser (see :mod:`derive.parse.latex_tokens`): it reads scripts through
:class:`derive.parse.latex_scripts.ScriptMixin` and calls back into the grammar only through
``expr`` and ``factor``.

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> from derive.parse.latex import parse
>>> text = r"g^{[1]\\prime}(Z^{[1]})"
>>> parse(Builder(Network(layers=[3, 3, 1]), text), 0, len(text)).layer
1
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from derive.core import expr as E
from derive.errors import ParseError
from derive.network.spec import m
from derive.parse.build import OnesVec, Span, Value
from derive.parse.latex_batchnorm import BatchNormMixin
from derive.parse.latex_layers import renumbered
from derive.parse.latex_scripts import SupItem
from derive.parse.latex_state import state
from derive.parse.latex_tokens import (
    FUNC_CMDS,
    GREEK,
    GREEK_CONDITIONS,
    GREEK_NOTES,
    HATS,
    MACRO,
    NAME_CMDS,
    Tok,
)
from derive.parse.names import (
    L2_NAMES,
    LayerIndex,
    Name,
    activation_name,
    known_names,
    parse_layer_index,
    resolve_ident,
    unknown_names_error,
)

NP_LATEX = {"sum", "mean", "dot", "matmul", "multiply", "power", "exp", "log", "sqrt", "tanh"}
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs}
# the Deep Learning book's macros: \Vx a bold vector x, \MW a bold matrix W; its \Va is the
# pre-activation Z, \Vh the hidden layer's activation A, \Vg the running gradient
# (latex_textbook)
MACRO_LETTERS = {"W": "W", "b": "b", "x": "x", "y": "y", "X": "X", "Y": "Y", "a": "z", "h": "a"}
# letters textbooks use for the course's quantities (each read with a note): f the activation
# (UFLDL's f'(z), f^\prime), h the hidden activation (d2l's \mathbf{h}), o the output's
# pre-activation (d2l's \mathbf{o}), D Ng's gradient D^{(l)} of the weights
TEXTBOOK = {"f": ("g", "the layer's activation g"),
            "h": ("a", "A, the hidden layer's activation"),
            "H": ("A", "A, the hidden layer's activation"),
            "o": ("zL", "Z[L], the output layer's pre-activation"),
            "D": ("dW", "dW, Ng's D^{(l)}"),
            "s": ("aL", "A[L], the softmax output"),
            "n": ("m", "m, the number of examples"),
            "T": ("Y", "Y, the targets"),
            "t": ("y", "Y, the targets"),
            "N": ("m", "m, the number of examples")}
ENTRY = re.compile(r"[a-km-zA-KM-Z]{1,2}|\d{2}")  # an entry's indices: j, jk, 11 (not l, L)
KwValue = bool | int | str | None  # a keyword argument's value: axis=1, keepdims=True
Keywords = dict[str, tuple[KwValue, Tok]]


class NameMixin(BatchNormMixin):
    """Reading names, their scripts, and calls."""

    # -- names --------------------------------------------------------------------------------
    def read_ident(self) -> tuple[str, int, int]:
        t = self.next()
        found = self.batchnorm_ident(t)
        if found is not None:
            return found
        if t.kind == "word":
            return t.text, t.start, t.end
        if t.text in FUNC_CMDS:
            if FUNC_CMDS[t.text] == "g":
                self.b.note(f"\\{t.text} read as the layer's activation g")
            return FUNC_CMDS[t.text], t.start, t.end
        if t.text in GREEK:
            return "\\" + t.text, t.start, t.end
        if t.text in HATS:  # \hat{y}, \hat y, \hat{\Vy}: the prediction A[L]
            inner, _, end = self.read_ident() if self.peek().text != "{" else self.braced(t)
            if inner.lstrip("\\V") not in ("y", "Y"):
                raise self.err(f"\\{t.text} is read on y (\\hat{{y}}, the prediction A[L]), "
                               f"not on {inner}", t)
            self.b.note(f"{self.b.text[t.start:end]} read as A[L], the prediction")
            return ("aL" if inner[-1] == "y" else "AL"), t.start, end
        if t.kind == "cmd" and MACRO.fullmatch(t.text):  # the Deep Learning book's \Vx, \MW
            return t.text, t.start, t.end
        ident, _, end = self.braced(t)
        if t.text in ("mathbf", "mathbb", "boldsymbol", "bm") and ident == "1":
            return "𝟙", t.start, end
        return ident, t.start, end

    def braced(self, t: Tok) -> tuple[str, int, int]:
        """The name inside ``\\mathbf{...}`` (or another decoration's braces)."""
        open_ = self.expect("{")
        parts: list[str] = []
        while self.peek().text != "}":
            u = self.next()
            if u.kind == "end":
                raise self.err("unclosed '{'", open_)
            parts.append(u.text if u.kind != "cmd" else "\\" + u.text)
        end = self.next().end
        return "".join(parts), t.start, end

    def name(self) -> tuple[Value, Span]:
        ident, start, end = self.read_ident()
        if ident == "𝟙":
            return self.postfix(OnesVec(False, self.b.src((start, end))), (start, end))
        if ident == "np" and self.peek().text == "." and self.peek(1).kind == "word":
            self.next()
            f = self.next()
            ident, end = "np." + f.text, f.end
        if ident == "d" and self.peek().text == "(" and self.peek(1).text == "sigma" \
                and "batchnorm" in self.b.net.kinds:  # d(\sigma^{[1]})^{2}: dvar[1]
            self.next()
            inner, _, iend = self.read_ident()
            if inner == "var":
                found = resolve_ident("dvar")
                assert found is not None  # batch norm's dvar is a gradient
                v, span = self.decorated(found, start, iend)
                close = self.expect(")")
                return v, (start, max(span[1], close.end))
            raise self.err("d(...) is read as batch norm's d(\\sigma^{[l]})^{2}", t=self.peek())
        if ident == "d" and not self.peek().space:
            self.unbrace()
        if ident == "d" and self.peek().kind == "word" and not self.peek().space:
            u = self.next()  # d{{w}^{[l]}} (the course's notes): the braces gone, dw
            ident, end = "d" + u.text, u.end
        binding = self.b.bindings.get(ident.lstrip("\\"))
        if ident == "Vg" and binding is None:  # the Deep Learning book's running gradient
            return self.running_gradient(start, end)
        if binding is not None and binding.l2:  # c=lambda: what the bound name reads as
            value = self.b.const(self.b.l2_strength(binding.written, start), (start, end), start)
            return self.postfix(value, (start, end))
        if binding is not None:  # a bound name shadows every other reading
            if binding.expr is not None:
                bv = self.b.bound_expr(binding, (start, end), start)
                return self.postfix(bv, (start, end))
            assert binding.name is not None  # a binding is an expression or a name
            self.b.note_bound(binding)
            return self.decorated(binding.name, start, end, binding.transposed)
        if ident.startswith("np."):
            return self.np_call(ident[3:], start, end)
        if ident in L2_NAMES:  # lambd, reg: the L2 strength
            value = self.b.const(self.b.l2_strength(ident, start), (start, end), start)
            return self.postfix(value, (start, end))
        name = self.special(ident, start)
        if name is None:
            parts = _split_word(ident)
            if parts is None and self.peek().text == "(":
                raise ParseError(f"unknown name {ident!r}; known: {known_names(self.b.net.L)}",
                                 start, self.b.text)
            if parts is None:
                raise unknown_names_error(unknown_words(self.toks, self.b.bindings, ident), start,
                                          self.b.text)
            items: list[tuple[Value, Span]] = []
            pos = start
            for p, pname in parts[:-1]:
                v = self.plain(pname, (pos, pos + len(p)))
                items.append((v, (pos, pos + len(p))))
                pos += len(p)
            last, lspan = self.decorated(parts[-1][1], pos, end)
            items.append((last, lspan))
            span = (start, lspan[1])
            return self.b.juxtapose(items, start), span
        return self.decorated(name, start, end)

    def special(self, ident: str, start: int) -> Name | None:
        """What an identifier names, with LaTeX's own: δ (dZ), the book's macros (\\MW)."""
        if ident.startswith("\\") and ident[1:] in GREEK:
            self.b.note(f"{ident} read as {GREEK[ident[1:]]}, {GREEK_NOTES[ident[1:]]}")
            if ident[1:] in GREEK_CONDITIONS:
                self.b.note(GREEK_CONDITIONS[ident[1:]])
            found = resolve_ident(GREEK[ident[1:]])
            if found is not None and ident == "\\delta":  # δ is lower case: one example's error
                found = replace(found, lower=True)
            return found
        mt = MACRO.fullmatch(ident)
        if mt and mt.group(1) in MACRO_LETTERS:
            letter = MACRO_LETTERS[mt.group(1)]
            if letter != mt.group(1):
                self.b.note(f"\\{ident} read as {letter.upper()} (the Deep Learning book's "
                            f"{mt.group(1)})")
            return resolve_ident(letter)
        if ident in TEXTBOOK and (resolve_ident(ident) is None or ident == "D" and not getattr(
                self.b.net, "keep_prob", None)):  # D: dropout's mask, else Ng's D
            name, said = TEXTBOOK[ident]
            if ident in ("h", "H") and self.b.net.L == 2 and (self.peek().text not in ("^", "_") or (
                    self.peek().text == "^" and self.peek(1).text in ("T", "top"))):
                name, said = "a1", "A[1], the hidden layer's activation"  # the one hidden layer
            self.b.note(f"{ident} read as {said}")
            return resolve_ident(name)
        return resolve_ident(ident)

    def plain(self, name: Name, span: Span) -> Value:
        if name.kind == "m":
            return self.b.const(m, span, span[0])
        if name.kind == "e":
            return self.b.const(sp.E, span, span[0])
        if name.kind != "sym":
            raise self.err("a function name inside a longer word", self.peek())
        return self.b.symbol(name.base, name.layer, span, span[0], lower=name.lower)

    def decorated(self, name: Name, start: int, end: int,
                  transposed: bool = False) -> tuple[Value, Span]:
        if name.kind == "e" and self.peek().text == "^":
            hat = self.next()
            if self.peek().text == "{":
                x, xspan = self.group(hat)
            else:
                x, xspan = self.factor()
            span = (start, xspan[1])
            return self.b.power(self.plain(name, (start, end)), x, span, hat.start), span
        if name.kind in ("m", "e"):
            return self.postfix(self.plain(name, (start, end)), (start, end))
        index: LayerIndex | None = name.layer
        prime = name.prime
        post: list[tuple[SupItem, int]] = [(("T",), end)] if transposed else []
        v: Value
        nxt = self.peek()
        if nxt.kind == "num" and not nxt.space and index is None and name.kind in ("sym", "act") \
                and nxt.text.isdigit():
            self.next()
            index, end = ("num", int(nxt.text)), nxt.end
        elif nxt.text == "[" and not nxt.space and index is None and name.kind == "act" \
                and self.peek(2).text == "]":  # g[1]' (a layer in plain brackets)
            found = parse_layer_index(self.peek(1).text)
            if found is not None:
                index, end = found, self.peek(2).end
                self.i += 3
        origin = "sub"  # how the layer is written: "sub" (W_2, z2), "sup" (z^{(2)}, z^l) or
        # "bracket" (the course's [l]: never renumbered; see derive.parse.latex_layers)
        sub: tuple[list[Tok], Tok] | None = None  # a subscript: a layer, or an entry's indices
        while True:
            t = self.peek()
            if t.kind == "op" and t.text == "_" and sub is None:
                self.next()
                sub = (self.script(), t)
                end = self.toks[self.i - 1].end
            elif t.kind == "op" and t.text == "^":
                self.next()
                toks = self.script()
                end = self.toks[self.i - 1].end
                for item in self.sup_items(toks, t):
                    if item[0] == "layer" and index is None:
                        index = item[1]
                        origin = "bracket" if any(u.text == "[" for u in toks) else "sup"
                    elif item[0] == "prime" and name.kind == "act":
                        prime = True
                    elif item[0] == "example" and name.kind == "sym":
                        if not self.in_sum:
                            raise self.err("an example index (i) appears only inside \\sum", t)
                        self.example_seen = True
                    elif item[0] in ("T", "pow"):
                        post.append((item, end))
                    else:
                        raise self.err(f"cannot read this superscript on {name.base}", t)
            elif t.kind == "op" and t.text == "'" and name.kind == "act":
                self.next()
                prime, end = True, t.end
            elif t.kind == "cmd" and t.text == "top" and name.kind == "sym":
                self.next()
                end = t.end
                post.append((("T",), end))
            else:
                break
        span = (start, end)
        letters: list[str] = []
        powers = [k for k, (item, _) in enumerate(post) if item[0] == "pow"]
        if (sub is not None or name.base == "dZ" or self.index_mode) and index is None \
                and name.kind == "sym" and powers:  # δ^3, and a^3 in an entry's formula
            item = post[powers[0]][0]  # Nielsen's a^2_1, w^3_{jk}: the layer, then the entry
            if item[0] == "pow" and item[1].is_Integer and item[1] > 0:
                index, origin = ("num", int(item[1])), "sup"
                del post[powers[0]]
        if sub is not None:
            toks, t = sub
            written = "".join(u.text for u in toks if u.text != ",").strip("[]")
            unit = self.index_mode and name.base == "Y" and written.isdigit()  # y_1: unit 1
            if index is None and not unit and (parse_layer_index(written) is not None
                                               or written == "prev"
                                               or not ENTRY.fullmatch(written)):
                origin = "bracket" if any(u.text == "[" for u in toks) else "sub"
                index = self.layer_of(toks, t)
            else:  # w^l_{jk}, W_{ij}^{(l)}, x_i: an entry's indices (latex_index)
                letters = [u.text for u in toks if u.text != ","]
                letters = [c for x in letters for c in (x if x.isalpha() else [x])]
        index = renumbered(state(self.b).numbering, name.base if name.kind == "sym" else "g",
                           index, origin)
        if name.kind == "sym":
            v = self.b.symbol(name.base, index, span, start, lower=name.lower,
                              counted=not name.bound)
            if letters:
                assert sub is not None  # the letters are the subscript's
                v = self.entry(v, letters, span, sub[1])
            for item, e in post:
                v = self.apply_item(v, item, (start, e), self.peek())
            return self.postfix(v, span)
        # a function: its argument follows
        arg, aspan = self.argument(start)
        span = (start, aspan[1])
        if name.kind == "act" and not prime and self.peek().kind == "op" \
                and self.peek().text == "'":  # g(z_1)': the prime after the call
            prime, span = True, (start, self.next().end)
            self.b.note(f"{self.b.src(span)} read as the derivative {name.base}′ of its argument")
        out = self.net_output(name, index, prime, arg, span, start)
        if out is not None:
            v = out
        elif name.kind == "act":
            v = self.b.activation(Name("act", name.base, None, prime=prime, act=name.act),
                                  index, arg, span, start)
        elif name.base in ("sum", "mean"):
            v = self.b.total(arg, self.b.net.layout.example_sum_axis, True, span, start)
            self.b.note(f"condition: only when {self.b.src(span)} sums over the examples "
                        f"(axis={self.b.net.layout.example_sum_axis}, keepdims)")
        else:
            v = self.b.pointwise(FUNCTIONS[name.base], [arg], span, start)
        for item, _ in post:
            v = self.apply_item(v, item, span, self.peek())
        return self.postfix(v, span)

    def net_output(self, name: Name, index: LayerIndex | None, prime: bool, arg: Value, span: Span,
                   pos: int) -> Value | None:
        """``\\mathrm{softmax}(Z^{[2]})`` (or ``g^{[2]}(Z^{[2]})``) on a layer whose activation is
        softmax: A[2] itself (softmax is not element-wise; no other argument of it is read)."""
        if name.kind == "act" and not prime:
            arg = self.b.preactivation(arg, span)
        if name.kind != "act" or prime or not isinstance(arg, E.Sym) or arg.base != "Z" \
                or arg.layer is None or not 1 <= arg.layer <= self.b.net.L:
            return None
        act = self.b.net.activation(arg.layer)
        if act is None or act.kind != "softmax" or (name.act or act).kind != "softmax" \
                or (index is not None and self.b.layer(index, "g", pos) != arg.layer):
            return None
        self.b.note(f"{self.b.src(span)} read as A[{arg.layer}] (layer {arg.layer}'s activation "
                    "is softmax)")
        return self.b.symbol("A", ("num", arg.layer), span, pos)

    def argument(self, start: int) -> tuple[Value, Span]:
        t = self.peek()
        if t.kind == "op" and t.text == "*":  # * \underbrace{(z)}_{...}: the braces dropped
            self.i += 1
            self.braces_transparent()
            self.i -= 1
        if t.kind == "op" and t.text == "*" and self.peek(1).kind == "op" \
                and self.peek(1).text == "(":  # the course notes' {g^{[1]}}^{'} * (z^{[1]})
            self.next()
            self.b.note("the * between a function and its parenthesised argument (g' * (z)) "
                        "read as the application g'(z)")
            t = self.peek()
        if t.kind == "op" and t.text in "({":
            self.next()
            close = ")" if t.text == "(" else "}"
            self.in_call.append(False)
            v, _ = self.expr()
            self.in_call.pop()
            c = self.expect(close)
            return v, (t.start, c.end)
        if self.starts_factor(t):
            return self.factor()
        raise self.err("a function needs its argument: g'(Z^{[1]})", t)

    def call_args(self, open_: Tok) -> tuple[list[tuple[Value, Span]], Keywords]:
        pos: list[tuple[Value, Span]] = []
        kw: Keywords = {}
        self.in_call.append(True)
        while True:
            self.unwrap_word()  # \operatorname{axis}=1: the word alone
            t, t2 = self.peek(), self.peek(1)
            if t.kind == "word" and t2.text == "=":
                self.i += 2
                neg = self.peek().text == "-" and bool(self.next())
                self.unwrap_word()
                val = self.next()
                lit: KwValue = {"True": True, "False": False, "None": None}.get(val.text, val.text)
                if val.kind == "num" and val.text.isdigit():
                    lit = -int(val.text) if neg else int(val.text)
                kw[t.text] = (lit, val)
            else:
                pos.append(self.expr())
            sep = self.next()
            if sep.text == ")":
                self.in_call.pop()
                return pos, kw
            if sep.text != ",":
                raise self.err("expected ',' or ')'", sep)

    def unwrap_word(self) -> None:
        """``\\operatorname{axis}``, ``\\text{True}`` at the cursor: the word inside alone."""
        t = self.peek()
        if t.kind == "cmd" and t.text in NAME_CMDS and self.peek(1).text == "{" \
                and self.peek(2).kind == "word" and self.peek(3).text == "}":
            self.toks[self.i:self.i + 4] = [self.peek(2)]

    def np_call(self, f: str, start: int, end: int) -> tuple[Value, Span]:
        if f not in NP_LATEX:
            raise ParseError(f"np.{f} is not read in LaTeX; allowed: "
                             f"{', '.join('np.' + x for x in sorted(NP_LATEX))}", start, self.b.text)
        open_ = self.expect("(")
        args, kw = self.call_args(open_)
        span = (start, self.toks[self.i - 1].end)
        b = self.b
        if f in ("sum", "mean"):
            if len(args) != 1 or set(kw) - {"axis", "keepdims"}:
                raise self.err(f"np.{f}(x, axis=..., keepdims=...)", open_)
            written = kw["axis"][0] if "axis" in kw else None
            if not (written is None or isinstance(written, int) and written in (0, 1, -1, -2)):
                raise self.err("axis must be 0 or 1", open_)
            axis = written % 2 if written is not None else None
            keep = bool(kw["keepdims"][0]) if "keepdims" in kw else False
            v = (b.mean if f == "mean" else b.total)(args[0][0], axis, keep, span, start)
            return self.postfix(v, span)
        if kw:
            raise self.err(f"np.{f} takes no keyword arguments here", open_)
        vals = [a[0] for a in args]
        need = 2 if f in ("dot", "matmul", "multiply", "power") else 1
        if len(vals) != need:
            raise self.err(f"np.{f} takes {need} argument(s)", open_)
        if f in ("dot", "matmul"):
            v = b.matmul(vals[0], vals[1], span, start)
        elif f == "multiply":
            v = b.elementwise(vals[0], vals[1], span, start, op="*")
        elif f == "power":
            v = b.power(vals[0], vals[1], span, start)
        elif f == "tanh":
            v = b.activation(activation_name("tanh"), None, vals[0], span, start)
        else:
            v = b.pointwise(FUNCTIONS[f], vals, span, start)
        return self.postfix(v, span)


def unknown_words(toks: list[Tok], bindings: object, first: str) -> list[str]:
    """The words of a LaTeX formula that name nothing (``first`` among them), in order."""
    out: list[str] = []
    square = 0
    for k, t in enumerate(toks):
        square += (t.kind == "op" and t.text == "[") - (t.kind == "op" and t.text == "]")
        if t.kind != "word" or square > 0 or t.text in out:
            continue
        before = toks[k - 1] if k else None
        if before is not None and before.kind == "op" and before.text == "^" and t.text == "T":
            continue
        if t.text == first or (resolve_ident(t.text) is None and _split_word(t.text) is None
                               and t.text not in bindings  # type: ignore[operator]
                               and t.text not in L2_NAMES and t.text not in TEXTBOOK
                               and t.text not in ("np", "numpy", "axis", "keepdims", "True",
                                                  "False", "None")):
            out.append(t.text)
    return out or [first]


def _split_word(word: str) -> list[tuple[str, Name]] | None:
    """``mdZ`` -> [m, dZ]: a word of several names written together (longest match first)."""
    out: list[tuple[str, Name]] = []
    k = 0
    while k < len(word):
        for j in range(min(len(word), k + 12), k, -1):
            name = resolve_ident(word[k:j])
            if name is not None and name.kind in ("sym", "m") and not name.layer:
                out.append((word[k:j], name))
                k = j
                break
        else:
            return None
    return out if len(out) > 1 else None
