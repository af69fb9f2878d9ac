"""Diagnosis of a wrong formula: the smallest edit of the student's own tree that makes it right.

The student's expression is turned into a light, shape-free tree (:class:`Raw`) so that an edit
(swap two factors, drop a transpose, A[l] → g′(Z[l]), ...) can be made even where the student's
shapes clash. Each edited tree is then rebuilt over the real network's symbols, which re-runs the
shape checks, and compared numerically with the engine's formula by the caller. The search is
breadth-first: every single edit, then pairs of edits, with a cap on the number of trees tried.

Mistake codes (DESIGN.md): ``wrong_order``, ``missing_transpose``, ``extra_transpose``,
``missing_scale``, ``extra_scale``, ``wrong_activation_derivative``,
``activation_instead_of_derivative``, ``matmul_instead_of_elementwise``,
``elementwise_instead_of_matmul``, ``wrong_layer_index``, ``missing_sum``, ``wrong_sum_axis``,
``sign_error``, ``other``.

>>> from derive.network.spec import Network
>>> from derive.network.symbols import SymbolTable
>>> T = SymbolTable(Network(depth=2))
>>> r = Raw("MatMul", (Raw("Sym", (), ("W", 2)), Raw("Sym", (), ("dZ", 2))))
>>> build(r, T)
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: matrix product W[2] and dZ[2]: (n2×n1)·(n2×m) — inner dimensions n1 and n2 differ
>>> fix = Edit("missing_transpose", (0,), r.kids[0], Raw("Transpose", (r.kids[0],)))
>>> str(build(apply(r, fix), T))
'W[2]ᵀ dZ[2]'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.network.spec import Network
from derive.network.spec import m as M_SYM

CODES = (
    "wrong_order", "missing_transpose", "extra_transpose", "missing_scale", "extra_scale",
    "wrong_activation_derivative", "activation_instead_of_derivative",
    "matmul_instead_of_elementwise", "elementwise_instead_of_matmul", "wrong_layer_index",
    "missing_sum", "wrong_sum_axis", "sign_error", "other",
)
# Among several single edits that each fix a formula, the first in this order names the mistake.
PRIORITY = {
    "wrong_order": 0, "missing_transpose": 1, "extra_transpose": 1,
    "activation_instead_of_derivative": 2, "matmul_instead_of_elementwise": 3,
    "elementwise_instead_of_matmul": 3, "wrong_layer_index": 4, "missing_sum": 5,
    "wrong_sum_axis": 5, "missing_scale": 6, "extra_scale": 6, "sign_error": 7,
    "wrong_activation_derivative": 8, "other": 9,
}
MAX_TRIES = 1500  # edited trees tried per diagnosis (single edits first, then pairs)


class _Ref:
    """A hashable handle on an activation entry (catalogue entries hold dicts: not hashable)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __eq__(self, other):
        return isinstance(other, _Ref) and _act_name(self.obj) == _act_name(other.obj)

    def __hash__(self):
        return hash(_act_name(self.obj))


def _act_name(act) -> str | None:
    return None if act is None else act.name


@dataclass(frozen=True)
class Raw:
    """A node of a shape-free tree: ``kind`` is an :mod:`derive.core.expr` class name."""

    kind: str
    kids: tuple[Raw, ...] = ()
    attrs: tuple = ()
    src: str | None = field(default=None, compare=False)
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_hash", hash((self.kind, self.kids, self.attrs)))

    def __hash__(self) -> int:  # computed once: the search hashes many trees sharing subtrees
        return self._hash


def to_raw(e: E.Expr) -> Raw:
    """The shape-free copy of an expression (X is stored as A[0], dX as dA[0])."""
    src = getattr(e, "src", None)
    if isinstance(e, E.Sym):
        base, layer = e.base, e.layer
        if base in ("X", "dX") and layer is None:
            base, layer = ("A", 0) if base == "X" else ("dA", 0)
        return Raw("Sym", (), (base, layer), src)
    if isinstance(e, E.Ones):
        return Raw("Ones", (), (tuple(e.shape),), src)
    if isinstance(e, E.Scalar):
        return Raw("Scalar", (), (as_sympy(e.value),), src)
    if isinstance(e, E.Scale):
        return Raw("Scale", (to_raw(e.arg),), (as_sympy(e.factor),), src)
    if isinstance(e, E.Transpose):
        return Raw("Transpose", (to_raw(e.arg),), (), src)
    if isinstance(e, E.Sum):
        return Raw("Sum", (to_raw(e.arg),), (e.axis,), src)
    if isinstance(e, E.Deriv | E.Act):
        return Raw(type(e).__name__, (to_raw(e.arg),), (_Ref(e.activation), e.layer), src)
    if isinstance(e, E.Pointwise):
        return Raw("Pointwise", tuple(to_raw(a) for a in e.args), (e.expr, e.params), src)
    if isinstance(e, E.MatMul):
        return Raw("MatMul", (to_raw(e.left), to_raw(e.right)), (), src)
    if isinstance(e, E.Hadamard | E.Add | E.Sub | E.Div):
        return Raw(type(e).__name__, (to_raw(e.left), to_raw(e.right)), (e.broadcast,), src)
    raise TypeError(f"cannot diagnose a {type(e).__name__}")


