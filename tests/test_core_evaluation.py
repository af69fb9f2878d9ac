"""The evaluator's backends: softmax along the unit axis (numpy and SymPy, both conventions, against
its definition written out here), and the checker's numbers going through the core
evaluator with m and the free sizes bound."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.catalogue import rules
from derive.check.numeric import MAIN_M, numbers_for
from derive.core import expr as E
from derive.core import names
from derive.network import model
from derive.network import spec as network_spec
from derive.network.spec import Network

SOFTMAX = rules.activations()["softmax"]


def _act(rows: int, cols: int) -> E.Act:
    return E.Act(SOFTMAX, 2, E.Sym("Z", 2, (sp.Integer(rows), sp.Integer(cols))))


@pytest.mark.parametrize("axis", [-2, -1])
def test_numpy_softmax_runs_over_the_unit_axis(axis):
    rng = np.random.default_rng(0)
    Z = rng.normal(0.0, 3.0, size=(5, 3, 4))  # a batch of 5 instances
    got = E.evaluate(_act(3, 4), {("Z", 2): Z}, E.NumpyBackend(unit_axis=axis))
    want = np.exp(Z) / np.sum(np.exp(Z), axis=axis, keepdims=True)  # the definition, written here
    assert np.allclose(got, want, rtol=0, atol=1e-15)
    assert np.allclose(np.sum(got, axis=axis), 1.0)


def test_numpy_softmax_subtracts_the_maximum():
    Z = np.array([[1000.0, 0.0], [1001.0, 0.0]])
    got = E.evaluate(_act(2, 2), {("Z", 2): Z}, E.NumpyBackend())
    assert np.all(np.isfinite(got))
    assert np.allclose(got[:, 0], [1 / (1 + np.e), np.e / (1 + np.e)])


@pytest.mark.parametrize("axis, columns", [(-2, True), (-1, False)])
def test_sympy_softmax_is_per_example_column_or_row(axis, columns):
    Z = model.symbol_matrix("z", 3, 2)
    got = E.evaluate(_act(3, 2), {("Z", 2): Z}, E.SympyBackend(unit_axis=axis))
    per = Z if columns else Z.T  # one example per column, written out from the definition
    want = sp.Matrix(per.rows, per.cols,
                     lambda i, t: sp.exp(per[i, t]) / sum(sp.exp(per[k, t]) for k in range(per.rows)))
    assert got == (want if columns else want.T)
    # generic=True makes element-wise activations undefined functions, never softmax
    generic = E.evaluate(_act(3, 2), {("Z", 2): Z}, E.SympyBackend(generic=True, unit_axis=axis))
    assert generic == got


@pytest.mark.parametrize("axis", [-2, -1])
def test_numpy_and_sympy_softmax_agree(axis):
    Z = np.random.default_rng(1).normal(size=(3, 4))
    num = E.evaluate(_act(3, 4), {("Z", 2): Z}, E.NumpyBackend(unit_axis=axis))
    sym = E.evaluate(_act(3, 4), {("Z", 2): sp.Matrix(Z)}, E.SympyBackend(unit_axis=axis))
    assert np.allclose(num, np.array(sym.evalf(), dtype=float), rtol=1e-12)


@pytest.mark.parametrize("convention", ["columns", "rows"])
def test_softmax_through_the_evaluator_is_the_models_output(convention):
    net = Network(layers=[3, 4, 3], activations=["tanh", "softmax"], loss="ce",
                  convention=convention)
    inst = model.random_instance(net, seed=3, m=5)
    cache = model.forward(net, inst.params, inst.X)
    Z2 = E.Sym("Z", 2, tuple(sp.Integer(d) for d in cache["Z", 2].shape))
    backend = E.NumpyBackend(model.standins(net), unit_axis=net.layout.unit_axis)
    got = E.evaluate(E.Act(net.activation(2), 2, Z2), {("Z", 2): cache["Z", 2]}, backend)
    assert np.allclose(got, cache["A", 2], rtol=0, atol=1e-15)


def test_the_unit_axis_is_minus_two_or_minus_one():
    assert E.NumpyBackend().unit_axis == E.SympyBackend().unit_axis == -2
    for bad in (0, 1, -3):
        with pytest.raises(ValueError, match="unit axis"):
            E.NumpyBackend(unit_axis=bad)
        with pytest.raises(ValueError, match="unit axis"):
            E.SympyBackend(unit_axis=bad)


def test_core_symbols_are_the_catalogues_and_the_specs():
    # equal SymPy symbols: an activation's forward in the catalogue's z substitutes at core's z
    assert names.z == rules.z and names.m == network_spec.m
    assert rules.activations()["tanh"].forward.subs(names.z, 0) == 0


# -- the checker's numbers: the core evaluator, with this instance's numbers bound ---------------
def test_the_checker_binds_m_and_the_free_sizes():
    nums = numbers_for(Network(depth=2))
    env = nums.main
    Z1 = nums.table["Z", 1]
    got = env.evaluate(E.Scale(1 / names.m, Z1))
    assert np.allclose(got, env.values["Z", 1] / MAIN_M)
    ones = env.evaluate(E.Ones(Z1.shape))
    assert ones.shape == env.values["Z", 1].shape[1:] and np.all(ones == 1.0)  # broadcasts
    scalar = env.evaluate(E.Scalar(names.m * network_spec.dim_symbol(1)))
    assert scalar.tolist() == [[MAIN_M * env.sizes[1]]]
    assert isinstance(env.backend, E.NumpyBackend)


def test_the_checker_evaluates_a_wide_layer_at_its_stand_in_size():
    nums = numbers_for(Network(layers=[2, 100, 1], activations=["relu", "sigmoid"], loss="bce"))
    env = nums.main
    small = nums.size_map[100]
    assert env.values["Z", 1].shape[-2] == small
    assert env.evaluate(E.Ones((sp.Integer(100), names.m))).shape == (small, MAIN_M)


def test_the_checker_names_a_missing_quantity_by_its_key():
    nums = numbers_for(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
    dZ1 = nums.table["dZ", 1]
    with pytest.raises(KeyError) as info:
        nums.equal(E.Hadamard(dZ1, nums.table["A", 1]), nums.table["dZ", 2])
    assert info.value.args[0] == ("dZ", 1)


@pytest.mark.parametrize("convention, axis", [("columns", -2), ("rows", -1)])
def test_the_checkers_backend_applies_softmax_along_the_layouts_unit_axis(convention, axis):
    net = Network(layers=[3, 4, 3], activations=["tanh", "softmax"], loss="ce",
                  convention=convention)
    env = numbers_for(net).main
    assert env.backend.unit_axis == axis
    got = env.evaluate(E.Act(net.activation(2), 2, numbers_for(net).table["Z", 2]))
    assert np.allclose(got, env.values["A", 2], rtol=0, atol=1e-15)
