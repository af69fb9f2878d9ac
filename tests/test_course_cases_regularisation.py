"""The Deep Learning Specialization's "Regularization" assignment, reproduced through
``derive numbers`` (API and CLI): ``compute_cost_with_regularization``,
``backward_propagation_with_regularization`` (λ = 0.7), ``forward_propagation_with_dropout``
(keep_prob = 0.7) and ``backward_propagation_with_dropout`` (keep_prob = 0.8). The inputs are
regenerated here by seeded numpy calls written here (the course's draw order: X, then W1, b1, W2,
b2, W3, b3; masks from a fresh np.random.seed(1)); the caches by a forward pass written here in
numpy; the expected arrays are the course's published outputs as printed (8 decimals)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from derive.cli import main
from derive.network.spec import Network
from derive.numbers.student import check_student
from derive.numbers.worked import worked_example
from tests.test_course_cases import assert_printed

SIZES = ((2, 3), (3, 2), (1, 3))
ACTS = ["relu", "relu", "sigmoid"]
Y = np.array([[1, 1, 0, 1, 0]])


def seeded_params(with_x: bool):
    np.random.seed(1)
    X = np.random.randn(3, 5) if with_x else None
    params = {}
    for l, (rows, cols) in enumerate(SIZES, start=1):
        params[f"W{l}"], params[f"b{l}"] = np.random.randn(rows, cols), np.random.randn(rows, 1)
    return X, params


def course_forward(X, p, keep_prob=None):
    """LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, numpy written here; with
    ``keep_prob`` the masks of a fresh seed 1 (rand < keep_prob), A = A * D / keep_prob."""
    cache = {}
    A = X
    if keep_prob is not None:
        np.random.seed(1)
    for l in (1, 2, 3):
        Z = p[f"W{l}"] @ A + p[f"b{l}"]
        A = 1 / (1 + np.exp(-Z)) if l == 3 else np.maximum(0, Z)
        if keep_prob is not None and l < 3:
            D = np.random.rand(*A.shape) < keep_prob
            A = A * D / keep_prob
            cache[f"D{l}"] = D
        cache[f"Z{l}"], cache[f"A{l}"] = Z, A
    return cache


L2_EXPECTED = {
    "dZ3": "[[-0.59317598 -0.98370716  0.16722898 -0.89881889  0.40682402]]",
    "dW3": "[[-1.77691347 -0.11832879 -0.09397446]]",
    "db3": "[[-0.38032981]]",
    "dA2": """[[ 0.40761434  0.67597671 -0.11491519  0.6176438  -0.27955836]
 [ 0.50135568  0.83143484 -0.14134288  0.7596868  -0.34384996]
 [ 0.39816708  0.66030962 -0.11225181  0.6033287  -0.27307905]]""",
    "dZ2": """[[ 0.40761434  0.67597671 -0.11491519  0.6176438  -0.27955836]
 [ 0.          0.         -0.          0.         -0.        ]
 [ 0.          0.         -0.          0.         -0.        ]]""",
    "dW2": """[[ 0.79276486  0.85133918] [-0.0957219  -0.01720463] [-0.13100772 -0.03750433]]""",
    "db2": "[[0.26135226] [0.        ] [0.        ]]",
    "dA1": """[[ 0.2048239   0.33967447 -0.05774423  0.31036252 -0.14047649]
 [ 0.3672018   0.60895764 -0.10352203  0.5564081  -0.25184181]]""",
    "dZ1": """[[ 0.          0.33967447 -0.05774423  0.31036252 -0.        ]
 [ 0.          0.60895764 -0.10352203  0.5564081  -0.        ]]""",
    "dW1": """[[-0.25604646  0.12298827 -0.28297129] [-0.17706303  0.34536094 -0.4410571 ]]""",
    "db1": "[[0.11845855] [0.21236874]]",
}
L2_NET = Network(layers=[3, 2, 3, 1], activations=ACTS, loss="bce", l2=0.7)


def as_printed(arrays: dict) -> dict:
    """The course's cache is a literal: its forward pass printed to 8 decimals (its expected
    outputs were computed from those rounded values)."""
    return {k: np.round(v, 8) if v.dtype != bool else v for k, v in arrays.items()}


def test_backward_propagation_with_regularization_api():
    X, params = seeded_params(True)
    exact = worked_example(L2_NET, X=X, Y=Y, params=params)
    cache = as_printed(course_forward(X, params))
    w = worked_example(L2_NET, X=X, Y=Y, params=as_printed(params), cache=cache)
    for name in ("dW1", "dW2", "dW3"):  # from the exact pass too (dW does not see the rounding)
        assert_printed(exact.value(name), L2_EXPECTED[name], name)
    # the regenerated cache is the course's, as printed (its Z2 row 1 and A3)
    assert_printed(w.value("Z2")[0], "[[0.53035547  5.94892323  2.31780174  3.16005701  0.53035547]]")
    assert_printed(w.value("A3"), "[[0.40682402  0.01629284  0.16722898  0.10118111  0.40682402]]")
    for name, text in L2_EXPECTED.items():
        assert_printed(w.value(name), text, name)
    assert w.step("dW1").formula_text == "dW[1] = (1/m) dZ[1] Xᵀ + (0.7/m) W[1]"


def _file(tmp_path, values, student=None, name="case.json", **top):
    f = tmp_path / name
    data = {"network": {"layers": [3, 2, 3, 1], "activations": ACTS, "loss": "bce"},
            "values": {k: np.asarray(v).tolist() for k, v in values.items()}, **top}
    if student is not None:
        data["student"] = student
    f.write_text(json.dumps(data))
    return str(f)


def test_backward_propagation_with_regularization_cli_and_a_students_numbers(tmp_path, capsys):
    X, params = seeded_params(True)
    f = _file(tmp_path, {"X": X, "Y": Y, **as_printed(params), **as_printed(course_forward(X, params))})
    assert main(["numbers", f, "--l2", "0.7", "--json"]) == 0
    steps = {s["name"]: s["value"] for s in json.loads(capsys.readouterr().out)["steps"]}
    for name in ("dW1", "dW2", "dW3", "db1"):
        assert_printed(steps[name], L2_EXPECTED[name], name)
    # a student who forgot the (λ/m) W[1] term: wrong, and the likely cause names it
    w = worked_example(L2_NET, X=X, Y=Y, params=params)
    cache = course_forward(X, params)
    dZ1 = w.value("dZ1")
    no_term = dZ1 @ X.T / 5  # the course's dW1 without + (lambd / m) * W1, numpy written here
    right = {k: [[f"{v:.8f}" for v in row] for row in np.asarray(w.value(k))]
             for k in ("dW3", "dW2")}
    student = {**right, "dW1": [[f"{v:.8f}" for v in row] for row in no_term]}
    from derive.numbers.inputs import Entry, to_matrix
    entries = tuple(Entry((k,), ((k[:2], int(k[2])),), to_matrix(v, k), i + 1)
                    for i, (k, v) in enumerate(student.items()))
    report = check_student(w, entries, None)
    by = {r.name: r for r in report.steps}
    assert by["dW[3]"].status == by["dW[2]"].status == "right"
    assert by["dW[1]"].status == "wrong" and by["dW[1]"].mistake == "missing_l2_term"
    assert by["dW[1]"].likely == ("your dW[1] equals (1/m) dZ[1] Xᵀ: the L2 term (0.7/m) W[1] is "
                                  "left out")
    assert np.allclose(cache["A2"], w.value("A2"))


def test_compute_cost_with_regularization_api_and_cli(tmp_path, capsys):
    _, params = seeded_params(False)
    A3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
    net = L2_NET.replace(l2="0.1")
    w = worked_example(net, Y=Y, params=params, A3=A3)
    assert w.value("J").item() == pytest.approx(1.7864859451590758, abs=5e-16)
    f = _file(tmp_path, {"Y": Y, "A3": A3, **params})
    assert main(["numbers", f, "--l2", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    J = next(s for s in out["steps"] if s["name"] == "J")["value"]
    assert float(np.asarray(J, dtype=float).item()) == pytest.approx(1.7864859451590758, abs=5e-16)
    assert any("no X: the cost" in n for n in out["notes"])


def test_forward_propagation_with_dropout_masks_drawn_from_the_seed(tmp_path, capsys):
    X, params = seeded_params(True)
    net = Network(layers=[3, 2, 3, 1], activations=ACTS, loss="bce", keep_prob=0.7)
    mine = course_forward(X, params, keep_prob=0.7)
    w = worked_example(net, X=X, Y=Y, params=params, mask_seed=1)
    want = "[[0.36974721 0.00305176 0.04565099 0.49683389 0.36974721]]"
    assert_printed(w.value("A3"), want, "A3")
    assert (w.given["D", 1] == mine["D1"]).all() and (w.given["D", 2] == mine["D2"]).all()
    assert_printed(w.value("A1"), """[[0.         0.         3.05706487 3.72429505 0.        ]
 [0.         5.94299915 1.1293003  2.09276446 0.        ]]""", "A1")
    given = worked_example(net, X=X, Y=Y, params=params, D1=mine["D1"], D2=mine["D2"])
    assert np.array_equal(given.value("A3"), w.value("A3"))
    f = _file(tmp_path, {"X": X, "Y": Y, **params})
    assert main(["numbers", f, "--keep-prob", "0.7", "--mask-seed", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert_printed(next(s for s in out["steps"] if s["name"] == "A3")["value"], want, "A3 (CLI)")
    assert main(["numbers", f, "--keep-prob", "0.7"]) == 2
    assert "no value for D1" in capsys.readouterr().err


DROPOUT_EXPECTED = {
    "dZ3": "[[-0.67733606 -0.50316611  0.00348883 -0.50316611  0.32266394]]",
    "dW3": "[[-0.06951191  0.          0.        ]]",
    "db3": "[[-0.2715031]]",
    "dG2": """[[ 0.58180856  0.         -0.00299679  0.         -0.27715731]
 [ 0.          0.53159854 -0.          0.53159854 -0.34089673]
 [ 0.          0.         -0.00292733  0.         -0.        ]]""",
    "dZ2": """[[ 0.58180856  0.         -0.00299679  0.         -0.27715731]
 [ 0.          0.         -0.          0.         -0.        ]
 [ 0.          0.         -0.          0.         -0.        ]]""",
    "dW2": "[[-0.00256518 -0.0009476 ] [ 0.          0.        ] [ 0.          0.        ]]",
    "db2": "[[0.06033089] [0.        ] [0.        ]]",
    "dG1": """[[ 0.36544439  0.         -0.00188233  0.         -0.17408748]
 [ 0.65515713  0.         -0.00337459  0.         -0.        ]]""",
    "dZ1": """[[ 0.          0.         -0.00188233  0.         -0.        ]
 [ 0.          0.         -0.00337459  0.         -0.        ]]""",
    "dW1": "[[0.00019884 0.00028657 0.00012138] [0.00035647 0.00051375 0.00021761]]",
    "db1": "[[-0.00037647] [-0.00067492]]",
}


def dropout_backward_case():
    """The course's cache: a forward pass with keep_prob 0.5 (masks of a fresh seed 1); its
    backward test then runs with keep_prob 0.8, as published."""
    X, params = seeded_params(True)
    return X, as_printed(params), as_printed(course_forward(X, params, keep_prob=0.5))


def test_backward_propagation_with_dropout_api_and_cli(tmp_path, capsys):
    """The course's dA1 and dA2 are the gradients after the mask, dA[l] ⊙ D[l] / keep_prob:
    derive's dG[l] (G[l] = g(Z[l]) is the activation before the mask, A[l] = G[l] ⊙ D[l] / p)."""
    X, params, cache = dropout_backward_case()
    assert_printed(cache["A1"], """[[ 0.          0.          4.27989081  5.21401307  0.        ]
 [ 0.          8.32019881  1.58102041  2.92987024  0.        ]]""", "cache A1")
    assert_printed(cache["A3"], "[[ 0.32266394  0.49683389  0.00348883  0.49683389  0.32266394]]")
    net = Network(layers=[3, 2, 3, 1], activations=ACTS, loss="bce", keep_prob=0.8)
    w = worked_example(net, X=X, Y=Y, params=params, cache=cache)
    for name, text in DROPOUT_EXPECTED.items():
        assert_printed(w.value(name), text, name)
    assert any("disagree" in n or "differs" in n for n in w.notes)  # 0.5 in the cache, 0.8 here
    f = _file(tmp_path, {"X": X, "Y": Y, **params, **cache})
    assert main(["numbers", f, "--keep-prob", "0.8", "--json"]) == 0
    steps = {s["name"]: s["value"] for s in json.loads(capsys.readouterr().out)["steps"]}
    for name in ("dG1", "dG2", "dW1", "db1"):
        assert_printed(steps[name], DROPOUT_EXPECTED[name], name)


