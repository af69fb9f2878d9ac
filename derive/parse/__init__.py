"""Untrusted formulas into expressions over a network's symbols: LaTeX or numpy-style text.

``parse_equation("dZ1 = W2.T @ dZ2 * (Z1 > 0)", net)`` gives an :class:`Equation`: the gradient
named on the left (a :class:`derive.core.expr.Sym` of the network's :class:`SymbolTable`) and the right
side as a :mod:`derive.core.expr` tree whose nodes carry ``src``, the text as the user wrote it.

Every bad input raises :class:`derive.errors.ParseError` with a 0-based position; operands whose
shapes clash raise :class:`derive.errors.ShapeMismatch` (naming both as written) from building the
tree. Nothing the user wrote is ever evaluated by Python (docs/parsing.md).

>>> from derive.network.spec import Network
>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> eq = parse_equation("dZ[1] = W[2]T dZ[2] * g[1]'(Z[1])", net)
>>> eq.target.text, eq.syntax, eq.rhs.shape
('dZ[1]', 'text', (3, m))
>>> print(eq.rhs)
W[2]ᵀ dZ[2] ⊙ relu′(Z[1])
>>> parse_equation(r"dW^{[l]} = \\frac{1}{m} dZ^{[l]} A^{[l-1]T}", net, layer=2).target.text
'dW[2]'
>>> parse_equation("dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])", net)
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: matrix product dZ[2] and W[2]T: (1×m)·(3×1) — inner dimensions m and 3 differ
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from derive.core import expr as E
from derive.core.expr import Expr, Sym
from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import Network
from derive.parse import text as _text
from derive.parse.bindings import Bindings, Formula, binding, is_quantity, read_bindings
from derive.parse.build import Builder, Const, OnesVec, Value, check_tree_depth
from derive.parse.cost_names import cost_of
from derive.parse.cost_names import target as cost_target
from derive.parse.dialects import DIALECTS as _DIALECTS
from derive.parse.dialects import Dialect, Reading, bindings_for, detect
from derive.parse.names import (
    MAX_DEPTH,
    MAX_EXPONENT,
    MAX_LENGTH,
    MAX_NUMBER_DIGITS,
    MAX_SYMBOLS,
    MAX_TOKENS,
    GenericLayerNeeded,
    LayerOutOfRange,
    check_nesting,
    check_text,
    gradients,
)
from derive.parse.resolve import LOWER_NOTE, ONE_EXAMPLE_NOTE, Unindexed
from derive.parse.resolve import reading as _said
from derive.parse.text_tokens import TEX

SYNTAXES = ("auto", "latex", "text")
DIALECTS = tuple(_DIALECTS)  # course, single_example, cs231n, nielsen, logreg
_COMMENT = re.compile(r"(?<!\\)#[^\n]*")  # a Python comment to the end of its line (not \#)
_TEXT_TEX = "|".join(TEX)
MAX_TREE_DEPTH = 2 * MAX_DEPTH
T = TypeVar("T")

__all__ = [
    "Equation", "parse_equation", "parse_expression", "detect_syntax", "LayerOutOfRange",
    "ParseError", "ShapeMismatch", "MAX_LENGTH", "MAX_DEPTH", "MAX_TOKENS", "MAX_SYMBOLS",
    "MAX_EXPONENT", "MAX_NUMBER_DIGITS", "MAX_TREE_DEPTH", "SYNTAXES", "DIALECTS",
]


@dataclass(frozen=True)
class Equation:
    """``target = rhs`` as the user wrote it, read over one network's symbols."""

    target: Sym  # the gradient named on the left side, e.g. SymbolTable(net)["dZ", 1]
    rhs: Expr  # derive.core.expr tree over SymbolTable(net) symbols
    syntax: str  # "latex" or "text"
    notes: tuple[str, ...]  # readings that needed a choice (·, broadcasting, keepdims, ...)
    generic_layer: bool  # True if the user wrote a generic index l
    # names written without a layer index (dZ, A_prev): (as written, quantity, offset from the
    # current layer), unless the left side's own index gave their layer
    unindexed: tuple[Unindexed, ...] = ()
    one_example: bool = False  # every name in lower case and no m: one example, m = 1
    dialect: str = "course"  # whose names were read (derive.parse.dialects.DIALECTS)
    reading: str | None = None  # which reading of the dialect's names (cs231n: relu_backward)
    readings: tuple[str, ...] = ()  # each dialect or bound name and its quantity: "dout as dZ"
    # "+" or "-" for ``G += e`` / ``G -= e``: the right side is e alone, what the line adds to the
    # gradient's value so far (derive.check reads it as G's data term ± e)
    augmented: str | None = None
    written: str = ""  # the left side as written ("grads['W2']"), for notes


