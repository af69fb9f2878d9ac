"""derive numbers with batch normalisation (training mode): the worked example's μ, σ², Z_norm,
Z̃ and backward steps (dZ̃, dγ, dβ, dZ through the statistics) against numpy written here from
the definition (Ioffe & Szegedy 2015, Algorithm 1) and against autograd of the forward pass
(tests/oracle.py); a student's numbers with dβ divided by m once too often are wrong first at
dβ; the command takes --batchnorm and a [network] table's batchnorm."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.numbers.inputs import Entry, to_matrix
from derive.numbers.student import check_student
from derive.numbers.worked import worked_example
from tests import oracle

EPS = 1e-5


def _values(convention, seed=0):
    rng = np.random.default_rng(seed)
    cols = convention == "columns"
    X = rng.normal(size=(2, 5)) if cols else rng.normal(size=(5, 2))
    W1 = rng.normal(size=(3, 2)) if cols else rng.normal(size=(2, 3))
    W2 = rng.normal(size=(1, 3)) if cols else rng.normal(size=(3, 1))
    gamma = np.array([[1.2], [0.5], [0.8]])
    beta = np.array([[0.3], [-0.2], [0.1]])
    Y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    if not cols:
        gamma, beta, Y = gamma.T, beta.T, Y.T
    return {"X": X, "Y": Y, "W1": W1, "gamma1": gamma, "beta1": beta, "W2": W2,
            "b2": np.array([[0.1]])}


@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_worked_example_against_numpy_and_autograd(convention):
    net = derive.Network(layers=[2, 3, 1], activations=["tanh", "sigmoid"], loss="bce",
                         batchnorm=[1], convention=convention)
    v = _values(convention)
    w = worked_example(net, dict(v))
    cols = convention == "columns"
    ax = 1 if cols else 0
    # the forward pass from the definition, written here
    Z = v["W1"] @ v["X"] if cols else v["X"] @ v["W1"]
    mu = Z.mean(axis=ax, keepdims=True)
    var = ((Z - mu) ** 2).mean(axis=ax, keepdims=True)
    Zn = (Z - mu) / np.sqrt(var + EPS)
    Zt = v["gamma1"] * Zn + v["beta1"]
    for key, want in ((("Z", 1), Z), (("mu", 1), mu), (("var", 1), var), (("Znorm", 1), Zn),
                      (("Ztilde", 1), Zt), (("A", 1), np.tanh(Zt))):
        np.testing.assert_allclose(w.value(key), want, rtol=1e-12, atol=1e-14)
    # the backward pass: autograd of the cost, and dZ̃ by hand (the layer above's gradient)
    A1 = np.tanh(Zt)
    Z2 = v["W2"] @ A1 + v["b2"] if cols else A1 @ v["W2"] + v["b2"]
    A2 = 1 / (1 + np.exp(-Z2))
    dZ2 = A2 - v["Y"]
    dZt = (v["W2"].T @ dZ2 if cols else dZ2 @ v["W2"].T) * (1 - A1**2)
    np.testing.assert_allclose(w.value(("dZtilde", 1)), dZt, rtol=1e-10)
    m = 5
    np.testing.assert_allclose(w.value(("dgamma", 1)), np.sum(dZt * Zn, axis=ax, keepdims=True) / m,
                               rtol=1e-10)
    want = oracle.param_gradients(net, {k: v[k] for k in ("W1", "gamma1", "beta1", "W2", "b2")},
                                  v["X"], v["Y"])
    for name, key in (("W1", ("dW", 1)), ("gamma1", ("dgamma", 1)), ("beta1", ("dbeta", 1)),
                      ("W2", ("dW", 2)), ("b2", ("db", 2))):
        np.testing.assert_allclose(w.value(key), want[name], rtol=1e-9, atol=1e-13)
    # dZ[1] through the statistics: m ∂J/∂Z[1] under scale mean (autograd through μ and σ²)
    dZ = oracle.intermediate_gradient(net, "Z", 1, Z, {k: v[k] for k in v if k not in "XY"},
                                      v["X"], v["Y"])
    np.testing.assert_allclose(w.value(("dZ", 1)), m * dZ, rtol=1e-9, atol=1e-13)
    names = [s.name for s in w.steps]
    assert names.index("μ[1]") < names.index("Z̃[1]") < names.index("dγ[1]") < names.index("dW[1]")


def test_a_students_numbers_are_wrong_first_at_dbeta_divided_by_m():
    net = derive.Network(layers=[2, 3, 1], activations=["tanh", "sigmoid"], loss="bce",
                         batchnorm=[1])
    v = _values("columns")
    w = worked_example(net, dict(v))

    def entry(name, key, value):
        text = [[f"{x:.6g}" for x in row] for row in np.atleast_2d(value)]
        return Entry((name,), (key,), to_matrix(text, name))

    right = [entry("mu1", ("mu", 1), w.value(("mu", 1))), entry("var1", ("var", 1), w.value(("var", 1))),
             entry("dgamma1", ("dgamma", 1), w.value(("dgamma", 1)))]
    slipped = entry("dbeta1", ("dbeta", 1), w.value(("dbeta", 1)) / 5)  # divided by m again
    r = check_student(w, [*right, slipped])
    assert r.first_wrong_step == "dβ[1]"
    assert all(r.step(n).ok for n in ("mu1", "var1", "dgamma1")) and not r.step("dbeta1").ok
    assert check_student(w, right).all_right


def test_cli_numbers_takes_batchnorm(tmp_path, capsys):
    v = _values("columns")
    f = tmp_path / "bn.json"
    f.write_text(json.dumps({
        "network": {"layers": [2, 3, 1], "activations": ["tanh", "sigmoid"], "loss": "bce",
                    "batchnorm": [1]},
        "values": {k: np.asarray(a).tolist() for k, a in v.items()}}), encoding="utf-8")
    assert main(["numbers", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    text = json.dumps(out, ensure_ascii=False)
    assert "dγ[1]" in text and "μ[1]" in text
    f2 = tmp_path / "flags.json"
    f2.write_text(json.dumps({"values": {k: np.asarray(a).tolist() for k, a in v.items()}}),
                  encoding="utf-8")
    assert main(["numbers", str(f2), "--act", "tanh,sigmoid", "--loss", "bce", "--batchnorm", "1"]) == 0
    assert "Z_norm[1] =" in capsys.readouterr().out
