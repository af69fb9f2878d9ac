"""The checker's verdicts and diagnoses, on expressions built directly as trees.

Every expected verdict and mistake code below comes from the maths of a dense network in the
columns convention (dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g′(Z[l]), dW[l] = (1/m) dZ[l] A[l-1]ᵀ,
db[l] = (1/m) Σ over examples of dZ[l], dA[l-1] = W[l]ᵀ dZ[l]; sigmoid + bce and softmax + ce give
dZ[L] = A[L] − Y), not from running the checker. Text, numpy and LaTeX spellings go through the
parser in tests/test_check_cli.py.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import sympy as sp

from derive.check.checker import check_with
from derive.core import expr as E
from derive.network.spec import Network, m
from derive.network.symbols import SymbolTable

TANH_SIG = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce")
RELU_SOFTMAX = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce")
GENERIC = Network(depth=3)
a = sp.Symbol("a", real=True)


def parse_of(target, build):
    """A stand-in for the parser: ``build(T, net)`` makes the right side over ``net``'s symbols."""

    def parse(net, layer):
        T = SymbolTable(net)
        return SimpleNamespace(target=T[target], rhs=build(T, net), syntax="text", notes=(),
                               generic_layer=False)

    return parse


def verdict(net, target, build):
    return check_with(parse_of(target, build), net)


def gp(T, net, l):
    """g[l]′(Z[l]) for the network's own activation."""
    return E.Deriv(net.activation(l), l, T["Z", l])


def t(x):
    return E.Transpose(x)


def mean(x):
    return E.Scale(1 / m, x)


def neg(x):
    return E.Scale(sp.Integer(-1), x)


H, MM = E.Hadamard, E.MatMul

