"""Dropout and batch norm on one layer: the mask after the activation of a normalised layer,
A[l] = g(Z̃[l]) ⊙ D[l] / keep_prob, D[l] held fixed. Derived and proven (both proofs), the
gradients of W, γ, β, b and dZ[l] through the statistics equal autograd's of the forward pass
written again (tests/oracle.py, which normalises and applies the masks itself), and the gradient
check passes with the same masks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import derive
from derive.core.expr import evaluate
from derive.engine.values import gradient_values
from derive.network import model
from derive.numbers.gradcheck import gradcheck
from tests import oracle
from tests.strategies import ALL_ACTIVATIONS, output_activations_for

CASES = [(loss, conv, depth) for loss in ("bce", "ce", "mse") for conv in ("columns", "rows")
         for depth in (2, 3, 4)]


def _network(loss, conv, depth):
    out = output_activations_for(loss)[0] if loss != "mse" else "linear"
    cycle = itertools.islice(itertools.cycle([a for a in ALL_ACTIVATIONS if a not in (out, "softmax")]),
                             depth, None)
    hidden = [next(cycle) for _ in range(depth - 1)]
    return derive.Network(layers=[3] + [2 + (l % 3) for l in range(1, depth)] + [2],
                          activations=[*hidden, out], loss=loss, convention=conv,
                          batchnorm=list(range(1, depth)), keep_prob=[0.5 + 0.1 * l for l in range(1, depth)],
                          scale=("mean", "dZ")[depth % 2])


@pytest.mark.parametrize("loss, conv, depth", CASES)
def test_dropout_after_batchnorm_proves_and_matches_autograd(loss, conv, depth):
    net = _network(loss, conv, depth)
    d = derive.backward(net)
    assert d.proof.passed
    inst = model.random_instance(net, seed=3, m=5)
    values = gradient_values(derive.backward(net, prove=False), inst)
    params = {f"{b}{l}": v for (b, l), v in inst.params.items() if b != "D"}
    masks = {l: v for (b, l), v in inst.params.items() if b == "D"}
    assert sorted(masks) == list(range(1, depth)) and all(0 < v.mean() < 1 or v.all() for v in masks.values())
    ref = oracle.param_gradients(net, params, inst.X, inst.Y, masks)
    for name, want in ref.items():
        base, l = name.rstrip("0123456789"), int(name[len(name.rstrip("0123456789")):])
        np.testing.assert_allclose(values["d" + base, l], want, rtol=1e-7, atol=1e-11)
    per_example = inst.m if net.scale == "mean" else 1
    backend = model.numpy_backend(net, inst.m, inst.sizes)
    for f in d.formulas:
        if f.kind in ("dZ", "dZtilde") and f.layer < depth:  # dZ in both forms, and dZ̃
            base = f.kind[1:]
            mine = evaluate(f.expr, values, backend)
            true = oracle.intermediate_gradient(net, base, f.layer, values[base, f.layer], params,
                                                inst.X, inst.Y, masks)
            np.testing.assert_allclose(mine, per_example * true, rtol=1e-7, atol=1e-10)
    # the masks matter: without them autograd's gradients are another network's
    ones = {l: np.ones_like(v) for l, v in masks.items()}
    assert not np.allclose(oracle.param_gradients(net, params, inst.X, inst.Y, ones)["W1"], ref["W1"])
    r = gradcheck(net, seed=3, m=5)
    assert r.passed, r.failed
