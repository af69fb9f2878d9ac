"""The mistake catalogue: each mistake code is one :class:`Entry` (its code, its priority, the edit
rules that produce it and its sentence), and the diagnosis composes the entries.

A rule is a small pure function ``rule(node, site)`` yielding what the node could have been
(:mod:`derive.check.edits`); the entry's steps place each rule in the search pass. The pass runs,
at each node, every rule in slot order, across entries: the slots keep the order in which the
search meets the edits, which decides ties between two edits that make the same tree, and which
pair of edits is found first. Among several single edits that each fix a formula, the lowest
priority names the mistake. Adding a mistake is adding one entry.

>>> [e.code for e in CATALOGUE][:3], PRIORITY["wrong_order"], PRIORITY["other"]
(['wrong_order', 'missing_transpose', 'extra_transpose'], 0, 9)
>>> ENTRIES["missing_transpose"].say(Words("W[2]", "W[2]ᵀ", None))
'W[2] needs a transpose here: W[2]ᵀ.'
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import sympy as sp

from derive.check.batchnorm import (
    batch_parameter,
    bn_sum_wrong_axis,
    dgamma_dbeta_divided_by_m,
    direct_path_only,
    in_batchnorm,
    statistics_paths_missing,
)
from derive.check.dropout import (
    add_mask,
    dA_as_dG,
    divide_mask,
    drop_mask_on_dZ,
    mask_not_applied,
    mask_on_dA_name,
    mask_on_dZ,
    not_divided_by_keep_prob,
)
from derive.check.edits import (
    Context,
    Fix,
    Site,
    Step,
    at_each,
    condition,
    whole_first,
    whole_last,
)
from derive.check.factors import factor_text, rescale, split_factor, sym, written
from derive.check.penalty import (
    L2_DETAIL,
    add_l2_term,
    l2_factor,
    l2_not_penalty,
    missing_l2_term,
    wrong_l2_scale,
    wrong_l2_term,
)
from derive.check.raw import Raw, layer_bound, walk
from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.names import m as M_SYM


# -- the pieces the rules are made of --------------------------------------------------------------
def deriv_at(ctx: Context, layer: int) -> Raw:
    """g[l]′(Z[l]) with the network's own activation at layer l."""
    return Raw(E.Deriv, (ctx.net.activation(layer), layer, sym("Z", layer)))


def hadamard(a: Raw, b: Raw) -> Raw:
    return Raw(E.Hadamard, (a, b, False))


def toggle_t(r: Raw) -> Raw:
    return r.kids[0] if r.kind is E.Transpose else Raw(E.Transpose, (r,))


def shift(r: Raw, ctx: Context, old: int, new: int) -> Raw:
    """Every layer index ``old`` in ``r`` replaced by ``new`` (activations follow the layer)."""
    if r.kind is E.Sym:
        return sym(r.args[0], new) if r.args[1] == old else r
    kids = tuple(shift(k, ctx, old, new) for k in r.kids)
    if layer_bound(r.kind) is not None and r.get("layer") == old:
        return r.with_kids(kids).but(activation=ctx.net.activation(new), layer=new)
    if kids == r.kids:
        return r
    return r.with_kids(kids, r.src)


_ELEMENTWISE = frozenset({E.Sym, E.Scalar, E.Pointwise, E.Deriv, E.Act, E.Hadamard, E.Add, E.Sub,
                          E.Div, E.Scale})


@functools.lru_cache(maxsize=8192)
def _layers(r: Raw) -> frozenset | None:
    if r.kind not in _ELEMENTWISE:
        return None
    if r.kind is E.Sym:
        base, layer = r.args
        return frozenset((layer,)) if base in ("Z", "A") and layer else None
    out: frozenset = frozenset()
    for k in r.kids:
        inner = _layers(k)
        if inner is None:
            return None
        out |= inner
    return out


def layer_of_elementwise(r: Raw) -> int | None:
    """The layer l when ``r`` is an entry-by-entry expression of Z[l] and A[l] only."""
    layers = _layers(r)
    return next(iter(layers)) if layers is not None and len(layers) == 1 else None


def is_m_scalar(r: Raw) -> bool:
    return r.kind is E.Scalar and M_SYM in as_sympy(r.get("value")).free_symbols


def _factors(r: Raw) -> list[Raw]:
    if r.kind is E.Hadamard:
        return _factors(r.kids[0]) + _factors(r.kids[1])
    return [r]


