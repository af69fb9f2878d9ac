"""numpy-style and semi-math text: parsed formulas evaluate to the engine's numbers.

The oracle: the engine's formulas (derive.engine.backward.derive) evaluated in order on a random instance
of the forward model; a parsed right side must give the same numbers for the same gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from derive.core import expr as E
from derive.core.expr import NumpyBackend, evaluate
from derive.engine.backward import derive
from derive.engine.values import bind_m, gradient_values
from derive.errors import ParseError, ShapeMismatch
from derive.network.model import random_instance, standins
from derive.network.spec import Network
from derive.network.symbols import GLOBAL, SymbolTable, layered
from derive.parse import Equation, LayerOutOfRange, parse_equation, parse_expression
from derive.parse.names import gradients, known_names, resolve_ident

NET = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
TANH = Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")
SIG = Network(layers=[3, 4, 2], activations=["sigmoid", "sigmoid"], loss="bce")
SOFT = Network(layers=[3, 4, 3], activations=["relu", "softmax"], loss="ce")
ROWS = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce", convention="rows")
DEEP = Network(layers=[3, 4, 5, 2], activations=["relu", "tanh", "sigmoid"], loss="bce")
GEN = Network(layers=[3, 4, 2], loss="mse")  # generic g[1], g[2]


def oracle(net: Network, seed: int = 0):
    """Every symbol's value: inputs, the forward pass, then the engine's formulas in order."""
    inst = random_instance(net, seed=seed, m=5)
    env = gradient_values(derive(net, prove=False), inst)
    return env, NumpyBackend(standins(net))


def ev(e: E.Expr, env, backend):
    return np.asarray(evaluate(bind_m(e, 5), env, backend), dtype=float)


def value(eq: Equation, net: Network, seed: int = 0):
    env, backend = oracle(net, seed)
    return ev(eq.rhs, env, backend), env[eq.target.key]


def agrees(eq: Equation, net: Network, seed: int = 0) -> bool:
    got, want = value(eq, net, seed)
    return got.shape == want.shape and np.allclose(got, want, rtol=1e-10, atol=1e-12)


# -- correct formulas in numpy and semi-math text: each evaluates to the engine's numbers --------
CORRECT = [
    # dZ, hidden layer
    (NET, "dZ1 = np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"),
    (NET, "dZ1 = W2.T @ dZ2 * (Z1 > 0)"),
    (NET, "dZ1 = np.multiply(W2.T.dot(dZ2), (Z1 > 0).astype(float))"),
    (NET, "dZ1 = np.where(Z1 > 0, 1, 0) * np.matmul(W2.T, dZ2)"),
    (NET, "dZ[1] = W[2]T dZ[2] * g[1]'(Z[1])"),
    (NET, "dZ1 = W2^T dZ2 * g1'(Z1)"),
    (NET, "dZ1 = W2ᵀ dZ2 ⊙ g′(Z1)"),
    (NET, "dZ1 = W2ᵀ dZ2 ⊙ relu′(Z1)"),
    (NET, "dZ_1 = W_2^T dZ_2 ∘ ReLU'(Z_1)"),
    (NET, "dL/dZ1 = dA1 * relu_prime(Z1)"),
    (NET, "dZ1 = W2ᵀ dZ2 ⊙ relu'(Z1) − dA1 ⊙ relu'(Z1) + dA1 * relu_derivative(Z1)"),
    (TANH, "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))"),
    (TANH, "dZ1 = W2.T @ dZ2 * (1 - A1**2)"),
    (TANH, "dZ1 = W2ᵀ dZ2 ⊙ (1 − A1²)"),
    (TANH, "dZ1 = W2ᵀ dZ2 ⊙ tanh'(Z1)"),
    (TANH, "dZ1 = W2.T @ dZ2 * (1 - np.tanh(Z1) ** 2)"),
    (SIG, "dZ1 = np.dot(W2.T, dZ2) * A1 * (1 - A1)"),
    (SIG, "dZ1 = W2ᵀ dZ2 ⊙ A1 ⊙ (1 − A1)"),
    (SIG, "dZ1 = W2ᵀ dZ2 ⊙ σ′(Z1)"),
    # dZ, output layer (sigmoid + bce, softmax + ce): any mix of dZ2 and its expansion
    (NET, "dZ2 = A2 - Y"),
    (NET, "dZ[2] = A[2] − Y"),
    (NET, "dZ2 = dA2 * A2 * (1 - A2)"),
    (NET, "dZ2 = dA2 ⊙ σ'(Z2)"),
    (NET, "dZ2 = np.multiply(dA2, sigmoid_derivative(Z2))"),
    (SOFT, "dZ2 = A2 - Y"),
    (SOFT, "dz2 = a2 − y"),
    (SOFT, "dZ2 = softmax(Z2) - Y"),  # issue 13: softmax(Z[L]) is A[L] itself
    (SOFT, "dZ2 = g2(Z2) − Y"),
    # dW
    (NET, "dW2 = (1/m) * np.dot(dZ2, A1.T)"),
    (NET, "dW2 = 1/m * dZ2 @ A1.T"),
    (NET, "dW2 = np.dot(dZ2, A1.T) / m"),
    (NET, "dW[2] = 1/m dZ[2] A[1]T"),
    (NET, "dW2 = (1/m) dZ2 A1ᵀ"),
    (NET, "dW1 = (1./m) * np.dot(dZ1, X.T)"),
    (NET, "dW1 = 1/m dZ1 Xᵀ"),
    (NET, "dW1 = 1/m dZ[1] A[0]^T"),
    (NET, "dW1 = np.dot(dZ1, X.T) * (1/m)"),
    # db
    (NET, "db2 = (1/m) * np.sum(dZ2, axis=1, keepdims=True)"),
    (NET, "db2 = 1/m * dZ2.sum(axis=1, keepdims=True)"),
    (NET, "db2 = np.mean(dZ2, axis=1, keepdims=True)"),
    (NET, "db[2] = (1/m) sum(dZ[2], axis=1)"),
    (NET, "db1 = 1/m dZ1 𝟙"),
    (NET, "db1 = (1/m) * np.sum(dZ1, axis=-1, keepdims=True)"),
    (NET, "db1 = (1/m) Σ dZ1"),  # issue 13: Σ over the m examples, as \\sum in LaTeX
    (NET, "db2 = 1/m ∑_i dZ2"),
    (NET, "db[1] = 1/m Σ_i^m dZ[1]"),
    (ROWS, "db1 = (1/m) Σ dZ1"),
    # dA
    (NET, "dA1 = np.dot(W2.T, dZ2)"),
    (NET, "dA1 = W2.T @ dZ2"),
    (NET, "dA[1] = W[2]T dZ[2]"),
    (NET, "dA1 = W2ᵀ dZ2"),
    (NET, "dA1 = W2^T · dZ2"),
    (NET, "dA_1 = (W_2).T @ dZ_2"),
    # rows convention (CS231n): X is m×n0, W[l] is n[l-1]×n[l]
    (ROWS, "dZ1 = dZ2 @ W2.T * (Z1 > 0)"),
    (ROWS, "dZ1 = dZ2 W2ᵀ ⊙ relu′(Z1)"),
    (ROWS, "dW1 = X.T @ dZ1 / m"),
    (ROWS, "dW1 = 1/m Xᵀ dZ1"),
    (ROWS, "db1 = np.sum(dZ1, axis=0, keepdims=True) / m"),
    (ROWS, "dA1 = np.dot(dZ2, W2.T)"),
    # generic activations g[l] (numbers use the model's smooth stand-ins)
    (GEN, "dZ1 = W2.T @ dZ2 * g1'(Z1)"),
    (GEN, "dZ[1] = W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])"),
    (GEN, "dZ2 = dA2 * g'(Z2)"),
]


@pytest.mark.parametrize("net,text", CORRECT, ids=[t for _, t in CORRECT])
def test_correct_formula_evaluates_to_engine(net, text):
    eq = parse_equation(text, net)
    assert eq.syntax == "text"
    assert agrees(eq, net), (str(eq.rhs), eq.notes)
    assert agrees(eq, net, seed=3)


def test_target_is_the_table_symbol():
    for text, key in [("dZ1 = A1", ("dZ", 1)), ("dZ[1] = A1", ("dZ", 1)),
                      ("dZ_1 = A1", ("dZ", 1)), ("dZ^[1] = A1", ("dZ", 1)),
                      ("dL/dZ1 = A1", ("dZ", 1)), ("∂L/∂Z1 = A1", ("dZ", 1)),
                      ("∂J/∂W[1] = dZ1 @ X.T", ("dW", 1)), ("dz1 = a1", ("dZ", 1)),
                      ("dw1 = dz1 @ x.T", ("dW", 1)), ("db2 = dZ2 𝟙", ("db", 2)),
                      ("dAL = A2", ("dA", 2)), ("dB1 = dZ1 𝟙", ("db", 1))]:
        eq = parse_equation(text, NET)
        assert eq.target == SymbolTable(NET)[key], text
        assert eq.target.key == key


def test_unindexed_names_take_the_layer_argument_or_the_single_layer():
    logistic = Network(layers=[3, 1], activations=["sigmoid"], loss="bce")
    eq = parse_equation("dw = 1/m * np.dot(dz, x.T)", logistic)
    assert eq.target.key == ("dW", 1) and agrees(eq, logistic)
    eq = parse_equation("db = 1/m * np.sum(A - Y, axis=1, keepdims=True)", logistic)
    assert eq.target.key == ("db", 1) and agrees(eq, logistic)
    eq = parse_equation("dW = 1/m * np.dot(dZ, A_prev.T)", NET, layer=2)
    assert eq.target.key == ("dW", 2) and agrees(eq, NET)
    eq = parse_equation("dA_prev = np.dot(W.T, dZ)", NET, layer=2)
    assert eq.target.key == ("dA", 1) and agrees(eq, NET)
    eq = parse_equation("dW = 1/m * np.dot(dZ, A_prev.T)", NET)  # the current layer l: 1 first
    assert eq.target.key == ("dW", 1) and agrees(eq, NET) and not eq.generic_layer
    assert eq.unindexed == (("dW", "dW", 0), ("dZ", "dZ", 0), ("A_prev", "A", -1))
    assert eq.notes[-1] == ("names without a layer index read at layer 1: dW as dW[1], dZ as "
                            "dZ[1], A_prev as X (pass the layer to check another)")
    eq = parse_equation("dZ1 = np.dot(W2.T, dZ2) * (A > 0)", NET)  # the left side's own layer
    assert ("A", 1) in {s.key for s in eq.rhs.symbols()} and eq.unindexed == ()


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_generic_index_l_substituted(layer):
    eq = parse_equation("dW[l] = 1/m dZ[l] A[l-1]^T", DEEP, layer=layer)
    assert eq.generic_layer and eq.target.key == ("dW", layer)
    assert agrees(eq, DEEP)
    eq = parse_equation("db[l] = 1/m * np.sum(dZ[l], axis=1, keepdims=True)", DEEP, layer=layer)
    assert agrees(eq, DEEP)


@pytest.mark.parametrize("layer", [1, 2])
def test_generic_hidden_dz(layer):
    eq = parse_equation("dz[l] = da[l] * g'[l](z[l])", DEEP, layer=layer)
    assert eq.generic_layer and agrees(eq, DEEP)
    eq = parse_equation("dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g[l]′(Z[l])", DEEP, layer=layer)
    assert agrees(eq, DEEP)


def test_generic_index_out_of_range_and_default():
    with pytest.raises(LayerOutOfRange, match=r"W\[4\]"):
        parse_equation("dZ[l] = W[l+1]ᵀ dZ[l+1] ⊙ g[l]′(Z[l])", DEEP, layer=3)
    eq = parse_equation("dA[l-1] = W[l]ᵀ dZ[l]", DEEP)  # no layer given: smallest that exists
    assert eq.generic_layer and eq.target.key == ("dA", 0)
    assert any("l = 1" in n for n in eq.notes)
    eq = parse_equation("dZ[L] = A[L] - Y", DEEP)
    assert eq.target.key == ("dZ", 3) and not eq.generic_layer and agrees(eq, DEEP)
    eq = parse_equation("dA[L-1] = W[L]^T dZ[L]", DEEP)
    assert eq.target.key == ("dA", 2) and agrees(eq, DEEP)


# -- seeds: the student's formulas, copied from the forum posts ---------------------------------
SEED_000 = [  # shared/seeds/000: numpy backward pass of a 2-layer network
    "dZ2 = A2 - Y",
    "dW2 = (1/m) * np.dot(dZ2,A1.T)",
    "db2 = (1/m) *(np.sum(dZ2,axis=1,keepdims=True))",
    "dW1 = (1/m) *(np.dot(dZ1,X.T))",
    "db1 = (1/m) *(np.sum(dZ1, axis=1, keepdims=True))",
]


@pytest.mark.parametrize("line", SEED_000)
def test_seed_000_correct_lines(line):
    assert agrees(parse_equation(line, SIG), SIG)


def test_seed_000_wrong_derivative_line():
    # the student multiplies by A1 where sigmoid' is A1 (1 - A1): parses, different numbers
    eq = parse_equation("dZ1 = np.dot(W2.T,dZ2) * A1", SIG)
    got, want = value(eq, SIG)
    assert got.shape == want.shape and not np.allclose(got, want)
    assert isinstance(eq.rhs, E.Hadamard) and eq.rhs.right == SymbolTable(SIG)["A", 1]


def test_seed_000_forward_line_as_expression():
    # Z1 = np.dot(W1,X) + b1: b1 broadcasts over the m columns (numpy text)
    e = parse_expression("np.dot(W1,X) + b1", SIG)
    env, backend = oracle(SIG)
    assert np.allclose(ev(e, env, backend), env["Z", 1])
    with pytest.raises(ParseError, match="left side must name one gradient"):
        parse_equation("W1 = W1 - 0.01 * dW1", SIG)


def test_seed_002_student_formula_wrong_order():
    generic = Network(depth=2)
    with pytest.raises(ShapeMismatch) as info:
        parse_equation("dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])", generic)
    exc = info.value
    assert (exc.left, exc.right) == ("dZ[2]", "W[2]T")
    assert str(exc) == ("matrix product dZ[2] and W[2]T: (n2×m)·(n1×n2) — inner dimensions m "
                        "and n1 differ")
    ok = parse_equation("dZ[1] = W[2]T dZ[2] * g[1]'(Z[1])", generic)
    assert ok.rhs.shape == ok.target.shape


# -- wrong formulas ------------------------------------------------------------------------------
@pytest.mark.parametrize("text,left,right", [
    ("dZ1 = np.dot(dZ2, W2.T) * (Z1 > 0)", "dZ2", "W2.T"),       # wrong order
    ("dZ1 = np.dot(W2, dZ2) * (Z1 > 0)", "W2", "dZ2"),           # missing transpose
    ("dW1 = 1/m * np.dot(X.T, dZ1)", "X.T", "dZ1"),              # wrong order
    ("dW2 = 1/m dZ2 A1", "dZ2", "A1"),                           # missing transpose
    ("dA1 = dZ2 W2ᵀ", "dZ2", "W2ᵀ"),                             # wrong order
])
def test_shape_errors_name_the_operands_as_written(text, left, right):
    with pytest.raises(ShapeMismatch) as info:
        parse_equation(text, NET)
    assert (info.value.left, info.value.right) == (left, right)
    assert "×" in str(info.value)


def test_wrong_but_well_shaped_formulas_parse():
    cases = {
        "dW1 = np.dot(dZ1, X.T)": 5.0,  # missing 1/m: m times too large (m = 5)
        "dZ1 = -W2.T @ dZ2 * (Z1 > 0)": -1.0,  # sign error
    }
    for text, ratio in cases.items():
        got, want = value(parse_equation(text, NET), NET)
        assert np.allclose(got, ratio * want), text
    eq = parse_equation("dZ1 = W2.T @ dZ2 * A1", NET)  # A in place of g'(Z)
    got, want = value(eq, NET)
    assert not np.allclose(got, want)


def test_sum_axes_give_shapes():
    eq = parse_equation("db1 = np.sum(dZ1, axis=0, keepdims=True)", NET)
    assert eq.rhs.shape == (1, sp.Symbol("m", positive=True, integer=True))
    eq = parse_equation("db1 = 1/m * np.sum(dZ1, axis=1)", NET)  # numpy would give 1-D
    assert eq.rhs.shape == (4, 1) and any("keepdims" in n for n in eq.notes)
    assert agrees(eq, NET)
    eq = parse_equation("db1 = 1/m * dZ1", NET)  # missing sum: shape n1×m
    assert eq.rhs.shape == eq.target.shape[:1] + (eq.rhs.shape[1],)


# -- semantics: numpy broadcasting versus strict mathematical notation ---------------------------
THIN = Network(layers=[3, 4, 1], activations=["relu", "sigmoid"], loss="bce")


def test_numpy_star_broadcasts_when_n2_is_one():
    eq = parse_equation("dZ1 = W2.T * dZ2 * (Z1 > 0)", THIN)
    assert any("broadcasting" in n and "n2 = 1" in n for n in eq.notes)
    assert agrees(eq, THIN)
    with pytest.raises(ShapeMismatch):
        parse_equation("dZ1 = W2.T * dZ2 * (Z1 > 0)", NET)  # n2 = 2: numpy raises too


def test_math_star_is_strict():
    with pytest.raises(ShapeMismatch, match="element-wise product"):
        parse_equation("dZ1 = W2ᵀ * dZ2 ⊙ g1′(Z1)", THIN)
    # juxtaposition binds tighter than ⊙ and *
    a = parse_equation("dZ1 = g1′(Z1) ⊙ W2ᵀ dZ2", NET)
    assert isinstance(a.rhs, E.Hadamard) and isinstance(a.rhs.right, E.MatMul)
    assert agrees(a, NET)


def test_cdot_resolved_by_shapes_with_a_note():
    eq = parse_equation("dA1 = W2ᵀ · dZ2", NET)
    assert isinstance(eq.rhs, E.MatMul) and any("matrix product" in n for n in eq.notes)
    eq = parse_equation("dZ1 = dA1 · relu′(Z1)", NET)
    assert isinstance(eq.rhs, E.Hadamard) and any("element-wise" in n for n in eq.notes)
    assert agrees(eq, NET)


def test_src_is_the_text_as_written():
    eq = parse_equation("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", TANH)
    mat = eq.rhs.left
    assert mat.src == "np.dot(W2.T, dZ2)" and mat.left.src == "W2.T"
    assert mat.left.arg.src == "W2"
    assert eq.rhs.right.src == "1 - np.power(A1, 2)"
    eq = parse_equation("dZ[1] = W[2]T dZ[2] * g[1]'(Z[1])", NET)
    assert eq.rhs.left.left.src == "W[2]T" and eq.rhs.right.src == "g[1]'(Z[1])"


def test_decimal_comma_only_outside_calls():
    eq = parse_equation("dW2 = 0,5 * np.dot(dZ2, A1.T)", NET)
    assert isinstance(eq.rhs, E.Scale) and eq.rhs.factor == sp.Rational(1, 2)
    e = parse_expression("np.power(A1,2)", NET)  # inside a call: an argument separator
    assert isinstance(e, E.Pointwise) and e.expr == e.params[0] ** 2


def test_powers_and_functions():
    assert parse_expression("2**3 * A1", NET).factor == 8
    e = parse_expression("np.exp(-Z1) / (1 + np.exp(-Z1))**2", NET)
    env, backend = oracle(NET)
    s = 1 / (1 + np.exp(-env["Z", 1]))
    assert np.allclose(ev(e, env, backend), s * (1 - s))
    e = parse_expression("np.log(A2) * Y", NET)
    assert np.allclose(ev(e, env, backend), np.log(env["A", 2]) * env["Y", None])


@pytest.mark.parametrize("net", [NET, ROWS], ids=["columns", "rows"])
def test_vocabulary_is_the_symbol_tables(net):
    """Every quantity of the symbol table is a name both syntaxes read, as the table's own symbol
    (one-letter ones in either case, but d and g: the gradient's prefix and the activation); the
    left side may name exactly the table's gradients. Layer 1 has dropout, so that its mask D and
    its G are in the table too; batch normalisation's quantities are read on a network whose
    layer 1 has batch norm (dropout is on dense layers only)."""
    dense = net.replace(keep_prob=0.8)
    table = SymbolTable(dense)
    for q in GLOBAL:
        assert parse_expression(q, dense) == table[q]
        assert q in known_names(dense.L)
    normed = net.replace(batchnorm=[1])
    dense_table = table

    def has(t: SymbolTable, q: str) -> bool:
        try:
            t[q, 1]
        except KeyError:
            return False
        return True

    for q in layered():
        net, table = (dense, dense_table) if has(dense_table, q) else (normed,
                                                                         SymbolTable(normed))
        assert parse_expression(f"{q}[1]", net) == table[q, 1]
        assert parse_expression(f"{q}^{{[1]}}", net, syntax="latex") == table[q, 1]
        assert f"{q}[l]" in known_names(net.L)
        stem = q[1:] if q.startswith("d") else q
        if len(stem) == 1 and stem.swapcase() not in ("d", "g"):
            other = ("d" if q.startswith("d") else "") + stem.swapcase()
            assert resolve_ident(other).base == q
    assert set(gradients()) == {q for q in layered() if q.startswith("d")}
    for q in gradients():
        net, table = (dense, dense_table) if has(dense_table, q) else (normed,
                                                                         SymbolTable(normed))
        assert parse_equation(f"{q}1 = {q}1", net).target == table[q, 1]


# -- issue 13's semi-math examples: the verdicts, golden -----------------------------------------
@pytest.mark.parametrize("text,net,verdict,note", [
    ("db1 = (1/m) Σ dZ1", TANH, "correct", "Σ dZ1: Σ read as the sum over the m examples"),
    ("dZ2 = softmax(Z2) - Y", SOFT, "correct",
     "softmax(Z2) read as A[2] (layer 2's activation is softmax)"),
    ("db1 = (1/m) Σ dZ2", TANH, "shape_error", "Σ dZ2: Σ read as the sum over the m examples"),
    ("db1 = Σ dZ1", TANH, "not_equivalent", "Σ dZ1: Σ read as the sum over the m examples"),
    ("dZ2 = softmax(Z2) + Y", SOFT, "not_equivalent",
     "softmax(Z2) read as A[2] (layer 2's activation is softmax)"),
])
def test_issue_13_semi_math_verdicts(text, net, verdict, note):
    from derive import check
    v = check(text, net)
    assert (v.verdict, v.target) == (verdict, text.split()[0].replace("1", "[1]").replace(
        "2", "[2]")), v.message
    assert note in v.notes


def test_sum_sign_needs_its_operand_and_softmax_of_another_layer_is_refused():
    with pytest.raises(ParseError, match="Σ needs what it sums"):
        parse_equation("db1 = 1/m Σ", NET)
    with pytest.raises(ParseError, match="not element-wise"):
        parse_equation("dZ2 = softmax(Z1) - Y", SOFT)  # Z1 is not softmax's input
