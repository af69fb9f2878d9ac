"""Explicit bindings (issue 12, item 4): an autograder's own variable names mapped to the
network's quantities, as quantities in the course's notation or as expressions of earlier lines.

What a bound formula means is fixed here by hand (``dL_dh1 = np.dot(w2.T, dL_dz2)`` with
dL_dh1 → dA[1], w2 → W[2], dL_dz2 → dZ[2] is dA[1] = W[2]ᵀ dZ[2]); every formula called correct
is also evaluated (derive's reading, numpy) on an instance drawn in tests/test_unindexed.py and
compared with the true gradient from autograd (tests/oracle.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from derive.check.checker import check
from derive.core.expr import NumpyBackend, evaluate
from derive.engine.values import bind_m
from derive.errors import ParseError, ShapeMismatch
from derive.network.model import standins
from derive.network.spec import Network
from derive.parse import parse_equation, parse_expression
from tests.test_unindexed import DEEP, LOGREG, TWO, M, instance

SIG = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="bce")


def agrees(text: str, net: Network, names, layer: int | None = None) -> bool:
    """derive's reading of the bound formula, evaluated here, equals autograd's gradient."""
    try:
        eq = parse_equation(text, net, layer=layer, names=names)
    except ShapeMismatch:
        return False
    values = instance(net)
    got = np.asarray(evaluate(bind_m(eq.rhs, M), values, NumpyBackend(standins(net))), float)
    want = values[eq.target.key]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


CORRECT = [  # (formula, bindings, network): right by the course's definitions
    ("dL_dh1 = np.dot(w2.T, dL_dz2)", {"dL_dh1": "dA[1]", "w2": "W[2]", "dL_dz2": "dZ[2]"}, TWO),
    ("grad_w2 = 1/m * np.dot(grad_z2, h_relu.T)",
     {"grad_w2": "dW[2]", "grad_z2": "dZ[2]", "h_relu": "A[1]"}, TWO),
    ("grad_h = grad_a * (h > 0)", {"grad_h": "dZ[1]", "grad_a": "dA[1]", "h": "Z[1]"}, TWO),
    ("g = dA1 * (1 - np.power(t, 2))", {"g": "dZ[1]", "t": "A[1]"},
     Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")),
    ("delta2 = out - target", {"delta2": "dZ[2]", "out": "A[2]", "target": "Y"}, TWO),
    ("dW = 1/N * np.dot(dZ, inp.T)", {"N": "m", "inp": "A[1]"}, TWO),  # at layer 2
    ("db1 = np.sum(dz, axis=1, keepdims=True) / batch", {"dz": "dZ[1]", "batch": "m"}, TWO),
    # a column w (logistic regression): w is W[1]ᵀ, so dw = (1/m) X dZᵀ is dW[1]ᵀ
    ("dw = 1/m * np.dot(X, dz.T)", {"dw": "dW[1].T", "dz": "dZ[1]"}, LOGREG),
    (r"dW^{[1]} = \frac{1}{m} delta X^T", {"delta": "dZ[1]"}, TWO),  # LaTeX
]


@pytest.mark.parametrize("text,names,net", CORRECT, ids=[c[0] for c in CORRECT])
def test_bound_formulas_are_correct_and_agree_with_autograd(text, names, net):
    layer = 2 if text.startswith("dW = ") else None
    assert agrees(text, net, names, layer=layer)
    v = check(text, net, names=names)
    assert v.verdict == "correct", v.message
    said = next(n for n in v.notes if n.startswith("bound names: "))
    for ident, value in names.items():
        if ident in text:
            assert f"{ident} as {value}" in said


WRONG = [  # (formula, bindings, network, the mistake a student makes)
    ("dL_dh1 = np.dot(dL_dz2, w2.T)", {"dL_dh1": "dA[1]", "w2": "W[2]", "dL_dz2": "dZ[2]"}, TWO,
     "wrong_order"),
    ("grad_w2 = np.dot(grad_z2, h_relu.T)",
     {"grad_w2": "dW[2]", "grad_z2": "dZ[2]", "h_relu": "A[1]"}, TWO, "missing_scale"),
    ("grad_h = grad_a * h", {"grad_h": "dZ[1]", "grad_a": "dA[1]", "h": "A[1]"}, TWO,
     "activation_instead_of_derivative"),
    ("delta2 = target - out", {"delta2": "dZ[2]", "out": "A[2]", "target": "Y"}, TWO,
     "sign_error"),
    ("dw = 1/m * np.dot(dz, X.T)", {"dw": "dW[1].T", "dz": "dZ[1]"}, LOGREG, "wrong_order"),
]


@pytest.mark.parametrize("text,names,net,code", WRONG, ids=[w[0] for w in WRONG])
def test_bound_mistakes_are_named(text, names, net, code):
    assert not agrees(text, net, names)  # wrong by the oracle too
    v = check(text, net, names=names)
    assert v.verdict in ("shape_error", "not_equivalent")
    assert code in [mk.code for mk in v.mistakes]


def test_a_helper_expression_is_used_as_is():
    s = parse_expression("1/(1+np.exp(-Z1))", SIG)  # an earlier line: s = sigmoid(Z1)
    assert agrees("dZ1 = dA1 * s * (1-s)", SIG, {"s": s})
    v = check("dZ1 = dA1 * s * (1-s)", SIG, names={"s": s})
    assert v.verdict == "correct"
    wrong = check("dZ1 = dA1 * s", SIG, names={"s": s})
    assert wrong.verdict == "not_equivalent"  # s is σ(Z1) spelled out, not an Act node:
    assert [mk.code for mk in wrong.mistakes] in (["activation_instead_of_derivative"],
                                                  ["wrong_activation_derivative"])
    # an expression built over the network is rebuilt over each network the checker reads
    # (every size equal, to diagnose a shape error): the clash is still found and named
    one_minus = parse_expression("1 - 1/(1+np.exp(-Z1))", SIG)
    v = check("dZ1 = np.dot(dA1, s) * r", SIG, names={"s": s, "r": one_minus})
    assert v.verdict == "shape_error" and "matrix product dA1 and s" in v.message
    assert [mk.code for mk in v.mistakes] == ["matmul_instead_of_elementwise"]


def test_a_bound_name_shadows_every_other_reading():
    # Z is a quantity, dL a gradient's prefix, sigmoid an activation: bound, they are the binding
    eq = parse_equation("Z = np.dot(W2.T, dZ2)", TWO, names={"Z": "dA[1]"})
    assert eq.target.key == ("dA", 1)
    eq = parse_equation("dZ1 = dA1 * sigmoid", SIG, names={"sigmoid": "A[1]"})
    assert {s.key for s in eq.rhs.symbols()} == {("dA", 1), ("A", 1)}
    # a binding that is a generic l or the current layer is read like the written name
    v = check("dW = 1/m * np.dot(dout, inp.T)", DEEP, names={"dout": "dZ", "inp": "A_prev"})
    assert v.verdict == "correct" and "checked at l = 1, 2, 3" in v.notes
    assert any("dout as dZ[l]" in n and "inp as A[l-1]" in n for n in v.notes)
    v = check("dW[l] = 1/m * np.dot(dZ[l], h.T)", DEEP, names={"h": "A[l-1]"})
    assert v.verdict == "correct" and v.target == "dW[l]"


def test_bound_names_do_not_decide_one_example():
    # all written names upper case: the batch of m examples, whatever the bound names look like
    v = check("dW1 = np.dot(dZ1, x.T)", TWO, names={"x": "X"})
    assert [mk.code for mk in v.mistakes] == ["missing_scale"]


@pytest.mark.parametrize("names,says", [
    ({"1x": "A[1]"}, "binding '1x': not a valid name"),
    ({"np": "A[1]"}, "binding np: np is reserved"),
    ({"h": "A[x]"}, "binding h='A[x]': a layer index"),
    ({"h": "Q[1]"}, "binding h='Q[1]': Q is not a quantity"),
    ({"h": 3}, "binding h: the value must be a quantity"),
    ({"h": "m.T"}, "binding h='m.T': m is a number"),
    ({"h": "W2[1]"}, "binding h='W2[1]': W2 already has its layer"),
])
def test_a_bad_binding_is_a_parse_error_naming_it(names, says):
    with pytest.raises(ParseError) as err:
        parse_equation("dZ1 = h", TWO, names=names)
    assert says in str(err.value)
    v = check("dZ1 = h", TWO, names=names)
    assert v.verdict == "parse_error" and says in v.message


def test_a_binding_to_a_layer_the_network_lacks_is_named():
    v = check("dZ1 = h", TWO, names={"h": "A[7]"})
    assert v.verdict == "parse_error" and "A[7] is not in this network" in v.message


def test_an_unknown_dialect_is_a_parse_error():
    with pytest.raises(ParseError, match="unknown dialect 'klingon'"):
        parse_equation("dZ1 = dA1", TWO, dialect="klingon")


# -- unknown names (item 4): all of them, and how to bind them ---------------------------------
def test_an_unknown_name_error_lists_every_unknown_name_and_how_to_bind_them():
    text = "grad_w2 = 1/m * np.dot(grad_z2, h_relu.T)"
    v = check(text, TWO)
    assert v.verdict == "parse_error" and v.position == 0  # the first unknown name
    assert v.message.startswith(
        'unknown names grad_w2, grad_z2, h_relu: bind them to the network\'s quantities, e.g. '
        '--bind "grad_w2=dW[2],grad_z2=dZ[2],h_relu=A[1]" (batch field "names")')
    # binding what the example suggests makes the formula readable, and here correct
    names = {"grad_w2": "dW[2]", "grad_z2": "dZ[2]", "h_relu": "A[1]"}
    assert check(text, TWO, names=names).verdict == "correct" and agrees(text, TWO, names)
    # names already bound, attributes, keyword arguments and layer indices are not listed; an
    # unknown name with an index is listed as the entry, what to bind
    v = check("dZ1 = np.sum(W2.T @ dZ2, axis=1, keepdims=True) * h + s[l] * q", TWO,
              names={"q": "A[1]"})
    assert v.message.startswith("unknown names h, s[l]: ") and v.position == 50
    v = check(r"dW^{[1]} = \frac{1}{m} delta X^T", TWO)  # LaTeX too
    assert v.message.startswith("unknown name 'delta': bind it to a network quantity, e.g. "
                                '--bind "delta=dZ[1]"')
    # an unknown function is not a quantity to bind: it says what is known
    v = check("dZ1 = foo(Z1) * h", TWO)
    assert v.message.startswith("unknown name 'foo'; known: X, Y")


# -- a binding's value written as a formula (issue 12): read by derive's parser, never eval'd -----
FORMULA_BOUND = [  # (formula, bindings, network, right?) on a tanh hidden layer
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "g[1]'(Z[1])"}, True),
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "tanh_prime(Z[1])"}, True),
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "1 - A1**2"}, True),
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "sigmoid_prime(Z[1])"}, False),
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "1 - A1"}, False),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot sp", {"sp": r"1 - (A^{[1]})^2"}, True),
    ("dZ1 = np.dot(W2.T, dZ2) * sp", {"sp": "g[2]'(Z[1])"}, False),
]
TANH = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")


@pytest.mark.parametrize("text,names,right", FORMULA_BOUND)
def test_a_binding_may_be_a_formula(text, names, right):
    v = check(text, TANH, names=names)
    assert (v.verdict == "correct") is right, v.message
    assert agrees(text, TANH, names) is right  # autograd decides, not derive
    assert f"bound names: sp as {names['sp']}" in v.notes


def test_a_formula_binding_that_does_not_read_names_the_binding(monkeypatch):
    import builtins

    def trap(*a, **k):
        raise AssertionError("eval called")
    monkeypatch.setattr(builtins, "eval", trap)
    v = check("dZ1 = np.dot(W2.T, dZ2) * sp", TANH, names={"sp": "__import__('os')"})
    assert v.verdict == "parse_error" and v.message.startswith("binding sp=\"__import__")
    with pytest.raises(ParseError, match="binding sp='foo\\(Z1\\)': unknown name 'foo'"):
        parse_expression("sp", TANH, names={"sp": "foo(Z1)"})


def test_an_unknown_name_is_always_named_even_when_the_scan_misses_it(monkeypatch):
    # the whole-formula scan skips names inside brackets; the name being read is still listed
    import derive.parse.text as T
    from derive.check.checker import check

    monkeypatch.setattr(T, "unknown_idents", lambda *a, **k: [])
    v = check("dW1 = grad_z1 @ X.T")
    assert v.verdict == "parse_error" and "unknown name 'grad_z1'" in v.message
    assert '--bind "grad_z1=' in v.message


# -- entries: a list or dict entry with a loop's index, bound as one name --------------------------
ENTRIES = [  # (formula, bindings, network): right by the course's definitions
    # the SO asker's loop: self.weights[k] is W[3] when k = 2; tmp holds dZ[3]
    ("delta = np.dot(self.weights[k].T, tmp)",
     {"delta": "dA[2]", "self.weights[k]": "W[3]", "tmp": "dZ[3]"}, DEEP),
    ("dz = a - Y_oh[i]", {"dz": "dZ[2]", "a": "A[2]", "Y_oh[i]": "Y"}, TWO),  # Emojify's one-hot
    ("dW2 = np.dot(d[ 'z2' ], h.T) / m", {"d['z2']": "dZ[2]", "h": "A[1]"}, TWO),
]


@pytest.mark.parametrize("text,names,net", ENTRIES, ids=[c[0] for c in ENTRIES])
def test_a_bound_entry_reads_as_one_name(text, names, net):
    assert agrees(text, net, names)
    v = check(text, net, names=names)
    assert v.verdict == "correct", v.message
    assert "bound names:" in " ".join(v.notes)


def test_an_unknown_entry_is_what_the_error_asks_to_bind():
    v = check("delta = np.dot(self.weights[k].T, tmp)", DEEP)
    assert v.verdict == "parse_error"
    assert "unknown names self.weights[k], tmp" in v.message and '--bind "self.weights[k]=' in v.message
    v = check("dz = a - Y_oh[i]", TWO)
    assert "unknown name 'Y_oh[i]'" in v.message
    # a dialect's own entry is read, not asked for: Nielsen's nabla_w[-l], CS231n's grads['W2']
    assert check("nabla_w[-l] = np.dot(delta, activations[-l-1].transpose())", TWO,
                 layer=2).verdict == "correct"


def test_a_gradient_dict_holds_the_gradient_of_its_key():
    # change_w['W2'] (mlfromscratch) like grads['W2'] (CS231n): dW[2]; params['A1'] holds A[1]
    one = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="bce", scale="sum")
    text = "change_w['W2'] = np.outer(dZ2, params['A1'])"  # one example: the outer product
    v = check(text, one)
    assert (v.verdict, v.target) == ("correct", "dW[2]"), v.message
    assert any("outer product" in n for n in v.notes)
    v = check("change_w['W2'] = np.dot(dZ2, params['A2'])", one)  # the layer's own output
    assert v.verdict == "shape_error"
    assert "wrong_layer_index" in [mk.code for mk in v.mistakes]
    assert check("stuff['W2'] = np.dot(dZ2, A1.T)", one).verdict == "parse_error"  # no such dict


def test_a_vector_reshaped_to_one_row_is_its_transpose():
    # Emojify: dW += np.dot(dz.reshape(n_y, 1), avg.reshape(1, n_h)), one example, avg the input
    one = Network(layers=[6, 4], activations=["softmax"], loss="ce", scale="sum")
    for text in ("dW = np.dot(dz.reshape(n_y, 1), avg.reshape(1, n_h))",
                 "dW = np.dot(dZ1, avg.reshape((1, -1)))",
                 "dW = np.dot(dZ1, avg.T.reshape(1, -1))"):  # already a row: unchanged
        assert agrees(text, one, {"avg": "X"}, layer=1), text
        v = check(text, one, names={"avg": "X"}, layer=1)
        assert v.verdict == "correct", (text, v.message)
    v = check("dW = np.dot(dZ1, avg.reshape(n_h, 1))", one, names={"avg": "X"}, layer=1)
    assert v.verdict == "shape_error"  # a column stays a column: dZ1 · X does not fit


def test_a_loop_index_in_a_quantitys_brackets_says_how_to_bind_the_entry():
    # the SO asker's A[k+1] (A a list of activations, k the loop's index)
    v = check("dz = da * sigmoid_prime(A[k+1])", DEEP, names={"dz": "dZ[3]", "da": "dA[3]"})
    assert v.verdict == "parse_error"
    assert 'A[k+1]: a layer index is a number' in v.message
    assert '--bind "A[k+1]=A[2]"' in v.message
    v = check("dz = da * (A[k+1] * (1 - A[k+1]))", DEEP,
              names={"dz": "dZ[3]", "da": "dA[3]", "A[k+1]": "A[3]"})
    assert v.verdict == "correct", v.message  # σ′ written on the sigmoid layer's activation


def test_a_name_bound_to_the_l2_strength_or_keep_prob_reads_as_it():
    # an autograder's reg_coeff (Omar Florez's code) is the network's λ; p is its keep_prob
    net = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", l2=0.7,
                  keep_prob=0.8)
    for text in ("dW2 = 1/m * np.dot(dZ2, A1.T) + reg_coeff/m * W2",
                 r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} + \frac{c}{m} W^{[2]}"):
        v = check(text, net, names={"reg_coeff": "lambda", "c": "lambda"})
        assert v.verdict == "correct", (text, v.message)
        assert "reg_coeff read as the L2 strength 0.7" not in v.notes  # the value is named
        assert any("L2 strength 0.7" in n for n in v.notes)
    w = check("dW2 = 1/m * np.dot(dZ2, A1.T) + reg_coeff * np.square(W2).sum()", net,
              names={"reg_coeff": "lambda"})
    assert [mk.code for mk in w.mistakes] == ["wrong_l2_term"]
    v = check("dZ1 = np.dot(W2.T, dZ2) * D1 / p * np.int64(Z1 > 0)", net, names={"p": "keep_prob"})
    assert v.verdict == "correct" and "keep_prob read as the keep probability 0.8" in v.notes
