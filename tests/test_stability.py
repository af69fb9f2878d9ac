"""derive stability: the symbolic results, numeric verdicts with known answers, and the CLI.

Independent oracles: autograd (an autodiff this project did not write) for Jacobians and for
the backpropagated gradient; numpy's SVD for spectral norms; closed forms (s^L, 0 < η < 2/a)
computed here by hand.
"""

from __future__ import annotations

import json
import math

import autograd.numpy as anp
import numpy as np
import pytest
import sympy as sp
from autograd import grad, jacobian

from derive.catalogue import rules
from derive.cli import main
from derive.errors import ParseError, ResourceLimit, SpecError
from derive.stability.analyse import (
    LOG_TINY,
    analyse,
    draw,
    init_weight,
    parse_init,
    positively_homogeneous,
    spectral_norms,
    sweep,
)
from derive.stability.render import stability_latex, tex_escape, to_json, to_text
from derive.stability.symbolic import (
    backprop_link,
    derivative_sup,
    jacobian_bound,
    layer_jacobian,
    quadratic_descent,
    scaled_identity,
    symbolic_stability,
)

ELEMENTWISE = [n for n in rules.activations() if rules.activations()[n].elementwise]
AUTOGRAD_ACTS = {"linear": lambda z: z, "tanh": anp.tanh, "sigmoid": lambda z: 1 / (1 + anp.exp(-z)),
                 "relu": lambda z: anp.maximum(z, 0.0)}


# -- symbolic ------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", [None, "sigmoid", "tanh", "relu", "linear", "softplus", "elu"])
def test_layer_jacobian_is_diag_gprime_times_W(act):
    r = layer_jacobian(act)
    assert r.passed
    assert r.facts["sympy_equal"] is True
    assert r.facts["fd_error"] < 1e-7


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_layer_jacobian_against_autograd(act):
    """diag(g′(z)) W from the catalogue's numpy derivative equals autograd's Jacobian."""
    entry = rules.activations()[act]
    rng = np.random.default_rng(7)
    W, b, a0 = rng.normal(size=(3, 4)), rng.normal(size=3), rng.normal(size=4)
    J_auto = jacobian(lambda x: AUTOGRAD_ACTS[act](anp.dot(W, x) + b))(a0)
    J_formula = np.diag(entry.numpy_derivative(W @ a0 + b) * np.ones(3)) @ W
    np.testing.assert_allclose(J_formula, J_auto, rtol=1e-12, atol=1e-14)


def test_layer_jacobian_symbolic_entries_generic():
    r = layer_jacobian(None, n_out=2, n_in=2)
    J, F = r.facts["jacobian"], r.facts["formula"]
    assert J.shape == (2, 2)
    assert all(sp.simplify(J[i, j] - F[i, j]) == 0 for i in range(2) for j in range(2))
    # F[0, 1] is g′(z_1) W_12: the W entry is a factor
    assert F[0, 1].has(sp.Symbol("W_12", real=True))


@pytest.mark.parametrize("act", [None, "tanh"])
def test_backprop_link_uses_engine_formulas(act):
    from derive.engine.backward import derive
    from derive.network.spec import Network

    r = backprop_link(act)
    assert r.passed and r.facts["equal"]
    d = derive(Network(layers=[2, 3, 2], activations=[None, act], loss=None), prove=False)
    assert r.facts["formulas"] == (d.formula("dZ", 2).text, d.formula("dA", 1).text)
    assert r.facts["formulas"][1] == "dA[1] = W[2]ᵀ dZ[2]"


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_catalogue_derivative_bound_on_a_grid(act):
    """sup|g′| from the catalogue: no grid point exceeds it, and the grid gets within 1%."""
    entry = rules.activations()[act]
    zs = np.linspace(-30, 30, 600_001)
    with np.errstate(over="ignore"):
        d = np.abs(np.asarray(entry.numpy_derivative(zs), dtype=float) * np.ones_like(zs))
    bound = float(entry.derivative_bound)
    assert d.max() <= bound + 1e-12
    assert d.max() >= 0.99 * bound


