"""gradcheck with dropout (the masks held fixed: the gradient of the sampled network) and with
L2 through --impl: the derived formulas pass, the differences agree with autograd of a cost
written again (tests/oracle.py) with the same masks, the course's own backward code (written
in its style in tests/course_impls/dls_regularisation.py) passes with its keep_prob and λ, and
planted mistakes fail with the mistake named."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.errors import DeriveError
from derive.numbers.differences import differences
from derive.numbers.gradcheck import gradcheck, gradcheck_impl, random_instance
from tests import oracle
from tests.course_impls import dls_regularisation as R

IMPL = "tests/course_impls/dls_regularisation.py"


@pytest.mark.parametrize("convention", ["columns", "rows"])
@pytest.mark.parametrize("acts, loss", [(["tanh", "relu", "sigmoid"], "bce"),
                                        (["sigmoid", "leaky_relu", "softmax"], "ce"),
                                        (["relu", "tanh", "linear"], "mse")])
def test_derived_formulas_pass_and_the_differences_hold_the_masks(convention, acts, loss):
    net = derive.Network(layers=[3, 5, 4, 2], activations=acts, loss=loss, keep_prob=[0.8, 0.6],
                         convention=convention, l2=0.2)
    r = gradcheck(net, seed=4, m=5)
    assert r.passed, r.failed
    inst = random_instance(net, 4, 5, None, 1e-4)
    masks = {l: inst.params["D", l] for l in (1, 2)}
    params = {f"{b}{l}": inst.params[b, l] for b in "Wb" for l in (1, 2, 3)}
    want = oracle.param_gradients(net, params, inst.X, inst.Y, masks)
    d = differences(net, inst.params, inst.X, inst.Y)
    for b in "Wb":
        for l in (1, 2, 3):
            np.testing.assert_allclose(d.gradients[b, l], want[f"{b}{l}"], rtol=1e-5, atol=1e-8)
    # without the masks the same numbers are another network's: the check would not be of this one
    nomask = oracle.param_gradients(net, params, inst.X, inst.Y, {l: np.ones_like(masks[l]) for l in masks})
    assert not np.allclose(nomask["W1"], want["W1"])


def course_case():
    np.random.seed(1)
    X = np.random.randn(3, 5)
    params = {}
    for l, (rows, cols) in enumerate(((2, 3), (3, 2), (1, 3)), start=1):
        params[f"W{l}"], params[f"b{l}"] = np.random.randn(rows, cols), np.random.randn(rows, 1)
    return X, np.array([[1, 1, 0, 1, 0]]), params


NET = dict(layers=[3, 2, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")


@pytest.mark.parametrize("fn, failed, code", [
    ("backward_propagation_with_dropout", (), None),
    ("backward_dropout_mask_not_applied_a_form", (), None),  # harmless: A2 > 0 holds the mask
    ("backward_dropout_mask_not_applied", ("W[1]", "b[1]", "W[2]", "b[2]"), "mask_not_applied"),
    ("backward_dropout_not_divided", ("W[1]", "b[1]", "W[2]", "b[2]"), "not_divided_by_keep_prob"),
])
def test_the_courses_dropout_backward(fn, failed, code):
    X, Y, params = course_case()
    net = derive.Network(**NET, keep_prob=0.8)
    r = gradcheck_impl(net, getattr(R, fn), X=X, Y=Y, params=params,
                       forward=R.forward_propagation_with_dropout)
    assert r.failed == failed
    assert any("keep_prob = 0.8 passed by name" in n for n in r.notes)
    assert any("masks D[1], D[2] of your forward pass held fixed" in n for n in r.notes)
    named = [n for n in r.notes if "one mistake" in n]
    assert (named[0].endswith(f"({code})") if code else not named), named


@pytest.mark.parametrize("fn, failed, code", [
    ("backward_propagation_with_regularization", (), None),
    ("backward_regularization_without_term", ("W[2]",), "missing_l2_term"),
])
def test_the_courses_l2_backward(fn, failed, code):
    X, Y, params = course_case()
    net = derive.Network(**NET, l2=0.7)
    r = gradcheck_impl(net, getattr(R, fn), X=X, Y=Y, params=params, forward=R.forward_propagation)
    assert r.failed == failed
    assert any("lambd = 0.7 passed by name" in n for n in r.notes)
    assert any(n.endswith(f"({code})") for n in r.notes) if code else True
    # L2 code against a cost without the penalty (the false alarm): refused, by name
    with pytest.raises(DeriveError, match="takes lambd: give --l2"):
        gradcheck_impl(derive.Network(**NET), getattr(R, fn), X=X, Y=Y, params=params,
                       forward=R.forward_propagation)


def test_cli_with_the_courses_own_functions(tmp_path, capsys):
    X, Y, params = course_case()
    f = tmp_path / "case.json"
    f.write_text(json.dumps({"network": NET, "values": {"X": X.tolist(), "Y": Y.tolist(),
                                                         **{k: v.tolist() for k, v in params.items()}}}))
    base = ["gradcheck", "--values", str(f), "--forward", f"{IMPL}:forward_propagation_with_dropout",
            "--keep-prob", "0.8", "--json"]
    assert main([*base, "--impl", f"{IMPL}:backward_propagation_with_dropout"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"]
    assert main([*base, "--impl", f"{IMPL}:backward_dropout_not_divided"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert any(n.endswith("(not_divided_by_keep_prob)") for n in out["notes"])
    assert main(["gradcheck", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce",
                 "--keep-prob", "0.8"]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["gradcheck", "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce",
                 "--keep-prob"]) == 2
    assert "keep_prob's value" in capsys.readouterr().err


def test_cli_l2_impl_with_the_courses_own_functions(tmp_path, capsys):
    X, Y, params = course_case()
    f = tmp_path / "case.json"
    f.write_text(json.dumps({"network": NET, "values": {"X": X.tolist(), "Y": Y.tolist(),
                                                         **{k: v.tolist() for k, v in params.items()}}}))
    base = ["gradcheck", "--values", str(f), "--forward", f"{IMPL}:forward_propagation",
            "--l2", "0.7", "--json"]
    assert main([*base, "--impl", f"{IMPL}:backward_propagation_with_regularization"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and any("L2" in n for n in out["notes"])
    assert main([*base, "--impl", f"{IMPL}:backward_regularization_without_term"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in out["arrays"] if a["status"] == "fail"] == ["W[2]"]
    assert any(n.endswith("(missing_l2_term)") for n in out["notes"])
    # without --l2 the cost has no penalty: refused by name, not a false alarm
    assert main(base[:5] + ["--impl", f"{IMPL}:backward_propagation_with_regularization"]) == 2
    assert "takes lambd: give --l2" in capsys.readouterr().err
