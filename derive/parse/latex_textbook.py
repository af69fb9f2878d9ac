"""Textbooks' own symbols in LaTeX (issue 13): Ng's accumulator ``\\Delta^{(l)}``, Nielsen's
diagonal ``\\Sigma'(z^l)``, the Deep Learning book's running gradient ``\\Vg`` and regulariser
``\\nabla_{\\MW} \\Omega(\\theta)``, and ``\\underbrace{x}_{label}``.

A level of the LaTeX parser (see :mod:`derive.parse.latex_tokens`), above derivatives. Each
reading is a translation into the course's quantities, stated in a note:

- ``\\Delta^{(l)}`` (Ng's Machine Learning course: Δ accumulates δ^{(l+1)} (a^{(l)})ᵀ over the
  examples) is dZ[l] A[l-1]ᵀ in derive's layers (A[l-1]ᵀ dZ[l] in rows); ``D^{(l)}`` is dW[l];
- ``\\Sigma'(z)`` is diag(σ′(z)): a product ``\\Sigma'(z) v`` is σ′(z) ⊙ v (Nielsen's ch. 2
  problem, one example; for a batch the same entry by entry);
- ``\\Vg`` (the book's algorithm 6.4) is the gradient the step before computed: for
  ``\\nabla_{\\Va^{(k)}} J`` (dZ[k]) it is dA[k], for dA[k-1], dW[k] and db[k] it is dZ[k];
- ``\\nabla_{\\MW^{(k)}} \\Omega(\\theta)`` is W[k] (Ω = ½ Σ ‖W‖², the L2 penalty on the weights);
  of a bias it is 0.

>>> from derive.network.spec import Network
>>> from derive.parse import parse_equation
>>> net = Network(layers=[4, 3, 2])
>>> print(parse_equation(r"\\delta^L = \\Sigma'(z^L) \\nabla_a C", net).rhs)
g[2]′(Z[2]) ⊙ dA[2]
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from derive.core import expr as E
from derive.parse.build import Const, Span, Value
from derive.parse.latex_calculus import CalculusMixin
from derive.parse.latex_state import state
from derive.parse.latex_tokens import PRODUCTS, Tok
from derive.parse.names import LayerOutOfRange, Name, resolve_ident


def _low(v: Value) -> int | None:
    """The lowest layer a factor's quantities are at (X at 0); None: no layer."""
    if not isinstance(v, E.Expr):
        return None
    layers = [0 if s.base == "X" else s.layer for s in v.symbols()]
    known = [x for x in layers if x is not None]
    return min(known) if known else None


