"""Textbooks' own symbols and layer counts (issue 13): Ng's Θ, Δ and D, layers counted from the
input, Nielsen's Σ′(z), the Deep Learning book's \\Vg and Ω, d2l's φ, h and o, one-neuron
networks.

Every formula is our own, written in each notation for a network of this file (none is copied
from the corpus). A correct one is also evaluated (derive's reading, numpy) and compared with
autograd's gradient (tests/oracle.py, through tests/test_parse_textbook.agrees); a wrong one
carries a planted mistake and must not be called correct.
"""

from __future__ import annotations

import pytest

from derive.check.checker import check
from derive.network.spec import Network
from derive.parse import ParseError, parse_equation
from tests.test_parse_textbook import agrees

NET = Network(layers=[4, 3, 5, 2], activations=["tanh", "tanh", "sigmoid"], loss="bce")
ONE = NET.replace(scale="sum")
ROWS = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce", convention="rows")
ROWS_SUM = Network(layers=[4, 3, 2], activations=["sigmoid", "sigmoid"], loss="half_mse",
                   convention="rows", scale="sum")
SMALL = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce", scale="sum")

CORRECT = [  # (formula, network, layer it is about, what a note must say)
    # Ng's course: the input is layer 1, Θ^{(l)} maps layer l to l + 1
    (r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} \ast g'(z^{(2)})", NET, 1, "from the input"),
    (r"\delta^{(4)} = a^{(4)} - y", NET, 3, "from the input"),
    (r"D^{(2)} = \frac{1}{m} \Delta^{(2)}", NET, 2, "accumulator"),
    # Welch (rows): a^{(2)} is the hidden layer, δ^{(3)} the output's error
    (r"\frac{\partial J}{\partial W^{(2)}} = (a^{(2)})^T \delta^{(3)}", ROWS_SUM, 2, "input"),
    (r"\delta^{(2)} = \delta^{(3)} (W^{(2)})^T \odot f^\prime(z^{(2)})", ROWS_SUM, 1, "input"),
    # WildML (rows): only δ counts from the input
    (r"\delta_3 = \hat{y} - y", ROWS, 2, "δ counted from the input"),
    (r"\delta_2 = (1 - \tanh^2 z_1) \circ \delta_3 W_2^T", ROWS, 1, "δ counted"),
    # UFLDL: \bullet, f', cost arguments with ';'
    (r"\delta^{(2)}=\big((W^{(2)})^{T}\delta^{(3)}\big)\bullet f'(z^{(2)})", ONE, 1, "input"),
    (r"\nabla_{W^{(2)}}J(W,b;x,y) = \delta^{(3)}\big(a^{(2)}\big)^{T}", ONE, 2, "input"),
    # Nielsen's Σ′(z) = diag(σ′(z))
    (r"\delta^l = \Sigma'(z^l) (w^{l+1})^T \delta^{l+1}", ONE, 2, "diag"),
    (r"\delta^L = \Sigma'(z^L) \nabla_a C", ONE, 3, "diag"),
    # the Deep Learning book (algorithm 6.4): \Vg is the step before's gradient, k a layer
    (r"\nabla_{\MW^{(k)}} J = \Vg \; \Vh^{(k-1)\top}", SMALL, 2, "running gradient"),
    (r"\nabla_{\Vh^{(k-1)}} J = \MW^{(k)\top} \; \Vg", SMALL, 2, "running gradient"),
    (r"\nabla_{\Va^{(k)}} J = \Vg \odot f'(\Va^{(k)})", SMALL, 1, "running gradient"),
    # d2l: φ the activation, h the hidden layer, o the output's pre-activation
    (r"\frac{\partial J}{\partial \mathbf{h}} = {\mathbf{W}^{(2)}}^\top "
     r"\frac{\partial J}{\partial \mathbf{o}}", SMALL, 1, "hidden layer"),
    (r"\frac{\partial J}{\partial \mathbf{z}} = \frac{\partial J}{\partial \mathbf{h}} \odot "
     r"\phi'\left(\mathbf{z}\right)", SMALL, 1, "activation g"),
    # the course's notes: a period for the product, g[1]' in plain brackets
    (r"d{{A}^{[l-1]}}={{W}^{\left[ l \right]T}}.d{{Z}^{[l]}}", NET, 2, "matrix product"),
    (r"dz^{[1]} = W^{[2]T}dz^{[2]} * g[1]^{'}(z^{[1]})", ONE, 1, ""),
]


