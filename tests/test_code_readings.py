"""Readings of whole code that need more than the names it writes (docs/code.md): a function's
result bound by the caller (gradient ascent's ``-dW[2]``), one example's bias gradient
(Nielsen's ``nabla_b[-1] = delta``, m = 1), a mini-batch's list of per-example gradients,
logistic regression's column ``dw``.

Each snippet is this test's own code; the test runs it (numpy, on an instance drawn here) and
compares what it returns with autograd (``tests/oracle.py``), so a "correct" expected here is
correct by an oracle derive did not write, and a planted mistake is wrong by the same oracle.
"""

from __future__ import annotations

import numpy as np
import pytest

from derive.code import check_code
from derive.network.spec import Network
from tests import oracle
from tests.test_code import run_snippet

# -- gradient ascent, its result bound by the caller ---------------------------------------------
ROWS = Network(layers=[3, 4, 2], activations=["tanh", "softmax"], loss="ce", convention="rows",
               scale="sum")
ASCENT = '''
def out_step(H, T, P):
    err = T - P
    return H.T.dot(err)

def hidden_step(X, H, T, P, V):
    back = (T - P).dot(V.T)
    dZ = back * (1 - H * H)
    return X.T.dot(dZ)
'''
ASCENT_NAMES = {"H": "A[1]", "T": "Y", "P": "A[2]", "V": "W[2]", "X": "X",
                "out_step": "-dW[2]", "hidden_step": "-dW[1]"}


def rows_instance(seed: int = 1, m: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    Y = np.eye(2)[rng.integers(0, 2, size=m)]
    params = {"W1": rng.normal(size=(3, 4)) / 2, "b1": rng.normal(size=(1, 4)) / 3,
              "W2": rng.normal(size=(4, 2)) / 2, "b2": rng.normal(size=(1, 2)) / 3}
    H = np.tanh(X @ params["W1"] + params["b1"])
    Z2 = H @ params["W2"] + params["b2"]
    P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
    return X, Y, H, P, params


def test_the_oracle_says_the_ascent_steps_are_minus_the_gradients():
    X, Y, H, P, params = rows_instance()
    true = oracle.param_gradients(ROWS, params, X, Y)
    assert np.allclose(run_snippet(ASCENT, "out_step", H, Y, P), -true["W2"])
    assert np.allclose(run_snippet(ASCENT, "hidden_step", X, H, Y, P, params["W2"]),
                       -true["W1"])


def test_a_function_bound_to_minus_a_gradient_is_checked_as_that_gradient():
    out = check_code(ASCENT, ROWS, names=ASCENT_NAMES)
    got = {r.function: r for r in out.results}
    assert set(got) == {"out_step", "hidden_step"}  # the local dZ is a helper, not a result
    assert (got["out_step"].target, got["out_step"].verdict.verdict) == ("dW[2]", "correct")
    assert got["out_step"].line == 4 and got["out_step"].name == "out_step()"
    assert (got["hidden_step"].target, got["hidden_step"].verdict.verdict) == ("dW[1]",
                                                                               "correct")
    assert not got["hidden_step"].uses_wrong
    assert any("read as -dW[2], as bound" in n for n in got["out_step"].verdict.notes)
    assert out.exit_code == 0


def test_an_ascent_step_with_its_sign_flipped_is_a_sign_error():
    wrong = ASCENT.replace("err = T - P", "err = P - T")
    X, Y, H, P, params = rows_instance()
    true = oracle.param_gradients(ROWS, params, X, Y)
    assert not np.allclose(run_snippet(wrong, "out_step", H, Y, P), -true["W2"])  # the oracle
    out = check_code(wrong, ROWS, names=ASCENT_NAMES)
    r = next(r for r in out.results if r.function == "out_step")
    assert r.verdict.verdict == "not_equivalent"
    assert "sign_error" in [mk.code for mk in r.verdict.mistakes]
    assert out.exit_code == 1


def test_a_bad_function_binding_is_a_problem_naming_it():
    out = check_code(ASCENT, ROWS, names={**ASCENT_NAMES, "out_step": "twice dW[2]"})
    assert out.results == [] and "'twice dW[2]' is not a gradient" in out.problems[0]


def test_without_the_binding_an_unnamed_return_is_not_a_result():
    out = check_code(ASCENT, ROWS, names={k: v for k, v in ASCENT_NAMES.items()
                                          if not k.endswith("_step")})
    assert "out_step" not in {r.function for r in out.results}


# -- one example (Nielsen's network.py) and a mini-batch's per-example columns -------------------
SIG = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="half_mse",
              scale="sum")
