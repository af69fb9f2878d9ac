"""`derive gradcheck` under attack and at the edges (issue 15): no false pass (overflowing,
non-finite, complex or malformed gradients), no false alarm (saturated sigmoid and tanh layers,
--eps 1e-1), every planted wrong formula still failing there, the user's code reported as such
(sys.exit, Ctrl-C, exceptions), non-finite inputs as input errors, and bounded work.

Correct formulas are shown correct independently of derive and of float64 (the true
gradients by 60-digit central differences, mpmath), so a failure of theirs is a false alarm;
the old criterion's round-off floor (8·√n·u·|J|/ε) is recomputed to show that it could not
explain the errors these cases have.
"""

from __future__ import annotations

import importlib
import json
import math
import resource
import subprocess
import sys
import textwrap
from dataclasses import replace

import mpmath as mp
import numpy as np
import pytest

from derive.catalogue import rules
from derive.cli import main
from derive.core import expr as E
from derive.engine.backward import derive
from derive.errors import DeriveError, ResourceLimit
from derive.network import model
from derive.network.spec import Network

G = importlib.import_module("derive.numbers.gradcheck")  # the module; derive.numbers.gradcheck is the function
U = float(np.finfo(float).eps)
KEYS = [("W", 1), ("b", 1), ("W", 2), ("b", 2)]


# -- instances: saturated layers, and gradients checked against autograd ---------------------------
def _instance(net, X, Y, W1, b1, W2, b2) -> model.Instance:
    params = dict(zip(KEYS, (np.array(a, dtype=float) for a in (W1, b1, W2, b2)), strict=True))
    X, Y = np.array(X, dtype=float), np.array(Y, dtype=float)
    return model.Instance(tuple(net.layers), X.shape[1], X, Y, params)


def _exact(net, inst) -> dict:
    """The true gradients of the 2-layer network's cost, independently of derive and of float64:
    central differences in 60-digit arithmetic (mpmath) with a step of 1e-25."""
    mp.mp.dps = 60
    acts = {"tanh": mp.tanh, "sigmoid": lambda z: 1 / (1 + mp.exp(-z)), "linear": lambda z: z}
    g1, g2 = (acts[a] for a in net.activations)
    X, Y = mp.matrix(inst.X.tolist()), mp.matrix(inst.Y.tolist())

    def cost(P) -> mp.mpf:
        W1, b1, W2, b2 = (P[k] for k in KEYS)
        Z1 = W1 * X
        A1 = mp.matrix(Z1.rows, Z1.cols)
        for i in range(Z1.rows):
            for j in range(Z1.cols):
                A1[i, j] = g1(Z1[i, j] + b1[i, 0])
        Z2 = W2 * A1
        total = mp.mpf(0)
        for i in range(Z2.rows):
            for j in range(Z2.cols):
                a, y = g2(Z2[i, j] + b2[i, 0]), Y[i, j]
                total += -(y * mp.log(a) + (1 - y) * mp.log(1 - a)) if net.loss == "bce" else (a - y) ** 2
        return total / X.cols

    base = {k: mp.matrix(inst.params[k].tolist()) for k in KEYS}
    h = mp.mpf("1e-25")
    out = {}
    for k in KEYS:
        g = np.empty(inst.params[k].shape)
        for i, j in np.ndindex(g.shape):
            up, down = dict(base), dict(base)
            up[k], down[k] = base[k].copy(), base[k].copy()
            up[k][i, j] += h
            down[k][i, j] -= h
            g[i, j] = float((cost(up) - cost(down)) / (2 * h))
        out[k] = g
    return out


def saturated_sigmoid():
    """Z[2] ≈ 20 at every example and unit, Y = 1 (the issue's case): J ≈ 2e-9 while the values
    it is computed from are ≈ 1; square W[2], so a missing transpose keeps its shape."""
    net = Network(layers=[2, 2, 2], activations=["tanh", "sigmoid"], loss="bce")
    inst = _instance(net, [[1.0, 2.0], [1.0, 0.5]], [[1, 1], [1, 1]],
                     [[0.5, 0.3], [0.2, -0.4]], [[0.0], [0.1]], [[10, 8], [7, -9]], [[15], [17]])
    return net, inst