@pytest.mark.parametrize("text,net,layer,note", CORRECT)
def test_textbook_symbols_are_read_and_agree_with_autograd(text, net, layer, note):
    v = check(text, net, layer=layer)
    assert v.verdict == "correct", v.message
    assert any(note in n for n in v.notes), v.notes
    assert agrees(text, net, layer)


WRONG = [  # planted mistakes in the same notations
    (r"\delta^{(2)} = \Theta^{(2)} \delta^{(3)} \ast g'(z^{(2)})", NET, 1),  # no transpose
    (r"D^{(2)} = \Delta^{(2)}", NET, 2),  # the 1/m missing
    (r"\frac{\partial J}{\partial W^{(2)}} = \delta^{(3)} (a^{(2)})^T", ROWS_SUM, 2),  # order
    (r"\delta_3 = y - \hat{y}", ROWS, 2),  # sign
    (r"\delta_2 = (1 - \tanh^2 z_2) \circ \delta_3 W_2^T", ROWS, 1),  # z_2 for z_1
    (r"\delta^l = \Sigma'(z^{l+1}) (w^{l+1})^T \delta^{l+1}", ONE, 2),  # wrong layer in Σ′
    (r"\nabla_{\MW^{(k)}} J = \Vh^{(k-1)} \; \Vg^\top", SMALL, 2),  # transposed
]


@pytest.mark.parametrize("text,net,layer", WRONG)
def test_textbook_symbol_mistakes_are_not_correct(text, net, layer):
    v = check(text, net, layer=layer)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    try:
        assert not agrees(text, net, layer)
    except Exception:  # noqa: BLE001 - a shape clash: the oracle cannot even compare
        pass


def test_the_course_brackets_are_never_renumbered():
    # a wrong layer in the course's notation stays wrong (no count from the input is tried)
    v = check(r"dZ^{[2]} = W^{[2]T} dZ^{[3]} \odot g^{[2]\prime}(Z^{[2]})", NET)
    assert v.verdict == "shape_error"
    assert not any("from the input" in n for n in v.notes)


def test_one_neuron_networks_multiply_side_by_side_entry_by_entry():
    net = Network(layers=[1, 1, 1], activations=["sigmoid", "sigmoid"], loss="mse", scale="sum")
    text = r"\frac{\partial C}{\partial z^{(L)}} = 2 (a^{(L)} - y) \sigma'(z^{(L)})"
    v = check(text, net)
    assert v.verdict == "correct", v.message
    said = [*v.notes, *getattr(v, "conditions", ())]  # a condition note, or the condition
    assert any("only when every layer has one neuron" in n for n in said), said


def test_bias_penalty_is_zero_and_the_weights_penalty_is_w():
    net = SMALL.replace(l2=True, l2_form="half")
    v = check(r"\nabla_{\MW^{(k)}} J = \Vg \; \Vh^{(k-1)\top} + \lambda \nabla_{\MW^{(k)}} "
              r"\Omega(\theta)", net, layer=2)
    assert v.verdict == "correct", v.message
    v = check(r"\nabla_{\Vb^{(k)}} J = \Vg + \lambda \nabla_{\Vb^{(k)}} \Omega(\theta)", SMALL,
              layer=2)
    assert v.verdict == "correct", v.message


def test_unsupported_textbook_symbols_name_the_construct():
    with pytest.raises(ParseError, match=r"Σ′\(z\) = diag"):
        parse_equation(r"\delta^L = \Sigma \nabla_a C", ONE)
    with pytest.raises(ParseError, match="running gradient"):
        parse_equation(r"\nabla_{\hat{\Vy}} J = \Vg", ONE)


