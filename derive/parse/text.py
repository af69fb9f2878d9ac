"""numpy-style and semi-math text into expressions: a pre-pass, then Python's ``ast``, whitelisted.

The pre-pass tokenizes the user's text itself (ASCII names, numbers, a fixed set of operators and
symbols; anything else is refused with the character named) and writes a Python expression in
which every name the user wrote has already been resolved against the network and replaced by a
placeholder ``_pN``; so ``ast.parse(mode="eval")`` only decides operator precedence, and the walker
accepts a fixed set of node types, ``np.`` functions and methods. Nothing is evaluated by Python.

Rewrites of the pre-pass (semi-math text): ``W[2]T``, ``W2ᵀ``, ``X^T`` -> transpose; ``dZ^[1]``,
``dZ_1`` -> layer; ``g1'(Z1)``, ``g′``, ``σ′``, ``relu'`` -> derivative; ``⊙ ∘`` -> element-wise;
``· ⋅ × \\cdot`` -> resolved by shapes; ``−`` -> minus; ``A^2``, ``A²`` -> power; ``dL/dZ1``,
``∂L/∂Z1`` -> dZ[1]; ``1/m`` -> one factor; a run of operands side by side -> one matrix product,
which binds tighter than ``*``, ``⊙``, ``/`` and ``@``. Octave: a text with ``.*``, ``./`` or ``.^``
reads ``*`` as the matrix product and ``'`` after a quantity as its transpose.

Which semantics (see docs/parsing.md): the text is *mathematical* (``*`` and ``+`` need equal
shapes) if it uses juxtaposition or ⊙/∘; otherwise *numpy* (``*`` and ``+`` broadcast) if it uses
``np.``, ``@``, ``.T``, ``**`` or keyword arguments; otherwise mathematical if it uses ᵀ, ^T, [l]T,
primes, ·, ² or ^; plain Python-like text (``A2 - Y``) is numpy.

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> text = "np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"
>>> b = Builder(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"]), text, current=1)
>>> e = parse(b, 0, len(text))
>>> b.mode, e.shape
('numpy', (3, m))
"""

from __future__ import annotations

import ast
import keyword
import re
from typing import Literal

from derive.errors import ParseError
from derive.network.symbols import GLOBAL
from derive.parse.bindings import Binding
from derive.parse.build import Builder, Span, Value
from derive.parse.dialects import FUNCS, compounds
from derive.parse.names import (
    L2_NAMES,
    MAX_DEPTH,
    LayerIndex,
    Name,
    below_bar,
    check_number,
    known_names,
    parse_layer_index,
    resolve_ident,
    unknown_names_error,
)
from derive.parse.text_math import BINOPS, Cursor
from derive.parse.text_tokens import Tok, ast_depth_ok, detect_mode, tokenize
from derive.parse.unknown import entry_at, unknown_idents
from derive.parse.walker import METHODS, NP_DTYPES, Entry, Piece, Walker

OCTAVE = (".*", "./", ".^")  # Octave's element-wise operators: then * is a matrix product, ' ᵀ
NP_FUNCS = {"dot", "matmul", "multiply", "divide", "add", "subtract", "sum", "mean", "power",
            "square", "sqrt", "exp", "log", "tanh", "abs", "where", "int64", "int32", "int_",
            "float64", "float32", "float_", "array", "asarray", "transpose", "ones_like",
            "zeros_like", "ones", "zeros", "maximum", "heaviside", "greater", "greater_equal",
            "less", "less_equal", "cosh", "copy", "outer"}
RAW = {"True", "False", "None", "float", "int", "len"}
# One element of a run the pre-pass collects: an operator ("o") or an operand ("x"), as pieces
# of Python text with the input span it came from.
Elem = tuple[Literal["o", "x"], list[Piece], Span]


