"""derive check on batch norm (issue 11): Greek names in semi-math text, the staged graph's
names in a formula read alone, and CS231n-style batchnorm_backward code whose cache is read from
the snippet's own forward (or by name, an ambiguous name tried both ways).

The functions below are this test's own (CS231n's assignment written two ways); each is first
run as Python and compared with autograd's gradient of the same forward pass, so a function
called correct here is correct by an oracle derive did not write, and a planted mistake is
wrong by it."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

import derive
from derive.network.spec import Network

ROWS = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", convention="rows",
               scale="dZ", batchnorm=[1])
EPS = 1e-5

FORWARD = '''
def batchnorm_forward(x, gamma, beta, bn_param):
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    N, D = x.shape
    if mode == 'train':
        mu = x.mean(axis=0)
        var = x.var(axis=0) + eps
        std = np.sqrt(var)
        z = (x - mu) / std
        out = gamma * z + beta
        cache = {'x': x, 'mean': mu, 'std': std, 'gamma': gamma, 'z': z, 'var': var}
    return out, cache
'''
BACKWARD = '''
def batchnorm_backward(dout, cache):
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * cache['z'], axis=0)
    N = 1.0 * dout.shape[0]
    dfdz = dout * cache['gamma']
    dzdx = 1 / cache['std']
    dzdv = -0.5 * (cache['var'] ** -1.5) * (cache['x'] - cache['mean'])
    dx = dfdz * dzdx - np.sum(dfdz * dzdx, axis=0) / N + \\
        np.sum(dfdz * dzdv, axis=0) * 2 / N * (cache['x'] - cache['mean'])
    return dx, dgamma, dbeta
'''


def _run(code: str, name: str, *args):
    """The test's own code run as Python (it is ours, not a user's)."""
    scope: dict = {"np": np}
    exec(code, scope)  # noqa: S102 - the test's own source text
    return scope[name](*args)


def _oracle(x, gamma, beta, dout):
    def loss(x, gamma, beta):
        mu = anp.mean(x, axis=0)
        var = anp.mean((x - mu) ** 2, axis=0)
        return anp.sum(dout * (gamma * (x - mu) / anp.sqrt(var + EPS) + beta))
    return [grad(loss, k)(x, gamma, beta) for k in range(3)]


def _case(seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(7, 5)), rng.normal(size=5), rng.normal(size=5),
            rng.normal(size=(7, 5)))


def _python_correct(backward: str) -> bool:
    x, gamma, beta, dout = _case()
    _, cache = _run(FORWARD, "batchnorm_forward", x, gamma, beta, {"mode": "train", "eps": EPS})
    dx, dgamma, dbeta = _run(backward, "batchnorm_backward", dout, cache)
    want = _oracle(x, gamma, beta, dout)
    return all(np.allclose(a, b, atol=1e-8) for a, b in zip((dx, dgamma, dbeta), want,
                                                            strict=True))


def _verdicts(code: str) -> dict:
    out = derive.check_code(code, ROWS)
    assert not out.internal, out.problems
    return {r.target: r.verdict for r in out.results if r.target}


def test_the_cache_is_read_from_the_forward_that_builds_it():
    """var is stored with eps added: read by its name (σ²) the correct code would be judged
    wrong; read from the forward's assignment it is right, as autograd says."""
    assert _python_correct(BACKWARD)
    got = _verdicts(FORWARD + BACKWARD)
    assert {t: v.verdict for t, v in got.items()} == {
        "dβ[1]": "correct", "dγ[1]": "correct", "dZ[1]": "correct"}
    assert any("batchnorm_forward stores" in n for n in got["dZ[1]"].notes)