class TextbookMixin(CalculusMixin):
    """Reading textbooks' own symbols (module docstring)."""

    def textbook(self, t: Tok) -> tuple[Value, Span] | None:
        """The value of the textbook command ``t`` (already read), or None if it is not one."""
        if t.text == "Delta":
            return self.accumulator(t)
        if t.text == "Sigma":
            return self.diagonal(t)
        if t.text in ("underbrace", "overbrace"):
            self.i -= 1
            if self.braces_transparent():  # \underbrace{g'}_{...} * \underbrace{(z)}_{...}
                return self.factor()
            self.i += 1
            v, span = self.group(t)
            if self.peek().kind == "op" and self.peek().text in "_^":
                self.next()
                self.script()  # the label: a shape or words, not part of the formula
                self.b.note(f"\\{t.text}'s label left out: {self.b.src(span)} read alone")
            return v, (t.start, span[1])
        return None

    def braces_transparent(self) -> bool:
        """Drop ``\\underbrace``'s braces and label from the tokens when its group is factors
        side by side (no +, -, ⊙, *, · at its top level) and no script follows the label: then
        the braces change nothing but where a factor ends, and the course notes'
        ``\\underbrace{{g^{[1]}}^{'}}_{...} * \\underbrace{(z^{[1]})}_{...}`` is g′(z) as
        without them. At the cursor: the command. Returns whether the tokens were changed."""
        t = self.peek()
        if t.text not in ("underbrace", "overbrace") or self.peek(1).text != "{":
            return False
        n = self._group_length(1)
        inner = self.toks[self.i + 2:self.i + n]
        depth = 0
        for u in inner:
            if u.kind == "op" and u.text in "({[":
                depth += 1
            elif u.kind == "op" and u.text in ")}]":
                depth -= 1
            elif depth == 0 and (u.kind == "op" and u.text in "+-*/=," or u.kind == "cmd"
                                 and u.text in PRODUCTS):
                return False
        label = 0
        if self.peek(n + 1).kind == "op" and self.peek(n + 1).text in "_^":
            label = 1 + (self._group_length(n + 2) if self.peek(n + 2).text == "{" else 1)
        after = self.peek(n + 1 + label)
        if not inner or (after.kind == "op" and after.text in "^_'"):
            return False
        self.b.note(f"\\{t.text}'s label left out: "
                    f"{self.b.src((inner[0].start, inner[-1].end))} read alone")
        del self.toks[self.i + n:self.i + n + 1 + label]  # the closing brace and the label
        del self.toks[self.i:self.i + 2]  # the command and the opening brace
        return True

    def unrolled(self, before: list[tuple[Value, Span]], dots: Tok,
                 after: list[tuple[Value, Span]]) -> list[tuple[Value, Span]]:
        """Factors written with an ellipsis, ``F_l … F_{L-1} rest`` (Nielsen's unrolled
        ``\\Sigma'(z^l) (w^{l+1})^T \\ldots \\Sigma'(z^{L-1}) (w^L)^T \\Sigma'(z^L) \\nabla_a C``):
        the last p factors before the dots are a pattern, and the first p after them the same
        pattern d layers higher; the dots are the pattern at every layer between. The factors,
        expanded; a ParseError when no pattern repeats so."""
        for p in range(min(len(before), len(after)), 0, -1):
            first, last = before[-p:], after[:p]
            lows = [_low(v) for v, _ in (first[0], last[0])]
            if None in lows:
                continue
            d = lows[1] - lows[0]  # type: ignore[operator]
            if d < 0:
                continue
            try:
                shifted = [self.shifted(v, d) for v, _ in first]
            except (KeyError, LayerOutOfRange):
                continue
            if shifted != [v for v, _ in last]:
                continue
            span = (first[0][1][0], last[-1][1][1])
            middle = [(self.shifted(v, j), span) for j in range(1, d) for v, _ in first]
            self.b.note(f"{self.b.src(span)}: the factors before \\{dots.text} repeated at every "
                        f"layer up to the same factors after it ({d + 1} times)")
            return [*before, *middle, *after] if d else [*before, *after[p:]]
        raise self.err(f"\\{dots.text} (a product written with an ellipsis) is read only "
                       "between the same factors at two layers (F^l \\ldots F^{L-1}): write "
                       "every factor, or the recurrence for one layer (\\delta^l = "
                       "\\Sigma'(z^l) (w^{l+1})^T \\delta^{l+1})", dots)

    def shifted(self, v: Value, d: int) -> Value:
        """``v`` with every layer d higher (a layer's own activation stays its layer's)."""
        net, table = self.b.net, self.b.table

        def walk(x: E.Expr) -> E.Expr:
            if isinstance(x, E.Sym):
                layer = 0 if x.base == "X" else x.layer
                if layer is None:
                    return x
                base = "A" if x.base == "X" else x.base
                if not 0 <= layer + d <= net.L:
                    raise LayerOutOfRange(f"{x.text} shifted by {d} is not in this network",
                                          None, self.b.text, layer + d, 0, net.L)
                return replace(table[base, layer + d], src=x.src)
            if isinstance(x, E.Deriv | E.Act):
                act = net.activation(x.layer + d) if x.activation == net.activation(x.layer) \
                    else x.activation
                return E.map_children(x, walk, layer=x.layer + d, activation=act)
            return E.map_children(x, walk)

        if not isinstance(v, E.Expr):
            return v
        out = walk(v)
        if self.is_diagonal(v):
            self.diagonals.append(out)
        return out

    def accumulator(self, t: Tok) -> tuple[Value, Span]:
        """Ng's Δ^{(l)} = Σ_t δ^{(l+1)(t)} (a^{(l)(t)})ᵀ: dZ[l] A[l-1]ᵀ in derive's layers."""
        name = resolve_ident("dW")
        assert name is not None  # dW is a quantity
        v, span = self.decorated(name, t.start, t.end)
        if not isinstance(v, E.Sym) or v.layer is None:
            raise self.err("\\Delta^{(l)} needs its layer: \\Delta^{(2)}, \\Delta^{(l)}", t)
        layer = v.layer
        dz = self.b.symbol("dZ", ("num", layer), span, t.start)
        a = self.b.symbol("A", ("num", layer - 1), span, t.start)
        first, second = self.b.net.layout.ordered(dz, E.Transpose(a))
        out = E.MatMul(first, second, src=self.b.src(span))
        self.b.note(f"{self.b.src(span)} read as Ng's accumulator Σ over the examples of "
                    f"δ (a)ᵀ: {out} (in derive's layers)")
        return self.entry_total(v, out), span

    def diagonal(self, t: Tok) -> tuple[Value, Span]:
        """Nielsen's Σ′(z) = diag(σ′(z)); the product with what follows is made in ``jux``."""
        if self.peek().text != "'":
            raise self.err("\\Sigma is read as Nielsen's Σ′(z) = diag(σ′(z)): write "
                           "\\Sigma'(z^l) before the vector it multiplies", t)
        self.next()
        arg, aspan = self.argument(t.start)
        span = (t.start, aspan[1])
        v = self.b.activation(Name("act", "g", None, prime=True), None, arg, span, t.start)
        self.diagonals.append(v)
        self.b.note(f"{self.b.src(span)} read as diag(σ′): its product with a vector is "
                    "σ′ ⊙ the vector")
        return v, span

    def is_diagonal(self, v: Value) -> bool:
        return any(v is d for d in self.diagonals)

    def running_gradient(self, start: int, end: int) -> tuple[Value, Span]:
        """The Deep Learning book's ``\\Vg``: the gradient the step before computed."""
        target = state(self.b).target
        t = self.toks[self.i - 1]
        if target is None or target.layer is None or target.base not in ("dZ", "dA", "dW", "db") \
                or (target.base == "dA" and target.layer >= self.b.net.L):
            raise self.err("\\Vg (the Deep Learning book's running gradient) is read from the "
                           "gradient on the left (\\nabla_{\\Va^{(k)}} J = \\Vg \\odot "
                           "f'(\\Va^{(k)})): name it there, or bind Vg", t)
        base, layer = {"dZ": ("dA", 0), "dA": ("dZ", 1)}.get(target.base, ("dZ", 0))
        v = self.b.symbol(base, ("num", target.layer + layer), (start, end), start, lower=True)
        self.b.note(f"\\Vg read as {v.text}, the running gradient: the one the step before "
                    f"computed (the book's algorithm 6.4, for {target.text})")
        return self.postfix(v, (start, end))

    def regulariser(self, q: Value, t: Tok) -> tuple[Value, Span]:
        """``\\nabla_Q \\Omega(\\theta)`` after ∇: W for a weight (Ω = ½ Σ ‖W‖²), 0 for a bias."""
        omega = self.next()
        end = omega.end
        if self.peek().text == "(":
            end = self.toks[self.i + self._group_length(0) - 1].end
            self.i += self._group_length(0)
        span = (t.start, end)
        if isinstance(q, E.Sym) and q.base == "W":
            self.b.note(f"{self.b.src(span)} read as {q.text}: Ω(θ) = ½ Σ ‖W‖², the L2 penalty")
            return E.Sym("W", q.layer, q.shape, src=self.b.src(span)), span
        if isinstance(q, E.Sym) and q.base == "b":
            self.b.note(f"{self.b.src(span)} read as 0: the L2 penalty Ω(θ) holds the weights "
                        "only")
            return Const(sp.Integer(0), self.b.src(span)), span
        raise self.err("∇Ω(θ) is read for a weight W or a bias b", omega)
