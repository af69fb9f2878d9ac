"""Index form and per-example sums in LaTeX (issue 13, items 3 and 4): a formula about one
entry (∂C/∂w^l_{jk} = a^{l-1}_k δ^l_j) and a sum over the examples (Σ_i dZ^{(i)} x^{(i)T}) are
read as the vectorised formula they state, and the ordinary checker judges that.

Every formula is our own (none copied from the corpus). A correct one is also evaluated
(derive's reading, numpy) and compared with autograd's gradient (tests/oracle.py, through
tests/test_parse_textbook.agrees); a wrong one has a planted mistake and must not be correct.
"""

from __future__ import annotations

import re

import pytest

from derive.check.checker import check
from derive.network.spec import Network
from derive.parse import ParseError, parse_equation
from tests.test_parse_textbook import agrees

NET = Network(layers=[4, 3, 5, 2], activations=["tanh", "tanh", "sigmoid"], loss="bce")
ONE = NET.replace(scale="sum")  # one example's cost C, summed over the examples

CORRECT = [  # (formula, network, layer, what the note must say)
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", ONE, 2, "entry by entry"),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", NET, 2, "1/m"),
    (r"\frac{\partial C}{\partial w^l_{jk}} = \delta^l_j a^{l-1}_k", NET, 3, "entry by entry"),
    (r"\frac{\partial C}{\partial b^l_j} = \delta^l_j", ONE, 1, "summed over the examples"),
    (r"\frac{\partial C}{\partial b^l_j} = \delta^l_j", NET, 2, "1/m"),
    (r"\delta^L_j = \frac{\partial C}{\partial a^L_j} g'(z^L_j)", ONE, 3, "entry by entry"),
    (r"\delta^l_j = \sum_k w^{l+1}_{kj} \delta^{l+1}_k g'(z^l_j)", ONE, 1, "units of index k"),
    (r"\frac{\partial C}{\partial z^l_j} = g'(z^l_j) \sum_{k=1}^{n} \delta^{l+1}_k w^{l+1}_{k,j}",
     ONE, 2, "units of index k"),
    (r"\frac{\partial C}{\partial a^L_j} = -\frac{y_j}{a^L_j} + \frac{1 - y_j}{1 - a^L_j}", ONE,
     3, "entry by entry"),
    # UFLDL's count (the input is layer 1) in index form
    (r"\frac{\partial}{\partial W_{ij}^{(l)}} J(W,b;x,y) = a_{j}^{(l)} \delta_{i}^{(l+1)}", ONE, 2,
     "from the input"),
    # an entry's left side, the whole gradient's formula on the right
    (r"\delta^l_j = \left[ (w^{l+1})^T \delta^{l+1} \right] \odot g'(z^l)", ONE, 1,
     "no entry's index"),
    # sums over the examples
    (r"dW^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dZ^{[1](i)} x^{(i)T}", NET, 1, "matrix product"),
    (r"\frac{\partial J}{\partial W^{[2]}} = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial "
     r"\mathcal{L}_i}{\partial W^{[2]}}", NET, 2, "summed over the examples"),
    (r"db^{[2]} = \frac{1}{m} \sum_{i=1}^{m} \frac{\partial}{\partial b^{[2]}} "
     r"J(W,b;x^{(i)},y^{(i)})", NET, 2, "summed over the examples"),
    (r"\frac{\partial C}{\partial W^{[3]}} = \frac{1}{n} \sum_{x} \frac{\partial C_x}"
     r"{\partial W^{[3]}}", NET, 3, "number of examples"),
    # w_k with one index: any weight (a flat index over all of them), on both sides
    (r"\frac{\partial C}{\partial w_k} = \frac{1}{n} \sum_{\forall x} \frac{\partial C_x}"
     r"{\partial w_k}", NET, 2, "any weight"),
]


