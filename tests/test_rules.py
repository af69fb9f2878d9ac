"""One table-driven test over the whole catalogue: every textbook derivative is proven."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from derive.catalogue import rules
from derive.core.fd import relative_error
from derive.errors import SpecError

ELEMENTWISE = [
    rules.activations()[name]
    for name in rules.activations()
    if rules.activations()[name].elementwise
]


def test_catalogue_has_what_the_issue_asks_for():
    acts = set(rules.activations())
    assert {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "softmax",
        "softplus",
        "elu",
        "swish",
        "gelu",
    } <= acts
    assert set(rules.losses()) == {"bce", "ce", "mse", "half_mse"}


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_textbook_derivative_equals_sympy_diff(act):
    z = rules.z
    difference = sp.diff(act.forward, z) - act.derivative_at_z
    assert sp.simplify(sp.piecewise_fold(difference)) == 0


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_textbook_derivative_matches_finite_differences(act):
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, size=(1, 50))
    for k in act.kinks:  # stay away from kinks
        x = x[:, np.abs(x[0] - float(k)) > 1e-2]
    numeric = _fd_elementwise(act, x)
    analytic = np.asarray(act.numpy_derivative(x), dtype=float) * np.ones_like(x)
    assert relative_error(analytic, numeric) < 1e-8


def _fd_elementwise(act, x, eps=1e-6):
    f = act.numpy_forward
    return (np.asarray(f(x + eps), dtype=float) - np.asarray(f(x - eps), dtype=float)) / (2 * eps)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_derivative_bound_is_the_supremum(act):
    grid = np.linspace(-12, 12, 240001)
    values = np.abs(np.asarray(act.numpy_derivative(grid), dtype=float) * np.ones_like(grid))
    bound = float(act.derivative_bound)
    assert values.max() <= bound + 1e-9
    assert values.max() >= 0.99 * bound


def test_kink_values_are_stated_choices():
    acts = rules.activations()
    assert acts["relu"].numpy_derivative(np.array(0.0)) == 0  # relu'(0) = 0, as numpy's (Z > 0)
    assert acts["leaky_relu"].numpy_derivative(np.array(0.0)) == pytest.approx(0.01)
    for name in ("relu", "leaky_relu", "elu"):
        assert acts[name].kinks == (0,)


@pytest.mark.parametrize("loss", list(rules.losses()), ids=str)
def test_loss_gradient_is_sympy_diff(loss):
    entry = rules.losses()[loss]
    assert sp.simplify(entry.gradient - sp.diff(entry.per_unit, rules.a)) == 0


def test_names_and_aliases_resolve_case_insensitively():
    acts = rules.activations()
    assert acts["σ"].name == acts["Logistic"].name == "sigmoid"
    assert acts["SiLU"].name == "swish"
    assert rules.losses()["cross_entropy"].name == "ce"


def test_unknown_name_lists_the_choices():
    with pytest.raises(SpecError, match=r"unknown activation 'sigmod'; known: linear, sigmoid"):
        rules.activations().lookup("sigmod")


def test_duplicate_name_is_an_error():
    a = rules.activations()["relu"]
    clash = replace(a, name="other", aliases=("ReLU",))
    with pytest.raises(SpecError, match="used twice"):
        rules._Registry([a, clash], "activation")


def test_identities_cite_sources():
    for name in rules.identities():
        ident = rules.identities()[name]
        assert ident.source and ident.index and ident.index_latex
