"""Course code as students write it (issue 12): names without a layer index, one example in lower
case, and the numpy spellings of the course's assignments.

The expected verdicts and readings come from the course's own definitions, not from running the
checker: in ``linear_backward(dZ, cache)`` at layer l, ``dZ, dA, dW, db, W, b, Z, A`` are layer
l's and ``A_prev, dA_prev`` layer l-1's, so dA_prev = W[l]ᵀ dZ[l], dW = (1/m) dZ[l] A[l-1]ᵀ and
db = (1/m) Σ over examples of dZ[l] hold at every layer l (at l = 1, dA_prev is dA[0] = dX, the
input's gradient); one example is m = 1, so dw = dz xᵀ.

Every formula called correct is also evaluated (derive's reading of it, numpy) on an instance
drawn here and compared with the true gradient from ``tests/oracle.py`` (autograd of the forward
pass written again, nothing from derive's formulas).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.check.checker import check
from derive.cli import main
from derive.core.expr import NumpyBackend, evaluate
from derive.engine.values import bind_m
from derive.network.model import standins
from derive.network.spec import Network
from derive.parse import parse_equation
from tests import oracle

DEEP = Network(layers=[3, 4, 5, 2], activations=["relu", "tanh", "sigmoid"], loss="bce")
TWO = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
TANH = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
ROWS = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows")
LOGREG = Network(layers=[3, 1], activations=["sigmoid"], loss="bce")
M = 5
COURSE = "names without a layer index: the current layer l, as in the course's linear_backward"


# -- the independent oracle: an instance drawn here, true gradients by autograd ------------------
def instance(net: Network, seed: int = 0) -> dict:
    """Every quantity's value on one random instance; gradients from tests/oracle.py."""
    rng = np.random.default_rng(seed)
    cols = net.convention == "columns"
    n = net.layers
    X = rng.normal(size=(n[0], M) if cols else (M, n[0]))
    Y = rng.integers(0, 2, size=(n[-1], M) if cols else (M, n[-1])).astype(float)
    params, values = {}, {("X", None): X, ("Y", None): Y}
    A = X
    for l in range(1, net.L + 1):
        W = rng.normal(size=(n[l], n[l - 1]) if cols else (n[l - 1], n[l])) / np.sqrt(n[l - 1])
        b = 0.3 * rng.normal(size=(n[l], 1) if cols else (1, n[l]))
        params[f"W{l}"], params[f"b{l}"] = W, b
        Z = (W @ A if cols else A @ W) + b
        A = oracle.activation(net.activations[l - 1], l, cols)(Z)
        values.update({("W", l): W, ("b", l): b, ("Z", l): Z, ("A", l): A})
    grads = oracle.param_gradients(net, params, X, Y)
    per_example = M if net.scale == "mean" else 1  # dZ, dA: one example's gradient, stacked
    for l in range(1, net.L + 1):
        values["dW", l], values["db", l] = grads[f"W{l}"], grads[f"b{l}"]
        for kind in ("Z", "A"):
            g = oracle.intermediate_gradient(net, kind, l, values[kind, l], params, X, Y)
            values[f"d{kind}", l] = per_example * g
    values["dA", 0] = per_example * oracle.intermediate_gradient(net, "A", 0, X, params, X, Y)
    return values


def agrees_with_oracle(text: str, net: Network, layer: int | None = None) -> bool:
    """derive's reading of ``text`` (at ``layer``), evaluated here, equals the true gradient."""
    eq = parse_equation(text, net, layer=layer)
    values = instance(net)
    got = np.asarray(evaluate(bind_m(eq.rhs, M), values, NumpyBackend(standins(net))), float)
    want = values[eq.target.key]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


