"""The derivation engine: textbook results, and agreement with an autodiff we did not write."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.engine.values import forward_env, gradient_values
from derive.network.model import random_instance
from tests import oracle

DLS = dict(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")


def test_course_two_layer_network_gives_the_textbook_formulas():
    # The Deep Learning Specialization's formulas (course 1, week 3), written from the course.
    d = derive.backward(derive.Network(**DLS))
    got = {f.name: f.text.split(" = ", 1)[1] for f in d.formulas}
    assert got["dZ[2]"] == "A[2] − Y"
    assert got["dW[2]"] == "(1/m) dZ[2] A[1]ᵀ"
    assert got["db[2]"] == "(1/m) sum(dZ[2], axis=1)"
    assert got["dZ[1]"] == "W[2]ᵀ dZ[2] ⊙ relu′(Z[1])"
    assert got["dW[1]"] == "(1/m) dZ[1] Xᵀ"
    assert got["db[1]"] == "(1/m) sum(dZ[1], axis=1)"
    assert got["dA[1]"] == "W[2]ᵀ dZ[2]"
    assert d.proof.passed


def test_course_numpy_code_matches_the_assignment():
    d = derive.backward(derive.Network(**DLS), prove=False)
    code = {f.name: f.code for f in d.formulas}
    assert code["dW[1]"] == "dW1 = (1/m) * np.dot(dZ1, X.T)"
    assert code["db[1]"] == "db1 = (1/m) * np.sum(dZ1, axis=1, keepdims=True)"
    assert code["dZ[1]"] == "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"


def test_softmax_cross_entropy_simplifies_to_a_minus_y():
    d = derive.backward(
        derive.Network(layers=[4, 5, 3], activations=["tanh", "softmax"], loss="ce")
    )
    assert d.formula("dZ", 2).text == "dZ[2] = A[2] − Y"
    assert d.formula("dZ", 1).text == "dZ[1] = W[2]ᵀ dZ[2] ⊙ tanh′(Z[1])"
    assert any("sum to 1" in s.note for s in d.steps)  # the assumption is stated


def test_softmax_with_mse_keeps_the_full_jacobian():
    d = derive.backward(
        derive.Network(layers=[2, 3, 3], activations=["tanh", "softmax"], loss="mse")
    )
    assert d.formula("dZ", 2).text == "dZ[2] = A[2] ⊙ (dA[2] − sum(A[2] ⊙ dA[2], axis=0))"
    assert d.proof.passed


def test_linear_mse_and_relu_mse():
    d = derive.backward(
        derive.Network(layers=[2, 2, 1], activations=["tanh", "linear"], loss="mse")
    )
    assert d.formula("dZ", 2).text == "dZ[2] = 2 (A[2] − Y)"
    d = derive.backward(
        derive.Network(layers=[2, 2, 1], activations=["tanh", "relu"], loss="half_mse")
    )
    assert d.formula("dA", 2).text == "dA[2] = A[2] − Y"
    assert d.formula("dZ", 2).text == "dZ[2] = dA[2] ⊙ relu′(Z[2])"


def test_generic_network_starts_at_dA():
    d = derive.backward(derive.Network(depth=2))
    assert d.get("dA", 2) is None
    assert d.formula("dZ", 2).text == "dZ[2] = dA[2] ⊙ g[2]′(Z[2])"
    assert d.formula("dZ", 1).text == "dZ[1] = W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])"
    assert str(d.formula("dZ", 1).shape) == "(n1, m)"


def test_rows_convention_and_sum_scale():
    d = derive.backward(
        derive.Network(
            layers=[2, 3, 2],
            activations=["tanh", "linear"],
            loss="mse",
            convention="rows",
            scale="sum",
        )
    )
    got = {f.name: f.text.split(" = ", 1)[1] for f in d.formulas}
    assert got["dW[1]"] == "Xᵀ dZ[1]"
    assert got["db[1]"] == "sum(dZ[1], axis=0)"
    assert got["dZ[1]"] == "dZ[2] W[2]ᵀ ⊙ tanh′(Z[1])"


@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_scale_dZ_puts_the_mean_in_dZ_L(convention):
    # CS231n: dscores = (probs − y)/N, dW = Xᵀ dscores, db = sum(dscores, axis=0), no 1/N more
    net = derive.Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                         convention=convention, scale="dZ")
    d = derive.backward(net)
    got = {f.name: f.text.split(" = ", 1)[1] for f in d.formulas}
    assert got["dZ[2]"] == "(1/m) (A[2] − Y)"
    assert got["dA[2]"] == "(1/m) (−Y ⊘ A[2])"
    axis = 1 if convention == "columns" else 0
    assert got["dW[1]"] == ("dZ[1] Xᵀ" if convention == "columns" else "Xᵀ dZ[1]")
    assert got["db[2]"] == f"sum(dZ[2], axis={axis})"
    assert d.formula("dZ", 2).code == "dZ2 = (1/m) * (A2 - Y)"
    assert net.cost_is_mean and not net.per_example_dZ
    from derive.network.spec import m
    assert (net.cost_factor, net.weight_factor, net.output_factor) == (1 / m, 1, 1 / m)
    # every output says where the 1/m is
    from derive.render import convention_lines
    assert any("the 1/m sits in dA[L] and dZ[L]" in line for line in convention_lines(net))
    assert any("scale dZ" in s.note for s in d.steps if s.target.base == "dZ")
    assert d.proof.passed and len(d.proof.formulas) == len(d.formulas)


def test_scale_dZ_generic_loss_takes_dA_as_dJ():
    d = derive.backward(derive.Network(depth=2, scale="dZ"))
    assert d.formula("dW", 1).text == "dW[1] = dZ[1] Xᵀ"
    assert any("∂J/∂A[L]" in n for n in d.notes)


def test_the_three_scales_agree_on_dW_and_differ_only_where_they_say():
    base = dict(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    inst = random_instance(derive.Network(**base), seed=5)
    vals = {}
    for scale in ("mean", "dZ", "sum"):
        net = derive.Network(**base, scale=scale)
        vals[scale] = gradient_values(derive.backward(net, prove=False), inst)
    for key in (("dW", 1), ("db", 1), ("dW", 2), ("db", 2)):
        np.testing.assert_allclose(vals["mean"][key], vals["dZ"][key], rtol=1e-12)
        np.testing.assert_allclose(vals["sum"][key], inst.m * vals["mean"][key], rtol=1e-12)
    np.testing.assert_allclose(vals["dZ"]["dZ", 1], vals["mean"]["dZ", 1] / inst.m, rtol=1e-12)


def test_every_step_cites_a_catalogue_identity():
    from derive.catalogue.rules import identities

    d = derive.backward(
        derive.Network(layers=[3, 4, 2], activations=["relu", "softmax"], loss="ce")
    )
    for s in d.steps:
        assert s.rule in identities()
        assert s.index  # the element-wise reasoning
    rules_used = [s.rule for s in d.steps]
    assert rules_used[:3] == ["loss_gradient", "softmax_chain", "output_simplification"]


NETS = [
    DLS,
    dict(layers=[4, 5, 3], activations=["tanh", "softmax"], loss="ce"),
    dict(
        layers=[3, 4, 2, 2], activations=["elu", "swish", "softmax"], loss="mse", convention="rows"
    ),
    dict(
        layers=[2, 3, 3, 1], activations=["gelu", "leaky_relu", "sigmoid"], loss="bce", scale="sum"
    ),
    dict(layers=[2, 3, 2], activations=["softplus", "linear"], loss="half_mse"),
    dict(layers=[3, 2, 2], activations=[None, None], loss=None),
    dict(layers=[4, 5, 3], activations=["tanh", "softmax"], loss="ce", scale="dZ"),
    dict(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", scale="dZ", convention="rows"),
    dict(layers=[3, 3, 2, 1], activations=["elu", "relu", "sigmoid"], loss="bce", scale="dZ"),
    dict(layers=[3, 2, 2], activations=[None, None], loss=None, scale="dZ", convention="rows"),
    dict(layers=[2, 3, 3], activations=["tanh", "softmax"], loss="mse", scale="dZ"),
]


@pytest.mark.parametrize("spec", NETS, ids=lambda s: ",".join(str(a) for a in s["activations"]))
def test_agrees_with_autograd(spec):
    net = derive.Network(**spec)
    d = derive.backward(net, prove=False, input_gradient=True)  # down to dX = dA[0]
    assert d.formulas[-1].name == "dX"
    inst = random_instance(net, seed=3)
    values = gradient_values(d, inst)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    ref = oracle.param_gradients(net, params, inst.X, inst.Y)
    for l in range(1, net.L + 1):
        np.testing.assert_allclose(values["dW", l], ref[f"W{l}"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(values["db", l], ref[f"b{l}"], rtol=1e-9, atol=1e-12)
    # dZ and dA are per-example gradients: m ∂J/∂Z under a mean cost (scale mean); else ∂J/∂Z
    env = forward_env(net, inst)
    per_example = inst.m if net.scale == "mean" else 1
    for f in d.formulas:
        if f.kind in ("dZ", "dA"):
            base = f.kind[1]
            value = inst.X if f.layer == 0 else env[base, f.layer]
            ref_g = oracle.intermediate_gradient(
                net, base, f.layer, value, params, inst.X, inst.Y
            )
            np.testing.assert_allclose(
                values[f.kind, f.layer], per_example * ref_g, rtol=1e-9, atol=1e-12
            )
