"""What a function returns, when the caller says it: ``names={"grad_w2": "-dW[2]"}`` binds a
function of the snippet (not a variable) to the gradient(s) it returns.

A function such as ``def grad_w2(H, T, P): return H.T.dot(T - P)`` assigns no name that
says which gradient it is; an autograder knows, and binds the function's name. The meaning is
a quantity in the course's notation, optionally negated (gradient *ascent* code returns
``-dW[2]``) or transposed (``dW[1].T``, a column w); a function returning a tuple takes a list
(``["dA[1]", "dW[2]", "db[2]"]``). Such a function's results are its returned values, each
checked as ``quantity = value`` (negated or transposed back); its local variables are helpers
whose values are substituted, not gradients of their own (the caller said what the function
computes, so a local ``dZ`` of an ascent code, which holds −dZ, is not judged as dZ).

>>> meanings("-dW[2]"), meanings(["dA[1]", "dW[2].T"])
([Meaning(quantity='dW[2]', negated=True, transposed=False)], \
[Meaning(quantity='dA[1]', negated=False, transposed=False), \
Meaning(quantity='dW[2]', negated=False, transposed=True)])
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from derive.code import values as V
from derive.errors import ParseError

if TYPE_CHECKING:
    from derive.code.reader import Frame, Reader

_MEANING = re.compile(r"\s*(-)?\s*(d[A-Za-z]+\s*\[\s*(?:\d+|L|l(?:\s*[-+]\s*1)?)\s*\])"
                      r"\s*(\.T|ᵀ|\^T)?\s*")


@dataclass(frozen=True)
class Meaning:
    quantity: str  # "dW[2]"
    negated: bool = False  # the function returns −quantity
    transposed: bool = False  # the function returns quantityᵀ


def meanings(value: object) -> list[Meaning]:
    """The meaning(s) bound to a function: one string, or a list (tuple) of them."""
    items = list(value) if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        hit = _MEANING.fullmatch(item) if isinstance(item, str) else None
        if hit is None:
            raise ParseError(f"binding a function's result: {item!r} is not a gradient "
                             "(write e.g. 'dW[2]', '-dW[2]' for gradient ascent, 'dW[1].T')",
                             None, None)
        out.append(Meaning(re.sub(r"\s", "", hit.group(2)), bool(hit.group(1)),
                           bool(hit.group(3))))
    return out


def split(names: Mapping | None, functions: Mapping) -> tuple[dict, dict[str, list[Meaning]]]:
    """(the variables' bindings, the functions' results) of a ``names`` mapping: a key that
    names one of the snippet's functions binds what it returns."""
    user: dict = {}
    results: dict[str, list[Meaning]] = {}
    for key, value in (names or {}).items():
        if key in functions:
            results[key] = meanings(value)
        else:
            user[key] = value
    return user, results


def finish(reader: Reader, frame: Frame, value: V.Value, node, wanted) -> None:
    """The function returned ``value``: its results, when they were bound (an unreadable one
    is a note naming its line)."""
    from derive.code import evaluate as X
    from derive.errors import DeriveError, ResourceLimit
    from derive.parse.names import GenericLayerNeeded

    if not wanted:
        return
    try:
        record(reader, frame, value, node, wanted)
    except (GenericLayerNeeded, ResourceLimit):
        raise
    except DeriveError as exc:
        reader.note(str(X.at_line(exc, frame.line)))


def record(reader: Reader, frame: Frame, value: V.Value, node: ast.Return | None,
           wanted: list[Meaning]) -> None:
    """Each returned value as a result under its bound meaning (``node`` the return)."""
    from derive.code import evaluate as X

    items = value.items if isinstance(value, V.Seq) and len(wanted) > 1 else [value]
    if len(items) != len(wanted):
        raise X.error(frame, node, f"{frame.fname} returns {len(items)} values here, and "
                                   f"{len(wanted)} were bound to it")
    written = node.value.elts if node is not None and isinstance(node.value, ast.Tuple) and \
        len(wanted) > 1 else [node.value if node is not None else None]
    for k, (item, meaning) in enumerate(zip(items, wanted, strict=True)):
        q = reader.gradient(meaning.quantity, frame.layer, helper=False)
        if q is None:
            raise X.error(frame, node, f"{meaning.quantity} is not a gradient of this network")
        part = written[k] if k < len(written) else None
        shown = part.id if isinstance(part, ast.Name) else f"{frame.fname}()"
        expr = X.as_expr(frame, item, node or ast.Pass(), shown)
        template = "{a}"
        if meaning.transposed:
            template = "({a}).T"
        if meaning.negated:
            template = f"-({template})"
        if template != "{a}":
            expr = reader.combine(frame, template, a=expr)
        reader.record(shown, q, V.Tensor(expr, q), frame.line)
        reader.note(f"{shown} returned by {frame.fname} is read as "
                    f"{'-' if meaning.negated else ''}{meaning.quantity}"
                    f"{'ᵀ' if meaning.transposed else ''}, as bound")


__all__ = ["Meaning", "finish", "meanings", "record", "split"]
