"""The derivative operator applied to a cost written out (issue 13: derive.check.written_cost).

Each case's label (does ∂/∂Q of the expression as written equal the network cost's ∂C/∂Q?) is
established here by `autograd` on a forward pass written again in this file (no derive code),
and derive's verdict must agree with it.
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from derive.check.checker import check
from derive.check.written_cost import Unreadable, read, split, verify
from derive.network.spec import Network

SIG = r"\sigma(w^2_{11}a^2_1+w^2_{12}a^2_2+w^2_{13}a^2_3)"  # the output unit, no bias written


def sigmoid(z):
    return 1 / (1 + anp.exp(-z))


def network_cost(W2, b2, a2, y):  # a 2-3-1 network's ½(a³ − y)², a² the hidden activations
    return 0.5 * (sigmoid(W2 @ a2 + b2)[0, 0] - y) ** 2


WRITTEN = {  # the expressions below as the tests read them, by hand, written with autograd
    "half": lambda W2, a2, y: 0.5 * (sigmoid(W2 @ a2)[0, 0] - y) ** 2,
    "no_half": lambda W2, a2, y: (sigmoid(W2 @ a2)[0, 0] - y) ** 2,
}


@pytest.mark.parametrize("name, agrees", [("half", True), ("no_half", False)])
def test_the_labels_by_autograd(name, agrees):
    """With the bias at 0 (what the written cost leaves out), ∂/∂w_{12} of the written cost is
    the network's for ½(…)² and twice it without the ½."""
    rng = np.random.default_rng(0)
    W2, a2, y = rng.normal(size=(1, 3)), rng.uniform(0.1, 0.9, size=(3, 1)), 0.3
    mine = grad(WRITTEN[name])(W2, a2, y)[0, 1]
    theirs = grad(network_cost)(W2, np.zeros((1, 1)), a2, y)[0, 1]
    assert bool(np.isclose(mine, theirs)) is agrees
    if not agrees:
        assert np.isclose(mine, 2 * theirs)


NET = Network(layers=[2, 3, 1], activations=["sigmoid", "sigmoid"], loss="half_mse", scale="sum")


def test_a_written_cost_with_its_gradient_is_correct():
    v = check(rf"\frac{{\partial}}{{\partial w^2_{{12}}}} \frac{{1}}{{2}}({SIG}-y)^2 = "
              r"a^2_2(a^3_1-y)\sigma'(z^3_1)", NET)
    assert v.verdict == "correct" and v.target == "dW[2]"
    said = v.notes[-1]
    assert "is the network cost's at 3 random instances" in said
    assert "compared with the biases at 0" in said  # the written cost has no output bias
    assert "counted from the input as layer 1" in said  # w^2 is W[2], a^2 is A[1]


def test_a_written_cost_that_is_not_the_networks_is_wrong_with_its_values():
    v = check(rf"\frac{{\partial}}{{\partial w^2_{{12}}}}({SIG}-y)^2 = "
              r"a^2_2(a^3_1-y)\sigma'(z^3_1)", NET)
    assert v.verdict == "not_equivalent" and v.exit_code == 1
    assert "is not the network's cost" in v.message
    ce = v.counterexample
    assert ce is not None and ce["got_entry"] == pytest.approx(2 * ce["expected_entry"], rel=1e-5)
    assert ce["entry"] == [1, 2] and ce["sizes"] == {"n0": 2, "n1": 3, "n2": 1, "m": 1}


def test_a_wrong_right_side_is_wrong_whatever_the_cost():
    v = check(rf"\frac{{\partial}}{{\partial w^2_{{12}}}} \frac{{1}}{{2}}({SIG}-y)^2 = "
              r"a^2_2(a^3_1+y)\sigma'(z^3_1)", NET)
    assert v.verdict == "not_equivalent"
    assert "the right side checked as the gradient" in v.notes[0]


