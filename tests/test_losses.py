"""The losses beyond a plain per-unit sum: mse_units (the mean over the output units) and svm (the
multiclass hinge). Each is checked against autograd (tests/oracle.py, which shares no code with
derive), through the CLI, and on the printed formulas."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive
from derive.catalogue import rules
from derive.cli import main
from derive.engine.values import gradient_values
from derive.network.model import random_instance
from tests import oracle


def _autograd_check(net, sizes, seed=1):
    """Every dW, db of the engine's formulas at ``sizes`` against autograd's, and dZ, dA too."""
    inst = random_instance(net.with_sizes(sizes), seed=seed)
    values = gradient_values(derive.backward(net, prove=False), inst)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    ref = oracle.param_gradients(net, params, inst.X, inst.Y)
    for l in range(1, net.L + 1):
        np.testing.assert_allclose(values["dW", l], ref[f"W{l}"], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(values["db", l], ref[f"b{l}"], rtol=1e-8, atol=1e-12)
    per_example = inst.m if net.scale == "mean" else 1
    for kind in ("dA", "dZ"):
        true = oracle.intermediate_gradient(net, kind[1], net.L, values[kind[1], net.L], params,
                                            inst.X, inst.Y)
        np.testing.assert_allclose(values[kind, net.L], per_example * true, rtol=1e-8, atol=1e-12)
    return inst, values


# -- mse_units ------------------------------------------------------------------------------------
def test_mse_units_is_in_the_catalogue_with_its_aliases():
    losses = rules.losses()
    entry = losses["mse_units"]
    assert entry.title.startswith("mean squared error over the output units")
    assert losses["mean_squared_error"] is entry and losses["MSE_mean"] is entry
    assert losses["sse"].name == "mse" and losses["half_mse"].name == "half_mse"  # unchanged


@pytest.mark.parametrize("convention", ["columns", "rows"])
@pytest.mark.parametrize("scale", ["mean", "sum", "dZ"])
def test_mse_units_dA_is_two_over_n_times_the_error(convention, scale):
    net = derive.Network(layers=[3, 4, 3], activations=["tanh", "linear"], loss="mse_units",
                         convention=convention, scale=scale)
    d = derive.backward(net)
    assert d.proof.passed
    front = "(1/m) (2/n2)" if scale == "dZ" else "(2/n2)"
    assert d.formula("dA", 2).text == f"dA[2] = {front} (A[2] − Y)"
    assert d.formula("dZ", 2).text == f"dZ[2] = {front} (A[2] − Y)"
    # the value: 2/3 of mse's (n[2] = 3), and autograd's
    inst, values = _autograd_check(net, [3, 4, 3])
    mse = derive.Network(layers=[3, 4, 3], activations=["tanh", "linear"], loss="mse",
                         convention=convention, scale=scale)
    plain = gradient_values(derive.backward(mse, prove=False), inst)
    np.testing.assert_allclose(values["dA", 2], plain["dA", 2] / 3, rtol=1e-12)


@pytest.mark.parametrize("n_out", [1, 2, 5, 20])
def test_mse_units_formula_holds_at_every_size_of_the_output(n_out):
    """The formula keeps n[L] a symbol, bound where numbers are computed: one derivation, several
    instance sizes, each against autograd (the proof's instances are smaller than 20 units)."""
    net = derive.Network(layers=[2, 3, None], activations=["relu", "linear"], loss="mse_mean")
    assert derive.backward(net).proof.passed
    _autograd_check(net, [2, 3, n_out])
    given = derive.Network(layers=[2, 3, n_out], activations=["relu", "sigmoid"], loss="mse_units",
                           l2=0.2)
    assert derive.backward(given).proof.passed
    _autograd_check(given, [2, 3, n_out])


def test_mse_units_worked_numbers_bind_n(capsys):
    code = main(["numbers", "--latex", "tests/data/seed003_network.tex", "--act", "relu,linear",
                 "--loss", "mse_units", "--json"])
    assert code in (0, 1)
    out = json.loads(capsys.readouterr().out)
    step = next(s for s in out["steps"] if s["label"] == "dA[2]")
    assert step["formula"] == "dA[2] = (2/n2) (A[2] − Y)"
    assert step["substituted"].startswith("(2/1) ")  # one output unit here


@pytest.mark.parametrize("command", [
    ["backward", "--verify"],
    ["gradcheck"],
    ["handout", "--format", "markdown"],
    ["jacobian", "J", "Z2"],
])
def test_every_command_takes_mse_units(command, capsys):
    code = main([*command, "--layers", "3,4,3", "--act", "relu,linear", "--loss", "mse_units"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "mse_units" in out or "mse\\_units" in out


def test_backward_help_lists_every_catalogue_loss(capsys):
    try:
        assert main(["backward", "--help"]) == 0
    except SystemExit as exc:  # argparse's own exit, where main lets it through
        assert exc.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in rules.losses():
        assert name in text.split("--loss LOSS", 2)[-1].split("(omit")[0], name


# -- svm ------------------------------------------------------------------------------------------
def _cs231n_dscores(S, labels):
    """CS231n's vectorised SVM gradient (one row of scores per example), without its 1/N:
    binary = margins > 0, the correct class gets minus the row's count."""
    N = S.shape[0]
    correct = S[np.arange(N), labels][:, None]
    margins = np.maximum(0, S - correct + 1)
    margins[np.arange(N), labels] = 0
    binary = (margins > 0).astype(float)
    binary[np.arange(N), labels] = -binary.sum(axis=1)
    return binary


def test_svm_is_in_the_catalogue_with_its_kink():
    entry = rules.losses()["hinge"]
    assert entry.name == "svm" and rules.losses()["multiclass_svm"] is entry
    assert entry.coupled and entry.natural_output == "linear" and entry.targets == "one_hot"
    assert "margins > 0" in entry.kink and "0" in entry.kink
    assert entry.kinks == (rules.a - rules.s + 1,)


@pytest.mark.parametrize("convention", ["columns", "rows"])
@pytest.mark.parametrize("scale", ["mean", "sum", "dZ"])
def test_svm_dA_is_cs231n_s_gradient(convention, scale):
    net = derive.Network(layers=[3, 4, 5], activations=["relu", "linear"], loss="svm",
                         convention=convention, scale=scale)
    d = derive.backward(net)
    assert d.proof.passed
    text = d.formula("dA", 2).text
    axis = 0 if convention == "columns" else 1
    M = f"(1 − Y) ⊙ [A[2] − sum(Y ⊙ A[2], axis={axis}) + 1 > 0]"
    inner = f"{M} − Y ⊙ sum({M}, axis={axis})"
    assert text == f"dA[2] = {'(1/m) (' + inner + ')' if scale == 'dZ' else inner}", text
    assert d.formula("dZ", 2).expr == d.formula("dA", 2).expr  # a linear output: dZ = dA
    inst, values = _autograd_check(net, [3, 4, 5])
    S = values["A", 2] if convention == "rows" else values["A", 2].T
    labels = np.argmax(inst.Y if convention == "rows" else inst.Y.T, axis=1)
    want = _cs231n_dscores(S, labels) / (inst.m if scale == "dZ" else 1)
    got = values["dA", 2] if convention == "rows" else values["dA", 2].T
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_svm_printed_numpy_code_runs():
    net = derive.Network(layers=[2, 3, 4], activations=["tanh", "linear"], loss="svm")
    d = derive.backward(net, prove=False)
    inst = random_instance(net, seed=5)
    expected = gradient_values(d, inst)
    namespace = {"np": np, "m": inst.m, "X": inst.X, "Y": inst.Y,
                 **{f"{k}{l}": v for (k, l), v in expected.items() if l is not None and l > 0}}
    exec(d.formula("dA", 2).code, namespace)
    np.testing.assert_allclose(namespace["dA2"], expected["dA", 2], rtol=1e-12)


def test_svm_kink_takes_zero_as_cs231n_does():
    """A margin exactly 0 contributes nothing (numpy's margins > 0), in the catalogue's gradient
    and in the engine's formula alike."""
    loss = rules.losses()["svm"]
    S = np.array([[2.0, 1.0, 0.5]])  # label 0: margins 0 (exactly), -0.5
    Y = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(loss.numpy_gradient(S, Y, -1), [[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(_cs231n_dscores(S, np.array([0])), [[0.0, 0.0, 0.0]])
    net = derive.Network(layers=[2, 3], activations=["linear"], loss="svm", convention="rows")
    d = derive.backward(net, prove=False)
    env = {("A", 1): S, ("Y", None): Y}
    from derive.core.expr import evaluate
    from derive.network.model import numpy_backend
    got = evaluate(d.formula("dA", 1).expr, env, numpy_backend(net, 1, (2, 3)))
    np.testing.assert_array_equal(got, [[0.0, 0.0, 0.0]])
    S[0, 1] = 1.0 + 1e-9  # just past the kink: the margin counts
    np.testing.assert_array_equal(loss.numpy_gradient(S, Y, -1), [[-1.0, 1.0, 0.0]])


@pytest.mark.parametrize("seed", range(5))
def test_svm_instances_keep_every_margin_off_the_kink(seed):
    net = derive.Network(layers=[3, 6, 7], activations=["relu", "linear"], loss="svm")
    inst = random_instance(net, seed=seed, m=6)
    values = gradient_values(derive.backward(net, prove=False), inst)
    Y = inst.Y
    assert np.all(Y.sum(axis=0) == 1) and set(np.unique(Y)) == {0.0, 1.0}  # one-hot
    distance = rules.losses()["svm"].kink_distance(values["A", 2], Y, -2)
    assert np.min(distance) >= 0.05 / 2 ** 7  # the smallest margin random_instance settles for


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("output", ["linear", "tanh", "softmax", None])
def test_svm_through_any_output_proves_and_matches_autograd(depth, output):
    acts = ["relu", "tanh", "sigmoid"][: depth - 1] + [output]
    net = derive.Network(layers=[3] + [4] * (depth - 1) + [3], activations=acts, loss="svm",
                         l2=0.1 if depth % 2 else None, convention="rows" if depth > 2 else "columns")
    assert derive.backward(net).proof.passed
    _autograd_check(net, [3] + [4] * (depth - 1) + [3])


def test_svm_mutated_formula_fails_the_proof():
    """The proof can fail: dA[L] without the correct class's −Σ M term is refused."""
    from dataclasses import replace

    from derive.engine.proof import prove
    net = derive.Network(layers=[2, 3, 3], activations=["relu", "linear"], loss="svm")
    d = derive.backward(net, prove=False)
    i = next(k for k, f in enumerate(d.formulas) if f.kind == "dA" and f.layer == 2)
    wrong = replace(d.formulas[i], expr=d.formulas[i].expr.left)  # M alone
    p = prove(replace(d, formulas=d.formulas[:i] + (wrong,) + d.formulas[i + 1:]))
    bad = [f for f in p.formulas if not f.passed]
    assert [f.name for f in bad] == ["dA[2]"] and bad[0].elementwise == "failed"


@pytest.mark.parametrize("command", [
    ["backward", "--verify"],
    ["backward", "--format", "latex"],
    ["backward", "--json"],
    ["gradcheck"],
    ["handout", "--format", "markdown"],
    ["jacobian", "J", "Z2"],
])
def test_every_command_takes_svm(command, capsys):
    code = main([*command, "--layers", "3,4,3", "--act", "relu,linear", "--loss", "svm"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "svm" in out


def test_rules_lists_svm_and_its_kink(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| `svm`"))
    assert "margins > 0" in row and "∂ℓ/∂s" in row
    assert "coupled_loss_gradient" in out