ONE = '''
def backprop(self, x, y):
    nabla_b = [np.zeros(b.shape) for b in self.biases]
    nabla_w = [np.zeros(w.shape) for w in self.weights]
    activations = [x]
    zs = []
    a = x
    for b, w in zip(self.biases, self.weights):
        z = np.dot(w, a) + b
        zs.append(z)
        a = sigmoid(z)
        activations.append(a)
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].transpose())
    delta = np.dot(self.weights[-1].transpose(), delta) * sigmoid_prime(zs[-2])
    nabla_b[-2] = delta
    nabla_w[-2] = np.dot(delta, activations[-3].transpose())
    return (nabla_b, nabla_w)
'''


def sig_instance(m: int, seed: int = 2):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(3, m)), rng.uniform(size=(2, m))
    params = {"W1": rng.normal(size=(4, 3)), "b1": rng.normal(size=(4, 1)),
              "W2": rng.normal(size=(2, 4)), "b2": rng.normal(size=(2, 1))}
    return X, Y, params


class _Net:  # the object the test's own snippet runs with (the oracle side)
    def __init__(self, params):
        self.biases = [params["b1"], params["b2"]]
        self.weights = [params["W1"], params["W2"]]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _run_backprop(code: str, params, X, Y):
    space: dict = {"np": np, "sigmoid": _sigmoid,
                   "sigmoid_prime": lambda z: _sigmoid(z) * (1 - _sigmoid(z))}
    exec(compile(code, "<test snippet>", "exec"), space)  # noqa: S102 - the test's own code
    return space["backprop"](_Net(params), X, Y)


def test_the_oracle_says_one_examples_delta_is_db():
    X, Y, params = sig_instance(m=1)
    nabla_b, nabla_w = _run_backprop(ONE, params, X, Y)
    true = oracle.param_gradients(SIG, params, X, Y)
    assert np.allclose(nabla_b[0], true["b1"]) and np.allclose(nabla_b[1], true["b2"])
    assert np.allclose(nabla_w[0], true["W1"]) and np.allclose(nabla_w[1], true["W2"])


@pytest.mark.parametrize("scale", ["sum", "mean"])
def test_one_examples_bias_gradient_is_its_delta(scale):
    out = check_code(ONE, SIG.replace(scale=scale))
    got = {r.target: r for r in out.results}
    for target in ("db[1]", "db[2]", "dW[1]", "dW[2]"):
        assert got[target].verdict.verdict == "correct", (target, got[target].verdict.message)
    assert any("one example (m = 1)" in n for n in got["db[2]"].verdict.notes)


def test_one_examples_bias_gradient_with_a_wrong_delta_is_wrong():
    wrong = ONE.replace("* sigmoid_prime(zs[-2])", "* zs[-2]")
    X, Y, params = sig_instance(m=1)
    true = oracle.param_gradients(SIG, params, X, Y)
    assert not np.allclose(_run_backprop(wrong, params, X, Y)[0][0], true["b1"])  # the oracle
    got = {r.target: r for r in check_code(wrong, SIG).results}
    assert got["db[1]"].verdict.verdict == "not_equivalent"
    assert got["db[2]"].verdict.verdict == "correct"


BATCH = ONE.replace("def backprop(self, x, y)", "def backprop(self, X, Y)") \
    .replace("[x]", "[X]").replace("a = x", "a = X").replace("- y)", "- Y)")


