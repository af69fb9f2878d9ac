"""The numeric reading of code with no formula form (issue 12 items 2, 6): CS231n-style loss
functions with loops over the examples, written here, correct and with planted mistakes.

The oracle: each function below is this test's own code, so the test runs it (Python, numpy) and
compares its gradient with central differences of its own loss, written in this test. derive
never runs it as Python: exec, eval and compile are traps while derive reads.
"""

from __future__ import annotations

import ast
import builtins

import numpy as np
import pytest

from derive.catalogue import rules
from derive.code import check_code
from derive.network.spec import Network

LINEAR = Network(layers=[5, 3], activations=["softmax"], loss="ce", convention="rows",
                 scale="dZ")

SOFTMAX_NAIVE = '''
def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    dW = np.zeros_like(W)
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
        for j in range(num_classes):
            if j == y[i]:
                dW[:, j] += (p[j] - 1) * X[i]
            else:
                dW[:, j] += p[j] * X[i]
    loss /= num_train
    dW /= num_train
    loss += REG_LOSS
    dW += REG_GRAD
    return loss, dW
'''
SOFTMAX_VECTORIZED = '''
def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(N), y])) / N + REG_LOSS
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dW = X.T.dot(dscores) / N + REG_GRAD
    return loss, dW
'''
SVM_NAIVE = '''
def svm_loss_naive(W, X, y, reg):
    dW = np.zeros(W.shape)
    num_classes = W.shape[1]
    num_train = X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss /= num_train
    dW /= num_train
    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW
'''
FORMS = {"half": ("0.5 * reg * np.sum(W * W)", "reg * W"),
         "plain": ("reg * np.sum(W * W)", "2 * reg * W")}


def source(template: str, loss_term: str, grad_term: str) -> str:
    return template.replace("REG_LOSS", loss_term).replace("REG_GRAD", grad_term)


def run(code: str, name: str, *args):
    """This test's own code, run by the test (the oracle side), never by derive."""
    space: dict = {"np": np}
    exec(compile(code, "<test snippet>", "exec"), space)  # noqa: S102 - the test's own code
    return space[name](*args)


def problem(seed: int = 3, n: int = 7, d: int = 5, c: int = 3):
    rng = np.random.default_rng(seed)
    return (0.5 * rng.normal(size=(d, c)), rng.normal(size=(n, d)), rng.integers(0, c, size=n),
            0.37)


def central_differences(code: str, name: str, W, X, y, reg, h: float = 1e-6) -> np.ndarray:
    """The oracle: ∂loss/∂W of the test's own loss, by central differences."""
    grad = np.zeros_like(W)
    for idx in np.ndindex(*W.shape):
        up, down = W.copy(), W.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (run(code, name, up, X, y, reg)[0] - run(code, name, down, X, y, reg)[0]) \
            / (2 * h)
    return grad


def oracle_says_right(code: str, name: str) -> bool:
    W, X, y, reg = problem()
    loss, dW = run(code, name, W, X, y, reg)
    return bool(np.allclose(dW, central_differences(code, name, W, X, y, reg), rtol=1e-5,
                            atol=1e-7))


@pytest.fixture
def no_python(monkeypatch):
    """derive must never run the snippet as Python."""
    np.random.default_rng(0)  # numpy imports its random module on first use, by exec: before
    real_compile = builtins.compile

    def trap(*args, **kwargs):
        raise AssertionError("derive ran code as Python")

    def compile_to_a_tree_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:  # ast.parse may build a tree; nothing may run
            raise AssertionError("derive compiled code to run it")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "exec", trap)
    monkeypatch.setattr(builtins, "eval", trap)
    monkeypatch.setattr(builtins, "compile", compile_to_a_tree_only)


def check(code: str, net: Network = LINEAR):
    return check_code(code, net)


def by_target(out) -> dict:
    return {r.target: r for r in out.results}


# -- correct code: the oracle agrees, derive says correct, names the loss -------------------------
@pytest.mark.parametrize("template,name", [(SOFTMAX_NAIVE, "softmax_loss_naive"),
                                           (SOFTMAX_VECTORIZED, "softmax_loss_vectorized")])
@pytest.mark.parametrize("form", ["half", "plain"])
def test_a_correct_softmax_loss_is_correct_and_its_loss_named(template, name, form):
    code = source(template, *FORMS[form])
    assert oracle_says_right(code, name)
    out = check(code)
    got = by_target(out)
    assert got["dW[1]"].verdict.verdict == "correct", got["dW[1]"].verdict
    assert got["loss"].verdict.verdict == "correct"
    message = got["loss"].verdict.message
    assert "categorical cross-entropy" in message and "mean over N" in message
    assert ("½·reg" in message) == (form == "half") and ("plain" in message) == (form == "plain")
    assert out.exit_code == 0


