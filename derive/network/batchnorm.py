"""Which layers of a spec are batch normalised (training mode): the layer kind ``batchnorm``
(:mod:`derive.layers.batchnorm`), a dense layer whose Z[l] = W[l] A[l-1] (no b: β takes its place)
is normalised over the examples before its activation.

A spec names the layers (``--batchnorm 1,2``, ``batchnorm = [1, 2]``), says ``true`` for every
hidden layer, or marks a ``[[layer]]`` table ``batchnorm = true``.

>>> batchnorm_layers("1,2", 3), batchnorm_layers(True, 3), batchnorm_layers(None, 3)
((1, 2), (1, 2), None)
>>> with_batchnorm(("dense", "dense", "dense"), (2,))
('dense', 'batchnorm', 'dense')
"""

from __future__ import annotations

from collections.abc import Sequence

from derive.errors import SpecError

KIND = "batchnorm"


def batchnorm_layers(value, L: int) -> tuple[int, ...] | None:
    """The batch-normalised layers, sorted (None: none). ``value``: None/False, True (every hidden
    layer), layer numbers as a sequence or as text ``"1,2"``."""
    if value is None or value is False or value == []:
        return None
    if value is True or (isinstance(value, str) and value.strip().casefold() in ("true", "hidden")):
        if L < 2:
            raise SpecError("batchnorm = true means every hidden layer, and a 1-layer network has "
                            "none: name the layer (batchnorm = [1])")
        return tuple(range(1, L))
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or not all(p.isdecimal() and len(p) < 8 for p in parts):
            raise SpecError(f"batchnorm names layers like 1,2 (or true), not {value[:40]!r}")
        value = [int(p) for p in parts]
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence):
        raise SpecError(f"batchnorm is a list of layer numbers, e.g. [1, 2], not {repr(value)[:40]}")
    out = set()
    for l in value:
        if isinstance(l, bool) or not isinstance(l, int) or not 1 <= l <= L:
            raise SpecError(f"batchnorm: {repr(l)[:20]} is not a layer of this network (1 to {L})")
        out.add(l)
    return tuple(sorted(out))


def with_batchnorm(kinds: Sequence[str], layers: Sequence[int]) -> tuple[str, ...]:
    """``kinds`` with the named layers batch normalised (each must be dense or already so)."""
    out = list(kinds)
    for l in layers:
        if out[l - 1] not in ("dense", KIND):
            raise SpecError(f"layer {l} ({out[l - 1]}): batch normalisation is on dense layers only")
        out[l - 1] = KIND
    return tuple(out)


def table_kind(kind: str, table: dict, where: str) -> str:
    """A ``[[layer]]`` table's kind: ``batchnorm = true`` in a dense table makes it batchnorm."""
    flag = table.get("batchnorm", False)
    if not isinstance(flag, bool):
        raise SpecError(f"{where}: batchnorm is true or false, not {repr(flag)[:40]}")
    if flag and kind not in ("dense", KIND):
        raise SpecError(f"{where} ({kind}): batch normalisation is on dense layers only")
    return KIND if flag else kind


def normalised(kinds: Sequence[str]) -> list[int]:
    """The batch-normalised layers of ``kinds`` (1-based)."""
    return [l for l, k in enumerate(kinds, start=1) if k == KIND]


__all__ = ["KIND", "batchnorm_layers", "normalised", "table_kind", "with_batchnorm"]
