"""What decides a local proof problem's answer, as a key: in-process (the problems a deep
network repeats are proven once) and on disk (:mod:`derive.engine.proof_cache`).

Layers are named relative to the formula's own layer (``[l+1]``, ``n[l-1]``), activations by
their catalogue name (the catalogue's hash is part of every cache entry), shapes at the
instance's sizes. :func:`persistent_key` adds to the in-process key what is constant within one
network but not across networks (the loss, the convention, the scale, L2 and dropout), the
formula's and the definitions' trees node by node (not only their printed text), the
finite-difference instance's shapes, its seed and ε.
"""

from __future__ import annotations

import dataclasses
import functools
import re

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.printing import to_text
from derive.network.spec import m as m_symbol
from derive.network.symbols import shape_of

SYMBOLIC_M = 2  # the element-wise instance's number of examples
FD_M = 4  # the finite-difference instance's


def grad_key(key):
    return (f"d{key[0]}", key[1]) if key != ("X", None) else ("dX", None)


def shape_at(net, base, layer, m: int = SYMBOLIC_M) -> tuple[int, int]:
    r, c = shape_of(net, base, layer)  # xreplace, not subs: sizes are numbers here but m
    return (int(r.xreplace({m_symbol: m})), int(c.xreplace({m_symbol: m})))


_LAYER = re.compile(r"\[(\d+)\]")
_SIZE = re.compile(r"\bn(\d+)\b")
_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=16384)
def _relative(text: str, l: int) -> str:
    """Memoized: a deep network's keys relativize the same few names at every layer."""
    if not _DIGIT.search(text):
        return text
    text = _LAYER.sub(lambda g: f"[l{int(g.group(1)) - l:+d}]", text)
    return _SIZE.sub(lambda g: f"n[l{int(g.group(1)) - l:+d}]", text)


def relative_text(text: str, l: int) -> str:
    """``text`` with layer numbers written relative to ``l``: ``W[3]`` at l = 2 is ``W[l+1]``."""
    return _relative(text, l)


def absolute_text(text: str, l: int) -> str:
    """The inverse of :func:`relative_text` at layer ``l``."""
    text = re.sub(r"\bn\[l([+-]\d+)\]", lambda g: f"n{l + int(g.group(1))}", text)
    return re.sub(r"\[l([+-]\d+)\]", lambda g: f"[{l + int(g.group(1))}]", text)


Reads = tuple[set, set[int], set[int]]


def read(f) -> Reads:
    """The quantities (base, layer) a formula's local problem reads, the layers whose activation
    it applies or differentiates, and every layer it touches."""
    loc = f.local
    keys = {loc.wrt, loc.output, grad_key(loc.output), *loc.leaves, *(t.key for t, _ in loc.through)}
    activated: set[int] = set()
    for tree in (f.expr, *(d for _, d in loc.through)):
        for node in tree.walk():
            if isinstance(node, E.Sym):
                keys.add(node.key)
            elif isinstance(node, E.Act | E.Deriv):
                activated.add(node.layer)
    return keys, activated, activated | {k for _, k in keys if k is not None}


def local_key(net, f, shapes: dict | None = None, m: int = SYMBOLIC_M,
              reads: Reads | None = None) -> tuple:
    """What decides the answer of ``f``'s local problem, with layers named relative to ``f``'s:
    the formula, the forward definitions it is differentiated through, and the size, kind and
    activation of exactly the layers these read (dZ[l] reads layers l and l + 1, not l − 1).
    Keying on the layers read, not on a window around l, is what keeps a deep network with
    varied layers cheap: 1000 layers of random sizes and activations pose 116 problems, proven
    in about 4 s (keyed on a window of three layers: 3,888 problems, 26-42 s). ``shapes`` caches
    (base, layer) -> shape at ``m`` examples (SymPy's subs is the slow part); ``reads`` is
    :func:`read` of ``f`` where the caller has it already."""
    l = f.layer
    loc = f.local
    if loc is None:  # no local problem: fails on its own
        return (f.kind, l)
    keys, activated, layers = read(f) if reads is None else reads
    shapes = {} if shapes is None else shapes

    def shape(base, k):
        if (base, k) not in shapes:
            shapes[base, k] = shape_at(net, base, k, m)
        return shapes[base, k]

    return (
        f.kind, l == net.L, l == 1, loc.loss, loc.scaled, loc.generic, loc.penalty,
        _relative(to_text(f.expr), l), _relative(loc.method, l),
        tuple(_relative(f"{to_text(t)} = {to_text(d)}", l) for t, d in loc.through),
        tuple(sorted(((base, None if k is None else k - l, shape(base, k)) for base, k in keys),
                     key=repr)),
        tuple((k - l, net.kinds[k - 1]) for k in sorted(layers) if 1 <= k <= net.L),
        tuple((k - l, net.activation(k)) for k in sorted(activated) if 1 <= k <= net.L),
    )


