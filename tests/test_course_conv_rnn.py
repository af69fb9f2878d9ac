"""The course's published outputs for conv/pool and RNN (tests/data/course_conv_rnn.json, each value
with its repository, path, commit and notebook cell), reproduced from the seeded inputs regenerated
here (np.random.seed(1), then the notebook's draws in its order) by two witnesses: derive's numbers
(derive.conv.numbers, derive.rnn.numbers: evaluated from the derived formulas) and the independent
autograd oracle (tests/oracle_conv.py, tests/oracle_rnn.py).

"To the printed digits": each printed number is matched within half a unit of its last printed
digit; a number printed with all its digits (repr, 16-17 significant digits) within 1e-12 relative,
since summing in another order moves the last digit or two of a float64."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests import oracle_conv, oracle_rnn

DATA = json.loads((Path(__file__).parent / "data" / "course_conv_rnn.json").read_text("utf-8"))
CASES = {case["id"]: case for case in DATA["cases"]}
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?")


def printed_values(text: str) -> list[tuple[float, float]]:
    """(value, tolerance) of each number as printed."""
    out = []
    for token in NUMBER.findall(text):
        value = float(token)
        mantissa = token.split("e")[0]
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        digits = len(mantissa.replace("-", "").replace(".", "").lstrip("0"))
        tol = 1e-12 * abs(value) if digits >= 15 else 0.5 * 10.0**-decimals
        out.append((value, tol * (1 + 1e-9) + 1e-15))
    return out


def assert_printed(actual, text: str, what: str) -> None:
    values = np.ravel(np.asarray(actual, dtype=float))
    expected = printed_values(text)
    assert values.size == len(expected), f"{what}: {values.size} numbers, printed {len(expected)}"
    for k, (got, (want, tol)) in enumerate(zip(values, expected, strict=True)):
        assert abs(got - want) <= tol, f"{what}[{k}]: {got!r}, printed {want!r} (±{tol:.1e})"


def drawn(case) -> dict[str, np.ndarray]:
    np.random.seed(case["seed"])
    return {name: np.random.randn(*shape) for name, shape in case["draws"]}


def rnn_parameters(v):
    return {k: v[k] for k in ("Wax", "Waa", "Wya", "ba", "by")}


class DeriveWitness:
    """derive's numbers, each function imported when first asked for (conv and RNN apart)."""

    def __getattr__(self, name):
        import importlib

        package = "derive.rnn.numbers" if name.startswith("rnn") else "derive.conv.numbers"
        return getattr(importlib.import_module(package), name)


def oracle_witness():
    return SimpleNamespace(
        conv_forward=oracle_conv.conv_forward,
        conv_backward=oracle_conv.conv_gradients,
        pool_forward=oracle_conv.pool_forward,
        pool_backward=oracle_conv.pool_gradients,
        rnn_cell_forward=oracle_rnn.rnn_cell_forward,
        rnn_cell_backward=oracle_rnn.rnn_cell_gradients,
        rnn_forward=oracle_rnn.rnn_forward,
        rnn_backward=oracle_rnn.rnn_backward_gradients,
    )


@pytest.fixture(params=["derive", "oracle"])
def witness(request):
    return DeriveWitness() if request.param == "derive" else oracle_witness()


def test_conv_forward(witness):
    case = CASES["conv_forward"]
    v, hp = drawn(case), case["hparameters"]
    Z = witness.conv_forward(v["A_prev"], v["W"], v["b"], stride=hp["stride"], pad=hp["pad"])
    assert Z.shape == (2, 3, 4, 8)
    assert_printed(np.mean(Z), case["expected"]["mean(Z)"], "mean(Z)")
    assert_printed(Z[0, 2, 1], case["expected"]["Z[0,2,1]"], "Z[0,2,1]")


@pytest.mark.parametrize("case_id", ["pool_forward_stride1", "pool_forward_stride2"])
def test_pool_forward(witness, case_id):
    case = CASES[case_id]
    v, hp = drawn(case), case["hparameters"]
    for key, text in case["expected"].items():
        mode, index = key.split(":")
        A = witness.pool_forward(v["A_prev"], f=hp["f"], stride=hp["stride"], mode=mode)
        where = tuple(int(k) for k in re.findall(r"\d+", index))  # 'A[1,1]' -> (1, 1)
        assert_printed(A[where], text, key)


def test_conv_backward(witness):
    case = CASES["conv_backward"]
    v, hp = drawn(case), case["hparameters"]
    s, p = hp["stride"], hp["pad"]
    Z = witness.conv_forward(v["A_prev"], v["W"], v["b"], stride=s, pad=p)
    dA, dW, db = witness.conv_backward(Z, v["A_prev"], v["W"], v["b"], stride=s, pad=p)
    got = {"dA": dA, "dW": dW, "db": db}
    for name, shape in case["shapes"].items():
        assert got[name].shape == tuple(shape), name
    for key, text in case["expected"].items():
        assert_printed(np.mean(got[key[5:-1]]), text, key)
    for extra in case["source"]["also"]:  # the older notebook's table, to its 11 digits
        for key, text in extra.get("values", {}).items():
            assert_printed(np.mean(got[key[5:-1]]), text, key)