@pytest.mark.parametrize("planted, code", [("no_mask", "mask_not_applied"),
                                           ("undivided", "not_divided_by_keep_prob")])
def test_a_students_dropout_slip_is_named(planted, code):
    """The course's dA2 (derive's dG2) without `* D2`, or without `/ keep_prob` (numpy here)."""
    from derive.numbers.inputs import Entry, to_matrix

    X, params, cache = dropout_backward_case()
    net = Network(layers=[3, 2, 3, 1], activations=ACTS, loss="bce", keep_prob=0.8)
    w = worked_example(net, X=X, Y=Y, params=params, cache=cache)
    dA2 = params["W3"].T @ (cache["A3"] - Y)
    wrong = dA2 / 0.8 if planted == "no_mask" else dA2 * cache["D2"]
    rows = {"dZ3": w.value("dZ3"), "dG2": wrong}
    entries = tuple(Entry((k,), ((k[:2], int(k[2])),), to_matrix(
        [[f"{v:.8f}" for v in row] for row in np.asarray(v)], k), i + 1)
        for i, (k, v) in enumerate(rows.items()))
    by = {r.name: r for r in check_student(w, entries, None).steps}
    assert by["dZ[3]"].status == "right"
    assert by["dG[2]"].status == "wrong" and by["dG[2]"].mistake == code, by["dG[2]"].likely