def test_derivative_sup_symbolic():
    assert derivative_sup("sigmoid") == sp.Rational(1, 4)
    assert derivative_sup("tanh") == 1
    assert derivative_sup("relu") == 1
    assert derivative_sup("linear") == 1
    assert derivative_sup("leaky_relu") == 1
    for act in ("sigmoid", "tanh", "relu"):
        r = jacobian_bound(act)
        assert r.passed and r.facts["sup"] == r.facts["catalogue"]


def test_scaled_identity_product_is_s_to_the_L():
    r = scaled_identity()
    assert r.passed
    s, L = sp.Symbol("s", positive=True), sp.Symbol("L", integer=True, positive=True)
    assert r.facts["product"] == s**L
    assert r.facts["limits"] == {"1/2": 0, "1": 1, "3/2": sp.oo}
    # by hand, numerically: (1.5 I)ᵀ seven times
    P = np.linalg.matrix_power((1.5 * np.eye(3)).T, 7)
    np.testing.assert_allclose(P, 1.5**7 * np.eye(3), rtol=1e-15)


def test_quadratic_descent_interval_and_regimes():
    r = quadratic_descent()
    assert r.passed
    a = sp.Symbol("a", positive=True)
    assert r.facts["stable"] == sp.Interval.open(0, 2 / a)
    reg = r.facts["regimes"]
    assert reg["monotone shrink"] == sp.Interval.open(0, 1 / a)
    assert reg["oscillating shrink"] == sp.Interval.open(1 / a, 2 / a)
    assert reg["oscillating explode"] == sp.Interval.open(2 / a, sp.oo)
    assert reg["explode"] == sp.Interval.open(-sp.oo, 0)


@pytest.mark.parametrize("eta,kind", [(0.2, "monotone shrink"), (0.8, "oscillating shrink"),
                                      (1.2, "oscillating explode"), (-0.1, "explode")])
def test_quadratic_regimes_by_simulation(eta, kind):
    """Run gradient descent on ½·2·θ² (a = 2, 2/a = 1) and watch θ."""
    a, theta = 2.0, [1.0]
    for _ in range(40):
        theta.append(theta[-1] - eta * a * theta[-1])
    theta = np.array(theta)
    signs_alternate = np.all(theta[1:] * theta[:-1] < 0)
    shrinks = abs(theta[-1]) < 1e-3
    assert signs_alternate == kind.startswith("oscillating")
    assert shrinks == kind.endswith("shrink")
    iv = quadratic_descent().facts["regimes"][kind].subs(sp.Symbol("a", positive=True), 2)
    assert iv.contains(sp.Float(eta)) == sp.true


def test_symbolic_stability_all_pass():
    assert all(r.passed for r in symbolic_stability("sigmoid"))


# -- numeric: known answers -------------------------------------------------------------------------
def test_linear_identity_is_stable_to_1e12():
    r = analyse(depth=50, width=16, activation="linear", init="identity", batch=8)
    assert r.verdict == "stable"
    assert abs(math.expm1(r.log_ratio)) < 1e-12  # ‖δ[0]‖ = ‖δ[L]‖
    assert np.max(np.abs(r.log_grad_norm)) < 1e-12
    assert abs(r.growth_factor - 1) < 1e-12
    np.testing.assert_allclose(r.jacobian_norm, 1.0, rtol=1e-12)


def test_linear_scaled_identity_explodes_as_1_5_to_the_L():
    L = 30
    r = analyse(depth=L, width=16, activation="linear", init="identity", gain=1.5, batch=8)
    assert r.verdict == "exploding"
    assert abs(r.growth_factor - 1.5) < 1e-9
    assert abs(r.log_ratio - L * math.log(1.5)) < 1e-9 * L * math.log(1.5)
    np.testing.assert_allclose(r.log_grad_norm, (L - np.arange(L + 1)) * math.log(1.5),
                               rtol=1e-9, atol=1e-12)


def test_linear_scaled_identity_vanishes_below_one():
    r = analyse(depth=30, width=8, activation="linear", init="identity", gain=0.5, batch=4)
    assert r.verdict == "vanishing" and abs(r.growth_factor - 0.5) < 1e-9


