"""Inverted dropout (issue 11): A[l] = g(Z[l]) ⊙ D[l] / keep_prob with a fixed 0/1 mask on the
hidden layers. The derivation (the course's dZ[l] = dA[l] ⊙ D[l] / keep_prob ⊙ g′(Z[l])), both
proofs with the mask a constant leaf (and a wrong rule failing them), agreement with autograd of
a forward pass written again in tests/oracle.py, the spec in every form (Python, strings, TOML,
CLI) and the commands that refuse it by name."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.core import expr as E
from derive.core.names import KEEP_PROB
from derive.engine.proof import prove
from derive.engine.values import gradient_values
from derive.errors import SpecError
from derive.network.model import random_instance
from derive.network.symbols import SymbolTable
from tests import oracle

COURSE = dict(layers=[4, 5, 3, 2], activations=["relu", "relu", "sigmoid"], loss="bce")


def test_golden_derivation_of_the_course_network():
    # the Regularization assignment's 3-layer net, dropout on layers 1 and 2 (keep_prob 0.8);
    # the expected formulas are the course's backward_propagation_with_dropout, written out
    d = derive.backward(derive.Network(**COURSE, keep_prob=0.8))
    # dG[l]: the gradient with respect to G[l] = g(Z[l]) before the mask, what the course's dA[l]
    # holds after dA = dA * D; dA = dA / keep_prob
    assert [f.text for f in d.formulas if f.layer in (1, 2)] == [
        "dA[2] = W[3]ᵀ dZ[3]",
        "dG[2] = W[3]ᵀ dZ[3] ⊙ (1/0.8) D[2]",
        "dZ[2] = W[3]ᵀ dZ[3] ⊙ (1/0.8) D[2] ⊙ relu′(Z[2])",
        "dW[2] = (1/m) dZ[2] A[1]ᵀ",
        "db[2] = (1/m) sum(dZ[2], axis=1)",
        "dA[1] = W[2]ᵀ dZ[2]",
        "dG[1] = W[2]ᵀ dZ[2] ⊙ (1/0.8) D[1]",
        "dZ[1] = W[2]ᵀ dZ[2] ⊙ (1/0.8) D[1] ⊙ relu′(Z[1])",
        "dW[1] = (1/m) dZ[1] Xᵀ",
        "db[1] = (1/m) sum(dZ[1], axis=1)",
    ]
    assert d.formula("dZ", 3).text == "dZ[3] = A[3] − Y"  # the output layer has no mask
    assert d.proof.passed
    steps = [s for s in d.steps if s.rule == "dropout_mask"]
    assert [(s.layer, s.target.base) for s in steps] == [(2, "dG"), (2, "dZ"), (1, "dG"), (1, "dZ")]
    assert all("held fixed" in s.note and "D[" in s.index for s in steps)
    assert any("held fixed" in n and "sampled network" in n for n in d.notes)
    assert d.formula("dZ", 1).latex == (r"dZ^{[1]} = W^{[2]\top} dZ^{[2]} \odot \frac{1}{0.8} "
                                        r"D^{[1]} \odot \operatorname{ReLU}^{\prime}(Z^{[1]})")


def test_symbolic_keep_prob_prints_and_is_a_scalar_of_the_table():
    net = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce",
                         keep_prob=True)
    d = derive.backward(net)
    f = d.formula("dZ", 1)
    assert f.text == "dZ[1] = W[2]ᵀ dZ[2] ⊙ (1/keep_prob) D[1] ⊙ tanh′(Z[1])"
    assert "keep_prob" in f.code and r"\mathrm{keep\_prob}" in f.latex
    table = SymbolTable(net)
    assert table.scalar("keep_prob") is KEEP_PROB and table.scalars["keep_prob"] is KEEP_PROB
    assert table["D", 1].shape == table["A", 1].shape
    assert table["G", 1].shape == table["dG", 1].shape == table["A", 1].shape
    for name in ("D", "G", "dG"):
        with pytest.raises(KeyError, match="no dropout"):
            table[name, 2]  # the output layer has no mask
    with pytest.raises(KeyError):
        table["dD", 1]  # a mask has no gradient


def test_per_layer_keep_prob_one_means_no_mask():
    net = derive.Network(**COURSE, keep_prob=[1, 0.5])
    d = derive.backward(net)
    assert "D[1]" not in d.formula("dZ", 1).text
    assert d.formula("dZ", 2).text == "dZ[2] = W[3]ᵀ dZ[3] ⊙ (1/0.5) D[2] ⊙ relu′(Z[2])"
    assert net.dropout(1) is None and float(net.dropout(2)) == 0.5 and net.dropout(3) is None
    assert derive.Network(**COURSE, keep_prob=1).keep_prob is None  # keep every unit: no dropout


@pytest.mark.parametrize("convention", ["columns", "rows"])
@pytest.mark.parametrize("scale", ["mean", "sum", "dZ"])
def test_agrees_with_autograd_with_the_instance_masks(convention, scale):
    net = derive.Network(layers=[3, 4, 5, 2], activations=["tanh", "sigmoid", "softmax"],
                         loss="ce", keep_prob=[0.5, 0.7], convention=convention, scale=scale)
    inst = random_instance(net, seed=4)
    masks = {l: v for (k, l), v in inst.params.items() if k == "D"}
    assert sorted(masks) == [1, 2]
    for l, D in masks.items():
        assert set(np.unique(D)) <= {0.0, 1.0}
        assert D.shape == tuple(net.layout.batch(inst.sizes[l], inst.m))
        assert 0 < D.mean() < 1  # the mask drops some units and keeps others
    d = derive.backward(net, prove=False)
    values = gradient_values(d, inst)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items() if k != "D"}
    ref = oracle.param_gradients(net, params, inst.X, inst.Y, masks)
    for l in (1, 2, 3):
        np.testing.assert_allclose(values["dW", l], ref[f"W{l}"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(values["db", l], ref[f"b{l}"], rtol=1e-9, atol=1e-12)
    for l in (1, 2):  # dG[l] = ∂J/∂G[l] (times m under scale mean), G[l] = g(Z[l]) before the mask
        true = oracle.intermediate_gradient(net, "G", l, values["G", l], params, inst.X, inst.Y, masks)
        np.testing.assert_allclose(values["dG", l], (inst.m if scale == "mean" else 1) * true,
                                   rtol=1e-9, atol=1e-12)
    # without the masks the oracle's gradient differs: the test can fail
    plain = oracle.param_gradients(net, params, inst.X, inst.Y, {l: np.ones_like(D) for l, D in masks.items()})
    assert not np.allclose(values["dW", 1], plain["W1"])


def test_the_same_seed_draws_the_same_masks_and_another_seed_others():
    net = derive.Network(**COURSE, keep_prob=0.8)
    a, b, c = (random_instance(net, seed=s, m=20) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.params["D", 1], b.params["D", 1])
    assert not np.array_equal(a.params["D", 1], c.params["D", 1])
    # a network without dropout draws exactly what it drew before (no mask consumes the generator)
    plain = random_instance(derive.Network(**COURSE), seed=3, m=20)
    assert ("D", 1) not in plain.params


@pytest.mark.parametrize("wrong", ["no mask", "no division", "mask twice"])
def test_a_wrong_dropout_rule_fails_both_proofs(wrong):
    net = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", keep_prob=0.5)
    d = derive.backward(net, prove=False)
    f = d.formula("dZ", 1)
    T = SymbolTable(net)
    upstream, deriv = E.MatMul(E.Transpose(T["W", 2]), T["dZ", 2]), E.Deriv(net.activation(1), 1, T["Z", 1])
    D = T["D", 1]
    bad = {"no mask": E.Hadamard(upstream, deriv),
           "no division": E.Hadamard(E.Hadamard(upstream, D), deriv),
           "mask twice": E.Hadamard(E.Hadamard(upstream, E.Scale(4, E.Hadamard(D, D))), deriv)}[wrong]
    planted = replace(d, formulas=tuple(replace(g, expr=bad) if g is f else g for g in d.formulas))
    p = prove(planted)
    proof = next(x for x in p.formulas if x.name == "dZ[1]")
    assert proof.elementwise == "failed" and not proof.fd_passed
    assert all(x.passed for x in p.formulas if x.name != "dZ[1]")
    # and dG[1] = W[2]ᵀ dZ[2] ⊙ (1/keep_prob) D[1] with the same mistake (no derivative factor)
    g1 = d.formula("dG", 1)
    bad_g = {"no mask": upstream, "no division": E.Hadamard(upstream, D),
             "mask twice": E.Hadamard(upstream, E.Scale(4, E.Hadamard(D, D)))}[wrong]
    p = prove(replace(d, formulas=tuple(replace(g, expr=bad_g) if g is g1 else g for g in d.formulas)))
    proof = next(x for x in p.formulas if x.name == "dG[1]")
    assert proof.elementwise == "failed" and not proof.fd_passed


def test_spec_forms_and_errors(tmp_path):
    from derive.network.spec import Network

    net = Network.from_strings("4,5,3,2", "relu,relu,sigmoid", "bce", keep_prob="1,0.8")
    assert net.to_dict()["keep_prob"] == [1, 0.8]
    assert Network.from_mapping(net.to_dict()) == net  # JSON round trip
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [4, 5, 3, 2]\nactivations = ["relu", "relu", "sigmoid"]\n'
                    'loss = "bce"\nkeep_prob = 0.8\n', encoding="utf-8")
    assert Network.from_toml(spec).keep_prob == Network(**COURSE, keep_prob=0.8).keep_prob
    seq = tmp_path / "seq.toml"
    seq.write_text('inputs = 3\nloss = "bce"\nkeep_prob = "keep_prob"\n[[layer]]\nunits = 4\n'
                   'activation = "relu"\n[[layer]]\nunits = 1\nactivation = "sigmoid"\n', encoding="utf-8")
    assert Network.from_toml(seq).keep_prob_symbolic
    for bad, message in [(1.5, "in \\(0, 1\\]"), (0, "in \\(0, 1\\]"), ("often", "number in"),
                         ([0.8], "2 hidden layers"), (float("nan"), "probability")]:
        with pytest.raises(SpecError, match=message):
            Network(**COURSE, keep_prob=bad)
    with pytest.raises(SpecError, match="hidden layers"):
        Network(layers=[3, 1], activations=["sigmoid"], keep_prob=0.8)
    with pytest.raises(SpecError, match="softmax"):
        Network(layers=[3, 4, 2], activations=["softmax", "sigmoid"], keep_prob=0.8)


def test_cli_backward_takes_keep_prob_in_every_format(capsys):
    args = ["backward", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce"]
    assert main([*args, "--keep-prob", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "dZ[1] = W[2]ᵀ dZ[2] ⊙ (1/0.8) D[1] ⊙ relu′(Z[1])" in out and "held fixed" in out
    assert main([*args, "--keep-prob", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network"]["keep_prob"] == ["keep_prob"] and data["proof"]["passed"]
    assert main([*args, "--keep-prob", "0.8", "--format", "markdown"]) == 0
    assert r"\frac{1}{0.8} D^{[1]}" in capsys.readouterr().out
    assert main([*args, "--keep-prob", "0.8", "--steps"]) == 0
    assert "[dropout_mask]" in capsys.readouterr().out


@pytest.mark.parametrize("command", [
    ["jacobian", "Z1", "W1", "--layers", "3,4,2", "--act", "relu,sigmoid", "--keep-prob", "0.8"],
])  # handouts, numbers, gradcheck and stability take dropout
def test_commands_without_dropout_refuse_it_by_name(command, capsys, tmp_path):
    extra = ["-o", str(tmp_path / "h.tex")] if command[0] == "handout" else []
    assert main([*command, *extra]) == 2
    err = capsys.readouterr().err
    assert "dropout is not supported by derive" in err and "--keep-prob" in err


def test_gradcheck_holds_the_masks_fixed_from_a_spec_file_too(tmp_path, capsys):
    # before the masks were held fixed (the moved copies entered above a masked layer through
    # the unmasked g), a [network] table with keep_prob printed PASSED over unresolved rows
    from derive.cli import main
    from derive.numbers.gradcheck import gradcheck

    spec = tmp_path / "net.toml"
    spec.write_text('[network]\nlayers = [2, 3, 1]\nactivations = ["relu", "sigmoid"]\n'
                    'loss = "bce"\nkeep_prob = 0.8\n')
    assert main(["gradcheck", "--spec", str(spec), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and {a["status"] for a in out["arrays"]} == {"pass"}
    r = gradcheck(derive.Network(layers=[2, 3, 1], activations=["relu", "sigmoid"], loss="bce",
                                 keep_prob=0.8), seed=2)
    assert r.passed and {a.status for a in r.arrays} == {"pass"}
