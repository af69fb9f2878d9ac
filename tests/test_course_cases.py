"""The courses' own test cases, reproduced: the Deep Learning Specialization's backward tests
(``testCases_v4a.py`` of "Building your Deep Neural Network: Step by Step", ``testCases_v2.py``
of the planar network, the logistic-regression and gradient-checking assignments) and CS231n's
layer tests. The inputs are regenerated here by the same seeded numpy calls (written here, in the
order the course draws them); the expected arrays are the course notebooks' published outputs,
as printed (8 decimals), and every one must match to that precision."""

from __future__ import annotations

import re

import numpy as np
import pytest

from derive.network.spec import Network
from derive.numbers.layer import layer_backward
from derive.numbers.worked import worked_example


def printed(text: str) -> tuple[np.ndarray, float]:
    """A numpy array as the course printed it -> (values, half a unit of its last printed
    digit): numpy prints every entry to the same decimals and trims trailing zeros
    (``0.0135308``, ``0.``), so the array's most decimals are every entry's."""
    rows = [r for r in re.split(r"\]\s*\[", text.strip().strip("[]")) if r.strip()]
    vals = [[float(t) for t in r.replace("[", "").replace("]", "").split()] for r in rows]
    decimals = max(len(t.split(".")[1]) for t in re.findall(r"-?\d+\.\d*", text))
    return np.array(vals), 0.5 * 10.0 ** -decimals


def assert_printed(ours, text: str, name: str = "") -> None:
    want, tol = printed(text)
    ours = np.asarray(ours, dtype=float).reshape(want.shape)
    bad = np.abs(ours - want) > tol * (1 + 1e-9) + 1e-15
    assert not bad.any(), f"{name}: ours {ours[bad]} vs printed {want[bad]}"


def randn(*shape):
    return np.random.randn(*shape)


# -- Building your Deep Neural Network: Step by Step (testCases_v4a) -----------------------------
def test_linear_backward():
    np.random.seed(1)
    dZ, A_prev, W, b = randn(3, 4), randn(5, 4), randn(3, 5), randn(3, 1)
    r = layer_backward(A_prev, W, b, dZ=dZ, activation="linear")
    assert_printed(r["dA_prev"], """[[-1.15171336  0.06718465 -0.3204696   2.09812712]
 [ 0.60345879 -3.72508701  5.81700741 -3.84326836]
 [-0.4319552  -1.30987417  1.72354705  0.05070578]
 [-0.38981415  0.60811244 -1.25938424  1.47191593]
 [-2.52214926  2.67882552 -0.67947465  1.48119548]]""", "dA_prev")
    assert_printed(r["dW"], """[[ 0.07313866 -0.0976715  -0.87585828  0.73763362  0.00785716]
 [ 0.85508818  0.37530413 -0.59912655  0.71278189 -0.58931808]
 [ 0.97913304 -0.24376494 -0.08839671  0.55151192 -0.10290907]]""", "dW")
    assert_printed(r["db"], "[[-0.14713786] [-0.11313155] [-0.13209101]]", "db")


LINEAR_ACTIVATION = {
    "sigmoid": ("""[[ 0.11017994  0.01105339] [ 0.09466817  0.00949723] [-0.05743092 -0.00576154]]""",
                "[[ 0.10266786  0.09778551 -0.01968084]]", "[[-0.05729622]]"),
    "relu": ("""[[ 0.44090989 -0.        ] [ 0.37883606 -0.        ] [-0.2298228   0.        ]]""",
             "[[ 0.44513824  0.37371418 -0.10478989]]", "[[-0.20837892]]"),
}


@pytest.mark.parametrize("activation", sorted(LINEAR_ACTIVATION))
def test_linear_activation_backward(activation):
    np.random.seed(2)
    dA, A_prev, W, b, Z = randn(1, 2), randn(3, 2), randn(1, 3), randn(1, 1), randn(1, 2)
    r = layer_backward(A_prev, W, b, dA=dA, Z=Z, activation=activation)
    for name, text in zip(("dA_prev", "dW", "db"), LINEAR_ACTIVATION[activation], strict=True):
        assert_printed(r[name], text, f"{activation} {name}")


def l_model_backward_case():
    np.random.seed(3)
    AL = randn(1, 2)
    Y = np.array([[1, 0]])
    caches = []
    for rows, cols in ((3, 4), (1, 3)):
        A_prev, W, b, Z = randn(cols, 2), randn(rows, cols), randn(rows, 1), randn(rows, 2)
        caches.append(((A_prev, W, b), Z))
    return AL, Y, caches


def test_l_model_backward():
    AL, Y, caches = l_model_backward_case()
    net = Network(layers=[4, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    w = worked_example(net, Y=Y, cache=caches, AL=AL)
    assert_printed(w.value("dW1"), """[[0.41010002 0.07807203 0.13798444 0.10502167]
 [0.         0.         0.         0.        ]
 [0.05283652 0.01005865 0.01777766 0.0135308 ]]""", "dW1")
    assert_printed(w.value("db1"), "[[-0.22007063] [ 0.        ] [-0.02835349]]", "db1")
    assert_printed(w.value("dA1"), """[[ 0.12913162 -0.44014127]
 [-0.14175655  0.48317296]
 [ 0.01663708 -0.05670698]]""", "dA1")
    assert set(w.given_steps) == {"Z[1]", "A[1]", "Z[2]", "A[2]"}
    assert any("differs from W[1] X + b[1]" in n for n in w.notes)  # a note, not an error


# -- CS231n: the layers against numeric gradients, as its notebooks check them -------------------
def numeric_gradient(f, x, df, h=1e-5):
    """Central differences of Σ f(x) ⊙ df in every entry of x (CS231n's eval_numerical_gradient_array)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.sum(f(x) * df)
        x[i] = old - h
        neg = np.sum(f(x) * df)
        x[i] = old
        grad[i] = (pos - neg) / (2 * h)
    return grad


def rel_error(x, y):
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def test_cs231n_affine_backward():
    np.random.seed(231)
    x, w, b, dout = randn(10, 2, 3), randn(6, 5), randn(5), randn(10, 5)

    def affine(x_, w_, b_):
        return x_.reshape(x_.shape[0], -1) @ w_ + b_

    dx_num = numeric_gradient(lambda v: affine(v, w, b), x.copy(), dout)
    dw_num = numeric_gradient(lambda v: affine(x, v, b), w.copy(), dout)
    db_num = numeric_gradient(lambda v: affine(x, w, v), b.copy(), dout)
    r = layer_backward(x, w, b, dA=dout, convention="rows")
    assert r["dA_prev"].shape == x.shape and r["db"].shape == b.shape
    assert rel_error(r["dA_prev"], dx_num) < 1e-8  # the notebook: "should be around e-10"
    assert rel_error(r["dW"], dw_num) < 1e-8
    assert rel_error(r["db"], db_num) < 1e-8


def test_cs231n_relu_backward():
    np.random.seed(231)
    x, dout = randn(10, 10), randn(10, 10)
    dx_num = numeric_gradient(lambda v: np.maximum(0, v), x.copy(), dout)
    r = layer_backward(None, dA=dout, Z=x, activation="relu", convention="rows")
    assert rel_error(r["dZ"], dx_num) < 1e-8  # the notebook: "should be around 3e-12"
