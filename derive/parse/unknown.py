"""The names of a text formula that nothing reads, for one error that lists them all.

>>> from derive.network.spec import Network
>>> from derive.parse.resolve import Resolver
>>> unknown_idents(Resolver(Network(layers=[3, 4, 2]), "grad_w2 = np.dot(grad_z2, h.T) / m"), ())
['grad_w2', 'grad_z2', 'h']
"""

from __future__ import annotations

import keyword
from collections.abc import Collection

from derive.errors import ParseError
from derive.parse.names import resolve_ident
from derive.parse.resolve import Resolver
from derive.parse.text_tokens import tokenize


def unknown_idents(b: Resolver, raw: Collection[str]) -> list[str]:
    """The quantity-like names of the whole equation that nothing reads (not bound, not a
    quantity, function, np. call, attribute, keyword argument or layer index), in order."""
    try:
        toks = tokenize(b.text, 0, len(b.text))
    except ParseError:
        return []
    out: list[str] = []
    square = paren = 0
    for k, t in enumerate(toks):
        if t.kind == "OP":
            square += (t.text == "[") - (t.text == "]")
            paren += (t.text == "(") - (t.text == ")")
            continue
        if t.kind != "NAME" or square > 0 or t.text in out:
            continue
        before = toks[k - 1] if k else None
        after = toks[k + 1] if k + 1 < len(toks) else None
        if before is not None and before.text in (".", "^", "]") and not t.space:
            continue  # .T, .dot, np.sum; X^T; W[2]T
        if after is not None and (after.text == "(" or (after.text == "=" and paren > 0)):
            continue  # a call (its own error), a keyword argument
        if t.text in ("np", "numpy", "dL", "dJ") or t.text in raw or t.text in b.bindings:
            continue
        if resolve_ident(t.text) is None and not keyword.iskeyword(t.text):
            out.append(t.text)
    return out


__all__ = ["unknown_idents"]
