"""The diagnosis end to end: planted mistakes are named, and every suggested fix is correct.

1. For every code of the mistake catalogue, the engine's own formulas of several networks (both
   conventions, concrete and generic activations, mean and sum scale) are planted with exactly
   that mistake (a mutation of the formula's tree, independent of the catalogue's edit rules),
   printed as text, numpy and LaTeX, and checked: the verdict names the planted code, and the
   fix it gives (``Verdict.fix``, the student's formula corrected) is ``correct`` when checked
   again, as is the ``expected`` formula.
2. A constant factor (issue 12): the engine's formulas times a constant c ≠ 1 get exactly one
   mistake, which names c (hypothesis), and the course's planted gradient-checking bugs
   (``dW2 = 1./m * np.dot(dZ2, A1.T) * 2``, ``db1 = 4./m * np.sum(dZ1, ...)``) are one
   ``wrong_scale`` each, with the factor the student wrote and the one that belongs.
3. The ratio itself (:func:`derive.check.edits.value_ratio`) on formulas whose ratio is known by
   construction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive
from derive.catalogue import rules
from derive.check.checker import square
from derive.check.edits import Context, value_ratio
from derive.check.mistakes import CODES
from derive.check.numeric import numbers_for
from derive.check.raw import Raw, build, to_raw, walk
from derive.cli import main
from derive.core import expr as E
from derive.core.names import m
from derive.errors import ShapeMismatch
from derive.network.spec import Network, dim_symbol
from derive.network.symbols import SymbolTable
from derive.parse import parse_equation

COURSE = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce")
PLANAR = Network(layers=[4, 3, 1], activations=["relu", "sigmoid"], loss="bce")
ROWS = Network(layers=[4, 3, 2], activations=["tanh", "softmax"], loss="ce", convention="rows")
DEEP_ROWS = Network(layers=[3, 4, 5, 2], activations=["relu", "tanh", "sigmoid"], loss="bce",
                    convention="rows")
SUM = Network(layers=[2, 3, 3, 1], activations=["leaky_relu", "tanh", "sigmoid"], loss="mse",
              scale="sum")
GENERIC = Network(depth=3)
# L2 (issue 11): the course's form with a symbolic λ; CS231n's (rows, scale dZ, a numeric reg)
COURSE_L2 = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce",
                    l2=True)
ROWS_L2 = Network(layers=[4, 3, 2], activations=["relu", "softmax"], loss="ce", convention="rows",
                  scale="dZ", l2=0.1, l2_form="half")
# dropout (issue 11): the course's Regularization net with both hidden layers masked; CS231n's rows
COURSE_DROP = Network(layers=[4, 5, 3, 1], activations=["relu", "relu", "sigmoid"], loss="bce",
                      keep_prob=0.8)
ROWS_DROP = Network(layers=[3, 4, 5, 2], activations=["relu", "leaky_relu", "softmax"], loss="ce",
                    convention="rows", scale="dZ", keep_prob=[0.5, 0.75])
NETS = [COURSE, PLANAR, ROWS, DEEP_ROWS, SUM, GENERIC, COURSE_L2, ROWS_L2, COURSE_DROP, ROWS_DROP]
# batch norm (issue 11): its two codes, planted in its own formulas (numpy code: the text and
# LaTeX parsers do not read γ, Z̃ yet); a scale that writes no 1/m in dγ, dβ (CS231n's dZ, sum)
COURSE_BN = Network(layers=[4, 5, 3, 1], activations=["relu", "tanh", "sigmoid"], loss="bce",
                    scale="sum", batchnorm=[1, 2])
ROWS_BN = Network(layers=[3, 4, 2], activations=["relu", "softmax"], loss="ce", convention="rows",
                  scale="dZ", batchnorm=[1])
BN_NETS = [COURSE_BN, ROWS_BN]
BN_CODES = ("dgamma_dbeta_divided_by_m", "bn_sum_wrong_axis", "bn_statistics_paths_missing")
SYNTAXES = ("text", "code", "latex")
# another activation's derivative, for wrong_activation_derivative
OTHER = {"relu": "tanh", "tanh": "sigmoid", "sigmoid": "tanh", "leaky_relu": "relu",
         "softmax": None}


# -- printing a tree as a student would write it ---------------------------------------------------
def printed(tree: Raw, target: tuple[str, int], net: Network, syntax: str) -> str:
    """``target = tree`` in one syntax; the tree is built with every size equal, so a tree whose
    shapes clash at the network's sizes (a planted wrong order) prints as well."""
    T = SymbolTable(square(net))
    lhs, rhs = T[target], build(tree, T)
    form = {"text": "to_text", "code": "to_code", "latex": "to_latex"}[syntax]
    return f"{getattr(lhs, form)()} = {getattr(rhs, form)()}"


