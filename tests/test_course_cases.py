"""The courses' own test cases, reproduced: the Deep Learning Specialization's backward tests
(``testCases_v4a.py`` of "Building your Deep Neural Network: Step by Step", ``testCases_v2.py``
of the planar network, the logistic-regression and gradient-checking assignments) and CS231n's
layer tests. The inputs are regenerated here by the same seeded numpy calls (written here, in the
order the course draws them); the expected arrays are the course notebooks' published outputs,
as printed (8 decimals), and every one must match to that precision."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from derive.network.spec import Network
from derive.numbers.gradcheck import gradcheck, gradcheck_impl
from derive.numbers.layer import layer_backward
from derive.numbers.worked import worked_example
from tests.course_impls import dls_deep, dls_gradcheck, dls_logistic


def printed(text: str) -> tuple[np.ndarray, float]:
    """A numpy array as the course printed it -> (values, half a unit of its last printed
    digit): numpy prints every entry to the same decimals and trims trailing zeros
    (``0.0135308``, ``0.``), so the array's most decimals are every entry's."""
    rows = [r for r in re.split(r"\]\s*\[", text.strip().strip("[]")) if r.strip()]
    vals = [[float(t) for t in r.replace("[", "").replace("]", "").split()] for r in rows]
    decimals = max(len(t.split(".")[1]) for t in re.findall(r"-?\d+\.\d*", text))
    return np.array(vals), 0.5 * 10.0 ** -decimals


def assert_printed(ours, text: str, name: str = "") -> None:
    want, tol = printed(text)
    ours = np.asarray(ours, dtype=float).reshape(want.shape)
    bad = np.abs(ours - want) > tol * (1 + 1e-9) + 1e-15
    assert not bad.any(), f"{name}: ours {ours[bad]} vs printed {want[bad]}"


def randn(*shape):
    return np.random.randn(*shape)


# -- Building your Deep Neural Network: Step by Step (testCases_v4a) -----------------------------
def test_linear_backward():
    np.random.seed(1)
    dZ, A_prev, W, b = randn(3, 4), randn(5, 4), randn(3, 5), randn(3, 1)
    r = layer_backward(A_prev, W, b, dZ=dZ, activation="linear")
    assert_printed(r["dA_prev"], """[[-1.15171336  0.06718465 -0.3204696   2.09812712]
 [ 0.60345879 -3.72508701  5.81700741 -3.84326836]
 [-0.4319552  -1.30987417  1.72354705  0.05070578]
 [-0.38981415  0.60811244 -1.25938424  1.47191593]
 [-2.52214926  2.67882552 -0.67947465  1.48119548]]""", "dA_prev")
    assert_printed(r["dW"], """[[ 0.07313866 -0.0976715  -0.87585828  0.73763362  0.00785716]
 [ 0.85508818  0.37530413 -0.59912655  0.71278189 -0.58931808]
 [ 0.97913304 -0.24376494 -0.08839671  0.55151192 -0.10290907]]""", "dW")
    assert_printed(r["db"], "[[-0.14713786] [-0.11313155] [-0.13209101]]", "db")


LINEAR_ACTIVATION = {
    "sigmoid": ("""[[ 0.11017994  0.01105339] [ 0.09466817  0.00949723] [-0.05743092 -0.00576154]]""",
                "[[ 0.10266786  0.09778551 -0.01968084]]", "[[-0.05729622]]"),
    "relu": ("""[[ 0.44090989 -0.        ] [ 0.37883606 -0.        ] [-0.2298228   0.        ]]""",
             "[[ 0.44513824  0.37371418 -0.10478989]]", "[[-0.20837892]]"),
}


@pytest.mark.parametrize("activation", sorted(LINEAR_ACTIVATION))
def test_linear_activation_backward(activation):
    np.random.seed(2)
    dA, A_prev, W, b, Z = randn(1, 2), randn(3, 2), randn(1, 3), randn(1, 1), randn(1, 2)
    r = layer_backward(A_prev, W, b, dA=dA, Z=Z, activation=activation)
    for name, text in zip(("dA_prev", "dW", "db"), LINEAR_ACTIVATION[activation], strict=True):
        assert_printed(r[name], text, f"{activation} {name}")


def l_model_backward_case():
    np.random.seed(3)
    AL = randn(1, 2)
    Y = np.array([[1, 0]])
    caches = []
    for rows, cols in ((3, 4), (1, 3)):
        A_prev, W, b, Z = randn(cols, 2), randn(rows, cols), randn(rows, 1), randn(rows, 2)
        caches.append(((A_prev, W, b), Z))
    return AL, Y, caches


def test_l_model_backward():
    AL, Y, caches = l_model_backward_case()
    net = Network(layers=[4, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    w = worked_example(net, Y=Y, cache=caches, AL=AL)
    assert_printed(w.value("dW1"), """[[0.41010002 0.07807203 0.13798444 0.10502167]
 [0.         0.         0.         0.        ]
 [0.05283652 0.01005865 0.01777766 0.0135308 ]]""", "dW1")
    assert_printed(w.value("db1"), "[[-0.22007063] [ 0.        ] [-0.02835349]]", "db1")
    assert_printed(w.value("dA1"), """[[ 0.12913162 -0.44014127]
 [-0.14175655  0.48317296]
 [ 0.01663708 -0.05670698]]""", "dA1")
    assert set(w.given_steps) == {"Z[1]", "A[1]", "Z[2]", "A[2]"}
    assert any("differs from W[1] X + b[1]" in n for n in w.notes)  # a note, not an error


def test_update_parameters():
    np.random.seed(2)
    params = {"W1": randn(3, 4), "b1": randn(3, 1), "W2": randn(1, 3), "b2": randn(1, 1)}
    np.random.seed(3)
    grads = {"dW1": randn(3, 4), "db1": randn(3, 1), "dW2": randn(1, 3), "db2": randn(1, 1)}
    net = Network(layers=[4, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    w = worked_example(net, params=params, learning_rate=0.1, **grads)
    assert_printed(w.value("W1_new"), """[[-0.59562069 -0.09991781 -2.14584584  1.82662008]
 [-1.76569676 -0.80627147  0.51115557 -1.18258802]
 [-1.0535704  -0.86128581  0.68284052  2.20374577]]""", "W1")
    assert_printed(w.value("b1_new"), "[[-0.04659241] [-1.28888275] [ 0.53405496]]", "b1")
    assert_printed(w.value("W2_new"), "[[-0.55569196  0.0354055   1.32964895]]", "W2")
    assert_printed(w.value("b2_new"), "[[-0.84610769]]", "b2")
    assert dls_deep.update_parameters(dict(params), grads, 0.1)["W1"] == pytest.approx(w.value("W1_new"))


# -- Logistic Regression as a Neural Network ----------------------------------------------------
LR = dict(w=np.array([[1.], [2.]]), b=2., X=np.array([[1., 2., -1.], [3., 4., -3.2]]),
          Y=np.array([[1, 0, 1]]))


def test_logistic_regression_propagate():
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    w = worked_example(net, X=LR["X"], Y=LR["Y"], params={"W1": LR["w"].T, "b1": LR["b"]})
    assert_printed(w.value("dW1").T, "[[0.99845601] [2.39507239]]", "dw")
    assert w.value("db1").item() == pytest.approx(0.001455578136784208, abs=5e-19)
    assert w.value("J").item() == pytest.approx(5.801545319394553, abs=5e-16)


@pytest.mark.parametrize("fn, passed", [(dls_logistic.propagate, True),
                                        (dls_logistic.propagate_forgets_m, False)])
def test_logistic_regression_propagate_gradcheck(fn, passed):
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    r = gradcheck_impl(net, fn, X=LR["X"], Y=LR["Y"], params={"W1": LR["w"].T, "b1": LR["b"]})
    assert r.passed is passed
    assert any("propagate(w, b, X, Y)" in n for n in r.notes)
    if not passed:
        assert r.failed == ("W[1]",)


def test_logistic_regression_optimize():
    """optimize(w, b, X, Y, num_iterations=100, learning_rate=0.009): the update step chained 100
    times; the notebook prints w, b after the last update and the gradients before it."""
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    params = {"W1": LR["w"].T, "b1": LR["b"]}
    for _ in range(100):
        w = worked_example(net, X=LR["X"], Y=LR["Y"], params=params, learning_rate=0.009)
        params = {"W1": w.value("W1_new"), "b1": w.value("b1_new")}
    assert_printed(params["W1"].T, "[[0.19033591] [0.12259159]]", "w")
    assert params["b1"].item() == pytest.approx(1.9253598300845747, abs=1e-15)
    assert_printed(w.value("dW1").T, "[[0.67752042] [1.41625495]]", "dw")
    assert w.value("db1").item() == pytest.approx(0.21919450454067654, abs=1e-15)


# -- Planar data classification with one hidden layer (testCases_v2) ----------------------------
PLANAR_PARAMS = {
    "W1": [[-0.00416758, -0.00056267], [-0.02136196, 0.01640271], [-0.01793436, -0.00841747],
           [0.00502881, -0.01245288]],
    "W2": [[-0.01057952, -0.00909008, 0.00551454, 0.02292208]], "b1": [[0.]] * 4, "b2": [[0.]]}
PLANAR_CACHE = {
    "A1": [[-0.00616578, 0.0020626, 0.00349619], [-0.05225116, 0.02725659, -0.02646251],
           [-0.02009721, 0.0036869, 0.02883756], [0.02152675, -0.01385234, 0.02599885]],
    "A2": [[0.5002307, 0.49985831, 0.50023963]],
    "Z1": [[-0.00616586, 0.0020626, 0.0034962], [-0.05229879, 0.02726335, -0.02646869],
           [-0.02009991, 0.00368692, 0.02884556], [0.02153007, -0.01385322, 0.02600471]],
    "Z2": [[0.00092281, -0.00056678, 0.00095853]]}


def test_planar_backward_propagation():
    np.random.seed(1)
    X = randn(2, 3)
    Y = randn(1, 3) > 0  # boolean labels, as the course draws them
    net = Network(layers=[2, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
    w = worked_example(net, X=X, Y=Y, params=PLANAR_PARAMS, cache=PLANAR_CACHE)
    assert_printed(w.value("dW1"), """[[ 0.00301023 -0.00747267]
 [ 0.00257968 -0.00641288]
 [-0.00156892  0.003893  ]
 [-0.00652037  0.01618243]]""", "dW1")
    assert_printed(w.value("db1"), "[[ 0.00176201] [ 0.00150995] [-0.00091736] [-0.00381422]]", "db1")
    assert_printed(w.value("dW2"), "[[ 0.00078841  0.01765429 -0.00084166 -0.01022527]]", "dW2")
    assert_printed(w.value("db2"), "[[-0.16655712]]", "db2")
    assert any("booleans" in n for n in w.notes)


# -- Gradient Checking (testCases: gradient_check_n_test_case) ----------------------------------
def gradient_check_case():
    np.random.seed(1)
    x, y = randn(4, 3), np.array([1, 1, 0])
    params = {}
    for l, (rows, cols) in enumerate(((5, 4), (3, 5), (1, 3)), start=1):
        params[f"W{l}"], params[f"b{l}"] = randn(rows, cols), randn(rows, 1)
    return x, y, params


def test_gradient_checking_assignment():
    x, y, params = gradient_check_case()
    net = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")
    assert gradcheck_impl(net, dls_gradcheck.backward, X=x, Y=y, params=params).passed
    planted = gradcheck_impl(net, dls_gradcheck.backward_planted, X=x, Y=y, params=params)
    assert planted.failed == ("b[1]", "W[2]")  # the assignment's two planted mistakes, named
    assert gradcheck(net, X=x, Y=y, params=params).passed  # the derived formulas, same values


# -- Regularization: tests/test_course_cases_regularisation.py ---------------------------------


def test_the_courses_own_answers_check_right(tmp_path, capsys):
    """The issue's first complaint: a student check of a backward test's correct numbers said
    "new slip". Now the cache is given in the file, and the course's printed answers are right."""
    from derive.cli import main

    AL, Y, caches = l_model_backward_case()
    values = {"Y": Y.tolist(), "AL": AL.tolist()}
    for l, ((A_prev, W, b), Z) in enumerate(caches, start=1):
        values.update({"X" if l == 1 else f"A{l - 1}": A_prev.tolist(), f"W{l}": W.tolist(),
                       f"b{l}": b.tolist(), f"Z{l}": Z.tolist()})
    student = {"dW1": [["0.41010002", "0.07807203", "0.13798444", "0.10502167"], ["0"] * 4,
                       ["0.05283652", "0.01005865", "0.01777766", "0.0135308"]],
               "db1": [["-0.22007063"], ["0."], ["-0.02835349"]],
               "dA1": [["0.12913162", "-0.44014127"], ["-0.14175655", "0.48317296"],
                       ["0.01663708", "-0.05670698"]]}
    f = tmp_path / "l_model_backward.json"
    f.write_text(json.dumps({"network": {"layers": [4, 3, 1], "activations": ["relu", "sigmoid"],
                                         "loss": "bce"}, "values": values, "student": student}))
    assert main(["numbers", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    status = {s["name"]: s["status"] for s in out["steps"]}
    assert status["dW1"] == status["db1"] == status["dA1"] == "right"
    assert status["Z1"] == status["A2"] == "given" and out["all_right"]


# -- the newer planar assignment (public_tests.py): a random cache, g′ taken from A --------------
def test_planar_backward_propagation_public_test():
    np.random.seed(1)
    X = randn(3, 7)
    Y = randn(1, 7) > 0
    params = {"W1": randn(9, 3), "W2": randn(1, 9), "b1": np.zeros((9, 1)), "b2": np.zeros((1, 1))}
    cache = {"A1": randn(9, 7), "A2": randn(1, 7), "Z1": randn(9, 7), "Z2": randn(1, 7)}
    net = Network(layers=[3, 9, 1], activations=["tanh", "sigmoid"], loss="bce")
    w = worked_example(net, X=X, Y=Y, params=params, cache=cache, derivative_from="A")
    assert_printed(w.value("dW1"), """[[-0.24468458, -0.24371232,  0.15959609],
                        [ 0.7370069 , -0.64785999,  0.23669823],
                        [ 0.47936123, -0.01516428,  0.01566728],
                        [ 0.03361075, -0.0930929 ,  0.05581073],
                        [ 0.52445178, -0.03895358,  0.09180612],
                        [-0.17043596,  0.13406378, -0.20952062],
                        [ 0.76144791, -0.41766018,  0.02544078],
                        [ 0.22164791, -0.33081645,  0.19526915],
                        [ 0.25619969, -0.09561825,  0.05679075]]""".replace(",", ""), "dW1")
    assert_printed(w.value("db1"), """[[ 0.1463639 ] [-0.33647992] [-0.51738006] [-0.07780329]
        [-0.57889514] [ 0.28357278] [-0.39756864] [-0.10510329] [-0.13443244]]""", "db1")
    assert_printed(w.value("dW2"), """[[-0.35768529  0.22046323 -0.29551566 -0.12202786  0.18809552
        0.13700323  0.35892872 -0.02220353 -0.03976687]]""", "dW2")
    assert_printed(w.value("db2"), "[[-0.78032466]]", "db2")
    assert w.step("dZ1").formula_text == "dZ[1] = W[2]ᵀ dZ[2] ⊙ (1 − A[1]²)"  # the course's own
    z_form = worked_example(net, X=X, Y=Y, params=params, cache=cache)  # g′ from Z: other numbers
    assert not np.allclose(z_form.value("dW1"), w.value("dW1"))


def test_planar_update_parameters_public_test():
    params = {"W1": [[-0.00615039, 0.0169021], [-0.02311792, 0.03137121], [-0.0169217, -0.01752545],
                     [0.00935436, -0.05018221]],
              "W2": [[-0.0104319, -0.04019007, 0.01607211, 0.04440255]],
              "b1": [[-8.97523455e-07], [8.15562092e-06], [6.04810633e-07], [-2.54560700e-06]],
              "b2": [[9.14954378e-05]]}
    grads = {"dW1": [[0.00023322, -0.00205423], [0.00082222, -0.00700776], [-0.00031831, 0.0028636],
                     [-0.00092857, 0.00809933]],
             "dW2": [[-1.75740039e-05, 3.70231337e-03, -1.25683095e-03, -2.55715317e-03]],
             "db1": [[1.05570087e-07], [-3.81814487e-06], [-1.90155145e-07], [5.46467802e-07]],
             "db2": [[-1.08923140e-05]]}
    net = Network(layers=[2, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
    w = worked_example(net, params=params, learning_rate=1.2, **grads)  # the course's default rate
    assert_printed(w.value("W1_new"), """[[-0.00643025  0.01936718] [-0.02410458  0.03978052]
        [-0.01653973 -0.02096177] [ 0.01046864 -0.05990141]]""", "W1")
    assert_printed(w.value("W2_new"), "[[-0.01041081 -0.04463285  0.01758031  0.04747113]]", "W2")
    assert_printed(w.value("b2_new"), "[[0.00010457]]", "b2")
    b1 = w.value("b1_new").ravel()
    want = [-1.02420756e-06, 1.27373948e-05, 8.32996807e-07, -3.20136836e-06]
    assert np.allclose(b1, want, rtol=5e-9, atol=0)  # printed to 9 significant digits


@pytest.mark.parametrize("seed_draw, A, expected", [
    # the deep network's compute_cost_test_case: Y = [[1, 1, 0]], aL = [[.8, .9, .4]]
    (None, [[0.8, 0.9, 0.4]], 0.2797765635793422),
    # the planar network's (testCases_v2 and public_tests): Y = randn(1, 3) > 0 after seed 1
    ((1, 3), [[0.5002307, 0.49985831, 0.50023963]], 0.6930587610394646),
    # the newer planar public test: Y = randn(1, 5) > 0 after seed 1
    ((1, 5), [[0.5002307, 0.49985831, 0.50023963, 0.25, 0.7]], 0.5447066599017815),
])
def test_compute_cost(seed_draw, A, expected):
    if seed_draw is None:
        Y = np.array([[1, 1, 0]])
    else:
        np.random.seed(1)
        Y = randn(*seed_draw) > 0
    m = len(A[0])
    net = Network(layers=[1, 1], activations=["sigmoid"], loss="bce")
    w = worked_example(net, X=np.zeros((1, m)), Y=Y, W1=[[0.0]], b1=[[0.0]], A1=np.array(A))
    assert w.value("J").item() == pytest.approx(expected, abs=5e-16)
