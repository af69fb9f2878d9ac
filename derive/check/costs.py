"""The cost as a target: ``cost = ...``, ``L2_regularization_cost = ...``, ``loss += 0.5 * reg *
np.sum(W1 * W1)`` are checked like a gradient, against the network's own cost.

Students write the cost every week (the course's ``compute_cost`` and
``compute_cost_with_regularization``, CS231n's ``loss = data_loss + reg_loss``), and the L2
mistakes live there too: the penalty without its 1/m, with or without its ½, summed over some
layers only. Three quantities, each a 1×1 value built from the engine's own pieces (the loss's
per-unit terms of :func:`derive.layers.loss.terms`, the penalty's coefficient of
:func:`derive.network.penalty.gradient_coefficient`), never typed in:

- ``J``, the cost: data term + penalty (``cost``, ``J``, ``loss``, ``total_loss``);
- ``data``, the data term c Σ ℓ with c = 1/m (mean) or 1 (``cross_entropy_cost``,
  ``data_loss``);
- ``penalty``, the L2 term p Σ‖W[l]‖² over the regularised layers (``L2_regularization_cost``,
  ``reg_loss``, ``l2_cost``, ...).

``loss += e`` (CS231n adds the penalty in place) reads the loss on the right as the data term,
as ``dW += reg * W`` reads dW's (:mod:`derive.check.augmented`).

The pieces themselves are built in :mod:`derive.check.cost_terms`.
"""

from __future__ import annotations

import itertools

import numpy as np

from derive.check.cost_terms import KINDS, TITLES, expression, expressions
from derive.check.numeric import close
from derive.check.verdict import Mistake, Verdict
from derive.core import expr as E
from derive.errors import ParseError
from derive.network.penalty import gradient_coefficient
from derive.network.spec import Network
from derive.network.symbols import SymbolTable


# -- the check -------------------------------------------------------------------------------------
def check(eq, net: Network, nums, formula, info: dict, notes: list) -> Verdict:
    """The verdict on ``cost = ...`` (``eq.target`` one of :data:`KINDS`): its value on the
    checker's instances against the network's cost piece, and the mistake where one explanation
    holds on every instance (a factor 1/m or ½ missing or too many, the penalty missing or
    leaving a layer out, the sum of W in place of the sum of its squares)."""
    kind = eq.target.base
    if tuple(eq.rhs.shape) != (1, 1):
        return Verdict("shape_error", message=f"the right side is {_shape(eq.rhs.shape)} but "
                       f"{TITLES[kind]} is one number (1×1)",
                       mistakes=(Mistake("missing_sum", "A sum is missing: the cost adds up the "
                                         "loss of every unit and example (np.sum)."),),
                       notes=tuple(notes), **info)
    envs = [nums.main, nums.tiny]
    for env in envs:
        _evaluate_costs(env, net)
    got = [_value(env, eq.rhs, nums, eq.target) for env in envs]
    want = [env.values[kind, None] for env in envs]
    if _all(got, want):
        return Verdict("correct", message=f"{formula.name}: correct.", notes=tuple(notes), **info)
    found = diagnose(kind, got, envs, net)
    cex = nums.counterexample(eq.rhs, eq.target, formula.expr)
    return Verdict("not_equivalent", message="the value differs from the network's "
                   f"{TITLES[kind].removeprefix('the ')}", counterexample=cex,
                   mistakes=found or (Mistake("other", "No single factor or term explains the "
                                              "difference; compare with the correct formula."),),
                   notes=tuple(notes), **info)


def _evaluate_costs(env, net: Network) -> None:
    """The cost pieces' values on ``env``'s instances, computed the first time a cost is checked
    (a gradient's check never needs them)."""
    if ("J", None) in env.values or ("penalty", None) in env.values:
        return
    for kind, e in expressions(net, SymbolTable(net)).items():
        env.values[kind, None] = env.evaluate(e, env.values)


def _value(env, e: E.Expr, nums, target: E.Sym) -> np.ndarray:
    try:
        return env.evaluate(e, nums.allowed(env, target))
    except KeyError as exc:
        raise ParseError(f"the cost is written with a gradient ({_key(exc.args[0])}): it is "
                         "a function of the forward pass (A[L], Y) and the weights") from None


def _key(key) -> str:
    base, layer = key if isinstance(key, tuple) else (key, None)
    return base if layer is None else f"{base}[{layer}]"


def _shape(shape) -> str:
    return "×".join(str(d) for d in shape)