def test_the_naive_loop_says_it_was_checked_numerically(no_python):
    out = check(source(SOFTMAX_NAIVE, *FORMS["half"]))
    dW = by_target(out)["dW[1]"]
    assert dW.verdict.verdict == "correct"
    assert "checked numerically: the loop over examples has no formula form" in dW.verdict.notes
    assert dW.line == 20  # dW += reg * W, its last assignment


# -- planted mistakes: the oracle disagrees, derive says wrong with a counterexample ----------------
PLANTED = {
    "missing 2": ("reg * np.sum(W * W)", "reg * W"),
    "reg term missing": ("0.5 * reg * np.sum(W * W)", "0"),
    "wrong sign": ("0.5 * reg * np.sum(W * W)", "-reg * W"),
}


@pytest.mark.parametrize("template,name", [(SOFTMAX_NAIVE, "softmax_loss_naive"),
                                           (SOFTMAX_VECTORIZED, "softmax_loss_vectorized")])
@pytest.mark.parametrize("mistake", sorted(PLANTED))
def test_a_planted_mistake_is_wrong_with_a_counterexample(template, name, mistake, no_python):
    code = source(template, *PLANTED[mistake])
    out = check(code)
    dW = by_target(out)["dW[1]"]
    assert dW.verdict.verdict == "not_equivalent", dW.verdict
    c = dW.verdict.counterexample
    assert set(c) >= {"index", "got", "expected"} and abs(c["got"] - c["expected"]) > 1e-4
    assert out.exit_code == 1


@pytest.mark.parametrize("mistake", sorted(PLANTED))
def test_the_oracle_agrees_the_planted_mistakes_are_wrong(mistake):
    assert not oracle_says_right(source(SOFTMAX_NAIVE, *PLANTED[mistake]), "softmax_loss_naive")


def test_a_wrong_transpose_is_a_shape_error_naming_both_shapes():
    code = source(SOFTMAX_VECTORIZED, *FORMS["half"]).replace("dW = X.T.dot(dscores) / N",
                                                               "dW = dscores.T.dot(X) / N")
    code = code.replace("+ reg * W", "+ reg * W.T")
    dW = by_target(check(code))["dW[1]"]
    assert dW.verdict.verdict == "shape_error"
    assert "3×5" in dW.verdict.message and "5×3" in dW.verdict.message


def test_a_loss_matching_no_catalogue_loss_is_wrong_and_names_the_nearest():
    code = source(SOFTMAX_VECTORIZED, *FORMS["half"]).replace("/ N + 0.5", "/ N * 2 + 0.5")
    out = check(code)
    loss = by_target(out)["loss"]
    assert loss.verdict.verdict == "not_equivalent"
    assert "matches no catalogue loss" in loss.verdict.message and "nearest" in loss.verdict.message


# -- the SVM (the catalogue's svm loss, when it is there) -----------------------------------------
needs_svm = pytest.mark.skipif("svm" not in {e.name for e in rules.losses().values()},
                               reason="the catalogue has no svm loss yet")
SVM_NET = Network(layers=[5, 3], activations=["linear"], loss="svm", convention="rows",
                  scale="dZ") if "svm" in {e.name for e in rules.losses().values()} else None


@needs_svm
def test_a_correct_naive_svm_is_correct():
    assert oracle_says_right(SVM_NAIVE, "svm_loss_naive")
    got = by_target(check(SVM_NAIVE, SVM_NET))
    assert got["dW[1]"].verdict.verdict == "correct" and got["loss"].verdict.correct


@needs_svm
def test_a_naive_svm_that_forgets_the_correct_class_column_is_wrong():
    code = SVM_NAIVE.replace("                dW[:, y[i]] -= X[i]\n", "")
    assert not oracle_says_right(code, "svm_loss_naive")
    assert by_target(check(code, SVM_NET))["dW[1]"].verdict.verdict == "not_equivalent"