def test_sigmoid_depth_30_vanishes():
    r = analyse(depth=30, activation="sigmoid", init="xavier")
    assert r.verdict == "vanishing"
    assert r.growth_factor < 0.5
    # the catalogue bound: each layer shrinks by at most sup σ′ = 1/4 times ‖W‖₂
    assert np.all(r.derivative_max <= 0.25 + 1e-15)


def test_vanished_when_float64_underflows():
    """0.4^k < 2.2e-308 first at k = ceil(ln tiny / ln 0.4): the limit layer is L − k."""
    L = 1000
    r = analyse(depth=L, width=4, activation="linear", init="identity", gain=0.4, batch=2)
    k = math.floor(LOG_TINY / math.log(0.4)) + 1
    assert r.verdict == "vanished" and r.limit_layer == L - k
    assert "underflows" in r.rate
    assert r.grad_norm[0] == 0.0 and np.isfinite(r.log_grad_norm[0])


def test_exploded_when_float64_overflows_and_forward_is_rescaled():
    """Linear with W = 3I: 3^L overflows float64 near L = 646; the forward pass is rescaled
    (linear is positively homogeneous), so the run still completes."""
    r = analyse(depth=800, width=4, activation="linear", init="identity", gain=3.0, batch=2)
    assert r.verdict == "exploded"
    assert abs(r.log_grad_norm[0] - 800 * math.log(3)) < 1e-9 * 800 * math.log(3)
    assert abs(r.log_activation_norm[-1] - r.log_activation_norm[0] - 800 * math.log(3)) < 1e-6


@pytest.mark.parametrize("act,init,gain", [("tanh", "xavier", 1.0), ("relu", "he", 1.0),
                                           ("sigmoid", "normal", 1.0), ("tanh", "orthogonal", 1.3),
                                           ("relu", "normal", 0.3)])
def test_bounds_hold(act, init, gain):
    r = analyse(depth=25, width=32, activation=act, init=init, gain=gain, batch=8)
    tol = 1e-9
    assert np.all(r.log_grad_norm_example <= r.log_bound + tol)
    assert np.all(r.log_bound <= r.log_catalogue_bound + tol)
    assert np.all(r.jacobian_norm <= r.derivative_max * r.weight_norm * (1 + tol))


@pytest.mark.parametrize("act", ["tanh", "sigmoid", "relu", "linear"])
def test_gradient_norms_against_autograd(act):
    """δ[0] = ∂(Σ U ⊙ a[L])/∂X by autograd, on the same seeded numbers."""
    L, n, m = 6, 5, 3
    r = analyse(depth=L, width=n, activation=act, init="xavier", gain=1.2, seed=3, batch=m)
    weight, X, U = draw(L, n, "xavier", 1.2, 3, m)
    Ws = [weight(l) for l in range(L)]
    g = AUTOGRAD_ACTS[act]

    def out(X_):
        A = X_
        for W in Ws:
            A = g(anp.dot(W, A))
        return anp.sum(U * A)

    d0 = grad(out)(X)
    per_example = np.linalg.norm(d0, axis=0)
    assert abs(math.log(per_example[0]) - r.log_grad_norm_example[0]) < 1e-10
    rms = math.sqrt(np.mean(per_example**2))
    assert abs(math.log(rms) - r.log_grad_norm[0]) < 1e-10