@pytest.mark.parametrize("text,net,layer,note", CORRECT)
def test_entries_and_example_sums_are_read_and_agree_with_autograd(text, net, layer, note):
    v = check(text, net, layer=layer)
    assert v.verdict == "correct", v.message
    assert any(note in n for n in v.notes), v.notes
    assert agrees(text, net, layer)


WRONG = [  # planted mistakes in the same notations
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k", ONE, 2),  # indices swapped
    (r"\frac{\partial C}{\partial a^L_k} = a^L_i - y_i", ONE, 3),  # another index on the right
    (r"\delta^l_j = \sum_k w^{l+1}_{jk} \delta^{l+1}_k g'(z^l_j)", ONE, 1),  # w's order
    (r"\frac{\partial C}{\partial b^l_j} = \sum_j \delta^l_j", ONE, 2),  # sums the free index
    (r"\delta^L_j = \frac{\partial C}{\partial a^L_j} g(z^L_j)", ONE, 3),  # g for g′
    (r"dW^{[1]} = \sum_{i=1}^{m} dZ^{[1](i)} x^{(i)T}", NET, 1),  # the 1/m missing
    (r"dW^{[1]} = \frac{1}{m} \sum_{i=1}^{m} x^{(i)} dZ^{[1](i)T}", NET, 1),  # transposed
    (r"\frac{\partial C}{\partial w_k} = \sum_{\forall x} \frac{\partial C_x}{\partial w_k}",
     NET, 2),  # the mean's 1/n missing
]


@pytest.mark.parametrize("text,net,layer", WRONG)
def test_entry_and_example_sum_mistakes_are_not_correct(text, net, layer):
    v = check(text, net, layer=layer)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    try:
        assert not agrees(text, net, layer)
    except Exception:  # noqa: BLE001 - a shape clash: the oracle cannot even compare
        pass


def test_indices_that_differ_between_the_sides_name_both():
    v = check(r"\frac{\partial C}{\partial a^L_k} = a^L_i - y_i", ONE, layer=3)
    assert v.verdict == "shape_error"
    assert "(k)" in v.message and "(i)" in v.message


def test_a_numbered_entry_is_read_for_every_entry_by_the_sizes_of_its_layers():
    text = r"\frac{\partial C}{\partial w^2_{11}} = a^1_1 \delta^2_1"
    v = check(text, ONE)
    assert v.verdict == "correct", v.message
    said = [*v.notes, *getattr(v, "conditions", ())]
    assert any("holds for every entry" in n for n in said), said
    assert agrees(text, ONE, 2)
    wrong = check(r"\frac{\partial C}{\partial w^2_{11}} = a^1_1 a^2_1", ONE)  # a for δ
    assert wrong.verdict == "not_equivalent", wrong.message
    with pytest.raises(ParseError, match="same size"):
        parse_equation(r"\frac{\partial C}{\partial w^2_{11}} = a^1_1 \delta^2_1",
                       Network(layers=[3, 3, 3], scale="sum"))


@pytest.mark.parametrize("text,construct", [
    (r"\frac{\partial C}{\partial a^2_{1}} = w^3_{11} \delta^3_1", "numbered entries are read on a"),
    (r"dW^{[1]} = \delta^{[1]}_j a_k", "is an entry (index form)"),
])
def test_unsupported_index_forms_name_the_construct_and_the_nearest_form(text, construct):
    with pytest.raises(ParseError, match=re.escape(construct)) as info:
        parse_equation(text, ONE)
    assert "vectorised formula" in info.value.message


def test_a_sum_limit_off_by_a_bias_unit_is_a_shape_error():
    right = r"\delta_{i}^{(2)}=\bigg(\sum_{j=1}^{s_{3}}W_{ji}^{(2)}\delta_{j}^{(3)}\bigg)f'(z_{i}^{(2)})"
    assert check(right, ONE, layer=1).verdict == "correct"
    wrong = right.replace("s_{3}", "s_{2}+1")
    v = check(wrong, ONE, layer=1)
    assert v.verdict == "shape_error" and "bias unit" in v.message, v.message