def _lone(r: Raw) -> bool:
    """A[l] or g(Z[l]) alone: the activation itself."""
    return (r.kind is E.Sym and r.args[0] == "A") or r.kind is E.Act


# -- the rules -----------------------------------------------------------------------------------
def shift_every_layer(root: Raw, site: Site) -> Iterator[Raw]:
    """Each layer number in the formula one up or down, everywhere at once."""
    L = site.ctx.net.L
    layers = sorted({n.args[1] for _, n, _ in walk(root) if n.kind is E.Sym and n.args[1] is not None})
    for old in layers:
        for new in (old + 1, old - 1):
            if 0 <= new <= L:
                yield shift(root, site.ctx, old, new)


def shift_symbol(n: Raw, site: Site) -> Iterator[Raw]:
    base, layer = n.args
    if layer is not None:
        for new in (layer + 1, layer - 1):
            if 0 <= new <= site.ctx.net.L:
                yield Raw(E.Sym, (base, new), n.src)


def shift_function(n: Raw, site: Site) -> Iterator[Raw]:
    """g[l]′(Z[l]) → g[l±1]′(Z[l±1])."""
    if n.kids[0].kind is E.Sym:
        layer = n.get("layer")
        for new in (layer + 1, layer - 1):
            if 1 <= new <= site.ctx.net.L:
                yield shift(n, site.ctx, layer, new)


def swap_factors(n: Raw, site: Site) -> Iterator[Raw]:
    a, b = n.kids
    yield Raw(E.MatMul, (b, a))


def swap_transposed(n: Raw, site: Site) -> Iterator[Raw]:
    """A B → Bᵀ Aᵀ, with transposes of transposes dropped (X dZᵀ for dZ Xᵀ)."""
    a, b = n.kids
    yield Raw(E.MatMul, (toggle_t(b), toggle_t(a)))


def to_elementwise(n: Raw, site: Site) -> Iterator[Raw]:
    yield hadamard(*n.kids)


def to_matmul(n: Raw, site: Site) -> Iterator[Raw]:
    a, b = n.kids
    yield Raw(E.MatMul, (a, b))
    yield Raw(E.MatMul, (b, a))


def drop_transpose(n: Raw, site: Site) -> Iterator[Raw]:
    yield n.kids[0]


def add_transpose(n: Raw, site: Site) -> Iterator[Raw]:
    yield Raw(E.Transpose, (n,))


def _elementwise_layer(n: Raw, site: Site) -> int | None:
    """The layer of an entry-by-entry expression of one layer, at its outermost such node."""
    lay = layer_of_elementwise(n)
    if lay is None or lay > site.ctx.net.L:
        return None
    if site.parent is not None and layer_of_elementwise(site.parent) is not None:
        return None
    return lay


def to_derivative(lone: bool) -> Callable[[Raw, Site], Iterator[Raw]]:
    """An entry-by-entry expression of layer l (A[l] alone when ``lone``, else any other) →
    g[l]′(Z[l])."""

    def rule(n: Raw, site: Site) -> Iterator[Raw]:
        lay = _elementwise_layer(n, site)
        if lay is not None and _lone(n) == lone:
            target = deriv_at(site.ctx, lay)
            if n != target:
                yield target

    return rule


def regroup(lone: bool) -> Callable[[Raw, Site], Iterator[Fix]]:
    """The factors of layer l in a ⊙ chain (A1 ⊙ ... ⊙ (1 − A1), split by the order of operations)
    that together stand for g′(Z[l]), all replaced by g′(Z[l]); ``lone``: every one of them is
    A[l] or g(Z[l])."""

    def rule(n: Raw, site: Site) -> Iterator[Fix]:
        if site.parent is not None and site.parent.kind is E.Hadamard:
            return  # only at the top of a chain
        ctx = site.ctx
        factors = _factors(n)
        groups: dict[int, list[int]] = {}
        for i, f in enumerate(factors):
            lay = layer_of_elementwise(f)
            if lay is not None and lay <= ctx.net.L:
                groups.setdefault(lay, []).append(i)
        for lay, idx in groups.items():
            if len(idx) < 2:
                continue
            if all(factors[i].kind is E.Act or factors[i] == sym("A", lay) for i in idx) != lone:
                continue
            out = deriv_at(ctx, lay)
            for f in reversed([f for i, f in enumerate(factors) if i not in idx]):
                out = hadamard(f, out)
            parts = [factors[i] for i in idx]
            shown = parts[0]
            for f in parts[1:]:
                shown = hadamard(shown, f)
            if all(f.src for f in parts):
                shown = Raw(shown.kind, shown.args, " * ".join(f.src for f in parts))  # type: ignore[misc]
            yield Fix(out, shown=(shown, deriv_at(ctx, lay)))

    return rule


