"""Batch normalisation (issue 11): the spec (Network, TOML, the flag), the derivation (every
graph step and the compact dZ, each proven both ways, in both conventions), derive check (the
names, correct formulas of the course's and CS231n's dialects, the two batch-norm mistakes with
a fix the checker then calls correct and autograd agrees with).

Expected values come from autograd of the forward pass in tests/oracle.py (batch norm written
there from its definition), never from derive's formulas."""

from __future__ import annotations

import numpy as np
import pytest

import derive
from derive.cli import main
from derive.core.expr import evaluate
from derive.engine.values import gradient_values
from derive.errors import SpecError
from derive.network.model import numpy_backend, random_instance
from derive.parse import parse_equation
from tests import oracle

COURSE = derive.Network(layers=[3, 4, 3, 1], activations=["relu", "tanh", "sigmoid"], loss="bce",
                        batchnorm=[1, 2])
ROWS = derive.Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                      convention="rows", scale="dZ", batchnorm=[1])


def agrees(text: str, net) -> bool:
    """The formula's value equals autograd's gradient (or, for batch norm's inner nodes, the
    engine's proven formula) on a random instance."""
    eq = parse_equation(text, net)
    inst = random_instance(net, seed=5, m=6)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    values = gradient_values(derive.backward(net, prove=False), inst)
    got = evaluate(eq.rhs, values, numpy_backend(net, inst.m, inst.sizes))
    base, layer = eq.target.key
    stem = base[1:]
    if stem in ("W", "b", "gamma", "beta"):
        want = oracle.param_gradients(net, params, inst.X, inst.Y)[f"{stem}{layer}"]
    elif stem in ("Z", "A", "Ztilde"):
        scale = inst.m if net.scale == "mean" else 1
        want = scale * oracle.intermediate_gradient(net, stem, layer, values[stem, layer], params,
                                                    inst.X, inst.Y)
    else:  # dZ_norm, dσ², dμ: the graph's partial gradients, proven locally by the engine
        want = values[base, layer]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-7, atol=1e-10)


# -- the spec -------------------------------------------------------------------------------------
def test_batchnorm_layers_in_every_form(tmp_path):
    assert COURSE.kinds == ("batchnorm", "batchnorm", "dense")
    assert derive.Network(layers=[3, 4, 3, 1], batchnorm=True).kinds == COURSE.kinds
    assert derive.Network.from_strings("3,4,1", "relu,sigmoid", "bce", batchnorm="1").kinds == \
        ("batchnorm", "dense")
    spec = tmp_path / "bn.toml"
    spec.write_text('inputs = 3\nloss = "bce"\n[[layer]]\nunits = 4\nactivation = "relu"\n'
                    'batchnorm = true\n[[layer]]\nunits = 1\nactivation = "sigmoid"\n',
                    encoding="utf-8")
    net = derive.Network.from_toml(spec)
    assert net.kinds == ("batchnorm", "dense")
    assert net.to_dict()["batchnorm"] == [1]
    assert derive.Network.from_mapping(net.to_dict()) == net
    with pytest.raises(SpecError, match="not a layer of this network"):
        derive.Network(layers=[3, 4, 1], batchnorm=[3])
    both = derive.Network(layers=[3, 4, 1], batchnorm=[1], keep_prob=0.8)  # a mask after g(Z̃)
    assert both.kinds == ("batchnorm", "dense") and both.block(1).has(both, "D", 1)