def plain(value, l: int = 0):
    """A key part as JSON-able data, layers relative to ``l``."""
    kind = type(value)  # the common exact types first (a deep network's keys: ~150 calls each)
    if kind is str:
        return _relative(value, l)
    if kind is tuple or kind is list:
        return [plain(v, l) for v in value]
    if value is None or kind is int or kind is bool:
        return value
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _relative(value, l)
    if isinstance(value, rules.Activation):
        return f"activation:{value.name}"
    if isinstance(value, E.Expr):
        return structure(value, l)
    if isinstance(value, sp.Basic):
        return _relative(_srepr(value), l)
    if isinstance(value, tuple | list):
        return [plain(v, l) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__} in a proof key")


_FIELDS: dict[type, tuple[str, ...]] = {}


def _compared(node: type) -> tuple[str, ...]:
    """A node type's fields that take part in its equality (not ``src``)."""
    if node not in _FIELDS:
        _FIELDS[node] = tuple(f.name for f in dataclasses.fields(node)
                              if f.compare and f.name != "src")
    return _FIELDS[node]


@functools.lru_cache(maxsize=4096)
def _srepr(value: sp.Basic) -> str:
    return sp.srepr(value)


def structure(e: E.Expr, l: int) -> list:
    """The expression tree node by node (its type and compared fields), layers relative to l."""
    out: list = [type(e).__name__]
    for name in _compared(type(e)):
        v = getattr(e, name)
        if name == "layer" and isinstance(v, int):
            out.append(v - l)
        else:
            out.append(plain(v, l))
    return out


def context(net) -> list:
    """What a network fixes for every problem: loss, convention, scale, L2, dropout, batch
    statistics (all dense or not)."""
    return [
        net.loss, net.convention, net.scale, plain(net.l2), net.l2_form, plain(net.l2_layers),
        plain(net.keep_prob), net.all_dense,
    ]


def persistent_key(sym_net, fd_net, f, sym_shapes: dict, fd_shapes: dict, seed: int, eps: float):
    """The on-disk key of ``f``'s two proofs: the element-wise problem's key at the symbolic
    sizes, the finite-difference problem's at the instance's (with the stand-ins of generic
    activations, which depend on the layer), the network's context, the formula's tree, the
    definitions' trees, the seed and ε."""
    reads = read(f) if f.local is not None else None
    return ["formula", *fd_parts(fd_net, f, fd_shapes, seed, eps, reads),
            plain(local_key(sym_net, f, sym_shapes, reads=reads), f.layer)]


def fd_parts(fd_net, f, fd_shapes: dict, seed: int, eps: float,
             reads: Reads | None = None) -> list:
    """What decides the finite-difference proof of ``f`` (also its in-process key); ``reads``
    as in :func:`local_key`."""
    l = f.layer
    loc = f.local
    parts = [context(fd_net), structure(f.expr, l), seed, eps]
    if loc is None:
        return parts
    reads = read(f) if reads is None else reads
    activated = reads[1]
    standins = sorted(k for k in activated if 1 <= k <= fd_net.L and fd_net.activation(k) is None)
    return [*parts, [[structure(t, l), structure(d, l)] for t, d in loc.through],
            plain(local_key(fd_net, f, fd_shapes, FD_M, reads), l), standins]