# -- names without a layer index: linear_backward's lines ------------------------------------------
LINEAR_BACKWARD = [  # (formula, the layers where it is defined in DEEP)
    ("dA_prev = np.dot(W.T, dZ)", (1, 2, 3)),
    ("dW = 1/m * np.dot(dZ, A_prev.T)", (1, 2, 3)),
    ("dW = 1./m * np.dot(dZ,A_prev.T)", (1, 2, 3)),
    ("db = 1/m * np.sum(dZ, axis=1, keepdims=True)", (1, 2, 3)),
    ("dZ = dA * (1 - np.power(np.tanh(Z), 2))", (2,)),  # tanh: layer 2 only
    ("dW = np.dot(dZ, A_prev.T) / A_prev.shape[1]", (1, 2, 3)),
    (r"dW = \frac{1}{m} dZ A_{prev}^T", (1, 2, 3)),  # LaTeX
    (r"dA_{prev} = W^{T} dZ", (1, 2, 3)),
]


@pytest.mark.parametrize("text,layers", LINEAR_BACKWARD, ids=[t for t, _ in LINEAR_BACKWARD])
def test_linear_backward_lines_are_right_at_every_layer_they_name(text, layers):
    for l in layers:
        assert agrees_with_oracle(text, DEEP, layer=l), l
        v = check(text, DEEP, layer=l)
        assert v.verdict == "correct", (l, v.message)


@pytest.mark.parametrize("text,layers", LINEAR_BACKWARD[:4], ids=[t for t, _ in LINEAR_BACKWARD[:4]])
def test_without_a_layer_every_layer_is_checked_and_the_reading_is_said(text, layers):
    v = check(text, DEEP)
    assert v.verdict == "correct" and v.exit_code == 0
    target = text.split("=")[0].strip()
    assert v.target == {"dA_prev": "dA[l-1]", "dW": "dW[l]", "db": "db[l]"}[target]
    assert f"checked at l = {', '.join(map(str, layers))}" in v.notes
    reading = next(n for n in v.notes if n.startswith("read "))
    assert reading.endswith(f"({COURSE})")
    assert f"{target} as {v.target}" in reading and "dZ as dZ[l]" in reading
    assert ("A_prev as A[l-1]" in reading) == ("A_prev" in text.replace("dA_prev", ""))


def test_dA_prev_at_layer_1_is_dX_and_is_checked():
    for net, layer in ((LOGREG, None), (DEEP, 1)):  # the only layer, or the layer given, is 1
        assert agrees_with_oracle("dA_prev = np.dot(W.T, dZ)", net, layer=1)
        v = check("dA_prev = np.dot(W.T, dZ)", net, layer=layer)
        assert (v.verdict, v.target) == ("correct", "dX"), v.message
        assert "W[0]" not in " ".join(v.notes)  # the issue: W was read as W[0]
    for text in ("dX = np.dot(W1.T, dZ1)", "dA0 = W1.T @ dZ1", r"dX = W^{[1]T} dZ^{[1]}"):
        assert agrees_with_oracle(text, DEEP)
        assert check(text, DEEP).verdict == "correct", text
    v = check("dX = np.dot(W1, dZ1)", DEEP)  # W1 is 4×3 in DEEP: the transpose is missing
    assert v.verdict == "shape_error" and "missing_transpose" in [mk.code for mk in v.mistakes]
    v = check("dX = 1/m * np.dot(W1.T, dZ1)", DEEP)  # per example: no 1/m
    assert v.verdict == "not_equivalent" and "extra_scale" in [mk.code for mk in v.mistakes]