def test_the_flag_in_backward_and_refused_elsewhere(capsys):
    assert main(["backward", "--layers", "3,4,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "--batchnorm", "1"]) == 0
    out = capsys.readouterr().out
    assert "dγ[1] = (1/m) sum(dZ̃[1] ⊙ Z_norm[1], axis=1)" in out
    assert "not a per-example gradient" in out and "all proven" in out
    assert main(["gradcheck", "--layers", "3,4,1", "--batchnorm", "1"]) == 0  # it takes it now
    assert "PASSED" in capsys.readouterr().out
    assert main(["jacobian", "Z1", "W1", "--layers", "3,4,1", "--act", "relu,sigmoid",
                 "--batchnorm", "1"]) == 2
    err = capsys.readouterr().err
    assert "not supported by derive jacobian" in err and "derive gradcheck" in err


# -- the derivation -------------------------------------------------------------------------------
@pytest.mark.parametrize("net", [COURSE, ROWS], ids=["columns", "rows"])
def test_every_step_is_proven_and_cites_an_identity(net):
    d = derive.backward(net)
    assert d.proof.passed
    kinds = [f.kind for f in d.formulas if f.layer == 1 and f.kind != "dA"]  # dA[1]: layer 2's
    assert kinds == ["dZtilde", "dgamma", "dbeta", "dZnorm", "dvar", "dmu", "dZ", "dZ", "dW"]
    rules = [s.rule for s in d.steps_for(1)]
    for rule in ("batchnorm_gamma", "batchnorm_beta", "batchnorm_normalised", "batchnorm_variance",
                 "batchnorm_mean", "batchnorm_graph", "batchnorm_compact"):
        assert rule in rules
    assert "db" not in {f.kind for f in d.formulas if f.layer == 1}  # β replaces b
    assert d.formula("dZ", 1).local.through[-1][0].base == "Ztilde"  # the compact form is read


def test_compact_form_and_cs231n_rows():
    d = derive.backward(ROWS, prove=False)
    assert str(d.formula("dgamma", 1)) == "dγ[1] = sum(dZ̃[1] ⊙ Z_norm[1], axis=0)"  # scale dZ
    assert str(d.formula("dbeta", 1)) == "dβ[1] = sum(dZ̃[1], axis=0)"
    assert d.formula("dZ", 1).code == (
        "dZ1 = (1/m) * gamma1 / (np.sqrt(var1 + eps)) * (m * dZ_tilde1 - np.sum(dZ_tilde1, axis=0, "
        "keepdims=True) - Z_norm1 * np.sum(dZ_tilde1 * Z_norm1, axis=0, keepdims=True))")


def test_dZ_is_not_a_per_example_gradient():
    # the statistics couple the examples: changing one example's loss weight changes every
    # column of dZ[1] (a dense layer's dZ[1] would change in that column only)
    net = derive.Network(layers=[2, 3, 1], activations=["tanh", "linear"], loss="mse", batchnorm=[1])
    inst = random_instance(net, seed=2, m=5)
    d = derive.backward(net, prove=False)
    values = gradient_values(d, inst)
    bumped = dict(values)
    bumped["dZ", 2] = values["dZ", 2].copy()
    bumped["dZ", 2][:, 0] *= 3.0
    backend = numpy_backend(net, inst.m, inst.sizes)
    for f in d.formulas:
        if f.layer == 1:
            bumped[f.kind, 1] = evaluate(f.expr, bumped, backend)
    changed = np.any(np.abs(bumped["dZ", 1] - values["dZ", 1]) > 1e-12, axis=0)
    assert changed.all()
    assert any("not a per-example gradient" in n for n in d.notes)


# -- derive check ---------------------------------------------------------------------------------
CORRECT = [
    (COURSE, "dgamma1 = 1/m * np.sum(dZ_tilde1 * Z_norm1, axis=1, keepdims=True)"),
    (COURSE, "dbeta2 = np.mean(dZ_tilde2, axis=1, keepdims=True)"),
    (COURSE, "dZ_norm1 = dZ_tilde1 * gamma1"),
    (COURSE, "dvar1 = np.sum(dZ_norm1 * (Z1 - mu1), axis=1, keepdims=True) * -0.5 * (var1 + eps)**(-1.5)"),
    (COURSE, "dmu1 = np.sum(-dZ_norm1 / np.sqrt(var1 + eps), axis=1, keepdims=True) "
             "+ dvar1 * np.mean(-2 * (Z1 - mu1), axis=1, keepdims=True)"),
    (COURSE, "dZ1 = dZ_norm1 / np.sqrt(var1 + eps) + dvar1 * 2 * (Z1 - mu1) / m + dmu1 / m"),
    (COURSE, "dZ1 = (1/m) * gamma1 / np.sqrt(var1 + eps) * (m * dZ_tilde1 - np.sum(dZ_tilde1, axis=1, "
             "keepdims=True) - Z_norm1 * np.sum(dZ_tilde1 * Z_norm1, axis=1, keepdims=True))"),
    (COURSE, "dW1 = 1/m * np.dot(dZ1, X.T)"),
    (COURSE, "dZ_tilde1 = np.dot(W2.T, dZ2) * np.int64(Z_tilde1 > 0)"),
    (ROWS, "dgamma1 = np.sum(dZ_tilde1 * x_hat1, axis=0, keepdims=True)"),
    (ROWS, "dx_hat1 = dZ_tilde1 * gamma1"),
    (ROWS, "dZ1 = (1/m) * gamma1 / np.sqrt(var1 + eps) * (m * dZ_tilde1 - np.sum(dZ_tilde1, axis=0, "
           "keepdims=True) - x_hat1 * np.sum(dZ_tilde1 * x_hat1, axis=0, keepdims=True))"),
    (ROWS, "dW1 = X.T.dot(dZ1)"),
]


@pytest.mark.parametrize("net, text", CORRECT)
def test_correct_batchnorm_formulas(net, text):
    assert agrees(text, net), "the oracle disagrees: the case itself is wrong"
    v = derive.check(text, net)
    assert v.verdict == "correct", (v.message, [m.message for m in v.mistakes])


WRONG = [  # (network, formula, the mistake, what the fix must contain)
    (ROWS, "dbeta1 = np.sum(dZ_tilde1, axis=0, keepdims=True) / m", "dgamma_dbeta_divided_by_m",
     "sum(dZ̃[1], axis=0)"),
    (ROWS, "dgamma1 = (1/m) * np.sum(dZ_tilde1 * x_hat1, axis=0, keepdims=True)",
     "dgamma_dbeta_divided_by_m", "sum(dZ̃[1] ⊙ Z_norm[1], axis=0)"),
    (COURSE, "dgamma1 = 1/m * np.sum(dZ_tilde1 * Z_norm1, axis=0, keepdims=True)",
     "bn_sum_wrong_axis", "axis=1"),
    (ROWS, "dZ1 = (1/m) * gamma1 / np.sqrt(var1 + eps) * (m * dZ_tilde1 - np.sum(dZ_tilde1, axis=1, "
           "keepdims=True) - x_hat1 * np.sum(dZ_tilde1 * x_hat1, axis=0, keepdims=True))",
     "bn_sum_wrong_axis", "np.sum(dZ_tilde1, axis=0, keepdims=True)"),
]


@pytest.mark.parametrize("net, text, code, fixed", WRONG)
def test_batchnorm_mistakes_are_named_and_the_fix_is_right(net, text, code, fixed):
    v = derive.check(text, net)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    assert [m.code for m in v.mistakes] == [code], [(m.code, m.message) for m in v.mistakes]
    # the expected formula in code (the text parser does not read γ, Z̃ yet: see the report)
    fix = v.fix or derive.backward(net, prove=False).formula(*parse_equation(text, net).target.key).code
    assert fixed in (v.fix or "") or fixed in v.expected, (v.fix, v.expected)
    assert derive.check(fix, net).verdict == "correct", fix
    assert agrees(fix, net)


def test_a_dense_network_says_which_quantities_it_lacks():
    plain = derive.Network(layers=[4, 5, 2], activations=["relu", "sigmoid"], loss="bce")
    v = derive.check("dgamma1 = np.sum(dZ_tilde1 * Z_norm1, axis=1, keepdims=True)", plain)
    assert v.verdict == "parse_error" and "give --batchnorm 1" in v.message, v.message
    v = derive.check("dZ1 = np.dot(W2.T, dZ2) * D1 * np.int64(Z1 > 0)", plain)
    assert "D[1] is a dropout mask, and layer 1 has no dropout" in v.message, v.message
    v = derive.check("dZ1 = gamma1 / np.sqrt(var1 + eps)", plain)
    assert v.verdict == "parse_error"


# -- derive check --code: CS231n's batchnorm_backward (assignment 2), as its solutions write it ----
STAGED = """
def batchnorm_backward(dout, cache):
    x, x_hat, mu, var, gamma, beta, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    dvar = np.sum(dx_hat * (x - mu), axis=0) * -0.5 * (var + eps) ** (-1.5)
    dmu = np.sum(dx_hat * -1 / np.sqrt(var + eps), axis=0) + dvar * np.mean(-2 * (x - mu), axis=0)
    dx = dx_hat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / N + dmu / N
    return dx, dgamma, dbeta
"""
ALT = """
def batchnorm_backward_alt(dout, cache):
    xmu, ivar, x_hat, gamma = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx = (1. / N) * gamma * ivar * (N * dout - np.sum(dout, axis=0) - x_hat * np.sum(dout * x_hat, axis=0))
    return dx, dgamma, dbeta
"""


@pytest.mark.parametrize("code", [STAGED, ALT], ids=["staged", "alt"])
def test_cs231n_batchnorm_backward_reads_as_correct(code):
    result = derive.check_code(code, ROWS)
    got = {r.verdict.target: r.verdict.verdict for r in result.results}
    assert {"dZ[1]", "dγ[1]", "dβ[1]"} <= set(got), got
    assert result.verdict == "correct" and set(got.values()) == {"correct"}, got


def test_cs231n_batchnorm_backward_with_dbeta_divided_by_N():
    result = derive.check_code(ALT.replace("dbeta = np.sum(dout, axis=0)",
                                           "dbeta = np.sum(dout, axis=0) / N"), ROWS)
    wrong = [r.verdict for r in result.results if r.verdict.verdict != "correct"]
    assert [v.target for v in wrong] == ["dβ[1]"]
    assert [m.code for m in wrong[0].mistakes] == ["dgamma_dbeta_divided_by_m"]
    assert derive.check(wrong[0].fix, ROWS).verdict == "correct"


def test_a_batch_line_gives_batchnorm(tmp_path, capsys):
    import json

    lines = tmp_path / "in.jsonl"
    good = {"equation": "dgamma1 = np.sum(dZ_tilde1 * Z_norm1, axis=1, keepdims=True) / m",
            "layers": [3, 4, 2], "activations": ["relu", "sigmoid"], "loss": "bce", "batchnorm": [1]}
    plain = {**good, "batchnorm": None}
    lines.write_text(json.dumps(good) + "\n" + json.dumps(plain) + "\n", encoding="utf-8")
    main(["check", "--batch", str(lines)])
    first, second = (json.loads(x) for x in capsys.readouterr().out.splitlines())
    assert first["verdict"] == "correct" and first["target"] == "dγ[1]"
    assert second["verdict"] == "parse_error" and "--batchnorm 1" in second["message"]


def test_a_spec_file_with_batchnorm_is_refused_by_the_other_commands(tmp_path, capsys):
    spec = tmp_path / "bn.toml"
    spec.write_text('inputs = 3\nloss = "bce"\nbatchnorm = [1]\n[[layer]]\nunits = 4\n'
                    'activation = "relu"\n[[layer]]\nunits = 1\nactivation = "sigmoid"\n',
                    encoding="utf-8")
    assert main(["jacobian", "Z1", "W1", "--spec", str(spec)]) == 2
    assert "not supported by derive jacobian" in capsys.readouterr().err
    assert main(["backward", "--spec", str(spec)]) == 0
    assert main(["gradcheck", "--spec", str(spec)]) == 0


@pytest.mark.parametrize("text", [
    "dbeta = np.sum(dout, axis=0)",
    "dgamma = np.sum(dout * x_hat, axis=0)",
    "dx_hat = dout * gamma",
    "dx = (1. / N) * gamma / np.sqrt(var + eps) * (N * dout - np.sum(dout, axis=0) "
    "- x_hat * np.sum(dout * x_hat, axis=0))",
    "dw = x.T.dot(dout)",  # an affine layer's names still read as affine_backward's
])
def test_cs231n_formulas_without_indices(text):
    # CS231n's names: dout is batch norm's dZ̃ where the formula names batch norm's quantities
    v = derive.check(text, ROWS, layer=1)
    assert v.verdict == "correct", (v.message, v.notes)


def test_cs231n_dbeta_divided_by_N_is_named():
    v = derive.check("dbeta = np.sum(dout, axis=0) / N", ROWS, layer=1)
    assert [m.code for m in v.mistakes] == ["dgamma_dbeta_divided_by_m"]