def formulas(net: Network):
    return numbers_for(net).derivation.formulas


# -- planting: one mutation of the engine's tree per code ------------------------------------------
def sym(base: str, layer: int | None) -> Raw:
    return Raw(E.Sym, (base, layer))


def replaced(tree: Raw, pick: Callable[[Raw, Raw | None], Iterator[Raw]]) -> Iterator[Raw]:
    """``tree`` with one node replaced by each of ``pick(node, parent)``, node by node."""
    for path, node, parent in walk(tree):
        for new in pick(node, parent):
            out = new
            for i in reversed(range(len(path))):
                up = tree
                for j in path[:i]:
                    up = up.kids[j]
                out = up.with_kid(path[i], out)
            yield out


def _scaled(tree: Raw, c) -> Raw:
    if tree.kind is E.Scale:
        return Raw(E.Scale, (c * tree.args[0], tree.kids[0]))
    return Raw(E.Scale, (c, tree))


def _mask(n: Raw) -> bool:
    """(1/keep_prob) D[l], a dropout mask as the engine writes it."""
    return n.kind is E.Scale and n.kids[0].kind is E.Sym and n.kids[0].args[0] == "D"


def plants(code: str, tree: Raw, target: tuple[str, int], net: Network) -> Iterator[Raw]:
    """Trees that differ from the engine's ``tree`` by exactly the mistake ``code``."""
    kind, layer = target
    mean = net.scale == "mean"

    def each(pick):
        return replaced(tree, pick)

    if code == "wrong_order":
        yield from each(lambda n, p: [Raw(E.MatMul, n.kids[::-1])] if n.kind is E.MatMul else [])
    elif code == "missing_transpose":
        yield from each(lambda n, p: [n.kids[0]] if n.kind is E.Transpose else [])
    elif code == "extra_transpose":
        yield from each(lambda n, p: [Raw(E.Transpose, (n,))]
                        if n.kind is E.Sym and p is not None and p.kind is E.MatMul else [])
    elif code == "missing_scale":
        if mean and tree.kind is E.Scale and tree.args[0] == 1 / m:
            yield tree.kids[0]
    elif code == "extra_scale":
        if mean and kind in ("dA", "dZ") and tree.kind is not E.Scale:
            yield Raw(E.Scale, (1 / m, tree))
    elif code == "wrong_scale":
        if kind == "dW" and net.regularised(layer) and tree.kind is E.Add:  # the L2 term's
            data, term = tree.kids  # factor: the ½ of the penalty kept, or without its 1/m
            yield Raw(E.Add, (data, _scaled(sym("W", layer), net.l2_coefficient / 2), False))
            if net.l2_coefficient.has(m):
                yield Raw(E.Add, (data, _scaled(sym("W", layer), net.l2_coefficient * m), False))
        elif tree.kind is E.Scale:  # the course's planted bug: 2/m where 1/m belongs; or 2 missing
            yield tree.kids[0] if tree.args[0] == 2 else _scaled(tree, sp.Integer(2))
        else:  # a factor where none belongs
            # (not keep_prob itself where the formula has a mask: c · (1/keep_prob) D = D reads
            # as the mask not divided by keep_prob, a single edit as good)
            masks = {float(p) for p in net.keep_prob or () if p is not None}
            yield from (Raw(E.Scale, (c, tree)) for c in (sp.Integer(2), sp.Rational(1, 2))
                        if not (float(c) in masks and any(n.kind is E.Sym and n.args[0] == "D"
                                                          for _, n, _ in walk(tree))))
    elif code == "activation_instead_of_derivative":
        yield from each(lambda n, p: [sym("A", n.args[1])] if n.kind is E.Deriv else [])
    elif code == "wrong_activation_derivative":
        def other(n, p):
            if n.kind is E.Deriv and n.args[0] is not None and OTHER[n.args[0].name]:
                yield n.but(activation=rules.activations()[OTHER[n.args[0].name]])
        yield from each(other)
    elif code == "matmul_instead_of_elementwise":
        yield from each(lambda n, p: [Raw(E.MatMul, n.kids)] if n.kind is E.Hadamard else [])
    elif code == "elementwise_instead_of_matmul":
        yield from each(lambda n, p: [Raw(E.Hadamard, (*n.kids, False))]
                        if n.kind is E.MatMul else [])
    elif code == "wrong_layer_index":
        def shifted(n, p):
            if n.kind is E.Sym and n.args[1] is not None and n.args[0] != "D":
                for new in (n.args[1] - 1, n.args[1] + 1):
                    if 1 <= new <= net.L:
                        yield sym(n.args[0], new)
        yield from each(shifted)
    elif code == "missing_sum":
        yield from each(lambda n, p: [n.kids[0]] if n.kind is E.Sum else [])
    elif code == "wrong_sum_axis":
        yield from each(lambda n, p: [n.but(axis=1 - n.get("axis"))] if n.kind is E.Sum else [])
    elif code == "sign_error":
        yield Raw(E.Scale, (sp.Integer(-1), tree))
        yield from each(lambda n, p: [n.with_kids(n.kids[::-1])] if n.kind is E.Sub else [])
    elif code in ("missing_l2_term", "wrong_l2_term"):  # dW[l] = data + k W[l]
        if kind == "dW" and net.regularised(layer) and tree.kind is E.Add:
            data, term = tree.kids
            W = sym("W", layer)
            yield data if code == "missing_l2_term" else Raw(E.Add, (
                data, _scaled(Raw(E.Hadamard, (W, W, False)), net.l2_coefficient), False))
    elif code == "mask_not_applied":  # dZ[l] of a dropout layer without its mask
        yield from each(lambda n, p: [n.kids[0]] if n.kind is E.Hadamard and _mask(n.kids[1])
                        else [])
    elif code == "not_divided_by_keep_prob":  # the mask without its 1/keep_prob
        yield from each(lambda n, p: [n.kids[0]] if _mask(n) else [])
    elif code == "mask_on_dZ":  # dZ[k] of a dropout layer masked again where it is used
        def masked(n, p):
            k = n.args[1] if n.kind is E.Sym and n.args[0] == "dZ" else None
            if k is not None and net.dropout(k) is not None:
                mask = Raw(E.Scale, (sp.Pow(net.dropout(k), -1, evaluate=False), sym("D", k)))
                yield Raw(E.Hadamard, (n, mask, False))
        if kind != "dZ":
            yield from each(masked)
    elif code == "mask_on_dA_name":  # dA[l] of a dropout layer written as dG[l], masked
        if kind == "dA" and net.dropout(layer) is not None:
            mask = Raw(E.Scale, (sp.Pow(net.dropout(layer), -1, evaluate=False), sym("D", layer)))
            yield Raw(E.Hadamard, (tree, mask, False))
    elif code == "dgamma_dbeta_divided_by_m":  # dγ, dβ divided by m where no 1/m belongs
        if kind in ("dgamma", "dbeta") and net.weight_factor == 1:
            yield Raw(E.Scale, (1 / m, tree))
    elif code == "bn_statistics_paths_missing":  # dZ of a batch-norm layer: the direct path only
        if kind == "dZ" and net.kinds[layer - 1] == "batchnorm":
            scale = next((n for _, n, _ in walk(tree) if n.kind is E.Div
                          and n.kids[0] == sym("gamma", layer)), None)
            if scale is not None:  # the compact formula (the staged one has no γ ⊘ sqrt)
                yield Raw(E.Hadamard, (scale, sym("dZtilde", layer), True))
                yield Raw(E.Div, (sym("dZnorm", layer), scale.kids[1], True))  # dZ_norm ⊘ sqrt
    elif code == "bn_sum_wrong_axis":  # a batch-norm sum over the units
        if net.kinds[layer - 1] == "batchnorm" and kind not in ("dW", "dA"):
            yield from each(lambda n, p: [n.but(axis=1 - n.get("axis"))] if n.kind is E.Sum else [])
    elif code == "other":  # a sum over the examples where none belongs
        if kind in ("dA", "dZ"):
            yield Raw(E.Sum, (tree, net.layout.example_sum_axis))
    else:
        raise AssertionError(f"no planting for {code}")


