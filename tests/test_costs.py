"""The cost as a target (``cost = ...``, ``L2_regularization_cost = ...``, ``loss += ...``):
checked against the network's cost, and each wrong one's mistake named.

Every label is verified here first: the formula is written again as a numpy function of one
instance, and compared with the cost from tests/oracle.py (the forward pass and the loss
written again, nothing from derive); derive's verdict must then agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from derive.check.checker import check
from derive.cli import main
from derive.network.spec import Network
from tests import oracle

NET = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", l2=0.7)
ROWS = Network(layers=[3, 4, 2], activations=["relu", "softmax"], loss="ce", l2=0.3,
               l2_form="half", convention="rows", scale="dZ")
M = 5


def instance(net: Network, seed: int = 0):
    rng = np.random.default_rng(seed)
    cols = net.convention == "columns"
    n = net.layers
    X = rng.normal(size=(n[0], M) if cols else (M, n[0]))
    Y = np.eye(n[-1])[rng.integers(0, n[-1], size=M)]
    Y = Y.T if cols else Y
    params, A = {}, X
    for l in range(1, net.L + 1):
        W = rng.normal(size=(n[l], n[l - 1]) if cols else (n[l - 1], n[l]))
        b = 0.3 * rng.normal(size=(n[l], 1) if cols else (1, n[l]))
        params[f"W{l}"], params[f"b{l}"] = W, b
        A = oracle.activation(net.activations[l - 1], l, cols)((W @ A if cols else A @ W) + b)
    return {"X": X, "Y": Y, "A2": A, "m": M, **params}


def true_cost(net: Network, v: dict, kind: str) -> float:
    cols = net.convention == "columns"
    data = oracle.total_loss(net.loss, v["A2"], v["Y"], cols) / M
    params = {k: v[k] for k in ("W1", "W2")}
    penalty = oracle.l2_penalty(net, params, M, True)
    return {"J": data + penalty, "data": data, "penalty": penalty}[kind]


S = np.sum
LOG = np.log
CASES = [  # (formula, network, what it computes on one instance, the quantity, the mistake)
    ("L2_regularization_cost = (np.sum(np.square(W1)) + np.sum(np.square(W2))) * lambd / m / 2",
     NET, lambda v: (S(v["W1"] ** 2) + S(v["W2"] ** 2)) * 0.7 / M / 2, "penalty", None),
    ("L2_regularization_cost = (np.sum(np.square(W1)) + np.sum(np.square(W2))) * lambd / 2",
     NET, lambda v: (S(v["W1"] ** 2) + S(v["W2"] ** 2)) * 0.7 / 2, "penalty", "missing_scale"),
    ("L2_regularization_cost = (np.sum(np.square(W1)) + np.sum(np.square(W2))) * lambd / m",
     NET, lambda v: (S(v["W1"] ** 2) + S(v["W2"] ** 2)) * 0.7 / M, "penalty", "wrong_scale"),
    ("L2_regularization_cost = np.sum(np.square(W1)) * lambd / m / 2",
     NET, lambda v: S(v["W1"] ** 2) * 0.7 / M / 2, "penalty", "missing_l2_term"),
    ("L2_regularization_cost = (np.sum(W1) + np.sum(W2)) * lambd / m / 2",
     NET, lambda v: (S(v["W1"]) + S(v["W2"])) * 0.7 / M / 2, "penalty", "wrong_l2_term"),
    ("cross_entropy_cost = -1/m * np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))",
     NET, lambda v: -S(v["Y"] * LOG(v["A2"]) + (1 - v["Y"]) * LOG(1 - v["A2"])) / M, "data",
     None),
    ("cost = -1/m * np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2))",
     NET, lambda v: -S(v["Y"] * LOG(v["A2"]) + (1 - v["Y"]) * LOG(1 - v["A2"])) / M, "J",
     "missing_l2_term"),
    ("cost = -1/m * np.sum(Y*np.log(A2) + (1-Y)*np.log(1-A2)) + lambd/(2*m) * (np.sum(W1**2) + "
     "np.sum(W2**2))", NET,
     lambda v: -S(v["Y"] * LOG(v["A2"]) + (1 - v["Y"]) * LOG(1 - v["A2"])) / M
     + 0.7 / (2 * M) * (S(v["W1"] ** 2) + S(v["W2"] ** 2)), "J", None),
    ("loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))", ROWS, None, "J", None),
    ("loss += reg * (np.sum(W1 * W1) + np.sum(W2 * W2))", ROWS, None, "J", "wrong_scale"),
]


@pytest.mark.parametrize("text,net,value,kind,mistake", CASES, ids=[c[0][:60] for c in CASES])
def test_a_cost_formula_is_judged_against_the_networks_cost(text, net, value, kind, mistake):
    if value is not None:  # the label, verified against the oracle's cost
        v = instance(net)
        assert np.isclose(value(v), true_cost(net, v, kind)) == (mistake is None)
    verdict = check(text, net)
    assert verdict.target == kind
    if mistake is None:
        assert verdict.verdict == "correct", verdict.message
    else:
        assert verdict.verdict == "not_equivalent", verdict.message
        assert [mk.code for mk in verdict.mistakes] == [mistake], verdict.mistakes


def test_the_in_place_loss_adds_to_the_data_term():
    # CS231n: loss = data_loss; loss += 0.5 * reg * Σ W²: the loss on the right is the data term
    v = instance(ROWS)
    half = 0.5 * 0.3 * (S(v["W1"] ** 2) + S(v["W2"] ** 2))
    assert np.isclose(true_cost(ROWS, v, "data") + half, true_cost(ROWS, v, "J"))
    verdict = check("loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))", ROWS)
    assert any("read as J = (its data term" in n for n in verdict.notes)


def test_what_a_cost_cannot_be():
    v = check("cost = -1/m * np.sum(Y * np.log(A2), axis=1)", NET)  # one sum short: 2×1
    assert v.verdict == "shape_error" and [mk.code for mk in v.mistakes] == ["missing_sum"]
    no_l2 = NET.replace(l2=None)
    v = check("L2_regularization_cost = lambd / m / 2 * np.sum(np.square(W1))", no_l2)
    assert v.verdict == "parse_error" and "no L2 term" in v.message
    v = check("cost = -np.sum(Y * np.log(A2))", Network(layers=[3, 4, 2]))  # generic loss
    assert v.verdict == "parse_error" and "give the loss" in v.message
    v = check("cost = np.sum(dZ2)", NET)
    assert v.verdict == "parse_error" and "written with a gradient (dZ[2])" in v.message


def test_the_command_line(capsys):
    args = ["check", "L2_regularization_cost = np.sum(np.square(W1)) * lambd / m / 2",
            "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce", "--l2", "0.7"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert out.startswith("incorrect: not equivalent — penalty")
    assert "missing_l2_term: The penalty leaves out W[2]" in out
    assert "correct formula: penalty = (0.35/m)" in out
