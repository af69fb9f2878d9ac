"""The names of a text formula that nothing reads, for one error that lists them all.

>>> from derive.network.spec import Network
>>> from derive.parse.resolve import Resolver
>>> unknown_idents(Resolver(Network(layers=[3, 4, 2]), "grad_w2 = np.dot(grad_z2, h.T) / m"), ())
['grad_w2', 'grad_z2', 'h']
"""

from __future__ import annotations

import keyword
from collections.abc import Collection, Mapping

from derive.errors import ParseError
from derive.parse.names import L2_NAMES, resolve_ident
from derive.parse.resolve import Resolver
from derive.parse.text_tokens import tokenize


def unknown_idents(b: Resolver, raw: Collection[str],
                   joined: Mapping[int, tuple[int, str]] | None = None) -> list[str]:
    """The quantity-like names of the whole equation that nothing reads (not bound, not a
    quantity, function, np. call, attribute, keyword argument, layer index or the L2 strength),
    in order; ``joined``: the entries read as one name (``self.weights[-l+1]``)."""
    try:
        toks = tokenize(b.text, 0, len(b.text), joined)
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
        if t.text in ("np", "numpy", "dL", "dJ") or t.text in raw or t.text in b.bindings \
                or t.text in L2_NAMES:
            continue
        name = resolve_ident(t.text)
        if (name is None or name.kind == "sym" and name.base in ("X", "Y") and name.layer) \
                and not keyword.iskeyword(t.text):
            out.append(t.text)  # X2: X has no layer, so some other name
    return out


__all__ = ["unknown_idents"]
