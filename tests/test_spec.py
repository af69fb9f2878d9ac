"""Network specs: flags, TOML, and one clear line for every bad spec (exit code 2)."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.cli import main
from derive.errors import SpecError
from derive.network.spec import Network


def test_flags_and_defaults():
    net = Network.from_strings("3,3,1", "relu,sigmoid", "mse")
    assert net.layers == (3, 3, 1) and net.activations == ("relu", "sigmoid")
    assert net.convention == "columns" and net.scale == "mean"


def test_omitted_sizes_are_symbolic_and_omitted_activations_generic():
    net = Network.from_strings(None, "relu,sigmoid")
    assert net.dims == (
        sp.Symbol("n0", positive=True, integer=True),
        sp.Symbol("n1", positive=True, integer=True),
        sp.Symbol("n2", positive=True, integer=True),
    )
    assert Network.from_strings("3,?,1").activations == (None, None)
    assert Network.from_strings("3,?,1").layers == (3, None, 1)
    assert Network(activations=["g", "relu"]).activations == (None, "relu")


def test_aliases_are_canonicalised():
    assert Network(activations=["σ", "logistic"]).activations == ("sigmoid", "sigmoid")
    assert Network(depth=1, loss="cross_entropy", activations=["softmax"]).loss == "ce"


def test_toml(tmp_path):
    f = tmp_path / "net.toml"
    f.write_text(
        'layers = [4, 5, 3]\nactivations = ["tanh", "softmax"]\nloss = "ce"\nconvention = "rows"\n',
        encoding="utf-8",
    )
    net = Network.from_toml(f)
    assert net.layers == (4, 5, 3) and net.convention == "rows" and net.loss == "ce"
    f.write_text('[network]\nlayers = "2,2,1"\n', encoding="utf-8")
    assert Network.from_toml(f).layers == (2, 2, 1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(layers=[3, 3, 1], activations=["relu", "sigmod"]),
            "unknown activation 'sigmod'; known: linear",
        ),
        (dict(layers=[3, 3, 1], activations=["relu"]), "1 activation for 2 layers"),
        (dict(layers=[3, 0, 1]), "layer size n1 is 0: every layer needs at least one unit"),
        (dict(layers=[3, -2, 1]), "layer size n1 is -2"),
        (dict(layers=[3, 1], activations=["softmax"]), "layer 1: softmax over a 1-unit layer"),
        (dict(layers=[3, 1], activations=["relu"], loss="bce"), "loss bce needs outputs in .0, 1."),
        (dict(layers=[3, 1], loss="huber"), "unknown loss 'huber'; known: bce, ce, mse, half_mse, mse_units, svm"),
        (dict(layers=[3, 1], convention="cols"), "unknown convention 'cols'; known: columns, rows"),
        (dict(layers=[3]), "at least two sizes"),
        (dict(), "give the layer sizes"),
    ],
)
def test_bad_specs_say_what_is_wrong(kwargs, message):
    with pytest.raises(SpecError, match=message):
        Network(**kwargs)


def test_bad_size_text():
    with pytest.raises(SpecError, match="layer size 1 is 'x'"):
        Network.from_strings("3,x,1")


def test_malformed_toml(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("layers = [3, 3\n", encoding="utf-8")
    with pytest.raises(SpecError, match="malformed TOML"):
        Network.from_toml(f)
    f.write_text('layers = [3, 1]\nactivation = ["relu"]\n', encoding="utf-8")
    with pytest.raises(SpecError, match="unknown key 'activation'"):
        Network.from_toml(f)


@pytest.mark.parametrize(
    "argv, text",
    [
        (["backward", "--layers", "3,3,1", "--act", "relu,sigmod"], "unknown activation 'sigmod'"),
        (["backward", "--layers", "3,3,1", "--act", "relu"], "1 activation for 2 layers"),
        (["backward", "--layers", "3,0,1"], "layer size n1 is 0"),
        (["backward", "--layers", "3,1", "--act", "softmax"], "softmax over a 1-unit layer"),
        (["backward", "--spec", "/nonexistent/net.toml"], "cannot read spec file"),
    ],
)
def test_cli_bad_spec_exit_2_with_one_line(argv, text, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and text in err
    assert err.count("\n") == 1


def test_unusual_pairing_is_noted():
    net = Network(layers=[2, 3, 3], activations=["tanh", "softmax"], loss="mse")
    assert any("unusual pairing" in n for n in net.notes)