def test_the_cost_through_the_output_activation_and_a_delta_definition():
    """½(a³ − y)² written through the output activation (which has the bias); and UFLDL's
    δ = ∂/∂z of the cost (the pass restarted from a perturbed z)."""
    v = check(r"\frac{\partial}{\partial w^2_{11}} \frac{1}{2}(a^3_1-y)^2 = "
              r"a^2_1(a^3_1-y)\sigma'(z^3_1)", NET)
    assert v.verdict == "correct" and "biases at 0" not in v.notes[-1]
    v = check(r"\frac{\partial}{\partial z^3_1} \frac{1}{2}(a^3_1-y)^2 = (a^3_1-y)\sigma'(z^3_1)",
              NET)
    assert v.verdict == "correct" and "is the network cost's" in v.notes[-1]


def test_only_the_terms_that_depend_on_the_entry():
    """½(a_1 − y_1)² of a two-output network: the other output's term does not depend on
    w_{11}, so its derivative is the whole cost's (autograd agrees: the second term's gradient
    along W[0, 0] is 0)."""
    W2, a2, y = np.ones((2, 3)) * 0.2, np.full((3, 1), 0.5), np.array([[0.1], [0.7]])

    def both(W):
        return 0.5 * anp.sum((sigmoid(W @ a2) - y) ** 2)

    def first(W):
        return 0.5 * (sigmoid(W @ a2)[0, 0] - y[0, 0]) ** 2

    assert np.isclose(grad(both)(W2)[0, 0], grad(first)(W2)[0, 0])
    net = Network(layers=[2, 3, 2], activations=["sigmoid", "sigmoid"], loss="half_mse",
                  scale="sum")
    wrt = read("w^2_{11}", 0, 8)
    for cost, agrees in ((r"\frac{1}{2}(a^3_1-y_1)^2", True),
                         (r"\frac{1}{2}((a^3_1-y_1)^2 + (a^3_2-y_2)^2)", True),
                         (r"\frac{1}{2}(a^3_2-y_2)^2", False)):  # no w_{11} in it: 0
        ok, how, values = verify(net, read(cost, 0, len(cost)), wrt, "dW[2]")
        assert ok is agrees, cost
        assert ok or values["got_entry"] == 0.0 != values["expected_entry"]
    v = check(r"\frac{\partial}{\partial w^2_{11}} \frac{1}{2}(a^3_1-y_1)^2 = "
              r"a^2_1(a^3_1-y_1)\sigma'(z^3_1)", net)  # y_1: the target's unit 1, not a layer
    assert v.verdict == "correct" and "is the network cost's" in v.notes[-1], v.message
    v = check(r"\frac{\partial C}{\partial w^2_{21}} = a^2_1(a^3_2+y_2)\sigma'(z^3_2)", net)
    assert v.verdict == "not_equivalent"


def test_an_unread_cost_leaves_a_condition_naming_the_construct():
    v = check(r"\frac{\partial}{\partial w^2_{11}} \frac{1}{2}\|y-a^3\|^2 = "
              r"a^2_1(a^3_1-y)\sigma'(z^3_1)", NET)
    assert v.verdict == "correct"
    assert any("is the network's cost (it was not read: the LaTeX command \\|" in c
               for c in v.conditions)


def test_split_keeps_positions_and_read_refuses_what_it_does_not_read():
    eq = rf"\frac{{\partial }}{{\partial w^2_{{11}}}}\frac{{1}}{{2}}({SIG}-y)^2 = a"
    rewritten, wrt, (a, b) = split(eq)
    assert wrt == "w^2_{11}" and len(rewritten) == len(eq)
    assert rewritten.index("=") == eq.index("=")
    assert rewritten.startswith(r"\frac{\partial C}{\partial w^2_{11}}")
    assert read(eq, a, b)[0] == "mul"
    assert split("dZ^{[1]} = A - Y") is None
    for bad in (r"\frac{1}{2}(a^3_1-y)^{1/2}", r"\sigma'(z^3_1)", r"\sum_j a^3_j", "(" * 80 + "a^3_1"):
        with pytest.raises(Unreadable):
            read(bad, 0, len(bad))


def test_dfrac_is_the_same_operator():
    v = check(r"\dfrac{\partial}{\partial w^2_{11}} \frac{1}{2}(a^3_1-y)^2 = "
              r"a^2_1(a^3_1-y)\sigma'(z^3_1)", NET)
    assert v.verdict == "correct" and "is the network cost's" in v.notes[-1]