# In a layer of one unit a sum over the wrong axis is also a missing transpose (sum(dZᵀ, axis=0)
# is db when dZ is 1×m), and a sum where none belongs is also a sum over the wrong axis: two
# single edits fix the formula, so the planted code is not the only answer there.
ONE_UNIT_AMBIGUOUS = ("wrong_sum_axis", "other")


def planted_cases() -> list[tuple[str, Network, str]]:
    """(code, network, equation) for every code, every network, every syntax: the planted trees
    whose printed form is wrong as the parser reads it (a mutation that keeps the value, numpy
    broadcasting that makes ⊙ an outer product, LaTeX's Σ that names no axis, are left out)."""
    out = []
    for net in NETS + BN_NETS:
        nums = numbers_for(net)
        for f in formulas(net):
            tree, target = to_raw(f.expr), f.target.key
            for code in BN_CODES if net in BN_NETS else CODES:
                if code in ONE_UNIT_AMBIGUOUS and net.layers[target[1]] == 1:
                    continue
                for p in plants(code, tree, target, net):
                    for syntax in ("code",) if net in BN_NETS else SYNTAXES:
                        try:
                            equation = printed(p, target, net, syntax)
                        except ShapeMismatch:  # a flipped axis whose shapes clash even square
                            continue
                        if _wrong(equation, target, net, nums):
                            out.append((code, net, equation))
    return out


