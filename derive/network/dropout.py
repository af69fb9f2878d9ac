"""Inverted dropout, as the course teaches it: a hidden layer's A[l] = g(Z[l]) ⊙ D[l] / keep_prob,
D[l] a fixed 0/1 mask (each unit kept with probability keep_prob); the output layer has none.

A spec gives one keep probability for every hidden layer, one per hidden layer (``1,0.8``: layer 1
keeps every unit, so it has no mask), or ``True`` for the symbol :data:`KEEP_PROB`, printed
``keep_prob``. Numbers computed from a symbolic keep_prob use :data:`KEEP_PROB_STANDIN`.

>>> [[p if p is None or p.free_symbols else float(p) for p in keep_probs(v, n)]
...  for v, n in ((0.8, 3), ("1,0.5", 3), (True, 2))]
[[0.8, 0.8], [None, 0.5], [keep_prob]]
>>> inverse(sp.Float(0.8)), inverse(KEEP_PROB)
(1/0.8, 1/keep_prob)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import sympy as sp

from derive.core.names import KEEP_PROB, KEEP_PROB_NAMES
from derive.errors import SpecError

_NUMBER = re.compile(r"\s*[+]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?\s*")
_SYMBOLIC = ("", "true", "symbolic")


def _one(value, where: str) -> sp.Expr | None:
    """One keep probability: a Float in (0, 1) (printed as given), the symbol, or None for 1
    (every unit kept: no mask)."""
    if value is None:  # a stored per-layer value: no mask there
        return None
    if value is True or (isinstance(value, sp.Basic) and value == KEEP_PROB):
        return KEEP_PROB
    if isinstance(value, str):
        text = value.strip()
        if text in KEEP_PROB_NAMES or text.casefold() in _SYMBOLIC:
            return KEEP_PROB
        if not _NUMBER.fullmatch(text):
            raise SpecError(f"keep_prob{where} is a number in (0, 1] (0.8) or the symbol keep_prob, "
                            f"not {text[:40]!r}")
        value = float(text)
    if isinstance(value, sp.Float):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or isinstance(value, int) \
            and value.bit_length() > 64:
        raise SpecError(f"keep_prob{where} is a number in (0, 1] or the symbol keep_prob, "
                        f"not {repr(value)[:40]}")
    if not math.isfinite(value) or not 0 < value <= 1:
        raise SpecError(f"keep_prob{where} is a probability in (0, 1] (1 keeps every unit), "
                        f"not {value!r}")
    return None if value == 1 else sp.Float(float(value))


def keep_probs(value, L: int) -> tuple[sp.Expr | None, ...] | None:
    """The keep probability of each hidden layer 1..L-1 (None: no mask there), or None for a
    network without dropout. ``value``: None/False, one number or the symbol for every hidden
    layer, or one per hidden layer (a sequence, or text ``"1,0.8"``)."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and "," in value:
        value = [part.strip() for part in value.split(",")]
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != L - 1:
            raise SpecError(f"keep_prob: {len(value)} value{'s' if len(value) != 1 else ''} for "
                            f"{L - 1} hidden layer{'s' if L - 1 != 1 else ''}: give one per hidden "
                            "layer (dropout is on the hidden layers, never the output)")
        out = tuple(_one(v, f" of layer {l}") for l, v in enumerate(value, start=1))
    else:
        if L < 2:
            raise SpecError("keep_prob: dropout is on the hidden layers, and a 1-layer network has "
                            "none")
        out = (_one(value, ""),) * (L - 1)
    return None if all(p is None for p in out) else out


def inverse(p: sp.Expr) -> sp.Expr:
    """1/p as the formulas print it: ``1/0.8`` for a number (not 1.25), ``1/keep_prob``."""
    return 1 / p if p.free_symbols else sp.Pow(p, -1, evaluate=False)


def value_of(p: sp.Expr | None) -> float | str:
    """A keep probability as a spec writes it: 0.8, 1 (no mask) or "keep_prob"."""
    if p is None:
        return 1
    return "keep_prob" if p.free_symbols else float(p)


__all__ = ["KEEP_PROB", "inverse", "keep_probs", "value_of"]
