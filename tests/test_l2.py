"""L2 regularisation: the three forms under every scale, proven by the engine and compared with
autograd of a cost written here again (tests/oracle.py), through the CLI, the spec file, the
batch JSON form and the gradient check; the commands that do not take it yet refuse it."""

from __future__ import annotations

import json

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.core.names import LAMBDA
from derive.engine.values import gradient_values
from derive.errors import DeriveError, SpecError
from derive.network.model import random_instance
from derive.network.scales import LAMBDA_STANDIN
from derive.network.symbols import SymbolTable
from tests import oracle

BASE = dict(layers=[3, 4, 2], activations=["tanh", "softmax"], loss="ce")
# what dW[1] gains, written from the forms' definitions (columns, λ = 0.1)
EXPECTED = {("course", "mean"): "(0.1/m) W[1]", ("course", "dZ"): "(0.1/m) W[1]",
            ("course", "sum"): "0.1 W[1]", ("half", "mean"): "0.1 W[1]",
            ("half", "sum"): "0.1 W[1]", ("plain", "mean"): "0.2 W[1]", ("plain", "dZ"): "0.2 W[1]"}


@pytest.mark.parametrize("form, scale", list(EXPECTED))
def test_each_form_adds_its_term_and_proves_it(form, scale):
    d = derive.backward(derive.Network(**BASE, scale=scale, l2=0.1, l2_form=form))
    assert d.formula("dW", 1).text.endswith(f" + {EXPECTED[form, scale]}")
    assert "+" not in d.formula("db", 1).text  # b is not regularised
    assert d.proof.passed
    assert any(s.rule == "frobenius_gradient" for s in d.steps)
    assert any("b is not regularised" in n for n in d.notes)


@pytest.mark.parametrize("form", ["course", "half", "plain"])
@pytest.mark.parametrize("scale", ["mean", "sum", "dZ"])
@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_agrees_with_autograd(form, scale, convention):
    net = derive.Network(**BASE, scale=scale, l2=0.3, l2_form=form, convention=convention,
                         l2_layers=[2] if form == "half" else None)
    inst = random_instance(net, seed=2)
    values = gradient_values(derive.backward(net, prove=False), inst)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    ref = oracle.param_gradients(net, params, inst.X, inst.Y)
    for l in (1, 2):
        np.testing.assert_allclose(values["dW", l], ref[f"W{l}"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(values["db", l], ref[f"b{l}"], rtol=1e-9, atol=1e-12)


def test_symbolic_lambda_prints_three_ways_and_is_in_the_table():
    net = derive.Network(**BASE, l2=True)
    d = derive.backward(net)
    f = d.formula("dW", 2)
    assert f.text == "dW[2] = (1/m) dZ[2] A[1]ᵀ + (λ/m) W[2]"
    assert f.latex == r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]\top} + \frac{\lambda}{m} W^{[2]}"
    assert f.code == "dW2 = (1/m) * np.dot(dZ2, A1.T) + (lambd/m) * W2"
    T = SymbolTable(net)
    assert T.scalars == {"lambda": LAMBDA}
    assert all(T.scalar(n) is LAMBDA for n in ("lambd", "lambda", "reg", "λ", "\\lambda"))
    with pytest.raises(KeyError):
        SymbolTable(derive.Network(**BASE)).scalar("lambd")
    # numbers take λ at its stand-in value, against autograd with the same value
    inst = random_instance(net, seed=4)
    values = gradient_values(d, inst)
    ref = oracle.param_gradients(derive.Network(**BASE, l2=LAMBDA_STANDIN),
                                 {f"{k}{l}": v for (k, l), v in inst.params.items()}, inst.X, inst.Y)
    np.testing.assert_allclose(values["dW", 2], ref["W2"], rtol=1e-9)


def test_a_formula_without_its_l2_term_fails_both_proofs():
    from dataclasses import replace

    from derive.engine.proof import prove

    d = derive.backward(derive.Network(**BASE, l2=0.5), prove=False)
    plain = derive.backward(derive.Network(**BASE), prove=False)
    bad = tuple(replace(f, expr=plain.formula("dW", 1).expr) if (f.kind, f.layer) == ("dW", 1) else f
                for f in d.formulas)
    p = prove(replace(d, formulas=bad))
    row = next(r for r in p.formulas if r.name == "dW[1]")
    assert row.elementwise == "failed" and not row.fd_passed


def test_spec_keys_errors_and_json():
    net = derive.Network.from_mapping({"layers": [3, 4, 2], "l2": 0.01, "l2_form": "half",
                                       "l2_layers": [1]})
    assert net.regularised(1) and not net.regularised(2)
    assert net.to_dict()["l2"] == 0.01 and net.to_dict()["l2_layers"] == [1]
    assert derive.Network.from_mapping({"depth": 2, "l2": True}).l2_symbolic
    for bad, text in [({"l2": -1}, "≥ 0"), ({"l2": "x"}, "not 'x'"), ({"l2_form": "half"}, "need l2"),
                      ({"l2": 1, "l2_layers": [3]}, "not a layer"), ({"l2": 1, "l2_form": "big"},
                                                                     "unknown l2_form")]:
        with pytest.raises(SpecError, match=text):
            derive.Network.from_mapping({"depth": 2, **bad})
    assert "λ = 0.01" in net.l2_statement() and "layer 1" in net.l2_statement()