def saturated_tanh():
    """A tanh hidden layer at |Z[1]| ≥ 9.9 (tanh′ ≤ 1e-8) and outputs within 1e-4 of Y: J ≈ 1e-8,
    while A[1] = ±1 is rounded to 1e-16 (the issue's 2.5e-6 false alarm)."""
    net = Network(layers=[2, 2, 2], activations=["tanh", "linear"], loss="mse")
    X = [[1.0, 2.0], [1.0, 0.5]]
    W1, b1 = [[4.4, 3.3], [-3.3, -4.4]], [[2.2], [-2.2]]
    W2, b2 = [[1.0, 0.8], [0.6, -1.2]], [[0.1], [0.0]]
    A2 = model.forward(net, _instance(net, X, [[0, 0], [0, 0]], W1, b1, W2, b2).params,
                       np.array(X))["A", 2]
    return net, _instance(net, X, A2 + 1e-4 * np.array([[1, -0.7], [0.5, 0.9]]), W1, b1, W2, b2)


def _old_floor(net, inst, a) -> float:
    """The old criterion's round-off floor 8·√n·u·max|J|/ε (|J| at most twice its value here)."""
    J = abs(float(model.cost(net, model.forward(net, inst.params, inst.X), inst.Y)))
    return 8 * math.sqrt(np.prod(a.shape)) * U * 2 * J / a.eps


@pytest.mark.parametrize("case", [saturated_sigmoid, saturated_tanh])
def test_saturated_correct_formulas_pass(case):
    net, inst = case()
    cache = model.forward(net, inst.params, inst.X)
    if net.activations[-1] == "sigmoid":
        assert np.min(cache["Z", 2]) > 19  # saturated: A[2] within 6e-9 of 1
    else:
        assert np.min(np.abs(cache["Z", 1])) > 9.5  # saturated: tanh′ below 3e-8
    exact = _exact(net, inst)
    analytic = G.analytic_gradients(derive(net, prove=False), inst)
    for k in KEYS:  # the derived formulas are right (to their own float64 rounding)
        assert np.allclose(analytic[k], exact[k], rtol=1e-6, atol=0), k
    r = G.gradcheck(net, instance=inst)
    assert r.passed, [(a.name, a.relative_error, a.floor, a.status) for a in r.arrays]
    numeric = G.numeric_gradients(net, inst.params, inst.X, inst.Y)[0]
    for a in r.arrays:  # the floor bounds the true error of the central differences
        assert np.linalg.norm(numeric[a.key] - exact[a.key]) <= a.floor, a.name
    hidden = [a for a in r.arrays if a.key[1] == 1]
    # the errors are real (above rtol) and beyond what the old u·|J| floor explained ...
    assert max(a.relative_error for a in r.arrays) > 2e-6
    assert any(a.abs_error > r.rtol * (a.analytic_norm + a.numeric_norm) + _old_floor(net, inst, a)
               for a in r.arrays)
    # ... and within the new floor, which stays small enough to tell a 5 % mistake
    for a in hidden:
        assert a.status == "pass" and a.abs_error <= a.floor
        assert a.floor <= G.RESOLUTION * a.numeric_norm


@pytest.mark.parametrize("act", ["gelu", "swish", "softplus"])
def test_eps_1e_1_passes_correct_formulas(act):
    net = Network(layers=[3, 4, 2], activations=[act, act], loss="mse")
    r = G.gradcheck(net, seed=0, eps=1e-1)
    assert r.passed, [(a.name, a.relative_error, a.floor) for a in r.arrays]
    # the truncation error ε²J‴/6 is real (far above rtol), and the floor accounts for it
    assert max(a.relative_error for a in r.arrays) > 3e-4
    assert all(a.status == "pass" for a in r.arrays)


# -- planted wrong formulas: edits of the engine's own trees ----------------------------------------
def _edit(d, kind, layer, fn):
    formulas = tuple(replace(f, expr=fn(f.expr)) if (f.kind, f.layer) == (kind, layer) else f
                     for f in d.formulas)
    return replace(d, formulas=formulas)


def _map(e, fn):
    from dataclasses import fields

    e = fn(e)
    changes = {f.name: _map(getattr(e, f.name), fn) for f in fields(e)
               if isinstance(getattr(e, f.name), E.Expr)}
    return replace(e, **changes) if changes else e


def _drop_scale(e):
    assert isinstance(e, E.Scale)
    return e.arg


def _untransposed(x):
    return x.arg if isinstance(x, E.Transpose) else x


def _a_for_derivative(x):
    return E.Sym("A", 1, x.shape) if isinstance(x, E.Deriv) else x