# -- hostile code: refused with a clear problem, never a crash ------------------------------------
HOSTILE = {
    "while": ("def softmax_loss_naive(W, X, y, reg):\n    while True:\n        pass\n"
              "    return 0.0, W\n", "while loop"),
    "huge": ("def softmax_loss_naive(W, X, y, reg):\n    dW = np.zeros((10**9,))\n"
             "    loss = 0.0\n    return loss, dW\n", "code.elements"),
    "recursion": ("def softmax_loss_naive(W, X, y, reg):\n    loss, dW = softmax_loss_naive(W, X,"
                  " y, reg)\n    return loss, dW\n", "code.calls"),
    "dunder": ("def softmax_loss_naive(W, X, y, reg):\n    dW = W.__class__\n    loss = 0.0\n"
               "    return loss, dW\n", "__class__"),
    "import": ("def softmax_loss_naive(W, X, y, reg):\n    import os\n    loss = 0.0\n"
               "    dW = W\n    return loss, dW\n", "import"),
    "open": ("def softmax_loss_naive(W, X, y, reg):\n    dW = open('/etc/passwd')\n    loss = 0.0\n"
             "    return loss, dW\n", "open"),
    "many loops": ("def softmax_loss_naive(W, X, y, reg):\n    loss = 0.0\n"
                   "    for i in range(10**7):\n        loss += 1\n    dW = W\n"
                   "    return loss, dW\n", "code.statements"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_code_is_refused_with_a_clear_problem(case, no_python):
    code, word = HOSTILE[case]
    out = check(code)
    text = " ".join(out.problems) + " ".join(r.verdict.message for r in out.results)
    assert word in text, (out.problems, [r.verdict.message for r in out.results])
    assert not any(r.verdict.correct for r in out.results if r.target != "loss")


# -- uses_wrong: a gradient computed from a wrong one -------------------------------------------
PLANAR = '''
def backward_propagation(parameters, cache, X, Y):
    m = X.shape[1]
    W2 = parameters["W2"]
    A1 = cache["A1"]
    A2 = cache["A2"]
    dZ2 = A2 - Y
    dW2 = 1 / m * np.dot(dZ2, A1.T)
    db2 = 1 / m * np.sum(dZ2, axis=1, keepdims=True)
    dZ1 = np.dot(W2.T, dZ2) * (1 - A1)
    dW1 = 1 / m * np.dot(dZ1, X.T)
    db1 = 1 / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
'''


def test_a_gradient_using_a_wrong_one_keeps_its_verdict_and_names_the_wrong_one():
    net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    out = check_code(PLANAR, net)
    got = {r.name: r for r in out.results}
    assert got["dZ1"].verdict.verdict == "not_equivalent"
    dW1 = got["dW1"]
    assert dW1.verdict.verdict == "correct"
    assert dW1.uses_wrong == ({"name": "dZ1", "line": 10, "target": "dZ[1]"},)
    assert "correct given dZ[1]; the value returned is wrong because dZ1 (line 10) is" in \
        dW1.verdict.notes
    assert dW1.to_dict()["uses_wrong"] == [{"name": "dZ1", "line": 10, "target": "dZ[1]"}]
    assert not got["dW2"].uses_wrong and got["dW2"].verdict.correct
    assert out.verdict == "not_equivalent" and out.exit_code == 1


def test_with_the_wrong_line_fixed_nothing_is_used_wrong():
    net = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
    out = check_code(PLANAR.replace("(1 - A1)", "(1 - np.power(A1, 2))"), net)
    assert out.exit_code == 0 and not any(r.uses_wrong for r in out.results)


# -- the mistake of a value read numerically: one explanation that holds on every instance --------
NUMERIC_MISTAKES = [  # (what the student did, the code, the mistake code derive names)
    ("the L2 term's 2 missing", source(SOFTMAX_NAIVE, "reg * np.sum(W * W)", "reg * W"),
     "wrong_scale"),
    ("the L2 term missing", source(SOFTMAX_NAIVE, "0.5 * reg * np.sum(W * W)", "0"),
     "missing_l2_term"),
    ("no division by N", source(SOFTMAX_NAIVE, *FORMS["half"]).replace(
        "    dW /= num_train\n", "").replace("dW += reg * W", "dW += num_train * reg * W"),
     "missing_scale"),
    ("the whole gradient doubled after it was right", source(SOFTMAX_NAIVE, *FORMS["half"])
     .replace("    return loss, dW", "    dW *= 2\n    return loss, dW"), "wrong_scale"),
]


@pytest.mark.parametrize("what,code,mistake", NUMERIC_MISTAKES, ids=[w for w, _, _ in NUMERIC_MISTAKES])
def test_a_numerically_read_mistake_is_named(what, code, mistake, no_python):
    dW = by_target(check(code))["dW[1]"]
    assert dW.verdict.verdict == "not_equivalent", (what, dW.verdict.message)
    assert [mk.code for mk in dW.verdict.mistakes] == [mistake], (what, dW.verdict.mistakes)


@pytest.mark.parametrize("what,code", [(w, c) for w, c, _ in NUMERIC_MISTAKES],
                         ids=[w for w, _, _ in NUMERIC_MISTAKES])
def test_the_oracle_agrees_the_numeric_mistakes_are_wrong(what, code):
    assert not _oracle_right(code)  # the code's dW is not ∂loss/∂W of the right loss


def test_a_value_changed_after_a_right_line_is_not_called_right(no_python):
    # dW was right after `dW += reg * W`; `dW *= 2` makes it no quantity at all: the value the
    # function returns is wrong, and an earlier right line does not excuse it
    code = NUMERIC_MISTAKES[-1][1]
    dW = by_target(check(code))["dW[1]"]
    assert dW.verdict.verdict == "not_equivalent"
    assert "a factor 2 too many" in dW.verdict.mistakes[0].message


def _oracle_right(code: str) -> bool:
    """The code's dW against the loss it computes, differentiated by central differences."""
    return oracle_says_right(code, "softmax_loss_naive")