def test_a_given_layer_pins_the_current_layer():
    v = check("dA_prev = np.dot(W.T, dZ)", DEEP, layer=3)
    assert (v.verdict, v.target) == ("correct", "dA[2]")
    assert "read dA_prev as dA[2], W as W[3], dZ as dZ[3] (layer 3 as given)" in v.notes
    v = check("dW = 1/m * np.dot(dZ, A_prev.T)", DEEP, layer=1)
    assert v.target == "dW[1]" and "A_prev as X" in v.notes[-1]
    assert check("dW = 1/m * np.dot(dZ, A_prev.T)", DEEP, layer=4).verdict == "parse_error"
    v = check("dW1 = 1/m * np.dot(dZ1, X.T)", DEEP, layer=2)  # every name has its index
    assert v.verdict == "correct" and v.target == "dW[1]"
    assert v.notes[-1] == "layer 2 was not used: every name in the formula has its layer index"
    for bad in ("2", 0, True):
        v = check("dW = 1/m * np.dot(dZ, A_prev.T)", DEEP, layer=bad)
        assert v.verdict == "parse_error" and "layer must be a layer number" in v.message
    v = check("dW[l] = 1/m * np.dot(dZ[l], A[l-1].T)", DEEP, layer=2)  # a generic l too
    assert v.target == "dW[2]" and v.notes[-1] == "generic layer l read as l = 2 (layer 2 as given)"


def test_a_formula_that_fits_at_one_layer_only_is_checked_there():
    for text, target in [("dW = 1/m * np.dot(dZ, X.T)", "dW[1]"),  # X feeds layer 1
                         ("dZ = A - Y", "dZ[3]"),  # Y is the output layer's
                         ("dW = 1/m * np.dot(dZ2, A1.T)", "dW[2]")]:  # the right side's layers
        v = check(text, DEEP)
        assert (v.verdict, v.target) == ("correct", target), text
        assert v.notes[-1].endswith("(the only layer where its shapes fit)")
        assert agrees_with_oracle(text, DEEP, layer=int(target[3]))


WRONG = [  # (formula, verdict, mistake): the student's mistakes, named by the existing codes
    ("dW = np.dot(dZ, A_prev.T)", "not_equivalent", "missing_scale"),
    ("dW = 1/m * np.dot(dZ, A_prev)", "shape_error", "missing_transpose"),
    ("dW = 1/m * np.dot(A_prev.T, dZ)", "shape_error", "wrong_order"),
    ("db = 1/m * np.sum(dZ, axis=0, keepdims=True)", "shape_error", "wrong_sum_axis"),
    ("dA_prev = np.dot(W, dZ)", "shape_error", "missing_transpose"),
    ("dA_prev = np.multiply(dZ, W.T)", "shape_error", "elementwise_instead_of_matmul"),
]


@pytest.mark.parametrize("text,want,code", WRONG, ids=[t for t, _, _ in WRONG])
def test_wrong_lines_name_the_mistake(text, want, code):
    v = check(text, DEEP)
    assert v.verdict == want and v.exit_code == 1
    assert code in [mk.code for mk in v.mistakes]


def test_mixed_indices_keep_the_left_sides_layer():
    """dZ1 = ... * A: an unindexed name beside an indexed left side is that layer's, as before."""
    v = check("dZ1 = np.dot(W2.T, dZ2) * (A > 0)", TWO)
    assert v.verdict == "correct" and not any(n.startswith("read ") for n in v.notes)


# -- one example, in lower case: m = 1 throughout ---------------------------------------------------
ONE = [("dz = a - y", LOGREG), ("dw = dz x^T", LOGREG), ("db = dz", LOGREG),
       ("dw = np.dot(dz, x.T)", LOGREG), ("dz1 = np.dot(w2.T, dz2) * (z1 > 0)", TWO),
       ("dw2 = dz2 a1^T", TWO), ("db2 = np.sum(dz2, axis=1, keepdims=True)", TWO)]


@pytest.mark.parametrize("text,net", ONE, ids=[t for t, _ in ONE])
def test_lower_case_without_m_is_one_example(text, net):
    """No 1/m is expected: one example's cost is its loss (the oracle's summed cost)."""
    v = check(text, net)
    assert v.verdict == "correct", v.message
    if text == "db = dz":  # one example's column is its own sum (m = 1): checked as that sum
        assert any(n.startswith("one example (m = 1): db[1] is dz itself") for n in v.notes)
        return
    assert any("read as one example (m = 1)" in n for n in v.notes)
    assert v.network["scale"] == "sum"
    assert agrees_with_oracle(text, net.replace(scale="sum"), layer=None if net.L == 1 else 2)


