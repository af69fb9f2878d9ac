"""Readings the checker completes with the network (issue 12): one example's db, the layer of a
CS231n target, sizes inside ``.reshape``, and the names an unknown-name error lists.

The formulas are written here from Nielsen's backprop and CS231n's affine_backward definitions,
not copied from any corpus; correct ones are also evaluated against autograd (tests/oracle.py).
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

NIELSEN = Network(layers=[4, 5, 3, 2], activations=["sigmoid"] * 3, loss="half_mse")
ROWS = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", convention="rows",
               scale="dZ")


@pytest.mark.parametrize("text,layer", [("nabla_b[-1] = delta", 3), ("nabla_b[-l] = delta", 2),
                                        ("db = dz", 1), ("db2 = dz2", 2)])
def test_one_example_db_is_dz_itself(text, layer):
    v = check(text, NIELSEN)
    assert v.verdict == "correct", (v.message, v.mistakes)
    assert any(n.startswith("one example (m = 1): db[") for n in v.notes), v.notes
    # one example: autograd's db of each example is its dz; over the checker's m examples with
    # the cost a sum, db = Σ dz, which is what the reading checks
    one = NIELSEN.replace(scale="sum")
    values = instance(one)
    eq = parse_equation(text, one, layer=layer)
    dz = np.asarray(evaluate(bind_m(eq.rhs, M), values, NumpyBackend(standins(one))), float)
    assert np.allclose(dz.sum(axis=1, keepdims=True), values["db", layer], rtol=1e-9)
    wrong = check(text.replace("delta", "2 * delta").replace("= dz", "= 2 * dz"), NIELSEN)
    assert [mk.code for mk in wrong.mistakes] == ["wrong_scale"]
    # with m written, a batch: db needs its sum
    assert check("db1 = 1/m * dZ1", NIELSEN).mistakes[0].code == "missing_sum"


def test_a_cs231n_dx_is_the_layer_below():
    v = check("dx = dout.dot(w.T)", ROWS)
    assert v.verdict == "correct" and v.target == "dA[l-1]", (v.target, v.message)
    assert check("dw = x.T.dot(dout)", ROWS).target == "dW[l]"


def test_reshape_sizes_are_not_names():
    text = "dx = np.dot(dout, w.reshape(D, M).T).reshape(x.shape)"
    v = check(text, ROWS, layer=2)
    assert v.verdict == "correct" and v.target == "dA[1]", v.message
    assert check("dx = dout + D", ROWS, layer=2).verdict == "parse_error"


def test_unknown_name_error_lists_what_a_binding_needs():
    # X2 is no quantity (X has no layer): listed with the others, so one --bind fixes it all
    v = check("dW2 = X2.T.dot(softmax_matrix)", ROWS)
    assert v.verdict == "parse_error" and "unknown names X2, softmax_matrix" in v.message
    bound = check("dW2 = X2.T.dot(softmax_matrix)", ROWS,
                  names={"X2": "A[1]", "softmax_matrix": "dZ[2]"})
    assert bound.verdict == "correct"
    # a dialect's entry is one name: self.weights[-l+1] is read, only sp is unknown
    v = check("delta = np.dot(self.weights[-l+1].transpose(), delta) * sp", NIELSEN)
    first = v.message.splitlines()[0]
    assert first.startswith("unknown name 'sp':") and "self" not in first, first
