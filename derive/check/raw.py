"""The shape-free tree the diagnosis edits: :class:`Raw`, made from any expression node.

A :class:`Raw` records a node's class and its constructor arguments, with each child expression
replaced by its Raw (a tuple of children by a tuple of Raws): nothing in this module knows one
node class from another, so a new node type in :mod:`derive.core` needs nothing here. Two leaves
are bound to the network instead of carrying a shape: a :class:`~derive.core.expr.Sym` is looked
up in the symbol table, and a 𝟙 (:class:`~derive.core.expr.Ones`) takes its size from its sibling
(:data:`SIZED_BY_SIBLING`). A node with ``activation`` and ``layer`` fields whose activation is
generic (None) gets the network's activation at that layer when it is rebuilt.

:func:`build` rebuilds a Raw through the node's own checked constructor (so the shape checks run
again over the real network); :func:`raw_shape` is the fast shape pass the search prunes with. It
too asks the node classes, through their constructors on stand-in children, and remembers each
answer by the node's class, its other fields and its children's shapes: the pass can never
disagree with the constructors, and costs a dictionary lookup once warm.

>>> from derive.network.spec import Network
>>> from derive.network.symbols import SymbolTable
>>> T = SymbolTable(Network(depth=2))
>>> to_raw(E.Hadamard(T["dA", 1], T["Z", 1]))
Raw(Hadamard, (Raw(Sym, ('dA', 1)), Raw(Sym, ('Z', 1)), False))
>>> r = Raw(E.MatMul, (Raw(E.Sym, ("W", 2)), Raw(E.Sym, ("dZ", 2))))
>>> raw_shape(r, T) is None
True
>>> build(r, T)
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: matrix product W[2] and dZ[2]: (n2×n1)·(n2×m) — inner dimensions n1 and n2 differ
>>> fixed = r.with_kid(0, Raw(E.Transpose, (r.kids[0],)))
>>> raw_shape(fixed, T), str(build(fixed, T))
((n1, m), 'W[2]ᵀ dZ[2]')
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields, is_dataclass
from typing import Any

from derive.core import expr as E
from derive.errors import ShapeMismatch

Shape = tuple[Any, Any]


class Raw:
    """A node of the shape-free tree: ``kind`` is the node class, ``args`` its constructor
    arguments (without ``src``) with every child a Raw; ``kids`` are the children in order.

    Equality and hashing ignore ``src`` (the operand as the student wrote it), as node equality
    does. The hash is computed once: the search hashes many trees sharing subtrees.
    """

    __slots__ = ("_hash", "args", "kids", "kind", "src")

    def __init__(self, kind: type, args: tuple = (), src: str | None = None):
        self.kind = kind
        self.args = args
        self.src = src
        kids: list[Raw] = []
        for a in args:
            if type(a) is Raw:
                kids.append(a)
            elif type(a) is tuple and a and type(a[0]) is Raw:
                kids.extend(a)
        self.kids: tuple[Raw, ...] = tuple(kids)
        self._hash = hash((kind, args))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(other) is not Raw or self._hash != other._hash:
            return False
        return self.kind is other.kind and self.args == other.args

    def __repr__(self) -> str:
        return f"Raw({self.kind.__name__}, {self.args!r})"

    def get(self, name: str) -> Any:
        """The field ``name`` of this node (``r.get("axis")`` of a Sum)."""
        return self.args[field_index(self.kind)[name]]

    def but(self, **changes: Any) -> Raw:
        """The same node with some fields changed (and no ``src``: it is no longer as written)."""
        index = field_index(self.kind)
        args = list(self.args)
        for name, value in changes.items():
            args[index[name]] = value
        return Raw(self.kind, tuple(args))

    def with_kids(self, kids: Sequence[Raw], src: str | None = None) -> Raw:
        """The same node over other children (in ``kids`` order)."""
        return Raw(self.kind, _refill(self.args, kids), src)

    def with_kid(self, i: int, kid: Raw) -> Raw:
        """The same node with child ``i`` replaced (no ``src``)."""
        kids = list(self.kids)
        kids[i] = kid
        return Raw(self.kind, _refill(self.args, kids))


def _refill(args: tuple, kids: Sequence) -> tuple:
    """``args`` with its children replaced, in order, by ``kids`` (Raws, or built nodes)."""
    it = iter(kids)
    out = []
    for a in args:
        if type(a) is Raw:
            out.append(next(it))
        elif type(a) is tuple and a and type(a[0]) is Raw:
            out.append(tuple(next(it) for _ in a))
        else:
            out.append(a)
    return tuple(out)


# -- the node classes' fields ---------------------------------------------------------------------
_NAMES: dict[type, tuple[str, ...]] = {}
_INDEX: dict[type, dict[str, int]] = {}
_BOUND: dict[type, tuple[int, int] | None] = {}


def field_names(kind: type) -> tuple[str, ...]:
    """The constructor fields a Raw of ``kind`` records: the dataclass's init fields but ``src``;
    a Sym records only its name (base, layer), its shape comes from the symbol table."""
    names = _NAMES.get(kind)
    if names is None:
        if kind is E.Sym:
            names = ("base", "layer")
        elif isinstance(kind, type) and issubclass(kind, E.Expr) and is_dataclass(kind):
            names = tuple(f.name for f in fields(kind) if f.init and f.name != "src")
        else:
            raise TypeError(f"cannot diagnose a {getattr(kind, '__name__', kind)}")
        _NAMES[kind] = names
    return names


def make(kind: type, args: Sequence, src: str | None = None):
    """A node of ``kind`` from the fields a Raw records, by name (a field that only says how a
    node prints, such as Deriv's ``masked``, may follow ``src``)."""
    named = dict(zip(field_names(kind), args, strict=False))  # trailing defaults may be left out
    return kind(**named, src=src) if src else kind(**named)


def field_index(kind: type) -> dict[str, int]:
    """Where each recorded field sits in a Raw's ``args``."""
    index = _INDEX.get(kind)
    if index is None:
        index = _INDEX[kind] = {name: i for i, name in enumerate(field_names(kind))}
    return index


def layer_bound(kind: type) -> tuple[int, int] | None:
    """The positions of ``activation`` and ``layer`` in a node whose function is a layer's
    activation (g[l](Z), g[l]′(Z)), else None."""
    if kind not in _BOUND:
        index = field_index(kind)
        bound = None
        if kind is not E.Sym and "activation" in index and "layer" in index:
            bound = (index["activation"], index["layer"])
        _BOUND[kind] = bound
    return _BOUND[kind]


def to_raw(e: E.Expr) -> Raw:
    """The shape-free copy of an expression (X is stored as A[0], dX as dA[0]): its class and
    its fields, the children found as :func:`derive.core.expr.map_children` finds them."""
    if isinstance(e, E.Sym):
        base, layer = e.base, e.layer
        if base in ("X", "dX") and layer is None:
            base, layer = ("A", 0) if base == "X" else ("dA", 0)
        return Raw(E.Sym, (base, layer), e.src)
    kind = type(e)
    args = []
    for name in field_names(kind):
        v = getattr(e, name)
        if isinstance(v, E.Expr):
            v = to_raw(v)
        elif isinstance(v, tuple) and v and isinstance(v[0], E.Expr):
            v = tuple(to_raw(x) for x in v)
        args.append(v)
    return Raw(kind, tuple(args), e.src)


def walk(r: Raw, path: tuple[int, ...] = (), parent: Raw | None = None
         ) -> Iterator[tuple[tuple[int, ...], Raw, Raw | None]]:
    """Every node of ``r`` in pre-order, with its path (child indices) and its parent."""
    yield path, r, parent
    for i, k in enumerate(r.kids):
        yield from walk(k, (*path, i), r)


def at(root: Raw, path: tuple[int, ...]) -> Raw:
    for i in path:
        root = root.kids[i]
    return root


def replace_at(root: Raw, path: tuple[int, ...], new: Raw) -> Raw:
    """``root`` with the subtree at ``path`` replaced (the nodes on the path lose their src)."""
    if not path:
        return new
    return root.with_kid(path[0], replace_at(root.kids[path[0]], path[1:], new))


# -- rebuilding ---------------------------------------------------------------------------------
def _matmul_kids(left: Raw, right: Raw, build_: Callable) -> tuple[E.Expr, E.Expr]:
    """A 𝟙 factor takes its inner size from the other factor (the right factor is built first,
    so a clash in both factors is reported in the right one)."""
    if right.kind is E.Ones:
        a = build_(left)
        return a, build_(right, (a.shape[1], None))
    b = build_(right)
    return build_(left, (None, b.shape[0])), b


def _elementwise_kids(left: Raw, right: Raw, build_: Callable) -> tuple[E.Expr, E.Expr]:
    """A 𝟙 operand takes the other operand's shape."""
    if left.kind is E.Ones:
        b = build_(right)
        return build_(left, b.shape), b
    a = build_(left)
    return a, build_(right, a.shape)


# How a 𝟙 child gets its size from its sibling; under any other node a 𝟙 keeps its written size.
SIZED_BY_SIBLING: dict[type, Callable] = {
    E.MatMul: _matmul_kids,
    E.Hadamard: _elementwise_kids,
    E.Add: _elementwise_kids,
    E.Sub: _elementwise_kids,
    E.Div: _elementwise_kids,
}


def build(r: Raw, table, hint: tuple | None = None) -> E.Expr:
    """Rebuild ``r`` over ``table``'s symbols through each node's constructor; raises
    ShapeMismatch or KeyError where it does not fit. ``hint`` sizes a 𝟙 (None: as written).

    A generic g[l]′ in a layer whose activation the network names means that activation.
    """
    kind = r.kind
    if kind is E.Sym:
        base, layer = r.args
        s = table[base] if layer is None else table[base, layer]
        return E.Sym(s.base, s.layer, s.shape, r.src) if r.src else s
    if kind is E.Ones:
        (orig,) = r.args
        hint = hint or (None, None)
        shape = tuple(h if h is not None else o for h, o in zip(hint, orig, strict=True))
        return E.Ones(shape, r.src)  # type: ignore[arg-type]  # a 2-tuple, as written

    def build_(k: Raw, h: tuple | None = None) -> E.Expr:
        return build(k, table, h)

    sized = SIZED_BY_SIBLING.get(kind)
    if sized is not None and len(r.kids) == 2:
        kids: Sequence[E.Expr] = sized(*r.kids, build_)
    else:
        kids = [build(k, table) for k in r.kids]
    args = list(_refill(r.args, kids))
    bound = layer_bound(kind)
    if bound is not None:
        ia, il = bound
        layer = args[il]
        if args[ia] is None and isinstance(layer, int) and 1 <= layer <= table.net.L:
            args[ia] = table.net.activation(layer)
    return make(kind, args, r.src)


# -- the fast shape pass ----------------------------------------------------------------------------
class Unknown(Exception):
    """A shape that :func:`raw_shape` leaves to :func:`build` (a 𝟙 whose size comes from context)."""


_MISSING = object()
_SHAPES: dict = {}  # (kind, fields with children as shapes) -> shape or None
_MAX_SHAPES = 50_000


def raw_shape(r: Raw, table, memo: dict | None = None) -> Shape | None:
    """The shape ``build(r, table)`` would have, or None where shapes clash, without building the
    tree or formatting error messages (the search tries many trees that do not fit). Raises
    :class:`Unknown` for a 𝟙, KeyError for a missing symbol. ``memo`` remembers the shapes of
    subtrees shared between the trees of one search."""
    return _shape(r, table, {} if memo is None else memo)


def _shape(r: Raw, table, memo: dict) -> Shape | None:
    out = memo.get(r, _MISSING)
    if out is not _MISSING:
        return out  # type: ignore[return-value]
    kind = r.kind
    if kind is E.Sym:
        base, layer = r.args
        out = (table[base] if layer is None else table[base, layer]).shape
    elif kind is E.Ones:
        raise Unknown
    elif not r.kids:
        out = _constant(r).shape
    else:
        parts = []
        clash = False
        for a in r.args:
            if type(a) is Raw:
                if a.kids or a.kind is E.Sym or a.kind is E.Ones:  # as _slot, inlined: hot
                    s = memo.get(a, _MISSING)
                    if s is _MISSING:
                        s = _shape(a, table, memo)
                    clash = clash or s is None
                else:
                    s = a
                parts.append(s)
            elif type(a) is tuple and a and type(a[0]) is Raw:
                ss = tuple(_slot(x, table, memo) for x in a)
                clash = clash or None in ss
                parts.append(ss)
            else:
                parts.append(a)
        if clash:
            out = None
        else:
            key = (kind, tuple(parts))
            out = _SHAPES.get(key, _MISSING)
            if out is _MISSING:
                if len(_SHAPES) > _MAX_SHAPES:
                    _SHAPES.clear()
                out = _SHAPES[key] = _constructed_shape(r, parts)
    memo[r] = out
    return out  # type: ignore[return-value]


def _slot(a: Raw, table, memo: dict):
    """What a parent's shape may depend on of child ``a``: its shape, or the child itself when it
    is a constant leaf (a Scalar broadcasts where a 1×1 matrix would not)."""
    if a.kids or a.kind is E.Sym or a.kind is E.Ones:
        return _shape(a, table, memo)
    return a


@functools.lru_cache(maxsize=1024)
def _constant(r: Raw) -> E.Expr:
    """A leaf that needs no symbol table (a Scalar), built."""
    return make(r.kind, r.args)


def _stand_in(slot) -> E.Expr:
    if type(slot) is Raw:
        return _constant(slot)
    return E.Sym("·", None, slot, "·")


def _constructed_shape(r: Raw, parts: list) -> Shape | None:
    """The node's own answer: its constructor on stand-in children of the children's shapes."""
    args: list[Any] = []
    for a, p in zip(r.args, parts, strict=True):
        if type(a) is Raw:
            args.append(_stand_in(p))
        elif type(a) is tuple and a and type(a[0]) is Raw:
            args.append(tuple(_stand_in(x) for x in p))
        else:
            args.append(p)
    try:
        node = make(r.kind, args)
    except ShapeMismatch:
        return None
    return node.shape
