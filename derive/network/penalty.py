"""L2 regularisation: the cost gains p · Σₗ ‖W[l]‖²_F, in one of three forms (b is never
regularised). ``k = 2p`` is what dW[l] gains, k W[l]:

| form | penalty (scales mean, dZ) | dW[l] gains | penalty (scale sum) | dW[l] gains |
|---|---|---|---|---|
| ``course`` (the Deep Learning Specialization's) | (λ/(2m)) Σ ‖W‖² | (λ/m) W | (λ/2) Σ ‖W‖² | λ W |
| ``half`` (CS231n's ``0.5 * reg * np.sum(W * W)``) | ½ reg Σ ‖W‖² | reg W | the same | reg W |
| ``plain`` | λ Σ ‖W‖² | 2λ W | the same | 2λ W |

λ is a number (printed as given) or the symbol :data:`derive.core.names.LAMBDA` (``--l2`` with no
value), which numbers replace by :data:`derive.network.scales.LAMBDA_STANDIN`.

>>> from derive.core.names import m
>>> gradient_coefficient("course", LAMBDA, True), gradient_coefficient("plain", LAMBDA, True)
(λ/m, 2*λ)
>>> scalar_text(l2_value("0.1")), l2_value(True), l2_value("reg")
('0.1', λ, λ)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import sympy as sp

from derive.core.names import LAMBDA, LAMBDA_NAMES, factor_text, m, scalar_text
from derive.errors import SpecError

L2_FORMS = ("course", "half", "plain")
_NUMBER = re.compile(r"\s*[+]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,3})?\s*")


def l2_value(value) -> sp.Expr | None:
    """The L2 coefficient as the spec stores it: None (no L2), :data:`LAMBDA` (symbolic: True,
    or one of its names), or a finite number ≥ 0 as a float-precision SymPy Float (printed as
    given: 0.1, not 1/10)."""
    if value is None or value is False:
        return None
    if value is True:
        return LAMBDA
    if isinstance(value, str):
        text = value.strip()
        if text in LAMBDA_NAMES or text.casefold() in ("", "true", "symbolic"):
            return LAMBDA
        if not _NUMBER.fullmatch(text):
            raise SpecError(f"l2 is a number ≥ 0 (0.01) or the symbol λ (lambda, lambd, reg), "
                            f"not {text[:40]!r}")
        value = float(text)
    if isinstance(value, sp.Basic) and value == LAMBDA:
        return LAMBDA
    if isinstance(value, sp.Float):  # a stored value, as Network.replace passes it on
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or isinstance(value, int) \
            and value.bit_length() > 64:
        raise SpecError(f"l2 is a number ≥ 0 (0.01) or the symbol λ, not {repr(value)[:40]}")
    if not math.isfinite(value) or value < 0:
        raise SpecError(f"l2 is a finite number ≥ 0, not {value!r}")
    return sp.Float(float(value))


def l2_form(form: str | None) -> str:
    if form is None:
        return "course"
    if not isinstance(form, str) or form.strip().casefold() not in L2_FORMS:
        raise SpecError(f"unknown l2_form {str(form)[:40]!r}; known: {', '.join(L2_FORMS)}")
    return form.strip().casefold()


def l2_layers(layers, L: int) -> tuple[int, ...] | None:
    """The regularised layers, sorted (None: every layer)."""
    if layers is None:
        return None
    if isinstance(layers, str):
        parts = [p.strip() for p in layers.split(",") if p.strip()]
        if not all(p.isdecimal() and len(p) < 8 for p in parts):
            raise SpecError(f"l2_layers are layer numbers like 1,2, not {layers[:40]!r}")
        layers = [int(p) for p in parts]
    if not isinstance(layers, Sequence) or not layers:
        raise SpecError("l2_layers is a list of layer numbers, e.g. [1, 2] (leave it out for all)")
    out = set()
    for l in layers:
        if isinstance(l, bool) or not isinstance(l, int) or not 1 <= l <= L:
            raise SpecError(f"l2_layers: {repr(l)[:20]} is not a layer of this network (1 to {L})")
        out.add(l)
    return tuple(sorted(out))


def gradient_coefficient(form: str, lam: sp.Expr, cost_is_mean: bool) -> sp.Expr:
    """k in dW[l] += k W[l] (the penalty is (k/2) Σ ‖W‖²)."""
    if form == "course":
        return lam / m if cost_is_mean else lam
    return lam if form == "half" else 2 * lam


def penalty_text(form: str, lam: sp.Expr, cost_is_mean: bool, layers: str) -> str:
    """The penalty as the notes print it: ``(λ/(2*m)) Σₗ ‖W[l]‖²_F over layers 1, 2``."""
    p = gradient_coefficient(form, LAMBDA, cost_is_mean) / 2
    value = "" if lam == LAMBDA else f", λ = {scalar_text(lam)}"
    return f"{factor_text(p)} Σ ‖W[l]‖²_F over {layers} ({form} form{value})"


__all__ = ["L2_FORMS", "LAMBDA", "gradient_coefficient", "l2_form", "l2_layers", "l2_value",
           "penalty_text"]
