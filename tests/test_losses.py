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
