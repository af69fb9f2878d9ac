"""`derive gradcheck`: correct gradients pass at depths 1 to 10 for every activation in the
catalogue (and a generic g); wrong ones, made by editing the engine's own expression trees
(missing 1/m, missing transpose, A for g′(Z)), fail. Numeric gradients are compared with plain
unbatched central differences and with `autograd`."""

from __future__ import annotations

import importlib
import json
from dataclasses import replace
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from derive.cli import main
from derive.core import expr as E
from derive.core import fd
from derive.engine.backward import derive
from derive.errors import DeriveError
from derive.network import model
from derive.network.spec import Network

G = importlib.import_module("derive.numbers.gradcheck")  # the module; derive.numbers.gradcheck is the function

ELEMENTWISE = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "swish",
               "gelu", None]
EXAMPLES = Path(__file__).parent.parent / "examples"


def _net(act, depth, sizes=None):
    """Hidden layers of ``act``; output sigmoid + bce for sigmoid, linear + mse for kinked
    activations (a ReLU output layer is often dead, leaving nothing to check), else act + mse."""
    if act == "sigmoid":
        out, loss = "sigmoid", "bce"
    elif act in ("relu", "leaky_relu", "elu"):
        out, loss = "linear", "mse"
    else:
        out, loss = act, "mse"
    return Network(layers=sizes, activations=[act] * (depth - 1) + [out], loss=loss)


@pytest.mark.parametrize("act", ELEMENTWISE)
def test_correct_gradients_pass_at_every_depth(act):
    for depth in (1, 2, 3, 5, 10):
        for seed in (0, 1):
            r = G.gradcheck(_net(act, depth), seed=seed)
            assert r.passed, (act, depth, seed, [(a.name, a.relative_error) for a in r.arrays])
            assert any(a.status == "pass" for a in r.arrays)


@pytest.mark.parametrize("hidden", ["relu", "sigmoid", "tanh"])
def test_softmax_ce_passes_at_every_depth(hidden):
    for depth in (1, 2, 5, 10):
        net = Network(layers=[3] + [4] * depth, activations=[hidden] * (depth - 1) + ["softmax"],
                      loss="ce")
        assert G.gradcheck(net, seed=0).passed, (hidden, depth)


def test_the_course_recipe_raises_a_false_alarm_that_ours_does_not():
    # a deep sigmoid network with correct gradients: ε = 1e-7 and a 1e-7 threshold on the plain
    # relative error fails at least one array; the default criterion passes them all
    net = _net("sigmoid", 10)
    course = G.gradcheck(net, seed=0, eps=1e-7)
    assert max(a.relative_error for a in course.arrays) > 1e-7
    assert G.gradcheck(net, seed=0).passed


# -- wrong formulas, made from the engine's own trees -------------------------------------------
def _edit(d, kind, layer, fn):
    formulas = tuple(replace(f, expr=fn(f.expr)) if (f.kind, f.layer) == (kind, layer) else f
                     for f in d.formulas)
    return replace(d, formulas=formulas)


def _drop_scale(e):
    assert isinstance(e, E.Scale)
    return e.arg


def _map(e, fn):
    from dataclasses import fields

    e = fn(e)
    changes = {}
    for f in fields(e):
        v = getattr(e, f.name)
        if isinstance(v, E.Expr):
            changes[f.name] = _map(v, fn)
    return replace(e, **changes) if changes else e


def _drop_transpose(e):
    return _map(e, lambda x: x.arg if isinstance(x, E.Transpose) else x)