def test_writing_m_or_upper_case_is_the_batch():
    v = check("dw = 1/m * np.dot(dz, x.T)", LOGREG)  # m is written: the mean over m examples
    assert v.verdict == "correct" and v.network["scale"] == "mean"
    for text in ("dW = dZ X^T", "dW1 = np.dot(dz1, X.T)"):  # upper case: the course's batch
        v = check(text, LOGREG)
        assert v.verdict == "not_equivalent" and v.mistakes[0].code == "missing_scale", text
        assert not any("read as one example" in n for n in v.notes)


# -- more numpy ---------------------------------------------------------------------------------------
NUMPY = [  # (network, formula, a note it must carry or None): each one correct
    (TWO, "dZ1 = dA1 * np.ones_like(Z1) * (Z1 > 0)", None),
    (TWO, "dZ1 = dA1 * (Z1 > 0) + np.zeros_like(dA1)", None),
    (TWO, "dZ1 = dA1 * np.ones(Z1.shape) * (Z1 > 0)", None),
    (TWO, "db1 = np.dot(dZ1, np.ones((m, 1))) / m", None),
    (TWO, "dZ1 = np.where(Z1 > 0, dA1, 0)", None),
    (TWO, "dZ1 = np.where(Z1 <= 0, 0, dA1)", None),
    (TWO, "dW2 = 1/m * np.dot(dZ2, np.maximum(0, Z1).T)", None),
    (TWO, "dW2 = 1/m * np.dot(dZ2, np.maximum(Z1, 0).T)", None),
    (TWO, "dZ1 = dA1 * np.heaviside(Z1, 0)", "np.heaviside(Z1, 0) read as relu′(Z1)"),
    (TWO, "dZ1 = dA1 * np.greater(Z1, 0)", "np.greater(Z1, 0) read as relu′(Z1)"),
    (TANH, "dZ1 = np.dot(W2.T, dZ2) / np.cosh(Z1)**2", None),
    (TANH, "dZ1 = np.dot(W2.T, dZ2) * (1 - np.square(A1))", None),
    (TWO, "db1 = np.mean(dZ1, axis=1, keepdims=True)", None),
    (TWO, "dZ1 = np.array(dA1, copy=True) * (Z1 > 0)", None),
    (TWO, "dZ1 = dA1.copy() * (Z1 > 0).astype(float)", None),
    (TWO, "dZ1 = dA1 * (Z1 > 0).astype(int)", None),
    (TWO, "dW1 = np.dot(dZ1, X.T) / X.shape[1]", None),
    (TWO, "dW1 = 1 / float(Y.shape[1]) * np.dot(dZ1, X.T)", None),
    (TWO, "dW1 = 1.0/m * np.dot(dZ1, X.T)", None),
    (ROWS, "dW1 = np.dot(X.T, dZ1) / len(Y)", None),
    (ROWS, "dW1 = np.dot(X.T, dZ1) / X.shape[0]", None),
    (TANH, "dZ1 = (W2' * dZ2) .* (1 - A1.^2)", None),  # Octave: * a matrix product, ' ᵀ
    (TWO, "dW2 = 1. / m * np.dot(dZ2, A1.T)  # the course's line, with its comment", None),
    (TANH, "dZ1 = np.dot(W2.T, dZ2) * \\\n    (1 - np.power(A1, 2))", None),
]


@pytest.mark.parametrize("net,text,note", NUMPY, ids=[t for _, t, _ in NUMPY])
def test_numpy_spellings_are_read_with_their_meaning(net, text, note):
    assert agrees_with_oracle(text, net)
    v = check(text, net)
    assert v.verdict == "correct", v.message
    if note:
        assert any(note in n for n in v.notes), v.notes