@pytest.mark.parametrize("old, new, target", [
    ("dgamma = np.sum(dout * cache['z'], axis=0)",
     "dgamma = np.sum(dout * cache['z'], axis=0) / dout.shape[0]", "dγ[1]"),
    ("dx = dfdz * dzdx -", "dx = dfdz * dzdx +", "dZ[1]"),
    ("-0.5 * (cache['var'] ** -1.5)", "-0.5 * (cache['var'] ** -0.5)", "dZ[1]"),
])
def test_a_planted_mistake_is_wrong(old, new, target):
    planted = BACKWARD.replace(old, new)
    assert planted != BACKWARD and not _python_correct(planted)
    got = _verdicts(FORWARD + planted)
    assert got[target].verdict == "not_equivalent"
    if target == "dγ[1]":
        assert [m.code for m in got[target].mistakes] == ["dgamma_dbeta_divided_by_m"]


def test_the_forward_storing_the_variance_alone_makes_the_same_backward_wrong():
    forward = FORWARD.replace("var = x.var(axis=0) + eps", "var = x.var(axis=0)") \
        .replace("std = np.sqrt(var)", "std = np.sqrt(var + eps)")
    assert _verdicts(forward + BACKWARD)["dZ[1]"].verdict == "not_equivalent"


def test_without_the_forward_an_ambiguous_name_is_tried_and_said():
    """No forward: cache['var'] is read as σ² first, then as σ² + ε; the code is correct only
    under the second, and the note says so."""
    out = derive.check_code(BACKWARD, ROWS)
    verdicts = {r.target: r.verdict.verdict for r in out.results}
    assert verdicts == {"dβ[1]": "correct", "dγ[1]": "correct", "dZ[1]": "correct"}
    assert any("var as σ² + ε" in n and "not under the usual one" in n for n in out.notes)
    wrong = BACKWARD.replace("dx = dfdz * dzdx -", "dx = dfdz * dzdx +")
    out = derive.check_code(wrong, ROWS)
    assert {r.target: r.verdict.verdict for r in out.results}["dZ[1]"] == "not_equivalent"
    assert any("no other reading" in n for n in out.notes)


@pytest.mark.parametrize("greek, ascii_", [
    ("dγ1 = np.sum(dZ̃1 * x̂1, axis=0)", "dgamma1 = np.sum(dZ_tilde1 * Z_norm1, axis=0)"),
    ("dβ[1] = np.sum(dZ̃[1], axis=0)", "dbeta[1] = np.sum(dZ_tilde[1], axis=0)"),
    ("dZ1 = (1/m) * γ1 / np.sqrt(σ²1 + ε) * (m*dZ̃1 - np.sum(dZ̃1, axis=0) "
     "- x̂1 * np.sum(dZ̃1 * x̂1, axis=0))",
     "dZ1 = (1/m) * gamma1 / np.sqrt(var1 + eps) * (m*dZtilde1 - np.sum(dZtilde1, axis=0) "
     "- Z_norm1 * np.sum(dZtilde1 * Z_norm1, axis=0))"),
    ("dμ1 = -np.sum(dx̂1, axis=0) / np.sqrt(σ²1 + ε)",
     "dmu1 = -np.sum(dZ_norm1, axis=0) / np.sqrt(var1 + eps)"),
])
def test_greek_names_read_as_their_ascii_spelling(greek, ascii_):
    a, b = derive.check(greek, ROWS), derive.check(ascii_, ROWS)
    assert a.verdict == b.verdict == "correct"
    assert a.target == b.target
    assert a.expected == b.expected


def test_greek_golden_readings():
    from derive.parse import parse_expression

    shown = {t: parse_expression(t, ROWS, syntax="text").to_text()
             for t in ("γ[1]", "dγ1", "β1", "μ[1]", "σ²1", "dσ²[1]", "Z̃1", "dZ̃1", "x̂1", "ε")}
    assert shown == {"γ[1]": "γ[1]", "dγ1": "dγ[1]", "β1": "β[1]", "μ[1]": "μ[1]",
                     "σ²1": "σ²[1]", "dσ²[1]": "dσ²[1]", "Z̃1": "Z̃[1]", "dZ̃1": "dZ̃[1]",
                     "x̂1": "Z_norm[1]", "ε": "ε"}
    assert parse_expression("σ(Z1)", ROWS, syntax="text").to_text() == "σ(Z[1])"  # the sigmoid


