"""Whole snippets (issue 12 item 2): ``derive.check_code`` on course-style code written here.

The oracle: each snippet below is this test's own code, so the test may run it (numpy, on an
instance drawn here) and compare what it returns with the true gradients from ``tests/oracle.py``
(autograd of the forward pass written again). A snippet the oracle calls right must get
``correct`` for every gradient; a planted mistake must be called wrong, with its mistake named.
derive itself never runs the code (a test replaces exec and eval with traps while it reads).
"""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest

from derive.cli import main
from derive.code import check_code
from derive.network.spec import Network
from tests import oracle

NET = Network(layers=[3, 4, 5, 2], activations=["relu", "relu", "sigmoid"], loss="bce")
M = 6

COURSE = '''
def relu_backward(dA, cache):
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ

def sigmoid_backward(dA, cache):
    Z = cache
    s = 1 / (1 + np.exp(-Z))
    dZ = dA * s * (1 - s)
    return dZ

def linear_backward(dZ, cache):
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1. / m * np.dot(dZ, A_prev.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db

def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    dA_prev, dW, db = linear_backward(dZ, linear_cache)
    return dA_prev, dW, db

def L_model_backward(AL, Y, caches):
    grads = {}
    L = len(caches)
    dAL = -(np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = \\
        linear_activation_backward(dAL, current_cache, "sigmoid")
    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev_temp, dW_temp, db_temp = linear_activation_backward(
            grads["dA" + str(l + 1)], current_cache, "relu")
        grads["dA" + str(l)] = dA_prev_temp
        grads["dW" + str(l + 1)] = dW_temp
        grads["db" + str(l + 1)] = db_temp
    return grads
'''


