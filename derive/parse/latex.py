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

import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import ParseError
from derive.network.spec import m
from derive.parse.build import Builder, Const, OnesVec, Span, Value
from derive.parse.latex_index import NO_INDEX, IndexMixin
from derive.parse.latex_layers import NOTES, numbering
from derive.parse.latex_names import MACRO
from derive.parse.latex_state import state
from derive.parse.latex_tokens import (
    BN_CMDS,
    ELLIPSES,
    EPSILONS,
    FUNC_CMDS,
    GREEK,
    HATS,
    NAME_CMDS,
    PRODUCTS,
    Tok,
    tokenize,
    unsupported,
)
from derive.parse.names import check_number

__all__ = ["parse", "tokenize"]


def _same(a: object, b: object) -> bool:
    return bool(as_sympy(a) == as_sympy(b))


class _Parser(IndexMixin):
    """The grammar (module docstring), over the levels below it (derive.parse.latex_tokens)."""

    # -- grammar ----------------------------------------------------------------------------
    def expr(self) -> tuple[Value, Span]:
        v, span = self.signed()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.next()
            r, rspan = self.term()
            span = (span[0], rspan[1])
            if self.index_mode:
                v = self.ix_add(v, r, span, op.start, minus=op.text == "-")
                continue
            v = self.b.add(v, r, span, op.start, minus=op.text == "-")
        return v, span

    def signed(self) -> tuple[Value, Span]:
        t = self.peek()
        if t.kind == "op" and t.text in "+-":
            self.enter()
            self.next()
            v, span = self.signed()
            self.depth -= 1
            span = (t.start, span[1])
            return (self.b.negate(v, span, t.start) if t.text == "-" else v), span
        return self.term()

    def term(self) -> tuple[Value, Span]:
        v, span = self.jux()
        while True:
            t = self.peek()
            key = t.text if t.kind in ("op", "cmd") else None
            if key not in PRODUCTS or (t.kind == "op" and key not in "*/."):
                return v, span
            self.next()
            if key == "." and self.peek().text == "*":  # Octave's .* (element-wise)
                key = self.next().text
            minus = self.peek() if self.peek().kind == "op" and self.peek().text == "-" else None
            if minus is not None:  # a ⊙ -b: the sign of the next operand
                self.next()
            r, rspan = self.jux()
            if minus is not None:
                rspan = (minus.start, rspan[1])
                r = self.b.negate(r, rspan, minus.start)
            span, op, b = (span[0], rspan[1]), PRODUCTS[key], self.b
            if self.index_mode and op != "/":  # entries: every product is entry by entry
                v, span = self.ix_product([(v, span), (r, rspan)])
            elif op == "*" or op == "⊙":
                v = b.elementwise(v, r, span, t.start, op=op)
            elif op == "·":
                v = b.cdot(v, r, span, t.start, sign="\\" + key if key != "·" else "·")
                if isinstance(v, E.Hadamard):
                    self.b.note(f"condition: only when {'·' if key == '.' else chr(92) + key} "
                                "means the element-wise product ⊙")
            else:
                v = b.divide(v, r, span, t.start)

    def jux(self) -> tuple[Value, Span]:
        items = [self.factor()]
        while self.starts_factor(self.peek()):
            items.append(self.factor())
        t = self.peek()
        if t.kind == "cmd" and t.text in ELLIPSES and not self.index_mode:  # F^l … F^{L-1}
            self.next()
            after = [self.factor()] if self.starts_factor(self.peek()) else []
            while after and self.starts_factor(self.peek()):
                after.append(self.factor())
            items = self.unrolled(items, t, after)
        return self.product(items)

    def product(self, items: list[tuple[Value, Span]]) -> tuple[Value, Span]:
        """Factors side by side; Nielsen's Σ′(z) (a diagonal matrix) times what follows it is
        σ′(z) ⊙ that product."""
        if len(items) == 1:
            return items[0]
        if self.index_mode:
            return self.ix_product(items)
        span = (items[0][1][0], items[-1][1][1])
        k = next((k for k, (v, _) in enumerate(items) if self.is_jacobian(v)), None)
        if k:  # a gradient, then Jacobians: carried through each in turn
            acc, aspan = self.product(items[:k])
            at: str | None = None  # where the gradient is: the last Jacobian's Q
            for v, vspan in items[k:]:
                if not self.is_jacobian(v):
                    raise self.err("after a Jacobian (\\frac{\\partial z}{\\partial w}) "
                                   "only another one may follow", self.toks[self.i - 1])
                acc, here = self.carry(acc, aspan, v, vspan, at)
                aspan, at = (aspan[0], vspan[1]), here
            return acc, span
        k = next((k for k, (v, _) in enumerate(items) if self.is_diagonal(v)), None)
        if k is not None and k + 1 < len(items):
            rest, rspan = self.product(items[k + 1:])
            dspan = (items[k][1][0], rspan[1])
            v = self.b.elementwise(items[k][0], rest, dspan, dspan[0])
            items = [*items[:k], (v, dspan)]
            if len(items) == 1:
                return v, dspan
        if any(isinstance(v, OnesVec) for v, _ in items):
            return self.b.juxtapose(items, items[0][1][0]), span
        return self.fold(items), span

    def fold(self, items: list[tuple[Value, Span]]) -> Value:
        """Factors side by side: scalars pulled out, matrices multiplied left to right. Where
        a matrix product cannot fit but the two operands have the same shape and one is an
        activation's derivative (textbooks' δ f′(z)) or both have one unit (one neuron's
        a σ′(z)), they are multiplied entry by entry, with a note and the condition that the
        juxtaposition means ⊙."""
        span = (items[0][1][0], items[-1][1][1])
        coeff = sp.Integer(1)
        mats: list[tuple[Value, Span]] = []
        for v, vspan in items:
            if isinstance(v, Const):
                coeff = coeff * v.value
            else:
                mats.append((v, vspan))
        if not mats:
            return self.b.juxtapose(items, span[0])
        acc, aspan = mats[0]
        one = self.b.net.layout.batch(sp.Integer(1), m)
        for v, vspan in mats[1:]:
            both = (aspan[0], vspan[1])
            per = self.example_scalar(acc, v, (aspan, vspan))
            if per is not None:
                acc, aspan = per, both
                continue
            unit = isinstance(v, E.Expr) and all(
                _same(a, b) for a, b in zip(v.shape, one, strict=True))
            # a_1(1 - a_1): the sigmoid's derivative in terms of its output, as textbooks write it
            own = isinstance(acc, E.Sym) and acc.base == "A" and isinstance(v, E.Expr) \
                and not isinstance(v, E.Sym) and {(x.base, x.layer) for x in v.symbols()} == {
                    (acc.base, acc.layer)}
            if isinstance(acc, E.Expr) and isinstance(v, E.Expr) \
                    and (unit or own or isinstance(acc, E.Deriv) or isinstance(v, E.Deriv)) \
                    and not _same(acc.shape[1], v.shape[0]) \
                    and all(_same(a, b) for a, b in zip(acc.shape, v.shape, strict=True)):
                left, right = self.b.src(aspan), self.b.src(vspan)
                if not own or unit:
                    self.b.note(f"{left} and {right} side by side read entry by entry (⊙): "
                                "their matrix product does not fit")
                if own and not unit:
                    self.b.note(f"{left}{right} read as a function of {left} entry by entry "
                                "(a(1 − a) is the sigmoid's derivative in terms of its output)")
                elif unit:
                    self.b.note("condition: only when every layer has one neuron (the products "
                                "are of scalars)")
                else:
                    self.b.note(f"condition: only when the juxtaposition {left} {right} means "
                                "the element-wise product ⊙")
                acc = self.b.elementwise(acc, v, both, both[0])
            else:
                acc = self.b.matmul(acc, v, both, both[0])
            aspan = both
        if coeff != 1:
            acc = self.b.matmul(Const(coeff), acc, span, span[0])
        return acc

    def example_scalar(self, a: Value, b: Value, spans: tuple[Span, Span]) -> E.Expr | None:
        """Inside a sum over the examples (columns), one example's vector and its scalar side
        by side (``x_i (a_i - y_i)``, ``(a_i - y_i) x_i``, a one-unit layer's value per
        example): the product of their columns, summed over the examples, X sᵀ. None: not
        such a pair."""
        if not (self.in_sum and self.b.net.layout.columns and isinstance(a, E.Expr)
                and isinstance(b, E.Expr) and not isinstance(a, OnesVec | E.Scalar)
                and _same(a.shape[1], m) and _same(b.shape[1], m)):
            return None
        if _same(b.shape[0], 1) and not _same(a.shape[0], 1):
            vec, one = a, b
        elif _same(a.shape[0], 1) and not _same(b.shape[0], 1):
            vec, one = b, a
        else:
            return None
        span = (spans[0][0], spans[1][1])
        self.example_seen = True
        self.b.note(f"{self.b.src(spans[0])} and {self.b.src(spans[1])} inside the sum: each "
                    "example's vector times its scalar, summed over the examples")
        return E.MatMul(vec, E.Transpose(one), src=self.b.src(span))

    def factor(self) -> tuple[Value, Span]:
        self.enter()
        t = self.peek()
        self.unbrace()
        t = self.peek()
        if t.kind == "word" or (t.kind == "cmd" and (t.text in NAME_CMDS | set(FUNC_CMDS) | set(
                GREEK) | HATS | set(BN_CMDS) or MACRO.fullmatch(t.text))):
            v, span = self.name()
        else:
            v, span = self.atom()
            v, span = self.postfix(v, span)
        self.depth -= 1
        return v, span

    def atom(self) -> tuple[Value, Span]:
        t = self.next()
        if t.kind == "num":
            return self.number(t)
        if t.kind == "op" and t.text in "({[":  # \left[ ... \right]: a bracket too
            close = {"(": ")", "{": "}", "[": "]"}[t.text]
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
            if t.text == "nabla":
                return self.nabla(t)
            found = self.textbook(t)
            if found is not None:
                return found
            if t.text == "sqrt":  # \sqrt{x}: entry by entry
                arg, aspan = self.group(t)
                span = (t.start, aspan[1])
                return self.b.pointwise(sp.sqrt, [arg], span, t.start), span
            if t.text == "ones":
                return OnesVec(False, self.b.src((t.start, t.end))), (t.start, t.end)
            if t.text == "lambda" or t.text in EPSILONS:  # the L2 strength; batch norm's ε
                written = self.b.text[t.start:t.end]
                span = (t.start, t.end)
                zero = self.zero_penalty(t)
                if zero is not None:
                    return zero
                return self.b.const(self.b.l2_strength(written, t.start), span, t.start), span
        if t.kind == "end":
            raise self.err("the formula ends where an operand was expected", t)
        if t.kind == "cmd" and t.text not in ELLIPSES:
            raise self.err(unsupported(t.text), t)
        raise self.unexpected(t)

    def zero_penalty(self, t: Tok) -> tuple[Value, Span] | None:
        """``\\lambda \\nabla_{b} \\Omega(\\theta)`` on a network without L2: the penalty's
        gradient of a bias is 0 whatever λ is, so the term is 0 (None: not such a term)."""
        if self.b.net.l2 is not None or self.peek().text != "nabla":
            return None
        save, notes = self.i, list(self.b.notes)
        try:
            v, span = self.factor()
        except ParseError:
            v = None
        if isinstance(v, Const) and v.value == 0:
            return v, (t.start, span[1])
        self.i, self.b.notes[:] = save, notes
        return None

    def number(self, t: Tok) -> tuple[Value, Span]:
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


