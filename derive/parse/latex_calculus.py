"""Derivatives in LaTeX: ``\\frac{\\partial L}{\\partial Z^{[1]}}``, ``\\frac{dJ}{dW_1}``,
``\\frac{\\partial}{\\partial W^{[1]}} J``, ``\\partial J / \\partial W``, ``\\nabla_{W^{[1]}} J``,
Nielsen's ``\\nabla_a C``, and ``\\sum`` over the examples.

A level of the LaTeX parser (see :mod:`derive.parse.latex_tokens`), above names and scripts. The
cost a derivative is taken of may be written ``L``, ``J``, ``C``, ``E``, ``\\ell``,
``\\mathcal{L}``, with a subscript (``C_0``, one example's) and its arguments (``J(W, b)``,
``\\mathcal{L}(\\hat y, y)``): each means the network's cost (:data:`COSTS`).

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> from derive.parse.latex import parse
>>> text = r"\\nabla_{W^{[1]}} J"
>>> parse(Builder(Network(layers=[3, 4, 1]), text), 0, len(text)).text
'dW[1]'
"""

from __future__ import annotations

from dataclasses import replace

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import m as M
from derive.parse.build import Span, Value
from derive.parse.latex_names import NameMixin
from derive.parse.latex_tokens import Tok
from derive.parse.names import LayerOutOfRange

COSTS = ("L", "J", "C", "E", "c")


def _same(a: object, b: object) -> bool:
    return bool(as_sympy(a) == as_sympy(b))  # the letters a cost is written with (one word alone)
COST_CMDS = ("ell", "mathcal", "mathscr", "textbf", "mathbf", "boldsymbol", "bm")


