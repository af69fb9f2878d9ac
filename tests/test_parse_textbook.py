"""Textbook and lecture LaTeX (issue 13): δ and ∇, layers in parentheses, braced names (the
course's notes' ``d{{w}^{[l]}}``), \\hat{y}, decorations, chained equalities and where-clauses.

Every formula here is our own, written in each notation for a network of this file (not copied
from any corpus). A correct one is also evaluated (derive's reading, numpy) and compared with
autograd's gradient (tests/oracle.py via tests/test_unindexed.instance); a wrong one has a
planted mistake and must not be called correct.
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
from tests.test_unindexed import M, instance

NET = Network(layers=[4, 3, 5, 2], activations=["tanh", "tanh", "sigmoid"], loss="bce")
ONE = NET.replace(scale="sum")  # one example's cost: Nielsen's C


def agrees(text: str, net: Network, layer: int) -> bool:
    eq = parse_equation(text, net, layer=layer)
    values = instance(net)
    got = np.asarray(evaluate(bind_m(eq.rhs, M), values, NumpyBackend(standins(net))), float)
    want = values[eq.target.key]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


CORRECT = [  # (formula, layer it is about)
    (r"\delta^{(l)} = ((W^{(l+1)})^T \delta^{(l+1)}) \odot g'(z^{(l)})", 1),
    (r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)}) \odot (1 - (a^{(1)})^2)", 1),
    (r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot g'(z^l)", 2),
    (r"\delta^{[2]} = W^{[3]T} \delta^{[3]} \odot g^{[2]\prime}(Z^{[2]})", 2),
    (r"dZ^{(1)} = (W^{(2)})^T dZ^{(2)} \odot g'(Z^{(1)})", 1),
    (r"\delta^L = \nabla_a C \odot g'(z^L)", 3),
    (r"\nabla_{W^{[2]}} J = \frac{1}{m} \delta^{[2]} A^{[1]T}", 2),
    (r"\nabla_{\mathbf{W}^{(1)}} J = \frac{1}{m} \boldsymbol{\delta}^{(1)} \mathbf{X}^\top", 1),
    (r"\frac{\partial}{\partial W^{[3]}} J = \frac{1}{m} dZ^{[3]} A^{[2]T}", 3),
    (r"dZ^{[3]} = \hat{Y} - Y", 3),
    (r"d{{W}^{[l]}}=\frac{1}{m}\text{}d{{Z}^{[l]}}\cdot {{A}^{\left[ l-1 \right]T}}", 2),
    (r"d{{A}^{[l-1]}}={{W}^{\left[ l \right]T}}\cdot d{{Z}^{[l]}}", 2),
    (r"d{{Z}^{[l]}}=d{{A}^{[l]}}*{{g}^{\left[ l \right]}}'\left({{Z}^{[l]}} \right)", 1),
]


@pytest.mark.parametrize("text,layer", CORRECT)
def test_textbook_notations_are_read_and_agree_with_autograd(text, layer):
    net = ONE if "nabla_a" in text else NET
    v = check(text, net, layer=layer)
    assert v.verdict == "correct", v.message
    assert agrees(text, net, layer)


WRONG = [  # planted mistakes in the same notations
    (r"\delta^{(1)} = (W^{(2)} \delta^{(2)}) \odot g'(z^{(1)})", 1),  # no transpose (square)
    (r"\delta^l = (\delta^{l+1} (w^{l+1})^T) \odot g'(z^l)", 2),  # wrong order
    (r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)}) \odot \sigma'(z^{(1)})", 1),  # σ on tanh
    (r"\nabla_{W^{[2]}} J = \delta^{[2]} A^{[1]T}", 2),  # the 1/m missing
    (r"dZ^{[3]} = Y - \hat{Y}", 3),  # sign
    (r"d{{W}^{[l]}}=\frac{1}{m}d{{Z}^{[l]}}\cdot {{A}^{[l]T}}", 2),  # wrong layer
]


@pytest.mark.parametrize("text,layer", WRONG)
def test_textbook_notation_mistakes_are_not_correct(text, layer):
    v = check(text, NET, layer=layer)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    try:
        assert not agrees(text, NET, layer)
    except Exception:  # noqa: BLE001 - a shape clash: the oracle cannot even compare
        pass


def test_example_index_in_parentheses_is_not_a_layer():
    v = check(r"dW^{(1)} = dZ^{(i)} X^T", NET)
    assert v.verdict in ("parse_error", "shape_error")
    assert "(i)" in v.message or "\\sum" in v.message


D1 = r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot "
CHAINS = [  # (chain, each link as its own equation for the oracle, right?)
    (r"dZ^{[3]} = \frac{\partial \mathcal{L}}{\partial Z^{[3]}} = A^{[3]} - Y",
     ["dZ3 = A3 - Y"], True),
    (r"dZ^{[3]} = \frac{\partial \mathcal{L}}{\partial Z^{[3]}} = Y - A^{[3]}",
     ["dZ3 = Y - A3"], False),
    (r"dZ^{[3]} = \frac{\partial \mathcal{L}}{\partial A^{[3]}} = A^{[3]} - Y",
     ["dZ3 = dA3", "dZ3 = A3 - Y"], False),
    (r"\frac{dL}{dW^{[2]}} &= \frac{dL}{dZ^{[2]}} \frac{dZ^{[2]}}{dW^{[2]}} \\ "
     r"&= \frac{1}{m} dZ^{[2]} A^{[1]T} \\", ["dW2 = 1/m * dZ2 @ A1.T"], True),
    (r"\frac{dL}{dW^{[2]}} &= \frac{dL}{dZ^{[2]}} \frac{dZ^{[2]}}{dW^{[2]}} \\ "
     r"&= \frac{1}{m} dZ^{[2]} A^{[1]} \\", [], False),  # (3×m)(3×m): no value at all
    (D1 + r"s, \text{where } s = 1 - (A^{[1]})^2", ["dZ1 = W2.T @ dZ2 * (1 - A1**2)"], True),
    (D1 + r"s, \text{where } s = 1 - A^{[1]}", ["dZ1 = W2.T @ dZ2 * (1 - A1)"], False),
    (r"dW^{[1]} := \frac{1}{m} dZ^{[1]} X^T", ["dW1 = 1/m * dZ1 @ X.T"], True),
    # the Deep Learning book's algorithm 6.4: the running gradient g assigned with ←
    (r"\Vg \leftarrow \nabla_{\Va^{(2)}} J = \Vg \odot f'(\Va^{(2)})", ["dZ2 = dA2 * g2'(Z2)"],
     True),
    (r"\Vg \leftarrow \nabla_{\Vh^{(1)}} J = \MW^{(2)\top} \Vg", ["dA1 = W2.T @ dZ2"], True),
    (r"\Vg \leftarrow \nabla_{\Vh^{(1)}} J = \MW^{(2)} \Vg", [], False),  # (5×3)(5×m)
    # d2l's sum of two prod(·,·) terms: a definition
    (r"\frac{\partial J}{\partial \mathbf{W}^{(3)}} = \text{prod}\left(\frac{\partial J}"
     r"{\partial \mathbf{o}}, \frac{\partial \mathbf{o}}{\partial \mathbf{W}^{(3)}}\right) + "
     r"\text{prod}\left(\frac{\partial J}{\partial s}, \frac{\partial s}{\partial "
     r"\mathbf{W}^{(3)}}\right) = \frac{1}{m} dZ^{[3]} A^{[2]T}", ["dW3 = 1/m * dZ3 @ A2.T"], True),
    (r"\frac{\partial J}{\partial \mathbf{W}^{(3)}} = \text{prod}\left(\frac{\partial J}"
     r"{\partial \mathbf{o}}, \frac{\partial \mathbf{o}}{\partial \mathbf{W}^{(3)}}\right) + "
     r"\text{prod}\left(\frac{\partial J}{\partial s}, \frac{\partial s}{\partial "
     r"\mathbf{W}^{(3)}}\right) = dZ^{[3]} A^{[2]T}", ["dW3 = dZ3 @ A2.T"], False),
]


@pytest.mark.parametrize("text,oracle,right", CHAINS)
def test_chained_equalities_check_every_link(text, oracle, right):
    v = check(text, NET)
    assert (v.verdict == "correct") is right, v.message
    if not right and len(oracle) != 1:
        assert v.message.startswith("link ")
    assert (bool(oracle) and all(agrees(eq, NET, 1) for eq in oracle)) is right


def test_a_wrong_link_is_named_and_a_definition_must_name_the_same_gradient():
    v = check(r"dZ^{[3]} = \frac{\partial L}{\partial Z^{[2]}} = A^{[3]} - Y", NET)
    assert v.verdict in ("shape_error", "not_equivalent") and v.message.startswith("link 1")
    v = check(r"dZ^{[3]} = \frac{\partial L}{\partial Z^{[3]}} = A^{[3]} - Y", NET)
    assert "chain: link 1 (\\frac{\\partial L}{\\partial Z^{[3]}}) names dZ[3], the same " \
        "gradient" in v.notes


def test_a_chain_of_definitions_alone_names_one_gradient():
    v = check(r"\Vg \leftarrow \nabla_{\hat{\Vy}} J = \nabla_{\hat{\Vy}} L(\hat{\Vy},\Vy)",
              Network(layers=[4, 3, 2], scale="sum"))  # a generic loss: dA[2] is given
    assert (v.verdict, v.target) == ("correct", "dA[2]")
    assert v.message == "dA[2]: correct (every link of the chain names dA[2]; no link computes " \
        "its value)"
    assert r"chain: link 1 (\nabla_{\hat{\Vy}} L(\hat{\Vy},\Vy)) names dA[2], the same " \
        "gradient" in v.notes
    v = check(r"dA^{[3]} = \frac{\partial L}{\partial A^{[3]}} = \nabla_{Z^{[3]}} L", NET)
    assert v.verdict != "correct"  # the last link names dZ[3]


def test_a_python_comment_is_not_a_link_of_a_chain():
    # the shapes written in a comment (# [HxN] * [NxC] = [HxC]) hold an '=' of their own
    line = "dW3 = 1/m * np.dot(dZ3, A2.T)   # [n3 x m] * [m x n2] = [n3 x n2]"
    assert check(line, NET).verdict == "correct" and agrees(line.split("#")[0], NET, 1)
    wrong = "dW3 = np.dot(dZ3, A2.T)   # [n3 x m] * [m x n2] = [n3 x n2]"
    assert [m.code for m in check(wrong, NET).mistakes] == ["missing_scale"]


def test_a_times_one_minus_a_is_the_sigmoid_derivative_entry_by_entry():
    sig = Network(layers=[4, 3, 5, 2], activations=["sigmoid", "sigmoid", "sigmoid"], loss="bce")
    text = r"\boldsymbol{\delta}^{(2)} = (\mathbf{W}^{(3)})^T \delta^{(3)} \odot a_2(1-a_2)"
    v = check(text, sig)
    assert (v.verdict, v.target, v.conditions) == ("correct", "dZ[2]", ())
    assert "a_2(1-a_2) read as a function of a_2 entry by entry (a(1 − a) is the sigmoid's " \
        "derivative in terms of its output)" in v.notes
    assert agrees(text, sig, 2)
    assert check(text, NET).verdict == "not_equivalent"  # tanh: a(1 - a) is not its derivative
    assert check(text.replace("(1-a_2)", "(1-a_3)"), sig).verdict == "shape_error"


def test_ufldl_output_delta_with_the_cost_written_out_and_n_l_layers():
    # UFLDL: the output layer is n_l, the middle link differentiates the cost as written
    mse = Network(layers=[4, 3, 5, 2], activations=["tanh", "tanh", "sigmoid"], loss="half_mse",
                  scale="sum")
    head = (r"\delta_{i}^{(n_{l})} = \frac{\partial}{\partial z_{i}^{(n_{l})}} \frac{1}{2} "
            r"\left\|y - h_{W,b}(x)\right\|^{2} = ")
    right = r"-(y_{i} - a_{i}^{(n_{l})}) \centerdot f^{\prime}(z_{i}^{(n_{l})})"
    v = check(head + right, mse)
    assert (v.verdict, v.target) == ("correct", "dZ[3]"), v.message
    assert any("differentiates the cost as written, a definition: not evaluated" in n
               for n in v.notes)
    assert agrees(r"\delta^{(n_l)} = (a^{(n_l)} - y) \odot f'(z^{(n_l)})", mse, 3)
    assert check(head + right[1:], mse).verdict == "not_equivalent"  # the sign dropped
    v = check(r"dZ^{[3]} = \frac{\partial}{\partial Z^{[3]}} J = A^{[3]} - Y", NET)
    assert v.verdict == "correct" and "chain: link 1 (\\frac{\\partial}{\\partial Z^{[3]}} J) " \
        "names dZ[3], the same gradient" in v.notes


def test_a_factor_product_of_typod_fractions_is_a_definition_and_a_bare_prime_is_g_prime():
    # 3Blue1Brown's notation in a Q&A: \frac{Co}{dw_L} (the d of the numerator left out),
    # the chain-rule product of such fractions, then \sigma\prime written without ^
    one = Network(layers=[1, 1, 1], activations=["sigmoid", "sigmoid"], loss="mse", scale="sum")
    head = r"\frac{Co}{dw_L} = \frac{dz_L}{dw_L}\frac{da_L}{dz_L}\frac{Co}{da_L} = "
    v = check(head + r"a_{L-1} * \sigma\prime(z_L) * 2(a_L - y)", one)
    assert (v.verdict, v.target) == ("correct", "dW[2]"), v.message
    assert any("is a chain-rule product of derivatives, a definition" in n for n in v.notes)
    # the oracle (m examples): the same product, summed over them as a matrix product
    assert agrees(r"dW^{[2]} = (2 (A^{[2]} - Y) \odot \sigma'(Z^{[2]})) A^{[1]T}", one, 2)
    assert check(head + r"a_{L-1} * \sigma\prime(z_L) * (a_L - y)", one).verdict == \
        "not_equivalent"  # the 2 of the square dropped


def test_a_star_between_a_function_and_its_argument_is_the_application():
    two = Network(layers=[4, 3, 1], activations=["tanh", "sigmoid"], loss="bce")
    text = r"{\rm d}z^{[1]} = W^{[2]T}{\rm d}z^{[2]} * {g^{[1]}}^{'} * (z^{[1]})"
    v = check(text, two)
    assert (v.verdict, v.target) == ("correct", "dZ[1]"), v.message
    assert "the * between a function and its parenthesised argument (g' * (z)) read as the " \
        "application g'(z)" in v.notes
    assert agrees(text, two, 1)
    assert check(text.replace("{g^{[1]}}^{'}", "g^{[1]}"), two).verdict == "not_equivalent"


def test_every_factor_of_a_chain_rule_typed_without_its_d_is_a_definition():
    # the Q&A's own typing: every numerator's d left out (\frac{z_L}{dw_L}), not only the cost's
    one = Network(layers=[1, 1, 1], activations=["sigmoid", "sigmoid"], loss="mse", scale="sum")
    head = r"\frac{Co}{dw_L} = \frac{z_L}{dw_L} \frac{a_L}{dz_L} \frac{Co}{da_L} = "
    v = check(head + r"a_{L-1} * \sigma'(z_L) * 2*(a_L - y)", one)
    assert (v.verdict, v.target) == ("correct", "dW[2]"), v.message
    assert any("is a chain-rule product of derivatives, a definition" in n for n in v.notes)
    assert check(head + r"a_{L-1} * \sigma'(z_L) * 2*(y - a_L)", one).verdict == \
        "not_equivalent"  # the sign of the square's derivative flipped
    # a lone fraction of two quantities is still a division (read entry by entry), not ∂
    assert check(r"dZ^{[2]} = \frac{A^{[2]}}{A^{[2]}} - Y", one).verdict == "not_equivalent"


def test_underbraces_around_a_function_and_its_argument_are_transparent():
    two = Network(layers=[4, 3, 1], activations=["tanh", "sigmoid"], loss="bce")
    text = (r"dz^{[1]} = \underbrace{W^{[2]T} dz^{[2]}}_{(n^{[1]},m)} * "
            r"\underbrace{{g^{[1]}}^{'}}_{\text{the hidden layer's}} * "
            r"\underbrace{(z^{[1]})}_{(n^{[1]},m)}")
    v = check(text, two)
    assert (v.verdict, v.target) == ("correct", "dZ[1]"), v.message
    assert "\\underbrace's label left out: {g^{[1]}}^{'} read alone" in v.notes
    assert agrees(text, two, 1)
    assert check(text.replace("W^{[2]T}", "W^{[2]}"), two).verdict == "shape_error"
    # a group with a sum inside keeps its braces: (A - Y) W is not A - Y W
    grouped = r"dW^{[2]} = \underbrace{(A^{[2]} - Y)}_{dZ} A^{[1]T}"
    assert check(grouped, two.replace(scale="sum")).verdict == "correct"
    assert check(r"dW^{[2]} = \underbrace{A^{[2]} - Y}_{dZ} A^{[1]T}",
                 two.replace(scale="sum")).verdict == "correct"


def test_a_row_of_an_aligned_block_with_its_own_left_side_restates_the_gradient():
    one = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="half_mse",
                  scale="sum")
    rows = (r"\begin{aligned} \delta^L_k &= (a^L_k - y_k) \, \sigma'(z^L_k) \\ "
            r"\delta^L &= (a^L - y^L) \odot \sigma'(z^L) \end{aligned}")
    v = check(rows, one)
    assert (v.verdict, v.target) == ("correct", "dZ[2]"), v.message
    assert "chain: a new row's left side \\delta^L names dZ[2], the same gradient" in v.notes
    assert "y^L read as Y: the targets, written with the output layer's L" in v.notes
    assert agrees(r"\delta^L = (a^L - y^L) \odot \sigma'(z^L)", one, 2)
    wrong = check(rows.replace(r"(a^L - y^L) \odot", r"(y^L - a^L) \odot"), one)
    assert wrong.verdict == "not_equivalent" and wrong.message.startswith("link 3 of the chain")
    # a row about another gradient is another equation: said, not mixed into this chain
    other = check(rows.replace(r"\delta^L &=", r"\delta^{L-1} &="), one)
    assert other.verdict == "parse_error" and "names dZ[1], not the left side's" in other.message


def test_a_vector_written_as_the_tuple_of_its_entries_is_read_entry_by_entry():
    mse = Network(layers=[4, 3, 2], activations=["sigmoid", "sigmoid"], loss="mse", scale="sum")
    text = (r"\begin{align*} \delta^{(L)} &= (\delta^{(L)}_{1}, \delta^{(L)}_{2}, \ldots, "
            r"\delta^{(L)}_{n}) \\ &= (2(a_{1}^{(L)} - y_{1}) \sigma'(z_{1}^{(L)}), \ldots, "
            r"2(a_{n}^{(L)} - y_{n}) \sigma'(z_{n}^{(L)})) \\ "
            r"&= 2(a^{(L)} - y) \odot \sigma'(z^{(L)}) \end{align*}")
    v = check(text, mse)
    assert (v.verdict, v.target) == ("correct", "dZ[2]"), v.message
    assert "chain: link 1 (\\delta^{(L)}_{j}) names dZ[2], the same gradient" in v.notes
    assert any("writes the vector as the tuple of its entries: read as entry j, "
               "2(a_{j}^{(L)} - y_{j})" in n for n in v.notes)
    assert agrees(r"\delta^{(L)} = 2(a^{(L)} - y) \odot \sigma'(z^{(L)})", mse, 2)
    wrong = check(text.replace(r"(2(a_{1}^{(L)} - y_{1})", r"((a_{1}^{(L)} - y_{1})").replace(
        r"2(a_{n}^{(L)} - y_{n})", r"(a_{n}^{(L)} - y_{n})"), mse)
    assert wrong.verdict == "not_equivalent" and wrong.message.startswith("link 2 of the chain")
    # entries that are not one formula at their own index: not read as a tuple
    odd = check(text.replace(r"\delta^{(L)}_{2}", r"\delta^{(L)}_{3}"), mse)
    assert odd.verdict == "parse_error"