def _wrong_derivative(e):  # another activation's derivative at layer 1
    def swap(x):
        if isinstance(x, E.Deriv):
            other = "sigmoid" if x.activation is not None and x.activation.name != "sigmoid" else "tanh"
            return replace(x, activation=rules.activations()[other])
        return x
    return _map(e, swap)


MISTAKES = {
    "missing 1/m in dW[1]": ("dW", 1, _drop_scale, "W[1]"),
    "missing 1/m in db[2]": ("db", 2, _drop_scale, "b[2]"),
    "missing transpose in dZ[1]": ("dZ", 1, lambda e: _map(e, _untransposed), "W[1]"),
    "A[1] for g′(Z[1]) in dZ[1]": ("dZ", 1, lambda e: _map(e, _a_for_derivative), "W[1]"),
    "another activation's derivative in dZ[1]": ("dZ", 1, _wrong_derivative, "W[1]"),
    "factor 2 in dW[2]": ("dW", 2, lambda e: E.Scale(2, e), "W[2]"),
    "dW[1] transposed": ("dW", 1, lambda e: E.Transpose(e), "W[1]"),
    "bias sum dropped in db[1]": ("db", 1, lambda e: _map(e, lambda x: x.arg if isinstance(x, E.Sum) else x), "b[1]"),
}


def _random_square(act, depth):
    out, loss = ("sigmoid", "bce") if act == "sigmoid" else ("linear", "mse")
    net = Network(layers=[4] * (depth + 1), activations=[act] * (depth - 1) + [out], loss=loss)
    return net, G.random_instance(net, 3, 4, None, G.EPS)


CASES = {"saturated sigmoid output": saturated_sigmoid, "saturated tanh hidden layer": saturated_tanh,
         "tanh, depth 2": lambda: _random_square("tanh", 2),
         "sigmoid, depth 3": lambda: _random_square("sigmoid", 3),
         "relu, depth 2": lambda: _random_square("relu", 2)}


@pytest.mark.parametrize("case", list(CASES))
def test_every_planted_mistake_fails(case):
    net, inst = CASES[case]()
    d = derive(net, prove=False)
    assert G.gradcheck(net, instance=inst, derivation=d).passed
    for what, (kind, layer, fn, array) in MISTAKES.items():
        r = G.gradcheck(net, instance=inst, derivation=_edit(d, kind, layer, fn))
        failed = {a.name: a for a in r.arrays if a.status == "fail"}
        assert not r.passed and array in failed, (case, what, [(a.name, a.status, a.relative_error) for a in r.arrays])
        a = failed[array]
        assert a.reason is not None or a.abs_error > a.floor + r.rtol * (a.analytic_norm + a.numeric_norm)
        if what.startswith("bias sum"):  # dZ[1] (n[1]×m) where db[1] is n[1]×1
            assert a.reason == f"shape {net.layers[1]}×{inst.m}, not {net.layers[1]}×1"


