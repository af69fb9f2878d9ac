"""The layout CS231n's code is read in when the user gives none (review: correct
batchnorm_backward code was judged wrong in the default columns layout), and --batchnorm without
--layers on ``check --code``.

The batch-norm functions below are the reviewer's CS231n-style solution; they are first run as
Python and compared with autograd's gradient of the same forward pass, so code called correct
here is correct by an oracle derive did not write."""

from __future__ import annotations

import json

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from derive.cli import main

EPS = 1e-5
BN_RIGHT = '''import numpy as np

def batchnorm_forward(x, gamma, beta, eps):
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    out = gamma * xhat + beta
    cache = (x, xhat, mu, var, gamma, eps)
    return out, cache

def batchnorm_backward(dout, cache):
    x, xhat, mu, var, gamma, eps = cache
    N = x.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dvar = np.sum(dxhat * (x - mu), axis=0) * -0.5 * (var + eps) ** -1.5
    dmu = np.sum(-dxhat / np.sqrt(var + eps), axis=0) + dvar * np.mean(-2.0 * (x - mu), axis=0)
    dx = dxhat / np.sqrt(var + eps) + dvar * 2.0 * (x - mu) / N + dmu / N
    return dx, dgamma, dbeta
'''
TARGETS = {"dβ[1]", "dγ[1]", "dZ_norm[1]", "dσ²[1]", "dμ[1]", "dZ[1]"}
NOTE = ("read in CS231n's layout (rows = examples) from the function "
        "batchnorm_backward(dout, cache); pass --convention columns to read it otherwise")


def _python_is_correct() -> bool:
    """The reviewer's code run as Python against autograd (x is N×D: rows are examples)."""
    rng = np.random.default_rng(3)
    x, gamma, beta, dout = (rng.normal(size=(6, 5)), rng.normal(size=5), rng.normal(size=5),
                            rng.normal(size=(6, 5)))
    scope: dict = {}
    exec(BN_RIGHT, scope)  # noqa: S102 - the test's own source text
    _, cache = scope["batchnorm_forward"](x, gamma, beta, EPS)
    got = scope["batchnorm_backward"](dout, cache)

    def loss(x, gamma, beta):
        mu = anp.mean(x, axis=0)
        var = anp.mean((x - mu) ** 2, axis=0)
        return anp.sum(dout * (gamma * (x - mu) / anp.sqrt(var + EPS) + beta))

    want = [grad(loss, k)(x, gamma, beta) for k in range(3)]
    return all(np.allclose(a, b, atol=1e-8) for a, b in zip(got, want, strict=True))


def _run(tmp_path, capsys, *flags: str) -> tuple[int, dict]:
    path = tmp_path / "bn_right.py"
    path.write_text(BN_RIGHT)
    code = main(["check", "--code", str(path), "--format", "json", *flags])
    return code, json.loads(capsys.readouterr().out)


def _verdicts(out: dict) -> dict[str, str]:
    return {r["target"]: r["verdict"] for r in out["results"]}


NET = ("--layers", "4,5,3", "--act", "relu,softmax", "--loss", "ce", "--batchnorm", "1",
       "--layer", "1")


def test_cs231n_batchnorm_code_is_read_in_rows_without_a_convention(tmp_path, capsys):
    assert _python_is_correct()
    code, out = _run(tmp_path, capsys, *NET)
    assert _verdicts(out) == dict.fromkeys(TARGETS, "correct")
    assert code == 0
    assert NOTE in out["notes"]


@pytest.mark.parametrize("flags", [("--dialect", "cs231n"), ("--convention", "rows")])
def test_the_same_verdicts_as_an_explicit_rows_reading(tmp_path, capsys, flags):
    code, out = _run(tmp_path, capsys, *NET, *flags)
    assert (code, _verdicts(out)) == (0, dict.fromkeys(TARGETS, "correct"))
    assert NOTE not in out["notes"]  # the user said it: nothing was chosen for them


