"""gradcheck with batch normalisation in training mode: the cost goes through each batch's μ and
σ², the differences move W, γ and β, and both the derived gradients and the differences agree
with autograd of the forward pass written again (tests/oracle.py). A backward function written
here in CS231n's style (rows; dout with the 1/N in it; dgamma, dbeta summed over axis 0) passes
``--impl``; the same function with a planted mistake fails and the mistake is named."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.numbers.differences import differences
from derive.numbers.gradcheck import gradcheck, gradcheck_impl, random_instance
from tests import oracle

EPS_BN = 1e-5  # CS231n's eps, derive's ε for numbers


def _named(net, inst):
    return {f"{b}{l}": inst.params[b, l] for (b, l) in inst.params}


@pytest.mark.parametrize("convention, scale", [("columns", "mean"), ("rows", "dZ"),
                                                ("rows", "sum")])
@pytest.mark.parametrize("acts, loss, bn", [
    (["tanh", "sigmoid"], "bce", [1]),
    (["relu", "tanh", "softmax"], "ce", [1, 2]),
    (["sigmoid", "relu", "linear"], "mse", [2]),
])
def test_derived_gradients_and_the_differences_agree_with_autograd(convention, scale, acts, loss, bn):
    sizes = [3, 4, 3, 2][: len(acts) + 1]
    net = derive.Network(layers=sizes, activations=acts, loss=loss, batchnorm=bn,
                         convention=convention, scale=scale)
    r = gradcheck(net, seed=3, m=6)
    assert r.passed, r.failed
    names = [a.name for a in r.arrays]
    for l in bn:
        assert f"gamma[{l}]" in names and f"beta[{l}]" in names and f"b[{l}]" not in names
    # W[l] of a normalised layer is curved through 1/σ (its differences' truncation error is
    # larger than a dense layer's, and the floor says so): 1e-5, not 1e-7
    assert r.max_relative_error < 1e-5
    inst = random_instance(net, 3, 6, None, 1e-4)
    want = oracle.param_gradients(net, _named(net, inst), inst.X, inst.Y)
    d = differences(net, inst.params, inst.X, inst.Y)
    for (b, l), h in d.gradients.items():
        np.testing.assert_allclose(h, want[f"{b}{l}"], rtol=1e-4, atol=1e-8)
        # Richardson's extrapolation of ĝ(ε) and ĝ(ε/2) cancels the ε² term: much closer
        richardson = (4 * d.halves[b, l] - h) / 3
        np.testing.assert_allclose(richardson, want[f"{b}{l}"], rtol=1e-7, atol=1e-10)
    # a dense layer's numbers in place of batch norm's are another network's (the check is of BN)
    dense = derive.Network(layers=sizes, activations=acts, loss=loss, convention=convention,
                           scale=scale)
    assert dense.all_dense and not net.all_dense


# -- a user's backward pass, CS231n style: affine - batchnorm - relu - affine - softmax -----------
def _bn_forward(x, gamma, beta):
    mu = x.mean(axis=0, keepdims=True)
    var = x.var(axis=0, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + EPS_BN)
    return gamma * xhat + beta, (xhat, gamma, var)


def batchnorm_backward(dout, cache, mistake=None):
    """CS231n's batchnorm_backward_alt: dx, dgamma, dbeta (rows: axis 0 runs over the batch)."""
    xhat, gamma, var = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = np.sum(dout * xhat, axis=0, keepdims=True)
    if mistake == "divided":
        dgamma, dbeta = dgamma / N, dbeta / N
    if mistake == "dbeta_divided":
        dbeta = dbeta / N
    axis = 1 if mistake == "axis" else 0
    dx = (gamma / np.sqrt(var + EPS_BN) / N) * (
        N * dout - dout.sum(axis=axis, keepdims=True)
        - xhat * np.sum(dout * xhat, axis=axis, keepdims=True))
    return dx, dgamma, dbeta


def two_layer_backward(params, X, Y, mistake=None):
    W1, g1, b1, W2, c2 = (params[k] for k in ("W1", "gamma1", "beta1", "W2", "b2"))
    z = X @ W1
    zt, cache = _bn_forward(z, g1, b1)
    a = np.maximum(zt, 0)
    s = a @ W2 + c2
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    N = X.shape[0]
    dscores = (p - Y) / N
    dW2, db2 = a.T @ dscores, dscores.sum(axis=0, keepdims=True)
    dzt = (dscores @ W2.T) * (zt > 0)
    dz, dgamma, dbeta = batchnorm_backward(dzt, cache, mistake)
    return {"dW1": X.T @ dz, "dgamma1": dgamma, "dbeta1": dbeta, "dW2": dW2, "db2": db2}


NET = dict(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", batchnorm=[1],
           convention="rows", scale="dZ")


@pytest.mark.parametrize("mistake, failed, code", [
    (None, (), None),
    ("divided", ("gamma[1]", "beta[1]"), "dgamma_dbeta_divided_by_m"),
    ("dbeta_divided", ("beta[1]",), "dgamma_dbeta_divided_by_m"),
    ("axis", ("W[1]",), "bn_sum_wrong_axis"),
])
def test_a_cs231n_style_backward_passes_and_planted_mistakes_are_named(mistake, failed, code):
    net = derive.Network(**NET)
    r = gradcheck_impl(net, lambda p, X, Y: two_layer_backward(p, X, Y, mistake), seed=2, m=8)
    assert r.failed == failed
    named = [n for n in r.notes if "one mistake" in n]
    if code is None:
        assert r.passed and not named
    else:
        assert len(named) == 1 and f"({code})" in named[0], r.notes


def test_the_function_is_called_with_gamma_and_beta_and_its_values_are_autograds():
    net = derive.Network(**NET)
    inst = random_instance(net, 2, 8, None, 1e-4)
    params = _named(net, inst)
    assert sorted(params) == ["W1", "W2", "b2", "beta1", "gamma1"]
    got = two_layer_backward(params, inst.X, inst.Y)
    want = oracle.param_gradients(net, params, inst.X, inst.Y)
    for k, v in want.items():
        np.testing.assert_allclose(got["d" + k], v, rtol=1e-9, atol=1e-12)


def test_cli_gradcheck_takes_batchnorm(capsys):
    code = main(["gradcheck", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce",
                 "--batchnorm", "1", "--m", "5", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["passed"]
    assert [a["name"] for a in out["arrays"]] == ["W[1]", "gamma[1]", "beta[1]", "W[2]", "b[2]"]
    assert any("training mode" in n for n in out["notes"])


def test_cli_gradcheck_takes_dropout_after_batchnorm(capsys):
    # the mask after the activation of a normalised layer, held fixed (tests/test_batchnorm_dropout.py)
    code = main(["gradcheck", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce",
                 "--batchnorm", "1", "--keep-prob", "0.8"])
    assert code == 0
    assert capsys.readouterr().out.rstrip().endswith("PASSED")