def test_the_old_font_switch_in_braces_is_the_letters_alone():
    text = r"dz^{[1]} = W^{[2]T}{\rm d}z^{[2]} * g^{[1]\prime}(z^{[1]})"
    assert check(text, SMALL).verdict == "correct"
    assert agrees(text, SMALL, 1)


def test_a_derivative_whose_numerator_lost_its_d_is_the_costs():
    text = r"\frac{Co}{dw^{[2]}} = \frac{1}{m} dZ^{[2]} A^{[1]T}"  # a Q&A's ∂Co/∂w, typed so
    v = check(text, NET)
    assert v.verdict == "correct", v.message
    assert any("d is missing" in n for n in v.notes)
    assert agrees(text, NET, 2)


LOGREG = Network(layers=[4, 1], activations=["sigmoid"], loss="bce", scale="sum")
SOFTREG = Network(layers=[4, 3], activations=["softmax"], loss="ce", scale="sum")


def test_logistic_regressions_column_w_is_w_transposed_and_its_gradient_too():
    # z = wᵀx (no bias): w is W[1]ᵀ, ∂L/∂w is dW[1]ᵀ, σ(wᵀx_i) is A[1] when b[1] = 0
    text = r"\frac{\partial J(w)}{\partial w} = \sum_{i=1}^{m} x_i (\sigma(w^T x_i) - y_i)"
    v = check(text, LOGREG)
    assert (v.verdict, v.target) == ("correct", "dW[1]"), v.message
    assert v.conditions == ("only when layer 1 has no bias (b[1] = 0): the formula writes "
                            "w^T x_i for Z[1]",)
    assert any("is dW[1]ᵀ: checked as dW[1] = (right side)ᵀ" in n for n in v.notes)
    assert agrees(text, LOGREG, 1)
    assert check(text.replace(r"(\sigma(w^T x_i) - y_i)", r"(y_i - \sigma(w^T x_i))"),
                 LOGREG).verdict == "not_equivalent"
    # softmax regression: φ(wᵀx_i) is the softmax layer's A[1] (w is n0 × K)
    soft = r"\frac{\partial \mathcal{L}(w)}{\partial w} = \sum_{i=1}^n x_i [\phi(w^T x_i) - y_i]^T"
    v = check(soft, SOFTREG)
    assert v.verdict == "correct" and v.conditions, v.message
    # (no oracle here: tests' random Y is not one-hot, which softmax's A − Y needs)
    assert check(soft.replace("^T", "", 1).replace("]^T", "]"), SOFTREG).verdict in (
        "shape_error", "not_equivalent")
    # an upper-case W is the course's matrix: no column reading
    assert check(r"dW^{[1]} = (A^{[1]} - Y) X^T", SOFTREG).verdict == "correct"