def _wrong(equation: str, target, net: Network, nums) -> bool:
    """The parser reads ``equation`` as a formula for ``target`` whose shapes clash or whose value
    differs; not one that uses a gradient computed from the target (unusable input)."""
    want = nums.table[target]
    try:
        e = parse_equation(equation, net).rhs
    except ShapeMismatch:
        return True
    try:
        return tuple(e.shape) != tuple(want.shape) or not nums.equal(e, want)
    except KeyError:
        return False


CASES = planted_cases()


def test_every_code_is_planted_in_every_syntax_and_both_conventions():
    for code in CODES:
        mine = [(net, eq) for c, net, eq in CASES if c == code]
        assert {net.convention for net, _ in mine} == {"columns", "rows"}, code
        assert len(mine) >= 6, code


# -- 1. the planted mistake is named, and the fix is correct ----------------------------------------
def _recheck(equation: str, net: Network):
    return derive.check(equation, net)


@pytest.mark.parametrize("code", CODES)
def test_planted_mistakes_are_named_and_every_fix_is_correct(code):
    named, total = 0, 0
    for c, net, equation in CASES:
        if c != code:
            continue
        v = derive.check(equation, net)
        assert v.verdict in ("shape_error", "not_equivalent"), (equation, v.message)
        total += 1
        named += [mk.code for mk in v.mistakes] == [code]
        if v.mistakes[0].code == "other" and v.fix is None:
            continue  # nothing found to correct: no fix is offered
        assert v.fix is not None, (equation, v.mistakes)
        again = _recheck(v.fix, net)
        assert again.verdict == "correct", (equation, v.fix, again.message, again.mistakes)
        if net not in BN_NETS:  # batch norm's expected text has γ, Z̃: not read back yet
            assert _recheck(v.expected, net).verdict == "correct", v.expected
    assert total and named == total, f"{code}: {named} of {total} named alone"