def detect_syntax(text: str) -> str:
    """"latex" if the text uses braces or a LaTeX command other than the few that text also
    reads (\\cdot, \\odot, \\circ, \\times, \\top, \\prime, \\ast, \\partial, \\sigma,
    \\lambda);
    else "text".

    >>> detect_syntax(r"dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^T"), detect_syntax("dW1 = dZ1 @ X.T / m")
    ('latex', 'text')
    """
    if re.search(r"[{}]", text) or re.search(rf"\\(?!(?:{_TEXT_TEX})(?![A-Za-z]))[A-Za-z]", text):
        return "latex"
    return "text"


def _equals(text: str) -> int:
    """The position of the one top-level '=' (not in ==, <=, >=, != or inside brackets)."""
    depth, found = 0, []
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            prev = text[i - 1] if i else ""
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if (not prev or prev not in "=<>!") and nxt != "=":
                found.append(i)
    if not found:
        raise ParseError("an equation needs a left side naming the gradient, '=', and a right "
                         "side, e.g. dW1 = 1/m * np.dot(dZ1, X.T)", len(text), text)
    if len(found) > 1:
        raise ParseError("more than one '=': write one equation, gradient = formula",
                         found[1], text)
    return found[0]


def _syntax(text: str, syntax: str) -> str:
    if syntax not in SYNTAXES:
        raise ParseError(f"unknown syntax {syntax!r}; known: {', '.join(SYNTAXES)}", None, None)
    return detect_syntax(text) if syntax == "auto" else syntax


Read = Callable[[Builder, str], T]  # one reading of the whole text with a Builder and a syntax


def _side(b: Builder, syntax: str, start: int, end: int) -> Value:
    if not b.text[start:end].strip():
        where = "right" if start else "left"
        raise ParseError(f"nothing on the {where} side of '='", min(start, len(b.text)), b.text)
    if syntax == "latex":  # the LaTeX reader loads on first use: most input is text
        from derive.parse import latex as _latex

        return _latex.parse(b, start, end)
    return _text.parse(b, start, end)


def _finish(b: Builder, v: Value, start: int, end: int) -> Expr:
    if isinstance(v, OnesVec):
        raise ParseError("𝟙 alone is not a formula", start, b.text)
    if isinstance(v, Const):
        v = E.Scalar(v.value, src=b.src((start, end)))
    check_tree_depth(v, MAX_TREE_DEPTH, b.text)
    return v


def _read_expression(b: Builder, syntax: str) -> Expr:
    """The whole text as one expression."""
    return _finish(b, _side(b, syntax, 0, len(b.text)), 0, len(b.text))


def _read_equation(b: Builder, syntax: str, eq: int, layer: int | None,
                   augmented: str | None = None) -> tuple[Sym, Expr]:
    """``target = rhs`` split at the '=' at ``eq``: the gradient named on the left, the right
    (``G += e``: the left side ends before the ``+``)."""
    text = b.text
    (ls, le), (rs, re_) = (0, eq - (augmented is not None)), (eq + 1, len(text))
    kind = cost_of(text[ls:le]) if text[ls:le].strip() not in b.bindings else None
    if kind is not None:  # cost = ..., L2_regularization_cost = ...: the cost, not a gradient
        b.mode = "math"
        v = _side(b, syntax, rs, re_)
        return cost_target(kind, text[ls:le]), _finish(b, v, rs, re_)
    target = _side(b, syntax, ls, le)
    flipped = isinstance(target, E.Transpose) and isinstance(target.arg, Sym)
    if flipped:  # dw bound to dW[1].T (a column w): dW[1] is the right side transposed
        assert isinstance(target, E.Transpose)
        target = target.arg
    if not isinstance(target, Sym) or target.base not in gradients():  # dW, db, dZ, dA, ...
        raise ParseError("the left side must name one gradient: dZ1, dW[2], db^{[1]}, "
                         "\\frac{\\partial L}{\\partial Z^{[1]}} or dL/dZ1 (or the cost: cost, J, "
                         "L2_regularization_cost)", ls, text)
    if layer is not None:
        b.current = layer
    elif not b.unindexed:  # the left side names its layer: so do its unindexed names (dZ1 = .. A)
        b.current, b.from_target = target.layer, True
    # else the left side has no index either (dW = ...): the current layer l is still to be chosen
    b.mode = "math"
    if b.rhs_bindings is not None:  # a dialect whose names differ by side (Nielsen's delta)
        b.bindings = b.rhs_bindings
    v = _side(b, syntax, rs, re_)
    rhs = _finish(b, v, rs, re_)
    if flipped:
        b.note(f"{text[ls:le].strip()} is {target.text}ᵀ: checked as {target.text} = "
               "(right side)ᵀ")
        rhs = E.Transpose(rhs, src=rhs.src)
    return target, rhs