def test_a_gradient_carried_through_jacobians_is_the_vector_jacobian_product():
    # Welch's (rows, J = Σ ½(y − ŷ)²): ∂J/∂W = −(y − ŷ) ∂ŷ/∂W, the Jacobian applied to the
    # gradient on its left, one Jacobian or a chain of them
    one = r"\frac{\partial J}{\partial W^{(1)}} = -(y-\hat{y}) \frac{\partial \hat{y}}{\partial W^{(1)}}"
    chain = (r"\frac{\partial J}{\partial W^{(1)}} = (\hat{y}-y) \frac{\partial \hat{y}}"
             r"{\partial z^{(3)}} \frac{\partial z^{(3)}}{\partial W^{(1)}}")
    for text in (one, chain):
        v = check(text, ROWS_SUM)
        assert (v.verdict, v.target) == ("correct", "dW[1]"), (text, v.message)
        assert any("(a vector-Jacobian product)" in n for n in v.notes)
        assert agrees(text, ROWS_SUM, 1)
    wrong = check(one.replace("= -(y", "= (y"), ROWS_SUM)  # Welch's own first line
    assert wrong.verdict == "not_equivalent" and "sign_error" in [m.code for m in wrong.mistakes], wrong.message
    # the columns convention, to a bias and to the layer below
    assert check(r"db^{[1]} = dZ^{[1]} \frac{\partial Z^{[1]}}{\partial b^{[1]}}",
                 NET.replace(scale="sum")).verdict == "correct"
    v = check(r"dA^{[1]} = dZ^{[2]} \frac{\partial Z^{[2]}}{\partial A^{[1]}}", NET)
    assert v.verdict == "correct" and agrees(
        r"dA^{[1]} = dZ^{[2]} \frac{\partial Z^{[2]}}{\partial A^{[1]}}", NET, 1), v.message
    # factors that do not link, a Jacobian with nothing to carry, a gradient of another shape
    broken = check(r"dW^{[1]} = dA^{[3]} \frac{\partial A^{[3]}}{\partial Z^{[3]}} "
                   r"\frac{\partial A^{[2]}}{\partial W^{[1]}}", NET)
    assert broken.verdict == "parse_error" and "do not link" in broken.message
    alone = check(r"dW^{[1]} = \frac{\partial Z^{[1]}}{\partial W^{[1]}}", NET)
    assert alone.verdict == "parse_error" and "Jacobian" in alone.message
    other = check(r"dA^{[1]} = A^{[1]} \frac{\partial Z^{[2]}}{\partial A^{[1]}}", NET)
    assert other.verdict == "parse_error" and "carries a gradient at Z[2]" in other.message


DEEP = Network(layers=[4, 3, 5, 3, 2], activations=["sigmoid"] * 4, loss="bce", scale="sum")


def test_a_product_unrolled_with_an_ellipsis_is_the_pattern_at_every_layer_between():
    text = (r"\delta^l = \Sigma'(z^l) (w^{l+1})^T \cdots \Sigma'(z^{L-1}) (w^L)^T "
            r"\Sigma'(z^L) \nabla_a C")
    v = check(text, DEEP)
    assert (v.verdict, v.target) == ("correct", "dZ[l]"), v.message
    assert "checked at l = 1, 2, 3" in v.notes
    for layer in (1, 2, 3):  # l = 1: three factors of the pattern, l = 3: one
        assert agrees(text, DEEP, layer)
    eq = parse_equation(text, DEEP, layer=1)
    assert any("repeated at every layer up to the same factors after it (3 times)" in n
               for n in eq.notes)
    assert check(text.replace("(w^{l+1})^T", "(w^{l+1})").replace("(w^L)^T", "(w^L)"),
                 DEEP).verdict != "correct"
    # dots between factors that are not one pattern at two layers: refused, saying so
    v = check(r"\delta^l = (w^{l+1})^T \ldots \nabla_a C", DEEP)
    assert v.verdict == "parse_error" and "between the same factors at two layers" in v.message


def test_a_bias_folded_into_the_weights_is_checked_as_its_row_and_the_weights():
    # the bias trick (rows): z = [1 H] W̃ with W̃ = [b; W], so ∂L/∂W̃ = [1 H]ᵀ dZ = [𝟙ᵀ dZ; Hᵀ dZ]
    rows = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce",
                   convention="rows", scale="sum")
    text = r"\frac{\partial L}{\partial W_2} = [1\ H_1]^T (\hat{y} - y)"
    v = check(text, rows)
    assert (v.verdict, v.target) == ("correct", "dW[2]"), v.message
    assert any("the bias folded into the weights as their first row" in n for n in v.notes)
    assert agrees(r"dW^{[2]} = (H_1)^T (\hat{y} - y)", rows, 2)
    assert agrees(r"db^{[2]} = \mathbf{1}^T (\hat{y} - y)", rows, 2)
    wrong = check(text.replace(r"(\hat{y} - y)", r"(y - \hat{y})"), rows)
    assert wrong.verdict == "not_equivalent"
    assert check(text.replace("H_1", "H_0"), rows).verdict != "correct"  # the wrong layer