def drop_derivative_factor(n: Raw, site: Site) -> Iterator[Fix]:
    """D ⊙ g′(Z) → D: a derivative factor that should not be there."""
    if site.parent is not None and site.parent.kind is E.Hadamard:
        yield Fix(site.parent.kids[1 - site.path[-1]], up=1)


def other_axes(n: Raw, site: Site) -> Iterator[Raw]:
    for axis in (0, 1, None):
        if axis != n.get("axis"):
            yield n.but(axis=axis)


def drop_sum(n: Raw, site: Site) -> Iterator[Raw]:
    yield n.kids[0]


def add_sum(n: Raw, site: Site) -> Iterator[Raw]:
    yield Raw(E.Sum, (n, site.ctx.example_sum_axis))


def swap_operands(n: Raw, site: Site) -> Iterator[Raw]:
    yield n.with_kids(n.kids[::-1])


def drop_factor(n: Raw, site: Site) -> Iterator[Fix]:
    yield Fix(n.kids[0], detail=factor_text(n.get("factor")))


def _minus(n: Raw, site: Site) -> bool:
    return bool(n.get("factor") == -1)


def _with_m(n: Raw, site: Site) -> bool:
    """A factor with m in it (1/m, 2/m): the mean's 1/m where it does not belong; any other
    factor is a wrong scale (:func:`to_ratio`)."""
    return M_SYM in as_sympy(n.get("factor")).free_symbols


def drop_m_operand(n: Raw, site: Site) -> Iterator[Fix]:
    """(1/m) ⊙ D or (1/m) D → D."""
    if any(is_m_scalar(c) for c in n.kids):
        scalar, other = n.kids if is_m_scalar(n.kids[0]) else n.kids[::-1]
        yield Fix(other, detail=factor_text(scalar.get("value")))


def drop_m_divisor(n: Raw, site: Site) -> Iterator[Fix]:
    """D ⊘ m → D."""
    if is_m_scalar(n.kids[1]):
        yield Fix(n.kids[0], detail=f"1/{n.kids[1].get('value')}")


def times_mean(root: Raw, site: Site) -> Iterator[Raw]:
    yield rescale(root, M_SYM)


def times_m(root: Raw, site: Site) -> Iterator[Fix]:
    yield Fix(rescale(root, 1 / M_SYM), detail="1/m")


def negate(root: Raw, site: Site) -> Iterator[Raw]:
    yield rescale(root, sp.Integer(-1))


# the ratios other entries name: 1/m missing (m), 1/m twice (1/m), the sign (-1)
_NAMED_RATIOS = frozenset({M_SYM, 1 / M_SYM, sp.Integer(-1), sp.Integer(1)})


def to_ratio(root: Raw, site: Site) -> Iterator[Fix]:
    """A formula that is a constant c times the right value (c measured, :func:`value_ratio`)
    with its constant factor K (all of them, multiplied) replaced by K/c."""
    c = site.ctx.ratio(root)
    if c is None or c in _NAMED_RATIOS:
        return
    k, _ = split_factor(root)
    new = k / c
    yield Fix(rescale(root, c), detail=factor_text(c),
              shown=(None if k == 1 else written(k), written(new)))


def times_derivative(root: Raw, site: Site) -> Iterator[Fix]:
    """dZ[l]: the factor g[l]′(Z[l]) is missing."""
    if site.ctx.kind == "dZ":
        d = deriv_at(site.ctx, site.ctx.layer)
        yield Fix(hadamard(root, d), shown=(None, d))


# -- sentences -------------------------------------------------------------------------------------
class Words:
    """What a sentence may name: the part as written (``before``), its fix (``after``), the
    gradient (``name``), a ``detail`` from the rule; ``added``: nothing was written (a factor to
    add). Templates read them as ``{before}``, ``{after}``, ``{name}``, ``{detail}``."""

    def __init__(self, before: str, after: str, ctx: Context | None, detail: str = "",
                 added: bool = False):
        self.before, self.after, self.ctx, self.detail, self.added = before, after, ctx, detail, added

    @property
    def name(self) -> str:
        assert self.ctx is not None
        return f"{self.ctx.kind}[{self.ctx.layer}]"

    def __getitem__(self, key: str) -> str:  # for str.format_map
        return getattr(self, key)