def build(r: Raw, table, hint=None) -> E.Expr:
    """Rebuild ``r`` over ``table``'s symbols; raises ShapeMismatch or KeyError where it does not fit.

    A generic g[l]′ in a layer whose activation the network names means that activation.
    """
    k = r.kind
    if k == "Sym":
        base, layer = r.attrs
        s = table[base] if layer is None else table[base, layer]
        return E.Sym(s.base, s.layer, s.shape, r.src) if r.src else s
    if k == "Ones":
        (orig,) = r.attrs
        hint = hint or (None, None)
        shape = tuple(h if h is not None else o for h, o in zip(hint, orig, strict=True))
        return E.Ones(shape, r.src)  # type: ignore[arg-type]
    if k == "Scalar":
        return E.Scalar(r.attrs[0], r.src)
    if k == "Scale":
        return E.Scale(r.attrs[0], build(r.kids[0], table), r.src)
    if k == "Transpose":
        return E.Transpose(build(r.kids[0], table), r.src)
    if k == "Sum":
        return E.Sum(build(r.kids[0], table), r.attrs[0], r.src)
    if k in ("Deriv", "Act"):
        ref, layer = r.attrs
        act = ref.obj
        net = table.net
        if act is None and 1 <= layer <= net.L:
            act = net.activation(layer)
        cls = E.Deriv if k == "Deriv" else E.Act
        return cls(act, layer, build(r.kids[0], table), r.src)
    if k == "Pointwise":
        expr_, params = r.attrs
        return E.Pointwise(expr_, params, tuple(build(a, table) for a in r.kids), r.src)
    left_raw, right_raw = r.kids
    if k == "MatMul":
        if right_raw.kind == "Ones":
            left = build(left_raw, table)
            right = build(right_raw, table, (left.shape[1], None))
        else:
            right = build(right_raw, table)
            left = build(left_raw, table, (None, right.shape[0]))
        return E.MatMul(left, right, r.src)
    if left_raw.kind == "Ones":
        right = build(right_raw, table)
        left = build(left_raw, table, right.shape)
    else:
        left = build(left_raw, table)
        right = build(right_raw, table, left.shape)
    cls = {"Hadamard": E.Hadamard, "Add": E.Add, "Sub": E.Sub, "Div": E.Div}[k]
    return cls(left, right, r.attrs[0], r.src)


class Unknown(Exception):
    """A shape that :func:`raw_shape` leaves to :func:`build` (a 𝟙 whose size comes from context)."""


def raw_shape(r: Raw, table, memo: dict | None = None):
    """The shape ``build(r, table)`` would have, or None where shapes clash: the same rules as
    :mod:`derive.core.expr`, without building nodes or formatting error messages (the search tries
    many trees that do not fit). Raises :class:`Unknown` for a 𝟙, KeyError for a missing symbol.
    ``memo`` remembers the shapes of subtrees shared between the trees of one search."""
    if memo is None:
        return _raw_shape(r, table, {})
    return _raw_shape(r, table, memo)


def _raw_shape(r: Raw, table, memo: dict):
    if r in memo:
        return memo[r]
    out = _shape_of(r, table, memo)
    memo[r] = out
    return out


