"""Issue 14's inputs and checks, against oracles derive did not write: a consistent cache gives
what no cache gives and both equal autograd's gradients (tests/oracle.py); dX is autograd's
∂ℓ/∂X; the update step is W − α·dW by numpy; the files (.npz, boolean labels, two matrices on a
LaTeX line); a transposed student answer; no numpy warning on a student's impossible A[L]."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from derive.cli import main
from derive.network.model import forward, random_instance
from derive.network.spec import Network
from derive.numbers.files import read_file
from derive.numbers.inputs import Entry, to_matrix
from derive.numbers.latex import parse_latex
from derive.numbers.student import check_student
from derive.numbers.worked import worked_example
from tests import oracle

NETS = [Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce"),
        Network(layers=[3, 4, 3], activations=["relu", "softmax"], loss="ce", convention="rows")]


def named(inst):
    return {"X": inst.X, "Y": inst.Y, **{f"{b}{l}": v for (b, l), v in inst.params.items()}}


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.describe())
def test_a_consistent_cache_gives_autograds_gradients(net):
    inst = random_instance(net, seed=4, m=3)
    cache = forward(net, inst.params, inst.X)
    given = {f"{b}{l}": cache[b, l] for l in (1, 2) for b in ("Z", "A")}
    w = worked_example(net, {**named(inst), **given})
    plain = worked_example(net, named(inst))
    ref = oracle.param_gradients(net, {f"{b}{l}": v for (b, l), v in inst.params.items()},
                                 inst.X, inst.Y)
    for k, v in ref.items():
        assert np.allclose(w.value("d" + k), v, rtol=1e-9, atol=1e-12), k
        assert np.allclose(plain.value("d" + k), v, rtol=1e-9, atol=1e-12), k
    assert not any("differs" in n for n in w.notes)  # a consistent cache: no disagreement noted
    assert set(w.given_steps) == {"Z[1]", "A[1]", "Z[2]", "A[2]"}


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.describe())
def test_dX_is_autograds_input_gradient(net):
    inst = random_instance(net, seed=5, m=3)
    w = worked_example(net, named(inst))
    p = {f"{b}{l}": v for (b, l), v in inst.params.items()}
    m = 3
    # dX is the per-example gradient ∂ℓ/∂X (scale mean: m · ∂J/∂X), as dZ and dA are
    ref = oracle.intermediate_gradient(net, "A", 0, inst.X, p, inst.X, inst.Y) * m
    assert np.allclose(w.value("dX"), ref, rtol=1e-9, atol=1e-12)


def test_a_given_dA_replaces_the_computed_one():
    """dA[1] given: dZ[1] = dA[1] ⊙ g′(Z[1]) and dW[1] follow from it, by numpy here."""
    net = Network(layers=[2, 3, 1], activations=["tanh", "sigmoid"], loss="bce")
    inst = random_instance(net, seed=6, m=4)
    dA1 = np.arange(12.0).reshape(3, 4) / 10
    w = worked_example(net, {**named(inst), "dA1": dA1})
    Z1 = inst.params["W", 1] @ inst.X + inst.params["b", 1]
    dZ1 = dA1 * (1 - np.tanh(Z1) ** 2)
    assert np.allclose(w.value("dZ1"), dZ1, rtol=1e-12)
    assert np.allclose(w.value("dW1"), dZ1 @ inst.X.T / 4, rtol=1e-12)
    assert any("dA[1] was given and differs" in n for n in w.notes)


def test_update_step_and_its_student_check():
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    vals = {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2]], "b1": [[0.0]]}
    w = worked_example(net, vals, learning_rate=0.5)
    new = np.array([[0.1, 0.2]]) - 0.5 * w.value("dW1")
    assert np.allclose(w.value("W1_new"), new, rtol=1e-15)
    e = lambda name, v: Entry((name,), (("?", None),), to_matrix(v, name))  # noqa: E731
    r = check_student(w, [e("W1_new", [f"{new[0, 0]:.6f}", f"{new[0, 1]:.6f}"]),
                          e("b1_new", "0.3")])
    assert r.step("W1_new").status == "right" and r.step("b1_new").status == "wrong"


def test_a_transposed_answer_is_wrong_shape():
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    w = worked_example(net, {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2]], "b1": [[0.0]]})
    dW = w.value("dW1")
    column = Entry(("dW1",), (("dW", 1),), to_matrix([[f"{dW[0, 0]:.8g}"], [f"{dW[0, 1]:.8g}"]], "dW1"))
    flat = Entry(("dW1",), (("dW", 1),), to_matrix([f"{dW[0, 0]:.8g}", f"{dW[0, 1]:.8g}"], "dW1"))
    c = check_student(w, [column]).step("dW1")
    assert c.status == "wrong_shape" and "transposed" in c.message
    assert check_student(w, [flat]).step("dW1").status == "right"  # a flat list fits any vector


def test_no_numpy_warning_on_an_impossible_student_value(tmp_path, capsys):
    case = {"network": {"layers": [2, 1], "activations": ["sigmoid"], "loss": "bce"},
            "values": {"X": [[1.0], [2.0]], "Y": [[True]], "W1": [[0.1, 0.2]], "b1": [[0.0]]},
            "student": {"A1": "1.5", "J": "0.5", "dA1": "-3", "dZ1": "0.5"}}
    f = tmp_path / "s.json"
    f.write_text(json.dumps(case))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="warn"):
            assert main(["numbers", str(f)]) == 1
    out = capsys.readouterr()
    assert "Warning" not in out.err and out.err == ""
    assert "true/false read as 1/0" in out.out


def test_npz_and_layer_mode(tmp_path, capsys):
    np.random.seed(2)
    dA, A_prev, W, b, Z = (np.random.randn(*s) for s in ((1, 2), (3, 2), (1, 3), (1, 1), (1, 2)))
    f = tmp_path / "layer.npz"
    np.savez(f, A_prev=A_prev, W=W, b=b, Z=Z, dA=dA)
    assert main(["numbers", str(f), "--layer", "--act", "relu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    steps = {s["name"]: np.array(s["value"]) for s in out["steps"]}
    dZ = dA * (Z > 0)
    assert np.allclose(steps["dZ1"], dZ) and np.allclose(steps["dW1"], dZ @ A_prev.T / 2)
    assert np.allclose(steps["dA0"], W.T @ dZ)
    assert [s["name"] for s in out["steps"] if s["given"]] == ["Z1", "dA1"]
    assert read_file(f).values["W"].shape == (1, 3)


def test_latex_keeps_every_matrix_of_a_line():
    inp = parse_latex(r"$$X = \begin{bmatrix} 1 \\ 2 \end{bmatrix}, \quad y = 1$$"
                      "\n" r"$$W^{[1]} = \begin{bmatrix} 0,1 & 0,2 \end{bmatrix}, \quad "
                      r"b^{[1]} = \begin{bmatrix} 0,5 \end{bmatrix}$$")
    assert inp.values[("b", 1)].values().tolist() == [[0.5]]
    assert inp.values[("W", 1)].values().tolist() == [[0.1, 0.2]]


def _student(name, v):
    rows = np.atleast_2d(v)
    return Entry((name,), (("?", None),), to_matrix([[f"{x:.6g}" for x in r] for r in rows], name))


@pytest.mark.parametrize("mistake, code", [
    ("activation", "activation_instead_of_derivative"), ("no_m", "missing_scale"),
    ("sign", "sign_error"), ("no_derivative", "missing_derivative")])
def test_a_wrong_number_comes_with_its_likely_cause(mistake, code):
    """The student's numbers are made here by numpy with the mistake in them."""
    net = Network(layers=[2, 3, 1], activations=["tanh", "sigmoid"], loss="bce")
    inst = random_instance(net, seed=3, m=2)
    W1, b1, W2, b2 = (inst.params[k] for k in (("W", 1), ("b", 1), ("W", 2), ("b", 2)))
    X, Y = inst.X, inst.Y
    A1 = np.tanh(W1 @ X + b1)
    A2 = 1 / (1 + np.exp(-(W2 @ A1 + b2)))
    dZ2 = A2 - Y
    dZ1 = {"activation": W2.T @ dZ2 * A1, "no_derivative": W2.T @ dZ2}.get(
        mistake, W2.T @ dZ2 * (1 - A1 ** 2))
    dW1 = {"no_m": dZ1 @ X.T, "sign": -(dZ1 @ X.T) / 2}.get(mistake, dZ1 @ X.T / 2)
    w = worked_example(net, named(inst))
    r = check_student(w, [_student("dZ2", dZ2), _student("dZ1", dZ1), _student("dW1", dW1)])
    where = "dZ1" if mistake in ("activation", "no_derivative") else "dW1"
    c = r.step(where)
    assert c.status == "wrong" and c.mistake == code, (c.mistake, c.likely)
    assert c.likely.startswith(f"your {c.name} equals")