def _extra_scale(w: Words) -> str:
    assert w.ctx is not None
    net, ctx = w.ctx.net, w.ctx
    what = f"the factor {w.detail}" if w.detail else "a factor"
    if net.per_example_dZ:
        why = "with the mean cost, 1/m appears once, in dW and db; dZ and dA carry none"
    elif net.cost_is_mean:  # scale dZ: the 1/m is written in the output's gradients
        why = (f"with scale {net.scale}, 1/m appears once, in dA[{net.L}] and dZ[{net.L}]; every "
               "other gradient gets it from them")
    else:
        why = "with scale sum there is no 1/m anywhere"
    output = net.output_factor != 1 and ctx.kind in ("dA", "dZ") and ctx.layer == net.L
    has = "carries 1/m once" if output else "has no such factor"
    return f"There is {what} too many in {w.before}: {w.name} {has} ({why})."


def _wrong_scale(w: Words) -> str:
    if w.detail.startswith(L2_DETAIL):  # the factor of the L2 term, not of the whole formula
        return wrong_l2_scale(w.before, w.detail, _ctx(w), w.added)
    gives = f"the formula gives {w.detail} × {w.name}"
    if w.added:
        return f"A factor {w.after} is missing: {gives}."
    if w.after == "1":
        return f"The factor {w.before} does not belong here: {gives}."
    return f"The factor {w.before} should be {w.after}: {gives}."


def _wrong_derivative(w: Words) -> str:
    if w.added:
        return f"The factor {w.after} is missing: multiply element-wise by it (the chain rule)."
    if not w.before or w.before == w.after:
        return f"The activation derivative is wrong: use {w.after}."
    return f"{w.before} is not the right activation derivative here: use {w.after}."


def _wrong_axis(w: Words) -> str:
    assert w.ctx is not None
    axis = "axis=1 (along each row)" if w.ctx.example_sum_axis == 1 else "axis=0 (down each column)"
    return f"{w.before} sums over the wrong axis: sum over the examples, {axis}: {w.after}."


def _ctx(w: Words) -> Context:
    assert w.ctx is not None
    return w.ctx


def _other(w: Words) -> str:
    if w.before and w.after:
        return f"{w.before} does not belong here: {w.after}."
    return "No small edit explains the difference; compare with the correct formula."


