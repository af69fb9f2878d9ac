"""Which family a spec belongs to: dense (derive.network), cnn (derive.conv) or rnn (derive.rnn).

The CLI reads a spec file once, asks :func:`spec_family` and hands the table to that family's
reader, so one ``--spec`` flag takes all three.

>>> spec_family({"layers": [3, 3, 1]}), spec_family({"input": [6, 6, 2]}), spec_family({"rnn": {}})
('dense', 'cnn', 'rnn')
>>> spec_family({"inputs": 3, "layer": [{"kind": "dense"}, {"kind": "flatten"}]})
'cnn'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

Family = Literal["dense", "cnn", "rnn"]

#: layer kinds only a CNN spec has
CNN_KINDS = ("conv2d", "pool", "flatten")


def spec_family(table: Mapping) -> Family:
    """``[rnn]`` → rnn; ``input`` a list, or any ``[[layer]]`` of kind conv2d, pool or flatten →
    cnn; anything else → dense (whose reader gives the errors of a malformed spec)."""
    if isinstance(table.get("rnn"), Mapping):
        return "rnn"
    if "rnn" in table:  # [[rnn]] or rnn = 5: meant as an RNN spec, not a dense one's unknown key
        from derive.errors import SpecError

        given = table["rnn"]
        shown = "[[rnn]], an array of tables" if isinstance(given, list) else repr(given)
        raise SpecError(f"'rnn' must be one table, [rnn] (with input, hidden, output, steps, …), "
                        f"not {shown}")
    if isinstance(table.get("input"), list):
        return "cnn"
    layers = table.get("layer")
    if isinstance(layers, list) and any(isinstance(t, Mapping) and t.get("kind") in CNN_KINDS
                                        for t in layers):
        return "cnn"
    return "dense"


def read_spec(path: str | Path) -> tuple[Family, dict]:
    """A spec file's family and its parsed table (read bounded, as the dense reader does)."""
    from derive.errors import SpecError
    from derive.network.spec import SPEC_BYTES
    from derive.network.textfile import load_toml, read_bounded

    text = read_bounded(path, SPEC_BYTES, "spec file")
    table = load_toml(text, str(path))
    try:
        return spec_family(table), table
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