def test_dX_is_checkable_under_its_names():
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    w = worked_example(net, {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2]], "b1": [[0.0]]})
    dX = w.value("dX")  # = W1ᵀ dZ1, by numpy below
    a = 1 / (1 + np.exp(-0.5))
    assert np.allclose(dX, np.array([[0.1], [0.2]]) * (a - 1), rtol=1e-14)
    for name in ("dX", "dA0", "dA_prev"):
        e = Entry((name,), (("?", None),), to_matrix([f"{x:.6g}" for x in dX.ravel()], name))
        assert check_student(w, [e]).step("dX").status == "right", name


def test_learning_rate_by_the_cli(tmp_path, capsys):
    f = tmp_path / "n.json"
    f.write_text(json.dumps({"network": {"layers": [2, 1], "activations": ["sigmoid"], "loss": "bce"},
                             "values": {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2]],
                                        "b1": [[0.0]]}}))
    assert main(["numbers", str(f), "--learning-rate", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    steps = {s["name"]: np.array(s["value"]) for s in out["steps"]}
    assert np.allclose(steps["W1_new"], np.array([[0.1, 0.2]]) - 0.5 * steps["dW1"], rtol=1e-15)
    assert out["learning_rate"] == 0.5
    assert main(["numbers", str(f), "--lr", "0.5"]) == 0
    assert "Update (gradient descent, learning rate α = 0.5)" in capsys.readouterr().out


def test_cs231n_inputs_of_more_axes_are_reshaped():
    net = Network(layers=[6, 2], activations=["softmax"], loss="ce", convention="rows")
    np.random.seed(0)
    x, w, b = np.random.randn(4, 2, 3), np.random.randn(6, 2), np.random.randn(2)
    r = worked_example(net, X=x, Y=np.array([0, 1, 1, 0]), W1=w, b1=b)
    assert np.allclose(r.value("Z1"), x.reshape(4, 6) @ w + b, rtol=1e-14)
    assert any("(CS231n's reshape" in n for n in r.notes)


def test_a_compressed_npz_is_bounded_before_it_is_read(tmp_path, capsys):
    f = tmp_path / "bomb.npz"
    np.savez_compressed(f, X=np.zeros((3000, 3000)))  # 9,000,000 zeros in about 70 kB
    assert f.stat().st_size < 200_000
    assert main(["numbers", str(f), "--act", "relu", "--loss", "mse"]) == 2
    assert "numbers.entries" in capsys.readouterr().err
    g = tmp_path / "objects.npz"
    np.savez(g, X=np.array([{"a": 1}], dtype=object))
    assert main(["numbers", str(g), "--act", "relu", "--loss", "mse"]) == 2
    assert "not a numpy .npz archive of numeric arrays" in capsys.readouterr().err


def test_a_dropout_layer_needs_its_mask():
    from derive.errors import SpecError

    net = Network(layers=[2, 2, 1], activations=["relu", "sigmoid"], loss="bce", keep_prob=0.5)
    vals = {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2], [0.3, 0.4]], "b1": [[0.0], [0.0]],
            "W2": [[1.0, -1.0]], "b2": [[0.0]]}
    with pytest.raises(SpecError, match="no value for D1"):
        worked_example(net, vals)
    w = worked_example(net, {**vals, "D1": [[1], [0]]})
    G1 = np.maximum(np.array([[0.1, 0.2], [0.3, 0.4]]) @ np.array([[1.0], [2.0]]), 0)
    assert np.allclose(w.value("A1"), G1 * np.array([[1], [0]]) / 0.5, rtol=1e-15)  # by numpy


