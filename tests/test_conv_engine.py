"""The conv engine's numbers against the independent autograd oracle (tests/oracle_conv.py), and
its nodes' shape rules.

derive.conv.numbers evaluates the derived formulas' nodes; the oracle differentiates its own
forward pass with autograd. Sizes include stride 2 with pad 1, a stride that leaves rows no window
reaches, 1×1 filters and several channels.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.conv import numbers
from derive.conv.spec import EXAMPLE, load_cnn
from derive.core import convolution as C
from derive.core import tensor as T
from derive.errors import ShapeMismatch
from derive.network.textfile import load_toml
from tests import oracle_conv as oracle

CONV_CASES = [  # (n_H, n_W, n_C_prev, f, n_C, stride, pad)
    (5, 5, 3, 3, 4, 2, 1),
    (4, 4, 1, 2, 2, 1, 0),
    (6, 7, 2, 3, 3, 2, 2),  # (6 + 4 − 3) / 2: a row the windows skip
    (7, 5, 3, 3, 2, 3, 1),
    (5, 5, 2, 1, 3, 2, 0),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_and_backward_agree_with_autograd(case):
    h, w, c, f, k, s, p = case
    rng = np.random.default_rng(sum(case))
    A, W, b = rng.normal(size=(2, h, w, c)), rng.normal(size=(f, f, c, k)), rng.normal(size=(1, 1, 1, k))
    Z = numbers.conv_forward(A, W, b, stride=s, pad=p)
    np.testing.assert_allclose(Z, oracle.conv_forward(A, W, b, stride=s, pad=p), rtol=1e-12, atol=1e-12)
    dZ = rng.normal(size=Z.shape)
    mine = numbers.conv_backward(dZ, A, W, b, stride=s, pad=p)
    theirs = oracle.conv_gradients(dZ, A, W, b, stride=s, pad=p)
    for name, x, y in zip(("dA_prev", "dW", "db"), mine, theirs, strict=True):
        np.testing.assert_allclose(x, np.reshape(y, x.shape), rtol=1e-10, atol=1e-12, err_msg=name)


def test_cs231n_layout_agrees_with_autograd():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 3, 5, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    out = numbers.conv_forward(x, w, b, stride=2, pad=1, layout="cs231n")
    np.testing.assert_allclose(out, oracle.conv_forward(x, w, b, stride=2, pad=1, layout="cs231n"), rtol=1e-12)
    dout = rng.normal(size=out.shape)
    mine = numbers.conv_backward(dout, x, w, b, stride=2, pad=1, layout="cs231n")
    theirs = oracle.conv_gradients(dout, x, w, b, stride=2, pad=1, layout="cs231n")
    for a, c in zip(mine, theirs, strict=True):
        assert a.shape == np.shape(c)
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)
    pooled = numbers.pool_forward(x, f=2, stride=2, layout="cs231n")
    assert pooled.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(numbers.pool_backward(np.ones_like(pooled), x, f=2, stride=2, layout="cs231n"),
                               oracle.pool_gradients(np.ones_like(pooled), x, f=2, stride=2, layout="cs231n"))


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("f,s", [(2, 2), (3, 1), (3, 2)])
def test_pooling_agrees_with_autograd(mode, f, s):
    rng = np.random.default_rng(f * 10 + s)
    A = rng.normal(size=(2, 5, 6, 3))  # continuous draws: no ties in a window
    out = numbers.pool_forward(A, f=f, stride=s, mode=mode)
    np.testing.assert_allclose(out, oracle.pool_forward(A, f=f, stride=s, mode=mode), rtol=1e-12)
    dA = rng.normal(size=out.shape)
    np.testing.assert_allclose(numbers.pool_backward(dA, A, f=f, stride=s, mode=mode),
                               oracle.pool_gradients(dA, A, f=f, stride=s, mode=mode),
                               rtol=1e-10, atol=1e-12)


def test_a_max_pool_tie_marks_every_maximum_as_the_course_does():
    A = np.array([[1.0, 3.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    out = numbers.pool_backward(np.full((1, 1, 1, 1), 5.0), A, f=2, stride=2, mode="max")
    assert out.ravel().tolist() == [0.0, 5.0, 5.0, 0.0]  # x == np.max(x), create_mask_from_window


SPECS = {
    "max, relu, ce": EXAMPLE,
    "average, tanh, two conv, bce": """\
