"""The CNN gradient check: passes on the derived formulas of conv (stride 2, pad 1) → pool →
flatten → dense, fails on every planted mistake, each named; the derived gradients and the
planted ones are also compared with the autograd oracle (tests/oracle_conv.py), which shares
nothing with derive, so a failure is the mistake's and not the differences'."""

from __future__ import annotations

import numpy as np
import pytest

from derive.conv import gradcheck as G
from derive.conv.spec import cnn_from_mapping
from derive.errors import DeriveError, ResourceLimit
from derive.network.textfile import load_toml
from tests.cnn_specs import small_cnn
from tests.oracle_conv import cnn_gradients

spec = small_cnn


def load(text):
    table = load_toml(text, "test")
    return table, cnn_from_mapping(table, "test")


def oracle(table, params, X, Y) -> dict:
    """The oracle's gradients keyed as the check's: ("W", l), ("b", l), ("X", 0) = ∂J/∂X."""
    named = {f"{b}{l}": v for (b, l), v in params.items()}
    o = cnn_gradients(table, named, X, Y, head="columns")
    out = {k: o[f"d{k[0]}{k[1]}"] for k in params}
    out["X", 0] = o["dA0"]
    return out


NETWORKS = [
    spec(),                                             # relu, max pool, softmax + ce
    spec(mode="average", act="tanh"),                   # average pool
    spec(act="sigmoid", loss="bce", head="sigmoid", units=1, m=3),
    spec(stride=1, pad=2, act="relu"),
]


@pytest.mark.parametrize("text", NETWORKS)
def test_the_derived_formulas_pass_and_agree_with_autograd(text):
    table, cnn = load(text)
    r = G.gradcheck(cnn, seed=3)
    assert r.passed, r.to_dict()
    assert [a.status for a in r.arrays] == ["pass"] * len(r.arrays)
    assert r.max_relative_error < 1e-7
    assert [a.name for a in r.arrays] == ["W[1]", "b[1]", "W[4]", "b[4]", "X"]
    params, X, Y, _ = G.random_instance(cnn, 3, cnn.examples)
    got, want = G.analytic(cnn, params, X, Y), oracle(table, params, X, Y)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12, err_msg=str(k))
    # the differences themselves against the oracle (the check's other side)
    d = G.differences(lambda a: G.cost(cnn, a, a["X", 0], Y), {**params, ("X", 0): X})
    for k in want:
        np.testing.assert_allclose(d.gradients[k], want[k], rtol=1e-6, atol=1e-9, err_msg=str(k))


PLANTED = [
    ("unflipped_filters", spec(), ("X",)),
    ("pad_off_by_one", spec(), ("X",)),
    ("missing_stride", spec(), ("W[1]", "X")),
    ("average_without_scale", spec(mode="average", act="tanh"), ("W[1]", "b[1]", "X")),
]


@pytest.mark.parametrize(("plant", "text", "failed"), PLANTED)
def test_every_planted_mistake_fails_by_name(plant, text, failed):
    table, cnn = load(text)
    r = G.gradcheck(cnn, seed=3, plant=plant)
    assert not r.passed
    assert r.failed == failed
    assert r.source.startswith(f"planted mistake {plant}: ")
    assert all(a.relative_error > 1e-3 for a in r.arrays if a.name in failed)
    # the planted gradients are wrong by the oracle too, where the check says, and only there
    params, X, Y, _ = G.random_instance(cnn, 3, cnn.examples)
    got, want = G.analytic(cnn, params, X, Y, plant), oracle(table, params, X, Y)
    wrong = tuple(("X" if k == ("X", 0) else f"{k[0]}[{k[1]}]") for k in want
                  if not np.allclose(got[k], want[k], rtol=1e-6, atol=1e-9))
    assert wrong == failed


def test_the_mistake_needs_its_place_in_the_network():
    _, cnn = load(spec(pad=0, stride=1))
    with pytest.raises(DeriveError, match="a conv2d layer with pad ≥ 1"):
        G.gradcheck(cnn, plant="pad_off_by_one")
    with pytest.raises(DeriveError, match="stride ≥ 2"):
        G.gradcheck(cnn, plant="missing_stride")
    with pytest.raises(DeriveError, match="an average pool layer"):
        G.gradcheck(cnn, plant="average_without_scale")
    with pytest.raises(DeriveError, match="known mistakes are unflipped_filters"):
        G.gradcheck(cnn, plant="sign_error")