def _shape_of(r: Raw, table, memo: dict):
    k = r.kind
    if k == "Sym":
        base, layer = r.attrs
        return (table[base] if layer is None else table[base, layer]).shape
    if k == "Ones":
        raise Unknown
    if k == "Scalar":
        return _ONE, _ONE
    kids = [_raw_shape(c, table, memo) for c in r.kids]
    if any(c is None for c in kids):
        return None
    if k in ("Scale", "Deriv", "Act"):
        return kids[0]
    if k == "Transpose":
        return kids[0][1], kids[0][0]
    if k == "Sum":
        (rows, cols), axis = kids[0], r.attrs[0]
        return (_ONE, cols) if axis == 0 else (rows, _ONE) if axis == 1 else (_ONE, _ONE)
    if k == "Pointwise":
        return kids[0] if all(c == kids[0] for c in kids) else None
    a, b = kids
    if k == "MatMul":
        return (a[0], b[1]) if a[1] == b[0] else None
    loose = r.attrs[0] or (k in ("Hadamard", "Div") and "Scalar" in (r.kids[0].kind, r.kids[1].kind))
    out = []
    for x, y in zip(a, b, strict=True):
        if x == y:
            out.append(x)
        elif loose and x == 1:
            out.append(y)
        elif loose and y == 1:
            out.append(x)
        else:
            return None
    return tuple(out)


_ONE = sp.Integer(1)


# -- edits --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """What the edits need to know: the network and the gradient being checked."""

    net: Network
    kind: str  # "dA" | "dZ" | "dW" | "db"
    layer: int

    @property
    def unit_sum_axis(self) -> int:
        """The axis that runs over examples (summed for db): 1 in columns, 0 in rows."""
        return 1 if self.net.convention == "columns" else 0


@dataclass(frozen=True)
class Edit:
    code: str
    path: tuple[int, ...]
    before: Raw
    after: Raw
    shown: tuple[Raw, Raw] | None = None  # what a sentence names, when not before/after
    detail: str = ""  # e.g. the factor an extra_scale edit removes


def _nodes(r: Raw, path: tuple[int, ...] = ()) -> Iterator[tuple[tuple[int, ...], Raw]]:
    yield path, r
    for i, k in enumerate(r.kids):
        yield from _nodes(k, (*path, i))


def apply(root: Raw, edit: Edit) -> Raw:
    """``root`` with the subtree at ``edit.path`` replaced (nodes on the path lose their src)."""

    def go(r: Raw, path: tuple[int, ...]) -> Raw:
        if not path:
            return edit.after
        kids = list(r.kids)
        kids[path[0]] = go(kids[path[0]], path[1:])
        return Raw(r.kind, tuple(kids), r.attrs)

    return go(root, edit.path)


def _sym(base: str, layer: int | None) -> Raw:
    return Raw("Sym", (), (base, layer))


def _deriv(ctx: Context, layer: int) -> Raw:
    return Raw("Deriv", (_sym("Z", layer),), (_Ref(ctx.net.activation(layer)), layer))


def _toggle_t(r: Raw) -> Raw:
    return r.kids[0] if r.kind == "Transpose" else Raw("Transpose", (r,))


def _layer_of_elementwise(r: Raw) -> int | None:
    """The layer l when ``r`` is an entry-by-entry expression of Z[l] and A[l] only."""
    allowed = {"Sym", "Scalar", "Pointwise", "Deriv", "Act", "Hadamard", "Add", "Sub", "Div", "Scale"}
    layers = set()
    for _, n in _nodes(r):
        if n.kind not in allowed:
            return None
        if n.kind == "Sym":
            base, layer = n.attrs
            if base not in ("Z", "A") or not layer:
                return None
            layers.add(layer)
    return layers.pop() if len(layers) == 1 else None


def _shift(r: Raw, ctx: Context, old: int, new: int) -> Raw:
    """Every layer index ``old`` in ``r`` replaced by ``new`` (activations follow the layer)."""
    if r.kind == "Sym" and r.attrs[1] == old:
        return Raw("Sym", (), (r.attrs[0], new))
    kids = tuple(_shift(k, ctx, old, new) for k in r.kids)
    if r.kind in ("Deriv", "Act") and r.attrs[1] == old:
        return Raw(r.kind, kids, (_Ref(ctx.net.activation(new)), new))
    if kids == r.kids:
        return r
    return Raw(r.kind, kids, r.attrs, r.src)


