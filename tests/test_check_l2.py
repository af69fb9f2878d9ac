"""L2 regularisation in the checker (issue 11): the names of λ, their numbers, and the mistakes.

The formulas are written here from the three forms' definitions (docs/spec.md: the course's
(λ/(2m)) Σ‖W‖², CS231n's ½ reg Σ‖W‖², the plain λ Σ‖W‖²), not copied from any corpus. Each
correct one is also evaluated (derive's reading, numpy, λ at the documented stand-in) against
autograd's gradient of the cost written again in tests/oracle.py, penalty included; each planted
mistake must be named, and its fix must check correct and agree with autograd too.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.check.augmented import with_data_term
from derive.check.checker import check
from derive.core import expr as E
from derive.core.expr import NumpyBackend, evaluate
from derive.core.names import LAMBDA, m
from derive.network.model import standins
from derive.network.spec import Network
from derive.parse import parse_equation
from tests.oracle import L2_STANDIN
from tests.test_unindexed import M, instance

BASE = dict(layers=[4, 5, 3], activations=["tanh", "sigmoid"], loss="bce")
# the factor of W in dW for each form (mean cost): the course's λ/m, CS231n's λ, the plain 2λ
TERM = {"course": "lambd/m", "half": "reg", "plain": "2*lambd"}


def net(form: str = "course", l2=True, **kw) -> Network:
    return Network(**{**BASE, **kw}, l2=l2, l2_form=form)


def bound(e: E.Expr) -> E.Expr:
    """``e`` with m and a symbolic λ replaced by this instance's numbers (as the oracle's)."""
    if isinstance(e, E.Scale):
        factor = sp.sympify(e.factor).subs({m: M, LAMBDA: L2_STANDIN})
        return E.map_children(e, bound, factor=factor)
    if isinstance(e, E.Scalar):
        return E.Scalar(sp.sympify(e.value).subs({m: M, LAMBDA: L2_STANDIN}))
    return E.map_children(e, bound)


def agrees(text: str, network: Network) -> bool:
    """derive's reading of ``text``, evaluated here, is autograd's gradient (penalty included)."""
    eq = parse_equation(text, network)
    values = instance(network)
    got = np.asarray(evaluate(bound(eq.rhs), values, NumpyBackend(standins(network))), float)
    want = values[eq.target.key]
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-9, atol=1e-12)


# -- the names of λ ---------------------------------------------------------------------------------
NAMES = [  # (form, formula for dW[2]): every name of λ, text and LaTeX
    ("course", "dW2 = 1/m * np.dot(dZ2, A1.T) + lambd/m * W2"),
    ("course", "dW2 = 1/m * np.dot(dZ2, A1.T) + (lambda / m) * W2"),
    ("course", "dW2 = 1/m dZ2 A1ᵀ + λ/m W2"),
    ("course", "dW2 = 1/m dZ2 A1^T + \\lambda/m W2"),
    ("course", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} + \frac{\lambda}{m} W^{[2]}"),
    ("course", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} + \frac{λ}{m} W^{[2]}"),
    ("course", "dW2 = (np.dot(dZ2, A1.T) + lambd * W2) / m"),
    ("half", "dW2 = np.dot(dZ2, A1.T) / m + reg * W2"),
    ("half", "dW2 = np.dot(dZ2, A1.T) / m + self.reg * W2"),
    ("half", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} + reg W^{[2]}"),
    ("plain", "dW2 = 1/m * np.dot(dZ2, A1.T) + 2 * reg * W2"),
    ("plain", r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T} + 2 \lambda W^{[2]}"),
]


@pytest.mark.parametrize("form,text", NAMES)
def test_every_name_of_lambda_is_the_networks_symbol(form, text):
    v = check(text, net(form))
    assert v.verdict == "correct", (v.message, v.mistakes)
    assert agrees(text, net(form))


@pytest.mark.parametrize("form", ["course", "half", "plain"])
def test_a_numeric_lambda_is_read_as_that_number(form):
    text = f"dW1 = 1/m * np.dot(dZ1, X.T) + {TERM[form]} * W1".replace("lambd", "reg")
    network = net(form, l2=0.1)
    v = check(text, network)
    assert v.verdict == "correct", v.message
    assert "reg read as the L2 strength 0.1" in v.notes
    assert agrees(text, network)
    # the same names on λ = 0.7 are another formula's numbers: 0.1 ≠ 0.7 is caught
    wrong = check(text.replace("reg", "0.1"), net(form, l2=0.7))
    assert wrong.verdict == "not_equivalent"


def test_lambda_on_a_network_without_l2_says_how_to_give_it():
    for text in ("dW1 = 1/m * np.dot(dZ1, X.T) + lambd/m * W1",
                 r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T + \lambda W^{[1]}"):
        v = check(text, Network(**BASE))
        assert v.verdict == "parse_error"
        assert "the network has no L2 term: pass --l2 (and --l2-form)" in v.message
    # an unknown name beside it is listed alone: reg is not a name to bind
    v = check("dW1 = np.dot(grad_z1, X.T) / m + reg * W1", Network(**BASE))
    assert v.verdict == "parse_error" and "grad_z1" in v.message and "reg=" not in v.message
    # a binding wins over the reading as λ
    bound_reg = check("dW1 = 1/m * np.dot(dZ1, X.T) + reg", Network(**BASE), names={"reg": "m"})
    assert bound_reg.verdict == "not_equivalent"


def test_the_generic_network_takes_l2():
    v = check("dW1 = 1/m * np.dot(dZ1, X.T) + lambd/m * W1", l2=True)
    assert v.verdict == "correct" and v.network["l2"] == "λ"
    assert check("dW = 1/m * np.dot(dZ, A_prev.T) + reg * W", l2=True,
                 l2_form="half").verdict == "correct"
    assert check("db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)", l2=True).verdict == "correct"


def test_unindexed_names_with_l2_at_every_layer():
    v = check("dW = 1./m * np.dot(dZ, A_prev.T) + (lambd / m) * W", net())
    assert v.verdict == "correct" and v.target == "dW[l]"
    assert "checked at l = 1, 2" in v.notes


# -- mistakes in the L2 term --------------------------------------------------------------------------
DATA = "1/m * np.dot(dZ2, A1.T)"
MISTAKES = [  # (form, formula, code, the L2 term's factor the fix must write)
    ("course", f"dW2 = {DATA}", "missing_l2_term", "λ/m"),
    ("half", f"dW2 = {DATA}", "missing_l2_term", "λ"),
    ("course", f"dW2 = {DATA} + lambd * W2", "wrong_scale", "λ/m"),  # without 1/m
    ("course", f"dW2 = {DATA} + lambd/(2*m) * W2", "wrong_scale", "λ/m"),  # the ½ kept
    ("half", f"dW2 = {DATA} + 0.5 * reg * W2", "wrong_scale", "λ"),  # the ½ kept
    ("plain", f"dW2 = {DATA} + reg * W2", "wrong_scale", "2λ"),  # 2λ in the plain form
    ("half", f"dW2 = {DATA} + reg / m * W2", "wrong_scale", "λ"),
    ("course", f"dW2 = {DATA} + lambd/m * np.sum(W2 * W2)", "wrong_l2_term", "λ/m"),
    ("half", f"dW2 = {DATA} + reg * np.sum(W2)", "wrong_l2_term", "λ"),
    ("course", f"dW2 = {DATA} + lambd/m * W2 * W2", "wrong_l2_term", "λ/m"),
    ("plain", f"dW2 = {DATA} + 2 * reg * W2**2", "wrong_l2_term", "2λ"),
]


@pytest.mark.parametrize("form,text,code,factor", MISTAKES)
def test_l2_mistakes_are_named_and_the_fix_is_right(form, text, code, factor):
    network = net(form)
    if "sum" not in text:  # np.sum(W * W) is 1×1: numpy broadcasts it, autograd's shape differs
        assert not agrees(text, network)
    v = check(text, network)
    assert v.verdict in ("not_equivalent", "shape_error"), v.message
    assert [mk.code for mk in v.mistakes] == [code], [(mk.code, mk.message) for mk in v.mistakes]
    assert "L2" in v.mistakes[0].message
    assert v.fix is not None
    assert f"+ ({factor}) W[2]" in v.fix or f"+ {factor} W[2]" in v.fix, v.fix
    again = check(v.fix, network)
    assert again.verdict == "correct", (v.fix, again.message)
    assert agrees(v.fix, network)


def test_wrong_factor_sentence_names_the_form_and_both_factors():
    v = check(f"dW2 = {DATA} + lambd * W2", net("course"))
    assert v.mistakes[0].message == (
        "The L2 term's factor λ should be λ/m: the cost's L2 penalty (λ/(2m)) ‖W[2]‖²_F (course "
        "form) has the gradient (λ/m) W[2].")
    v = check(f"dW2 = {DATA}", net("half", l2=0.1))
    assert v.mistakes[0].message == (
        "The L2 term 0.1 W[2] is missing: the cost's penalty 0.05 ‖W[2]‖²_F (half form) adds it "
        "to dW[2].")


def test_layers_not_regularised_take_no_term():
    network = Network(**BASE, l2=True, l2_layers=[2])
    assert check("dW1 = 1/m * np.dot(dZ1, X.T)", network).verdict == "correct"
    v = check("dW1 = 1/m * np.dot(dZ1, X.T) + lambd/m * W1", network)
    assert v.verdict == "not_equivalent"
    assert agrees("dW2 = 1/m * np.dot(dZ2, A1.T) + lambd/m * W2", network)


def test_extra_scale_sentence_under_scale_dz():
    rows = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce",
                   convention="rows", scale="dZ")
    v = check("dW2 = 1/m * np.dot(A1.T, dZ2)", rows)
    assert [mk.code for mk in v.mistakes] == ["extra_scale"]
    assert v.mistakes[0].message.endswith(
        "dW[2] has no such factor (with scale dZ, 1/m appears once, in dA[2] and dZ[2]; every "
        "other gradient gets it from them).")


# -- G += e: the L2 term added in place ----------------------------------------------------------
def agrees_in_place(text: str, network: Network) -> bool:
    """``G += e`` read as G's data term + e (derive.check.augmented), evaluated here: autograd's
    gradient, penalty included."""
    eq = with_data_term(parse_equation(text, network), network)
    values = instance(network)
    got = np.asarray(evaluate(bound(eq.rhs), values, NumpyBackend(standins(network))), float)
    return np.allclose(got, values[eq.target.key], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("text", ["dW2 += reg * W2", "dW2 -= -reg * W2", "dW2 += self.reg * W2"])
def test_in_place_l2_term_is_the_data_term_plus_it(text):
    half = net("half")
    v = check(text, half)
    assert v.verdict == "correct", (v.message, v.mistakes)
    assert any(n.startswith("dW2 ") and "= … read as dW[2] = (its data term, (1/m) dZ[2] A[1]ᵀ)"
               in n for n in v.notes), v.notes
    assert agrees_in_place(text, half)
    # the plain form's gradient is 2λ W: the same line lacks a factor 2
    plain = net("plain")
    w = check(text, plain)
    assert [mk.code for mk in w.mistakes] == ["wrong_scale"] and "L2 term" in w.mistakes[0].message
    assert not agrees_in_place(text, plain)
    assert check(w.fix, plain).verdict == "correct" and agrees(w.fix, plain)


def test_in_place_in_cs231n_names_and_without_an_index():
    rows = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", convention="rows",
                   scale="dZ", l2=0.1, l2_form="half")
    v = check("grads['W2'] += reg * W2", rows)
    assert v.verdict == "correct" and v.target == "dW[2]", v.message
    assert "reg read as the L2 strength 0.1" in v.notes
    assert agrees_in_place("grads['W2'] += reg * W2", rows)
    assert check("grads['W1'] += reg * self.params['W1']", rows).verdict == "correct"
    v = check("dW += lambd / m * W", net("course"))
    assert v.verdict == "correct" and v.target == "dW[l]" and "checked at l = 1, 2" in v.notes
    # an update the data term does not explain: the L2 term added twice
    twice = check("dW2 += 2 * reg * W2", net("half"))
    assert [mk.code for mk in twice.mistakes] == ["wrong_scale"]


def test_other_in_place_operators_are_refused():
    for text in ("dW2 *= 2", "dscores /= N"):
        v = check(text, net("half"))
        assert v.verdict == "parse_error" and "updates the value of earlier lines" in v.message


# -- G = f(G, ...): the G on the right is its value so far ---------------------------------------
def test_an_accumulated_gradient_divided_by_m_is_the_sum_over_the_examples():
    # CS231n's softmax_loss_vectorized: dW = X.T.dot(dscores) with dscores not yet divided by N,
    # then dW = dW/N + 2*reg*W. The dW on the right is the summed gradient, m × the data term.
    rows = Network(layers=[5, 3], activations=["softmax"], loss="ce", convention="rows",
                   scale="dZ", l2=True, l2_form="plain")
    for text in ("dW = dW/N + 2*reg*W", "dW = (1/N) * dW + 2*reg*W"):
        v = check(text, rows, names={"N": "m"}, layer=1)
        assert v.verdict == "correct", (text, v.message)
        assert any("the sum over the examples' gradients, m × Xᵀ dZ[1]" in n for n in v.notes)
        assert agrees_in_place(text.replace("N", "m"), rows)
    # not divided: the data term, as for +=; the factor 2 of the plain form missing is named
    assert check("dW = dW + 2*reg*W", rows, layer=1).verdict == "correct"
    w = check("dW = dW/N + reg*W", rows, names={"N": "m"}, layer=1)
    assert [mk.code for mk in w.mistakes] == ["wrong_scale"]
    # dZ on the right of dZ = ... is a copy of dA (one line cannot say): still refused
    assert check("dZ1 = dZ1 * (Z1 > 0)", net()).verdict == "parse_error"