# -- the oracle: run this test's own snippet on an instance, compare with autograd -----------------
def instance(net: Network = NET, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = net.layers
    X = rng.normal(size=(n[0], M))
    Y = rng.integers(0, 2, size=(n[-1], M)).astype(float)
    params, caches, A = {}, [], X
    for l in range(1, net.L + 1):
        W = rng.normal(size=(n[l], n[l - 1])) / np.sqrt(n[l - 1])
        b = 0.3 * rng.normal(size=(n[l], 1))
        params[f"W{l}"], params[f"b{l}"] = W, b
        Z = W @ A + b
        caches.append(((A, W, b), Z))
        A = oracle.activation(net.activations[l - 1], l, True)(Z)
    return X, Y, A, params, caches


def run_snippet(code: str, name: str, *args):
    """This test's own code, run by the test (the oracle side), never by derive."""
    space: dict = {"np": np}
    exec(compile(code, "<test snippet>", "exec"), space)  # noqa: S102 - the test's own code
    return space[name](*args)


def true_grads(net: Network = NET):
    X, Y, AL, params, caches = instance(net)
    grads = oracle.param_gradients(net, params, X, Y)
    out = {}
    for l in range(1, net.L + 1):
        out[f"dW{l}"], out[f"db{l}"] = grads[f"W{l}"], grads[f"b{l}"]
        A = caches[l][0][0] if l < net.L else AL
        if l < net.L:
            out[f"dA{l}"] = M * oracle.intermediate_gradient(net, "A", l, A, params, X, Y)
    return out


def line_of(code: str, text: str) -> int:
    """The 1-based line of ``text`` in ``code`` (as check_code counts, after dedenting)."""
    return next(i for i, line in enumerate(code.split("\n"), start=1) if text in line)


# -- the course's week-4 code, written here --------------------------------------------------------
def test_the_oracle_says_the_course_code_is_right():
    X, Y, AL, params, caches = instance()
    grads = run_snippet(COURSE, "L_model_backward", AL, Y, caches)
    want = true_grads()
    for key in ("dW1", "dW2", "dW3", "db1", "db2", "db3", "dA1", "dA2"):
        assert np.allclose(grads[key], want[key], rtol=1e-8, atol=1e-10), key


def test_every_gradient_of_L_model_backward_is_correct_with_its_line():
    out = check_code(COURSE, NET)
    model = [r for r in out.results if r.function == "L_model_backward"]
    by_target = {r.target: r for r in model}
    for target in ("dW[1]", "dW[2]", "dW[3]", "db[1]", "db[2]", "db[3]", "dA[1]", "dA[2]"):
        assert by_target[target].verdict.verdict == "correct", (target, by_target[target].verdict)
    assert by_target["dW[3]"].name == "grads['dW3']"
    assert by_target["dW[3]"].line == line_of(COURSE, 'grads["dA" + str(L - 1)], grads["dW"')
    assert by_target["dW[1]"].line == line_of(COURSE, 'grads["dW" + str(l + 1)] = dW_temp')


def test_helpers_are_checked_on_their_own_and_at_their_activation():
    out = check_code(COURSE, NET)
    got = {(r.function, r.name): r for r in out.results}
    relu = got["relu_backward", "dZ"]
    assert relu.verdict.verdict == "correct" and relu.target == "dZ[l]"
    assert relu.line == line_of(COURSE, "dZ[Z <= 0] = 0")
    assert "checked at l = 1, 2" in relu.verdict.notes
    assert any("relu_backward computes relu's derivative itself" in n for n in relu.verdict.notes)
    sig = got["sigmoid_backward", "dZ"]
    assert sig.verdict.verdict == "correct" and "dZ[3]" in (sig.verdict.expected or "")
    for name in ("dW", "db", "dA_prev"):
        assert got["linear_backward", name].verdict.verdict == "correct", name
    assert out.verdict == "correct" and out.exit_code == 0


# -- planted mistakes, each confirmed by the oracle -----------------------------------------------
PLANTED = [  # (what is replaced, by what, the gradient, the verdict, a mistake code named)
    ("dW = 1. / m * np.dot(dZ, A_prev.T)", "dW = np.dot(dZ, A_prev.T)", "dW", "not_equivalent",
     "missing_scale"),
    ("dA_prev = np.dot(W.T, dZ)", "dA_prev = np.dot(dZ, W)", "dA_prev", "shape_error",
     "wrong_order"),
    ("db = 1. / m * np.sum(dZ, axis=1, keepdims=True)",
     "db = 1. / m * np.sum(dZ, axis=0, keepdims=True)", "db", "shape_error", "wrong_sum_axis"),
    ("dW = 1. / m * np.dot(dZ, A_prev.T)", "dW = 2. / m * np.dot(dZ, A_prev.T)", "dW",
     "not_equivalent", "wrong_scale"),
]


@pytest.mark.parametrize("old,new,name,verdict,code", PLANTED, ids=[p[1] for p in PLANTED])
def test_a_planted_mistake_in_linear_backward_is_named(old, new, name, verdict, code):
    wrong = COURSE.replace(old, new)
    X, Y, AL, params, caches = instance()
    want = true_grads()
    try:  # the oracle: the planted code gives another value (or numpy refuses its shapes)
        grads = run_snippet(wrong, "L_model_backward", AL, Y, caches)
        key = {"dW": "dW2", "db": "db2", "dA_prev": "dA1"}[name]
        assert grads[key].shape != want[key].shape or not np.allclose(grads[key], want[key])
    except ValueError:
        assert verdict == "shape_error"
    out = check_code(wrong, NET)
    r = next(r for r in out.results if r.function == "linear_backward" and r.name == name)
    assert r.verdict.verdict == verdict, r.verdict.message
    assert code in [mk.code for mk in r.verdict.mistakes]
    assert r.line == line_of(wrong, new)
    assert out.exit_code == 1


def test_each_gradient_is_judged_on_its_own():
    """A wrong dZ line does not make dW wrong: dW refers to the true dZ."""
    code = ("dZ = dA * Z\n"  # wrong: Z for relu'(Z)
            "dW = 1 / m * np.dot(dZ, A_prev.T)\n")
    out = check_code(code, NET, layer=2)
    dZ, dW = out.results
    assert (dZ.line, dZ.name, dZ.verdict.verdict) == (1, "dZ", "not_equivalent")
    assert (dW.line, dW.name, dW.verdict.verdict) == (2, "dW", "correct")


def test_helper_variables_and_augmented_assignments_are_followed():
    code = ("s = 1 / (1 + np.exp(-Z))\n"
            "dZ = dA * s\n"
            "dZ *= 1 - s\n")
    out = check_code(code, NET, layer=3)
    (r,) = out.results
    assert (r.line, r.target, r.verdict.verdict) == (3, "dZ[3]", "correct")


def test_cs231n_dscores_is_probs_minus_one_hot_over_N():
    net = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                  convention="rows", scale="dZ")
    code = ("N = X.shape[0]\n"
            "dscores = probs.copy()\n"
            "dscores[range(N), y] -= 1\n"
            "dscores /= N\n")
    names = {"probs": "A[2]", "dscores": "dZ[2]"}
    (r,) = check_code(code, net, names=names).results
    assert (r.line, r.target, r.verdict.verdict) == (4, "dZ[2]", "correct")
    (r,) = check_code(code.replace("dscores /= N\n", ""), net, names=names).results
    assert r.verdict.verdict == "not_equivalent"