# (name, target, builder, expected verdict, expected mistake code or None)
HIDDEN_DZ = [  # dZ[1] of a tanh hidden layer (sizes 4, 3, 2)
    ("correct", ("dZ", 1), lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]), gp(T, n, 1)), "correct", None),
    ("textbook 1 - A^2", ("dZ", 1),
     lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]), E.Pointwise(1 - a**2, (a,), (T["A", 1],))),
     "correct", None),
    ("mixed with A2 - Y", ("dZ", 1),
     lambda T, n: H(MM(t(T["W", 2]), E.Sub(T["A", 2], T["Y"])), gp(T, n, 1)), "correct", None),
    ("via dA1", ("dZ", 1), lambda T, n: H(T["dA", 1], gp(T, n, 1)), "correct", None),
    ("wrong order", ("dZ", 1), lambda T, n: H(MM(T["dZ", 2], t(T["W", 2])), gp(T, n, 1)),
     "shape_error", "wrong_order"),
    ("missing transpose", ("dZ", 1), lambda T, n: H(MM(T["W", 2], T["dZ", 2]), gp(T, n, 1)),
     "shape_error", "missing_transpose"),
    ("extra transpose", ("dZ", 1), lambda T, n: H(MM(t(T["W", 2]), t(T["dZ", 2])), gp(T, n, 1)),
     "shape_error", "extra_transpose"),
    ("A instead of g'", ("dZ", 1), lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]), T["A", 1]),
     "not_equivalent", "activation_instead_of_derivative"),
    ("sigmoid' on a tanh layer", ("dZ", 1),
     lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]),
                    E.Hadamard(T["A", 1], E.Pointwise(1 - a, (a,), (T["A", 1],)))),
     "not_equivalent", "wrong_activation_derivative"),
    ("extra 1/m", ("dZ", 1), lambda T, n: mean(H(MM(t(T["W", 2]), T["dZ", 2]), gp(T, n, 1))),
     "not_equivalent", "extra_scale"),
    ("elementwise for matmul", ("dZ", 1),
     lambda T, n: H(H(t(T["W", 2]), T["dZ", 2], broadcast=True), gp(T, n, 1)),
     "shape_error", "elementwise_instead_of_matmul"),
    ("matmul for elementwise", ("dZ", 1), lambda T, n: MM(MM(t(T["W", 2]), T["dZ", 2]), gp(T, n, 1)),
     "shape_error", "matmul_instead_of_elementwise"),
    ("wrong layer index", ("dZ", 1), lambda T, n: H(MM(t(T["W", 1]), T["dZ", 2]), gp(T, n, 1)),
     "shape_error", "wrong_layer_index"),
    ("sign", ("dZ", 1), lambda T, n: neg(H(MM(t(T["W", 2]), T["dZ", 2]), gp(T, n, 1))),
     "not_equivalent", "sign_error"),
    ("missing g'", ("dZ", 1), lambda T, n: MM(t(T["W", 2]), T["dZ", 2]),
     "not_equivalent", "wrong_activation_derivative"),
]
OUTPUT_DZ = [  # dZ[2] of a sigmoid output with binary cross-entropy
    ("A - Y", ("dZ", 2), lambda T, n: E.Sub(T["A", 2], T["Y"]), "correct", None),
    ("dA ⊙ A(1-A)", ("dZ", 2),
     lambda T, n: H(T["dA", 2], H(T["A", 2], E.Pointwise(1 - a, (a,), (T["A", 2],)))),
     "correct", None),
    ("dA ⊙ sigmoid'", ("dZ", 2), lambda T, n: H(T["dA", 2], gp(T, n, 2)), "correct", None),
    ("Y - A", ("dZ", 2), lambda T, n: E.Sub(T["Y"], T["A", 2]), "not_equivalent", "sign_error"),
    ("(1/m)(A - Y)", ("dZ", 2), lambda T, n: mean(E.Sub(T["A", 2], T["Y"])),
     "not_equivalent", "extra_scale"),
    ("dA ⊙ A", ("dZ", 2), lambda T, n: H(T["dA", 2], T["A", 2]),
     "not_equivalent", "activation_instead_of_derivative"),
    ("A1 - Y", ("dZ", 2), lambda T, n: E.Sub(T["A", 1], T["Y"]), "shape_error", "wrong_layer_index"),
]
DW = [
    ("correct", ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], t(T["X"]))), "correct", None),
    ("A0 for X", ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], t(T["A", 0]))), "correct", None),
    ("output layer", ("dW", 2), lambda T, n: mean(MM(E.Sub(T["A", 2], T["Y"]), t(T["A", 1]))),
     "correct", None),
    ("wrong order", ("dW", 1), lambda T, n: mean(MM(t(T["X"]), T["dZ", 1])),
     "shape_error", "wrong_order"),
    ("wrong order, transposed", ("dW", 1), lambda T, n: mean(MM(T["X"], t(T["dZ", 1]))),
     "shape_error", "wrong_order"),
    ("missing transpose", ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], T["X"])),
     "shape_error", "missing_transpose"),
    ("extra transpose", ("dW", 1), lambda T, n: mean(MM(t(T["dZ", 1]), t(T["X"]))),
     "shape_error", "extra_transpose"),
    ("missing 1/m", ("dW", 1), lambda T, n: MM(T["dZ", 1], t(T["X"])),
     "not_equivalent", "missing_scale"),
    ("elementwise for matmul", ("dW", 1), lambda T, n: mean(H(T["dZ", 1], t(T["X"]))),
     "shape_error", "elementwise_instead_of_matmul"),
    ("wrong layer index", ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], t(T["A", 1]))),
     "shape_error", "wrong_layer_index"),
    ("sign", ("dW", 1), lambda T, n: neg(mean(MM(T["dZ", 1], t(T["X"])))),
     "not_equivalent", "sign_error"),
]
DB = [
    ("correct", ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], 1)), "correct", None),
    ("output layer", ("db", 2), lambda T, n: mean(E.Sum(E.Sub(T["A", 2], T["Y"]), 1)),
     "correct", None),
    ("missing sum", ("db", 1), lambda T, n: mean(T["dZ", 1]), "shape_error", "missing_sum"),
    ("sum over axis 0", ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], 0)),
     "shape_error", "wrong_sum_axis"),
    ("sum of everything", ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], None)),
     "shape_error", "wrong_sum_axis"),
    ("missing 1/m", ("db", 1), lambda T, n: E.Sum(T["dZ", 1], 1), "not_equivalent", "missing_scale"),
    ("wrong layer index", ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 2], 1)),
     "shape_error", "wrong_layer_index"),
    ("sign", ("db", 1), lambda T, n: neg(mean(E.Sum(T["dZ", 1], 1))), "not_equivalent", "sign_error"),
]
DA = [
    ("correct", ("dA", 1), lambda T, n: MM(t(T["W", 2]), T["dZ", 2]), "correct", None),
    ("wrong order", ("dA", 1), lambda T, n: MM(T["dZ", 2], t(T["W", 2])), "shape_error", "wrong_order"),
    ("missing transpose", ("dA", 1), lambda T, n: MM(T["W", 2], T["dZ", 2]),
     "shape_error", "missing_transpose"),
    ("extra 1/m", ("dA", 1), lambda T, n: mean(MM(t(T["W", 2]), T["dZ", 2])),
     "not_equivalent", "extra_scale"),
    ("elementwise for matmul", ("dA", 1), lambda T, n: H(t(T["W", 2]), T["dZ", 2], broadcast=True),
     "shape_error", "elementwise_instead_of_matmul"),
    ("wrong layer index", ("dA", 1), lambda T, n: MM(t(T["W", 1]), T["dZ", 1]),
     "shape_error", "wrong_layer_index"),
    ("sign", ("dA", 1), lambda T, n: neg(MM(t(T["W", 2]), T["dZ", 2])), "not_equivalent", "sign_error"),
]
TABLE = [(f"{group}: {c[0]}", *c[1:]) for group, cases in
         (("dZ hidden", HIDDEN_DZ), ("dZ output", OUTPUT_DZ), ("dW", DW), ("db", DB), ("dA", DA))
         for c in cases]