class _Prepass(Cursor):
    """Tokens -> a Python expression with placeholders, plus the placeholder table."""

    def __init__(self, b: Builder, toks: list[Tok]):
        super().__init__(b, toks)
        self.flags: set[str] = set()
        self.depth = 0
        self.sizes = 0  # inside .reshape(...): its arguments are sizes, which derive does not read
        self.octave = any(t.kind == "OP" and t.text in OCTAVE for t in toks)

    # -- grammar ----------------------------------------------------------------------------
    def run(self) -> list[Piece]:
        ps = self.seq(False)
        t = self.peek()
        if t.kind != "END":
            raise self.err(f"unexpected {t.text!r}", t)
        return ps

    def seq(self, in_call: bool, comma: bool = False) -> list[Piece]:
        elems: list[Elem] = []
        while True:
            t = self.peek()
            if t.kind == "END" or t.text in (")", "]") or ((in_call or comma) and t.text == ","):
                break
            if t.kind == "OP" and t.text in BINOPS:
                self.next()
                if t.text == "⊙":
                    self.flags.add("odot")
                elif t.text == "·":
                    self.flags.add("weak")
                elif t.text in ("@", ".*", "./"):
                    self.flags.add("numpy")
                py = "@" if t.text == "*" and self.octave else BINOPS[t.text]
                elems.append(("o", [(py, t.start, t.end)], (t.start, t.end)))
            else:
                ps, span = self.operand(in_call)
                elems.append(("x", ps, span))
        for j, el in enumerate(elems):
            if el[0] != "o":
                continue
            op = el[1][0]
            nxt = elems[j + 1] if j + 1 < len(elems) else None
            if nxt is None:
                raise ParseError("the formula ends where an operand was expected after "
                                 f"{self.b.text[op[1]:op[2]]!r}", op[1], self.b.text)
            if nxt[0] == "o" and nxt[1][0][0] not in ("-", "+"):
                raise ParseError("two operators in a row", nxt[1][0][1], self.b.text)
        out: list[Piece] = []
        k = 0
        while k < len(elems):
            if elems[k][0] == "o":
                out += elems[k][1]
                k += 1
                continue
            run = [elems[k]]
            while k + 1 < len(elems) and elems[k + 1][0] == "x":
                k += 1
                run.append(elems[k])
            k += 1
            if len(run) == 1:
                out += run[0][1]
                continue
            self.flags.add("jux")
            s0, e1 = run[0][2][0], run[-1][2][1]
            out.append(("_jx(", s0, s0))
            for j, r in enumerate(run):
                if j:
                    out.append((", ", r[2][0], r[2][0]))
                out += r[1]
            out.append((")", e1, e1))
        return out

    def operand(self, in_call: bool) -> tuple[list[Piece], Span]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.err(f"the formula nests more than {MAX_DEPTH} levels deep", self.peek())
        t = self.next()
        if t.kind == "NUM":
            ps, end = self.number(t, in_call)
        elif t.text == "(" and t.kind == "OP":
            inner = self.seq(False, comma=True)
            while self.peek().text == ",":  # a tuple: only a shape, np.ones((m, 1)), reads one
                c = self.next()
                inner += [(", ", c.start, c.end), *self.seq(False, comma=True)]
            close = self.expect(")")
            ps, end = [("(", t.start, t.start), *inner, (")", close.end, close.end)], close.end
        elif t.kind == "NAME":
            ps, end = self.name(t)
        elif t.text == "𝟙":
            ps, end = [self.placeholder(("ones",), t.start, t.end)], t.end
        elif t.text == "∂":
            ps, end = self.partial(t)
        elif t.text == "Σ":
            ps, end = self.total(t)
        elif t.kind == "END":
            raise self.err("the formula ends where an operand was expected", t)
        else:
            raise self.err(f"unexpected {t.text!r}", t)
        ps, end = self.postfix(ps, end, in_call)
        self.depth -= 1
        return ps, (t.start, end)

    def number(self, t: Tok, in_call: bool) -> tuple[list[Piece], int]:
        text, end = t.text, t.end
        nxt, after = self.peek(), self.peek(1)
        if (not in_call and nxt.text == "," and not nxt.space and after.kind == "NUM"
                and not after.space and after.text.isdigit() and text.isdigit()):
            self.i += 2
            text, end = f"{text}.{after.text}", after.end
            check_number(text, t.start, self.b.text)
            self.b.note(f"{self.b.text[t.start:end]} read as the decimal number {text}")
        return self.over(t, [(text, t.start, end)], end)

    def over(self, t: Tok, ps: list[Piece], end: int) -> tuple[list[Piece], int]:
        """A scalar (a number, λ) followed by ``/m`` or ``/2``: one factor, ``1/m dZ1 Xᵀ`` and
        ``λ/m W`` as (1/m)(dZ1 Xᵀ) and (λ/m) W; 1/m**2 and 1/m(...) stay as written."""
        slash, den = self.peek(), self.peek(1)
        after = self.peek(2)
        if slash.text == "/" and (den.kind == "NUM" or (den.kind == "NAME" and den.text == "m")) \
                and after.text not in ("**", "^", "²", "[") \
                and not (after.text == "(" and not after.space):
            self.i += 2
            d = (den.text, den.start, den.end) if den.kind == "NUM" else \
                self.placeholder(("m",), den.start, den.end)
            ps = [("(", t.start, t.start), *ps, ("/", slash.start, slash.end), d,
                  (")", den.end, den.end)]
            end = den.end
        return ps, end

    def postfix(self, ps: list[Piece], end: int, in_call: bool) -> tuple[list[Piece], int]:
        while True:
            p, p2 = self.peek(), self.peek(1)
            if p.text == "." and p.kind == "OP" and p2.kind == "NAME" and not p2.space:
                self.i += 2
                if p2.text == "T":
                    self.flags.add("numpy")
                    ps, end = [*ps, (".T", p.start, p2.end)], p2.end
                elif p2.text == "shape":
                    self.flags.add("numpy")
                    ps, end = self.shape(ps, p, p2)
                elif p2.text in METHODS:
                    self.flags.add("numpy")
                    open_ = self.next()
                    if open_.text != "(":
                        raise self.err(f".{p2.text} needs parentheses: .{p2.text}(...)", open_)
                    self.sizes += p2.text == "reshape"
                    args, end = self.call_args(open_)
                    self.sizes -= p2.text == "reshape"
                    ps = [*ps, ("." + p2.text, p.start, p2.end), *args]
                else:
                    raise self.err(f"the attribute .{p2.text} is not allowed (only .T, "
                                   f"{', '.join('.' + x for x in sorted(METHODS))})", p2)
            elif p.text == "ᵀ":
                self.i += 1
                self.flags.add("weak")
                ps, end = [*ps, (".T", p.start, p.end)], p.end
            elif p.text == "^" and p2.kind == "NAME" and p2.text == "T":
                self.i += 2
                self.flags.add("weak")
                ps, end = [*ps, (".T", p.start, p2.end)], p2.end
            elif p.text == "'" and self.octave and not p.space:
                self.i += 1
                ps, end = [*ps, (".T", p.start, p.end)], p.end
            elif p.text in ("^", "**", ".^"):
                self.i += 1
                self.flags.add("weak" if p.text == "^" else "numpy")
                sign: list[Piece] = []
                if self.peek().text in ("-", "+"):
                    s = self.next()
                    sign = [(s.text, s.start, s.end)]
                exp_ps, (_, exp_end) = self.operand(in_call)
                ps = [*ps, ("**(", p.start, p.end), *sign, *exp_ps, (")", exp_end, exp_end)]
                end = exp_end
            elif p.text == "²":
                self.i += 1
                self.flags.add("weak")
                ps, end = [*ps, ("**2", p.start, p.end)], p.end
            else:
                return ps, end

    def shape(self, ps: list[Piece], dot: Tok, name: Tok) -> tuple[list[Piece], int]:
        """``x.shape[1]`` (a dimension of x), or ``x.shape`` inside np.ones(x.shape)."""
        if self.peek().text != "[" or self.peek().space:
            return [*ps, (".shape", dot.start, name.end)], name.end
        self.next()
        sign = self.next() if self.peek().text == "-" else None
        k, close = self.next(), self.next()
        if k.kind != "NUM" or not k.text.isdigit() or close.text != "]":
            raise self.err("x.shape takes a number: x.shape[0] or x.shape[1]", k)
        text = f".shape[{'-' if sign else ''}{k.text}]"
        return [*ps, (text, dot.start, close.end)], close.end

    def call_args(self, open_: Tok) -> tuple[list[Piece], int]:
        ps: list[Piece] = [("(", open_.start, open_.end)]
        if self.peek().text == ")":
            close = self.next()
            return [*ps, (")", close.start, close.end)], close.end
        while True:
            t, t2 = self.peek(), self.peek(1)
            if t.kind == "NAME" and t2.text == "=":
                self.i += 2
                self.flags.add("numpy")
                ps.append((t.text + "=", t.start, t2.end))
            ps += self.seq(True)
            sep = self.next()
            if sep.text == ",":
                ps.append((", ", sep.start, sep.end))
                continue
            if sep.text != ")":
                raise self.err("expected ',' or ')' in the argument list", sep)
            ps.append((")", sep.start, sep.end))
            return ps, sep.end

    def bracket_index(self, what: str) -> tuple[LayerIndex, int]:
        """``[2]``, ``[l-1]`` right after a name (the '[' is next)."""
        open_ = self.next()
        parts: list[str] = []
        while self.peek().text != "]":
            t = self.next()
            if t.kind == "END":
                raise self.err("unclosed '['", open_)
            parts.append(t.text)
        close = self.next()
        index = parse_layer_index("".join(parts))
        if index is None:
            entry = f"{what}[{''.join(parts)}]"
            bind = f'; a loop\'s entry is bound as one name: --bind "{entry}={what}[2]"' \
                if re.fullmatch(r"[A-Za-z_]\w*([+-]\d+)?", "".join(parts)) else ""
            raise self.err(f"{entry}: a layer index is a number, l, L, l-1, l+1 or L-1{bind}",
                           open_)
        return index, close.end

    def name(self, t: Tok) -> tuple[list[Piece], int]:
        ident = t.text
        binding = self.b.bindings.get(ident)
        if binding is not None and not binding.l2:  # a bound name shadows every other reading
            return self.bound(t, binding)
        if ident in L2_NAMES or binding is not None:  # lambd, reg, self.reg, λ: the L2 strength
            written = binding.written if binding is not None else self.b.text[t.start:t.end]
            return self.over(t, [self.placeholder(("l2", written), t.start, t.end)], t.end)
        if ident in FUNCS and self.peek().text == "(":  # a dialect's function: Nielsen's a - y
            self.flags.add("numpy")
            args, end = self.call_args(self.next())
            return [(FUNCS[ident], t.start, t.end), *args], end
        if ident in ("np", "numpy"):
            return self.np_name(t)
        if ident in RAW:
            if ident in ("float", "int", "len") and self.peek().text == "(":  # float(m), len(Y)
                args, end = self.call_args(self.next())
                return [(ident, t.start, t.end), *args], end
            return [(ident, t.start, t.end)], t.end
        if ident in ("dL", "dJ") and self.peek().text == "/" and self.peek(1).kind == "NAME" \
                and self.peek(1).text.startswith("d"):
            self.next()
            den = self.next()
            return self.gradient(den, den.text[1:], t.start)
        name = resolve_ident(ident)
        if self.sizes and (name is None or name.kind != "sym" or
                           (name.layer is None and len(ident) == 1)):  # x.reshape(N, D): a size
            return [self.placeholder(("size",), t.start, t.end)], t.end
        if name is not None and name.kind == "sym" and name.base in GLOBAL and name.layer:
            name = None  # X2, Y1: X and Y have no layer, so this is some other name
        if name is None and (self.peek().text == "(" or keyword.iskeyword(ident)):
            # a function or a Python keyword: no binding names one
            raise self.err(f"unknown name {ident!r}; known: {known_names(self.b.net.L)}", t)
        if name is None:  # this name first, and every other one the formula leaves unread
            others = unknown_idents(self.b, RAW, joined_names(self.b))
            first = entry_at(self.b.text).get(t.start, ident)  # Y_oh[i]: bind the entry
            raise unknown_names_error([first, *(i for i in others if i != first)], t.start,
                                      self.b.text)
        return self.named(t, name)

    def bound(self, t: Tok, binding: Binding) -> tuple[list[Piece], int]:
        """A bound identifier: its expression, or the quantity it names (maybe transposed)."""
        if binding.expr is not None:
            return [self.placeholder(("expr", binding), t.start, t.end)], t.end
        assert binding.name is not None  # a binding is an expression or a name
        self.b.note_bound(binding)
        ps, end = self.named(t, binding.name)
        if binding.transposed:
            ps = [*ps, (".T", end, end)]
        return ps, end

    def named(self, t: Tok, name: Name) -> tuple[list[Piece], int]:
        """A name the resolver (or a binding) read, with its index, prime and transpose."""
        ident = t.text
        if name.kind in ("m", "e"):
            return [self.placeholder((name.kind,), t.start, t.end)], t.end
        index, end, prime, transposed = name.layer, t.end, name.prime, None
        while True:
            p, p2 = self.peek(), self.peek(1)
            if p.text == "[" and not p.space and index is None:
                index, end = self.bracket_index(ident)
                q = self.peek()
                if name.kind == "sym" and q.kind == "NAME" and q.text == "T" and not q.space:
                    self.next()
                    transposed, end = (q.start, q.end), q.end
                    self.flags.add("weak")
                self.flags.add("weak")
            elif p.text == "^" and p2.text == "[" and not p.space and index is None:
                self.next()
                index, end = self.bracket_index(ident)
                self.flags.add("weak")
            elif p.text == "'" and not p.space and name.kind == "act" and not prime:
                self.next()
                prime, end = True, p.end
                self.flags.add("weak")
            elif p.text == "'" and self.octave and name.kind == "sym":
                break  # Octave's transpose, read after the name
            elif p.text == "'":
                raise self.err("a prime ′ follows an activation name: g′(Z1), relu′(Z1)", p)
            else:
                break
        if name.kind == "sym":
            ps = [self.placeholder(("sym", name, index), t.start, end)]
            if transposed:
                ps.append((".T", *transposed))
            return ps, end
        out = self.softmax_output(t, name, index) if not prime else None
        if out is not None:
            return out
        open_ = self.next()
        if open_.text != "(":
            shown = self.b.text[t.start:end]
            raise self.err(f"{shown} needs its argument in parentheses: {shown}(Z1)", open_)
        entry: Entry = ("func", name) if name.kind == "func" else ("act", Name(
            "act", name.base, None, prime=prime, act=name.act), index)
        args, end2 = self.call_args(open_)
        return [self.placeholder(entry, t.start, end), *args], end2

    def np_name(self, t: Tok) -> tuple[list[Piece], int]:
        dot, f = self.next(), self.next()
        if dot.text != "." or f.kind != "NAME":
            raise self.err("np. must be followed by a function name: np.dot(...)", dot)
        if f.text not in NP_FUNCS:
            raise self.err(f"np.{f.text} is not allowed; allowed: "
                           f"{', '.join('np.' + x for x in sorted(NP_FUNCS))}", f)
        self.flags.add("numpy")
        piece = ("np." + f.text, t.start, f.end)
        if self.peek().text != "(":
            if f.text in NP_DTYPES:
                return [piece], f.end
            raise self.err(f"np.{f.text} needs its arguments in parentheses", self.peek())
        args, end = self.call_args(self.next())
        return [piece, *args], end

    def gradient(self, den: Tok, ident: str, start: int) -> tuple[list[Piece], int]:
        name = resolve_ident(ident)
        if name is None or name.kind != "sym" or name.base.startswith("d"):
            raise self.err(f"∂L/∂{ident}: below the bar write one of {', '.join(below_bar())}",
                           den)
        index, end = name.layer, den.end
        if self.peek().text == "[" and not self.peek().space and index is None:
            index, end = self.bracket_index(ident)
        return [self.placeholder(("grad", name, index), start, end)], end

    def partial(self, t: Tok) -> tuple[list[Piece], int]:
        top = self.next()
        if top.kind != "NAME" or top.text not in ("L", "J", "ℓ"):
            raise self.err("∂ is read as ∂L/∂Q (or ∂J/∂Q)", top)
        self.expect("/")
        self.expect("∂")
        den = self.next()
        if den.kind != "NAME":
            raise self.err("∂L/∂ needs a name below the bar", den)
        return self.gradient(den, den.text, t.start)


