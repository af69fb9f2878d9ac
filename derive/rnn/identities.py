"""The RNN's identities, read from ``rules/rnn.toml`` into the catalogue's :class:`Identity`.

Each step of :mod:`derive.rnn.derivation` cites one of these and, beside it, the catalogue's
general identities (``rules/identities.toml``) it specialises; :func:`lookup` finds either.

>>> lookup("rnn_shared_bias").title
'gradient of a bias shared by every step and example'
>>> lookup("weight_gradient").convention
'columns'
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping

from derive.catalogue import rules
from derive.errors import SpecError

FILE = "rnn.toml"


@functools.cache
def rnn_identities() -> Mapping[str, rules.Identity]:
    """The identities of ``rules/rnn.toml``, by name (a name the catalogue already has is an
    error, as a duplicate in the catalogue is)."""
    with (rules.rules_dir() / FILE).open("rb") as fh:
        entries = tomllib.load(fh)["identity"]
    out: dict[str, rules.Identity] = {}
    for e in entries:
        if e["name"] in out:
            raise SpecError(f"rules/{FILE}: the name {e['name']!r} is used twice")
        out[e["name"]] = rules.Identity(name=e["name"], title=e["title"], convention=e["convention"],
                                        index=e["index"], index_latex=e["index_latex"],
                                        source=e["source"])
    return out


def lookup(name: str) -> rules.Identity:
    """An identity of ``rules/rnn.toml`` or of the catalogue (a miss is a SpecError)."""
    own = rnn_identities()
    if name in own:
        return own[name]
    return rules.identities().lookup(name)