def test_an_explicit_columns_convention_is_respected(tmp_path, capsys):
    """Read in columns as asked, x is n×m: the sums over axis 0 are over the units, wrong."""
    code, out = _run(tmp_path, capsys, *NET, "--convention", "columns")
    got = _verdicts(out)
    assert code == 1 and NOTE not in out["notes"]
    assert got["dβ[1]"] == "shape_error" and got["dZ_norm[1]"] == "correct"


def test_course_code_stays_in_columns(tmp_path, capsys):
    path = tmp_path / "linear.py"
    path.write_text("def linear_backward(dZ, cache):\n    A_prev, W, b = cache\n"
                    "    m = A_prev.shape[1]\n    dW = 1 / m * np.dot(dZ, A_prev.T)\n"
                    "    return dW\n")
    code = main(["check", "--code", str(path), "--format", "json", "--layers", "3,4,2",
                 "--act", "relu,sigmoid", "--loss", "bce", "--layer", "2"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and _verdicts(out) == {"dW[2]": "correct"}
    assert not any("CS231n's layout" in n for n in out["notes"])


def test_a_batch_line_without_a_convention_reads_cs231n_code_in_rows():
    from derive.cli.check import check_line

    line = {"code": BN_RIGHT, "layers": [4, 5, 3], "activations": ["relu", "softmax"],
            "loss": "ce", "batchnorm": [1], "layer": 1}
    out = check_line(json.dumps(line))
    assert _verdicts(out) == dict.fromkeys(TARGETS, "correct") and NOTE in out["notes"]
    columns = check_line(json.dumps({**line, "convention": "columns"}))
    assert _verdicts(columns)["dβ[1]"] == "shape_error"


@pytest.mark.parametrize("flags", [(), ("--convention", "rows")])
def test_batchnorm_without_layers_builds_a_network_of_symbolic_sizes(tmp_path, capsys, flags):
    code, out = _run(tmp_path, capsys, "--batchnorm", "1", "--layer", "1", *flags)
    assert (code, _verdicts(out)) == (0, dict.fromkeys(TARGETS, "correct"))
    assert out["results"][0]["network"]["batchnorm"] == [1]
    assert out["problems"] == []


def test_a_formula_with_batchnorm_and_no_layers(capsys):
    """dβ = Σ dZ̃ over the examples is right in rows with the 1/N inside dout (scale dZ)."""
    code = main(["check", "dbeta[1] = np.sum(dZtilde[1], axis=0)", "--batchnorm", "1",
                 "--convention", "rows", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert (code, out["verdict"], out["target"]) == (0, "correct", "dβ[1]")


def test_a_parameter_error_names_the_function_line_not_a_made_up_name(tmp_path, capsys):
    code, out = _run(tmp_path, capsys, "--layer", "1")
    assert code == 2 and out["results"] == []
    assert out["problems"] == [
        "function batchnorm_backward: line 11: the parameter dout of batchnorm_backward: dZ̃[1] "
        "is a quantity of batch normalisation, and layer 1 has none (give --batchnorm 1)"]


def test_without_a_layer_the_message_names_the_flag(tmp_path, capsys):
    code, out = _run(tmp_path, capsys)
    assert code == 2
    assert out["problems"] == [
        "function batchnorm_backward: this function's parameters belong to a layer l: give the "
        "layer to check (--layer N, batch field \"layer\")"]


def test_the_python_api_keeps_a_given_networks_convention_unless_asked():
    """check_code(code, network): the network's own convention (a rubric's, say); with
    convention="auto" (the CLI's default) the code's functions choose, as on the command line."""
    from derive import check_code
    from derive.network.spec import Network

    net = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", batchnorm=[1])
    kept = check_code(BN_RIGHT, net, layer=1)
    assert NOTE not in kept.notes
    assert {r.target: r.verdict.verdict for r in kept.results}["dβ[1]"] == "shape_error"
    auto = check_code(BN_RIGHT, net, layer=1, convention="auto")
    assert NOTE in auto.notes
    assert {r.target: r.verdict.verdict for r in auto.results} == dict.fromkeys(TARGETS, "correct")
