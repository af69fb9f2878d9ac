"""derive stability --symbolic --batchnorm: the batch-norm section's checks, its formulas against
autograd's Jacobians (an autodiff this project did not write), a planted wrong formula caught by
the SymPy check, and the section in the CLI's text, JSON and LaTeX."""

from __future__ import annotations

import json

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from autograd import jacobian

from derive.cli import main
from derive.stability.symbolic_batchnorm import (
    EPS,
    batchnorm_jacobian,
    batchnorm_stability,
    jacobian_numpy,
    layer_jacobian_numpy,
    sympy_check,
)


def _bn(gamma, beta, eps=EPS):
    """One unit's batch norm over its m values, written again for autograd."""
    def f(z):
        mu = anp.mean(z)
        return gamma * (z - mu) / anp.sqrt(anp.mean((z - mu) ** 2) + eps) + beta
    return f


def test_every_step_checks():
    r = batchnorm_jacobian()
    checked = [s for s in r.steps if s.passed is not None]
    assert r.passed and len(checked) >= 9 and all(s.passed for s in checked)
    assert r.facts["sympy_equal"] and r.facts["fd_error"] < 1e-7
    assert r.facts["eig_error"] < 1e-10 and r.facts["norm_error"] < 1e-10
    assert abs(r.facts["scale_ratio"] - 1) < 1e-5  # c = 10 against c = 1, ε = 1e-5 ≪ v
    assert abs(r.facts["scale_ratio_small"] - 1) > 0.01  # c = 1e-3: c²v is comparable to ε


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_formula_equals_autograd_jacobian(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 10))
    z = rng.normal(size=m) * rng.uniform(0.5, 4) + rng.normal()
    gamma, beta = float(rng.uniform(0.3, 3)), float(rng.normal())
    J = jacobian(_bn(gamma, beta))(z)
    np.testing.assert_allclose(jacobian_numpy(z, gamma), J, rtol=1e-9, atol=1e-12)
    # its norm is γ/σ (m ≥ 3), σ computed here from the batch
    assert np.linalg.norm(J, 2) == pytest.approx(gamma / np.sqrt(z.var() + EPS), rel=1e-10)


def test_layer_jacobian_equals_autograd_and_is_scale_free():
    rng = np.random.default_rng(3)
    n, m = 3, 5
    W, A = rng.normal(size=(n, n)), rng.normal(size=(n, m))

    def layer(c):
        def f(a):
            Z = (c * W) @ a
            mu = anp.mean(Z, axis=1, keepdims=True)
            return anp.tanh((Z - mu) / anp.sqrt(anp.mean((Z - mu) ** 2, axis=1, keepdims=True) + EPS))
        return f

    def gp(zt):
        return 1 - np.tanh(zt) ** 2

    for c in (1.0, 10.0):
        J = jacobian(layer(c))(A).reshape(n * m, n * m)
        np.testing.assert_allclose(layer_jacobian_numpy(c * W, A, gprime=gp), J,
                                   rtol=1e-8, atol=1e-10)
    def norm(c, eps=EPS):
        return np.linalg.norm(layer_jacobian_numpy(c * W, A, eps=eps, gprime=gp), 2)

    assert norm(10.0, eps=0.0) / norm(1.0, eps=0.0) == pytest.approx(1, abs=1e-12)  # exact
    v = (W @ A).var(axis=1).min()
    assert norm(10.0) / norm(1.0) == pytest.approx(1, abs=5 * EPS / v)  # ε's effect, ~ε/(2v)
    assert abs(norm(1e-3) / norm(1.0) - 1) > 0.01  # c²v comparable to ε: no invariance


def test_planted_wrong_formula_fails_the_sympy_check():
    def without_zhat_term(zhat, sigma, gamma, m):
        return gamma / sigma * (sp.eye(m) - sp.ones(m, m) / m)

    def without_mean_term(zhat, sigma, gamma, m):
        return gamma / sigma * (sp.eye(m) - zhat * zhat.T / m)

    assert sympy_check() is True
    assert sympy_check(without_zhat_term) is False
    assert sympy_check(without_mean_term) is False


def test_batchnorm_stability_adds_the_section_after_the_others():
    names = [r.name for r in batchnorm_stability("tanh", keep_prob=0.8)]
    assert names[-2:] == ["dropout_jacobian", "batchnorm_jacobian"] and "bound" in names


def test_cli_text_json_latex(capsys):
    assert main(["stability", "--symbolic", "--batchnorm"]) == 0
    out = capsys.readouterr().out
    assert "The Jacobian of a dense layer" in out
    assert "The Jacobian of a batch-norm layer (training mode)" in out
    assert "J = ∂z̃/∂z = (γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m)" in out and "✗" not in out
    assert main(["stability", "--symbolic", "--batchnorm", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    bn = results[-1]
    assert bn["name"] == "batchnorm_jacobian" and bn["passed"] is True
    assert any(s["title"] == "its norm" and s["passed"] for s in bn["steps"])
    assert main(["stability", "--symbolic", "--batchnorm", "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    assert r"\subsection{The Jacobian of a batch-norm layer (training mode)}" in tex
    # without --symbolic, --batchnorm is still the measured run
    assert main(["stability", "--batchnorm", "--depth", "3", "--width", "4", "--batch", "4",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["batchnorm"]
