"""derive stability with batch norm: the coupled batch Jacobians against autograd's (the forward
pass written again here, differentiated by an autodiff this project did not write), the
per-unit Jacobian (γ/s)(I − 11ᵀ/m − ẑẑᵀ/m) against autograd's, backprop's ‖δ[l]‖ against
autograd's vector-Jacobian product, and the scale: batch norm makes the gradients independent of
the initialisation's gain, where the plain network's grow or vanish with it."""

from __future__ import annotations

import json

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, jacobian

from derive.cli import main
from derive.stability.analyse import analyse, draw
from derive.stability.batchnorm import EPS, analyse_batchnorm


def _layer(W, gamma=1.0, beta=0.0):
    def f(A):
        Z = anp.dot(W, A)
        mu = anp.mean(Z, axis=1, keepdims=True)
        var = anp.mean((Z - mu) ** 2, axis=1, keepdims=True)
        return anp.tanh(gamma * (Z - mu) / anp.sqrt(var + EPS) + beta)
    return f


@pytest.mark.parametrize("gain", [0.5, 1.0, 3.0])
def test_batch_jacobian_norms_and_backprop_match_autograd(gain):
    depth, width, batch = 4, 5, 6
    r = analyse_batchnorm(depth=depth, width=width, activation="tanh", gain=gain, batch=batch,
                          seed=2)
    weight, X, U = draw(depth, width, "xavier", gain, 2, batch)
    A = X
    fs = [_layer(weight(l)) for l in range(depth)]
    for l, f in enumerate(fs):
        J = jacobian(f)(A).reshape(width * batch, width * batch)
        np.testing.assert_allclose(r.jacobian_norm[l], np.linalg.norm(J, 2), rtol=1e-7)
        A = f(A)

    def top(X0):
        out = X0
        for f in fs:
            out = f(out)
        return anp.sum(U * out)

    delta0 = grad(top)(X)  # δ[0] = Jᵀ … Jᵀ U, through every batch's statistics
    rms = np.sqrt(np.mean(np.sum(delta0**2, axis=0)))
    np.testing.assert_allclose(np.exp(r.log_grad_norm[0]), rms, rtol=1e-9)
    np.testing.assert_allclose(np.exp(r.log_grad_norm_example[0]), np.linalg.norm(delta0[:, 0]),
                               rtol=1e-9)
    assert np.all(np.exp(r.log_grad_norm) <= np.exp(r.log_bound) * (1 + 1e-9))
    assert np.all(r.log_bound <= r.log_catalogue_bound + 1e-9)


def test_per_unit_jacobian_is_the_scaled_projection():
    rng = np.random.default_rng(0)
    m, gamma = 7, 1.7
    z = rng.normal(size=m) * 3.0

    def bn(z):
        mu = anp.mean(z)
        return gamma * (z - mu) / anp.sqrt(anp.mean((z - mu) ** 2) + EPS)

    s = np.sqrt(z.var() + EPS)
    zhat = (z - z.mean()) / s
    P = np.eye(m) - np.ones((m, m)) / m - np.outer(zhat, zhat) / m
    np.testing.assert_allclose(jacobian(bn)(z), gamma / s * P, rtol=1e-10, atol=1e-12)
    assert np.allclose(P @ np.ones(m), 0) and np.allclose(P @ zhat, zhat * EPS / (s * s), atol=1e-12)


def test_batch_norm_removes_the_scale_of_W():
    runs = [analyse_batchnorm(depth=20, width=16, activation="tanh", gain=g, batch=8)
            for g in (0.3, 1.0, 4.0)]
    for r in runs[1:]:
        np.testing.assert_allclose(r.log_grad_norm, runs[1].log_grad_norm, atol=1e-2)  # ε: not exact
    plain = [analyse(depth=20, width=16, activation="tanh", gain=g, batch=8).log_grad_norm[0]
             for g in (0.3, 4.0)]
    assert abs(plain[0] - plain[1]) > 5  # without batch norm the gain moves ‖δ[0]‖ by decades
    assert "removes W's scale" in runs[0].notes[1]


def test_cli_stability_batchnorm(capsys):
    assert main(["stability", "--batchnorm", "--depth", "5", "--width", "6", "--batch", "4",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["batchnorm"] and out["jacobian_norm"][0] is None and len(out["jacobian_norm"]) == 6
    assert main(["stability", "--batchnorm", "--keep-prob", "0.8"]) == 2
    assert main(["stability", "--batchnorm", "--sweep"]) == 2