@pytest.mark.parametrize("name, target, build, want, code", TABLE, ids=[c[0] for c in TABLE])
def test_verdicts(name, target, build, want, code):
    v = verdict(TANH_SIG, target, build)
    assert v.verdict == want, v.message
    if code is None:
        assert v.mistakes == ()
    else:
        assert code in [x.code for x in v.mistakes], [x.code for x in v.mistakes]
        assert v.mistakes[0].code == code
        assert all(x.message.endswith(".") for x in v.mistakes)
    assert v.expected.startswith(f"{target[0]}[{target[1]}] = ")


# on a generic network (g[l], generic loss) the same formulas keep their verdicts, except those that
# name a particular activation or rely on the output simplification A − Y (dZ[2] is hidden there)
NAMED = ("output", "1 - A^2", "sigmoid'", "A2 - Y")
GENERIC_TABLE = [c for c in TABLE if not any(word in c[0] for word in NAMED)]


@pytest.mark.parametrize("name, target, build, want, code", GENERIC_TABLE,
                         ids=[c[0] for c in GENERIC_TABLE])
def test_verdicts_generic_network(name, target, build, want, code):
    v = verdict(GENERIC, target, build)
    assert v.verdict == want, v.message
    if code is not None:
        assert v.mistakes[0].code == code


def test_softmax_output_layer():
    ok = verdict(RELU_SOFTMAX, ("dZ", 2), lambda T, n: E.Sub(T["A", 2], T["Y"]))
    assert ok.verdict == "correct"
    bad = verdict(RELU_SOFTMAX, ("dZ", 2), lambda T, n: E.Sub(T["Y"], T["A", 2]))
    assert (bad.verdict, bad.mistakes[0].code) == ("not_equivalent", "sign_error")
    hidden = verdict(RELU_SOFTMAX, ("dZ", 1),
                     lambda T, n: H(MM(t(T["W", 2]), E.Sub(T["A", 2], T["Y"])), gp(T, n, 1)))
    assert hidden.verdict == "correct"