# -- what is reported, never guessed ---------------------------------------------------------------
def test_an_unknown_function_is_reported_with_its_line():
    out = check_code("dZ = dA * my_relu_grad(Z)\n", NET, layer=1)
    (r,) = out.results
    assert r.verdict.verdict == "parse_error"
    assert r.verdict.message.startswith("line 1:") and "my_relu_grad" in r.verdict.message


def test_code_is_never_run(monkeypatch):
    def trap(*args, **kwargs):
        raise AssertionError("derive ran the code")

    monkeypatch.setattr(builtins, "exec", trap)
    monkeypatch.setattr(builtins, "eval", trap)
    code = ("x = __import__('os').system('echo hacked')\n"
            "dW = 1 / m * np.dot(dZ, open('/etc/passwd').read())\n")
    out = check_code(code, NET, layer=1)
    assert out.results[0].verdict.verdict == "parse_error"


@pytest.mark.parametrize("code,words", [
    ("while True:\n    dW = 0\n", "line 1: a while loop is not read"),
    ("x = " + "(" * 200 + "1" + ")" * 200 + "\n", "code.depth"),
    ("dW = 1\n" * 3000, "code.lines"),
    ("for i in range(N):\n    dW = dZ\n", "cannot be unrolled"),
    ("def f(:\n", "this is not Python code that derive can read"),
])
def test_refusals_are_clear_and_name_the_line_or_the_limit(code, words):
    out = check_code(code, NET, layer=1)
    text = " ".join([*out.problems, *(r.verdict.message for r in out.results)])
    assert words in text
    assert out.exit_code == 2


# -- the command line -------------------------------------------------------------------------------
def test_cli_code_file_json_and_exit_code(tmp_path, capsys):
    path = tmp_path / "backward.py"
    path.write_text(COURSE.replace("dA_prev = np.dot(W.T, dZ)", "dA_prev = np.dot(dZ, W)"))
    spec = ["--layers", "3,4,5,2", "--act", "relu,relu,sigmoid", "--loss", "bce"]
    assert main(["check", "--code", str(path), "--json", *spec]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "shape_error"
    bad = next(r for r in data["results"] if r["name"] == "dA_prev")
    assert bad["line"] == line_of(path.read_text(), "dA_prev = np.dot(dZ, W)")
    assert bad["function"] == "linear_backward" and bad["verdict"] == "shape_error"
    assert main(["check", "--code", str(path), *spec]) == 1
    text = capsys.readouterr().out
    assert f"line {bad['line']}: dA_prev (in linear_backward) — incorrect: shape error" in text


def test_cli_code_nothing_readable_is_exit_2(tmp_path, capsys):
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    assert main(["check", "--code", str(path)]) == 2
    out = capsys.readouterr().out
    assert "no gradient could be read" in out
    # why: the names it assigns, and how to bind the one that is a gradient
    assert "none of the names the code assigns is a gradient derive knows: x (line 1)" in out
    assert '--bind "x=dW[1]"' in out
    # the grad[j] loop of a Q&A thread, bound: the loop is named, and nothing is called correct
    path.write_text("def step(X, y):\n    grad = np.zeros(3)\n    for j in range(3):\n"
                    "        grad[j] += X[0, j]\n    return grad\n")
    assert main(["check", "--code", str(path), "--layers", "3,1", "--bind", "grad=dW[1]"]) == 2
    out = capsys.readouterr().out
    assert "cannot check" in out and "correct" not in out.replace("incorrect", "")
    assert "grad[j] is one entry of an array: derive reads whole arrays" in out


def test_batch_line_with_code():
    from derive.cli.check import check_line

    line = json.dumps({"id": "a", "code": "dZ = np.array(dA, copy=True)\ndZ[Z <= 0] = 0",
                       "layers": "3,4,5,2", "activations": "relu,relu,sigmoid", "loss": "bce",
                       "layer": 1})
    out = check_line(line)
    assert out["id"] == "a" and out["verdict"] == "correct"
    assert [(r["line"], r["target"]) for r in out["results"]] == [(2, "dZ[1]")]