LAYER_ACTS = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "swish", "gelu",
              "softmax"]


@pytest.mark.parametrize("convention", ["columns", "rows"])
@pytest.mark.parametrize("act", LAYER_ACTS)
def test_one_layer_for_every_activation_against_autograd(act, convention):
    """layer_backward's dZ = ∂⟨dA, g(Z)⟩/∂Z and its dW, db, dA_prev = the gradients of
    ⟨dZ, affine(A_prev, W, b)⟩ (÷ m in columns, as the course's linear_backward; rows: CS231n's
    affine_backward, no 1/m), all by autograd on the oracle's own g."""
    from autograd import grad

    from derive.numbers.layer import layer_backward

    rng = np.random.default_rng(LAYER_ACTS.index(act))
    columns = convention == "columns"
    n_prev, n, m = 4, 3, 5
    A_prev = rng.normal(size=(n_prev, m) if columns else (m, n_prev))
    W = rng.normal(size=(n, n_prev) if columns else (n_prev, n))
    b = rng.normal(size=(n, 1) if columns else (n,))
    Z = rng.normal(size=(n, m) if columns else (m, n))  # a cache of its own, as the course's tests
    Z = np.where(np.abs(Z) < 0.05, 0.3, Z)  # off the kinks
    dA = rng.normal(size=Z.shape)
    g = oracle.activation(act, 1, columns)
    dZ = grad(lambda z: (g(z) * dA).sum())(Z)
    scale = 1 / m if columns else 1.0

    def affine(a, w, c):
        return (w @ a if columns else a @ w) + c

    dA_prev = grad(lambda a: (dZ * affine(a, W, b)).sum())(A_prev)
    dW = grad(lambda w: (dZ * affine(A_prev, w, b)).sum() * scale)(W)
    db = grad(lambda c: (dZ * affine(A_prev, W, c)).sum() * scale)(b)
    r = layer_backward(A_prev, W, b, dA=dA, Z=Z, activation=act, convention=convention)
    for name, want in (("dZ", dZ), ("dW", dW), ("db", db), ("dA_prev", dA_prev)):
        assert np.allclose(r[name], want, rtol=1e-9, atol=1e-12), name
        assert np.shape(r[name]) == np.shape(want), name


@pytest.mark.parametrize("sign, alpha, code", [(1, 0.5, "update_sign"),
                                               (-1, 1.0, "missing_learning_rate")])
def test_a_wrong_update_comes_with_its_likely_cause(sign, alpha, code):
    net = Network(layers=[2, 1], activations=["sigmoid"], loss="bce")
    vals = {"X": [[1.0], [2.0]], "Y": [[1]], "W1": [[0.1, 0.2]], "b1": [[0.0]]}
    w = worked_example(net, vals, learning_rate=0.5)
    wrong = np.array([[0.1, 0.2]]) + sign * alpha * w.value("dW1")  # made by numpy
    c = check_student(w, [_student("W1_new", wrong)]).step("W1_new")
    assert c.status == "wrong" and c.mistake == code, c.likely
