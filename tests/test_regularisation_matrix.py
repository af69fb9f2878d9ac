"""Issue 11's matrix in one place: {none, L2, dropout, batch norm, L2 + dropout} × activations
(cycling over the hidden layers) × {bce, ce, mse} × both conventions × depths 1-4. Every case
passes both proofs and agrees with autograd (tests/test_properties.py's check), and its gradient
check (derived gradients against central differences of the whole cost, masks held fixed, batch
statistics recomputed for every moved copy) passes with the differences equal to autograd's
gradients. Dropout needs a hidden layer: its cases start at depth 2 (at depth 1 the network has
no mask and is the "none" case). One case per regime runs always; the rest is marked slow."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import derive
from derive.numbers.differences import differences
from derive.numbers.gradcheck import gradcheck, random_instance
from tests import oracle
from tests.strategies import ALL_ACTIVATIONS, output_activations_for
from tests.test_properties import _check

REGIMES = ("none", "l2", "dropout", "batchnorm", "l2+dropout")


def network(regime: str, loss: str, conv: str, depth: int) -> derive.Network:
    out = output_activations_for(loss)[depth % len(output_activations_for(loss))] \
        if loss != "mse" else ("linear", "tanh")[depth % 2]
    hidden_choices = [a for a in ALL_ACTIVATIONS if a not in (out, "softmax")]
    start = REGIMES.index(regime) + depth  # a different cycle per regime and depth
    cycle = itertools.islice(itertools.cycle(hidden_choices), start, None)
    hidden = [next(cycle) for _ in range(depth - 1)]
    sizes = [3] + [2 + (l % 3) for l in range(1, depth)] + [2]
    extra: dict = {}
    if "l2" in regime:
        extra["l2"] = 0.3
    if "dropout" in regime:
        extra["keep_prob"] = [0.5 + 0.1 * (l % 4) for l in range(1, depth)]
    if regime == "batchnorm":
        extra["batchnorm"] = list(range(1, depth + 1))
        extra["scale"] = ("mean", "dZ")[depth % 2]
    return derive.Network(layers=sizes, activations=[*hidden, out], loss=loss, convention=conv,
                          **extra)


CASES = [(regime, loss, conv, depth)
         for regime in REGIMES
         for loss in ("bce", "ce", "mse")
         for conv in ("columns", "rows")
         for depth in (1, 2, 3, 4)
         if not ("dropout" in regime and depth == 1)]
FAST = {("none", "bce", "columns", 2), ("l2", "ce", "rows", 3), ("dropout", "mse", "columns", 2),
        ("batchnorm", "ce", "rows", 2), ("l2+dropout", "bce", "rows", 3)}


def _gradcheck_against_autograd(net: derive.Network) -> None:
    r = gradcheck(net, seed=5, m=5)
    assert r.passed, (r.failed, r.notes)
    inst = random_instance(net, 5, 5, None, 1e-4)
    params = {f"{b}{l}": v for (b, l), v in inst.params.items() if b != "D"}
    masks = {l: v for (b, l), v in inst.params.items() if b == "D"}
    want = oracle.param_gradients(net, params, inst.X, inst.Y, masks)
    d = differences(net, inst.params, inst.X, inst.Y)
    for (b, l), h in d.gradients.items():
        richardson = (4 * d.halves[b, l] - h) / 3  # the ε² term cancelled
        np.testing.assert_allclose(richardson, want[f"{b}{l}"], rtol=1e-6, atol=1e-9)


def _case(regime, loss, conv, depth):
    net = network(regime, loss, conv, depth)
    _check(net)
    _gradcheck_against_autograd(net)


@pytest.mark.parametrize("regime, loss, conv, depth", sorted(FAST))
def test_one_case_per_regime(regime, loss, conv, depth):
    _case(regime, loss, conv, depth)


@pytest.mark.slow
@pytest.mark.parametrize("regime, loss, conv, depth", [c for c in CASES if c not in FAST])
def test_regularisation_matrix(regime, loss, conv, depth):
    _case(regime, loss, conv, depth)


def test_the_matrix_covers_the_issue():
    assert len(CASES) == 5 * 3 * 2 * 4 - 2 * 3 * 2  # dropout at depth 1: no hidden layer
    acts = {a for c in CASES for a in network(*c).activations}
    assert len(acts) >= 6
    assert all(network(*c).keep_prob is not None for c in CASES if "dropout" in c[0])