NUMPY_WRONG = [  # (network, formula, verdict, mistake)
    (TWO, "dW1 = np.dot(dZ1, X.T)", "not_equivalent", "missing_scale"),
    (TWO, "dW1 = np.dot(dZ1, X) / X.shape[1]", "shape_error", "missing_transpose"),
    (TWO, "db1 = np.mean(dZ1, axis=0, keepdims=True)", "shape_error", "wrong_sum_axis"),
    (TWO, "dZ1 = np.array(dA1, copy=True) * np.maximum(0, Z1)", "not_equivalent",
     "activation_instead_of_derivative"),
    (TANH, "dZ1 = (W2 * dZ2) .* (1 - A1.^2)", "shape_error", "missing_transpose"),
]


@pytest.mark.parametrize("net,text,want,code", NUMPY_WRONG, ids=[t for _, t, _, _ in NUMPY_WRONG])
def test_numpy_spellings_of_mistakes(net, text, want, code):
    v = check(text, net)
    assert v.verdict == want and code in [mk.code for mk in v.mistakes], (v.verdict, v.mistakes)


def test_shape_0_and_len_are_numpys():
    """len(Y) is Y.shape[0]: the examples in rows, the output units (here 2) in columns; so is
    x.shape[0], the units n[l] in columns: neither is m there."""
    v = check("dW1 = np.dot(dZ1, X.T) / len(Y)", TWO)
    assert v.verdict == "not_equivalent"
    assert any("len(Y) is Y.shape[0] = 2" in n and "Y.shape[1]" in n for n in v.notes)
    assert check("dW = np.dot(dZ, A_prev.T) / X.shape[0]", DEEP).verdict == "not_equivalent"
    assert agrees_with_oracle("dW1 = np.dot(dZ1, X.T) / Y.shape[1]", TWO)


@pytest.mark.parametrize("text,message", [
    ("dZ1 = dA1 * np.maximum(1, Z1)", "np.maximum is read as relu"),
    ("db1 = np.dot(dZ1, np.ones((3, 1)))", "np.ones is read for x.shape"),
    ("dW1 = np.dot(dZ1, X.T) / float(X)", "float() of a matrix"),
    ("dW1 = np.dot(dZ1, X.T) / X.shape[2]", "a matrix has axes 0 and 1"),
    ("dZ1 = dA1 * (Z1, 0)", "tuple is not allowed"),
])
def test_numpy_spellings_that_cannot_mean_a_formula_are_parse_errors(text, message):
    v = check(text, TWO)
    assert v.verdict == "parse_error" and message in v.message, v.message


# -- the command line and the batch --------------------------------------------------------------
def test_layer_flag_and_batch_field(capsys, tmp_path):
    args = ["check", "dA_prev = np.dot(W.T, dZ)", "--layers", "3,4,5,2", "--json"]
    assert main([*args, "--layer", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target"] == "dA[1]" and out["expected"] == "dA[1] = W[2]ᵀ dZ[2]"
    assert main(["check", "dA_prev = np.dot(W.T, dZ)", "--layers", "3,1", "--json"]) == 0  # dX
    assert json.loads(capsys.readouterr().out)["target"] == "dX"
    assert main([*args, "--layer", "0"]) == 2
    assert "layers are numbered from 1" in capsys.readouterr().err
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in [
        {"equation": "dA_prev = np.dot(W.T, dZ)", "layers": "3,4,5,2", "layer": 3},
        {"equation": "dW = 1/m * np.dot(dZ, A_prev.T)", "layers": "3,4,5,2", "layer": 4},
        {"equation": "dA_prev = np.dot(W.T, dZ)", "layer": "two"}]) + "\n")
    assert main(["check", "--batch", str(batch)]) == 2
    res = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["verdict"] for r in res] == ["correct", "parse_error", "parse_error"]
    assert res[0]["target"] == "dA[2]"
    assert "layer 4 is not in this network" in res[1]["message"]
    assert "'layer' must be a layer number" in res[2]["message"]
