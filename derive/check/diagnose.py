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

from collections.abc import Callable, Sequence

from derive.check.edits import Context, Edit, compose
from derive.check.mistakes import CATALOGUE, CODES, ENTRIES, PRIORITY, Words
from derive.check.raw import Raw, Unknown, build, raw_shape, replace_at, to_raw
from derive.check.verdict import Mistake

MAX_TRIES = 1500  # edited trees tried per diagnosis (single edits first, then pairs)

# every one-step edit of a tree, in the order the catalogue's slots give
single_edits = compose([(entry.code, step) for entry in CATALOGUE for step in entry.steps])


def apply(root: Raw, edit: Edit) -> Raw:
    """``root`` with the subtree at ``edit.path`` replaced (nodes on the path lose their src)."""
    return replace_at(root, edit.path, edit.after)


def search(root: Raw, ctx: Context, accept: Callable[[Raw], bool],
           max_tries: int = MAX_TRIES) -> tuple[Edit, ...] | None:
    """The smallest sequence of edits (one, else two) whose result ``accept`` takes; None if none
    is found within ``max_tries`` trees. Among single edits the most specific code wins."""
    seen: set[Raw] = {root}
    first: list[tuple[Edit, Raw]] = []
    winners: list[Edit] = []
    for e in single_edits(root, ctx):
        if len(first) >= max_tries:
            break
        t = apply(root, e)
        if t in seen:
            continue
        seen.add(t)
        first.append((e, t))
        if accept(t):
            winners.append(e)
    if winners:
        return (min(winners, key=lambda e: PRIORITY[e.code]),)
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
                return (e1, e2)
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
    ``text`` prints a part of a tree ("" where it cannot). No edits: ``other``."""
    if not edits:
        return (no_edit(),)
    out: list[Mistake] = []
    for e in edits:
        shown_before, shown_after = e.shown or (e.before, e.after)
        added = shown_before is None
        before = "?" if shown_before is None else shown_before.src or text(shown_before)
        after = text(shown_after)
        if all(m.code != e.code for m in out):
            out.append(Mistake(e.code, sentence(e.code, _paren(before), after, ctx, e.detail, added)))
    return tuple(out)


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
    "CODES", "MAX_TRIES", "PRIORITY", "Context", "Edit", "Raw", "Unknown", "apply", "build",
    "describe", "no_edit", "raw_shape", "search", "sentence", "single_edits", "to_raw",
]