def test_cli_flags_spec_file_and_refusals(capsys, tmp_path):
    argv = ["backward", "--layers", "3,4,2", "--act", "tanh,sigmoid", "--loss", "bce"]
    assert main([*argv, "--l2"]) == 0
    assert "dW[1] = (1/m) dZ[1] Xᵀ + (λ/m) W[1]" in capsys.readouterr().out
    assert main([*argv, "--l2", "0.5", "--l2-form", "plain", "--l2-layers", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    texts = {f["name"]: f["text"] for f in data["formulas"]}
    assert texts["dW[2]"].endswith("+ 1.0 W[2]") and "+" not in texts["dW[1]"]
    assert data["network"]["l2_form"] == "plain" and data["proof"]["passed"]
    spec = tmp_path / "net.toml"
    spec.write_text('layers = [3, 4, 2]\nactivations = ["tanh", "sigmoid"]\nloss = "bce"\n'
                    'l2 = 0.2\nl2_form = "half"\n')
    assert main(["backward", "--spec", str(spec)]) == 0
    assert "+ 0.2 W[1]" in capsys.readouterr().out
    assert main(["gradcheck", "--spec", str(spec)]) == 0
    assert "PASSED" in capsys.readouterr().out
    for cmd in (["jacobian", "Z1", "W1"], ["jacobian", "Z1", "W1", "--naive"]):
        assert main([*cmd, "--spec", str(spec)]) == 2
        assert "L2 regularisation is not yet in" in capsys.readouterr().err


def test_gradcheck_takes_the_penalty_and_catches_its_absence():
    net = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", l2=0.7)
    assert derive.gradcheck(net, seed=1).passed
    plain = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")

    def without_l2(params, X, Y):  # correct for the cost without its penalty
        from derive.network.model import Instance
        from derive.numbers.gradcheck import analytic_gradients
        inst = Instance((3, 4, 2), X.shape[1], X, Y,
                        {(k[0], int(k[1])): v for k, v in params.items()})
        g = analytic_gradients(derive.backward(plain, prove=False), inst)
        return {f"d{b}{l}": v for (b, l), v in g.items()}

    from derive.numbers.gradcheck import gradcheck_impl
    r = gradcheck_impl(net, without_l2, seed=1)
    assert not r.passed and {a.name for a in r.arrays if a.status == "fail"} == {"W[1]", "W[2]"}
    with pytest.raises(DeriveError, match="symbolic L2"):
        gradcheck_impl(net.replace(l2=True), without_l2)


@pytest.mark.parametrize("form", ["course", "half", "plain"])
def test_numbers_worked_example_with_l2_agrees_with_autograd(form):
    """A worked example with a numeric λ: J includes the penalty, each dW[l] its term; both
    against autograd of the cost written again (tests/oracle.py)."""
    net = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce", l2=0.3,
                         l2_form=form)
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(3, 6)), (rng.random((2, 6)) > 0.5).astype(float)
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)),
              "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=(2, 1))}
    w = derive.numbers(net, X=X, Y=Y, params=params)
    J = oracle.cost_from(net, ("P", 0), None, params, X, Y)
    assert w.value("J").item() == pytest.approx(float(J), rel=1e-12)
    want = oracle.param_gradients(net, params, X, Y)
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_allclose(w.value("d" + name), want[name], rtol=1e-10, atol=1e-13)
    assert "‖W[1]‖²" in w.step("J").formula_text and "W[1]" in w.step("dW1").formula_text


def test_numbers_refuses_a_symbolic_lambda_and_the_cli_takes_the_flags(capsys, tmp_path):
    net = derive.Network(layers=[1, 1], activations=["linear"], loss="mse", l2=True)
    with pytest.raises(SpecError, match="needs λ's value"):
        derive.numbers(net, {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]})
    f = tmp_path / "v.json"
    f.write_text(json.dumps({"values": {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]}}))
    base = ["numbers", str(f), "--act", "linear", "--loss", "mse", "--json"]
    assert main([*base, "--l2"]) == 2
    assert "needs λ's value" in capsys.readouterr().err
    assert main([*base, "--l2", "0.5", "--l2-form", "plain"]) == 0
    out = json.loads(capsys.readouterr().out)
    steps = {s["name"]: s for s in out["steps"]}
    # mse as docs/spec.md states it (whether ½ is in it is printed); by hand: Z = 2, the penalty
    # 0.5·1² = 0.5, and dW = (dJ/dZ)·X + 2·0.5·W
    J_data = float(steps["J"]["value"][0][0]) - 0.5
    dZ = float(steps["dZ1"]["value"][0][0])
    assert float(steps["dW1"]["value"][0][0]) == pytest.approx(dZ * 2.0 + 1.0, rel=1e-12)
    assert J_data == pytest.approx(float(np.asarray(
        oracle.total_loss("mse", np.array([[2.0]]), np.array([[1.0]]), True))), rel=1e-12)