def diagnose(kind: str, got: list, envs: list, net: Network) -> tuple[Mistake, ...]:
    """The one explanation of ``got`` (one stack per env) that holds on every instance."""
    pieces = [{k: env.values[k, None] for k in KINDS if (k, None) in env.values} for env in envs]
    layer_sums = [{l: _penalty_of(env, net, [l]) for l in range(1, net.L + 1)
                   if net.regularised(l)} for env in envs]
    ms = [float(env.m) for env in envs]
    if kind == "J" and "penalty" in pieces[0]:
        if _all(got, [p["data"] for p in pieces]):
            return (Mistake("missing_l2_term", "The L2 penalty is missing from the cost: add "
                                               f"{_penalty_words(net)}."),)
        rest = [g - p["data"] for g, p in zip(got, pieces, strict=True)]
        said = _factor(rest, [p["penalty"] for p in pieces], ms, "the L2 penalty", net)
        if said:
            return said
        rest = [g - p["penalty"] for g, p in zip(got, pieces, strict=True)]
        return _factor(rest, [p["data"] for p in pieces], ms, "the data term", net)
    if kind == "penalty":
        said = _factor(got, [p["penalty"] for p in pieces], ms, "the L2 penalty", net)
        if said:
            return said
        layers = sorted(layer_sums[0])
        for size in range(1, len(layers)):
            for subset in itertools.combinations(layers, size):
                if _all(got, [sum(s[l] for l in subset) for s in layer_sums]):
                    left = [f"W[{l}]" for l in layers if l not in subset]
                    return (Mistake("missing_l2_term", f"The penalty leaves out {', '.join(left)}: "
                                                       "it sums ‖W[l]‖² over every regularised "
                                                       "layer."),)
        coef = [_penalty_of(env, net, layers, squares=False) for env in envs]
        if _all(got, coef):
            return (Mistake("wrong_l2_term", "The penalty sums the entries of W, not their "
                                             "squares: it is Σ‖W[l]‖² = np.sum(np.square(W))."),)
        return ()
    return _factor(got, [p[kind] for p in pieces], ms, TITLES[kind].removeprefix("the "), net)


def _all(got: list, want: list) -> bool:
    return all(np.all(close(g, w)) for g, w in zip(got, want, strict=True))


def _factor(got: list, want: list, ms: list, what: str, net: Network) -> tuple[Mistake, ...]:
    """A mistake if ``got`` is one factor times ``want`` on every instance (m where m differs:
    a 1/m missing)."""
    ks = []
    for g, w in zip(got, want, strict=True):
        g, w = np.ravel(g), np.ravel(w)
        if not np.all(np.abs(w) > 1e-300):
            return ()
        r = g / w
        if not np.allclose(r, r[0], rtol=1e-9, atol=0):
            return ()
        ks.append(float(r[0]))
    if np.allclose(ks, ms, rtol=1e-9):
        return (Mistake("missing_scale", f"The factor 1/m is missing from {what}: the cost "
                                         "averages over the m examples."),)
    if np.allclose(ks, [1 / x for x in ms], rtol=1e-9):
        return (Mistake("extra_scale", f"There is a factor 1/m too many in {what}."),)
    if not np.allclose(ks, ks[0], rtol=1e-9) or np.isclose(ks[0], 1.0):
        return ()
    k = ks[0]
    if np.isclose(k, -1.0):
        return (Mistake("sign_error", f"The sign of {what} is wrong (the loss is −log of the "
                                      "probability, so the cost is positive)."),)
    half = " (the penalty's ½ is missing)" if np.isclose(k, 2.0) and \
        what == "the L2 penalty" and net.l2_form in ("course", "half") else \
        " (a ½ too many: the penalty has none)" if np.isclose(k, 0.5) and \
        what == "the L2 penalty" and net.l2_form == "plain" else ""
    return (Mistake("wrong_scale", f"{what[0].upper()}{what[1:]} is {k:g} times the right "
                                   f"value{half}."),)


def _penalty_of(env, net: Network, layers, squares: bool = True) -> np.ndarray:
    """p Σ over ``layers`` of Σ W² (or of Σ W, ``squares=False``) on every instance of ``env``."""
    p = env.backend.number(gradient_coefficient(net.l2_form, net.l2, net.cost_is_mean) / 2)
    total = 0.0
    for l in layers:
        W = env.values["W", l]
        total = total + np.sum(W * W if squares else W, axis=(-2, -1), keepdims=True)
    return p * total


def _penalty_words(net: Network) -> str:
    return {"course": "(λ/(2m)) Σₗ ‖W[l]‖²", "half": "½ reg Σₗ ‖W[l]‖²",
            "plain": "λ Σₗ ‖W[l]‖²"}[net.l2_form]


__all__ = ["KINDS", "TITLES", "check", "diagnose", "expression", "expressions"]