def test_fix_is_in_the_json_and_the_cli_prints_it(capsys):
    code = main(["check", "--layers", "4,3,1", "--act", "relu,sigmoid", "--loss", "bce", "--json",
                 "dW2 = 1./m * np.dot(dZ2, A1.T) * 2"])
    d = json.loads(capsys.readouterr().out)
    assert code == 1 and d["fix"] == "dW[2] = (1/m) dZ[2] A[1]ᵀ"
    assert d["expected"] == "dW[2] = (1/m) dZ[2] A[1]ᵀ"
    ok = main(["check", "--layers", "4,3,1", "--act", "relu,sigmoid", "--loss", "bce", "--json",
               d["fix"]])
    assert ok == 0 and json.loads(capsys.readouterr().out)["fix"] is None


def test_the_fix_keeps_the_students_own_formula():
    """The fix corrects what the student wrote, not the engine's form of it: A1 * (1 - A1) is
    kept where it is right, and the wrong order is kept where it is not the mistake."""
    deep = Network(layers=[4, 3, 3, 1], activations=["sigmoid", "sigmoid", "sigmoid"], loss="bce")
    v = derive.check("dZ1 = 1/m * np.dot(W2.T, dZ2) * A1 * (1 - A1)", deep)
    assert [mk.code for mk in v.mistakes] == ["extra_scale"]
    assert v.fix == "dZ[1] = W[2]ᵀ dZ[2] ⊙ A[1] ⊙ (1 − A[1])"
    assert v.expected == "dZ[1] = W[2]ᵀ dZ[2] ⊙ σ′(Z[1])"
    relu = derive.check("dZ1 = 2 * np.dot(W2.T, dZ2) * (A1 > 0)", PLANAR)
    assert relu.fix is not None and derive.check(relu.fix, PLANAR).verdict == "correct"


def test_the_fix_is_correct_on_the_network_the_verdict_names():
    """Without a network the checker picks one (here: lower-case names, one example, so scale
    sum); the fix is correct on that network, which the verdict gives."""
    v = derive.check("dw = 2 * np.dot(dz, x.T)")
    assert [mk.code for mk in v.mistakes] == ["wrong_scale"] and v.network["scale"] == "sum"
    assert v.fix == "dW[1] = dZ[1] Xᵀ"
    assert derive.check(v.fix, Network.from_mapping(v.network)).verdict == "correct"


def test_no_fix_when_correct_or_unexplained_or_for_a_generic_layer():
    assert derive.check("dW1 = 1/m dZ1 X^T", PLANAR).fix is None
    other = derive.check("dW1 = np.exp(dZ1) @ X.T", PLANAR)
    assert [mk.code for mk in other.mistakes] == ["other"] and other.fix is None
    generic = derive.check("dZ[l] = 2 W[l+1]^T dZ[l+1] * g[l]'(Z[l])")
    assert generic.target == "dZ[l]" and generic.mistakes[0].code == "wrong_scale"
    assert generic.fix is None  # one fix per layer; none of them is the generic formula


# -- 2. a constant factor is one mistake naming it --------------------------------------------------
CONSTANTS = [sp.Integer(2), sp.Integer(4), sp.Integer(-2), sp.Integer(10), sp.Rational(1, 2),
             sp.Rational(3, 2), sp.Rational(-1, 4), sp.Rational(2, 3), m, 1 / m, 2 * m, 1 / (2 * m),
             m**2, sp.Integer(-1), -m]
