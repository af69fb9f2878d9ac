"""The likely cause of a wrong number: the engine's formula for the step with one of the
common mistakes made in it (the mistake codes of ``derive check``), evaluated on the student's own
earlier values; a variant that reproduces every wrong entry names the mistake.

"your dZ[1] equals dA[1] ⊙ A[1]: the activation instead of its derivative relu′(Z[1])".

>>> import sympy as sp
>>> from derive.core import expr as E
>>> Z = E.Sym("Z", 1, (sp.Integer(2), sp.Integer(1)))
>>> [code for code, _ in variants(E.Scale(1 / m_symbol, Z), 1)]
['missing_scale', 'extra_scale', 'sign_error', 'factor_two']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import sympy as sp

from derive.core import expr as E
from derive.core.printing import to_text
from derive.network.spec import m as m_symbol

WORDS = {
    "activation_instead_of_derivative": "the activation itself instead of its derivative {d}",
    "missing_derivative": "the local derivative {d} is left out",
    "missing_scale": "the factor 1/m is missing",
    "extra_scale": "an extra factor 1/m",
    "sign_error": "the sign is flipped",
    "factor_two": "a factor 2 (or ½) too many",
    "missing_l2_term": "the L2 term {d} is left out",
    "l2_without_scale": "the L2 term without its 1/m ({d})",
    "mask_not_applied": "the dropout mask {d} is not applied",
    "not_divided_by_keep_prob": "the mask {d} is not divided by keep_prob",
    "update_sign": "the gradient is added, not subtracted (gradient ascent)",
    "missing_learning_rate": "the learning rate α is left out",
}


def _with_m(e: E.Expr) -> bool:
    return isinstance(e, E.Scale) and m_symbol in sp.sympify(e.factor, strict=True).free_symbols


def _rewrites(e: E.Expr, layer: int | None) -> Iterator[tuple[str, E.Expr, str]]:
    """(code, replacement, detail) for the node ``e`` itself."""
    if isinstance(e, E.Deriv) and isinstance(e.arg, E.Sym) and e.arg.base == "Z":
        yield ("activation_instead_of_derivative", E.Sym("A", e.arg.layer, e.shape), to_text(e))
    if isinstance(e, E.Hadamard):
        for keep, drop in ((e.left, e.right), (e.right, e.left)):
            if isinstance(drop, E.Deriv):
                yield ("missing_derivative", keep, to_text(drop))
    if isinstance(e, E.Add) and _is_l2_term(e.right):
        yield ("missing_l2_term", e.left, to_text(e.right))
    if _with_m(e) and _is_l2_term(e):  # (λ/m) W[l] written λ W[l]
        assert isinstance(e, E.Scale)
        yield ("l2_without_scale", E.Scale(e.factor * m_symbol, e.arg), to_text(e))
    elif _with_m(e):
        yield ("missing_scale", e.arg, "")  # type: ignore[attr-defined]
    if isinstance(e, E.Hadamard):
        for keep, mask in ((e.left, e.right), (e.right, e.left)):
            if _is_mask(mask):
                yield ("mask_not_applied", keep, to_text(mask))
            if isinstance(mask, E.Scale) and _is_mask(mask.arg):  # the course's `dA * D` left out
                yield ("mask_not_applied", E.Scale(mask.factor, keep), to_text(mask.arg))
            if isinstance(mask, E.Scale) and _is_mask(mask.arg):  # D[l] / keep_prob -> D[l]
                yield ("not_divided_by_keep_prob", E.Hadamard(keep, mask.arg) if keep is e.left
                       else E.Hadamard(mask.arg, keep), to_text(mask.arg))


def _is_l2_term(e: E.Expr) -> bool:
    """c W[l]: the gradient of an L2 penalty, as the engine writes it in dW[l]."""
    return isinstance(e, E.Scale) and isinstance(e.arg, E.Sym) and e.arg.base == "W"


def _is_mask(e: E.Expr) -> bool:
    """D[l] or D[l] / keep_prob: a dropout mask, as the engine writes it in dG[l] and dZ[l]."""
    inner = e.arg if isinstance(e, E.Scale) else e
    return isinstance(inner, E.Sym) and inner.base == "D"


def _everywhere(e: E.Expr, layer: int | None) -> Iterator[tuple[str, E.Expr, str]]:
    """Every one-node rewrite of the tree ``e`` (each node replaced in place, one at a time)."""
    yield from _rewrites(e, layer)
    for child in e.children():
        for code, new_child, detail in _everywhere(child, layer):
            yield code, E.map_children(e, _swap(child, new_child)), detail


def _swap(old: E.Expr, new: E.Expr) -> Callable[[E.Expr], E.Expr]:
    """A child map that replaces the node ``old`` (by identity) with ``new``."""
    return lambda c: new if c is old else c


def variants(expr: E.Expr, layer: int | None) -> list[tuple[str, E.Expr]]:
    """The formula with one common mistake in it, each with its code (module docstring)."""
    out: list[tuple[str, E.Expr]] = []
    seen: set = set()
    for code, v, _ in _everywhere(expr, layer):
        if v not in seen:
            seen.add(v)
            out.append((code, v))
    out.append(("extra_scale", E.Scale(1 / m_symbol, expr)))
    out.append(("sign_error", E.Scale(sp.Integer(-1), expr)))
    out.append(("factor_two", E.Scale(sp.Integer(2), expr)))
    return out


def likely_cause(step, evaluate: Callable[[E.Expr], np.ndarray], matches: Callable[[np.ndarray], np.ndarray]
                 ) -> tuple[str, str, str] | None:
    """(code, the formula it matches, message) for the first mistake variant of ``step``'s
    formula whose value (``evaluate``, on the student's own earlier values) matches every
    entry the student wrote (``matches``: per-entry booleans); None when none does."""
    if step.key[0] in ("W_new", "b_new") and isinstance(step.expr, E.Sub):
        P, scaled = step.expr.left, step.expr.right  # P − α dP
        grad = scaled.arg if isinstance(scaled, E.Scale) else scaled
        updates: list[tuple[str, E.Expr]] = [("update_sign", E.Add(P, scaled)),
                                              ("missing_learning_rate", E.Sub(P, grad))]
        return _first(step, updates, {}, evaluate, matches)
    if step.key[0] not in ("dA", "dG", "dZ", "dW", "db"):
        return None
    forms = (step.expr, *(a for a in step.alternatives if not isinstance(a, E.Pointwise)))
    details = {code: detail for f in forms for code, _, detail in _everywhere(f, step.key[1])}
    return _first(step, [x for f in forms for x in variants(f, step.key[1])], details, evaluate,
                  matches)


def _first(step, candidates, details: dict, evaluate, matches) -> tuple[str, str, str] | None:
    """The first (code, variant) whose value matches every written entry."""
    for code, v in candidates:
        try:
            value = evaluate(v)
        except (KeyError, ValueError, TypeError, FloatingPointError):
            continue
        if value.shape != step.value.shape or not np.all(matches(value)):
            continue
        formula = f"{step.name} = {to_text(v)}"
        why = WORDS[code].format(d=details.get(code, "g′"))
        return code, formula, f"your {step.name} equals {to_text(v)}: {why}"
    return None
