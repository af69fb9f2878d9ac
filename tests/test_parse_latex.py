"""LaTeX formulas: parsed by our own parser, they evaluate to the engine's numbers.

The oracle is the engine's derivation evaluated on a random instance of the forward model
(derive.engine.values.gradient_values); a parsed right side must give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.core import expr as E
from derive.core.expr import NumpyBackend, evaluate
from derive.engine.backward import derive
from derive.engine.values import bind_m, gradient_values
from derive.errors import ParseError, ShapeMismatch
from derive.network.model import random_instance, standins
from derive.network.spec import Network
from derive.network.symbols import SymbolTable
from derive.parse import Equation, detect_syntax, parse_equation, parse_expression

NET = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
TANH = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
SIG = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="bce")
SOFT = Network(layers=[3, 4, 3], activations=["relu", "softmax"], loss="ce")
ROWS = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows")
DEEP = Network(layers=[3, 4, 5, 2], activations=["relu", "tanh", "sigmoid"], loss="bce")
GEN = Network(layers=[3, 4, 2], loss="mse")


def value(eq: Equation, net: Network, seed: int = 0):
    env = gradient_values(derive(net, prove=False), random_instance(net, seed=seed, m=5))
    got = evaluate(bind_m(eq.rhs, 5), env, NumpyBackend(standins(net)))
    return np.asarray(got, dtype=float), env[eq.target.key]


def agrees(eq: Equation, net: Network, seed: int = 0) -> bool:
    got, want = value(eq, net, seed)
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-10, atol=1e-12)


CORRECT = [
    # dZ, hidden layer
    (NET, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})"),
    (NET, r"dZ^{[1]} = (W^{[2]})^T dZ^{[2]} \circ g'(Z^{[1]})"),
    (NET, r"\frac{\partial L}{\partial Z^{[1]}} = \left(W^{[2]}\right)^{\top} "
          r"\frac{\partial L}{\partial Z^{[2]}} \odot \operatorname{ReLU}'(Z^{[1]})"),
    (NET, r"dZ_1 = W_2^T dZ_2 * \mathrm{relu}'(Z_1)"),
    (NET, r"dZ^{[1]} = W^{[2]\top} \cdot dZ^{[2]} \cdot \text{ReLU}'\left(Z^{[1]}\right)"),
    (NET, r"dZ^{[1]} = dA^{[1]} \ast g_1'(Z_1)"),
    (TANH, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot (1 - A^{[1]2})"),
    (TANH, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot \left(1 - (A^{[1]})^2\right)"),
    (TANH, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot (1 - \tanh^2(Z^{[1]}))"),
    (TANH, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot \tanh'(Z^{[1]})"),
    (SIG, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot A^{[1]} \odot (1 - A^{[1]})"),
    (SIG, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot \sigma'(Z_1)"),
    (SIG, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot \sigma(Z^{[1]}) \odot (1 - \sigma(Z^{[1]}))"),
    # dZ, output layer
    (NET, r"dZ^{[2]} = A^{[2]} - Y"),
    (NET, r"\frac{\partial \mathcal{L}}{\partial Z^{[2]}} = A^{[2]} - Y"),
    (NET, r"dZ^{[2]} = dA^{[2]} \odot \sigma^{\prime}(Z^{[2]})"),
    (NET, r"dZ^{[2]} = dA^{[2]} \odot \frac{1}{1 + e^{-Z^{[2]}}} \odot "
          r"\left(1 - \frac{1}{1 + \exp(-Z^{[2]})}\right)"),
    (SOFT, r"dZ^{[2]} = A^{[2]} - Y"),
    (SOFT, r"dZ_{2} = A_{2} - Y"),
    (SOFT, r"dZ^{[2]} = \mathrm{softmax}(Z^{[2]}) - Y"),  # softmax of its own Z: A[2] (issue 13)
    (SOFT, r"dZ^{[2]} = \operatorname{softmax}(Z^{[2]}) - Y"),
    (SOFT, r"dZ^{[2]} = g^{[2]}(Z^{[2]}) - Y"),
    # dW
    (NET, r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T"),
    (NET, r"dW^{[1]} = \frac{1}{m} dZ^{[1]} A^{[0]T}"),
    (NET, r"\partial J/\partial W^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]\top}"),
    (NET, r"dW_2 = \dfrac{1}{m}\, dZ_2 \, A_1^T"),
    (NET, r"dW^{[2]} = \frac{dZ^{[2]} A^{[1]T}}{m}"),
    (NET, r"dW^{[2]} = 1/m \; dZ^{[2]} (A^{[1]})^{T}"),
    (NET, r"dW^{[2]} = \frac{1}{m} dZ^{[2]} \cdot A^{[1]T}"),
    # db
    (NET, r"db^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dZ^{[1](i)}"),
    (NET, r"db^{[1]} = \frac{1}{m} dZ^{[1]} \mathbf{1}"),
    (NET, r"db^{[2]} = \frac{1}{m} \mathrm{np.sum}(dZ^{[2]}, axis=1, keepdims=True)"),
    (NET, r"db_2 = \frac{1}{m}\sum_i dZ_2^{(i)}"),
    # dA
    (NET, r"dA^{[1]} = W^{[2]T} dZ^{[2]}"),
    (NET, r"dA^{[1]} = (W^{[2]})^\top dZ^{[2]}"),
    (NET, r"\frac{\partial L}{\partial A^{[1]}} = W^{[2]T} \cdot dZ^{[2]}"),
    (NET, r"dA_1 = W_2^T \frac{\partial L}{\partial Z_2}"),
    # rows convention
    (ROWS, r"dZ^{[1]} = dZ^{[2]} W^{[2]T} \odot g^{[1]\prime}(Z^{[1]})"),
    (ROWS, r"dW^{[1]} = \frac{1}{m} X^T dZ^{[1]}"),
    (ROWS, r"db^{[1]} = \frac{1}{m} \mathbf{1}^T dZ^{[1]}"),
    (ROWS, r"db^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dZ^{[1](i)}"),
    (ROWS, r"db^{[1]} = \frac{1}{m} \operatorname{sum}(dZ^{[1]})"),
    (NET, r"db^{[1]} = \frac{1}{m} \operatorname{sum}(dZ^{[1]})"),
    (ROWS, r"dA^{[1]} = dZ^{[2]} W^{[2]T}"),
    # generic g[l]
    (GEN, r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})"),
    (GEN, r"dZ^{[2]} = dA^{[2]} \odot g'(Z^{[2]})"),
]


@pytest.mark.parametrize("net,text", CORRECT, ids=[t for _, t in CORRECT])
def test_correct_formula_evaluates_to_engine(net, text):
    eq = parse_equation(text, net)
    assert eq.syntax == "latex"
    assert agrees(eq, net), (str(eq.rhs), eq.notes)
    assert agrees(eq, net, seed=7)


def test_detection():
    assert detect_syntax(r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T") == "latex"
    assert detect_syntax("dW1 = 1/m * np.dot(dZ1, X.T)") == "text"
    assert detect_syntax(r"dA1 = W2ᵀ \cdot dZ2") == "text"  # \cdot alone: text reads it
    assert detect_syntax(r"db1 = \mathrm{np.sum}(dZ1, axis=1)") == "latex"
    eq = parse_equation(r"dA1 = W2ᵀ \cdot dZ2", NET, syntax="latex")
    assert eq.syntax == "latex" and agrees(eq, NET)


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_generic_layer(layer):
    eq = parse_equation(r"dW^{[l]} = \frac{1}{m} dZ^{[l]} A^{[l-1]T}", DEEP, layer=layer)
    assert eq.generic_layer and eq.target.key == ("dW", layer) and agrees(eq, DEEP)
    eq = parse_equation(r"dZ^{[L]} = A^{[L]} - Y", DEEP, layer=layer)
    assert eq.target.key == ("dZ", 3) and agrees(eq, DEEP)


def test_generic_hidden_layer_prime_after_index():
    for l in (1, 2):
        eq = parse_equation(r"dZ^{[l]} = W^{[l+1]T} dZ^{[l+1]} \odot g^{[l]\prime}(Z^{[l]})",
                            DEEP, layer=l)
        assert agrees(eq, DEEP)


def test_cdot_notes_and_frac_of_matrices():
    eq = parse_equation(r"dZ^{[1]} = W^{[2]T} \cdot dZ^{[2]} \cdot g'(Z^{[1]})", NET)
    assert any("matrix product" in n for n in eq.notes)
    assert any("element-wise" in n for n in eq.notes)
    e = parse_expression(r"\frac{A^{[1]}}{Z^{[1]}}", NET)
    assert isinstance(e, E.Div)


def test_seed_003_worked_example_lines():
    # shared/seeds/003: one example, squared error; \cdot by shapes, \text{sigmoid}'
    net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="mse")
    eq = parse_equation(r"\frac{dL}{dZ_2} = \frac{dL}{dA_2} \cdot \text{sigmoid}'(Z_2)", net)
    assert eq.target.key == ("dZ", 2) and agrees(eq, net)
    assert any("element-wise" in n for n in eq.notes)
    eq = parse_equation(r"\frac{dL}{dW_2} = dZ_2 \cdot A_1^T", net)  # no 1/m: one example
    got, want = value(eq, net)
    assert np.allclose(got, 5 * want)
    eq = parse_equation(r"\frac{dL}{dA_1} = W_2^T \cdot \frac{dL}{dZ_2}", net)
    assert agrees(eq, net)
    eq = parse_equation(r"\frac{dL}{dW_1} = \frac{dL}{dZ_1} \cdot X^T", net)
    assert eq.target.key == ("dW", 1)


def test_wrong_order_names_both_operands():
    generic = Network(depth=2)
    with pytest.raises(ShapeMismatch) as info:
        parse_equation(r"dZ^{[1]} = dZ^{[2]} W^{[2]T} \odot g^{[1]\prime}(Z^{[1]})", generic)
    assert (info.value.left, info.value.right) == ("dZ^{[2]}", "W^{[2]T}")
    assert "(n2×m)·(n1×n2)" in str(info.value)
    with pytest.raises(ShapeMismatch) as info:
        parse_equation(r"dW^{[1]} = \frac{1}{m} X^T dZ^{[1]}", NET)
    assert (info.value.left, info.value.right) == ("X^T", "dZ^{[1]}")
    with pytest.raises(ShapeMismatch):  # missing transpose
        parse_equation(r"dA^{[1]} = W^{[2]} dZ^{[2]}", NET)
    with pytest.raises(ShapeMismatch, match="element-wise"):  # ⊙ where a product is meant
        parse_equation(r"dA^{[1]} = W^{[2]T} \odot dZ^{[2]}", NET)


def test_well_shaped_mistakes_parse_with_other_values():
    eq = parse_equation(r"dW^{[1]} = dZ^{[1]} X^T", NET)  # missing 1/m
    got, want = value(eq, NET)
    assert np.allclose(got, 5 * want)
    eq = parse_equation(r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot A^{[1]}", NET)  # A for g'(Z)
    got, want = value(eq, NET)
    assert got.shape == want.shape and not np.allclose(got, want)
    eq = parse_equation(r"db^{[1]} = \frac{1}{m} \mathbf{1}^T dZ^{[1]}", Network(depth=2))
    assert eq.rhs.shape[0] == 1  # the wrong sum axis: 1×m, not n1×1


def test_src_as_written():
    eq = parse_equation(r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})", NET)
    assert eq.rhs.left.left.src == "W^{[2]T}" and eq.rhs.left.right.src == "dZ^{[2]}"
    assert eq.rhs.right.src == r"g^{[1]\prime}(Z^{[1]})"
    assert eq.rhs.src == r"W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})"


def test_numbers_and_decimal_commas():
    e = parse_expression(r"0,5 A^{[1]}", NET)
    assert isinstance(e, E.Scale) and e.factor == sp.Rational(1, 2)
    e = parse_expression(r"2(A^{[2]} - Y)", NET)
    assert e.factor == 2
    assert parse_expression(r"\frac{1}{2} \cdot 4 A_1", NET).factor == 2


def test_unknown_and_malformed_latex_errors():
    for text, where in [(r"dZ^{[1]} = \foo{Z}", 11), (r"dZ^{[1]} = W^{[2]T} dQ^{[2]}", 20),
                        (r"dZ^{[1]} = \frac{1}", 17), (r"dZ^{[1]} = A^{[1]^{[2]}}", 17)]:
        with pytest.raises(ParseError) as info:
            parse_equation(text, NET)
        assert info.value.position is not None and abs(info.value.position - where) <= 6, \
            (text, info.value.position, str(info.value))


def test_target_symbols():
    t = SymbolTable(NET)
    for text, key in [(r"dZ^{[1]} = A_1", ("dZ", 1)), (r"dZ_{1} = A_1", ("dZ", 1)),
                      (r"\frac{\partial J}{\partial b^{[2]}} = dZ^{[2]} \mathbf{1}", ("db", 2)),
                      (r"\partial L / \partial A^{[1]} = A_1", ("dA", 1))]:
        assert parse_equation(text, NET).target == t[key], text


def test_softmax_of_another_layers_z_is_refused():
    with pytest.raises(ParseError, match="not element-wise"):
        parse_equation(r"dZ^{[2]} = \mathrm{softmax}(Z^{[1]}) - Y", SOFT)
    eq = parse_equation(r"dZ^{[2]} = \mathrm{softmax}(Z^{[2]}) - Y", SOFT)
    assert r"\mathrm{softmax}(Z^{[2]}) read as A[2] (layer 2's activation is softmax)" in eq.notes


@pytest.mark.parametrize("text,construct,nearest", [
    (r"dW^{[1]} = dZ^{[1]} \otimes X", r"\otimes", "u v^T"),
    (r"dZ^{[1]} = \prod_k W^{[k]}", r"\prod", r"\delta^l = ((w^{l+1})^T \delta^{l+1})"),
    (r"dW^{[1]} = \int dZ^{[1]}", r"\int", r"\frac{\partial L}{\partial W^{[1]}}"),
])
def test_unsupported_command_names_itself_and_the_nearest_form(text, construct, nearest):
    with pytest.raises(ParseError) as info:
        parse_equation(text, NET)
    assert f"the LaTeX command {construct} is not read" in str(info.value)
    assert nearest in str(info.value)