def test_half_mse_sigmoid_output_needs_the_derivative():
    """With ½(a − y)², ∂ℓ/∂z = (a − y) σ′(z): A − Y alone lacks the derivative factor."""
    net = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="half_mse")
    v = verdict(net, ("dZ", 2), lambda T, n: E.Sub(T["A", 2], T["Y"]))
    assert v.verdict == "not_equivalent"
    assert v.mistakes[0].code == "wrong_activation_derivative"
    right = verdict(net, ("dZ", 2), lambda T, n: H(E.Sub(T["A", 2], T["Y"]), gp(T, n, 2)))
    assert right.verdict == "correct"


def test_generic_loss_output_layer_note():
    v = verdict(Network(depth=2), ("dZ", 2), lambda T, n: E.Sub(T["A", 2], T["Y"]))
    assert v.verdict == "not_equivalent"
    assert any("loss is generic" in note for note in v.notes)


def test_rows_convention():
    net = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows")
    assert verdict(net, ("dW", 1), lambda T, n: mean(MM(t(T["X"]), T["dZ", 1]))).verdict == "correct"
    assert verdict(net, ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], 0))).verdict == "correct"
    v = verdict(net, ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], 1)))
    assert (v.verdict, v.mistakes[0].code) == ("shape_error", "wrong_sum_axis")
    v = verdict(net, ("dA", 1), lambda T, n: MM(t(T["W", 2]), T["dZ", 2]))
    assert (v.verdict, v.mistakes[0].code) == ("shape_error", "wrong_order")


def test_sum_scale_has_no_one_over_m():
    net = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", scale="sum")
    assert verdict(net, ("dW", 1), lambda T, n: MM(T["dZ", 1], t(T["X"]))).verdict == "correct"
    v = verdict(net, ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], t(T["X"]))))
    assert v.mistakes[0].code == "extra_scale"


def test_shape_error_message_names_operands_and_shapes():
    v = verdict(GENERIC, ("dZ", 1), lambda T, n: H(MM(T["dZ", 2], t(T["W", 2])), gp(T, n, 1)))
    assert v.message == ("matrix product dZ[2] and W[2]ᵀ: (n2×m)·(n1×n2) — "
                         "inner dimensions m and n1 differ")
    assert v.counterexample is None
    assert "W[2]ᵀ dZ[2]" in v.mistakes[0].message


def test_target_shape_mismatch_message():
    v = verdict(GENERIC, ("db", 1), lambda T, n: mean(E.Sum(T["dZ", 1], 0)))
    assert v.message == "the right side is 1×m but db[1] is n1×1"


def test_square_weight_fits_only_by_coincidence():
    """n1 = n2 = 3: W[2] dZ[2] fits (and is wrong); the note says it only fits because n1 = n2."""
    net = Network(layers=[4, 3, 3], activations=["relu", "tanh"], loss="mse")
    v = verdict(net, ("dZ", 1), lambda T, n: H(MM(T["W", 2], T["dZ", 2]), gp(T, n, 1)))
    assert (v.verdict, v.mistakes[0].code) == ("not_equivalent", "missing_transpose")
    assert any("n1 = n2" in note for note in v.notes), v.notes


def test_broadcasting_right_only_when_one_output_unit():
    """numpy: W2.T * dZ2 equals W2ᵀ dZ2 when n2 = 1 (an outer product by broadcasting)."""
    net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    v = verdict(net, ("dZ", 1), lambda T, n: H(H(t(T["W", 2]), T["dZ", 2], broadcast=True), gp(T, n, 1)))
    assert v.verdict == "correct"
    assert any("n2 = 1" in note for note in v.notes), v.notes


