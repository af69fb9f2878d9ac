"""Edit rules and the combinators that compose them (in the style of SymPy's ``strategies``).

A **rule** is a small pure function ``rule(node, site) -> replacements``: given one node of the
student's shape-free tree (:class:`~derive.check.raw.Raw`) and where it sits (:class:`Site`: the
whole tree, the path, the parent, the :class:`Context`), it yields what the node could have been:
a Raw (the node replaced), or a :class:`Fix` when the edit needs more (a detail for the sentence,
the parent replaced, other parts shown). Rules know no mistake code; a :class:`Step` places a rule
in the pass (on the whole tree first, at each node, or on the whole tree last, at a slot that fixes
the order) and may restrict it to some node classes, as ``typed`` does in SymPy. :func:`compose`
turns the steps of every mistake (each with its code) into one generator of :class:`Edit`\\ s.

>>> from derive.core import expr as E
>>> from derive.check.raw import Raw
>>> def swap(n, site):
...     yield n.with_kids(n.kids[::-1])
>>> edits = compose([("wrong_order", at_each(swap, 10, on=(E.MatMul,)))])
>>> root = Raw(E.MatMul, (Raw(E.Sym, ("dZ", 2)), Raw(E.Sym, ("W", 2))))
>>> [(e.code, e.path, e.after) for e in edits(root, None)]
[('wrong_order', (), Raw(MatMul, (Raw(Sym, ('W', 2)), Raw(Sym, ('dZ', 2)))))]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from derive.check.raw import Raw, at, walk
from derive.network.spec import Network


@dataclass(frozen=True)
class Context:
    """What the rules need to know: the network and the gradient being checked."""

    net: Network
    kind: str  # "dA" | "dZ" | "dW" | "db"
    layer: int

    @property
    def example_sum_axis(self) -> int:
        """The ``axis=`` that sums over the examples (for db): 1 in columns, 0 in rows."""
        return self.net.layout.example_sum_axis


@dataclass(frozen=True)
class Edit:
    """One edit of a tree: the subtree at ``path`` (``before``) becomes ``after``."""

    code: str
    path: tuple[int, ...]
    before: Raw
    after: Raw
    shown: tuple[Raw | None, Raw] | None = None  # what a sentence names, when not before/after;
    # a None first part: nothing was written there (a factor to add)
    detail: str = ""  # e.g. the factor an extra_scale edit removes


@dataclass(frozen=True)
class Fix:
    """A rule's proposal when a bare replacement of its node is not enough."""

    after: Raw
    detail: str = ""
    up: int = 0  # 1: ``after`` replaces the node's parent
    shown: tuple[Raw | None, Raw] | None = None


class Site:
    """Where a rule looks: the whole tree, the node's path and parent, and the context."""

    __slots__ = ("ctx", "parent", "path", "root")

    def __init__(self, root: Raw, path: tuple[int, ...], parent: Raw | None, ctx: Context):
        self.root, self.path, self.parent, self.ctx = root, path, parent, ctx


Rule = Callable[[Raw, Site], Iterable[Raw | Fix]]

FIRST, EACH, LAST = 0, 1, 2  # a step's stage: the whole tree first, each node, the whole tree last


@dataclass(frozen=True)
class Step:
    """A rule placed in the pass: its ``stage``, its ``slot`` (the order within the stage; every
    rule at a node runs in slot order), and the node classes it applies to."""

    rule: Rule
    stage: int
    slot: int
    on: tuple[type, ...] | None = None  # None: every class
    unless: tuple[type, ...] = ()

    def applies(self, kind: type) -> bool:
        return (self.on is None or issubclass(kind, self.on)) and not issubclass(kind, self.unless)


# -- combinators ------------------------------------------------------------------------------------
def at_each(rule: Rule, slot: int, on: tuple[type, ...] | None = None,
            unless: tuple[type, ...] = ()) -> Step:
    """``rule`` at every node (pre-order) whose class is in ``on`` and not in ``unless``."""
    return Step(rule, EACH, slot, on, unless)


def whole_first(rule: Rule, slot: int) -> Step:
    """``rule`` once on the whole tree, before any node."""
    return Step(rule, FIRST, slot)


def whole_last(rule: Rule, slot: int) -> Step:
    """``rule`` once on the whole tree, after every node."""
    return Step(rule, LAST, slot)


def condition(test: Callable[[Raw, Site], bool], rule: Rule) -> Rule:
    """``rule`` where ``test(node, site)`` holds (SymPy's ``condition``)."""

    def conditioned(node: Raw, site: Site) -> Iterable[Raw | Fix]:
        return rule(node, site) if test(node, site) else ()

    return conditioned


def multiplex(*rules: Rule) -> Rule:
    """Every rule's replacements, in order (SymPy's ``branch.multiplex``)."""

    def multiplexed(node: Raw, site: Site) -> Iterator[Raw | Fix]:
        for rule in rules:
            yield from rule(node, site)

    return multiplexed


def compose(coded_steps: Sequence[tuple[str, Step]]) -> Callable[[Raw, Context], Iterator[Edit]]:
    """One pass over a tree running every ``(code, step)``: the whole-tree steps first, then at
    each node (pre-order) the steps for its class, then the whole-tree steps last; within a stage
    in slot order (ties: the order given). Each replacement becomes an :class:`Edit` of the
    step's code."""
    ordered = sorted(enumerate(coded_steps), key=lambda ics: (ics[1][1].stage, ics[1][1].slot, ics[0]))
    first = [cs for _, cs in ordered if cs[1].stage == FIRST]
    each = [cs for _, cs in ordered if cs[1].stage == EACH]
    last = [cs for _, cs in ordered if cs[1].stage == LAST]
    by_kind: dict[type, list[tuple[str, Step]]] = {}

    def steps_for(kind: type) -> list[tuple[str, Step]]:
        found = by_kind.get(kind)
        if found is None:
            found = by_kind[kind] = [cs for cs in each if cs[1].applies(kind)]
        return found

    def edits(root: Raw, ctx: Context) -> Iterator[Edit]:
        whole = Site(root, (), None, ctx)
        for code, step in first:
            for p in step.rule(root, whole):
                yield _edit(code, p, whole, root)
        for path, node, parent in walk(root):
            site = Site(root, path, parent, ctx)
            for code, step in steps_for(node.kind):
                for p in step.rule(node, site):
                    yield _edit(code, p, site, node)
        for code, step in last:
            for p in step.rule(root, whole):
                yield _edit(code, p, whole, root)

    return edits


def _edit(code: str, p: Raw | Fix, site: Site, node: Raw) -> Edit:
    if type(p) is Raw:
        return Edit(code, site.path, node, p)
    assert isinstance(p, Fix)
    if p.up:
        path = site.path[: len(site.path) - p.up]
        return Edit(code, path, at(site.root, path), p.after, p.shown, p.detail)
    return Edit(code, site.path, node, p.after, p.shown, p.detail)