@dataclass(frozen=True)
class _Options:
    """The names bound on each side of '=' (the user's over the dialect's) and the dialect."""

    lhs: Bindings
    rhs: Bindings
    dialect: Dialect | None = None
    reading: Reading | None = None


def _attempt(text: str, net: Network, syntax: str, layer: int | None, generic: int | None,
             read: Read[T], bindings: _Options) -> tuple[T, Builder]:
    """One reading with the generic index l (if any) set to ``generic``."""
    b = Builder(net, text, current=layer, generic=generic if generic is not None else layer,
                bindings=bindings.lhs)
    b.rhs_bindings, b.dialect = bindings.rhs, bindings.dialect
    return read(b, syntax), b


def _check(text: object, net: object) -> str:
    """The text to read: checked, with its ``#`` comments blanked (positions are kept)."""
    check_text(text)
    if not isinstance(net, Network):
        raise ParseError("parsing needs a Network (derive.Network(...))", None, None)
    assert isinstance(text, str)  # check_text refuses anything else
    return _COMMENT.sub(lambda mt: " " * len(mt.group()), text)


def _parse(text: str, net: Network, syntax: str, layer: int | None,
           read: Read[T], bindings: _Options) -> tuple[T, Builder, str, int | None]:
    """The reading, its builder, the syntax, and the layer a generic l was read as (or None)."""
    check_nesting(text, 0, len(text))
    syn = _syntax(text, syntax)
    try:
        try:
            out, b = _attempt(text, net, syn, layer, None, read, bindings)
            return out, b, syn, None
        except GenericLayerNeeded as first:
            l, low = 1, None
            while l <= net.L:  # an index only grows with l: one too high stays too high
                try:
                    out, b = _attempt(text, net, syn, layer, l, read, bindings)
                except LayerOutOfRange as exc:
                    if exc.layer is None or exc.low is None or exc.high is None:
                        l += 1
                    elif exc.layer > exc.high or (exc.position, exc.layer) == low:
                        break  # too high, or too low and not moving with l (W[0])
                    else:  # too low: the smallest l that lifts this index into range
                        l += max(1, exc.low - exc.layer)
                        low = (exc.position, exc.layer)
                    continue
                return out, b, syn, l
            raise _first_out_of_range(text, net, syn, layer, read, bindings) or first from None
    except RecursionError:
        raise ParseError("the formula nests too deeply to read", None, text) from None


def _first_out_of_range(text: str, net: Network, syn: str, layer: int | None,
                        read: Read[object], bindings: _Options) -> LayerOutOfRange | None:
    try:
        _attempt(text, net, syn, layer, 1, read, bindings)
    except LayerOutOfRange as exc:
        return exc
    return None


def _formulas(names: Mapping[str, Expr | str] | None, net: Network,
              layer: int | None) -> Mapping[str, object] | None:
    """The bindings with each value that is a formula, not a quantity (``sp="g[2]'(Z[2])"``,
    ``"sigmoid_prime(Z[2])"``), read by derive's own parser over the same network (never
    evaluated); a formula that does not read is a ParseError naming the binding."""
    if not isinstance(names, Mapping):
        return names
    out: dict[str, object] = {}
    for ident, value in names.items():
        if isinstance(value, str) and not is_quantity(value) and value.strip():
            try:
                expr = parse_expression(value, net, "auto", layer)
            except ParseError as exc:
                raise ParseError(f"binding {ident}={value!r}: {exc.message}", None,
                                 None) from None
            out[ident] = Formula(value.strip(), expr)
        else:
            out[ident] = value
    return out


def _options(text: str, net: Network, names: Mapping[str, Expr | str] | None,
             dialect: str | None, reading: str | None, layer: int | None = None) -> _Options:
    """The bindings of each side: the dialect's names (given, or recognised from the names the
    formula writes), then the user's, which win."""
    if dialect is not None and dialect not in DIALECTS:
        raise ParseError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}", None, None)
    user = read_bindings(_formulas(names, net, layer))
    key = dialect if dialect is not None else detect(text, net.L, user)
    d = _DIALECTS.get(key if key is not None else "course")
    if d is None or not (d.shared or any(r.names for r in d.readings)) and d.key != "nielsen":
        return _Options(user, user, d)
    chosen = next((r for r in d.readings if r.name == reading), d.readings[0])
    sides = [{k: binding(k, v) for k, v in bindings_for(d, chosen, text, side).items()}
             for side in ("lhs", "rhs")]
    return _Options({**sides[0], **user}, {**sides[1], **user}, d, chosen)