def test_pool_backward(witness):
    case = CASES["pool_backward"]
    v, hp = drawn(case), case["hparameters"]
    assert v["dA"].shape == (5, 4, 2, 2)
    assert_printed(np.mean(v["dA"]), case["expected"]["mean(dA)"], "mean(dA)")
    others = [x.get("values", {}) for x in case["source"]["also"]]
    for mode in ("max", "average"):
        dA_prev = witness.pool_backward(v["dA"], v["A_prev"], f=hp["f"], stride=hp["stride"], mode=mode)
        assert dA_prev.shape == (5, 5, 3, 2)
        assert_printed(dA_prev[1, 1], case["expected"][f"{mode}:dA_prev[1,1]"], mode)
        for values in others:  # another repository's printed output, where it has one
            if f"{mode}:dA_prev[1,1]" in values:
                assert_printed(dA_prev[1, 1], values[f"{mode}:dA_prev[1,1]"], mode)


def test_create_mask_from_window(witness):
    """The course's mask: max pooling's backward of dA = 1 over a single 3×3 window."""
    case = CASES["create_mask_from_window"]
    x = np.asarray(case["x"], dtype=float).reshape(1, 3, 3, 1)
    mask = witness.pool_backward(np.ones((1, 1, 1, 1)), x, f=3, stride=1, mode="max")
    assert (mask[0, :, :, 0] == np.asarray(case["expected"]["mask"], dtype=float)).all()


def test_distribute_value(witness):
    """The course's distribute_value(2, (2, 2)): average pooling's backward of dA = 2."""
    case = CASES["distribute_value"]
    n = case["shape"][0]
    dA = np.full((1, 1, 1, 1), float(case["dz"]))
    spread = witness.pool_backward(dA, np.zeros((1, n, n, 1)), f=n, stride=1, mode="average")
    assert_printed(spread[0, :, :, 0], case["expected"]["a"], "a")


def test_rnn_cell_forward(witness):
    case = CASES["rnn_cell_forward"]
    v = drawn(case)
    a_next, yt_pred = witness.rnn_cell_forward(v["xt"], v["a_prev"], rnn_parameters(v))[:2]
    assert a_next.shape == (5, 10) and yt_pred.shape == (2, 10)
    assert_printed(a_next[4], case["expected"]["a_next[4]"], "a_next[4]")
    assert_printed(yt_pred[1], case["expected"]["yt_pred[1]"], "yt_pred[1]")


def test_rnn_forward(witness):
    case = CASES["rnn_forward"]
    v = drawn(case)
    a, y_pred = witness.rnn_forward(v["x"], v["a0"], rnn_parameters(v))[:2]
    assert a.shape == (5, 10, 4) and y_pred.shape == (2, 10, 4)
    assert_printed(a[4][1], case["expected"]["a[4][1]"], "a[4][1]")
    assert_printed(y_pred[1][3], case["expected"]["y_pred[1][3]"], "y_pred[1][3]")


def entry(grads, key):
    """'dWax[3][1]' → grads['dWax'][3][1]."""
    name, *indices = re.split(r"\]?\[", key.rstrip("]"))
    value = grads[name]
    for index in indices:
        value = value[int(index)]
    return value


def test_rnn_cell_backward(witness):
    case = CASES["rnn_cell_backward"]
    v = drawn(case)
    grads = witness.rnn_cell_backward(v["da_next"], v["xt"], v["a_prev"], rnn_parameters(v))
    for name, shape in case["shapes"].items():
        assert np.shape(grads[name]) == tuple(shape), name
    for key, text in case["expected"].items():
        assert_printed(entry(grads, key), text, key)


def test_rnn_backward(witness):
    case = CASES["rnn_backward"]
    v = drawn(case)
    grads = witness.rnn_backward(v["da"], v["x"], v["a0"], rnn_parameters(v))
    for name, shape in case["shapes"].items():
        assert np.shape(grads[name]) == tuple(shape), name
    for key, text in case["expected"].items():
        assert_printed(entry(grads, key), text, key)


def test_printed_digits_are_a_real_bound():
    """The comparison fails on a value off by one unit of the last printed digit."""
    with pytest.raises(AssertionError):
        assert_printed(-0.152399493775, "-0.152399493774", "x")
    with pytest.raises(AssertionError):
        assert_printed(1.4524377775488075, "1.4524377775388075", "x")
    assert_printed([0.5, 0.5], "[[0.5 0.5]]", "x")


def test_every_case_cites_its_source():
    for case in DATA["cases"]:
        source = case["source"]
        for where in [source, *source.get("also", [])]:
            assert re.fullmatch(r"[0-9a-f]{40}", where.get("commit", source["commit"])), case["id"]
            assert where.get("repo", source["repo"]) and where["path"].endswith(".ipynb")
            assert where["cell"] >= 0
