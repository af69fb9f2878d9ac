"""The names of a text formula that nothing reads, for one error that lists them all.

>>> from derive.network.spec import Network
>>> from derive.parse.resolve import Resolver
>>> unknown_idents(Resolver(Network(layers=[3, 4, 2]), "grad_w2 = np.dot(grad_z2, h.T) / m"), ())
['grad_w2', 'grad_z2', 'h']
>>> unknown_idents(Resolver(Network(layers=[3, 4, 2]), "dz = a - Y_oh[i]"), ())
['Y_oh[i]']
"""

from __future__ import annotations

import keyword
from collections.abc import Collection, Mapping

from derive.errors import ParseError
from derive.parse.dialects import compounds, entry
from derive.parse.names import L2_NAMES, resolve_ident
from derive.parse.resolve import Resolver
from derive.parse.text_tokens import tokenize


def unknown_idents(b: Resolver, raw: Collection[str],
                   joined: Mapping[int, tuple[int, str]] | None = None) -> list[str]:
    """The quantity-like names of the whole equation that nothing reads (not bound, not a
    quantity, function, np. call, attribute, keyword argument, layer index or the L2 strength),
    in order; ``joined``: the entries read as one name (``self.weights[-l+1]``). A name that
    starts a list or dict entry no dialect reads is given as the entry (``Y_oh[i]``,
    ``self.weights[k]``): what to bind."""
    try:
        toks = tokenize(b.text, 0, len(b.text), joined)
    except ParseError:
        return []
    entries = entry_at(b.text)
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
        if t.start in entries:
            if entries[t.start] not in out:
                out.append(entries[t.start])
            continue
        name = resolve_ident(t.text)
        if (name is None or name.kind == "sym" and name.base in ("X", "Y") and name.layer) \
                and not keyword.iskeyword(t.text):
            out.append(t.text)  # X2: X has no layer, so some other name
    return out


def entry_at(text: str) -> dict[int, str]:
    """The entries of ``text`` no dialect reads (``Y_oh[i]``, ``self.weights[k]``; not a
    quantity such as ``W[2]``), by where they start."""
    return {a: key for a, _, key in compounds(text)
            if entry(key) is None and resolve_ident(key.split("[")[0].split(".")[0]) is None}


__all__ = ["unknown_idents"]