@pytest.mark.parametrize("formula, verdict", [
    ("dvar = 0.5 * 1. / np.sqrt(var + eps) * dsqrtvar", "correct"),
    ("dvar = 1. / np.sqrt(var + eps) * dsqrtvar", "not_equivalent"),
    ("dgamma = np.sum(dgammax * xhat, axis=0)", "correct"),
    ("dxhat = dgammax * gamma", "correct"),
    ("dmu = -1 * np.sum(dxmu, axis=0)", "correct"),
    ("dx = gamma * inv_x_std / N * (N * dout - np.sum(dout, axis=0) - inv_x_std ** 2 * "
     "x_mean_0 * np.sum(dout * x_mean_0, axis=0))", "correct"),
    ("dgamma = np.sum(va2 * dva3, axis=0) / batch_size", "not_equivalent"),
])
def test_the_staged_graph_names_alone(formula, verdict):
    v = derive.check(formula, ROWS, layer=1)
    assert v.verdict == verdict, v.message
    assert any("staged batch-norm graph" in n for n in v.notes)


def test_the_staged_node_gradients_agree_with_autograd():
    """The table's dsqrtvar, divar, dsq, dxmu equal autograd's gradient with respect to that
    node of kratzert's graph (the node made the input of the rest of the graph); the table's
    text is evaluated by numpy with dZ_norm = dout ⊙ γ and the textbook's dσ²."""
    from derive.check import staged
    from derive.code.bn_cache import STAGED

    x, gamma, beta, dout = _case(3)
    binds, notes = staged.bindings("dsqrtvar + divar + dsq + dxmu", ROWS, 1, {})
    assert set(binds) == {"dsqrtvar", "divar", "dsq", "dxmu"} and len(notes) == 4
    mu = x.mean(axis=0)
    xmu = x - mu
    sq = xmu ** 2
    sqrtvar = np.sqrt(sq.mean(axis=0) + EPS)
    rest = {  # L as a function of one node, the others fixed
        "dsqrtvar": (sqrtvar, lambda s: anp.sum(dout * (gamma * xmu * (1 / s) + beta))),
        "divar": (1 / sqrtvar, lambda i: anp.sum(dout * (gamma * xmu * i + beta))),
        "dsq": (sq, lambda q: anp.sum(dout * (gamma * xmu / anp.sqrt(anp.mean(q, axis=0) + EPS)
                                              + beta))),
        "dxmu": (xmu, lambda u: anp.sum(dout * (gamma * u / anp.sqrt(anp.mean(u ** 2, axis=0)
                                                                     + EPS) + beta))),
    }
    var = x.var(axis=0, keepdims=True)
    dznorm = dout * gamma[None, :]
    dvar = np.sum(dznorm * (x - mu), axis=0, keepdims=True) * -0.5 * (var + EPS) ** -1.5
    scope = {"Z": x, "mu": mu[None, :], "var": var, "eps": EPS, "dZ_norm": dznorm, "dvar": dvar,
             "m": x.shape[0], "np": np}
    for node, (point, f) in rest.items():
        got = eval(STAGED[node].format(l="", ax=0), scope)  # noqa: S307 - our own table's text
        assert np.allclose(np.ravel(got), np.ravel(grad(f)(point)), atol=1e-8), node


POSTED = '''x, x_hat, mu, var, gamma, eps, N, D = cache
    dxhat = dout * gamma
    dvar = np.sum(dxhat * (x - mu) * -0.5 * (var + eps) ** -1.5, axis=0)
    dmu = np.sum(-dxhat / np.sqrt(var + eps), axis=0)
    dx = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / N + dmu / N
'''


