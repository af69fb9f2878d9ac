"""Dialects (issue 12, item 3): CS231n's, Nielsen's network.py and logistic regression's names,
recognised from the formula or forced, read as the network's quantities.

The formulas are written here from each course's definitions (CS231n's affine_backward and
relu_backward, Nielsen's backprop loop, the course's logistic regression with w a column), not
copied from any corpus. Correct ones in a column layout are also evaluated (derive's reading,
numpy) against autograd's gradient (tests/oracle.py via tests/test_unindexed.instance); wrong
ones (a planted swap, a dropped transpose, a missing derivative) must be named mistakes.
"""

from __future__ import annotations

import numpy as np
import pytest

from derive.check.checker import check
from derive.core.expr import NumpyBackend, evaluate
from derive.engine.values import bind_m
from derive.network.model import standins
from derive.network.spec import Network
from derive.parse import parse_equation
from derive.parse.dialects import detect, entry
from tests.test_unindexed import M, instance

ROWS = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", convention="rows",
               scale="dZ")
NIELSEN = Network(layers=[4, 5, 3, 2], activations=["sigmoid"] * 3, loss="half_mse")
LOGREG = Network(layers=[4, 1], activations=["sigmoid"], loss="bce")


def agrees(text: str, net: Network, layer: int | None = None) -> bool:
    eq = parse_equation(text, net, layer=layer)
    values = instance(net)
    got = np.asarray(evaluate(bind_m(eq.rhs, M), values, NumpyBackend(standins(net))), float)
    want = values[eq.target.key]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_list_and_dict_entries_name_layers_from_the_output():
    # Nielsen's lists: [-1] is layer L, his [-l+k] the course's l+k; dicts by their key
    assert [entry(x) for x in ("nabla_w[-1]", "nabla_b[-l]", "activations[-2]", "zs[-l]",
                               "self.weights[-l+1]", "activations[0]", "grads['W1']",
                               "params['b2']", "grads['dW3']", "foo[-1]")] == [
        "dW[L]", "db[l]", "A[L-1]", "Z[l]", "W[l+1]", "A[0]", "dW[1]", "b[2]", "dW[3]", None]
    assert detect("nabla_w[-l] = np.dot(delta, activations[-l-1].transpose())", 3) == "nielsen"
    assert detect("dx = dout.dot(w.T)", 2) == "cs231n"
    assert detect("dw = 1/m * np.dot(X, (A-Y).T)", 1) == "logreg"
    assert detect("dW1 = 1/m * np.dot(dZ1, X.T)", 2) is None


CS231N = [  # (formula, layer, reading): correct by CS231n's layers, examples as rows
    ("dx = dout.dot(w.T)", 2, "affine_backward"),
    ("dw = x.T.dot(dout)", 2, "affine_backward"),
    ("db = np.sum(dout, axis=0, keepdims=True)", 2, "affine_backward"),
    ("dx = dout * (x > 0)", 1, "relu_backward"),
    ("dx = np.where(x > 0, dout, 0)", 1, "relu_backward"),
    ("grads['W2'] = np.dot(h1.T, dscores)", None, "affine_backward"),
    ("dhidden = np.dot(dscores, self.params['W2'].T)", None, "affine_backward"),
    ("dscores = (probs - Y) / N", None, "affine_backward"),
]


@pytest.mark.parametrize("text,layer,reading", CS231N, ids=[c[0] for c in CS231N])
def test_cs231n_formulas_are_correct_and_say_how_they_were_read(text, layer, reading):
    v = check(text, ROWS, layer=layer)
    assert v.verdict == "correct", v.message
    assert v.dialect == "cs231n" and v.to_dict()["dialect"] == "cs231n"
    assert "cs231n: the 1/N is inside dscores (scale dZ)" in v.notes
    assert any(n.startswith(f"read as CS231n ({reading}): ") for n in v.notes)


@pytest.mark.parametrize("text,layer,code", [
    ("dx = w.T.dot(dout)", 2, "wrong_order"),
    ("dw = x.dot(dout)", 2, "missing_transpose"),
    ("dx = dout", 1, "wrong_activation_derivative"),
    ("grads['W2'] = np.dot(h1.T, dscores) / N", None, "extra_scale"),
])
def test_cs231n_mistakes_are_named(text, layer, code):
    v = check(text, ROWS, layer=layer)
    assert v.verdict in ("shape_error", "not_equivalent") and v.dialect == "cs231n"
    assert code in [mk.code for mk in v.mistakes] or (
        code == "extra_scale" and {"wrong_scale", "extra_scale"} & {mk.code for mk in v.mistakes})


def test_rows_without_a_scale_is_cs231n_s_scale():
    v = check("dW2 = A1.T.dot(dZ2)", convention="rows")  # the issue: was missing_scale
    assert v.verdict == "correct" and v.network["scale"] == "dZ"
    assert check("dW2 = 1/m * np.dot(dZ2, A1.T)").network["scale"] == "mean"