input = [7, 6, 2]
loss = "bce"
[[layer]]
kind = "conv2d"
filters = 2
size = 3
stride = 2
pad = 1
activation = "tanh"
[[layer]]
kind = "conv2d"
filters = 3
size = 2
activation = "sigmoid"
[[layer]]
kind = "pool"
mode = "average"
size = 2
stride = 1
[[layer]]
kind = "flatten"
[[layer]]
kind = "dense"
units = 4
activation = "relu"
[[layer]]
kind = "dense"
units = 1
activation = "sigmoid"
""",
}


def _instance(cnn, rng, m=3):
    params = {}
    for layer in cnn.layers:
        l = layer.number
        if layer.kind == "conv2d":
            params[f"W{l}"] = rng.normal(size=(layer.size, layer.size, layer.in_shape[2], layer.filters)) * 0.5
            params[f"b{l}"] = rng.normal(size=(1, 1, 1, layer.filters)) * 0.1
        elif layer.kind == "dense":
            params[f"W{l}"] = rng.normal(size=(layer.units, layer.in_shape[0])) * 0.5
            params[f"b{l}"] = rng.normal(size=(layer.units, 1)) * 0.1
    X = rng.normal(size=(m, *cnn.input))
    units = cnn.layers[-1].units
    if cnn.loss == "ce":
        Y = np.eye(units)[:, rng.integers(0, units, size=m)]
    else:
        Y = rng.integers(0, 2, size=(units, m)).astype(float)
    return params, X, Y


@pytest.mark.parametrize("name", list(SPECS))
def test_network_gradients_agree_with_autograd(name):
    text = SPECS[name]
    cnn = load_cnn(text)
    params, X, Y = _instance(cnn, np.random.default_rng(7))
    mine = numbers.network_gradients(cnn, params, X, Y)
    theirs = oracle.cnn_gradients(load_toml(text, "spec"), params, X, Y, head="columns")
    for key in [k for k in theirs if k.startswith("d") and k != "dA0"]:
        np.testing.assert_allclose(mine[key], np.reshape(theirs[key], mine[key].shape),
                                   rtol=1e-8, atol=1e-12, err_msg=key)
    # dA0 stacks the per-example gradients (the dense engine's and the course's dA): ∂J/∂X = dA0/m
    np.testing.assert_allclose(mine["dA0"] / X.shape[0], theirs["dA0"], rtol=1e-8, atol=1e-12)


def test_network_gradients_name_what_they_return():
    cnn = load_cnn(EXAMPLE)
    params, X, Y = _instance(cnn, np.random.default_rng(1), m=2)
    out = numbers.network_gradients(cnn, params, X, Y)
    assert {"dW1", "db1", "dW4", "db4", "dA0", "dZ1", "dA1", "dA2", "dA3", "A4"} <= set(out)
    assert "W1" not in out and out["dW1"].shape == params["W1"].shape
    with pytest.raises(Exception, match=r"X has shape \(2, 5, 6, 2\)"):
        numbers.network_gradients(cnn, params, X[:, :5], Y)


# -- the nodes' shape rules --------------------------------------------------------------------
def test_shape_rules_name_the_operation_and_both_operands():
    x, w = T.TSym("A", 0, (2, 5, 5, 3)), T.TSym("W", 1, (3, 3, 2, 4))
    with pytest.raises(ShapeMismatch, match=r"correlation X and W\[1\]: \(2×5×5×3\) and \(3×3×2×4\)"):
        C.Correlate(x, w, 1)
    with pytest.raises(ShapeMismatch, match="bias addition"):
        T.AddBias(x, T.TSym("b", 1, (1, 1, 1, 4)))
    with pytest.raises(ShapeMismatch, match=r"does not fit in 5×5"):
        T.Crop(x, 1, (5, 5))
    with pytest.raises(ShapeMismatch, match="cannot be reshaped"):
        T.Unflatten(T.TSym("dA", 3, (74, 2)), (2, 5, 5, 3))
    with pytest.raises(ShapeMismatch, match="do not span"):
        C.Dilate(T.TSym("dZ", 1, (2, 3, 3, 4)), 2, (9, 5))
    with pytest.raises(ShapeMismatch, match="pool's output shape"):
        C.PoolMask(T.TSym("dA", 2, (2, 3, 3, 3)), x, 2, 2)


def test_the_full_convolution_is_the_correlation_with_flipped_filters():
    rng = np.random.default_rng(3)
    D, W = rng.normal(size=(2, 4, 3, 5)), rng.normal(size=(3, 3, 2, 5))
    full = T.tevaluate(C.FullConvolve(T.TSym("D", None, D.shape), T.TSym("W", None, W.shape)),
                       {("D", None): D, ("W", None): W})
    flipped = np.transpose(W[::-1, ::-1], (0, 1, 3, 2))  # rot180, channel axes swapped
    padded = np.pad(D, ((0, 0), (2, 2), (2, 2), (0, 0)))
    by_correlation = oracle.conv_forward(padded, flipped, np.zeros((1, 1, 1, 2)), stride=1, pad=0)
    np.testing.assert_allclose(full, by_correlation, rtol=1e-12, atol=1e-12)


# -- any small layer -----------------------------------------------------------------------------
@st.composite
def conv_layers(draw):
    f = draw(st.integers(1, 4))
    pad = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    h = draw(st.integers(max(1, f - 2 * pad), 8))
    w = draw(st.integers(max(1, f - 2 * pad), 8))
    return (draw(st.integers(1, 3)), h, w, draw(st.integers(1, 3)), f, draw(st.integers(1, 3)),
            stride, pad, draw(st.integers(0, 2**32 - 1)))


@settings(max_examples=40, deadline=None)
@given(conv_layers())
def test_any_small_conv_layer_agrees_with_autograd(layer):
    m, h, w, c, f, k, s, p, seed = layer
    rng = np.random.default_rng(seed)
    A, W, b = rng.normal(size=(m, h, w, c)), rng.normal(size=(f, f, c, k)), rng.normal(size=(1, 1, 1, k))
    Z = numbers.conv_forward(A, W, b, stride=s, pad=p)
    dZ = rng.normal(size=Z.shape)
    for x, y in zip(numbers.conv_backward(dZ, A, W, b, stride=s, pad=p),
                    oracle.conv_gradients(dZ, A, W, b, stride=s, pad=p), strict=True):
        np.testing.assert_allclose(x, np.reshape(y, x.shape), rtol=1e-9, atol=1e-11)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 7), st.integers(1, 7), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from(["max", "average"]), st.integers(0, 2**32 - 1))
def test_any_small_pool_layer_agrees_with_autograd(f, h, w, s, c, mode, seed):
    h, w = max(h, f), max(w, f)
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(2, h, w, c))
    out = numbers.pool_forward(A, f=f, stride=s, mode=mode)
    dA = rng.normal(size=out.shape)
    np.testing.assert_allclose(numbers.pool_backward(dA, A, f=f, stride=s, mode=mode),
                               oracle.pool_gradients(dA, A, f=f, stride=s, mode=mode), rtol=1e-9, atol=1e-11)