def test_a_posted_body_with_its_first_line_flush():
    """A batchnorm_backward body pasted as a forum shows it (the first line flush, the rest
    indented, no def): read as the body, its cache by the names unpacked (N, D the sizes)."""
    def body(dout, cache):
        x, x_hat, mu, var, gamma, eps, N, D = cache
        dxhat = dout * gamma
        dvar = np.sum(dxhat * (x - mu) * -0.5 * (var + eps) ** -1.5, axis=0)
        dmu = np.sum(-dxhat / np.sqrt(var + eps), axis=0)
        return dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / N + dmu / N

    x, gamma, beta, dout = _case(5)
    mu, var = x.mean(axis=0), x.var(axis=0)
    cache = (x, (x - mu) / np.sqrt(var + EPS), mu, var, gamma, EPS, x.shape[0], x.shape[1])
    assert np.allclose(body(dout, cache), _oracle(x, gamma, beta, dout)[0])
    got = {r.target: r.verdict.verdict for r in derive.check_code(POSTED, ROWS).results}
    assert got["dZ[1]"] == "correct"
    wrong = POSTED.replace(" + dmu / N", "")
    assert {r.target: r.verdict.verdict
            for r in derive.check_code(wrong, ROWS).results}["dZ[1]"] == "not_equivalent"


def test_a_batchnorm_counterexample_has_three_examples_and_no_minus_zero(capsys):
    """At m = 2 batch norm is degenerate (Z_norm is ±1 exactly): its counterexamples use m = 3;
    the correct value they claim is autograd's, and a zero prints as 0, never -0."""
    from derive.cli import main
    from derive.engine.values import gradient_values
    from derive.network.model import random_instance
    from tests import oracle

    net = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", batchnorm=[1])
    text = "dZ[1] = dZ̃[1] ⊙ γ[1] ⊘ sqrt(σ²[1] + ε)"
    cex = derive.check(text, net).counterexample
    assert cex["sizes"] == {"n0": 3, "n1": 4, "n2": 2, "m": 3}
    inst = random_instance(net, seed=cex["seed"], m=3, margin=1e-6)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    values = gradient_values(derive.backward(net, prove=False), inst)
    want = 3 * oracle.intermediate_gradient(net, "Z", 1, values["Z", 1], params, inst.X, inst.Y)
    assert np.allclose(cex["expected"], want, rtol=1e-5, atol=1e-6)
    z_norm = np.array(cex["inputs"]["Z_norm[1]"])
    assert not np.allclose(np.abs(z_norm), 1)  # not the degenerate ±1 of two examples
    main(["check", text, "--layers", "3,4,2", "--act", "relu,sigmoid", "--loss", "bce",
          "--batchnorm", "1"])
    out = capsys.readouterr().out
    assert "m=3; seed 1" in out and "-0 " not in out and "-0;" not in out and "-0]" not in out
    assert "the formula gives 0\n" in out  # the entry is an exact zero (a ReLU unit off)


def test_the_direct_path_alone_is_named_bn_statistics_paths_missing():
    """dZ = dZ̃ ⊙ γ ⊘ sqrt(σ² + ε) leaves out the paths through μ and σ²: autograd's dZ differs
    from it, and the fix derive proposes is autograd's value."""
    from derive.core.expr import evaluate
    from derive.engine.values import gradient_values
    from derive.network.model import numpy_backend, random_instance
    from derive.parse import parse_equation
    from tests import oracle

    net = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", batchnorm=[1])
    text = "dZ[1] = dZ̃[1] ⊙ γ[1] ⊘ sqrt(σ²[1] + ε)"
    inst = random_instance(net, seed=4, m=5, margin=1e-6)
    params = {f"{k}{l}": v for (k, l), v in inst.params.items()}
    values = gradient_values(derive.backward(net, prove=False), inst)
    want = 5 * oracle.intermediate_gradient(net, "Z", 1, values["Z", 1], params, inst.X, inst.Y)

    def value(formula: str):
        eq = parse_equation(formula, net)
        return evaluate(eq.rhs, values, numpy_backend(net, inst.m, inst.sizes))

    assert not np.allclose(value(text), want)
    v = derive.check(text, net)
    assert v.verdict == "not_equivalent"
    assert [m.code for m in v.mistakes] == ["bn_statistics_paths_missing"]
    assert v.mistakes[0].message.startswith(
        "The paths through μ[1] and σ²[1] are missing: dZ̃[1] ⊙ γ[1] ⊘ sqrt(σ²[1] + ε) is only "
        "the direct path dZ_norm[1] ⊘ sqrt(σ²[1] + ε);")
    assert np.allclose(value(v.expected), want)
