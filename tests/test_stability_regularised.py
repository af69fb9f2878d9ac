"""derive stability with dropout and L2: the Jacobian with a fixed mask, diag(g′) diag(D)/p W,
derived (SymPy and finite differences) and against autograd; the measured backprop through a
masked deep network against autograd of the same forward pass written here; L2 changes no
Jacobian (the numbers are identical, and the output says so)."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad, jacobian

from derive.errors import SpecError
from derive.stability.analyse import analyse, draw
from derive.stability.regularised import dropout_jacobian, l2_jacobian, regularised_stability

ACTS = {"tanh": anp.tanh, "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
        "relu": lambda z: anp.maximum(z, 0.0)}


@pytest.mark.parametrize("act", sorted(ACTS))
@pytest.mark.parametrize("p", [0.5, 0.8])
def test_dropout_jacobian_is_diag_gprime_diag_mask_over_p_times_W(act, p):
    r = dropout_jacobian(act, p)
    assert r.passed and r.facts["sympy_equal"] and r.facts["fd_error"] < 1e-7
    # autograd of the same layer at numbers: row 1 (the dropped unit) is 0, the others g′ W / p
    rng = np.random.default_rng(3)
    W, a, b = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=3)
    D = np.array([0.0, 1.0, 1.0])
    J = jacobian(lambda v: ACTS[act](anp.dot(W, v) + b) * D / p)(a)
    f = ACTS[act]
    z = W @ a + b
    gp = np.array([grad(lambda t: f(t))(float(t)) for t in z])
    np.testing.assert_allclose(J, np.diag(gp * D / p) @ W, rtol=1e-12, atol=1e-15)
    assert np.all(J[0] == 0)


def test_l2_changes_no_jacobian_and_regularised_results_are_added():
    r = l2_jacobian()
    assert r.passed and r.facts["zero"] and r.facts["weight_term"]
    names = [x.name for x in regularised_stability("tanh", keep_prob=0.8, l2=0.1)]
    assert names[-2:] == ["dropout_jacobian", "l2_jacobian"]
    assert "dropout_jacobian" not in [x.name for x in regularised_stability("tanh", keep_prob=1)]


@pytest.mark.parametrize("act, init", [("tanh", "xavier"), ("relu", "he"), ("sigmoid", "normal")])
def test_masked_backprop_against_autograd(act, init):
    L, n, batch, p, seed = 6, 5, 3, 0.7, 2
    r = analyse(depth=L, width=n, activation=act, init=init, seed=seed, batch=batch, keep_prob=p)
    weight, X, U = draw(L, n, init, 1.0, seed, batch)
    masks = np.random.default_rng(np.random.SeedSequence(seed).spawn(4)[3])
    Ws = [weight(l) for l in range(L)]
    Ds = [(masks.random((n, batch)) < p) / p for _ in range(L)]  # the fourth stream, in order

    def out(a0):
        a = a0
        for W, D in zip(Ws, Ds, strict=True):
            a = ACTS[act](anp.dot(W, a)) * D
        return anp.sum(a * U)  # δ[L] = U: the gradient wrt a[0] is δ[0], column by column

    delta0 = grad(out)(X)
    want = np.log(np.sqrt(np.mean(np.sum(delta0**2, axis=0))))
    assert r.log_grad_norm[0] == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert r.keep_prob == p and "diag(D[l]) / 0.7" in r.notes[0]
    # the mask changes the numbers: without it, another network
    assert analyse(depth=L, width=n, activation=act, init=init, seed=seed,
                   batch=batch).log_grad_norm[0] != pytest.approx(want, rel=1e-6)


def test_l2_leaves_every_number_and_says_so():
    a = analyse(depth=12, width=8, activation="tanh")
    b = analyse(depth=12, width=8, activation="tanh", l2=0.5)
    assert np.array_equal(a.log_grad_norm, b.log_grad_norm) and a.verdict == b.verdict
    assert b.notes and "changes no Jacobian" in b.notes[0] and b.l2 == 0.5


@pytest.mark.parametrize("kw", [{"keep_prob": 0}, {"keep_prob": 1.5}, {"l2": -1.0}])
def test_bad_regularisation_values(kw):
    with pytest.raises(SpecError):
        analyse(depth=3, width=4, **kw)


@pytest.mark.parametrize("act,init,p", [("relu", "he", 0.5), ("tanh", "xavier", 0.8)])
def test_the_catalogue_bound_still_bounds_the_jacobians_under_dropout(act, init, p):
    """sup|g′|·‖W‖ bounds ‖diag(g′) W‖ but not ‖diag(g′) diag(D)/p W‖: the bound carries 1/p."""
    r = analyse(depth=12, width=16, activation=act, init=init, keep_prob=p, seed=3)
    assert np.all(r.log_catalogue_bound >= r.log_bound - 1e-9)
    assert r.derivative_bound == pytest.approx({"relu": 1.0, "tanh": 1.0}[act] / p)


def test_stability_cli_takes_keep_prob_and_l2(capsys):
    import json

    from derive.cli import main
    assert main(["stability", "--depth", "6", "--width", "8", "--act", "relu", "--init", "he",
                 "--keep-prob", "0.5", "--l2", "0.1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["keep_prob"] == 0.5 and out["l2"] == 0.1
    assert any("dropout" in n for n in out["notes"]) and any("L2" in n for n in out["notes"])
    assert main(["stability", "--symbolic", "--act", "tanh", "--keep-prob", "0.8"]) == 0
    assert "diag(D) / p" in capsys.readouterr().out