def _a_for_gprime(layer):
    def fn(e):
        return _map(e, lambda x: E.Sym("A", layer, x.shape) if isinstance(x, E.Deriv) else x)
    return fn


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "gelu", None])
@pytest.mark.parametrize("depth", [2, 5])
def test_wrong_formulas_fail(act, depth):
    sizes = [4] * (depth + 1)  # square weights, so a missing transpose still has the right shape
    net = _net(act, depth, sizes)
    d = derive(net, prove=False)
    inst = G.random_instance(net, 3, 4, None, G.EPS)
    wrong = {
        "missing 1/m in dW[1]": (_edit(d, "dW", 1, _drop_scale), "W[1]"),
        "missing 1/m in db[2]": (_edit(d, "db", 2, _drop_scale), "b[2]"),
        "missing transpose in dZ[1]": (_edit(d, "dZ", 1, _drop_transpose), "W[1]"),
        "A for g′(Z) in dZ[1]": (_edit(d, "dZ", 1, _a_for_gprime(1)), "W[1]"),
    }
    assert G.gradcheck(net, instance=inst, derivation=d).passed
    for what, (dw, array) in wrong.items():
        r = G.gradcheck(net, instance=inst, derivation=dw)
        assert not r.passed and array in r.failed, (what, [(a.name, a.status) for a in r.arrays])


# -- the numbers themselves ----------------------------------------------------------------------
def test_batched_differences_equal_plain_ones():
    for conv in ("columns", "rows"):
        net = Network(layers=[3, 5, 2], activations=["tanh", "softmax"], loss="ce", convention=conv)
        inst = model.random_instance(net, seed=2, m=3)
        g, steps, _ = G.numeric_gradients(net, inst.params, inst.X, inst.Y)
        for key in G.param_keys(net):
            def f(batch, key=key, net=net, inst=inst):
                p = dict(inst.params)
                p[key] = batch
                return model.cost(net, model.forward(net, p, inst.X), inst.Y)

            plain = fd.central_differences(f, inst.params[key], steps[key])
            assert np.allclose(g[key], plain, rtol=1e-7, atol=1e-12), (conv, key)


def test_batched_sweeps_equal_plain_differences():
    # a sweep carries copies of several layers, each joining at its own layer, in batches: the
    # same numbers as one plain central difference per entry, whatever the batch size
    D = importlib.import_module("derive.numbers.differences")
    net = Network(layers=[3, 4, 4, 2], activations=["gelu", "tanh", "softmax"], loss="ce")
    inst = model.random_instance(net, seed=4, m=3)
    d = D.differences(net, inst.params, inst.X, inst.Y)
    small = D.BATCH_BYTES
    try:
        D.BATCH_BYTES = 1  # one copy per batch: every sweep of one copy
        one = D.differences(net, inst.params, inst.X, inst.Y)
    finally:
        D.BATCH_BYTES = small
    for k in G.param_keys(net):
        P = inst.params[k]
        plain = np.empty(P.shape)
        for idx in np.ndindex(P.shape):
            costs = []
            for sign in (1, -1):
                p = dict(inst.params)
                p[k] = P.copy()
                p[k][idx] += sign * d.steps[k]
                costs.append(float(model.cost(net, model.forward(net, p, inst.X), inst.Y)))
            plain[idx] = (costs[0] - costs[1]) / (2 * d.steps[k])
        assert np.allclose(d.gradients[k], plain, rtol=1e-8, atol=1e-13), k
        assert np.allclose(one.gradients[k], d.gradients[k], rtol=1e-12, atol=0), k


def test_numeric_and_analytic_gradients_match_autograd():
    net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    inst = model.random_instance(net, seed=5, m=6)

    def cost(ps):
        w1, c1, w2, c2 = ps
        a1 = anp.tanh(anp.dot(w1, inst.X) + c1)
        a2 = 1 / (1 + anp.exp(-(anp.dot(w2, a1) + c2)))
        y = inst.Y
        return -anp.sum(y * anp.log(a2) + (1 - y) * anp.log(1 - a2)) / inst.X.shape[1]

    keys = [("W", 1), ("b", 1), ("W", 2), ("b", 2)]
    ref = dict(zip(keys, grad(cost)([inst.params[k] for k in keys]), strict=True))
    numeric, _, _ = G.numeric_gradients(net, inst.params, inst.X, inst.Y)
    analytic = G.analytic_gradients(derive(net, prove=False), inst)
    for k in keys:
        assert np.allclose(numeric[k], ref[k], rtol=1e-6, atol=1e-10), k
        assert np.allclose(analytic[k], ref[k], rtol=1e-10, atol=1e-14), k