class CalculusMixin(NameMixin):
    """Reading derivatives of the cost and sums over the examples."""

    # -- the cost ----------------------------------------------------------------------------
    def cost_length(self, k: int) -> int:
        """How many tokens, from ``self.i + k``, write the cost (``J``, ``C_0``, ``J(W,b)``,
        ``\\mathcal{L}``); 0 if they write none."""
        t = self.peek(k)
        n = 0
        if t.kind == "op" and t.text == "{" and self.peek(k + 2).text == "}" \
                and self.cost_length(k + 1) == 1:  # \partial{C}: the cost in braces
            n = 3
        elif t.kind == "word" and t.text in COSTS:
            n = 1
        elif t.kind == "cmd" and t.text == "ell":
            n = 1
        elif t.kind == "cmd" and t.text in COST_CMDS and self.peek(k + 1).text == "{" \
                and self.peek(k + 2).kind == "word" and self.peek(k + 2).text in COSTS \
                and self.peek(k + 3).text == "}":
            n = 4
        if not n:
            return 0
        if self.peek(k + n).text == "_":  # C_0, \mathcal{L}_i: one example's cost
            n += 1
            n += self._group_length(k + n) if self.peek(k + n).text == "{" else 1
        if self.peek(k + n).text == "(" and not self.peek(k + n).space:  # J(W, b)
            n += self._group_length(k + n)
        return n

    def _group_length(self, k: int) -> int:
        """Tokens of the bracketed group opening at ``self.i + k`` (its brackets included)."""
        open_ = self.peek(k)
        close = ")" if open_.text == "(" else "}"
        level, j = 0, k
        while True:
            u = self.peek(j)
            if u.kind == "end":
                raise self.err(f"unclosed {open_.text!r}", open_)
            if u.kind == "op" and u.text == open_.text:
                level += 1
            elif u.kind == "op" and u.text == close:
                level -= 1
                if level == 0:
                    return j - k + 1
            j += 1

    def is_dL(self) -> int:
        """Tokens of a derivative numerator (∂L, dL, ∂J, ∂\\mathcal{L}, d\\ell, ∂C_0) at the cursor."""
        a = self.peek()
        if a.kind == "word" and a.text in ("dL", "dJ", "dC", "dE"):
            return 1
        if (a.kind == "cmd" and a.text in ("partial", "delta")) \
                or (a.kind == "word" and a.text == "d"):
            n = self.cost_length(1)
            return n + 1 if n else 0
        return 0

    def skip_cost(self) -> None:
        """After ``\\frac{\\partial}{\\partial W}`` or ``\\nabla_W``: the cost, if written."""
        self.i += self.cost_length(0)

    def gradient(self, q: Value, span: Span, pos: int) -> Value:
        """∂L/∂q for the quantity q below the bar (an entry's, in index form: the gradient's
        entry with the same indices). A weight below the bar on the left is W in either case
        (a matrix for one example or m), so its case leaves the one-example reading to the
        right side's names (``\\frac{\\partial L}{\\partial W_2} = a_1^T \\delta_3``)."""
        if self.left_side and isinstance(q, E.Sym) and q.base == "W":
            self.b.cases.discard("upper")
        if self.index_mode:
            return self.entry_gradient(q, span, pos)
        return self.b.gradient_of(q, span, pos)

    def one_example_cost(self, start: int, stop: int) -> bool:
        """Whether the cost in tokens start..stop-1 is one example's: C_x, C_k, \\mathcal{L}_i,
        J(W,b;x^{(i)},y^{(i)})."""
        toks = self.toks[start:stop]
        return any(u.kind == "op" and u.text == "_" for u in toks) or any(
            a.text == "(" and b.kind == "word" and c.text == ")"
            for a, b, c in zip(toks, toks[1:], toks[2:], strict=False))

    def examples_gradient(self, q: Value, span: Span, pos: int) -> Value:
        """Inside a sum over the examples, ∂C_x/∂W[l] of example x's cost: the sum of the
        examples' gradients is dZ[l] A[l-1]ᵀ (Σ of dZ[l] for b[l]), the data term without the
        cost's 1/m; the sum is then done (the value has no example axis)."""
        sym = q.arg if isinstance(q, E.Transpose) else q
        if isinstance(sym, E.Scale) and isinstance(sym.arg, E.Transpose | E.Sym):
            sym = sym.arg.arg if isinstance(sym.arg, E.Transpose) else sym.arg
        if not isinstance(sym, E.Sym) or sym.base not in ("W", "b") or sym.layer is None:
            raise self.b.error("a sum over the examples of one example's gradient is read for "
                               "W and b: \\sum_i \\frac{\\partial C_i}{\\partial W^{[l]}}", pos)
        layout = self.b.net.layout
        dz = self.b.symbol("dZ", ("num", sym.layer), span, pos)
        out: E.Expr
        if sym.base == "W":
            a = self.b.symbol("A", ("num", sym.layer - 1), span, pos)
            first, second = layout.ordered(dz, E.Transpose(a))
            out = E.MatMul(first, second, src=self.b.src(span))
        else:
            out = E.Sum(dz, layout.example_sum_axis, src=self.b.src(span))
        self.example_seen = True
        self.b.note(f"{self.b.src(span)}: one example's gradient, summed over the examples: "
                    f"{out}")
        return self.entry_total(q, out)

    def entry_total(self, q: Value, out: E.Expr) -> Value:
        """``out`` in place of the entry q (index form: with q's indices); here ``out``."""
        return out

    # -- fractions and ∂ ----------------------------------------------------------------------
    def frac(self, t: Tok) -> tuple[Value, Span]:
        if self.peek().text == "{":
            save = self.i
            self.next()
            n = self.is_dL()
            if not n and self.peek().kind == "word" and self.peek().text in (*COSTS, "Co") \
                    and self.peek(1).text == "}" and self.peek(2).text == "{" and (
                        self.peek(3).text == "partial" or self.peek(3).kind == "word"
                        and self.peek(3).text.startswith("d") and len(self.peek(3).text) > 1):
                n = 1  # \frac{C}{dw_L}: the numerator's d left out (a Q&A's typo)
                self.b.note(f"\\frac{{{self.peek().text}}}{{...}}: the numerator's d is missing, "
                            f"read as the derivative of the cost {self.peek().text}")
            operator = self.peek().kind == "cmd" and self.peek().text == "partial" \
                and self.peek(1).text == "}"
            if operator:  # \frac{\partial}{\partial W} J: the derivative operator, then the cost
                n = 1
            if n and self.toks[self.i + n].text == "}":
                self.i += n + 1
                if self.next().text != "{":
                    raise self.err("\\frac needs two {groups}", t)
                q, _ = self.derivative_denominator(t)
                close = self.expect("}")
                cost = (save + 2, save + 1 + n)
                if operator:
                    if not self.cost_length(0) and not (self.left_side
                                                        and self.peek().kind == "end"):
                        raise self.err("\\frac{\\partial}{\\partial Q} is read before the cost "
                                       "it differentiates: write J, L or C after it", close)
                    cost = (self.i, self.i + self.cost_length(0))
                    self.skip_cost()
                span = (t.start, self.toks[self.i - 1].end)
                if self.in_sum and self.one_example_cost(*cost):
                    return self.examples_gradient(q, span, t.start), span
                return self.gradient(q, span, t.start), span
            self.i = save
        jac = self.jacobian(t)
        if jac is not None:
            return jac
        num, _ = self.group(t)
        den, dspan = self.group(t)
        span = (t.start, dspan[1])
        if isinstance(num, E.Expr) and isinstance(den, E.Expr):
            self.b.note(f"{self.b.src(span)} of two matrices read element-wise (⊘)")
        return self.b.divide(num, den, span, t.start), span

    # -- Jacobians: ∂P/∂Q of a quantity P, applied to the gradient at P on its left ----------
    def jacobian(self, t: Tok) -> tuple[Value, Span] | None:
        """``\\frac{\\partial \\hat{y}}{\\partial W^{(1)}}``: the derivative of a quantity (not
        the cost) by another, read as the Jacobian a gradient on its left is carried through
        (:meth:`carry`). The value returned stands for P until the product reads it; None:
        not such a fraction (the cursor is where it was)."""
        save, notes, toks = self.i, list(self.b.notes), list(self.toks)
        u = self.peek(1)
        if self.peek().text != "{" or not (u.kind == "cmd" and u.text == "partial" or
                                           u.kind == "word" and u.text.startswith("d")):
            return None
        try:
            self.next()
            p, _ = self.derivative_denominator(t)
            self.expect("}")
            self.expect("{")
            q, _ = self.derivative_denominator(t)
            close = self.expect("}")
        except LayerOutOfRange:
            raise  # another count of the layers may read it (latex_layers)
        except ParseError:  # derivative_denominator may have split a token: all restored
            self.i, self.b.notes[:], self.toks[:] = save, notes, toks
            return None
        if not (isinstance(p, E.Sym) and p.base in ("A", "Z") and isinstance(q, E.Sym)
                and q.base in ("W", "b", "A", "Z", "X")):
            self.i, self.b.notes[:], self.toks[:] = save, notes, toks
            return None
        span = (t.start, close.end)
        stand = replace(p, src=self.b.src(span))
        self.jacobians.append((stand, q, span))
        return stand, span

    def is_jacobian(self, v: Value) -> bool:
        return any(v is j for j, _, _ in self.jacobians)

    def carry(self, g: Value, gspan: Span, jac: Value, jspan: Span,
              at: str | None = None) -> tuple[E.Expr, str]:
        """The gradient ``g`` at P (``at``: where the Jacobian before left it) carried through
        the Jacobian ∂P/∂Q to Q: the vector-Jacobian product Σ g ⊙ ∂P/∂Q, by the chain rule
        of the dense layers (A[l] = g(Z[l]): ⊙ g′(Z[l]); Z[l] = W[l] A[l-1] + b[l]: to W[l],
        b[l] or A[l-1]). Returns it and Q."""
        (p, q, _), = [j for j in self.jacobians if j[0] is jac]
        self.jacobians = [j for j in self.jacobians if j[0] is not jac]
        net, layout, b = self.b.net, self.b.net.layout, self.b
        src = b.src((gspan[0], jspan[1]))
        assert isinstance(p, E.Sym) and isinstance(q, E.Sym)  # jacobian() made them
        if at is not None and at != p.text:
            raise b.error(f"{src}: the chain rule's factors do not link: the gradient is at "
                          f"{at}, but the next Jacobian differentiates {p.text}", jspan[0])
        if not isinstance(g, E.Expr) or isinstance(g, E.Scalar) \
                or not all(_same(x, y) for x, y in zip(g.shape, p.shape, strict=True)):
            shape = "×".join(map(str, g.shape)) if isinstance(g, E.Expr) else "a number"
            raise b.error(f"{src}: a Jacobian ∂{p.written()}/∂(...) carries a gradient at "
                          f"{p.text} (the shape of {p.text}), not {shape}: write "
                          f"(\\hat{{y}} - y) \\frac{{\\partial \\hat{{y}}}}{{\\partial W}}",
                          jspan[0])
        if any(k != "dense" for k in net.kinds):
            raise b.error(f"{src}: a Jacobian is carried through dense layers only; this "
                          "network has other layers: write the gradient's formula", jspan[0])
        want = ("A", 0) if q.base == "X" else (q.base, q.layer)
        base, layer = p.base, p.layer
        assert layer is not None  # A and Z have layers
        out: E.Expr = g
        while (base, layer) != want:
            if base == "A" and layer >= 1:
                act = net.activation(layer)
                if act is not None and act.kind == "softmax":
                    raise b.error(f"{src}: softmax's Jacobian is not element-wise: write the "
                                  "gradient at Z (\\hat{y} - y for ce)", jspan[0])
                z = b.symbol("Z", ("num", layer), jspan, jspan[0], counted=False)
                out, base = E.Hadamard(out, E.Deriv(act, layer, z)), "Z"
                continue
            if base == "Z" and want == ("W", layer):
                a = b.symbol("A", ("num", layer - 1), jspan, jspan[0], counted=False)
                out = E.MatMul(*layout.ordered(out, E.Transpose(a)))
                break
            if base == "Z" and want == ("b", layer):
                out = E.Sum(out, layout.example_sum_axis)
                break
            if base == "Z" and want[1] is not None and want[1] < layer:
                w = b.symbol("W", ("num", layer), jspan, jspan[0], counted=False)
                out, base, layer = E.MatMul(*layout.ordered(E.Transpose(w), out)), "A", layer - 1
                continue
            raise b.error(f"{src}: {p.text} does not depend on {q.text} through the layers "
                          "below it", jspan[0])
        self.b.note(f"{src}: the gradient carried through the Jacobian "
                    f"∂{p.text}/∂{q.text} (a vector-Jacobian product): {out}")
        return replace(out, src=src), q.text

    def derivative_denominator(self, t: Tok) -> tuple[Value, Span]:
        u = self.peek()
        if u.kind == "cmd" and u.text in ("partial", "delta"):  # \frac{\delta C}{\delta a}: ∂
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

    def partial(self, t: Tok) -> tuple[Value, Span]:
        self.i -= 1
        n = self.is_dL()
        if not n:
            raise self.err("∂ is read as ∂L/∂Q, the gradient of the cost (L, J, C) with "
                           "respect to a quantity Q: \\frac{\\partial L}{\\partial Z^{[1]}}; "
                           "a derivative of anything else (∂z/∂w, an entry's ∂C/∂w_{jk}) is "
                           "not read here", t)
        self.i += n
        self.expect("/")
        q, qspan = self.derivative_denominator(t)
        span = (t.start, qspan[1])
        return self.gradient(q, span, t.start), span

    def nabla(self, t: Tok) -> tuple[Value, Span]:
        """``\\nabla_{W^{[1]}} J`` is dW[1]; Nielsen's ``\\nabla_a C`` (a without a layer) dA[L]."""
        if self.peek().text != "_":
            raise self.err("∇ needs what it differentiates by as a subscript: \\nabla_{W^{[1]}} J "
                           "or \\nabla_a C", t)
        self.next()
        u, v = self.peek(), self.peek(1)
        if u.kind == "word" and u.text in ("a", "A") and v.text not in ("^", "_"):
            self.next()  # ∇_a C: the gradient of the cost with respect to the output a^L
            q: Value = self.b.symbol("A", ("L", 0), (u.start, u.end), u.start, lower=u.text == "a")
            self.b.note("∇_a C read as dA[L], the gradient with respect to the output "
                        "activation (Nielsen's notation)")
        elif u.text == "{" and self.peek(1).kind == "word" and self.peek(1).text in ("a", "A") \
                and self.peek(2).text == "}":
            self.i += 3
            q = self.b.symbol("A", ("L", 0), (v.start, v.end), v.start, lower=v.text == "a")
            self.b.note("∇_a C read as dA[L], the gradient with respect to the output "
                        "activation (Nielsen's notation)")
        else:
            q, _ = self.group(t)
        end = self.toks[self.i - 1].end
        if self.peek().kind == "cmd" and self.peek().text == "Omega":  # ∇_W Ω(θ)
            return self.regulariser(q, t)
        self.skip_cost()
        span = (t.start, max(end, self.toks[self.i - 1].end))
        return self.gradient(q, span, t.start), span

    # -- sums ---------------------------------------------------------------------------------
    def sum(self, t: Tok) -> tuple[Value, Span]:
        letter: str | None = None
        upper: list[Tok] = []
        for _ in range(2):
            if self.peek().text in ("_", "^") and self.peek().kind == "op":
                below = self.next().text == "_"
                toks = self.script()
                if below and toks and toks[0].kind == "word" and len(toks[0].text) == 1 \
                        and (len(toks) == 1 or toks[1].text == "="):
                    letter = toks[0].text  # \sum_i, \sum_{i=1}: the index summed over
                elif not below:
                    upper = toks
        if self.index_mode and letter is not None and letter not in ("l", "L") \
                and not self.examples_ahead(letter):
            if len(upper) > 3 and upper[0].kind == "word" and upper[1].text == "_" \
                    and upper[-2].text in "+-" and upper[-1].kind == "num":
                written = self.b.text[upper[0].start:upper[-1].end]
                raise ShapeMismatch(f"\\sum_{letter}", written, letter, (written,),
                                    (letter,), f"the sum runs to {written}, a layer's size "
                                    f"{upper[-2].text} {upper[-1].text} (a bias unit): index "
                                    f"{letter} counts a layer's units, which no vector here has "
                                    "more or fewer of")
            return self.ix_sum(letter, t)
        self.sum_letters.append(letter)
        try:
            return self.example_sum(t)
        finally:
            self.sum_letters.pop()

    def examples_ahead(self, letter: str) -> bool:
        """Whether the sum's body (up to a top-level + or -) indexes an example by ``letter``
        (x^{(i)}, J(W,b;x^{(i)},y^{(i)})): a sum over the examples, not over units."""
        depth = 0
        for k in range(self.i, len(self.toks) - 2):
            u = self.toks[k]
            if u.kind == "op" and u.text in "({[":
                depth += 1
            elif u.kind == "op" and u.text in ")}]":
                depth -= 1
                if depth < 0:
                    return False
            elif u.kind == "op" and u.text in "+-=" and depth == 0:
                return False
            if u.text == "(" and self.toks[k + 1].text == letter and self.toks[k + 2].text == ")":
                return True
        return False

    def example_sum(self, t: Tok) -> tuple[Value, Span]:
        """``\\sum`` over the examples (the sum's script read already). A product whose
        factors are indexed by the example (``dZ^{(i)} x^{(i)T}``, an outer product per
        example) is already the sum over the examples as a matrix product (dZ Xᵀ)."""
        self.in_sum += 1
        seen, self.example_seen = self.example_seen, False
        body, bspan = self.jux()
        self.in_sum -= 1
        span = (t.start, bspan[1])
        if self.example_seen and isinstance(body, E.Expr) and not any(
                M in as_sympy(d).free_symbols for d in body.shape):
            self.b.note(f"{self.b.src(span)}: the sum over the examples of products of their "
                        f"columns read as the matrix product {body}")
            self.example_seen = seen
            return body, span
        if not self.example_seen:
            self.b.note(f"{self.b.src(span)}: \\sum read as the sum over the m examples")
        self.example_seen = seen
        axis = self.b.net.layout.example_sum_axis
        return self.b.total(body, axis, True, span, t.start), span