NAMED_BY = {m: ("missing_scale", "extra_scale"), 1 / m: ("extra_scale",),
            sp.Integer(-1): ("sign_error",)}


def times(c, equation_rhs: str, syntax: str, left: bool) -> str:
    if syntax == "latex":
        k = sp.latex(c)
        if not left and c.could_extract_minus_sign():
            k = f"\\left({k}\\right)"
        return f"{k} \\left({equation_rhs}\\right)" if left else \
            f"\\left({equation_rhs}\\right) \\cdot {k}"
    k = f"({sp.sstr(c)})"
    return f"{k} * ({equation_rhs})" if left else f"({equation_rhs}) * {k}"


def scaled_equation(net: Network, i: int, c, syntax: str, left: bool) -> tuple[str, object]:
    f = formulas(net)[i % len(formulas(net))]
    T = numbers_for(net).table
    form = {"text": "to_text", "code": "to_code", "latex": "to_latex"}[syntax]
    lhs, rhs = getattr(T[f.target.key], form)(), getattr(f.expr, form)()
    return f"{lhs} = {times(c, rhs, syntax, left)}", f


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True, database=None)
@given(st.sampled_from(NETS), st.integers(0, 40), st.sampled_from(CONSTANTS),
       st.sampled_from(SYNTAXES), st.booleans())
def test_a_constant_factor_is_one_mistake_naming_it(net, i, c, syntax, left):
    equation, f = scaled_equation(net, i, c, syntax, left)
    v = derive.check(equation, net)
    assert v.verdict == "not_equivalent", (equation, v.message)
    codes = [mk.code for mk in v.mistakes]
    assert len(codes) == 1, (equation, [mk.message for mk in v.mistakes])
    (mk,) = v.mistakes
    if c in NAMED_BY:
        assert mk.code in NAMED_BY[c], (equation, mk)
    else:
        assert mk.code in ("wrong_scale", "extra_scale"), (equation, mk)
        # wrong_scale names the ratio c; extra_scale the factor written, which is c
        assert f"the formula gives {sp.sstr(c)} ×" in mk.message or (
            mk.code == "extra_scale" and f"the factor {sp.sstr(c)} too many" in mk.message), \
            (equation, mk.message)
    assert v.fix is not None and derive.check(v.fix, net).verdict == "correct", (equation, v.fix)


@pytest.mark.parametrize(("net", "equation", "says", "fix"), [
    (PLANAR, "dW2 = 1./m * np.dot(dZ2, A1.T) * 2",
     "The factor 2/m should be 1/m: the formula gives 2 × dW[2].", "dW[2] = (1/m) dZ[2] A[1]ᵀ"),
    (COURSE, "dW2 = 1./m * np.dot(dZ2, A1.T) * 2",
     "The factor 2/m should be 1/m: the formula gives 2 × dW[2].", "dW[2] = (1/m) dZ[2] A[1]ᵀ"),
    (COURSE, "db1 = 4./m * np.sum(dZ1, axis=1, keepdims=True)",
     "The factor 4/m should be 1/m: the formula gives 4 × db[1].",
     "db[1] = (1/m) sum(dZ[1], axis=1)"),
    (PLANAR, "dW1 = np.dot(dZ1, X.T) / (2*m)",
     "The factor 1/(2*m) should be 1/m: the formula gives 1/2 × dW[1].",
     "dW[1] = (1/m) dZ[1] Xᵀ"),
    (PLANAR, "dW1 = np.dot(dZ1 / m, X.T) * 2",
     "The factor 2/m should be 1/m: the formula gives 2 × dW[1].", "dW[1] = (1/m) dZ[1] Xᵀ"),
    (PLANAR, "dA1 = 2 * np.dot(W2.T, dZ2)",
     "The factor 2 does not belong here: the formula gives 2 × dA[1].", "dA[1] = W[2]ᵀ dZ[2]"),
    (ROWS, "dZ2 = (A2 - Y) / 2",
     "The factor 1/2 does not belong here: the formula gives 1/2 × dZ[2].", "dZ[2] = A[2] − Y"),
    (SUM, "dA3 = A3 - Y",
     "A factor 2 is missing: the formula gives 1/2 × dA[3].", "dA[3] = 2 (A[3] − Y)"),
    (ROWS, "dW1 = 2/m * np.dot(X.T, dZ1)",
     "The factor 2/m should be 1/m: the formula gives 2 × dW[1].", "dW[1] = (1/m) Xᵀ dZ[1]"),
])
def test_the_course_planted_bugs_are_one_wrong_scale(net, equation, says, fix):
    """The student's factor (all of it: 1./m and * 2 read as 2/m) and the one that belongs,
    never "the factor 1/m is missing" when 1/m was written."""
    v = derive.check(equation, net)
    assert [(mk.code, mk.message) for mk in v.mistakes] == [("wrong_scale", says)]
    assert v.fix == fix and derive.check(fix, net).verdict == "correct"