def test_given_parameters_on_a_kink_are_reported():
    net = Network(layers=[2, 2, 1], activations=["relu", "linear"], loss="mse")
    params = {("W", 1): np.array([[1.0, -1.0], [0.5, 0.2]]), ("b", 1): np.zeros((2, 1)),
              ("W", 2): np.array([[1.0, 2.0]]), ("b", 2): np.zeros((1, 1))}
    X = np.array([[1.0, 2.0], [1.0, 0.5]])  # Z[1][0, 0] = 1 − 1 = 0 exactly
    inst = model.Instance((2, 2, 1), 2, X, np.array([[0.3, -0.2]]), params)
    r = G.gradcheck(net, instance=inst)
    assert any(k.layer == 1 and k.entry == (0, 0) for k in r.kinks)
    assert "kink" in r.kinks[0].message()


# -- --impl --------------------------------------------------------------------------------------
def _impl(fn):
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")
    return G.gradcheck_impl(net, fn, seed=0)


def _course_backward(params, X, Y, scale_dw1=True):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return {"dW1": dZ1 @ X.T / (m if scale_dw1 else 1), "db1": dZ1.sum(1, keepdims=True) / m,
            "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(1, keepdims=True) / m}


def test_impl_right_and_wrong():
    assert _impl(_course_backward).passed
    r = _impl(lambda p, X, Y: _course_backward(p, X, Y, scale_dw1=False))
    assert r.failed == ("W[1]",)


def test_impl_bad_returns_name_the_array():
    def transposed(p, X, Y):
        g = _course_backward(p, X, Y)
        g["dW1"] = g["dW1"].T
        return g

    with pytest.raises(DeriveError, match=r"dW1 has shape 3×4, but W1 has shape 4×3"):
        _impl(transposed)
    with pytest.raises(DeriveError, match="no 'db2'"):
        _impl(lambda p, X, Y: {k: v for k, v in _course_backward(p, X, Y).items() if k != "db2"})
    with pytest.raises(DeriveError, match="raised ZeroDivisionError"):
        _impl(lambda p, X, Y: 1 / 0)


def test_cli(capsys):
    assert main(["gradcheck", "--layers", "3,4,2", "--act", "tanh,sigmoid", "--loss", "bce",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] and data["max_relative_error"] < 1e-6
    assert [a["name"] for a in data["arrays"]] == ["W[1]", "b[1]", "W[2]", "b[2]"]
    assert "floor" in data["criterion"]
    impl = f"{EXAMPLES / 'my_backward.py'}:backward"
    assert main(["gradcheck", "--layers", "3,4,1", "--act", "relu,sigmoid", "--loss", "bce",
                 "--impl", impl]) == 1
    assert "FAILED: wrong gradient for W[1]" in capsys.readouterr().out
    assert main(["gradcheck", "--impl", "no_such_module_xyz:f"]) == 2
    assert main(["gradcheck", "--eps", "5"]) == 2
    data_file = Path(__file__).parent / "data" / "seed003_student.json"
    assert main(["gradcheck", "--values", str(data_file), "--json"]) == 0
    capsys.readouterr()


def test_impl_names_a_file_that_is_not_python(tmp_path, capsys):
    notes = tmp_path / "backward.txt"
    notes.write_text("def backward(p, X, Y): ...\n", encoding="utf-8")
    assert main(["gradcheck", "--impl", f"{notes}:backward"]) == 2
    err = capsys.readouterr().err
    assert f"--impl: '{notes}' is not a Python file: give a .py file or a module name" in err
    assert main(["gradcheck", "--impl", f"{tmp_path / 'missing.py'}:backward"]) == 2
    assert "--impl: no file" in capsys.readouterr().err
