"""Conditional verdicts (issue 13, item 6): right only under an assumption is ``correct`` with
the assumption in ``conditions``; right as given needs none; a condition the network contradicts
leaves the formula wrong.

Each assumption is also verified here numerically against autograd (tests/oracle.py): the
formula equals the true gradient when the assumption holds, and not when it does not.
"""

from __future__ import annotations

import numpy as np

from derive.check.checker import check
from derive.cli import main
from derive.network.spec import Network
from tests import oracle


def _instance(net: Network, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = net.layers
    X = rng.normal(size=(n[0], m))
    Y = rng.integers(0, 2, size=(n[-1], m)).astype(float)
    params, cache, A = {}, {}, X
    for l in range(1, net.L + 1):
        W = rng.normal(size=(n[l], n[l - 1])) / np.sqrt(n[l - 1])
        b = 0.3 * rng.normal(size=(n[l], 1))
        params[f"W{l}"], params[f"b{l}"] = W, b
        Z = W @ A + b
        A = oracle.activation(net.activations[l - 1], l, True)(Z)
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return X, Y, params, cache


def test_one_example_is_a_condition_only_when_it_matters():
    v = check("dw = dz x^T")
    assert v.verdict == "correct" and v.conditions and "only when m = 1" in v.conditions[0]
    # the oracle: dW[1] = dZ[1] Xᵀ holds at m = 1 and misses the mean's 1/m at m = 5, where dZ[1]
    # is the per-example gradient m ∂J/∂Z[1]
    net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    for m, holds in ((1, True), (5, False)):
        X, Y, params, cache = _instance(net, m)
        dW1 = oracle.param_gradients(net, params, X, Y)["W1"]
        dZ1 = m * oracle.intermediate_gradient(net, "Z", 1, cache["Z1"], params, X, Y)
        assert np.allclose(dZ1 @ X.T, dW1) == holds, m
    # right with m examples too: no condition
    assert check("dz = a - y", loss="bce", layer=None).conditions == (
        "assumes the output activation is sigmoid, the usual pairing with bce (the network "
        "does not say: give --act ...,sigmoid to check it as given)",)
    assert check("dW1 = 1/m * np.dot(dZ1, X.T)").conditions == ()


def test_a_weight_below_the_bar_leaves_the_one_example_reading_to_the_right_side():
    # WildML's rows formula: W is a matrix for one example or m, so the right side's lower-case
    # a_1, δ_3 decide: one example, right only when m = 1 (the mean cost's 1/m is missing)
    net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    v = check(r"\frac{\partial L}{\partial W_2} = \delta_3 a_1^T", net)
    assert (v.verdict, v.target) == ("correct", "dW[2]") and v.conditions and \
        "only when m = 1" in v.conditions[0]
    for m, holds in ((1, True), (5, False)):  # the oracle, as above: δ_3 a_1ᵀ is dZ[2] A[1]ᵀ
        X, Y, params, cache = _instance(net, m)
        dW2 = oracle.param_gradients(net, params, X, Y)["W2"]
        dZ2 = m * oracle.intermediate_gradient(net, "Z", 2, cache["Z2"], params, X, Y)
        assert np.allclose(dZ2 @ cache["A1"].T, dW2) == holds, m
    v = check(r"\frac{\partial L}{\partial W_2} = \frac{1}{m} \delta_3 a_1^T", net)
    assert (v.verdict, v.conditions) == ("correct", ())
    v = check(r"\frac{\partial L}{\partial W_2} = \delta_3 A_1^T", net)  # A: m examples
    assert v.verdict == "not_equivalent"


def test_the_usual_output_activation_of_the_loss():
    for loss, act in (("bce", "sigmoid"), ("ce", "softmax")):
        v = check("dZ2 = A2 - Y", loss=loss)
        assert (v.verdict, v.target) == ("correct", "dZ[2]")
        assert v.conditions == (f"assumes the output activation is {act}, the usual pairing "
                                f"with {loss} (the network does not say: give --act ...,{act} to "
                                "check it as given)",)
    # the oracle: A2 − Y is dZ[2] (per example) for sigmoid with bce, not for sigmoid with mse
    for loss, holds in (("bce", True), ("mse", False)):
        net = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss=loss)
        X, Y, params, cache = _instance(net, 4, seed=2)
        dZ2 = 4 * oracle.intermediate_gradient(net, "Z", 2, cache["Z2"], params, X, Y)
        assert np.allclose(cache["A2"] - Y, dZ2) == holds, loss
    # a given network with a generic output activation: nothing is assumed, it is wrong as given
    given = Network(layers=[3, 4, 2], activations=["relu", None], loss="bce")
    v = check("dZ2 = A2 - Y", given)
    assert v.verdict == "not_equivalent" and v.conditions == ()
    # no loss given: nothing to pair, the generic verdict stands
    assert check("dZ2 = A2 - Y").verdict == "not_equivalent"


def test_a_condition_the_network_contradicts_is_no_condition():
    # W2.T * dZ2 (element-wise) equals W2ᵀ dZ2 only when n[2] = 1: on n[2] = 2 it is wrong
    two = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    v = check("dZ1 = W2.T * dZ2 * (1 - np.power(A1, 2))", two)
    assert v.verdict in ("shape_error", "not_equivalent") and v.conditions == ()
    one = Network(layers=[3, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
    X, Y, params, cache = _instance(one, 5, seed=1)
    W2 = params["W2"]
    dZ2 = 5 * oracle.intermediate_gradient(one, "Z", 2, cache["Z2"], params, X, Y)
    dZ1 = 5 * oracle.intermediate_gradient(one, "Z", 1, cache["Z1"], params, X, Y)
    assert np.allclose(W2.T * dZ2 * (1 - cache["A1"] ** 2), dZ1)  # n[2] = 1: it holds
    assert check("dZ1 = W2.T * dZ2 * (1 - np.power(A1, 2))", one).verdict == "correct"


def test_the_command_line_and_json_say_the_condition(capsys):
    assert main(["check", "dZ2 = A2 - Y", "--loss", "bce"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("correct (under a condition) — dZ[2]")
    assert "  condition: assumes the output activation is sigmoid" in out
    assert main(["check", "dZ2 = A2 - Y", "--loss", "bce", "--json"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["conditions"][0].startswith("assumes the output")
    assert main(["check", "dW1 = 1/m * np.dot(dZ1, X.T)", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["conditions"] == []
