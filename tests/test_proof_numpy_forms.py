"""derive.core.npform (the catalogue's expressions as numpy calls, no lambdify) gives lambdify's
values: every activation (forward and derivative, at kinks too) and every loss (ℓ and ∂ℓ/∂a)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp

from derive.catalogue import rules
from derive.core.npform import numpy_function

ACTS = [n for n in rules.activations() if rules.activations()[n].elementwise]


def _same(f, g, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = np.asarray(f(*args), dtype=float) * np.ones_like(args[0])
        theirs = np.asarray(g(*args), dtype=float) * np.ones_like(args[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", ACTS)
def test_activations_match_lambdify(name):
    act = rules.activations()[name]
    z = np.random.default_rng(0).normal(size=(3, 40)) * 3
    z[0, : len(act.kinks)] = [float(k) for k in act.kinks]  # at each kink
    for e in (act.forward, act.derivative_at_z):
        f = numpy_function((rules.z,), e)
        assert f is not None, e
        _same(f, sp.lambdify((rules.z,), e, [np]), z)


@pytest.mark.parametrize("name", list(rules.losses()))
def test_losses_match_lambdify(name):
    loss = rules.losses()[name]
    rng = np.random.default_rng(1)
    A, Y = rng.uniform(0.05, 0.95, (3, 5)), rng.uniform(0, 1, (3, 5))
    params = (rules.a, rules.y, rules.s, rules.n)
    for e in (loss.per_unit, loss.gradient):
        f = numpy_function(params, e)
        assert f is not None, e
        _same(f, sp.lambdify(params, e, [np]), A, Y, A * Y, 3)


def test_outside_the_vocabulary_is_left_to_lambdify():
    z = sp.Symbol("z")
    assert numpy_function((z,), sp.besselj(0, z)) is None
    assert numpy_function((z,), sp.I * z) is None  # complex constants too
