"""Mistakes in the L2 term of dW[l] (issue 11): the rules that find them and their sentences.

With an L2 penalty p Σ ‖W[l]‖²_F in the cost, dW[l] is its data term plus k W[l], k = 2p
(:attr:`derive.network.spec.Network.l2_coefficient`: λ/m in the course's form, λ in CS231n's
``0.5 * reg * np.sum(W * W)``, 2λ in the plain form). The mistakes people make with it, each an
edit of one term of the formula's top-level sum:

- the term is missing (``missing_l2_term``): k W[l] added;
- its factor is wrong (``wrong_scale``, naming the L2 term): λ W without the course's 1/m,
  λ/(2m) W with the penalty's ½ kept, λ W where the plain form gives 2λ W; the factor replaced;
- the penalty's value, or W ⊙ W, in place of its gradient (``wrong_l2_term``):
  ``np.sum(W * W)``, ``np.sum(W)``, ``W**2``; the term replaced by k W[l].

>>> from derive.network.spec import Network
>>> from derive.check.edits import Context
>>> l2_term(Context(Network(depth=2, l2=True), "dW", 1))
Raw(Scale, (λ/m, Raw(Sym, ('W', 1))))
>>> l2_term(Context(Network(depth=2, l2=True), "db", 1)) is None
True
"""

from __future__ import annotations

from collections.abc import Iterator

import sympy as sp

from derive.check.edits import Context, Fix, Site
from derive.check.factors import split_factor, sym
from derive.check.raw import Raw, at, walk
from derive.core import expr as E
from derive.core.names import factor_text, scalar_text

L2_DETAIL = "L2:"  # a Fix's detail starts so: the factor is the L2 term's (then the right one)
_SUMS = (E.Add, E.Sub)


def l2_term(ctx: Context) -> Raw | None:
    """k W[l], the term the cost's L2 penalty adds to dW[l]; None where it adds none."""
    net = ctx.net
    if ctx.kind != "dW" or not net.regularised(ctx.layer):
        return None
    k = net.l2_coefficient
    W = sym("W", ctx.layer)
    return W if k == 1 else Raw(E.Scale, (k, W))


def _outer(site: Site) -> sp.Expr | None:
    """The factor by which the formula scales the node at ``site`` when it is one term of its
    top-level sum (``(1/m) (dZ Aᵀ + λ W)``: 1/m for λ W; −1 for a subtracted term), else None
    (the whole formula, or a term inside a product)."""
    path, factor = site.path, sp.Integer(1)
    if not path:
        return None
    for i in range(len(path)):
        node = at(site.root, path[:i])
        if node.kind is E.Scale:
            factor *= node.get("factor")
        elif node.kind is E.Sub and path[i] == 1:
            factor = -factor
        elif node.kind not in _SUMS:
            return None
    return factor if any(at(site.root, path[:i]).kind in _SUMS for i in range(len(path))) \
        else None


def _only_w(r: Raw, layer: int) -> bool:
    """``r`` is built from W[l] alone (W ⊙ W, W**2, np.sum(W * W), np.sum(W)), and is not W[l]."""
    syms = [n for _, n, _ in walk(r) if n.kind is E.Sym]
    return bool(syms) and r != sym("W", layer) and all(s.args == ("W", layer) for s in syms)


def _has_l2_term(root: Raw, layer: int) -> bool:
    """Does a term of the top-level sum (or the whole formula) scale W[l] or a form of it?"""
    stack = [root]
    while stack:
        r = stack.pop()
        if r.kind in (*_SUMS, E.Scale):
            stack.extend(r.kids)
            continue
        _, rest = split_factor(r)
        if rest == sym("W", layer) or _only_w(rest, layer):
            return True
    return False


def add_l2_term(root: Raw, site: Site) -> Iterator[Fix]:
    """dW[l] without its L2 term: k W[l] added."""
    term = l2_term(site.ctx)
    if term is not None and not _has_l2_term(root, site.ctx.layer):
        yield Fix(Raw(E.Add, (root, term, False)), shown=(None, term))


def l2_factor(n: Raw, site: Site) -> Iterator[Fix]:
    """c W[l], a term of the sum, with the factor c that is not k: c replaced by k."""
    outer = _outer(site)
    if outer is None or l2_term(site.ctx) is None:
        return
    c, rest = split_factor(n)
    k = site.ctx.net.l2_coefficient
    if rest != sym("W", site.ctx.layer) or c * outer == k:
        return
    shown = None if c == 1 else Raw(E.Scalar, (c,), scalar_text(c))
    yield Fix(_scaled(rest, k / outer), detail=L2_DETAIL + scalar_text(k / outer),
              shown=(shown, Raw(E.Scalar, (k / outer,))))


def l2_not_penalty(n: Raw, site: Site) -> Iterator[Fix]:
    """A term of W[l] alone that is not a multiple of W[l] (np.sum(W * W), W ⊙ W, W**2): the
    gradient k W[l] in its place."""
    outer = _outer(site)
    if outer is None or l2_term(site.ctx) is None:
        return
    _, rest = split_factor(n)
    if _only_w(rest, site.ctx.layer):
        yield Fix(_scaled(sym("W", site.ctx.layer), site.ctx.net.l2_coefficient / outer))


def _scaled(r: Raw, c: sp.Expr) -> Raw:
    return r if c == 1 else Raw(E.Scale, (c, r))


# -- sentences ---------------------------------------------------------------------------------------
def _penalty(ctx: Context) -> str:
    """``(λ/(2m)) ‖W[2]‖²_F``: the penalty's part on the layer's W."""
    p = ctx.net.l2_penalty
    return f"{'' if p == 1 else factor_text(p) + ' '}‖W[{ctx.layer}]‖²_F"


def wrong_l2_scale(before: str, detail: str, ctx: Context, added: bool) -> str:
    """The sentence of a wrong factor on the L2 term (the ``wrong_scale`` code); ``detail`` is
    :data:`L2_DETAIL` and the factor that belongs."""
    after = detail[len(L2_DETAIL):]
    why = (f"the cost's L2 penalty {_penalty(ctx)} ({ctx.net.l2_form} form) has the gradient "
           f"{factor_text(ctx.net.l2_coefficient)} W[{ctx.layer}]")
    if added:
        return f"The L2 term W[{ctx.layer}] needs the factor {after}: {why}."
    return f"The L2 term's factor {before} should be {after}: {why}."


def missing_l2_term(after: str, ctx: Context) -> str:
    return (f"The L2 term {after} is missing: the cost's penalty {_penalty(ctx)} "
            f"({ctx.net.l2_form} form) adds it to dW[{ctx.layer}].")


def wrong_l2_term(before: str, after: str, ctx: Context) -> str:
    return (f"{before} is not the gradient of the L2 penalty {_penalty(ctx)}: the L2 term of "
            f"dW[{ctx.layer}] is {after} (the derivative of ‖W‖²_F is 2 W, not a sum or W ⊙ W).")


__all__ = ["L2_DETAIL", "add_l2_term", "l2_factor", "l2_not_penalty", "l2_term",
           "missing_l2_term", "wrong_l2_scale", "wrong_l2_term"]
