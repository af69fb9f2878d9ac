"""keep_prob in formulas and in the course's dropout code: read as the network's keep probability
(a number, with a note, or its symbol), and the course's backward_propagation_with_dropout read
whole. The values are verified against autograd through tests/oracle.py, whose forward pass
applies the masks itself."""

from __future__ import annotations

import numpy as np

from derive.check.checker import check
from derive.code import check_code
from derive.network.spec import Network
from tests import oracle
from tests.test_dropout_check import COURSE_CODE

NET = Network(layers=[4, 5, 3, 2], activations=["relu", "relu", "sigmoid"], loss="bce",
              keep_prob=0.8)
M = 6

COURSE = COURSE_CODE  # the course's backward_propagation_with_dropout, as test_dropout_check has it


def test_the_course_formula_agrees_with_autograd_and_is_correct():
    rng = np.random.default_rng(4)
    n = NET.layers
    X, Y = rng.normal(size=(n[0], M)), rng.integers(0, 2, size=(n[-1], M)).astype(float)
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = rng.normal(size=(n[l], n[l - 1])) / np.sqrt(n[l - 1])
        params[f"b{l}"] = 0.1 * rng.normal(size=(n[l], 1))
    masks = {l: (rng.random(size=(n[l], M)) < 0.8).astype(float) for l in (1, 2)}
    A1 = np.maximum(params["W1"] @ X + params["b1"], 0) * masks[1] / 0.8
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = np.maximum(Z2, 0) * masks[2] / 0.8
    Z3 = params["W3"] @ A2 + params["b3"]
    dZ3 = M * oracle.intermediate_gradient(NET, "Z", 3, Z3, params, X, Y, masks)
    dZ2 = M * oracle.intermediate_gradient(NET, "Z", 2, Z2, params, X, Y, masks)
    # the course's lines, evaluated here: right by autograd
    assert np.allclose(params["W3"].T @ dZ3 * masks[2] / 0.8 * (A2 > 0), dZ2)
    v = check("dZ2 = np.dot(W3.T, dZ3) * D2 / keep_prob * np.int64(A2 > 0)", NET)
    assert v.verdict == "correct", v.message
    assert "keep_prob read as the keep probability 0.8" in v.notes
    assert not np.allclose(params["W3"].T @ dZ3 * masks[2] * (Z2 > 0), dZ2)  # no 1/keep_prob
    v = check("dZ2 = np.dot(W3.T, dZ3) * D2 * np.int64(Z2 > 0)", NET)
    assert [mk.code for mk in v.mistakes] == ["not_divided_by_keep_prob"]


def test_keep_prob_is_the_networks_and_says_when_it_cannot_be():
    symbolic = NET.replace(keep_prob=True)
    assert check("dZ2 = np.dot(W3.T, dZ3) * D2 / keep_prob * np.int64(A2 > 0)",
                 symbolic).verdict == "correct"
    v = check("dZ2 = np.dot(W3.T, dZ3) / keep_prob", NET.replace(keep_prob=None))
    assert v.verdict == "parse_error" and "the network has no dropout" in v.message
    two = NET.replace(keep_prob=(0.8, 0.5))
    v = check("dZ2 = np.dot(W3.T, dZ3) * D2 / keep_prob * np.int64(A2 > 0)", two)
    assert v.verdict == "parse_error" and "different keep probabilities (0.5, 0.8)" in v.message


def test_the_course_function_is_read_whole():
    out = check_code(COURSE, NET)
    got = {r.name: r for r in out.results}
    assert out.problems == () and out.exit_code == 0, out.problems
    assert got["dZ2"].target == "dZ[2]" and got["dZ2"].verdict.verdict == "correct"
    assert got["dA2"].target == "dG[2]"  # after the mask: the gradient before dropout's mask
    wrong = COURSE.replace("    dA2 = dA2 / keep_prob\n", "")  # the mask not rescaled
    got = {r.name: r for r in check_code(wrong, NET).results}
    assert got["dZ2"].verdict.verdict == "not_equivalent"


def test_the_printed_numpy_under_dropout_is_right():
    # A[1] is masked under dropout: a snippet written in A (A1 * (1 - A1)) would be wrong there,
    # so sigmoid′ prints as a call on Z1. The printed line, run here on one instance with the
    # masks, against autograd.
    import derive

    net = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="bce", keep_prob=0.8)
    code = {f.name: f.code for f in derive.backward(net, prove=False).formulas}
    assert code["dZ[1]"] == "dZ1 = np.dot(W2.T, dZ2) * (1/0.8) * D1 * sigmoid_prime(Z1)"
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(3, M)), rng.integers(0, 2, size=(2, M)).astype(float)
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)),
              "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=(2, 1))}
    masks = {1: (rng.random(size=(4, M)) < 0.8).astype(float)}
    Z1 = params["W1"] @ X + params["b1"]
    A1 = 1 / (1 + np.exp(-Z1)) * masks[1] / 0.8
    Z2 = params["W2"] @ A1 + params["b2"]
    want = {k: M * oracle.intermediate_gradient(net, "Z", k, z, params, X, Y, masks)
            for k, z in ((1, Z1), (2, Z2))}
    space = {"np": np, "W2": params["W2"], "dZ2": want[2], "D1": masks[1], "Z1": Z1,
             "sigmoid_prime": lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2}
    exec(code["dZ[1]"], space)  # noqa: S102 - derive's printed line, run by the test as the oracle side
    assert np.allclose(space["dZ1"], want[1])


def test_a_generic_network_takes_keep_prob():
    # without a network: the generic one, with dropout on its hidden layers (g generic)
    v = check("dZ1 = W2.T @ dZ2 * D1 / keep_prob * g1_prime(Z1)", keep_prob=True)
    assert v.verdict == "correct", v.message
    v = check("dZ1 = W2.T @ dZ2 * g1_prime(Z1)", keep_prob=0.5)
    assert [mk.code for mk in v.mistakes] == ["mask_not_applied"], v.mistakes
    out = check_code("dZ1 = np.dot(W2.T, dZ2) * D1 / keep_prob * g1_prime(Z1)", keep_prob=0.5)
    assert [r.verdict.verdict for r in out.results] == ["correct"]


def test_the_command_line_and_a_batch_line_take_keep_prob_and_l2(tmp_path, capsys):
    import json

    from derive.cli import main

    # --keep-prob for the generic network (it was ignored without --layers/--act)
    assert main(["check", "dZ1 = W2.T @ dZ2 * g1_prime(Z1)", "--keep-prob", "0.5"]) == 1
    assert "mask_not_applied" in capsys.readouterr().out
    lines = [{"id": 1, "equation": "dZ1 = np.dot(W2.T, dZ2) * D1 / keep_prob * np.int64(Z1 > 0)",
              "layers": "3,4,2", "activations": "relu,sigmoid", "loss": "bce", "keep_prob": 0.8},
             {"id": 2, "equation": "dW1 = 1/m * np.dot(dZ1, X.T) + lambd/m * W1", "l2": 0.7},
             {"id": 3, "equation": "dW1 = 1/m * np.dot(dZ1, X.T)", "l2": "x"}]
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    assert main(["check", "--batch", str(batch)]) == 2
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["verdict"] for r in out] == ["correct", "correct", "parse_error"]
    assert "l2 is a number" in out[2]["message"]