def single_edits(root: Raw, ctx: Context) -> Iterator[Edit]:
    """Every one-step edit of ``root``, most specific first."""
    L = ctx.net.L
    layers = sorted({n.attrs[1] for _, n in _nodes(root) if n.kind == "Sym" and n.attrs[1] is not None})
    for old in layers:
        for new in (old + 1, old - 1):
            if 0 <= new <= L:
                yield Edit("wrong_layer_index", (), root, _shift(root, ctx, old, new))
    parents_elementwise: set[tuple[int, ...]] = set()
    for path, n in _nodes(root):
        k = n.kind
        if k == "MatMul":
            a, b = n.kids
            yield Edit("wrong_order", path, n, Raw("MatMul", (b, a)))
            yield Edit("wrong_order", path, n, Raw("MatMul", (_toggle_t(b), _toggle_t(a))))
            yield Edit("matmul_instead_of_elementwise", path, n, Raw("Hadamard", (a, b), (False,)))
        if k == "Hadamard":
            a, b = n.kids
            yield Edit("elementwise_instead_of_matmul", path, n, Raw("MatMul", (a, b)))
            yield Edit("elementwise_instead_of_matmul", path, n, Raw("MatMul", (b, a)))
        if k == "Transpose":
            yield Edit("extra_transpose", path, n, n.kids[0])
        elif k not in ("Scalar", "Scale"):
            yield Edit("missing_transpose", path, n, Raw("Transpose", (n,)))
        if k == "Sym" and n.attrs[1] is not None:
            base, layer = n.attrs
            for new in (layer + 1, layer - 1):
                if 0 <= new <= L:
                    yield Edit("wrong_layer_index", path, n, Raw("Sym", (), (base, new), n.src))
        if k in ("Deriv", "Act") and n.kids[0].kind == "Sym":
            layer = n.attrs[1]
            for new in (layer + 1, layer - 1):
                if 1 <= new <= L:
                    yield Edit("wrong_layer_index", path, n, _shift(n, ctx, layer, new))
        lay = _layer_of_elementwise(n)
        if lay is not None and lay <= L and path[:-1] not in parents_elementwise:
            parents_elementwise.add(path)
            lone = (k == "Sym" and n.attrs[0] == "A") or k == "Act"
            target = _deriv(ctx, lay)
            if n != target:
                code = "activation_instead_of_derivative" if lone else "wrong_activation_derivative"
                yield Edit(code, path, n, target)
        elif lay is not None:
            parents_elementwise.add(path)
        if k == "Hadamard" and (not path or _at(root, path[:-1]).kind != "Hadamard"):
            yield from _regroup(path, n, ctx)
        if k == "Deriv" and path:
            parent = _at(root, path[:-1])
            if parent.kind == "Hadamard":
                other = parent.kids[1 - path[-1]]
                yield Edit("wrong_activation_derivative", path[:-1], parent, other)
        if k == "Sum":
            for axis in (0, 1, None):
                if axis != n.attrs[0]:
                    yield Edit("wrong_sum_axis", path, n, Raw("Sum", n.kids, (axis,)))
            yield Edit("other", path, n, n.kids[0])  # a sum that should not be there
        elif k not in ("Scalar",):
            yield Edit("missing_sum", path, n, Raw("Sum", (n,), (ctx.unit_sum_axis,)))
        if k == "Sub":
            yield Edit("sign_error", path, n, Raw("Sub", n.kids[::-1], n.attrs))
        if k == "Scale":
            f = n.attrs[0]
            code = "extra_scale" if f != -1 else "sign_error"
            yield Edit(code, path, n, n.kids[0], detail=_factor_text(f))
        if k in ("Hadamard", "MatMul") and any(_is_m_scalar(c) for c in n.kids):
            scalar, other = (n.kids[0], n.kids[1]) if _is_m_scalar(n.kids[0]) else n.kids[::-1]
            yield Edit("extra_scale", path, n, other, detail=_factor_text(scalar.attrs[0]))
        if k == "Div" and _is_m_scalar(n.kids[1]):
            yield Edit("extra_scale", path, n, n.kids[0], detail=f"1/{n.kids[1].attrs[0]}")
    # scale, sign and a missing g′ act on the whole right side
    yield Edit("missing_scale", (), root, Raw("Scale", (root,), (1 / M_SYM,)))
    yield Edit("extra_scale", (), root, Raw("Scale", (root,), (M_SYM,)), detail="1/m")
    yield Edit("sign_error", (), root, Raw("Scale", (root,), (sp.Integer(-1),)))
    if ctx.kind == "dZ":
        d = _deriv(ctx, ctx.layer)
        yield Edit("wrong_activation_derivative", (), root, Raw("Hadamard", (root, d), (False,)),
                   (Raw("Sym", (), ("?", None)), d))


def _factors(r: Raw) -> list[Raw]:
    if r.kind == "Hadamard":
        return _factors(r.kids[0]) + _factors(r.kids[1])
    return [r]


