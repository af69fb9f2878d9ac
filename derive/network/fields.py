"""The spec's fields read from loose input: sizes, activation names, the loss's pairing with the
output activation, and the limits on a network's size (the checks :class:`derive.network.spec.Network`
runs on what it is given).

>>> split_list(" 3, ?,1"), parse_size("?", 1), sizes([3, None, "?"])
(['3', '?', '1'], None, (3, None, None))
"""

from __future__ import annotations

import math

from derive.catalogue import rules
from derive.errors import SpecError
from derive.limits import Limit, require
from derive.network.textfile import MAX_DIGITS

GENERIC = ("g", "generic", "")  # what a user may write for "no particular activation"

#: layers of one network: `derive backward` on 1000 layers of random sizes and activations,
#: proofs included, takes 7-9 s, and nothing in the derivation is allocated by size
DEPTH = Limit("network.depth", 1000, "layers", "--layers", "the network")
#: units of one layer: the derivation and its proofs never allocate by size (the proofs run at
#: 2-16 units), but the numbers of one 100,000 × 100,000 W would already be 80 GB
LAYER_SIZE = Limit("network.layer_size", 100_000, "units", "--layers")
#: a spec file: a real one is well under 10 kB, and tomllib holds the whole text in memory
SPEC_BYTES = Limit("network.spec_bytes", 1 << 20, "bytes", "a smaller --spec file")
MAX_DEPTH = DEPTH.value
MAX_SIZE = LAYER_SIZE.value



def split_list(text: str) -> list[str]:
    return [tok.strip() for tok in text.split(",")]


def parse_size(tok: str, index: int) -> int | None:
    tok = tok.strip()
    if tok in ("", "?", f"n{index}", "n"):
        return None
    digits = tok.lstrip("+-").replace("_", "")
    if digits.isdecimal() and len(digits) > MAX_DIGITS:  # int() refuses 4,300 digits: say why first
        raise SpecError(f"layer size {index} has {len(digits):,} digits: at most "
                        f"{LAYER_SIZE.value:,} {LAYER_SIZE.unit} per layer ({LAYER_SIZE.name})")
    try:
        return int(tok)
    except ValueError:
        raise SpecError(
            f"layer size {index} is {show(tok)}: sizes are whole numbers like 3,3,1"
        ) from None


def sizes(layers) -> tuple[int | None, ...] | None:
    if layers is None:
        return None
    out: list[int | None] = []
    for i, s in enumerate(layers):
        if s is None or (isinstance(s, str) and s.strip() in ("", "?", f"n{i}")):
            out.append(None)
            continue
        if isinstance(s, bool) or not isinstance(s, int):
            raise SpecError(f"layer size n{i} is {show(s)}: sizes are whole numbers like 3,3,1")
        if s < 1:
            raise SpecError(f"layer size n{i} is {show(s)}: every layer needs at least one unit")
        if s.bit_length() > 64:  # too long to print (str() refuses 4,300 digits): named by length
            raise SpecError(f"layer size n{i} has about {int(math.log10(s)) + 1:,} digits: at most "
                            f"{LAYER_SIZE.value:,} {LAYER_SIZE.unit} per layer ({LAYER_SIZE.name})")
        require(LAYER_SIZE, s, f"layer n{i}")
        out.append(s)
    return tuple(out)


def activation_names(acts) -> tuple[str | None, ...] | None:
    if acts is None:
        return None
    if isinstance(acts, str):
        acts = split_list(acts)
    out: list[str | None] = []
    registry = rules.activations()
    for name in acts:
        if name is None or str(name).strip().casefold() in GENERIC:
            out.append(None)
        else:
            out.append(registry.lookup(str(name).strip()).name)
    return tuple(out)


def check_pairing(loss: str, act: str, notes: list[str]) -> None:
    entry = rules.losses()[loss]
    activation = rules.activations()[act]
    lo, hi = entry.a_range
    alo, ahi = activation.range
    if bool(alo < lo) or bool(ahi > hi):

        def fmt(v):
            return str(v).replace("oo", "∞")

        raise SpecError(
            f"loss {loss} needs outputs in ({fmt(lo)}, {fmt(hi)}), but {act} on the output layer "
            f"ranges over ({fmt(alo)}, {fmt(ahi)}); use {entry.natural_output} on the output layer"
        )
    if entry.natural_output != act:
        notes.append(
            f"{act} output with {loss} is an unusual pairing (usual: {entry.natural_output}); "
            "the formulas still follow from the general chain rule"
        )


def show(value, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters (a user's 5,000-digit size is not echoed whole;
    an int too long for ``repr`` is described by its length)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a number of about {int(math.log10(abs(value))) + 1:,} digits"
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"


def fmt_sizes(layers) -> str:
    return ",".join("?" if s is None else str(s) for s in layers)