def _readings(b: Builder, user: Mapping[str, object] | None) -> tuple[str, ...]:
    return tuple(said for said in b.bound if said.split(" as ", 1)[0] not in (user or {}))


def parse_equation(text: str, net: Network, syntax: str = "auto", layer: int | None = None, *,
                   names: Mapping[str, Expr | str] | None = None,
                   dialect: str | None = None, reading: str | None = None) -> Equation:
    """Read ``gradient = formula``; ``layer`` is the concrete l for a generic index (and the
    layer of unindexed names such as ``dW``). Without it, a generic l takes the smallest layer
    at which every index exists, and a note says so.

    ``names`` binds identifiers to quantities (``{"dL_dh2": "dA[2]", "h1": "A[1]"}``) or to
    expressions over the same network's symbols; a bound name shadows every other reading
    (derive.parse.bindings). ``dialect`` forces one course's vocabulary (:data:`DIALECTS`;
    None: recognised from the names written), ``reading`` one reading of its names (CS231n's
    ``affine_backward`` or ``relu_backward``; None: the first).
    """
    text = _check(text, net)
    eq = _equals(text)
    augmented = _augmented(text, eq)
    bindings = _options(text, net, names, dialect, reading, layer)

    def read(b: Builder, syn: str) -> tuple[Sym, Expr]:
        return _read_equation(b, syn, eq, layer, augmented)

    (target, rhs), b, syn, chosen = _parse(text, net, syntax, layer, read, bindings)
    notes = list(b.notes)
    d = bindings.dialect
    said = _readings(b, names)
    user = tuple(x for x in b.bound if x not in said)
    if user:
        notes.append(f"bound names: {', '.join(user)}")
    if d is not None and said:
        how = f" ({bindings.reading.name})" if bindings.reading and len(d.readings) > 1 else ""
        notes.append(f"read as {d.title}{how}: {', '.join(said)}")
    if d is not None and d.key != "course":
        notes += [n for n in d.notes if n not in notes]
    one = b.one_example if d is None or d.key == "course" and dialect is None else d.one_example
    if d is not None and d.key == "single_example":
        one = True
    if one:
        notes = [n for n in notes if n != LOWER_NOTE]
        if d is None or d.key in ("course", "single_example"):
            notes.append(ONE_EXAMPLE_NOTE)
    key = d.key if d is not None and not (d.key == "course" and one) else (
        "single_example" if one else "course")
    if chosen is not None and b.generic_used:
        notes.append(f"generic layer l read as l = {chosen} (pass the layer to check another)")
    elif chosen is not None:
        notes.append(f"names without a layer index read at layer {chosen}: "
                     f"{_said(b.unindexed, chosen)} (pass the layer to check another)")
    return Equation(target, rhs, syn, tuple(notes), b.generic_used, tuple(b.unindexed), one,
                    key, bindings.reading.name if bindings.reading else None, said, augmented,
                    text[:eq - (augmented is not None)].strip())


def _augmented(text: str, eq: int) -> str | None:
    """``+`` or ``-`` when the '=' at ``eq`` is an in-place update (``dW += reg * W``); other
    in-place operators are an error: their meaning depends on the lines before."""
    op = text[eq - 1] if eq else ""
    if op in ("+", "-"):
        return op
    if op in ("*", "/", "@", "%"):
        raise ParseError(f"{op}= updates the value of earlier lines, which one formula does not "
                         "have: write the gradient whole (dW = ...), or check the lines together "
                         "(derive check --code FILE)", eq - 1, text)
    return None


def parse_expression(text: str, net: Network, syntax: str = "auto", layer: int | None = None,
                     *, names: Mapping[str, Expr | str] | None = None,
                     dialect: str | None = None, reading: str | None = None) -> Expr:
    """Read a right side alone (no '='): the expression tree over the network's symbols
    (``names``, ``dialect`` and ``reading`` as for :func:`parse_equation`)."""
    text = _check(text, net)
    bindings = _options(text, net, names, dialect, reading, layer)
    expr, _, _, _ = _parse(text, net, syntax, layer, _read_expression, bindings)
    return expr