NIELSEN_OK = [
    "delta = self.cost_derivative(activations[-1], y) * sigmoid_prime(zs[-1])",
    "nabla_w[-1] = np.dot(delta, activations[-2].transpose())",
    "delta = np.dot(self.weights[-l+1].transpose(), delta) * sigmoid_prime(zs[-l])",
    "nabla_w[-l] = np.dot(delta, activations[-l-1].transpose())",
]


@pytest.mark.parametrize("text", NIELSEN_OK)
def test_nielsen_formulas_are_one_example_and_agree_with_autograd(text):
    v = check(text, NIELSEN)
    assert v.verdict == "correct", v.message
    assert v.dialect == "nielsen" and v.network["scale"] == "sum"  # one example: m = 1
    assert any(n.startswith("read as Nielsen's network.py: ") for n in v.notes)
    one = NIELSEN.replace(scale="sum")
    layers = (1, 2) if "-l" in text else (None,)  # Nielsen's l: each hidden layer
    for layer in layers:
        assert agrees(text, one, layer=layer)


@pytest.mark.parametrize("text,code", [
    ("nabla_w[-l] = np.dot(activations[-l-1].transpose(), delta)", "wrong_order"),
    ("delta = np.dot(self.weights[-l+1], delta) * sigmoid_prime(zs[-l])", "missing_transpose"),
    ("delta = np.dot(self.weights[-l+1].transpose(), delta)", "wrong_activation_derivative"),
])
def test_nielsen_mistakes_are_named(text, code):
    v = check(text, NIELSEN)
    assert v.verdict in ("shape_error", "not_equivalent")
    assert code in [mk.code for mk in v.mistakes]


def test_logreg_w_is_a_column():
    text = "dw = 1/m * np.dot(X, (A - Y).T)"  # the issue: was a wrong_order shape error
    v = check(text, LOGREG)
    assert v.verdict == "correct" and v.dialect == "logreg"
    assert "logreg: w read as a column, W[1]ᵀ (z = wᵀx + b)" in v.notes
    assert agrees(text, LOGREG)  # dW[1] = ((1/m) X (A − Y)ᵀ)ᵀ, by autograd
    v = check("dw = np.dot(X, (A - Y).T)", LOGREG)
    assert [mk.code for mk in v.mistakes] == ["missing_scale"]
    # forced: the course's reading of the same text is the row W[1]
    assert check(text, LOGREG, dialect="course").verdict == "shape_error"


def test_bindings_override_a_dialect_name():
    v = check("dx = dout.dot(w.T)", ROWS, names={"w": "W[2]", "dout": "dZ[2]", "dx": "dA[1]"})
    assert v.verdict == "correct" and v.target == "dA[1]"


NETWORK2_CE = Network(layers=[4, 5, 3], activations=["sigmoid"] * 2, loss="bce")
NETWORK2_QUAD = Network(layers=[4, 5, 3], activations=["sigmoid"] * 2, loss="half_mse")


@pytest.mark.parametrize("net", [NETWORK2_CE, NETWORK2_QUAD])
@pytest.mark.parametrize("call", ["(self.cost).delta(zs[-1], activations[-1], y)",
                                  "self.cost.delta(zs[-1], activations[-1], y)"])
def test_network2_cost_delta_is_read_per_the_loss(net, call):
    # network2.py: CrossEntropyCost.delta is a - y, QuadraticCost.delta (a - y) * σ'(z); each is
    # dZ[L] for its own loss, by autograd
    text = f"delta = {call}"
    v = check(text, net)
    assert v.verdict == "correct" and v.dialect == "nielsen", v.message
    assert agrees(text, net.replace(scale="sum"))
    assert any(("QuadraticCost" if net.loss == "half_mse" else "CrossEntropyCost") in n
               for n in v.notes)


def test_network2_cost_delta_wrong_uses_and_unknown_losses():
    # the quadratic delta on a tanh network is still (a - y) σ'(z): not dZ[L] there
    tanh = Network(layers=[4, 5, 3], activations=["tanh"] * 2, loss="half_mse")
    assert check("delta = (self.cost).delta(zs[-1], activations[-1], y)", tanh).verdict \
        == "not_equivalent"
    # the quadratic delta of the wrong layer's z: wrong
    assert check("delta = (self.cost).delta(zs[-2], activations[-1], y)",
                 NETWORK2_QUAD).verdict in ("shape_error", "not_equivalent")
    v = check("delta = (self.cost).delta(zs[-1], activations[-1], y)",
              Network(layers=[4, 5, 3], activations=["sigmoid"] * 2))
    assert v.verdict == "parse_error" and "cost class" in v.message