def joined_names(b: Builder) -> dict[int, tuple[int, str]]:
    """The list and dict entries (``nabla_w[-l]``) and ``self.`` names the text reads as one
    name: bound ones, a dialect's functions, and ``self.reg``."""
    return {a: (e, key) for a, e, key in compounds(b.text)
            if key in b.bindings or (b.dialect is not None and key in FUNCS) or key in L2_NAMES}


def parse(b: Builder, start: int, end: int) -> Value:
    """Parse ``b.text[start:end]`` as text; sets ``b.mode`` from what the text uses."""
    joined = joined_names(b)
    toks = tokenize(b.text, start, end, joined)
    pre = _Prepass(b, toks)
    pieces = pre.run()
    b.mode = detect_mode(pre.flags)
    b.octave = pre.octave
    source = "".join(p[0] for p in pieces)
    walker = Walker(b, pre.table, pieces)
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, RecursionError, MemoryError, ValueError) as exc:
        off = getattr(exc, "offset", None) or 1
        pos = walker.ostart[min(max(off - 1, 0), len(walker.ostart) - 1)] if walker.ostart \
            else start
        raise ParseError("cannot read the formula here", pos, b.text) from None
    if not ast_depth_ok(tree, 2 * MAX_DEPTH):
        raise ParseError(f"the formula nests more than {2 * MAX_DEPTH} operations deep", start,
                         b.text)
    return walker.ev(tree.body)
