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

import functools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp

from derive.check.numeric import close, numbers_for
from derive.check.raw import Raw, Unknown, at, build, raw_shape, walk
from derive.core.expr import as_sympy
from derive.errors import DeriveError
from derive.network.spec import Network
from derive.network.spec import m as M_SYM


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

    def ratio(self, tree: Raw) -> sp.Expr | None:
        """The constant c for which ``tree`` is c times the right value (:func:`value_ratio`)."""
        return value_ratio(tree, self)


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


# -- the constant between a formula and the right value ----------------------------------------------
MAX_POWER = 2  # c = (p/q)·m^k with |k| ≤ 2 ...
MAX_DENOMINATOR = 64  # ... and q ≤ 64, |p| ≤ 4096: the constants people write (2, 1/2, 4/m, 1/m²)
MAX_NUMERATOR = 4096


@functools.lru_cache(maxsize=4096)
def value_ratio(tree: Raw, ctx: Context) -> sp.Expr | None:
    """The constant c, a rational number times a power of m, with ``tree`` = c · the right value
    of the gradient on every entry of every random instance; None where there is none (shapes
    that clash, a value that is not proportional, no gradient to compare with).

    The value is compared on the checker's instances (m = 7) and on its tiny ones (m = 2): a
    ratio that differs between them is read as c₀·m^k (2 and 7 tell the power apart; a ratio
    that depends on some other size fits no such form and is None).
    """
    nums = numbers_for(ctx.net)
    T = nums.table
    try:
        target = T[ctx.kind, ctx.layer]
        try:
            shape = raw_shape(tree, T)
            if shape is None or _differ(shape, target.shape):
                return None
        except Unknown:
            pass
        e = build(tree, T)
        if _differ(e.shape, target.shape):
            return None
        found = []
        for env in (nums.main, nums.tiny):
            got = env.evaluate(e, nums.allowed(env, target))
            r = _constant(got, env.values[target.key])
            if r is None:
                return None
            found.append((env.m, r))
    except (DeriveError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return _fit(found)


def same_value(a: Raw, b: Raw, ctx: Context) -> bool:
    """Do two trees (parts of a formula for the gradient, e.g. a derivative factor) have the
    same value on the checker's instances? False where either cannot be built or valued."""
    nums = numbers_for(ctx.net)
    T, env = nums.table, nums.main
    try:
        values = nums.allowed(env, T[ctx.kind, ctx.layer])
        got, want = (env.evaluate(build(t, T), values) for t in (a, b))
        return got.shape == want.shape and bool(np.all(close(got, want)))
    except (DeriveError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return False


def is_quantity(tree: Raw, ctx: Context, key: tuple[str, int]) -> bool:
    """Is ``tree`` the value of the derivation's quantity ``key`` (``("dG", 1)``) on the
    checker's instances (main and tiny)? False where it cannot be built or valued."""
    nums = numbers_for(ctx.net)
    T = nums.table
    try:
        e = build(tree, T)
        for env in (nums.main, nums.tiny):
            got, want = env.evaluate(e, nums.allowed(env, T[ctx.kind, ctx.layer])), \
                env.values[key]
            if got.shape != want.shape or not np.all(close(got, want)):
                return False
        return True
    except (DeriveError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return False


def _differ(a, b) -> bool:
    return not all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(a, b, strict=True))


def _constant(got: np.ndarray, want: np.ndarray) -> float | None:
    """r with got = r · want on every instance (to the checker's tolerance), if there is one."""
    if got.shape != want.shape:
        try:
            got = np.broadcast_to(got, want.shape)
        except ValueError:
            return None
    if not np.all(np.isfinite(got)) or not np.all(np.isfinite(want)):
        return None
    i = int(np.argmax(np.abs(want)))
    if want.flat[i] == 0:
        return None
    r = float(got.flat[i] / want.flat[i])
    if r == 0 or not math.isfinite(r) or not np.all(close(got, r * want)):
        return None
    return r


def _fit(found: list[tuple[int, float]]) -> sp.Expr | None:
    """c₀·m^k through the ratios (m, r) measured at two values of m; None if no such c fits."""
    (m1, r1), (m2, r2) = found
    if (r1 > 0) != (r2 > 0):
        return None
    k = math.log(r1 / r2) / math.log(m1 / m2)
    power = round(k)
    if abs(k - power) > 1e-6 or abs(power) > MAX_POWER:
        return None
    c0 = r1 / m1**power
    f = Fraction(c0).limit_denominator(MAX_DENOMINATOR)
    if abs(float(f) - c0) > 1e-9 * abs(c0) or abs(f.numerator) > MAX_NUMERATOR:
        return None
    return sp.Rational(f.numerator, f.denominator) * M_SYM**power