def test_a_mini_batchs_bias_list_holds_the_per_example_gradients():
    """X, Y with m columns: nabla_b[-1] = delta keeps a column per example, dZ of the layer."""
    X, Y, params = sig_instance(m=5)
    nabla_b, _ = _run_backprop(BATCH, params, X, Y)
    for l, Z_grad in ((1, nabla_b[0]), (2, nabla_b[1])):  # the oracle: ∂J/∂Z[l], J summed
        A, Zs = X, []
        for k in (1, 2):
            Zs.append(params[f"W{k}"] @ A + params[f"b{k}"])
            A = _sigmoid(Zs[-1])
        want = oracle.intermediate_gradient(SIG, "Z", l, Zs[l - 1], params, X, Y)
        assert np.allclose(Z_grad, want)
    got = {r.name: r for r in check_code(BATCH, SIG).results}
    assert (got["nabla_b[-1]"].target, got["nabla_b[-1]"].verdict.verdict) == ("dZ[2]",
                                                                                "correct")
    assert (got["nabla_b[-2]"].target, got["nabla_b[-2]"].verdict.verdict) == ("dZ[1]",
                                                                                "correct")
    assert got["nabla_w[-2]"].verdict.verdict == "correct"


# -- logistic regression's column dw --------------------------------------------------------------
LOGREG = Network(layers=[4, 1], activations=["sigmoid"], loss="bce")
PROPAGATE = '''
def propagate(w, b, X, Y):
    m = X.shape[1]
    A = 1 / (1 + np.exp(-(np.dot(w.T, X) + b)))
    dw = np.dot(X, (A - Y).T) / m
    db = np.sum(A - Y) / m
    return {"dw": dw, "db": db}
'''


def test_propagates_dw_is_the_column_dW_transposed():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(4, 6)), rng.integers(0, 2, size=(1, 6)).astype(float)
    params = {"W1": rng.normal(size=(1, 4)), "b1": rng.normal(size=(1, 1))}
    grads = run_snippet(PROPAGATE, "propagate", params["W1"].T, params["b1"], X, Y)
    true = oracle.param_gradients(LOGREG, params, X, Y)
    assert np.allclose(grads["dw"], true["W1"].T)  # the oracle: dw is dW[1]ᵀ
    got = {r.name: r for r in check_code(PROPAGATE, LOGREG).results}
    assert (got["dw"].target, got["dw"].verdict.verdict) == ("dW[1]", "correct")
    wrong = check_code(PROPAGATE.replace("(A - Y).T) / m", "(A - Y).T)"), LOGREG)
    dw = next(r for r in wrong.results if r.name == "dw")
    assert dw.verdict.verdict == "not_equivalent"
    assert "missing_scale" in [mk.code for mk in dw.verdict.mistakes]


# -- code that cannot run, and the course's old dict keys ----------------------------------------
def test_a_gradient_the_code_never_computes_is_wrong_and_says_where():
    from tests.test_code import COURSE, NET, instance, line_of

    old = "dA_prev_temp, dW_temp, db_temp = linear_activation_backward(\n" \
          "            grads[\"dA\" + str(l + 1)], current_cache, \"relu\")"
    assert old in COURSE
    broken = COURSE.replace(old, "dA_prev_temp, dW_temp, db_temp = linear_backward(\n"
                                 "            grads[\"dA\" + str(l + 1)], current_cache)")
    X, Y, AL, params, caches = instance()
    with pytest.raises(ValueError):  # the oracle: Python cannot unpack the layer's cache
        run_snippet(broken, "L_model_backward", AL, Y, caches)
    out = check_code(broken, NET)
    got = {r.target: r for r in out.results if r.function == "L_model_backward"}
    for target in ("dW[1]", "dW[2]", "db[1]", "dA[1]"):
        v = got[target].verdict
        assert v.verdict == "shape_error" and "never computed" in v.message, (target, v)
        line = line_of(broken, "dA_prev_temp, dW_temp, db_temp = linear_backward(")
        assert f"line {line}: in the call of linear_backward: 3 names are unpacked" in v.message
    assert got["dW[3]"].verdict.verdict == "correct"
    assert out.exit_code == 1


