"""The values a snippet's known names hold: the course's caches and dicts, Nielsen's lists and
``self``'s attributes, and the roles of a well-known function's parameters (:mod:`.known`), at
one network and layer (used by :mod:`.reader`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from derive.code import bn_cache
from derive.code import evaluate as X
from derive.code import values as V
from derive.code.known import LISTS, SELF_DICTS, SELF_LISTS
from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import ParseError
from derive.network.dropout import inverse
from derive.network.symbols import SymbolTable
from derive.parse import parse_expression
from derive.parse.names import GenericLayerNeeded

if TYPE_CHECKING:
    from derive.code.reader import Frame, Reader

KINDS = ("dA", "dG", "dZ", "dW", "db", "dZtilde", "dgamma", "dbeta", "dZnorm", "dvar", "dmu")


def item(reader: Reader, frame: Frame, container, key, node) -> V.Value:
    if isinstance(container, V.Mapping):
        if not isinstance(key, V.Str):
            raise X.error(frame, node, f"{V.describe(container)} is indexed by strings")
        if key.value in container.items:
            return container.items[key.value]
        if container.keyed:
            return V.Tensor(X.tensor_of_name(frame, key.value, node))
        q = reader.key_quantity(container, key.value, frame.layer)
        if q is not None:
            return V.Tensor(q, q)
        raise X.error(frame, node, f"{frame.source.segment(node)} is not set")
    if isinstance(container, V.Seq):
        if not isinstance(key, V.Int):
            raise X.error(frame, node, f"{V.describe(container)} is indexed by a number "
                                       f"here, not {V.describe(key)}")
        n = len(container.items)
        if not -n <= key.value < n:
            raise X.error(frame, node, f"index {key.value} is outside {V.describe(container)}"
                                       f" ({n} items)")
        return container.items[key.value]
    raise X.error(frame, node, f"cannot index {V.describe(container)}")

def known_list(reader: Reader, name: str) -> V.Seq:
    base, first = LISTS[name]
    L = reader.net.L
    last = L if first == 1 else L
    items = []
    for i in range(first, last + 1):
        sym = parse_expression(f"{base}{i}", reader.net, syntax="text") if (base, i) != ("A", 0) \
            else parse_expression("X", reader.net, syntax="text")
        assert isinstance(sym, E.Sym)
        items.append(V.Tensor(sym, sym if base in KINDS else None))
    return V.Seq(items, "list", name)

def self_attribute(reader: Reader, frame: Frame, attr: str, node) -> V.Value:
    if attr in SELF_LISTS:
        base = SELF_LISTS[attr]
        return V.Seq([V.Tensor(X.tensor_of_name(frame, f"{base}{i}", node))
                      for i in range(1, reader.net.L + 1)], "list", f"self.{attr}")
    if attr in SELF_DICTS:
        return V.Mapping({}, "quantity", f"self.{attr}")
    if attr == "num_layers":
        return V.Int(reader.net.L + 1)
    if attr == "cost":
        return V.Self()
    if attr == "reg":
        return V.Own("reg")
    return V.Own(attr)


def parameter(reader: Reader, name: str, kind: str, frame: Frame, fname: str,
              node) -> V.Value:
    """The value of the parameter ``name`` with this role at the reader's layer; an error
    names the parameter and the function's line, never a position in a name derive wrote
    (the role's own text, ``dZtilde[1]``)."""
    try:
        return role(reader, kind, reader.layer, frame)
    except GenericLayerNeeded:
        raise
    except ParseError as exc:
        line = getattr(node, "lineno", None)
        where = f"line {line}: " if line else ""
        why = re.sub(r"^line \d+: ", "", exc.message).split(" (at position ")[0]
        raise type(exc)(f"{where}the parameter {name} of {fname}: {why}", None, None) from None


def role(reader: Reader, kind: str, layer: int | None, frame_for_names: Frame) -> V.Value:
    """The value of a parameter with this role (known.py's table) at ``layer``."""
    L = reader.net.L
    f = frame_for_names
    if kind == "caches":
        return V.Seq([role(reader, "layer_cache", k, f) for k in range(1, L + 1)], "list",
                     "caches")
    if kind in ("parameters", "forward"):
        return V.Mapping({}, "quantity", "")
    if kind == "labels":
        return V.Labels("y")
    if layer is None:
        if kind in ("linear_cache", "activation_cache", "layer_cache", "activation",
                    "dropout_cache", "batchnorm_cache") \
                or "[l" in kind:
            raise GenericLayerNeeded("this function's parameters belong to a layer l: give the "
                                     "layer to check (--layer N, batch field \"layer\")",
                                     None, None)
        return V.Tensor(X.tensor_of_name(f, kind.replace("[L]", f"[{L}]"), None))
    if kind == "linear_cache":
        return linear_cache(reader, layer, f)
    if kind == "dropout_cache":
        return dropout_cache(reader, layer, f)
    if kind == "batchnorm_cache":
        return bn_cache.symbolic(reader, layer, f)
    if kind == "activation_cache":
        return V.Tensor(X.tensor_of_name(f, f"Z{layer}", None))
    if kind == "layer_cache":
        return V.Seq([linear_cache(reader, layer, f),
                      V.Tensor(X.tensor_of_name(f, f"Z{layer}", None))], "tuple",
                     f"the cache of layer {layer}", layer)
    if kind == "activation":
        act = reader.net.activation(layer)
        if act is None:
            raise ParseError(f"this function branches on the activation's name, and layer "
                             f"{layer}'s activation is generic: give the network's "
                             "activations (--act relu,sigmoid, ...)", None, None)
        return V.Str(act.name)
    text = kind.replace("[l]", f"[{layer}]").replace("[L]", f"[{L}]")
    return V.Tensor(X.tensor_of_name(f, text, None))


def rekeyed(reader: Reader, frame: Frame, target, v, q, value_node):
    """The quantity a gradient is stored as: dG[l] for a dA[l] of a dropout layer whose value
    goes through the layer's mask (:func:`masked_gradient`); for an unpacked one, the one its
    call computed when the key names another of the same kind that its shape does not fit (the
    course's old ``grads["dA" + str(l + 1)]`` holds dA[l], linear_backward's dA_prev); else
    ``q``."""
    through_mask, masked = masked_gradient(reader, frame, target, v, q)
    if through_mask:
        return masked
    if q is None or value_node is not None or not isinstance(v, V.Tensor) or v.grad is None \
            or v.grad == q or v.grad.base != q.base:
        return q
    if v.expr.shape != v.grad.shape or v.expr.shape == q.shape:
        return q
    reader.note(f"{frame.source.segment(target)} (line {frame.line}) holds {v.grad.to_text()}, "
                f"the value its call computes (the key's {q.to_text()} is "
                f"{'×'.join(map(str, q.shape))}, the value {'×'.join(map(str, v.expr.shape))})")
    return v.grad


def masked_gradient(reader: Reader, frame: Frame, target, v, q) -> tuple[bool, E.Sym | None]:
    """(True, dG[l]) when ``q`` is dA[l] of a layer with dropout and the value assigned goes
    through the layer's mask D[l] and is divided by its keep_prob: the course's
    ``dA2 = dA2 * D2; dA2 = dA2 / keep_prob`` leaves in dA2 the gradient with respect to g(Z[2])
    before the mask, dG[2]. (True, None) for the mask alone, a step on the way (the name holds a
    helper value until it is divided, or used as it is: a dZ from it then lacks the 1/keep_prob);
    (False, None) otherwise."""
    l = q.layer if q is not None and q.base == "dA" else None
    p = reader.net.dropout(l) if l is not None else None
    if p is None or not isinstance(v, V.Tensor) or \
            not any(s.key == ("D", l) for s in v.expr.symbols()):
        return False, None
    if not _divided(v.expr, p):
        return True, None
    reader.note(f"{frame.source.segment(target)} (line {frame.line}) goes through the mask D{l} "
                f"and 1/keep_prob: it holds dG[{l}] = dA[{l}] ⊙ D[{l}] / keep_prob, the gradient "
                "before the mask")
    return True, SymbolTable(reader.net)["dG", l]


def _divided(e: E.Expr, p) -> bool:
    """Does ``e`` divide by the keep probability ``p`` (⊘ p, a factor 1/p, or ⊙ (1/p))?"""
    inverse = 1 / as_sympy(p)
    for n in e.walk():
        if isinstance(n, E.Scale) and as_sympy(n.factor) == inverse:
            return True
        if isinstance(n, E.Div) and isinstance(n.right, E.Scalar) and as_sympy(n.right.value) == p:
            return True
        if isinstance(n, E.Hadamard | E.MatMul) and any(
                isinstance(k, E.Scalar) and as_sympy(k.value) == inverse for k in (n.left, n.right)):
            return True
    return False


def dropout_cache(reader: Reader, layer: int, f: Frame) -> V.Seq:
    """CS231n's dropout cache ``(dropout_param, mask)`` at layer l: the parameters in training
    mode and its stored mask, which is D[l] / p already (``mask = (rand < p) / p``); a snippet
    that unpacks ``(mask, mode) = cache`` (some solutions store it so) gets that order."""
    p = reader.net.dropout(layer)
    if p is None:
        raise ParseError(f"this is a dropout layer's backward pass, and layer {layer} has no "
                         "dropout: give --keep-prob", None, None)
    table = SymbolTable(reader.net)
    mask = E.Scale(inverse(p), table["D", layer])
    param = V.Mapping({"p": V.Tensor(E.Scalar(p)), "mode": V.Str("train")}, None,
                      "dropout_param")
    items = [param, V.Tensor(mask)]
    if bn_cache.unpacked(f, "cache")[:1] == ["mask"]:
        items = [V.Tensor(mask), V.Str("train")]
    return V.Seq(items, "tuple", f"the dropout cache of layer {layer}", layer)


def linear_cache(reader: Reader, layer: int, f: Frame) -> V.Seq:
    prev = "X" if layer == 1 else f"A{layer - 1}"
    return V.Seq([V.Tensor(X.tensor_of_name(f, t, None)) for t in (prev, f"W{layer}",
                                                                    f"b{layer}")],
                 "tuple", f"the linear cache of layer {layer}", layer)


__all__ = ["item", "known_list", "linear_cache", "masked_gradient", "rekeyed", "role",
           "self_attribute"]
