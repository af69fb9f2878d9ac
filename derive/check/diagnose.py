"""Diagnosis of a wrong formula: the smallest edit of the student's own tree that makes it right.

The student's expression is turned into a light, shape-free tree (:mod:`derive.check.raw`) so that
an edit (swap two factors, drop a transpose, A[l] → g′(Z[l]), ...) can be made even where the
student's shapes clash. Each edited tree is then rebuilt over the real network's symbols, which
re-runs the shape checks, and compared numerically with the engine's formula by the caller. The
edits come from the mistake catalogue (:mod:`derive.check.mistakes`: one entry per code, with its
priority, its edit rules and its sentence), composed into one pass. The search is breadth-first:
every single edit, then pairs of edits, with a cap on the number of trees tried. The codes are
:data:`~derive.check.mistakes.CODES` (docs/checking.md explains each one).

>>> from derive.core import expr as E
>>> from derive.network.spec import Network
>>> from derive.network.symbols import SymbolTable
>>> net = Network(depth=2)
>>> T = SymbolTable(net)
>>> r = Raw(E.MatMul, (Raw(E.Sym, ("W", 2)), Raw(E.Sym, ("dZ", 2))))
>>> build(r, T)
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: matrix product W[2] and dZ[2]: (n2×n1)·(n2×m) — inner dimensions n1 and n2 differ
>>> fits = lambda t: raw_shape(t, T) == T["dA", 1].shape
>>> (fix,) = search(r, Context(net, "dA", 1), fits)
>>> fix.code, str(build(apply(r, fix), T))
('missing_transpose', 'W[2]ᵀ dZ[2]')
>>> sentence(fix.code, "W[2] dZ[2]", "W[2]ᵀ dZ[2]", Context(net, "dA", 1))
'W[2] dZ[2] needs a transpose here: W[2]ᵀ dZ[2].'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from derive.check.edits import Context, Edit, compose, same_value
from derive.check.mistakes import (
    CATALOGUE,
    CODES,
    ENTRIES,
    PRIORITY,
    Words,
    deriv_at,
    layer_of_elementwise,
)
from derive.check.numeric import numbers_for
from derive.check.raw import Raw, Unknown, build, raw_shape, replace_at, to_raw
from derive.check.verdict import Mistake
from derive.core import expr as E
from derive.core.names import code_name
from derive.errors import DeriveError
from derive.parse import parse_equation

MAX_TRIES = 1500  # edited trees tried per diagnosis (single edits first, then pairs)

# every one-step edit of a tree, in the order the catalogue's slots give
single_edits = compose([(entry.code, step) for entry in CATALOGUE for step in entry.steps])


def apply(root: Raw, edit: Edit) -> Raw:
    """``root`` with the subtree at ``edit.path`` replaced (nodes on the path lose their src)."""
    return replace_at(root, edit.path, edit.after)


class Found(tuple):
    """The edits a search found (a tuple of :class:`Edit`), with the tree they make (``tree``:
    the student's formula corrected, which ``accept`` took)."""

    tree: Raw

    def __new__(cls, edits: Sequence[Edit], tree: Raw) -> Found:
        self = super().__new__(cls, edits)
        self.tree = tree
        return self


def search(root: Raw, ctx: Context, accept: Callable[[Raw], bool],
           max_tries: int = MAX_TRIES) -> Found | None:
    """The smallest sequence of edits (one, else two) whose result ``accept`` takes; None if none
    is found within ``max_tries`` trees. Among single edits the most specific code wins."""
    seen: set[Raw] = {root}
    first: list[tuple[Edit, Raw]] = []
    winners: list[tuple[Edit, Raw]] = []
    for e in single_edits(root, ctx):
        if len(first) >= max_tries:
            break
        t = apply(root, e)
        if t in seen:
            continue
        seen.add(t)
        first.append((e, t))
        if accept(t):
            winners.append((e, t))
    if winners:
        best, tree = min(winners, key=lambda et: PRIORITY[et[0].code])
        return Found((best,), tree)
    tries = len(first)
    first.sort(key=lambda et: PRIORITY[et[0].code])
    for e1, t1 in first:
        for e2 in single_edits(t1, ctx):
            t2 = apply(t1, e2)
            if t2 in seen:
                continue
            seen.add(t2)
            tries += 1
            if tries > max_tries:
                return None
            if accept(t2):
                return Found((e1, e2), t2)
    return None


# -- sentences ----------------------------------------------------------------------------------
def sentence(code: str, before: str, after: str, ctx: Context | None, detail: str = "",
             added: bool = False) -> str:
    """One plain sentence naming the mistake, with the part as written and its fix (``added``:
    nothing was written there, the fix is a factor to add)."""
    return ENTRIES[code].say(Words(before, after, ctx, detail, added))


def describe(edits: Sequence[Edit] | None, ctx: Context,
             text: Callable[[Raw], str]) -> tuple[Mistake, ...]:
    """The mistakes a sequence of edits names, one sentence per code (the first edit of each);
    ``text`` prints a part of a tree ("" where it cannot). No edits: ``other``. Edits that
    :func:`search` found carry their tree: each mistake then holds the fix, the student's
    formula corrected (:func:`fix_text`)."""
    if not edits:
        return (no_edit(),)
    fix = fix_text(edits.tree, ctx, text) if isinstance(edits, Found) else None
    out: list[Mistake] = []
    for e in edits:
        shown_before, shown_after = e.shown or (e.before, e.after)
        added = shown_before is None
        before = "?" if shown_before is None else shown_before.src or text(shown_before)
        after = text(shown_after)
        if all(m.code != e.code for m in out):
            out.append(Mistake(e.code, sentence(e.code, _paren(before), after, ctx, e.detail, added),
                               fix))
    return tuple(out)


def fix_text(tree: Raw, ctx: Context, text: Callable[[Raw], str]) -> str | None:
    """``dW[2] = (1/m) dZ[2] A[1]ᵀ``: the gradient and the corrected tree, printed as the engine
    prints its own formulas, and read back: the first printing that the parser reads as a
    correct formula (the tree as text, else as numpy code, else the text with each factor that
    has the value of g[l]′(Z[l]) written so, as ``(A1 > 0)`` for ReLU); None if none does."""
    name = text(Raw(E.Sym, (ctx.kind, ctx.layer)))
    if not name:
        return None
    # the target as printed, else as numpy names it (dγ[1] is dgamma1 where γ is not read)
    for target in dict.fromkeys((name, code_name(ctx.kind, ctx.layer))):
        for rhs in _printings(tree, ctx, text):
            fix = f"{target} = {rhs}"
            if rhs and reads_back(fix, ctx):
                return fix
    return None


def _printings(tree: Raw, ctx: Context, text: Callable[[Raw], str]) -> Iterator[str]:
    yield text(tree)
    try:
        yield build(tree, numbers_for(ctx.net).table).to_code()
    except (DeriveError, KeyError, TypeError):
        pass
    plain = with_derivatives(tree, ctx)
    if plain != tree:
        yield text(plain)


def reads_back(equation: str, ctx: Context) -> bool:
    """Does the parser read ``equation`` over the network as the gradient with its right value?"""
    try:
        eq = parse_equation(equation, ctx.net)
    except (DeriveError, KeyError, TypeError, ValueError, RecursionError):
        return False
    return ((eq.target.base, eq.target.layer) == (ctx.kind, ctx.layer)
            and ctx.ratio(to_raw(eq.rhs)) == 1)


def with_derivatives(tree: Raw, ctx: Context) -> Raw:
    """``tree`` with each outermost part of one layer l (an expression of Z[l] and A[l] only)
    whose value is g[l]′(Z[l]) replaced by g[l]′(Z[l]) itself."""
    lay = layer_of_elementwise(tree)
    if lay is not None and 1 <= lay <= ctx.net.L:
        d = deriv_at(ctx, lay)
        return d if tree != d and same_value(tree, d, ctx) else tree
    kids = [with_derivatives(k, ctx) for k in tree.kids]
    return tree if kids == list(tree.kids) else tree.with_kids(kids)


def no_edit() -> Mistake:
    """``other``, when no small edit explains the difference (or none could be tried)."""
    return Mistake("other", sentence("other", "", "", None))


def _paren(text: str) -> str:
    """``1 - A1`` → ``(1 - A1)`` where a part of a product is a sum, as the user meant it."""
    if " * " not in text:
        return text
    parts = text.split(" * ")
    return " * ".join(f"({p})" if (" - " in p or " + " in p) and not p.startswith("(") else p
                      for p in parts)


__all__ = [
    "CODES", "MAX_TRIES", "PRIORITY", "Context", "Edit", "Found", "Raw", "Unknown", "apply", "build",
    "describe", "fix_text", "no_edit", "raw_shape", "search", "sentence", "single_edits", "to_raw",
]
