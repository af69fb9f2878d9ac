"""Index (element-wise) form in LaTeX (issue 13, item 3): a formula about one entry,
``\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j``, read as the vectorised
formula it states for every entry, dW[l] = δ^l (a^{l-1})ᵀ, so the ordinary checker judges it.

The left side's indices (j, k) fix the entry; each index letter gets a slot: the left side's
first is the row (slot 0), its second the column (slot 1), and a letter summed over on the right
(``\\sum_i \\delta^{l+1}_i w^{l+1}_{ik}``) takes the free slot. A quantity with one index is a
vector in that slot, kept one column per example (its value for every example at once); a
weight with two is the matrix, transposed when its letters come in the other order. A product
of entries is then:

- vectors in the same slot: the element-wise product (δ_j = ∂C/∂a_j σ′(z_j) is dA ⊙ g′(Z));
- a vector in each slot: the outer product, summed over the examples (a_k δ_j is δ aᵀ) and
  with the cost's 1/m when the cost is a mean (the entry's formula is one example's);
- a sum over a letter: a matrix product (Σ_i w_{ik} δ_i is Wᵀ δ) or a sum over units.

An entry formula for a bias (``\\partial C/\\partial b^l_j = \\delta^l_j``) is summed over the
examples the same way. Indices that differ between the sides (∂C/∂a_k = 2(a_i − y_i)) are a
shape error naming both; numbered entries (w^2_{11}) are refused with the nearest form.

>>> from derive.network.spec import Network
>>> from derive.parse import parse_equation
>>> eq = parse_equation(r"\\frac{\\partial C}{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j",
...                     Network(layers=[4, 3, 2], scale="sum"), layer=2)
>>> print(eq.target.text, "=", eq.rhs)
dW[2] = dZ[2] A[1]ᵀ
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import m as M
from derive.parse.build import Const, Span, Value
from derive.parse.latex_state import state
from derive.parse.latex_textbook import TextbookMixin
from derive.parse.latex_tokens import Tok

NO_INDEX = "has no index"  # the error of a quantity without one in an entry's formula
PER_EXAMPLE = {"A", "Z", "dA", "dZ", "X", "Y"}  # quantities with one column per example


@dataclass
class Term:
    """A product of entries: a constant, a per-example scalar (1×m), a vector per slot (one
    column per example, or a fixed n×1) and a matrix (slot 0 × slot 1)."""

    c: sp.Expr = sp.Integer(1)
    s: E.Expr | None = None
    v: list[E.Expr | None] = field(default_factory=lambda: [None, None])
    mat: E.Expr | None = None
    per_example: bool = False

    def slots(self) -> set[int]:
        out = {k for k in (0, 1) if self.v[k] is not None}
        return out | ({0, 1} if self.mat is not None else set())


def _same_shape(a: E.Expr, b: E.Expr) -> bool:
    return all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(a.shape, b.shape, strict=True))


def had(a: E.Expr | None, b: E.Expr | None) -> E.Expr | None:
    """a ⊙ b, numpy broadcasting a row or column (the larger operand first); None is 1."""
    if a is None or b is None:
        return a if b is None else b
    if any(x == 1 and y != 1 for x, y in zip(a.shape, b.shape, strict=True)):
        a, b = b, a
    return E.Hadamard(a, b, broadcast=not _same_shape(a, b), src=f"{a.written()} ⊙ {b.written()}")


class IndexMixin(TextbookMixin):
    """Reading formulas about entries (module docstring)."""

    def start_index(self, letters: tuple[str, ...]) -> None:
        """The right side of an entry's formula: ``letters`` are the left side's indices."""
        self.index_mode = True
        self.slot_letters = list(letters)
        self.terms: dict[int, tuple[E.Expr, Term]] = {}

    # -- entries ------------------------------------------------------------------------------
    def entry(self, v: Value, letters: list[str], span: Span, where: Tok) -> Value:
        if any(x.isdigit() for x in letters):
            return self.numbered(v, [c for x in letters for c in x], span, where)
        if not self.index_mode:
            if self.in_sum and self.sum_letters and letters == [self.sum_letters[-1]] \
                    and isinstance(v, E.Sym) and v.base in PER_EXAMPLE:
                self.example_seen = True  # x_i inside \sum_i: example i's column
                return v
            if isinstance(v, E.Sym) and v.base == "W" and len(letters) == 1 and (
                    self.left_side or letters == self.any_weight):
                # w_k with one index: any weight (a flat index over them all), entry by entry
                # the same formula as for the whole matrix
                if not self.any_weight:
                    self.b.note(f"{self.b.src(span)} read as any weight: the formula holds for "
                                "every entry of W, so it is read for the whole matrix")
                self.any_weight[:] = letters
                return v
            if self.left_side and isinstance(v, E.Sym):  # the left side: its indices
                self.lhs_letters = list(letters)
                return v
            raise self.err(f"{self.b.src(span)} is an entry (index form): write the left side "
                           "as an entry too (\\frac{\\partial C}{\\partial w^l_{jk}}), or the "
                           "vectorised formula (dW^{[l]} = \\frac{1}{m} dZ^{[l]} A^{[l-1]T})",
                           where)
        if not isinstance(v, E.Sym):
            raise self.err("an index is read on a quantity (a^l_j, w^l_{jk})", where)
        slots = [self.slot_of(x, where) for x in letters]
        col = v if self.b.net.layout.columns or v.base not in PER_EXAMPLE else E.Transpose(v)
        t = Term(per_example=v.base in PER_EXAMPLE)
        if len(slots) == 1 and (v.base in PER_EXAMPLE or v.base in ("b", "db")):
            t.v[slots[0]] = replace(col, src=self.b.src(span)) if isinstance(col, E.Sym) else col
        elif len(slots) == 2 and v.base in ("W", "dW") and slots[0] != slots[1]:
            t.mat = v if slots == [0, 1] else E.Transpose(v, src=self.b.src(span))
        else:
            raise self.err(f"{self.b.src(span)}: a vector takes one index (a_j), a weight two "
                           "different ones (w_{jk})", where)
        return self.register(t)

    def numbered(self, v: Value, digits: list[str], span: Span, where: Tok) -> Value:
        """A numbered entry (w^2_{11}, a^2_1): the formula for that entry is read as the
        formula of every entry, each index placed by the size of the layer it counts (the row's
        or the column's of the left side); a one-unit vector is a number per example."""
        refuse = self.err("numbered entries are read on a vector (a^2_1) and on the left side "
                          "(w^2_{11}): write the entry with letters (\\frac{\\partial C}"
                          "{\\partial w^l_{jk}} = a^{l-1}_k \\delta^l_j) or the vectorised "
                          "formula (dW^{[l]} = ...)", where)
        if not all(x.isdigit() for x in digits) or not isinstance(v, E.Sym):
            raise refuse
        if self.left_side:
            self.lhs_letters = [f"#{k}" for k in range(len(digits))]
            self.b.note(f"{self.b.src(span)}: a numbered entry, read as the formula of every "
                        "entry (each index by the size of the layer it counts)")
            self.b.note("condition: only when the formula written for one entry holds for "
                        "every entry")
            return v
        target = state(self.b).target
        if not self.index_mode or target is None or len(digits) != 1 \
                or v.base not in PER_EXAMPLE | {"b", "db"}:
            raise refuse
        layout = self.b.net.layout
        units = v.shape[layout.unit_axis % 2] if v.base in PER_EXAMPLE else v.shape[
            0 if layout.columns else 1]
        rows = target.shape if layout.columns or target.base in ("dW", "W") else target.shape[::-1]
        sizes = [rows[0]] if len(self.lhs_target_letters) == 1 else list(rows)
        fits = [k for k, n in enumerate(sizes) if bool(as_sympy(n) == as_sympy(units))]
        col = v if layout.columns or v.base not in PER_EXAMPLE else E.Transpose(v)
        if len(fits) == 1:
            t = Term(per_example=v.base in PER_EXAMPLE)
            t.v[fits[0]] = col
            return self.register(t)
        if not fits and bool(as_sympy(units) == 1):  # one unit: a number per example
            return self.register(Term(s=col, per_example=v.base in PER_EXAMPLE))
        if fits:
            raise self.err(f"{self.b.src(span)}: the left side's rows and columns have the same "
                           "size, so a numbered entry does not say which it counts: write the "
                           "entry with letters", where)
        raise ShapeMismatch("entry formula", self.b.src(span), target.text, (units,),
                            tuple(sizes), "the entry counts units of a layer the left side's "
                            "entry does not")

    def slot_of(self, letter: str, where: Tok) -> int:
        if letter not in self.slot_letters:
            if len(self.slot_letters) >= 2:  # a claim no entry of two indices can state
                raise ShapeMismatch("entry formula", letter, ", ".join(self.slot_letters),
                                    (letter,), tuple(self.slot_letters),
                                    f"a third index {letter}: an entry formula is read with "
                                    "at most two indices at once")
            self.slot_letters.append(letter)
        return self.slot_letters.index(letter)

    def register(self, t: Term) -> Value:
        """The term as a value; one not yet complete (w_{ji} δ_j before its \\sum_j) stands
        for itself until a product or sum completes it."""
        try:
            v = self.dense(t)
        except ParseError:
            assert t.mat is not None  # only a weight without its sum is incomplete
            v = E.Scale(sp.Integer(1), t.mat, src=t.mat.src)
        if isinstance(v, E.Expr):
            self.terms[id(v)] = (v, t)
        return v

    def entry_total(self, q: Value, out: E.Expr) -> Value:
        """``out`` (a sum over the examples, not per example) with the indices of the entry q."""
        if not self.index_mode:
            return out
        t = self.term_of(q, 0)
        total = Term()
        if t.mat is not None:
            total.mat = out if not isinstance(t.mat, E.Transpose) else E.Transpose(out)
        elif t.v[0] is not None or t.v[1] is not None:
            total.v[0 if t.v[0] is not None else 1] = out if out.shape[0] != 1 or \
                self.b.net.layout.columns else E.Transpose(out)
        else:
            return out
        return self.register(total)

    def entry_gradient(self, q: Value, span: Span, pos: int) -> Value:
        """∂C/∂q for an entry q (a_j, w_{jk}): the gradient's entry, with q's indices."""
        t = self.term_of(q, pos)
        sym = q.arg if isinstance(q, E.Transpose) else q
        if isinstance(q, E.Scale) and isinstance(q.arg, E.Transpose):
            sym = q.arg.arg
        g = self.b.gradient_of(sym, span, pos)
        if isinstance(g, E.Transpose):  # an entry's w_{jk} is never the column w
            raise self.err("an entry's weight is written w_{jk}, not transposed", self.peek())
        out = Term(per_example=g.base in PER_EXAMPLE)
        col = g if self.b.net.layout.columns or g.base not in PER_EXAMPLE else E.Transpose(g)
        if t.mat is not None:
            out.mat = g if isinstance(t.mat, E.Sym) else E.Transpose(g, src=g.src)
        elif t.v[0] is not None or t.v[1] is not None:
            out.v[0 if t.v[0] is not None else 1] = col
        else:
            return g
        return self.register(out)

    def term_of(self, v: Value, pos: int) -> Term:
        """The entries ``v`` multiplies (a built value's: the registered values inside it)."""
        if isinstance(v, Const):
            return Term(c=v.value)
        if not isinstance(v, E.Expr):
            raise self.b.error("𝟙 is not read in an entry's formula", pos)
        found = self.terms.get(id(v))
        if found is not None and found[0] is v:
            return found[1]
        slots: set[int] = set()
        per_example = seen = False
        stack = [v]
        while stack:  # the registered values inside v (a function of them keeps their slots)
            node = stack.pop()
            hit = self.terms.get(id(node))
            if hit is not None and hit[0] is node:
                slots |= hit[1].slots()
                per_example = per_example or hit[1].per_example
                seen = True
                continue
            stack.extend(node.children())
        if seen and not slots:  # a function of numbers per example (σ′ of a one-unit z)
            return Term(s=v, per_example=per_example)
        one = self.b.net.layout.batch(sp.Integer(1), M)
        if not slots and all(bool(as_sympy(x) == y) for x, y in zip(v.shape, one, strict=True)):
            col = v if self.b.net.layout.columns else E.Transpose(v)
            return Term(s=col, per_example=True)  # a one-unit quantity without an index
        if not slots:
            if all(bool(as_sympy(x) == 1) for x in v.shape) or self.in_sum_over_units():
                return Term(s=v)
            raise self.b.error(f"{v.written()} {NO_INDEX}: in an entry's formula every "
                               "quantity carries its entry's index (a^l_j, w^l_{jk})", pos)
        if slots == {0, 1}:
            return Term(mat=v, per_example=per_example)
        t = Term(per_example=per_example)
        t.v[slots.pop()] = v
        return t

    def in_sum_over_units(self) -> bool:
        return False

    # -- arithmetic ---------------------------------------------------------------------------
    def ix_product(self, items: list[tuple[Value, Span]]) -> tuple[Value, Span]:
        """Entries side by side or joined by ⊙, *, ·: their product, entry by entry."""
        span = (items[0][1][0], items[-1][1][1])
        t = self.term_of(items[0][0], span[0])
        for v, _ in items[1:]:
            u = self.term_of(v, span[0])
            t = Term(t.c * u.c, had(t.s, u.s), [had(t.v[0], u.v[0]), had(t.v[1], u.v[1])],
                     had(t.mat, u.mat), t.per_example or u.per_example)
        return self.register(t), span

    def ix_add(self, a: Value, b: Value, span: Span, pos: int, minus: bool) -> Value:
        ta, tb = self.term_of(a, pos), self.term_of(b, pos)
        if ta.slots() != tb.slots() and ta.slots() and tb.slots():
            left, right = self.letters(ta), self.letters(tb)
            raise ShapeMismatch("sum of entries", self.b.src(span), "", (left,), (right,),
                                "the two terms have different indices")
        out = self.b.add(self.dense(ta), self.dense(tb), span, pos, minus=minus)
        if not isinstance(out, E.Expr):
            return out
        slots = ta.slots() | tb.slots()
        t = Term(per_example=ta.per_example or tb.per_example)
        if slots == {0, 1}:
            t.mat = out
        elif slots:
            t.v[slots.pop()] = out
        else:
            t.s = out
        self.terms[id(out)] = (out, t)
        return out

    def ix_sum(self, letter: str, t: Tok) -> tuple[Value, Span]:
        """``\\sum_i`` over an index of the entries: a matrix product or a sum over units."""
        slot = self.slot_of(letter, t)
        body, bspan = self.jux()
        span = (t.start, bspan[1])
        b = self.term_of(body, t.start)
        other = 1 - slot
        if slot not in b.slots():
            raise self.err(f"\\sum_{letter} over an index the terms do not have", t)
        vec = had(b.v[slot], b.s)
        if b.mat is not None and vec is not None and b.v[slot] is not None:
            mat = b.mat if slot == 1 else E.Transpose(b.mat)
            w = E.MatMul(mat, vec, src=self.b.src(span))
            out = Term(b.c, None, [None, None], None, True)
            out.v[other] = had(b.v[other], w)
        elif b.mat is None and vec is not None:
            total = E.Sum(vec, 0, src=self.b.src(span))
            out = Term(b.c, total, [None, None], None, b.per_example)
            out.v[other] = b.v[other]
        else:
            raise self.err(f"\\sum_{letter}: the weight's other index must be summed, or a "
                           "vector of this index multiply it", t)
        self.b.note(f"{self.b.src(span)}: \\sum_{letter} read as a sum over the units of index "
                    f"{letter}")
        return self.register(out), span

    def letters(self, t: Term) -> str:
        return ", ".join(self.slot_letters[k] for k in sorted(t.slots())) or "none"

    def dense(self, t: Term) -> Value:
        """The term's value: its entries for every index, one column per example (an outer
        product summed over the examples, with the cost's 1/m)."""
        out: E.Expr | None
        if t.v[0] is not None and t.v[1] is not None:
            left = had(t.v[0], t.s)
            assert left is not None  # v[0] is not None
            out = E.MatMul(left, E.Transpose(t.v[1]), src=f"{left.written()} {t.v[1].written()}ᵀ")
            if t.per_example and self.b.net.scale == "mean":
                out = E.Scale(1 / M, out, src=out.src)
            out = had(t.mat, out)
        elif t.mat is not None and (t.v[0] is not None or t.v[1] is not None or t.s is not None):
            raise self.b.error("a weight w_{jk} times a vector of one of its indices needs a "
                               "sum over the other: \\sum_k w_{jk} a_k", 0)
        else:
            out = had(had(t.mat, t.v[0] if t.v[0] is not None else t.v[1]), t.s)
        if out is None:
            return Const(t.c)
        if t.c != 1:
            out = E.Scale(t.c, out, src=out.src)
        return out

    def finish_index(self, v: Value, target: E.Sym, pos: int) -> Value:
        """The right side of an entry's formula as the whole gradient ``target``."""
        t = self.term_of(v, pos)
        want = set(range(len(self.lhs_target_letters)))
        if t.slots() != want:
            raise ShapeMismatch("entry formula", self.b.src((pos, len(self.b.text))), "",
                                (", ".join(self.lhs_target_letters),), (self.letters(t),),
                                "the right side's indices are not the left side's")
        out = self.dense(t)
        if not isinstance(out, E.Expr):
            raise self.b.error("an entry's formula needs the entries of a quantity", pos)
        aggregate = target.base in ("db", "dW", "dA") and target.base != "dA" \
            and len(want) == 1 and t.per_example
        if aggregate:  # a bias's entry, one example's: summed over the examples
            out = E.Sum(out, 1, src=out.src)
            if self.b.net.scale == "mean":
                out = E.Scale(1 / M, out, src=out.src)
        if not self.b.net.layout.columns and len(want) == 1:
            out = E.Transpose(out, src=out.src)
        said = ", ".join(self.lhs_target_letters)
        how = " (one example's entries summed over the examples" + (
            ", with the cost's 1/m)" if self.b.net.scale == "mean" else ")") \
            if aggregate or len(want) == 2 and t.per_example else ""
        self.b.note(f"read entry by entry ({said}): {target.text} = {out}{how}")
        return out
