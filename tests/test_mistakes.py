"""The mistake catalogue (derive.check.mistakes) and the shape-free tree it edits (derive.check.raw).

1. The catalogue itself: one entry per code, each with a priority, a sentence and rules; the codes
   are the ones docs/checking.md lists.
2. Each entry's rules: for a formula written with exactly that mistake, the entry's own rules
   (each rule alone, nothing else of the catalogue) produce the fix, and the checker names the
   mistake; every rule of every entry is needed by some formula below. The expected fixes come
   from the maths of a dense network (dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g′(Z[l]), dW[l] = (1/m) dZ[l]
   A[l-1]ᵀ, db[l] = (1/m) Σ dZ[l], dA[l-1] = W[l]ᵀ dZ[l]; Aᵀ and the other axis in rows).
3. The fast shape pass against the real node constructors, and rebuilding against the original
   tree, on random trees (hypothesis); a node class the diagnosis has never heard of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.check import diagnose as D
from derive.check.checker import check, square
from derive.check.edits import EACH, FIRST, LAST, Context, compose
from derive.check.mistakes import CATALOGUE, CODES, ENTRIES, PRIORITY, Words
from derive.check.numeric import numbers_for
from derive.check.raw import Raw, Unknown, at, build, raw_shape, to_raw
from derive.core import expr as E
from derive.core.names import m
from derive.errors import ShapeMismatch
from derive.network.spec import Network
from derive.network.symbols import SymbolTable
from derive.parse import parse_equation
from tests.strategies import networks

ROOT = Path(__file__).resolve().parent.parent


# -- 1. the catalogue ---------------------------------------------------------------------------
def documented_codes() -> list[str]:
    text = (ROOT / "docs" / "checking.md").read_text(encoding="utf-8")
    table = text.split("## Mistake codes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.M)


def test_one_entry_per_code_with_priority_sentence_and_rules():
    codes = [e.code for e in CATALOGUE]
    assert len(codes) == len(set(codes)) == len(ENTRIES) == len(PRIORITY)
    assert CODES == tuple(codes) and D.CODES == CODES and D.PRIORITY == PRIORITY
    for e in CATALOGUE:
        assert isinstance(e.priority, int) and 0 <= e.priority
        assert e.steps, e.code
        assert all(s.stage in (FIRST, EACH, LAST) for s in e.steps)
        said = e.say(Words("W[2] dZ[2]", "W[2]ᵀ dZ[2]", Context(Network(depth=2), "dW", 1), "1/m"))
        assert said.endswith(".") and said[0].isupper() and "{" not in said, (e.code, said)
    assert PRIORITY["other"] == max(PRIORITY.values())  # "other" names a mistake only as a last resort


def test_codes_are_the_documented_ones():
    assert sorted(documented_codes()) == sorted(CODES)


def test_priorities_and_sentences_unchanged():
    """Pinned: which code wins among fixes, and the wording (docs/checking.md shows several)."""
    assert PRIORITY == {
        "wrong_order": 0, "missing_transpose": 1, "extra_transpose": 1,
        "activation_instead_of_derivative": 2, "matmul_instead_of_elementwise": 3,
        "elementwise_instead_of_matmul": 3, "wrong_layer_index": 4, "missing_sum": 5,
        "wrong_sum_axis": 5, "missing_scale": 6, "extra_scale": 6, "wrong_scale": 6, "sign_error": 7,
        "wrong_activation_derivative": 8, "missing_l2_term": 6, "wrong_l2_term": 6,
        "mask_not_applied": 5, "not_divided_by_keep_prob": 5, "mask_on_dZ": 5,
        "mask_on_dA_name": 4,
        "dgamma_dbeta_divided_by_m": 5, "bn_sum_wrong_axis": 4, "other": 9,
        "bn_statistics_paths_missing": 5,
    }
    rows = Context(Network(depth=2, convention="rows", scale="sum"), "dA", 1)
    assert D.sentence("wrong_sum_axis", "sum(dZ[1], axis=1)", "sum(dZ[1], axis=0)", rows) == (
        "sum(dZ[1], axis=1) sums over the wrong axis: sum over the examples, axis=0 (down each "
        "column): sum(dZ[1], axis=0).")
    assert D.sentence("extra_scale", "1/m W2^T dZ2", "", rows, "1/m") == (
        "There is the factor 1/m too many in 1/m W2^T dZ2: dA[1] has no such factor (with scale "
        "sum there is no 1/m anywhere).")
    cols = Context(Network(depth=2), "dW", 2)
    assert D.sentence("wrong_scale", "4/m", "1/m", cols, "4") == (
        "The factor 4/m should be 1/m: the formula gives 4 × dW[2].")
    assert D.sentence("wrong_scale", "?", "1/2", cols, "2", added=True) == (
        "A factor 1/2 is missing: the formula gives 2 × dW[2].")
    assert D.sentence("wrong_scale", "2", "1", cols, "2") == (
        "The factor 2 does not belong here: the formula gives 2 × dW[2].")
    assert D.sentence("wrong_activation_derivative", "?", "g[1]′(Z[1])", rows, added=True) == (
        "The factor g[1]′(Z[1]) is missing: multiply element-wise by it (the chain rule).")
    assert D.no_edit().message == (
        "No small edit explains the difference; compare with the correct formula.")


# -- 2. each entry's rules fix a formula with exactly that mistake -------------------------------
RELU_SIG = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce")
TANH_SIG = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce")
DEEP = Network(layers=[5, 4, 3, 2], activations=["relu", "tanh", "sigmoid"], loss="bce")
ROWS = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows")
GENERIC = Network(depth=3)
SUM = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", scale="sum")
L2 = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", l2=True)
L2_ROWS = Network(layers=[4, 3, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows",
                  l2=0.1, l2_form="half")
# dropout (issue 11): the course's net (both hidden layers masked) and CS231n's rows
DROP = Network(layers=[4, 5, 3, 2], activations=["relu", "tanh", "sigmoid"], loss="bce",
               keep_prob=0.8)
DROP_ROWS = Network(layers=[4, 3, 2], activations=["relu", "softmax"], loss="ce", convention="rows",
                    keep_prob=0.5)
# batch norm (issue 11): the course's columns (scale mean) and CS231n's rows (scale dZ)
BN = Network(layers=[4, 5, 3, 2], activations=["relu", "tanh", "sigmoid"], loss="bce", batchnorm=[1, 2])
BN_ROWS = Network(layers=[4, 3, 2], activations=["relu", "softmax"], loss="ce", convention="rows",
                  scale="dZ", batchnorm=[1])
m_ = sp.Symbol("m", positive=True, integer=True)


def mean_dw1(T):
    return E.MatMul(T["dZ", 1], E.Transpose(T["X"]))


# (code, network, formula): the text a student writes, or (target, tree builder) where no text
# reads as that tree (the parser folds scalars into one factor)
CASES = [
    ("wrong_order", RELU_SIG, "dZ1 = dZ2 W2^T * g1'(Z1)"),
    ("wrong_order", RELU_SIG, "dW1 = 1/m X dZ1^T"),
    ("wrong_order", ROWS, "dW1 = 1/m dZ1^T X"),
    ("wrong_order", ROWS, "dA1 = W2^T dZ2"),
    ("missing_transpose", RELU_SIG, "dA1 = W2 dZ2"),
    ("missing_transpose", ROWS, "dW1 = 1/m X dZ1"),
    ("extra_transpose", RELU_SIG, "dA1 = W2^T dZ2^T"),
    ("extra_transpose", GENERIC, "dW2 = 1/m dZ2^T A1^T"),
    ("missing_scale", RELU_SIG, "dW1 = np.dot(dZ1, X.T)"),
    ("missing_scale", ROWS, "db1 = np.sum(dZ1, axis=0, keepdims=True)"),
    ("extra_scale", RELU_SIG, "dA1 = 1/m W2^T dZ2"),
    ("extra_scale", SUM, "dW1 = 1/m dZ1 X^T"),
    ("extra_scale", RELU_SIG, (("dA", 1), lambda T: E.Hadamard(
        E.Scalar(1 / m), E.MatMul(E.Transpose(T["W", 2]), T["dZ", 2])))),
    ("extra_scale", ROWS, (("dA", 1), lambda T: E.Div(
        E.MatMul(T["dZ", 2], E.Transpose(T["W", 2])), E.Scalar(m)))),
    ("extra_scale", RELU_SIG, (("dW", 1), lambda T: E.Scale(1 / m**2, mean_dw1(T)))),
    ("wrong_scale", RELU_SIG, "dW2 = 1./m * np.dot(dZ2, A1.T) * 2"),  # the course's planted bug
    ("wrong_scale", ROWS, "db1 = 4./m * np.sum(dZ1, axis=0, keepdims=True)"),
    ("wrong_scale", RELU_SIG, "dA1 = 2 * np.dot(W2.T, dZ2)"),
    ("wrong_scale", L2, "dW2 = 1/m * np.dot(dZ2, A1.T) + lambd * W2"),  # the L2 term's factor
    ("wrong_scale", L2_ROWS, "dW2 = 1/m * np.dot(A1.T, dZ2) + 0.5 * reg * W2"),
    ("missing_l2_term", L2, "dW1 = 1/m * np.dot(dZ1, X.T)"),
    ("missing_l2_term", L2_ROWS, "dW1 = 1/m * np.dot(X.T, dZ1)"),
    ("wrong_l2_term", L2, "dW2 = 1/m * np.dot(dZ2, A1.T) + lambd/m * W2 * W2"),
    ("wrong_l2_term", L2_ROWS, "dW2 = 1/m * np.dot(A1.T, dZ2) + reg * np.sum(W2 * W2)"),
    ("wrong_activation_derivative", RELU_SIG, "dZ1 = W2^T dZ2 * (1 - A1**2)"),
    ("wrong_activation_derivative", TANH_SIG, "dZ1 = W2^T dZ2 * A1 * (1 - A1)"),
    ("wrong_activation_derivative", RELU_SIG, "dZ2 = (A2 - Y) * g2'(Z2)"),
    ("wrong_activation_derivative", RELU_SIG, "dZ1 = W2^T dZ2"),
    ("wrong_activation_derivative", ROWS, "dZ1 = dZ2 W2^T"),
    ("activation_instead_of_derivative", RELU_SIG, "dZ1 = np.dot(W2.T, dZ2) * A1"),
    ("activation_instead_of_derivative", GENERIC, "dZ2 = W3^T dZ3 * g2(Z2)"),
    ("activation_instead_of_derivative", TANH_SIG, "dZ1 = W2^T dZ2 * A1 * A1"),
    ("matmul_instead_of_elementwise", RELU_SIG, "dZ1 = W2.T @ dZ2 @ g1'(Z1)"),
    ("matmul_instead_of_elementwise", ROWS, "dZ1 = dZ2 @ W2.T @ g1'(Z1)"),
    ("elementwise_instead_of_matmul", RELU_SIG, "dA1 = W2.T * dZ2"),
    ("elementwise_instead_of_matmul", ROWS, "dW1 = 1/m X.T * dZ1"),
    ("wrong_layer_index", RELU_SIG, "dA1 = np.dot(W1.T, dZ2)"),
    ("wrong_layer_index", DEEP, "dZ1 = W3^T dZ3 * g1'(Z1)"),
    ("wrong_layer_index", RELU_SIG, "dZ1 = W2^T dZ2 * g2'(Z2)"),
    ("wrong_layer_index", ROWS, "dW2 = 1/m A2^T dZ2"),
    ("missing_sum", RELU_SIG, "db1 = 1/m * dZ1"),
    ("missing_sum", ROWS, "db1 = 1/m * dZ1"),
    ("wrong_sum_axis", RELU_SIG, "db1 = 1/m np.sum(dZ1, axis=0, keepdims=True)"),
    ("wrong_sum_axis", ROWS, "db1 = 1/m np.sum(dZ1, axis=1, keepdims=True)"),
    ("wrong_sum_axis", GENERIC, "db2 = 1/m np.sum(dZ2)"),
    ("sign_error", RELU_SIG, "dZ2 = Y - A2"),
    ("sign_error", RELU_SIG, "dA1 = -np.dot(W2.T, dZ2)"),
    ("sign_error", ROWS, "dW1 = -1/m X^T dZ1"),
    ("other", RELU_SIG, "dA1 = np.sum(W2.T @ dZ2, axis=1, keepdims=True)"),
    ("mask_not_applied", DROP, "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"),
    ("mask_not_applied", DROP, "dZ2 = dA2 * (1 - np.power(np.tanh(Z2), 2))"),
    ("mask_not_applied", DROP_ROWS, "dZ1 = np.dot(dZ2, W2.T) * (Z1 > 0)"),
    ("not_divided_by_keep_prob", DROP, "dZ1 = np.dot(W2.T, dZ2) * D1 * np.int64(Z1 > 0)"),
    ("not_divided_by_keep_prob", DROP_ROWS, "dZ1 = np.dot(dZ2, W2.T) * D1 * (Z1 > 0)"),
    ("mask_on_dZ", DROP, "dW1 = 1/m * np.dot(dZ1 * D1 / 0.8, X.T)"),
    ("mask_on_dZ", DROP, "dA1 = np.dot(W2.T, dZ2 * D2 / 0.8)"),
    ("mask_on_dZ", DROP_ROWS, "db1 = 1/m * np.sum(dZ1 * D1 / 0.5, axis=0, keepdims=True)"),
    ("mask_on_dA_name", DROP, "dA1 = np.dot(W2.T, dZ2) * D1 / 0.8"),
    ("dgamma_dbeta_divided_by_m", BN_ROWS, "dbeta1 = np.sum(dZ_tilde1, axis=0, keepdims=True) / m"),
    ("dgamma_dbeta_divided_by_m", BN_ROWS, (("dbeta", 1), lambda T: E.Div(  # ⊘ N, as --code reads it
        E.Sum(T["dZtilde", 1], 0), E.Scalar(m_), broadcast=True))),
    ("dgamma_dbeta_divided_by_m", BN_ROWS, "dgamma1 = 1/m * np.sum(dZ_tilde1 * x_hat1, axis=0, keepdims=True)"),
    ("bn_sum_wrong_axis", BN, "dgamma1 = 1/m * np.sum(dZ_tilde1 * Z_norm1, axis=0, keepdims=True)"),
    ("bn_sum_wrong_axis", BN_ROWS, "dbeta1 = np.sum(dZ_tilde1, axis=1, keepdims=True)"),
    ("bn_statistics_paths_missing", BN, "dZ1 = dZ_tilde1 * gamma1 / np.sqrt(var1 + eps)"),
    ("bn_statistics_paths_missing", BN_ROWS, "dZ1 = dZ_tilde1 * gamma1 / np.sqrt(var1 + eps)"),
]


def case_id(case) -> str:
    code, net, formula = case
    text = formula if isinstance(formula, str) else f"{formula[0][0]}{formula[0][1]} = <tree>"
    return f"{code}: {text} ({net.convention}, {','.join(a or 'g' for a in net.activations)})"


def diagnosis_input(net: Network, formula):
    """(student tree, gradient) as the checker sees them: read over the network with every size
    equal when the shapes clash (so that a tree exists to edit)."""
    if isinstance(formula, str):
        eq = parse_equation(formula, square(net))
        return to_raw(eq.rhs), (eq.target.base, eq.target.layer)
    target, make = formula
    return to_raw(make(SymbolTable(net))), target


def accept_for(net: Network, target):
    """The checker's test of an edited tree: it fits the gradient's shape and has its value."""
    nums = numbers_for(net)
    want = nums.table[target]

    def accept(tree: Raw) -> bool:
        try:
            e = build(tree, nums.table)
        except (ShapeMismatch, KeyError):
            return False
        return tuple(e.shape) == tuple(want.shape) and nums.equal(e, want)

    return accept


def fixing_steps(code: str, net: Network, formula) -> list[int]:
    """The steps of the entry ``code`` whose rule alone turns the formula into the right one."""
    raw, target = diagnosis_input(net, formula)
    ctx = Context(net, *target)
    accept = accept_for(net, target)
    assert not accept(raw), "the formula is already right"
    found = []
    for i, step in enumerate(ENTRIES[code].steps):
        edits = compose([(code, step)])(raw, ctx)
        if any(accept(D.apply(raw, e)) for e in edits):
            found.append(i)
    return found


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_entry_rules_fix_their_mistake(case):
    code, net, formula = case
    assert fixing_steps(code, net, formula), f"no rule of {code} fixes it"
    if isinstance(formula, str):
        v = check(formula, net)
        assert v.verdict in ("shape_error", "not_equivalent"), v.message
        assert v.mistakes[0].code == code, [(x.code, x.message) for x in v.mistakes]


def test_every_rule_of_every_entry_is_needed_by_a_case():
    used = {(code, i) for code, net, formula in CASES for i in fixing_steps(code, net, formula)}
    every = {(e.code, i) for e in CATALOGUE for i in range(len(e.steps))}
    assert every - used == set()


# -- 3. the shape-free tree: fast shape pass and rebuilding, on random trees ---------------------
a_, b_ = sp.symbols("a b", real=True)
POINTWISE = {1: [(1 - a_**2, (a_,)), (a_ * (1 - a_), (a_,))], 2: [(a_ - b_, (a_, b_))]}


def leaves(net: Network) -> list[Raw]:
    one = sp.Integer(1)
    out = [Raw(E.Sym, ("A", 0)), Raw(E.Sym, ("Y", None)), Raw(E.Scalar, (1 / m,)),
           Raw(E.Scalar, (sp.Integer(2),)), Raw(E.Ones, ((one, one),))]
    for l in range(1, net.L + 1):
        out += [Raw(E.Sym, (base, l)) for base in ("W", "b", "Z", "A", "dW", "db", "dZ", "dA")]
    return out


def trees(net: Network):
    acts = st.integers(1, net.L).flatmap(
        lambda l: st.sampled_from([net.activation(l), None]).map(lambda act: (act, l)))

    def extend(kids):
        two = st.tuples(kids, kids)
        return st.one_of(
            two.map(lambda ab: Raw(E.MatMul, ab)),
            *[st.tuples(two, st.booleans()).map(lambda t, kind=kind: Raw(kind, (*t[0], t[1])))
              for kind in (E.Hadamard, E.Add, E.Sub, E.Div)],
            st.tuples(st.sampled_from([1 / m, sp.Integer(-1), sp.Integer(2)]), kids)
              .map(lambda t: Raw(E.Scale, t)),
            kids.map(lambda k: Raw(E.Transpose, (k,))),
            st.tuples(kids, st.sampled_from([0, 1, None])).map(lambda t: Raw(E.Sum, t)),
            st.tuples(st.sampled_from([E.Deriv, E.Act]), acts, kids)
              .map(lambda t: Raw(t[0], (*t[1], t[2]))),
            st.integers(1, 2).flatmap(lambda n: st.tuples(
                st.sampled_from(POINTWISE[n]), st.lists(kids, min_size=n, max_size=n)))
              .map(lambda t: Raw(E.Pointwise, (*t[0], tuple(t[1])))),
        )

    return st.recursive(st.sampled_from(leaves(net)), extend, max_leaves=6)


@st.composite
def network_and_tree(draw):
    net = draw(networks(max_depth=3))
    return net, draw(trees(net))


def real_shape(r: Raw, T):
    """The shape through the real constructors, or None where they refuse the tree."""
    try:
        return tuple(build(r, T).shape)
    except ShapeMismatch:
        return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_and_tree())
def test_fast_shape_pass_agrees_with_the_node_constructors(net_tree):
    """The pass the search prunes with says "clash" exactly where the constructors refuse the
    tree, and gives the shape they give (a 𝟙, sized by its sibling, is left to them)."""
    net, r = net_tree
    T = SymbolTable(net)
    try:
        fast = raw_shape(r, T)
    except Unknown:
        real_shape(r, T)  # builds or refuses, nothing else
        return
    assert fast == real_shape(r, T)
    assert raw_shape(r, T, {}) == fast  # and the remembered answers are the same


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_and_tree())
def test_rebuilding_gives_the_same_tree_and_every_edit_is_an_edit_of_it(net_tree):
    net, r = net_tree
    T = SymbolTable(net)
    if real_shape(r, T) is None:
        return
    e = build(r, T)
    assert build(to_raw(e), T) == e
    assert str(build(to_raw(e), T)) == str(e)
    ctx = Context(net, "dZ", 1)
    for edit in D.single_edits(r, ctx):
        assert at(r, edit.path) == edit.before
        D.apply(r, edit)


def test_ones_size_comes_from_its_sibling():
    T = SymbolTable(Network(layers=[4, 3, 2]))
    ones = Raw(E.Ones, ((sp.Integer(1), sp.Integer(1)),))
    r = Raw(E.MatMul, (Raw(E.Sym, ("dZ", 1)), ones))  # dZ[1] 𝟙: the sum over the examples
    with pytest.raises(Unknown):
        raw_shape(r, T)
    assert tuple(build(r, T).shape) == (3, 1) and tuple(build(r, T).right.shape) == (m_, 1)


@dataclass(frozen=True)
class Doubled(E.Expr):
    """A node class the diagnosis has never heard of: 2·arg, with its own shape check."""

    arg: E.Expr
    square: bool = False
    src: str | None = field(default=None, compare=False)

    def __post_init__(self):
        r, c = self.arg.shape
        if self.square and r != c:
            raise ShapeMismatch("doubling", self.arg.written(), "", self.arg.shape, (c, r),
                                f"{r} and {c} differ")

    @property
    def shape(self):
        return self.arg.shape

    def children(self):
        return (self.arg,)

    def to_text(self) -> str:
        return f"twice({self.arg.to_text()})"


def test_a_new_node_class_needs_nothing_in_the_diagnosis():
    net = Network(layers=[4, 3, 2])
    T = SymbolTable(net)
    e = E.MatMul(E.Transpose(T["W", 2]), Doubled(T["dZ", 2]))
    r = to_raw(e)
    assert r.kids[1].kind is Doubled and build(r, T) == e
    assert raw_shape(r, T) == (3, m_)
    assert raw_shape(Raw(Doubled, (Raw(E.Sym, ("W", 2)), True)), T) is None  # its own check
    assert raw_shape(Raw(Doubled, (Raw(E.Sym, ("dZ", 2)), False)), T) == (2, m_)
    wrong = Raw(E.MatMul, (Raw(E.Sym, ("W", 2)), to_raw(Doubled(T["dZ", 2]))))  # W[2] twice(dZ[2])
    (fix,) = D.search(wrong, Context(net, "dA", 1), lambda t: raw_shape(t, T) == (3, m_))
    assert fix.code == "missing_transpose"
    assert str(build(D.apply(wrong, fix), T)) == "W[2]ᵀ twice(dZ[2])"