# -- the catalogue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One mistake: its code, its priority (lower wins), its sentence (a template over
    :class:`Words`, or a function of them) and the steps of the rules that produce it."""

    code: str
    priority: int
    says: str | Callable[[Words], str]
    steps: tuple[Step, ...]

    def say(self, words: Words) -> str:
        return self.says.format_map(words) if isinstance(self.says, str) else self.says(words)


MATMUL, HADAMARD = (E.MatMul,), (E.Hadamard,)
CATALOGUE: tuple[Entry, ...] = (
    Entry("wrong_order", 0,
          "The factors of {before} are in the wrong order: write {after} (matrix products do not "
          "commute; check that the inner dimensions match).",
          (at_each(swap_factors, 10, on=MATMUL), at_each(swap_transposed, 11, on=MATMUL))),
    Entry("missing_transpose", 1, "{before} needs a transpose here: {after}.",
          (at_each(add_transpose, 30, unless=(E.Transpose, E.Scalar, E.Scale)),)),
    Entry("extra_transpose", 1, "{before} should not be transposed here: {after}.",
          (at_each(drop_transpose, 30, on=(E.Transpose,)),)),
    Entry("missing_scale", 6,
          "The factor 1/m is missing: the cost averages the loss over the m examples, so {name} "
          "carries 1/m.",
          (whole_last(times_mean, 0),)),
    Entry("extra_scale", 6, _extra_scale,
          (at_each(condition(_with_m, drop_factor), 100, on=(E.Scale,)),
           at_each(drop_m_operand, 110, on=(E.Hadamard, E.MatMul)),
           at_each(drop_m_divisor, 120, on=(E.Div,)),
           whole_last(times_m, 1))),
    Entry("wrong_scale", 6, _wrong_scale, (whole_last(to_ratio, 4), at_each(l2_factor, 95))),
    Entry("wrong_activation_derivative", 8, _wrong_derivative,
          (at_each(to_derivative(lone=False), 50),
           at_each(regroup(lone=False), 60, on=HADAMARD),
           at_each(drop_derivative_factor, 70, on=(E.Deriv,)),
           whole_last(times_derivative, 3))),
    Entry("activation_instead_of_derivative", 2,
          "{before} is the activation itself; the chain rule needs its derivative {after}.",
          (at_each(to_derivative(lone=True), 50), at_each(regroup(lone=True), 60, on=HADAMARD))),
    Entry("matmul_instead_of_elementwise", 3,
          "{before} is a matrix product where an element-wise product is needed: {after}.",
          (at_each(to_elementwise, 12, on=MATMUL),)),
    Entry("elementwise_instead_of_matmul", 3,
          "{before} is an element-wise product where a matrix product is needed: {after}.",
          (at_each(to_matmul, 20, on=HADAMARD),)),
    Entry("wrong_layer_index", 4, "{before} has the wrong layer index: {after}.",
          (whole_first(shift_every_layer, 0),
           at_each(shift_symbol, 40, on=(E.Sym,)),
           at_each(shift_function, 41, on=(E.Deriv, E.Act)))),
    Entry("missing_sum", 5, "A sum over the examples is missing: {after}.",
          (at_each(add_sum, 81, unless=(E.Sum, E.Scalar)),)),
    Entry("wrong_sum_axis", 5, _wrong_axis, (at_each(other_axes, 80, on=(E.Sum,)),)),
    Entry("sign_error", 7, "The sign is wrong: {before} should be {after}.",
          (at_each(swap_operands, 90, on=(E.Sub,)),
           at_each(condition(_minus, drop_factor), 100, on=(E.Scale,)),
           whole_last(negate, 2))),
    Entry("missing_l2_term", 6, lambda w: missing_l2_term(w.after, _ctx(w)),
          (whole_last(add_l2_term, 5),)),
    Entry("wrong_l2_term", 6, lambda w: wrong_l2_term(w.before, w.after, _ctx(w)),
          (at_each(l2_not_penalty, 96),)),
    Entry("mask_not_applied", 5, lambda w: mask_not_applied(w.after, _ctx(w)),
          (whole_last(add_mask, 6),)),
    Entry("not_divided_by_keep_prob", 5, lambda w: not_divided_by_keep_prob(w.before, w.after, _ctx(w)),
          (at_each(divide_mask, 42, on=(E.Sym,)),)),
    Entry("mask_on_dA_name", 4, lambda w: mask_on_dA_name(w.after, _ctx(w)),
          (at_each(dA_as_dG, 64, on=(E.Hadamard, E.Div, E.Scale)),)),
    Entry("mask_on_dZ", 5, lambda w: mask_on_dZ(w.before, w.after, _ctx(w), w.detail),
          (at_each(drop_mask_on_dZ, 65, on=(E.Hadamard, E.Div, E.Scale)),)),
    Entry("dgamma_dbeta_divided_by_m", 5, lambda w: dgamma_dbeta_divided_by_m(w.before, w.after, _ctx(w)),
          (at_each(condition(lambda n, s: _with_m(n, s) and batch_parameter(s.ctx), drop_factor), 99,
                   on=(E.Scale,)),
           at_each(condition(lambda n, s: batch_parameter(s.ctx), drop_m_divisor), 119, on=(E.Div,)))),
    Entry("bn_statistics_paths_missing", 5,
          lambda w: statistics_paths_missing(w.before, w.after, _ctx(w)),
          (whole_first(direct_path_only, 2),)),
    Entry("bn_sum_wrong_axis", 4, lambda w: bn_sum_wrong_axis(w.before, w.after, _ctx(w)),
          (at_each(condition(lambda n, s: in_batchnorm(s.ctx), other_axes), 79, on=(E.Sum,)),)),
    Entry("other", 9, _other, (at_each(drop_sum, 81, on=(E.Sum,)),)),  # a sum that should not be there
)
ENTRIES: dict[str, Entry] = {e.code: e for e in CATALOGUE}
CODES: tuple[str, ...] = tuple(ENTRIES)
PRIORITY: dict[str, int] = {e.code: e.priority for e in CATALOGUE}