def parse(b: Builder, start: int, end: int) -> Value:
    """Parse ``b.text[start:end]`` as LaTeX (mathematical notation: strict element-wise)."""
    b.mode = "math"
    own = state(b)
    if start == 0 and end < len(b.text) and not own.trial:  # the left side: count the layers
        own.numbering = numbering(b, end, parse)
        if own.numbering != "face":
            b.note(NOTES[own.numbering])
    p = _Parser(b, tokenize(b.text, start, end))
    p.left_side = start == 0 and end < len(b.text)
    p.any_weight = own.any_weight  # shared: w_k read on the left is any weight on the right too
    if not p.left_side and own.indices and own.target is not None:  # an entry's formula
        p.start_index(own.indices)
        p.lhs_target_letters = own.indices
    try:
        v, _ = p.expr()
    except ParseError as exc:
        if not p.index_mode or p.terms or NO_INDEX not in exc.message:
            raise
        p = _Parser(b, tokenize(b.text, start, end))  # no entry at all: the whole gradient
        v, _ = p.expr()
        b.note("the right side writes no entry's index: read as the whole gradient's formula")
    t = p.peek()
    if t.kind != "end":
        raise p.unexpected(t)
    if p.jacobians:  # ∂P/∂Q with no gradient on its left to carry
        _, _, (a, _) = p.jacobians[0]
        raise ParseError("a derivative of a quantity (∂z/∂w) is read only as a Jacobian that "
                         "a gradient on its left is carried through: (\\hat{y} - y) "
                         "\\frac{\\partial \\hat{y}}{\\partial W}; ∂ alone is read as "
                         "∂L/∂Q", a, b.text)
    if p.left_side and isinstance(v, E.Sym):  # the left side: its gradient and its indices
        own.target, own.indices = v, tuple(p.lhs_letters)
    elif p.index_mode and own.target is not None:
        v = p.finish_index(v, own.target, start)
    return v