def test_the_draw_avoids_ties_and_kinks():
    _, cnn = load(spec())
    params, X, Y, _ = G.random_instance(cnn, 0, 2)
    assert G._near(cnn, params, X) is None
    # filter 0 copies the input's channel 0 at stride 2 (its centre tap, the pad of 1): Z[1]'s
    # channel 0 at (h, w) is X[2h, 2w, 0] + 0.5, and pool window (1, 1) reads h, w in {0, 1}
    W = params["W", 1].copy()
    W[:, :, :, 0] = 0.0
    W[1, 1, 0, 0] = 1.0
    b = params["b", 1].copy()
    b[..., 0] = 0.5
    X = X.copy()
    X[0, 0, 0, 0], X[0, 0, 2, 0] = 5.0, 4.0
    apart = {**params, ("W", 1): W, ("b", 1): b}
    assert G._near(cnn, apart, X) is None
    X[0, 0, 2, 0] = 5.0 + G.MARGIN / 2
    assert G._near(cnn, apart, X) == "a tie in layer 2's max-pool window (1, 1)"
    X[0, 0, 2, 0], X[1, 2, 2, 0] = 4.0, -0.5 + G.MARGIN / 2  # Z[1] = 0.0005: at the ReLU's kink
    assert G._near(cnn, apart, X) == "Z[1] near relu's kink at 0"
    # a window of the ReLU's exact zeros (every Z = -1.5) ties harmlessly: no step moves them
    X[1, 2, 2, 0] = 1.0
    X[0, 0:3:2, 0:3:2, 0] = -2.0
    from derive.conv.numbers import forward_values

    assert np.all(forward_values(cnn, apart, X)["A", 1][0, 0:2, 0:2, 0] == 0.0)
    assert G._near(cnn, apart, X) is None


def test_a_large_spec_is_refused_before_drawing():
    text = spec(input_=(60, 60, 8), filters=16)
    _, cnn = load(text)
    with pytest.raises(ResourceLimit, match="conv.gradcheck"):
        G.gradcheck(cnn)


def test_the_command_line(tmp_path, capsys):
    import json

    from derive.cli import main

    path = tmp_path / "cnn.toml"
    path.write_text(spec(), encoding="utf-8")
    assert main(["gradcheck", "--spec", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "PASSED" and "  X        2×5×5×2  " in out
    assert main(["gradcheck", "--spec", str(path), "--plant", "unflipped_filters"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "FAILED: wrong gradient for X"
    assert "planted mistake unflipped_filters: unflipped filters in dA_prev" in out
    assert main(["gradcheck", "--spec", str(path), "--format", "json", "--m", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and data["m"] == 3 and data["arrays"][-1]["shape"] == [3, 5, 5, 2]
    assert main(["gradcheck", "--spec", str(path), "--layers", "3,3"]) == 2
    assert "--layers is for a dense network" in capsys.readouterr().err
    assert main(["gradcheck", "--spec", str(path), "--plant", "bogus"]) == 2
    assert main(["gradcheck", "--layers", "2,1", "--act", "sigmoid", "--plant", "missing_stride"]) == 2
    assert "--plant is for a CNN spec" in capsys.readouterr().err


DEEP = """
input = [7, 7, 1]
loss = "bce"
examples = 2
[[layer]]
kind = "conv2d"
filters = 2
size = 3
pad = 1
activation = "tanh"
[[layer]]
kind = "pool"
mode = "average"
size = 2
[[layer]]
kind = "conv2d"
filters = 2
size = 2
stride = 2
pad = 1
activation = "relu"
[[layer]]
kind = "flatten"
[[layer]]
kind = "dense"
units = 1
activation = "sigmoid"
"""


@pytest.mark.parametrize(("plant", "failed"), [
    (None, ()),
    ("unflipped_filters", ("W[1]", "b[1]", "X")),  # in every dA_prev: layer 3's reaches layer 1
    ("pad_off_by_one", ("W[1]", "b[1]", "X")),
    ("missing_stride", ("W[1]", "b[1]", "W[3]", "X")),  # layer 3 has the stride: its dW too
    ("average_without_scale", ("W[1]", "b[1]", "X")),
])
def test_two_conv_layers_a_mistake_above_reaches_the_layers_below(plant, failed):
    table, cnn = load(DEEP)
    r = G.gradcheck(cnn, seed=5, plant=plant)
    assert r.failed == failed and r.passed == (plant is None)
    params, X, Y, _ = G.random_instance(cnn, 5, 2)
    got, want = G.analytic(cnn, params, X, Y, plant), oracle(table, params, X, Y)
    wrong = tuple(("X" if k == ("X", 0) else f"{k[0]}[{k[1]}]") for k in want
                  if not np.allclose(got[k], want[k], rtol=1e-6, atol=1e-9))
    assert wrong == failed