def _regroup(path, n: Raw, ctx: Context) -> Iterator[Edit]:
    """A ⊙ chain whose factors of layer l (A1 ⊙ ... ⊙ (1 − A1), split by the order of operations)
    together stand for g′(Z[l]): replace them all by g′(Z[l])."""
    factors = _factors(n)
    groups: dict[int, list[int]] = {}
    for i, f in enumerate(factors):
        lay = _layer_of_elementwise(f)
        if lay is not None and lay <= ctx.net.L:
            groups.setdefault(lay, []).append(i)
    for lay, idx in groups.items():
        if len(idx) < 2:
            continue
        rest = [f for i, f in enumerate(factors) if i not in idx]
        out = _deriv(ctx, lay)
        for f in reversed(rest):
            out = Raw("Hadamard", (f, out), (False,))
        lone = all(factors[i].kind == "Act" or factors[i] == _sym("A", lay) for i in idx)
        code = "activation_instead_of_derivative" if lone else "wrong_activation_derivative"
        parts = [factors[i] for i in idx]
        shown_before = parts[0]
        for f in parts[1:]:
            shown_before = Raw("Hadamard", (shown_before, f), (False,))
        if all(f.src for f in parts):
            shown_before = Raw(shown_before.kind, shown_before.kids, shown_before.attrs,
                               " * ".join(f.src for f in parts))  # type: ignore[misc]
        yield Edit(code, path, n, out, (shown_before, _deriv(ctx, lay)))


def _factor_text(f) -> str:
    return sp.sstr(as_sympy(f))


def _at(root: Raw, path: tuple[int, ...]) -> Raw:
    for i in path:
        root = root.kids[i]
    return root


def _is_m_scalar(r: Raw) -> bool:
    return r.kind == "Scalar" and M_SYM in as_sympy(r.attrs[0]).free_symbols


def search(root: Raw, ctx: Context, accept: Callable[[Raw], bool],
           max_tries: int = MAX_TRIES) -> tuple[Edit, ...] | None:
    """The smallest sequence of edits (one, else two) whose result ``accept`` takes; None if none
    is found within ``max_tries`` trees. Among single edits the most specific code wins."""
    seen: set[Raw] = {root}
    first = []
    winners = []
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
def sentence(code: str, before: str, after: str, ctx: Context, detail: str = "") -> str:
    """One plain sentence naming the mistake, with the part as written and its fix."""
    if code == "wrong_order":
        return (f"The factors of {before} are in the wrong order: write {after} "
                "(matrix products do not commute; check that the inner dimensions match).")
    if code == "missing_transpose":
        return f"{before} needs a transpose here: {after}."
    if code == "extra_transpose":
        return f"{before} should not be transposed here: {after}."
    if code == "missing_scale":
        return ("The factor 1/m is missing: the cost averages the loss over the m examples, so "
                f"{_name(ctx)} carries 1/m.")
    if code == "extra_scale":
        what = f"the factor {detail}" if detail else "a factor"
        why = ("with the mean cost, 1/m appears once, in dW and db; dZ and dA carry none"
               if ctx.net.scale == "mean" else "with scale sum there is no 1/m anywhere")
        return f"There is {what} too many in {before}: {_name(ctx)} has no such factor ({why})."
    if code == "activation_instead_of_derivative":
        return (f"{before} is the activation itself; the chain rule needs its derivative {after}.")
    if code == "wrong_activation_derivative":
        if before == "?":
            return f"The factor {after} is missing: multiply element-wise by it (the chain rule)."
        if not before or before == after:
            return f"The activation derivative is wrong: use {after}."
        return f"{before} is not the right activation derivative here: use {after}."
    if code == "matmul_instead_of_elementwise":
        return (f"{before} is a matrix product where an element-wise product is needed: {after}.")
    if code == "elementwise_instead_of_matmul":
        return (f"{before} is an element-wise product where a matrix product is needed: {after}.")
    if code == "wrong_layer_index":
        return f"{before} has the wrong layer index: {after}."
    if code == "missing_sum":
        return f"A sum over the examples is missing: {after}."
    if code == "wrong_sum_axis":
        axis = "axis=1 (along each row)" if ctx.unit_sum_axis == 1 else "axis=0 (down each column)"
        return f"{before} sums over the wrong axis: sum over the examples, {axis}: {after}."
    if code == "sign_error":
        return f"The sign is wrong: {before} should be {after}."
    if before and after:
        return f"{before} does not belong here: {after}."
    return "No small edit explains the difference; compare with the correct formula."


def _name(ctx: Context) -> str:
    return f"{ctx.kind}[{ctx.layer}]"
