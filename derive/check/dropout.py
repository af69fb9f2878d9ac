"""Mistakes with inverted dropout (issue 11): the rules that find them and their sentences.

A hidden layer with dropout has A[l] = g(Z[l]) ⊙ D[l] / keep_prob, the mask D[l] held fixed, so
dZ[l] = dA[l] ⊙ D[l] / keep_prob ⊙ g′(Z[l]) (the course's ``dA = dA * D; dA = dA / keep_prob``,
then ``dZ = dA * g′``), and nothing below dZ[l] (dW[l], db[l], dA[l-1]) takes the mask again.
The mistakes, each one edit of the student's tree:

- ``mask_not_applied``: a dZ[l] (or dG[l], the gradient before the mask) without D[l] at all;
  the mask (with its 1/keep_prob) multiplied in before g′(Z[l]);
- ``not_divided_by_keep_prob``: D[l] where D[l] / keep_prob belongs; the 1/keep_prob added to it;
- ``mask_on_dA_name``: dA[l] written as dG[l] = W[l+1]ᵀ dZ[l+1] ⊙ D[l] / keep_prob, the
  gradient before the mask: what the course's dA1 holds after ``dA1 *= D1; dA1 /= keep_prob``
  (derive's dA[l] is with respect to the masked A[l]); the mask dropped there;
- ``mask_on_dZ``: a mask multiplying a dZ (``dZ[l] ⊙ D[l] / keep_prob`` in dW[l], db[l] or
  dA[l-1], or the mask of a layer on the dZ of the layer above): dZ[l] already carries the mask
  once, through dA[l]; the mask dropped there. (D[l] ⊙ g′(Z[l]) in either order is the same
  value, so masking dZ[l] after g′ instead of dA[l] before it is not a mistake.)

>>> from derive.network.spec import Network
>>> from derive.check.edits import Context
>>> mask_term(Context(Network(layers=[3, 4, 2], keep_prob=0.8), "dZ", 1), 1)
Raw(Scale, (1/0.8, Raw(Sym, ('D', 1))))
>>> mask_term(Context(Network(layers=[3, 4, 2], keep_prob=0.8), "dZ", 2), 2) is None
True
"""

from __future__ import annotations

from collections.abc import Iterator

from derive.check.edits import Context, Fix, Site, is_quantity
from derive.check.factors import split_factor, sym
from derive.check.raw import Raw, walk
from derive.core import expr as E
from derive.core.names import scalar_text
from derive.network.dropout import inverse


def mask_term(ctx: Context, layer: int) -> Raw | None:
    """(1/keep_prob) D[l], layer ``layer``'s scaled mask; None where it has no dropout."""
    p = ctx.net.dropout(layer)
    return None if p is None else Raw(E.Scale, (inverse(p), sym("D", layer)))


def _masks(r: Raw) -> set[int]:
    """The layers whose mask D[l] appears in ``r``."""
    return {n.args[1] for _, n, _ in walk(r) if n.kind is E.Sym and n.args[0] == "D"}


def _mask_layer(r: Raw) -> int | None:
    """The layer l when ``r`` is a mask term: D[l] alone, times a constant, or divided by one."""
    if r.kind is E.Div and r.kids[1].kind is E.Scalar:
        r = r.kids[0]
    _, rest = split_factor(r)
    return rest.args[1] if rest.kind is E.Sym and rest.args[0] == "D" else None


def _has_dZ(r: Raw) -> bool:
    return any(n.kind is E.Sym and n.args[0] == "dZ" for _, n, _ in walk(r))


def add_mask(root: Raw, site: Site) -> Iterator[Fix]:
    """dZ[l] (or dG[l]) of a layer with dropout, written without D[l]: the scaled mask multiplied
    in, before the derivative factor when the formula ends in one (… ⊙ g′(Z[l]))."""
    ctx = site.ctx
    term = mask_term(ctx, ctx.layer)
    if ctx.kind not in ("dZ", "dG") or term is None or ctx.layer in _masks(root):
        return
    if root.kind is E.Hadamard:
        left, right = root.kids
        yield Fix(Raw(E.Hadamard, (Raw(E.Hadamard, (left, term, False)), right, False)),
                  shown=(None, term))
    yield Fix(Raw(E.Hadamard, (root, term, False)), shown=(None, term))


def divide_mask(n: Raw, site: Site) -> Iterator[Fix]:
    """D[l] alone where (1/keep_prob) D[l] belongs."""
    if n.args[0] != "D" or n.args[1] is None:
        return
    term = mask_term(site.ctx, n.args[1])
    if term is not None and site.parent is not None and site.parent.kind not in (E.Scale, E.Div):
        yield Fix(term, shown=(n, term))


