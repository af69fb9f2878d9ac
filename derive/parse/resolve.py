"""Which quantity a name means, for one input text: layer indices, the current layer of names
written without one, and how the names were written (the bookkeeping both parsers share).

Names without a layer index (``dZ, dA, dW, db, W, b, Z, A``) are the *current layer*, as in the
course's ``linear_backward(dZ, cache)``; ``A_prev``, ``dA_prev`` are the layer below it. The
current layer is the ``layer`` argument, else the left side's own index (``dZ1 = ... * A``), else
a layer l to be chosen, like a generic index: the parser then reads the formula at each l
(:class:`~derive.parse.names.GenericLayerNeeded`), and each such name is recorded in
``unindexed`` as (as written, quantity, offset from l), which :func:`reading` puts into words.

>>> from derive.network.spec import Network
>>> r = Resolver(Network(layers=[3, 4, 2]), "dA_prev = np.dot(W.T, dZ)", current=2)
>>> r.symbol("dA", ("prev", -1), (0, 7), 0).text, r.symbol("W", None, (17, 18), 17).text
('dA[1]', 'W[2]')
>>> reading(r.unindexed), reading(r.unindexed, 2)
('dA_prev as dA[l-1], W as W[l]', 'dA_prev as dA[1], W as W[2]')
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TypeVar

import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.names import EPS_NAMES, KEEP_PROB_NAMES, scalar_text
from derive.errors import ParseError
from derive.network.spec import Network
from derive.network.symbols import GLOBAL, SymbolTable
from derive.parse.bindings import Binding, Bindings, rebind
from derive.parse.dialects import Dialect
from derive.parse.names import (
    MAX_SYMBOLS,
    GenericLayerNeeded,
    LayerIndex,
    LayerOutOfRange,
    below_bar,
)

Span = tuple[int, int]
LOWER_NOTE = ("lower-case names (dz, a, w, x, ...) are read as the same quantities as upper case "
              "(one example is the case m = 1)")
ONE_EXAMPLE_NOTE = ("every name is in lower case and m is not written: read as one example "
                    "(m = 1), so dw and db carry no 1/m")
Unindexed = tuple[str, str, int]  # a name without a layer index: as written, quantity, offset
_NAME = re.compile(r"[A-Za-z]+(?:_\{prev\}|_prev)?")
_V = TypeVar("_V")
PER_UNIT = ("gamma", "beta", "mu", "var")  # batch norm's per-unit columns (n×1)


class Resolver:
    """Names into the symbols of one network's :class:`SymbolTable`, for one input text.

    ``current`` is the layer a name without an index refers to (None: a layer l still to be
    chosen, given by ``generic`` when the parser reads the formula at l); ``generic`` is the value
    of a generic index ``l``. ``from_target`` says the current layer is the left side's own index.
    """

    def __init__(self, net: Network, text: str, current: int | None = None,
                 generic: int | None = None, bindings: Bindings | None = None):
        self.net, self.text = net, text
        self.bindings: Bindings = bindings or {}  # identifiers bound to quantities (bindings.py)
        self.bound: list[str] = []  # the bound names used, as "h1 as A[1]"
        self.dialect: Dialect | None = None  # the dialect whose names are bound, if any
        self.rhs_bindings: Bindings | None = None  # the right side's, where they differ
        self.table = SymbolTable(net)
        self.current, self.generic = current, generic
        self.from_target = False
        self.generic_used = False  # a generic index l was written
        self.unindexed: list[Unindexed] = []
        self.cases: set[str] = set()  # "lower", "upper": how the quantities were written
        self.uses_m = False  # m was written (1/m, np.mean over the examples, X.shape[1])
        self.notes: list[str] = []
        self.n_symbols = 0

    # -- bookkeeping ------------------------------------------------------------------------
    def src(self, span: Span) -> str:
        """The operand as written; widened to balance its brackets (a span may begin inside a
        parenthesized factor, as in ``(1/m) dZ1 Xᵀ``)."""
        a, b = span
        text = self.text
        for _ in range(len(text)):
            piece = text[a:b]
            opened = sum(piece.count(c) for c in "([{") - sum(piece.count(c) for c in ")]}")
            if opened < 0 and a > 0:
                a = max(text.rfind(c, 0, a) for c in "([{")
                if a < 0:
                    break
            elif opened > 0 and b < len(text):
                ends = [i for i in (text.find(c, b) for c in ")]}") if i >= 0]
                if not ends:
                    break
                b = min(ends) + 1
            else:
                break
        return text[max(a, 0):b].strip()

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, pos, self.text)

    @property
    def one_example(self) -> bool:
        """Every quantity written in lower case (b, db are either), and m never written."""
        return self.cases == {"lower"} and not self.uses_m

    # -- names ------------------------------------------------------------------------------
    def layer(self, index: LayerIndex | None, what: str, pos: int) -> int:
        """A concrete layer number from a parsed index (see names.parse_layer_index)."""
        L = self.net.L
        if index is None or index[0] == "prev":
            offset = 0 if index is None else index[1]
            here = self.current if self.current is not None else self.generic
            if here is None and L == 1:
                here = 1
            if here is None:
                raise GenericLayerNeeded(
                    f"{what} needs a layer index (the network has {L} layers): write {what}[1] "
                    f"or {what}1, or give the layer to check", pos, self.text)
            return here + offset
        kind, k = index
        if kind == "num":
            return k
        if kind == "L":
            self.note(f"L read as the output layer L = {L}")
            return L + k
        if self.generic is None:
            raise GenericLayerNeeded(f"{what}: a generic layer l needs a concrete layer", pos,
                                     self.text)
        self.generic_used = True
        return self.generic + k

    def symbol(self, base: str, index: LayerIndex | None, span: Span, pos: int,
               lower: bool = False, counted: bool = True) -> E.Sym:
        """The table's symbol for ``base`` at the layer ``index`` names, with ``src`` set;
        ``counted=False`` (a bound name) leaves it out of how the quantities were written."""
        self.n_symbols += 1
        if self.n_symbols > MAX_SYMBOLS:
            raise self.error(f"more than {MAX_SYMBOLS} symbols in one formula", pos)
        if lower:
            self.note(LOWER_NOTE)
        stem = base[1:] if base.startswith("d") and len(base) > 1 else base
        if counted and (lower or stem != "b"):  # b and db are written the same in both cases
            self.cases.add("lower" if lower else "upper")
        layer: int | None
        if base == "dX":  # the input's gradient, dA[0], at whatever layer the formula is about
            if index is not None:
                raise self.error("dX has no layer index: it is dA[0], the gradient with respect "
                                 "to the input", pos)
            return replace(self.table["dA", 0], src=self.src(span))
        if base == "Y" and index == ("L", 0):  # y^L: the target of the output layer L
            self.note(f"{self.src(span)} read as Y: the targets, written with the output "
                      "layer's L")
            index = None
        if base in GLOBAL:
            if index is not None:
                raise self.error(f"{base} has no layer index", pos)
            layer = None
        else:
            layer = self.layer(index, base, pos)
            if (index is None or index[0] == "prev") and not self.from_target:
                self.unindexed.append((_name(self.src(span)), base, 0 if index is None else
                                       index[1]))
        try:
            sym = self.table[base, layer]
        except KeyError as exc:
            lo = 0 if base in ("A", "dA") else 1
            if layer is not None and lo <= layer <= self.net.L:  # in range: say what is missing
                raise self.error(str(exc.args[0]), pos) from None
            raise LayerOutOfRange(
                f"{base}[{layer}] is not in this network: {base} has layers {lo} to "
                f"{self.net.L}", pos, self.text, layer, lo, self.net.L) from None
        return replace(sym, src=self.src(span))

    def l2_strength(self, written: str, pos: int) -> sp.Expr:
        """The L2 coefficient a name such as ``lambd``, ``reg``, ``λ`` or ``\\lambda`` stands for:
        the network's symbol λ, or its number (a note says so); a ParseError if the network's
        cost has no L2 term. A keep-prob name (``keep_prob``) is the network's dropout keep
        probability instead (:meth:`keep_prob`)."""
        if written.strip() in KEEP_PROB_NAMES:
            return self.keep_prob(written, pos)
        if written.strip() in EPS_NAMES:
            if "epsilon" not in self.table.scalars:
                raise self.error(f"{written} reads as batch normalisation's ε, but the network has "
                                 "no batch norm: pass --batchnorm (Python: Network(batchnorm=...)), "
                                 "or bind the name", pos)
            return self.table.scalar(written)
        lam = self.net.l2
        if lam is None:
            raise self.error(f"{written} reads as the L2 strength λ, but the network has no L2 "
                             "term: pass --l2 (and --l2-form) (Python: Network(l2=..., "
                             "l2_form=...)), or bind the name", pos)
        if self.net.l2_symbolic:
            if written not in ("λ", "\\lambda"):
                self.note(f"{written} read as the L2 strength λ")
            return self.table.scalar("lambda")
        self.note(f"{written} read as the L2 strength {scalar_text(lam)}")
        return lam

    def keep_prob(self, written: str, pos: int) -> sp.Expr:
        """The dropout keep probability ``keep_prob`` stands for: the network's symbol, or its
        number when every hidden layer with dropout has the same one (a note says so)."""
        probs = {p for p in self.net.keep_prob or () if p is not None}
        if not probs:
            raise self.error(f"{written} reads as the dropout keep probability, but the network "
                             "has no dropout: pass --keep-prob (Python: Network(keep_prob=...)), "
                             "or bind the name", pos)
        if len(probs) > 1:
            raise self.error(f"{written}: the hidden layers have different keep probabilities "
                             f"({', '.join(sorted(scalar_text(p) for p in probs))}): write the "
                             "number, or bind the name", pos)
        (p,) = probs
        if p.free_symbols:
            return self.table.scalar("keep_prob")
        self.note(f"{written} read as the keep probability {scalar_text(p)}")
        return p

    def gradient_of(self, value: object, span: Span, pos: int) -> E.Sym | E.Transpose:
        """∂L/∂Q for a quantity Q as written in a fraction: Z[1] -> dZ[1]. A transposed
        parameter (logistic regression's column w, bound to W[1]ᵀ) gives its gradient
        transposed, dW[1]ᵀ: the left side ∂L/∂w is then checked as dW[1] = (right side)ᵀ."""
        if isinstance(value, E.Transpose) and isinstance(value.arg, E.Sym) \
                and value.arg.base in ("W", "b") and value.arg.layer is not None:
            inner = self.gradient_of(value.arg, span, pos)
            return E.Transpose(inner, src=self.src(span))
        if not isinstance(value, E.Sym) or value.base not in below_bar():
            *some, last = below_bar()
            raise self.error(f"∂L/∂(...) needs one of {', '.join(some)} or {last} below the "
                             "fraction bar", pos)
        base, layer = ("dA", 0) if value.base == "X" else ("d" + value.base, value.layer)
        if self.unindexed and self.unindexed[-1][1] == value.base and value.base != "X":
            self.unindexed[-1] = (self.src(span), base, self.unindexed[-1][2])  # dL/dZ is dZ
        return replace(self.table[base, layer], src=self.src(span))

    def per_unit(self, a: E.Expr, b: E.Expr) -> bool:
        """Whether one operand is a column of per-unit values (batch norm's γ, β, μ, σ², a bias
        b: n×1) and the other n×m: in mathematical notation too the column is broadcast over
        the examples (as b 𝟙ᵀ), as derive itself prints batch norm (a note says so)."""
        for col, full in ((a, b), (b, a)):
            if _same(col.shape[1], 1) and _same(col.shape[0], full.shape[0]) \
                    and not _same(full.shape[1], 1) and col.symbols() and _column(col):
                self.note(f"{col.written()} (one value per unit) broadcast over the examples' "
                          "columns")
                return True
        return False

    def preactivation(self, arg: _V, span: Span) -> _V | E.Sym:
        """``W[l] A[l-1]`` (Aᵀ-free, ``(w^T)^T x`` alike; ``A[l-1] W[l]`` in rows) as an
        activation's argument: Z[l] without its bias, as textbooks write σ(wᵀx) for a layer
        with no bias. Read as Z[l] with the condition that b[l] = 0; anything else unchanged."""
        def bare(e: object) -> object:
            while isinstance(e, E.Transpose) and isinstance(e.arg, E.Transpose):
                e = e.arg.arg
            return e

        prod = bare(arg)
        if not isinstance(prod, E.MatMul):
            return arg
        w, a = bare(prod.left), bare(prod.right)
        if not self.net.layout.columns:
            w, a = a, w
        if not (isinstance(w, E.Sym) and w.base == "W" and w.layer is not None
                and isinstance(a, E.Sym) and (a.base, a.layer) in (
                    ("A", w.layer - 1), ("X" if w.layer == 1 else "A", None if w.layer == 1
                                         else w.layer - 1))):
            return arg
        z = self.symbol("Z", ("num", w.layer), span, span[0], counted=False)
        self.note(f"{self.src(span)}: {prod.written()} read as Z[{w.layer}] without its bias")
        self.note(f"condition: only when layer {w.layer} has no bias (b[{w.layer}] = 0): the "
                  f"formula writes {prod.written()} for Z[{w.layer}]")
        return z

    def bound_expr(self, binding: Binding, span: Span, pos: int) -> E.Expr:
        """A name bound to an expression: that expression over this network's symbols."""
        assert binding.expr is not None  # the caller looked
        self.n_symbols += 1
        if self.n_symbols > MAX_SYMBOLS:
            raise self.error(f"more than {MAX_SYMBOLS} symbols in one formula", pos)
        self.note_bound(binding)
        e = rebind(binding.expr, self.net, self.table, self.text, pos)
        return replace(e, src=self.src(span))

    def note_bound(self, binding: Binding) -> None:
        said = f"{binding.ident} as {binding.meaning}"
        if said not in self.bound:
            self.bound.append(said)


def _same(a: object, b: object) -> bool:
    return bool(as_sympy(a) == as_sympy(b))


def _column(e: E.Expr) -> bool:
    """One value per unit: made of batch norm's γ, β, μ, σ², numbers, and sums over the
    examples (Σ_i of anything)."""
    if isinstance(e, E.Sum):
        return e.axis == 1
    if isinstance(e, E.Sym):
        return e.base in PER_UNIT
    if isinstance(e, E.Scalar):
        return True
    return bool(e.children()) and all(_column(c) for c in e.children())


def _name(written: str) -> str:
    """The name alone, without the scripts LaTeX writes on it: ``A_{prev}^T`` is ``A_{prev}``,
    ``dZ^{(i)}`` is ``dZ``; a fraction (``dL/dZ``) stays whole."""
    mt = _NAME.match(written)
    return mt.group() if mt and "/" not in written else written


def _at(base: str, offset: int, layer: int | None) -> str:
    if layer is None:
        return f"{base}[l{offset:+d}]" if offset else f"{base}[l]"
    if layer + offset == 0 and base == "A":
        return "X"
    return f"{base}[{layer + offset}]"


def reading(unindexed: list[Unindexed] | tuple[Unindexed, ...], layer: int | None = None) -> str:
    """What each name without a layer index was read as: ``dZ as dZ[l], A_prev as A[l-1]`` (at
    a generic current layer l), or at the concrete ``layer``; each name once, in order."""
    seen: dict[str, str] = {}
    for written, base, offset in unindexed:
        seen.setdefault(written, f"{written} as {_at(base, offset, layer)}")
    return ", ".join(seen.values())


__all__ = ["LOWER_NOTE", "ONE_EXAMPLE_NOTE", "Resolver", "Span", "Unindexed", "reading"]
