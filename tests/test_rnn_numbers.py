"""derive.rnn.numbers (evaluated from the derived formulas) against the independent autograd
oracle (tests/oracle_rnn.py), T = 1..6, and its errors on wrong shapes."""

from __future__ import annotations

import numpy as np
import pytest

from derive.errors import ShapeMismatch, SpecError
from derive.rnn import numbers as N
from derive.rnn.spec import RNN
from derive.rnn.worked import worked, worked_json
from tests import oracle_rnn as O


def _instance(T, nx=3, na=5, ny=2, m=4, seed=0):
    rng = np.random.default_rng(seed)
    p = {"Wax": rng.standard_normal((na, nx)), "Waa": rng.standard_normal((na, na)) * 0.6,
         "Wya": rng.standard_normal((ny, na)), "ba": rng.standard_normal((na, 1)),
         "by": rng.standard_normal((ny, 1))}
    x, a0 = rng.standard_normal((nx, m, T)), rng.standard_normal((na, m))
    Y = np.eye(ny)[rng.integers(0, ny, (m, T))].transpose(2, 0, 1)
    return p, x, a0, Y, rng


@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 6])
def test_whole_loss_gradients_agree_with_autograd(T):
    p, x, a0, Y, _ = _instance(T, seed=T)
    ours, theirs = N.rnn_gradients(x, a0, p, Y), O.rnn_gradients(x, a0, p, Y)
    assert set(ours) == {"dWax", "dWaa", "dWya", "dba", "dby", "dx", "da0"}
    for k, v in ours.items():
        np.testing.assert_allclose(v, theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert N.cost(x, a0, p, Y) == pytest.approx(theirs["J"], rel=1e-12)


@pytest.mark.parametrize("T", [1, 3, 6])
def test_rnn_backward_with_upstream_da_agrees_with_autograd(T):
    p, x, a0, _, rng = _instance(T, nx=4, na=3, ny=3, m=2, seed=10 + T)
    da = rng.standard_normal((3, 2, T))
    ours, theirs = N.rnn_backward(da, x, a0, p), O.rnn_backward_gradients(da, x, a0, p)
    assert list(ours) == ["dx", "da0", "dWax", "dWaa", "dba"]
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_cell_forward_backward_and_rnn_forward_agree_with_autograd():
    p, x, a0, _, rng = _instance(3, seed=7)
    a_next, yt = N.rnn_cell_forward(x[:, :, 0], a0, p)
    a2, y2 = O.rnn_cell_forward(x[:, :, 0], a0, p)
    np.testing.assert_allclose(a_next, a2, rtol=1e-13)
    np.testing.assert_allclose(yt, y2, rtol=1e-13)
    da_next = rng.standard_normal(a_next.shape)
    ours = N.rnn_cell_backward(da_next, x[:, :, 0], a0, p)
    theirs = O.rnn_cell_gradients(da_next, x[:, :, 0], a0, p)
    assert list(ours) == ["dxt", "da_prev", "dWax", "dWaa", "dba"]
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-13, err_msg=k)
    a, y = N.rnn_forward(x, a0, p)
    a3, y3 = O.rnn_forward(x, a0, p)
    np.testing.assert_allclose(a, a3, rtol=1e-13)
    np.testing.assert_allclose(y, y3, rtol=1e-13)


def test_wrong_shapes_are_named():
    p, x, a0, _, _ = _instance(2)
    with pytest.raises(ShapeMismatch, match="Waa"):
        N.rnn_forward(x, a0, {**p, "Waa": np.ones((5, 4))})
    with pytest.raises(SpecError, match="lacks by"):
        N.rnn_forward(x, a0, {k: v for k, v in p.items() if k != "by"})
    with pytest.raises(ShapeMismatch, match="examples"):
        N.rnn_forward(x, a0[:, :2], p)
    with pytest.raises(SpecError, match="x must have 3 axes"):
        N.rnn_forward(x[:, :, 0], a0, p)
    with pytest.raises(ShapeMismatch, match="da needs a's shape"):
        N.rnn_backward(np.ones((5, 4, 3)), x, a0, p)


def test_worked_example_values_are_the_oracles():
    w = worked(RNN(2, 3, 2, 3, examples=2), seed=4)
    inst = w.inputs
    theirs = O.rnn_gradients(inst["x"], inst["a0"], inst["parameters"], inst["Y"])
    results = worked_json(w)["results"]
    for k in ("dWax", "dWaa", "dWya", "dba", "dby"):
        np.testing.assert_allclose(results[k]["values"], theirs[k], rtol=1e-10, atol=1e-13)
    assert w.cost == pytest.approx(theirs["J"], rel=1e-12)


def test_the_worked_examples_json_results_hold_dx_and_da0_too():
    """results held only the sums (dWax … dby): a student comparing rnn_backward's dx and da0
    had to dig them out of the unrolled steps."""
    import numpy as np

    from derive.rnn.spec import RNN
    from derive.rnn.worked import worked, worked_json

    w = worked(RNN(2, 3, 2, 3, examples=2))
    data = worked_json(w)
    steps = {n: v for n, _, v in w.backward}
    assert data["results"]["dx"]["shape"] == [2, 2, 3]
    assert np.array_equal(np.array(data["results"]["dx"]["values"])[:, :, 1], steps["dxt⟨2⟩"])
    assert np.array_equal(np.array(data["results"]["da0"]["values"]), steps["da_prev⟨1⟩"])


def test_no_time_steps_or_no_examples_is_a_named_error_not_a_key_error():
    p, x, a0, _, _ = _instance(2)
    with pytest.raises(SpecError, match="x has no time steps"):
        N.rnn_forward(x[:, :, :0], a0, p)  # it was KeyError ('a', 1)
    with pytest.raises(SpecError, match="x has no time steps"):
        N.rnn_backward(np.ones((5, 4, 0)), x[:, :, :0], a0, p)
    with pytest.raises(SpecError, match="no examples"):
        N.rnn_forward(x[:, :0, :], a0[:, :0], p)