def test_a_planted_mistake_is_named_in_the_output(capsys, tmp_path):
    net, inst = saturated_sigmoid()
    values = {"network": {"layers": [2, 2, 2], "activations": ["tanh", "sigmoid"], "loss": "bce"},
              "values": {"X": inst.X.tolist(), "Y": inst.Y.tolist(),
                         **{f"{b}{l}": inst.params[b, l].tolist() for b, l in KEYS}}}
    path = tmp_path / "saturated.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    assert main(["gradcheck", "--values", str(path)]) == 0
    assert "PASSED" in capsys.readouterr().out
    module = tmp_path / "student.py"
    module.write_text(textwrap.dedent("""
        import numpy as np
        def backward(p, X, Y):
            m = X.shape[1]
            A1 = np.tanh(p["W1"] @ X + p["b1"])
            A2 = 1 / (1 + np.exp(-(p["W2"] @ A1 + p["b2"])))
            dZ2 = A2 - Y
            dZ1 = (p["W2"].T @ dZ2) * (1 - A1)  # wrong: tanh′ is 1 − A1²
            return {"dW1": dZ1 @ X.T / m, "db1": dZ1.sum(1, keepdims=True) / m,
                    "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(1, keepdims=True) / m}
    """), encoding="utf-8")
    assert main(["gradcheck", "--values", str(path), "--impl", f"{module}:backward"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: wrong gradient for W[1], b[1]" in out


# -- false passes: what the user's function returns ------------------------------------------------
def _course(p, X, Y):
    W1, b1, W2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    m = X.shape[1]
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dZ1 = (W2.T @ dZ2) * (Z1 > 0)
    return {"dW1": dZ1 @ X.T / m, "db1": dZ1.sum(1, keepdims=True) / m,
            "dW2": dZ2 @ A1.T / m, "db2": dZ2.sum(1, keepdims=True) / m}


def _impl(change):
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")

    def backward(p, X, Y):
        g = _course(p, X, Y)
        change(g)
        return g

    return G.gradcheck_impl(net, backward, seed=0, source="mine.py:backward")


def test_overflowing_or_non_finite_gradients_fail_loudly():
    assert _impl(lambda g: None).passed
    big = _impl(lambda g: g.update(dW1=g["dW1"] * 1e300))  # finite entries, ‖g‖ near overflow
    assert big.failed == ("W[1]",)
    assert big.arrays[0].relative_error == pytest.approx(1.0)
    huge = _impl(lambda g: g.update(dW1=np.full((4, 3), 1.5e308)))  # ‖g‖ overflows float64
    assert huge.failed == ("W[1]",) and "overflows" in huge.arrays[0].reason
    with np.errstate(all="ignore"):
        inf = _impl(lambda g: g.update(dW1=g["dW1"] * 1e309))  # ×inf: inf, -inf and nan entries
    a = inf.arrays[0]
    assert inf.failed == ("W[1]",) and a.reason.startswith("entry (") and a.reason.endswith("inf")
    nan = _impl(lambda g: g["db2"].__setitem__((0, 0), np.nan))
    assert nan.failed == ("b[2]",) and nan.arrays[3].reason == "entry (1, 1) is nan"
    assert json.loads(json.dumps(nan.to_dict(), allow_nan=False))["arrays"][3]["status"] == "fail"


@pytest.mark.parametrize("value,needle", [
    (lambda g: g["dW1"] + 1e-3j, "dW1 is complex (complex128 array)"),
    (lambda g: g["dW1"].astype(complex), "dW1 is complex"),
    (lambda g: str(g["dW1"].tolist()), "dW1 is the string '[["),
    (lambda g: None, "dW1 is None, not an array of real numbers"),
    (lambda g: object(), "dW1 is an object (numpy dtype object), not an array of real numbers"),
    (lambda g: {"a": 1}, "dW1 is a dict, not an array of real numbers"),
    (lambda g: g["dW1"] > 0, "dW1 is a bool array of shape 4×3 (numpy dtype bool)"),
    (lambda g: [[1.0, 2.0], [3.0]], "dW1 is not a numeric array"),
    (lambda g: [["0.1"] * 3] * 4, "dW1 is a list (numpy dtype <U3), not an array of real numbers"),
    (lambda g: g["dW1"].T, "dW1 has shape 3×4, but W1 has shape 4×3"),
    (lambda g: g["dW1"].ravel(), "dW1 has shape 12, but W1 has shape 4×3"),
])
def test_malformed_gradients_are_errors_naming_the_key(value, needle):
    with pytest.raises(DeriveError) as info:
        _impl(lambda g: g.update(dW1=value(g)))
    assert str(info.value).startswith("mine.py:backward: ") and needle in str(info.value)
    assert info.value.exit_code == 2


def test_lists_of_lists_pass_and_extra_keys_are_noted():
    r = _impl(lambda g: g.update({k: v.tolist() for k, v in g.items()}, dA1=0, cache="x"))
    assert r.passed and "keys not checked: dA1, cache" in r.notes
    with pytest.raises(DeriveError, match=r"returned no 'dW2' \(keys: dW1, db1, db2\)"):
        _impl(lambda g: g.pop("dW2"))
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")
    with pytest.raises(DeriveError, match="returned a tuple; expected a dict with keys dW1, db1, dW2, db2"):
        G.gradcheck_impl(net, lambda p, X, Y: tuple(_course(p, X, Y).values()), source="m:f")


# -- the user's code: sys.exit, Ctrl-C, exceptions, tracebacks ---------------------------------------
def _module(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return f"{path}:backward"


NET = ["--layers", "3,4,1", "--act", "relu,sigmoid", "--loss", "bce"]


@pytest.mark.parametrize("where,body,code,needle", [
    ("import", "import sys\nsys.exit(0)\ndef backward(p, X, Y): ...\n", 2,
     "your code called sys.exit(0) while importing"),
    ("call", "import sys\ndef backward(p, X, Y):\n    sys.exit(0)\n", 2,
     "your code called sys.exit(0) while running your backward function"),
    ("call", "def backward(p, X, Y):\n    raise SystemExit\n", 2, "your code called sys.exit() while"),
    ("call", "def backward(p, X, Y):\n    exit(3)\n", 2, "your code called sys.exit(3) while"),
    ("call", "def backward(p, X, Y):\n    raise KeyboardInterrupt\n", 130,
     "interrupted while running your backward function"),
    ("import", "raise KeyboardInterrupt\n", 130, "interrupted while importing"),
    ("import", "def backward(p, X, Y)\n    return {}\n", 2, "raised SyntaxError"),
    ("call", "def backward(p, X, Y):\n    return helper(p)\n\ndef helper(p):\n    return 1 / 0\n", 2,
     "raised ZeroDivisionError: division by zero (at exits.py line 5)"),
    ("value", "class Bad:\n    def __array__(self, *a, **k):\n        raise ValueError('no')\n"
              "def backward(p, X, Y):\n    return {'dW1': Bad(), 'db1': 0, 'dW2': 0, 'db2': 0}\n", 2,
     "returned raised ValueError: no (at exits.py line 3)"),
])
def test_the_users_code_is_reported_as_such(tmp_path, capsys, where, body, code, needle):
    impl = _module(tmp_path, "exits", body)
    assert main(["gradcheck", *NET, "--impl", impl]) == code
    captured = capsys.readouterr()
    assert needle in captured.err and "Traceback" not in captured.err, captured.err
    assert captured.out == ""


def test_debug_shows_the_traceback_of_the_users_code_only(tmp_path, capsys):
    impl = _module(tmp_path, "deep", """
        def backward(p, X, Y):
            return helper(p)

        def helper(p):
            raise ValueError("bad shapes")
    """)
    assert main(["gradcheck", *NET, "--impl", impl, "--debug"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback of your code (most recent call last):\n")
    assert 'deep.py", line 3, in backward' in err and 'deep.py", line 6, in helper' in err
    assert "derive" not in err.split("Error:")[0].replace(str(tmp_path), "")  # no frame of derive
    assert err.rstrip().endswith("Error: your backward function " + impl
                                 + " raised ValueError: bad shapes (at deep.py line 6)")


def test_a_python_caller_gets_the_same_errors():
    net = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")

    def interrupted(p, X, Y):
        raise KeyboardInterrupt

    with pytest.raises(G.UserInterrupt) as info:
        G.gradcheck_impl(net, interrupted, source="m:f")
    assert info.value.exit_code == 130

    def exits(p, X, Y):
        sys.exit("done")

    with pytest.raises(G.UserCodeError, match=r"sys.exit\('done'\)"):
        G.gradcheck_impl(net, exits, source="m:f")


# -- non-finite inputs and cost: input errors -------------------------------------------------------
def test_non_finite_inputs_and_cost_are_input_errors():
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    base = dict(X=[[1.0, 2.0], [1.0, 0.5]], Y=[[1, 0.5]], W1=[[1, 0.5]], b1=[[0.5]])

    def check(**change):
        v = {**base, **change}
        params = {("W", 1): np.array(v["W1"], dtype=float), ("b", 1): np.array(v["b1"], dtype=float)}
        inst = model.Instance((2, 1), 2, np.array(v["X"], dtype=float), np.array(v["Y"], dtype=float), params)
        with pytest.raises(DeriveError) as info:
            G.gradcheck(net, instance=inst)
        assert info.value.exit_code == 2
        return str(info.value)

    assert check(X=[[1.0, np.nan], [1.0, 0.5]]).startswith("entry (1, 2) of X is nan")
    assert check(W1=[[np.inf, 0.5]]).startswith("entry (1, 1) of W1 is inf")
    assert check(Y=[[1, -np.inf]]).startswith("entry (1, 2) of Y is -inf")
    assert check(W1=[[1e308, 1e308]]).startswith("entry (1, 1) of Z[1] is inf")
    msg = check(W1=[[30, 20]], b1=[[10]], Y=[[0, 0.5]])  # σ(70) = 1 exactly where Y = 0
    assert msg.startswith("the cost J is not finite at these values: the loss at entry (1, 1) of "
                          "A[1] is inf (A[1] = 1, Y = 0)")
    # finite at the values, infinite one step away (σ rounds to 1 between Z and Z + ε)
    edge = Network(layers=[1, 1], activations=["sigmoid"], loss="bce")
    inst = model.Instance((1, 1), 1, np.ones((1, 1)), np.zeros((1, 1)),
                          {("W", 1): np.array([[36.736]]), ("b", 1): np.zeros((1, 1))})
    with pytest.raises(DeriveError, match=r"the cost J is inf when entry \(1, 1\) of W1 moves by "
                                          r"\+ε \(ε = 0.00367\)"):
        G.gradcheck(edge, instance=inst)


# -- bounded work --------------------------------------------------------------------------------------
def test_over_the_limits_is_refused_before_any_work(capsys):
    argv = ["gradcheck", "--layers", "300,300,300,10", "--act", "tanh,tanh,softmax", "--loss",
            "ce", "--m", "4096"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "(gradcheck.work); narrow the work with --m or --layers" in err
    assert main(["gradcheck", "--m", "10001"]) == 2
    assert "needs 10,001 examples, over the limit of 10,000 examples (gradcheck.examples); " \
           "narrow the work with --m" in capsys.readouterr().err
    assert main(["gradcheck", "--layers", "2000,1000,1", "--act", "relu,sigmoid"]) == 2
    assert "(gradcheck.parameters); narrow the work with --layers" in capsys.readouterr().err
    with pytest.raises(ResourceLimit) as info:  # the Python API keeps the same limits
        G.gradcheck(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"), m=20_000)
    assert info.value.name == "gradcheck.examples" and info.value.flag == "--m"


def test_the_work_estimate_follows_the_plan():
    net = Network(layers=[300, 300, 300, 10], activations=["tanh", "tanh", "softmax"], loss="ce")
    ops, memory = G.work_estimate(net, 4096)
    # every entry of W[1] (90,300 of them, 4 copies each) runs 4096 examples through
    # W[3] (10×300) at least: a lower bound of the estimate, independent of its weights
    assert ops > 4 * 90_300 * 4096 * 3000 > G.WORK.value
    small = Network(layers=[64, 32, 10], activations=["relu", "softmax"], loss="ce")
    ops, memory = G.work_estimate(small, 16)
    assert ops < G.WORK.value / 10 and memory < 64 * 2**20
    wide = Network(layers=[100, 100, 10], activations=["tanh", "softmax"], loss="ce")
    deep = Network(layers=[3] * 41, activations=["tanh"] * 40, loss="mse")
    D = importlib.import_module("derive.numbers.differences")
    for net, m in [(small, 16), (wide, 64), (deep, 4)]:
        groups = list(D.plan(net, m))  # every copy planned once, in batches of bounded size
        planned = sorted((l, a, b) for g in groups for l, a, b in g)
        for layer in range(1, net.L + 1):
            spans = [(a, b) for l, a, b in planned if l == layer]
            total = 4 * net.layers[layer] * (net.layers[layer - 1] + 1) + 1
            assert spans[0][0] == 0 and spans[-1][1] == total
            assert all(b1 == a2 for (_, b1), (a2, _) in zip(spans, spans[1:], strict=False))
        count, copies, passes, batch = D.plan_summary(net, m)  # counted without the plan
        assert count == len(groups) and copies == sum(b - a for _, a, b in planned)
        assert passes == sum(net.L - D._entry_layer(net, g[0][0]) + 1 for g in groups)
        assert batch <= max(D.BATCH_BYTES, max(D._Layout.of(net, m).per_copy))


def _child(code: str) -> tuple[int, float, str]:
    """Run ``code`` in a fresh interpreter: (exit code, peak RSS of children in bytes, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return p.returncode, max(peak, before) * 1024, p.stdout + p.stderr


def test_depth_1000_and_many_parameters_finish_within_memory():
    # depth 1000 (the spec's maximum): one sweep up the network per group of layers; 2,000,000
    # parameters checked in batches of bounded size (the old code held all copies at once)
    code = ("import sys; from derive.cli import main; "
            "sys.exit(main(['gradcheck', '--layers', ','.join(['3'] * 1001), '--act', "
            "','.join(['tanh'] * 1000), '--loss', 'mse']))")
    rc, peak, out = _child(code)
    assert rc == 0 and "PASSED" in out, out[-2000:]
    assert peak < 2 * 2**30
    code = ("import sys; from derive.cli import main; "
            "sys.exit(main(['gradcheck', '--layers', '1999,999,1', '--act', 'relu,sigmoid', "
            "'--loss', 'bce', '--json']))")
    rc, peak, out = _child(code)
    assert rc == 0 and json.loads(out)["passed"], out[-2000:]
    assert peak < 2 * 2**30
