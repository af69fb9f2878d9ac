"""`derive gradcheck --impl` on the courses' own signatures, with no adapter: the reference
implementations in tests/course_impls (written in the courses' style) pass, their planted
mistakes fail by name, and the notes say what was converted. The numeric side is derive's central
differences, whose criterion tests/test_reliability_gradcheck.py measures against mpmath."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from derive.cli import main
from derive.errors import DeriveError
from derive.network.spec import Network
from derive.numbers.gradcheck import gradcheck_impl
from tests.course_impls import dls_gradcheck, dls_planar

IMPLS = Path(__file__).parent / "course_impls"


def run(capsys, *argv):
    code = main(["gradcheck", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_forward_backward_pair_by_argument_names(capsys, tmp_path):
    np.random.seed(1)
    f = tmp_path / "planar.npz"
    np.savez(f, X=np.random.randn(2, 3), Y=np.random.randn(1, 3) > 0, W1=0.5 * np.random.randn(4, 2),
             b1=np.zeros((4, 1)), W2=np.random.randn(1, 4), b2=np.zeros((1, 1)))
    pair = ["--act", "tanh,sigmoid", "--loss", "bce", "--values", str(f),
            "--forward", f"{IMPLS / 'dls_planar.py'}:forward_propagation"]
    code, out = run(capsys, *pair, "--impl", f"{IMPLS / 'dls_planar.py'}:backward_propagation")
    assert code == 0 and out["passed"]
    assert any("(parameters, cache, X, Y)" in n for n in out["notes"])
    code, out = run(capsys, *pair, "--impl", f"{IMPLS / 'dls_planar.py'}:backward_propagation_with_A1")
    assert code == 1 and out["failed"] == ["W[1]"]


def test_the_gradient_checking_assignments_pair():
    np.random.seed(1)
    x, y = np.random.randn(4, 3), np.array([1, 1, 0])
    params = {}
    for l, (rows, cols) in enumerate(((5, 4), (3, 5), (1, 3)), start=1):
        params[f"W{l}"], params[f"b{l}"] = np.random.randn(rows, cols), np.random.randn(rows, 1)
    net = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")

    def forward_propagation_n(X, Y, parameters):  # the course's returns (cost, cache)
        cache = dls_gradcheck.forward_propagation_n(X, Y, parameters)
        return 0.0, cache

    ok = gradcheck_impl(net, dls_gradcheck.backward_propagation_n, X=x, Y=y, params=params,
                        forward=forward_propagation_n)
    assert ok.passed

    def planted(X, Y, cache):
        return dls_gradcheck.backward_propagation_n(X, Y, cache, planted=True)

    bad = gradcheck_impl(net, planted, X=x, Y=y, params=params, forward=forward_propagation_n)
    assert bad.failed == ("b[1]", "W[2]")


def test_cs231n_class_and_logistic_regression_by_cli(capsys, tmp_path):
    code, out = run(capsys, "--layers", "4,10,3", "--act", "relu,softmax", "--loss", "ce",
                    "--convention", "rows", "--impl", f"{IMPLS / 'cs231n_net.py'}:TwoLayerNet")
    assert code == 0 and any("1-D biases" in n for n in out["notes"])
    f = tmp_path / "lr.json"
    f.write_text(json.dumps({"network": {"layers": [2, 1], "activations": ["sigmoid"], "loss": "bce"},
                             "values": {"X": [[1., 2., -1.], [3., 4., -3.2]], "Y": [[1, 0, 1]],
                                        "W1": [[1., 2.]], "b1": [[2.]]}}))
    code, out = run(capsys, "--values", str(f), "--impl", f"{IMPLS / 'dls_logistic.py'}:propagate")
    assert code == 0 and any("propagate(w, b, X, Y)" in n for n in out["notes"])
    code, out = run(capsys, "--values", str(f),
                    "--impl", f"{IMPLS / 'dls_logistic.py'}:propagate_forgets_m")
    assert code == 1 and out["failed"] == ["W[1]"]


def test_unknown_argument_names_are_named(capsys):
    net = Network(layers=[2, 4, 1], activations=["tanh", "sigmoid"], loss="bce")

    def backward(parameters, memo, X, Y):
        return {}

    with pytest.raises(DeriveError, match="memo"):
        gradcheck_impl(net, backward, forward=dls_planar.forward_propagation)
    assert main(["gradcheck", "--forward", f"{IMPLS / 'dls_planar.py'}:forward_propagation"]) == 2
    assert "--forward needs --impl" in capsys.readouterr().err


def test_the_deep_networks_pair():
    from tests.course_impls import dls_deep

    net = Network(layers=[5, 4, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")
    r = gradcheck_impl(net, dls_deep.L_model_backward, forward=dls_deep.L_model_forward, seed=2)
    assert r.passed and any("(AL, Y, caches)" in n for n in r.notes)


def test_the_gradient_checking_assignments_difference():
    """The notebook's difference ‖grad − gradapprox‖ / (‖grad‖ + ‖gradapprox‖) at ε = 1e-7:
    0.2850931567761624 with the planted mistakes (derive's overall relative error at --eps 1e-7
    agrees to 9 digits: the mistakes dominate it) and 1.1890913024229996e-07 without them, which
    is the course's own finite-difference noise: derive's default step gives 1e-10 or less."""
    np.random.seed(1)
    x, y = np.random.randn(4, 3), np.array([1, 1, 0])
    params = {}
    for l, (rows, cols) in enumerate(((5, 4), (3, 5), (1, 3)), start=1):
        params[f"W{l}"], params[f"b{l}"] = np.random.randn(rows, cols), np.random.randn(rows, 1)
    net = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")
    bad = gradcheck_impl(net, dls_gradcheck.backward_planted, X=x, Y=y, params=params, eps=1e-7)
    assert bad.overall_relative_error == pytest.approx(0.2850931567761624, rel=1e-8)
    good = gradcheck_impl(net, dls_gradcheck.backward, X=x, Y=y, params=params)
    assert good.overall_relative_error < 1e-9 < 1.1890913024229996e-07


def test_a_backward_function_that_takes_a_cache_asks_for_its_forward_pass(capsys):
    code = main(["gradcheck", "--act", "tanh,sigmoid", "--loss", "bce", "--layers", "2,4,1",
                 "--impl", f"{IMPLS / 'dls_planar.py'}:backward_propagation"])
    assert code == 2 and "--forward" in capsys.readouterr().err