def test_a_key_one_layer_off_holds_what_its_call_computes():
    """The course's old notebooks keyed dA[l] as grads["dA" + str(l + 1)]."""
    from tests.test_code import COURSE, NET, instance, true_grads

    old_keys = COURSE
    for new, old in (('grads["dA" + str(L)], grads["dW"', 'grads["dA" + str(L - 1)], grads["dW"'),
                     ('grads["dA" + str(l + 2)], current_cache', 'grads["dA" + str(l + 1)], '
                                                                 'current_cache'),
                     ('grads["dA" + str(l + 1)] = dA_prev_temp', 'grads["dA" + str(l)] = '
                                                                 'dA_prev_temp')):
        assert old in old_keys
        old_keys = old_keys.replace(old, new)
    X, Y, AL, params, caches = instance()
    grads = run_snippet(old_keys, "L_model_backward", AL, Y, caches)
    want = true_grads()
    assert np.allclose(grads["dA3"], want["dA2"])  # the oracle: dA3 holds dA[2]
    assert np.allclose(grads["dW1"], want["dW1"])
    out = check_code(old_keys, NET)
    r = next(r for r in out.results if r.name == "grads['dA3']")
    assert (r.target, r.verdict.verdict) == ("dA[2]", "correct")
    assert any("holds dA[2], the value its call computes" in n for n in r.verdict.notes)


# -- a gradient a later line turns into another quantity, with L2 in the network ----------------
TWO = '''
def loss(self, X, y):
    W1, b1 = self.params['W1'], self.params['b1']
    W2, b2 = self.params['W2'], self.params['b2']
    N = X.shape[0]
    a1 = np.maximum(0, X.dot(W1) + b1)
    scores = a1.dot(W2) + b2
    e = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    probs = e / np.sum(e, axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[range(N), y])) / N
    loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    grads = {}
    dscores = probs
    dscores[range(N), y] -= 1
    dscores /= N
    grads['W2'] = np.dot(a1.T, dscores) + self.reg * W2
    grads['b2'] = np.sum(dscores, axis=0)
    dhidden = np.dot(dscores, W2.T)
    dhidden[a1 <= 0] = 0
    grads['W1'] = np.dot(X.T, dhidden) + self.reg * W1
    grads['b1'] = np.sum(dhidden, axis=0)
    return loss, grads
'''


def test_a_masked_dhidden_is_right_when_the_network_has_the_codes_l2():
    net = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                  convention="rows", scale="dZ", l2=0.1, l2_form="half")
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    params = {"W1": rng.normal(size=(4, 5)), "b1": rng.normal(size=(1, 5)),
              "W2": rng.normal(size=(5, 3)), "b2": rng.normal(size=(1, 3))}

    class Obj:
        reg = 0.1

    Obj.params = {k: (v.ravel() if k.startswith("b") else v) for k, v in params.items()}
    _, grads = run_snippet(TWO, "loss", Obj(), X, y)
    true = oracle.param_gradients(net, params, X, np.eye(3)[y])
    for k in ("W1", "b1", "W2", "b2"):  # the oracle: the code is right
        assert np.allclose(grads[k].reshape(true[k].shape), true[k]), k
    got = {r.name: r for r in check_code(TWO, net).results}
    for name in ("grads['W1']", "grads['b1']", "grads['W2']", "grads['b2']", "dhidden"):
        assert got[name].verdict.verdict == "correct", (name, got[name].verdict.message)
        assert not got[name].uses_wrong


# -- a raise in a branch that never runs (issue 11's follow-up) ----------------------------------
RAISING = """
def linear_activation_backward(dA, cache, activation):
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    else:
        raise ValueError(f"unknown activation {activation}")
    dA_prev, dW, db = linear_backward(dZ, linear_cache)
    return dA_prev, dW, db
"""


def test_a_raise_in_a_branch_that_never_runs_does_not_refuse_the_function():
    import derive

    net = derive.Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")
    result = derive.check_code(RAISING, net)
    assert result.verdict == "correct", [(r.name, r.verdict.message) for r in result.results]
    assert {r.name for r in result.results} >= {"dZ", "dA_prev"}
    # where the branch followed raises, that gradient cannot be checked, and the line says why
    other = derive.Network(layers=[3, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
    messages = " ".join(r.verdict.message for r in derive.check_code(RAISING, other).results)
    assert "line 9: the code raises an exception here" in messages