def test_a_wrong_factor_and_a_wrong_order_are_two_mistakes():
    v = derive.check("dW1 = 1/m * np.dot(X, dZ1.T) * 2", PLANAR)
    assert v.verdict == "shape_error"
    assert [mk.code for mk in v.mistakes] == ["wrong_order", "wrong_scale"]
    assert v.fix == "dW[1] = (1/m) dZ[1] Xᵀ"


def test_the_named_ratios_keep_their_codes():
    """1/m missing, 1/m twice, a flipped sign: the codes (and sentences) they always had."""
    assert [mk.code for mk in derive.check("dW1 = np.dot(dZ1, X.T)", PLANAR).mistakes] == \
        ["missing_scale"]
    twice = derive.check("dW1 = 1/m * 1/m * np.dot(dZ1, X.T)", PLANAR)
    assert [mk.code for mk in twice.mistakes] == ["extra_scale"]
    assert "the factor 1/m too many" in twice.mistakes[0].message
    assert twice.fix == "dW[1] = (1/m) dZ[1] Xᵀ"
    sign = derive.check("dW1 = -1/m * np.dot(dZ1, X.T)", PLANAR)
    assert [mk.code for mk in sign.mistakes] == ["sign_error"]
    assert sign.mistakes[0].message == (
        "The sign is wrong: -1/m * np.dot(dZ1, X.T) should be (1/m) dZ[1] Xᵀ.")


# -- 3. the ratio ---------------------------------------------------------------------------------
@pytest.mark.parametrize("net", [PLANAR, ROWS, SUM, GENERIC])
@pytest.mark.parametrize("c", [sp.Integer(3), sp.Rational(-5, 7), m, 1 / m**2, 3 * m / 4])
def test_value_ratio_of_a_scaled_formula_is_the_scale(net, c):
    for f in formulas(net):
        tree = Raw(E.Scale, (c, to_raw(f.expr)))
        assert value_ratio(tree, Context(net, *f.target.key)) == c, (f.text, c)
        assert value_ratio(to_raw(f.expr), Context(net, *f.target.key)) == 1


def test_value_ratio_is_none_when_the_difference_is_not_a_constant():
    ctx = Context(PLANAR, "dA", 1)
    T = SymbolTable(PLANAR)
    wrong_layer = to_raw(E.MatMul(E.Transpose(T["W", 2]), T["dZ", 2]))
    assert value_ratio(wrong_layer, ctx) == 1
    not_scaled = Raw(E.Hadamard, (wrong_layer, sym("A", 1), False))  # ⊙ A[1]: entry by entry
    assert value_ratio(not_scaled, ctx) is None
    by_size = Raw(E.Scale, (dim_symbol(1), wrong_layer))  # n1: a size, not a constant
    assert value_ratio(by_size, Context(Network(depth=2), "dA", 1)) is None
    clash = Raw(E.MatMul, (sym("dZ", 2), sym("A", 0)))  # (1×m)·(4×m)
    assert value_ratio(clash, ctx) is None