def test_target_used_on_its_own_right_side_is_unusable():
    v = verdict(TANH_SIG, ("dZ", 1), lambda T, n: T["dZ", 1])
    assert v.verdict == "parse_error"
    assert "dZ[1]" in v.message
    v = verdict(TANH_SIG, ("dZ", 1), lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]), gp(T, n, 1)))
    assert v.verdict == "correct"


def test_no_formula_for_the_given_upstream_gradient():
    v = verdict(Network(depth=2), ("dA", 2), lambda T, n: T["A", 2])
    assert v.verdict == "parse_error" and "generic loss" in v.message


def test_counterexample_is_small_and_consistent():
    """missing 1/m: the counterexample's own inputs give got = dZ1 Xᵀ and expected = got / m."""
    v = verdict(TANH_SIG, ("dW", 1), lambda T, n: MM(T["dZ", 1], t(T["X"])))
    cex = v.counterexample
    assert cex["sizes"] == {"n0": 4, "n1": 3, "n2": 2, "m": 2}
    dz, x = np.array(cex["inputs"]["dZ[1]"]), np.array(cex["inputs"]["X"])
    got = np.array(cex["got"])
    assert np.allclose(got, dz @ x.T, rtol=1e-4, atol=1e-6)
    assert np.allclose(np.array(cex["expected"]), got / 2, rtol=1e-4, atol=1e-6)
    r, c = cex["entry"]
    assert cex["got_entry"] == cex["got"][r - 1][c - 1] != cex["expected_entry"]


def test_counterexample_of_generic_network_uses_tiny_sizes():
    v = verdict(GENERIC, ("dZ", 1), lambda T, n: H(MM(t(T["W", 2]), T["dZ", 2]), T["A", 1]))
    assert v.counterexample["sizes"] == {"n0": 2, "n1": 2, "n2": 2, "n3": 2, "m": 2}
    assert "tanh(z) + z/3" in v.counterexample["note"]


def test_json_object_has_the_pinned_keys():
    v = verdict(TANH_SIG, ("dW", 1), lambda T, n: MM(T["dZ", 1], t(T["X"])))
    d = json.loads(json.dumps(v.to_dict()))
    pinned = {"verdict", "target", "mistakes", "message", "expected", "expected_latex",
              "counterexample"}
    assert pinned <= set(d)
    assert d["verdict"] in ("correct", "shape_error", "not_equivalent", "parse_error")
    assert d["target"] == "dW[1]"
    assert d["mistakes"][0]["code"] == "missing_scale" and d["mistakes"][0]["message"]
    assert d["expected"] == "dW[1] = (1/m) dZ[1] Xᵀ"
    assert d["expected_latex"].startswith("dW^{[1]} = ")
    assert isinstance(d["counterexample"], dict)
    ok = verdict(TANH_SIG, ("dW", 1), lambda T, n: mean(MM(T["dZ", 1], t(T["X"])))).to_dict()
    assert ok["counterexample"] is None and ok["mistakes"] == []


def test_notebook_renderings():
    v = verdict(TANH_SIG, ("dW", 1), lambda T, n: MM(T["dZ", 1], t(T["X"])))
    assert "missing_scale" in v._repr_html_()
    assert v._repr_latex_().startswith("$") and "dW^{[1]}" in v._repr_latex_()
    assert v.exit_code == 1


def test_a_transposed_target_with_an_unbuildable_shape_names_the_gradient_it_is():
    # ∂J/∂w with w = W[1]ᵀ (logistic regression's column w): the shape error names dW[1], and is
    # never an internal error (it raised AttributeError on the Transpose node)
    from derive.check.checker import check
    net = Network(layers=[4, 1], activations=["sigmoid"], loss="bce", scale="sum")
    v = check(r"\frac{\partial J(w)}{\partial w} = \sum_{i=1}^{m} x_i (\sigma(w^T x_i + b) - y_i)", net)
    assert v.verdict == "shape_error"
    assert v.to_dict()["target"] == "dW[1]"