def drop_mask_on_dZ(n: Raw, site: Site) -> Iterator[Fix]:
    """X ⊙ (a mask term), X a product with dZ in it: X alone (dZ carries its mask already); also
    (X ⊙ D[l]) / keep_prob and (1/keep_prob) (X ⊙ D[l]), as ``dZ * D / keep_prob`` reads. The
    detail says where the mask is: ``mask|the dZs it multiplies``."""
    if n.kind is not E.Hadamard:
        inner = n.kids[0]
        if inner.kind is not E.Hadamard or (n.kind is E.Div and n.kids[1].kind is not E.Scalar):
            return
        for mask, other in (inner.kids[::-1], inner.kids):
            if mask.kind is E.Sym and mask.args[0] == "D" and _has_dZ(other):
                yield Fix(other, shown=(n, other), detail=_where(site.ctx, mask, other, True))
        return
    a, b = n.kids
    for mask, other in ((b, a), (a, b)):
        if _mask_layer(mask) is not None and _has_dZ(other) and _mask_layer(other) is None:
            yield Fix(other, shown=(n, other), detail=_where(site.ctx, mask, other, False))
            k, rest = split_factor(other)  # dZ * (1/keep_prob) * D, read as (c dZ) ⊙ D
            if k != 1 and mask.kind is E.Sym:
                yield Fix(rest, shown=(n, rest), detail=_where(site.ctx, mask, other, True))


def _where(ctx: Context, mask: Raw, other: Raw, scaled: bool) -> str:
    """``D[1] / 0.8|dZ[2]``: the mask as derive writes it and the dZs it multiplies."""
    l = _mask_layer(mask)
    p = ctx.net.dropout(l) if l is not None else None
    scaled = scaled or mask.kind is not E.Sym
    shown = f"D[{l}]" + (f" / {scalar_text(p) if p is not None and not p.free_symbols else 'keep_prob'}"
                         if scaled else "")
    dz = sorted({n.args[1] for _, n, _ in walk(other) if n.kind is E.Sym and n.args[0] == "dZ"},
                key=str)
    return shown + "|" + ", ".join(f"dZ[{k}]" for k in dz)


def dA_as_dG(n: Raw, site: Site) -> Iterator[Fix]:
    """The whole of a dA[l] (l with dropout) that is dG[l]: the mask dropped (as
    :func:`drop_mask_on_dZ` drops it), named as the other quantity it is."""
    ctx = site.ctx
    if ctx.kind != "dA" or site.parent is not None or ctx.net.dropout(ctx.layer) is None \
            or not is_quantity(site.root, ctx, ("dG", ctx.layer)):
        return
    yield from drop_mask_on_dZ(n, site)


# -- sentences ---------------------------------------------------------------------------------------
def _keep(ctx: Context, layer: int) -> str:
    p = ctx.net.dropout(layer)
    return "keep_prob" if p is None or p.free_symbols else f"keep_prob = {scalar_text(p)}"


def mask_not_applied(after: str, ctx: Context) -> str:
    l = ctx.layer
    return (f"The dropout mask is not applied: layer {l} has A[{l}] = g(Z[{l}]) ⊙ D[{l}] / "
            f"keep_prob ({_keep(ctx, l)}), so its gradient goes back through the same mask, held "
            f"fixed: dZ[{l}] = dA[{l}] ⊙ D[{l}] / keep_prob ⊙ g′(Z[{l}]) (multiply by {after}; "
            f"if your dA{l} already holds dA[{l}] ⊙ D[{l}] / keep_prob, as the course's "
            f"dA{l} = dA{l} * D{l} / keep_prob does, the formula is right once it says so).")


def not_divided_by_keep_prob(before: str, after: str, ctx: Context) -> str:
    return (f"{before} is not divided by keep_prob: inverted dropout scales the kept units by "
            f"1/keep_prob in the forward pass (A = g(Z) ⊙ D / keep_prob), and the gradient by the "
            f"same factor: {after}.")


def mask_on_dA_name(after: str, ctx: Context) -> str:
    l = ctx.layer
    return (f"This is dG[{l}], the gradient with respect to G[{l}] = g(Z[{l}]) before the mask "
            f"— what the course's dA{l} holds after "
            f"dA{l} *= D{l}; dA{l} /= keep_prob; derive's dA[{l}] is with respect to the masked "
            f"A[{l}]: {after}.")


def mask_on_dZ(before: str, after: str, ctx: Context, where: str = "") -> str:
    mask, _, dz = where.partition("|")
    said = (f"The mask {mask} on {dz} in {before} does not belong there" if mask and dz else
            f"The mask in {before} does not belong on dZ")
    return (f"{said}: a layer's mask D[l] / keep_prob enters "
            f"once, where A[l] = g(Z[l]) ⊙ D[l] / keep_prob is differentiated (dZ[l] = dA[l] ⊙ "
            f"D[l] / keep_prob ⊙ g′(Z[l])); dW[l], db[l] and dA[l-1] use dZ[l] as it is: {after}.")


__all__ = ["add_mask", "dA_as_dG", "divide_mask", "drop_mask_on_dZ", "mask_not_applied",
           "mask_on_dA_name", "mask_on_dZ",
           "mask_term", "not_divided_by_keep_prob"]