def test_spectral_norms_against_svd():
    rng = np.random.default_rng(5)
    n = 120  # above the SVD width: Lanczos
    G = rng.normal(size=(4, n, n)) / math.sqrt(n)
    rank_deficient = G.copy()
    rank_deficient[:, : n // 2] = 0
    stacks = [G, rank_deficient, 1.5 * np.broadcast_to(np.eye(n), (3, n, n)).copy(),
              np.stack([init_weight("orthogonal", n, 0.7, rng) for _ in range(3)]),
              rng.uniform(0, 0.25, size=(4, n, 1)) * G]
    for M in stacks:
        est, how = spectral_norms(M)
        assert how == "lanczos"
        np.testing.assert_allclose(est, np.linalg.norm(M, 2, axis=(1, 2)), rtol=1e-9)
    small = rng.normal(size=(3, 10, 10))
    est, how = spectral_norms(small)
    assert how == "svd"
    np.testing.assert_allclose(est, np.linalg.norm(small, 2, axis=(1, 2)), rtol=1e-13)


def test_inits():
    rng = np.random.default_rng(0)
    n = 200
    assert np.array_equal(init_weight("identity", 3, 1.5, rng), 1.5 * np.eye(3))
    for init, var in (("normal", 4.0), ("xavier", 4.0 / n), ("he", 8.0 / n)):
        W = init_weight(init, n, 2.0, rng)
        assert abs(W.var() / var - 1) < 0.05
    Q = init_weight("orthogonal", 50, 1.0, rng)
    np.testing.assert_allclose(Q.T @ Q, np.eye(50), atol=1e-12)


def test_seeded_and_depth_prefix_shared():
    a = analyse(depth=20, width=8, seed=4, batch=4)
    b = analyse(depth=20, width=8, seed=4, batch=4)
    c = analyse(depth=30, width=8, seed=4, batch=4)
    assert np.array_equal(a.log_grad_norm, b.log_grad_norm)
    np.testing.assert_array_equal(a.weight_norm, c.weight_norm[:20])
    assert not np.array_equal(a.log_grad_norm, analyse(depth=20, width=8, seed=5,
                                                       batch=4).log_grad_norm)


def test_positively_homogeneous():
    assert positively_homogeneous("relu") and positively_homogeneous("linear")
    assert positively_homogeneous("leaky_relu")
    assert not positively_homogeneous("tanh") and not positively_homogeneous("elu")


def test_bad_input_is_a_clear_error():
    with pytest.raises(SpecError, match="softmax is not element-wise"):
        analyse(activation="softmax")
    with pytest.raises(SpecError, match="unknown activation"):
        analyse(activation="g")
    with pytest.raises(SpecError, match="unknown init"):
        analyse(init="kaiming")
    with pytest.raises(SpecError, match="depth must be"):
        analyse(depth=0)
    with pytest.raises(ResourceLimit, match=r"stability\.work"):  # 1000 × 4096² weights
        analyse(depth=1000, width=4096)
    with pytest.raises(ResourceLimit, match=r"stability\.depth"):
        analyse(depth=1001, width=2)
    with pytest.raises(SpecError, match="gain must be"):
        analyse(gain=float("nan"))
    with pytest.raises(SpecError, match="gain in"):
        parse_init("identity:x")
    assert parse_init("identity:1,5") == ("identity", 1.5)  # a decimal comma


def test_sweep_runs_every_combination():
    s = sweep(depths=(4, 6), inits=("identity", "identity:2"), activations=("linear", "tanh"),
              width=4, batch=2)
    assert [(r.depth, r.activation, r.gain) for r in s.runs] == [
        (4, "linear", 1.0), (4, "linear", 2.0), (4, "tanh", 1.0), (4, "tanh", 2.0),
        (6, "linear", 1.0), (6, "linear", 2.0), (6, "tanh", 1.0), (6, "tanh", 2.0)]
    assert abs(s.runs[1].growth_factor - 2) < 1e-9


# -- output -----------------------------------------------------------------------------------------
def test_text_json_latex():
    r = analyse(depth=8, width=6, activation="tanh", batch=4)
    text = to_text(r)
    assert "verdict: " + r.verdict in text and "‖J[l]‖₂" in text
    data = json.loads(json.dumps(to_json(r), allow_nan=False))
    assert data["verdict"] == r.verdict and data["growth_factor"] == r.growth_factor
    assert len(data["log10_grad_norm"]) == 9 and data["jacobian_norm"][0] is None
    tex = stability_latex(r)
    assert tex.startswith(r"\section{") and r"\documentclass" not in tex
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert tex_escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"
    sym = stability_latex(symbolic_stability("tanh"))
    assert sym.startswith(r"\section{Why gradients vanish or explode}") and "FAILED" not in sym


def test_huge_ratio_printed_from_logs():
    r = analyse(depth=1000, width=4, activation="linear", init="identity", gain=0.4, batch=2)
    assert "e-398" in to_text(r)  # 0.4^1000 = 1.07e-398, beyond float64


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_json(capsys):
    assert main(["stability", "--depth", "10", "--width", "8", "--act", "linear", "--init",
                 "identity", "--gain", "1.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "exploding" and abs(data["growth_factor"] - 1.5) < 1e-9
    assert len(data["grad_norm"]) == 11 and len(data["jacobian_norm"]) == 11


def test_cli_text_and_latex(capsys):
    assert main(["stability", "--depth", "30", "--act", "sigmoid", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "verdict: vanishing" in out
    assert main(["stability", "--depth", "5", "--width", "4", "--format", "latex"]) == 0
    assert capsys.readouterr().out.startswith(r"\section{Gradient stability")


def test_cli_sweep_and_plot(capsys, tmp_path):
    png = tmp_path / "s.png"
    assert main(["stability", "--sweep", "--depths", "5,8", "--inits", "identity,xavier,he",
                 "--width", "8", "--batch", "4", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert out.count("tanh") >= 6 and "plot written" in out
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) < 200_000


def test_cli_symbolic(capsys):
    assert main(["stability", "--symbolic", "--act", "sigmoid"]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out and out.count("✓") >= 15 and "(0, 2/a)" in out


@pytest.mark.parametrize("argv,needle", [
    (["--act", "softmax"], "not element-wise"),
    (["--act", "tanh,relu"], "a list needs --sweep"),
    (["--sweep", "--depths", "10,x"], "not a whole number"),
    (["--sweep", "--inits", "foo"], "unknown init"),
    (["--json", "--format", "latex"], "not allowed with argument --json"),
    (["--depth", "100000"], "over the limit of 1,000 layers (stability.depth)"),
    (["--depth", "0"], "depth must be a whole number"),
])
def test_cli_errors(capsys, argv, needle):
    assert main(["stability", *argv]) == 2
    err = capsys.readouterr().err
    error = err[err.index("Error:"):]  # a usage error shows the command's usage first
    assert error.count("Error:") == 1 and needle in error


def test_cli_depths_parse_error_has_position():
    from derive.cli.stability import _ints

    with pytest.raises(ParseError) as exc:
        _ints("10, 2x", "--depths")
    assert exc.value.position == 3


# -- the docs page shows the tool's real output ------------------------------------------------------
def _doc_blocks():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "stability.md").read_text("utf-8")
    blocks = []
    for chunk in text.split("```\n$ ")[1:]:
        body = chunk.split("\n```")[0]
        command, _, output = body.partition("\n")
        if "|" not in command:
            blocks.append((command, output))
    return blocks


@pytest.mark.parametrize("command,expected", _doc_blocks(), ids=lambda v: v[:60])
def test_docs_show_real_output(command, expected, capsys, tmp_path):
    import shlex

    argv = shlex.split(command)[1:]
    if "--plot" in argv:  # write the plot elsewhere; the docs name docs/img/...
        i = argv.index("--plot")
        docs_path, argv[i + 1] = argv[i + 1], str(tmp_path / "p.png")
    assert main(argv) == 0
    out = capsys.readouterr().out.rstrip("\n")
    if "--plot" in argv:
        out = out.replace(str(tmp_path / "p.png"), docs_path)
    _same_up_to_last_digit(out, expected)


_NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def _same_up_to_last_digit(out: str, expected: str) -> None:
    """The page's text exactly; its numbers to 1e-3 relative (a different BLAS may round the
    4th significant figure of a seeded run the other way)."""
    import re

    assert re.split(_NUMBER, out) == re.split(_NUMBER, expected)
    for got, want in zip(re.findall(_NUMBER, out), re.findall(_NUMBER, expected), strict=True):
        assert float(got) == pytest.approx(float(want), rel=1e-3, abs=1e-12), (got, want)
