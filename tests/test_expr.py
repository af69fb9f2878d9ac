"""The expression nodes, one class each: shape rules and their messages, numpy against SymPy
evaluation, the SymPy matrix-expression forms against SymPy's own ``as_explicit``, golden strings
where the tests and docs already pin them, and a node defined here (``Square``) that works with
every function of the language without touching any of them."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy as sp

from derive.catalogue.rules import activations
from derive.core import expr as E
from derive.core.names import z
from derive.core.node import ATOM, Backend, Ev, Expr, Shape, wrap_code, wrap_latex, wrap_text
from derive.core.printing import to_code, to_latex, to_text
from derive.errors import ShapeMismatch

a, y = sp.symbols("a y", real=True)
N, P, M = sp.Integer(2), sp.Integer(3), sp.Integer(4)  # concrete sizes for numbers


@dataclass(frozen=True)
class Smooth:
    """An activation made here (g(z) = tanh z + z/3): core asks only for these attributes."""

    name: str = "smooth"
    kind: str = "elementwise"
    text: str = "smooth"
    latex: str = r"\operatorname{smooth}"
    derivative_numpy: str = "1 - np.tanh(Z)**2 + 1/3"
    forward: sp.Expr = field(default=sp.tanh(z) + z / 3)

    @property
    def elementwise(self) -> bool:
        return self.kind == "elementwise"

    @property
    def derivative_at_z(self) -> sp.Expr:
        return sp.diff(self.forward, z)

    @functools.cached_property
    def numpy_forward(self):
        return sp.lambdify(z, self.forward, [np])

    @functools.cached_property
    def numpy_derivative(self):
        return sp.lambdify(z, self.derivative_at_z, [np])


SMOOTH = Smooth()
W = E.Sym("W", 2, (N, P))
A1 = E.Sym("A", 1, (P, M))
Z2 = E.Sym("Z", 2, (N, M))
Y = E.Sym("Y", None, (N, M))
b2 = E.Sym("b", 2, (N, sp.Integer(1)))

# every node class, with whether its to_sympy() is a faithful SymPy matrix expression (True), a
# named matrix symbol (False, SymPy has no form of it) or refused by SymPy ("broadcast": SymPy's
# matrix sums and products do not broadcast, so Z = W A + b has no SymPy form)
CASES: dict[str, tuple[Expr, bool | str]] = {
    "Sym": (Z2, True),
    "Ones": (E.Ones((N, M)), True),
    "Scalar": (E.Scalar(sp.Rational(1, 3)), True),
    "MatMul": (E.MatMul(W, A1), True),
    "Hadamard": (E.Hadamard(Z2, Y), True),
    "Hadamard broadcast": (E.Hadamard(Z2, b2, broadcast=True), "broadcast"),
    "Add": (E.Add(Z2, Y), True),
    "Add broadcast": (E.Add(E.MatMul(W, A1), b2, broadcast=True), "broadcast"),
    "Sub": (E.Sub(Z2, Y), True),
    "Div": (E.Div(Z2, Y), False),
    "Scale": (E.Scale(sp.Rational(1, 4), Z2), True),
    "Transpose": (E.Transpose(W), True),
    "Sum axis 0": (E.Sum(Z2, 0), True),
    "Sum axis 1": (E.Sum(Z2, 1), True),
    "Sum all": (E.Sum(Z2, None), True),
    "Deriv": (E.Deriv(SMOOTH, 2, Z2), False),
    "Deriv catalogue": (E.Deriv(activations()["sigmoid"], 2, Z2), False),
    "Act": (E.Act(SMOOTH, 2, Z2), False),
    "Act catalogue": (E.Act(activations()["tanh"], 2, Z2), False),
    "Pointwise": (E.Pointwise((a - y) * a, (a, y), (Z2, Y)), False),
}
NODE_CLASSES = {E.Sym, E.Ones, E.Scalar, E.MatMul, E.Hadamard, E.Add, E.Sub, E.Div, E.Scale,
                E.Transpose, E.Sum, E.Deriv, E.Act, E.Pointwise}


def _values(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    # positive entries: Y is also a divisor
    return {s.key: rng.uniform(0.5, 2.0, size=tuple(int(d) for d in s.shape))
            for s in (W, A1, Z2, Y, b2)}


def _sympy_env(values: dict) -> dict:
    return {k: sp.Matrix(v) for k, v in values.items()}


def _as_float(v) -> np.ndarray:
    return np.array(sp.Matrix(v).evalf(), dtype=float) if isinstance(v, sp.MatrixBase) else v


def test_every_node_class_has_a_case():
    assert {type(e) for e, _ in CASES.values()} == NODE_CLASSES


# -- (a) shape rules ----------------------------------------------------------------------------
def test_shape_rules():
    one = sp.Integer(1)
    want = {
        "Sym": (N, M), "Ones": (N, M), "Scalar": (one, one), "MatMul": (N, M), "Hadamard": (N, M),
        "Hadamard broadcast": (N, M), "Add": (N, M), "Add broadcast": (N, M), "Sub": (N, M),
        "Div": (N, M), "Scale": (N, M), "Transpose": (P, N), "Sum axis 0": (one, M),
        "Sum axis 1": (N, one), "Sum all": (one, one), "Deriv": (N, M), "Deriv catalogue": (N, M),
        "Act": (N, M), "Act catalogue": (N, M), "Pointwise": (N, M),
    }
    assert {k: e.shape for k, (e, _) in CASES.items()} == want


n1, n2, m = sp.symbols("n1 n2 m")
S_dZ, S_W = E.Sym("dZ", 2, (n2, m)), E.Sym("W", 2, (n2, n1))
S_Z, S_b, S_A = E.Sym("Z", 2, (n2, m)), E.Sym("b", 2, (n2, 1)), E.Sym("A", 1, (n1, m))

MISMATCHES = [
    # the first one is pinned by tests/test_check.py and the module docstring
    (lambda: E.MatMul(S_dZ, E.Transpose(S_W)),
     "matrix product dZ[2] and W[2]ᵀ: (n2×m)·(n1×n2) — inner dimensions m and n1 differ"),
    (lambda: E.Hadamard(S_Z, S_b),
     "element-wise product Z[2] and b[2]: (n2×m) and (n2×1) — columns m and 1 differ "
     "(an element-wise operation needs equal shapes)"),
    (lambda: E.Hadamard(S_Z, S_A, broadcast=True),
     "element-wise product Z[2] and A[1]: (n2×m) and (n1×m) — rows n2 and n1 differ"),
    (lambda: E.Add(S_Z, S_b),
     "sum Z[2] and b[2]: (n2×m) and (n2×1) — columns m and 1 differ "
     "(an element-wise operation needs equal shapes)"),
    (lambda: E.Sub(S_Z, S_A),
     "difference Z[2] and A[1]: (n2×m) and (n1×m) — rows n2 and n1 differ "
     "(an element-wise operation needs equal shapes)"),
    (lambda: E.Div(S_Z, S_b),
     "element-wise division Z[2] and b[2]: (n2×m) and (n2×1) — columns m and 1 differ "
     "(an element-wise operation needs equal shapes)"),
    (lambda: E.Pointwise(a - y, (a, y), (S_Z, S_A)),
     "element-wise expression Z[2] and A[1]: (n2×m) and (n1×m) — rows n2 and n1 differ "
     "(an element-wise operation needs equal shapes)"),
]


@pytest.mark.parametrize("build, message", MISMATCHES)
def test_shape_mismatch_names_the_operation_the_operands_and_the_shapes(build, message):
    with pytest.raises(ShapeMismatch) as info:
        build()
    assert str(info.value) == message


def test_a_scalar_scales_an_element_wise_product_without_broadcast():
    two = E.Scalar(sp.Integer(2))
    assert E.Hadamard(two, S_Z).shape == (n2, m)
    assert E.Div(S_Z, two).shape == (n2, m)
    assert E.Scale(2, S_Z).shape == E.Transpose(E.Transpose(S_Z)).shape == (n2, m)
    assert E.Act(None, 2, S_Z).shape == E.Deriv(None, 2, S_Z).shape == (n2, m)


def test_an_operand_is_named_as_written():
    W_src = E.Sym("W", 2, (n2, n1), src="W2")
    with pytest.raises(ShapeMismatch, match=r"^matrix product dZ\[2\] and W2:"):
        E.MatMul(S_dZ, W_src)


# -- (b) one evaluator, two backends --------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_evaluation_equals_sympy_evaluation(name):
    e, _ = CASES[name]
    values = _values()
    got = E.evaluate(e, values, E.NumpyBackend())
    want = _as_float(E.evaluate(e, _sympy_env(values), E.SympyBackend()))
    assert got.shape == want.shape == tuple(int(d) for d in e.shape)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_batched_numpy_evaluation_is_per_instance():
    e = E.Hadamard(E.Add(E.MatMul(W, A1), b2, broadcast=True), E.Deriv(SMOOTH, 2, Z2))
    stacks = [_values(seed) for seed in (1, 2, 3)]
    batched = {k: np.stack([s[k] for s in stacks]) for k in stacks[0]}
    got = E.evaluate(e, batched, E.NumpyBackend())
    for i, single in enumerate(stacks):
        assert np.allclose(got[i], E.evaluate(e, single, E.NumpyBackend()))


def test_a_generic_activation_uses_the_stand_in_in_numpy_and_g_in_sympy():
    e = E.Deriv(None, 2, Z2)
    values = _values()
    got = E.evaluate(e, values, E.NumpyBackend({2: SMOOTH}))
    assert np.allclose(got, SMOOTH.numpy_derivative(values["Z", 2]))
    sym = E.evaluate(E.Act(None, 2, E.Sym("Z", 2, (1, 1))), {("Z", 2): sp.Matrix([[z]])},
                     E.SympyBackend(generic=True))
    assert sym == sp.Matrix([[sp.Function("g2")(z)]])


def test_a_missing_symbol_names_it_and_carries_its_key():
    with pytest.raises(E.MissingValue) as info:
        E.evaluate(E.MatMul(W, A1), {("W", 2): np.ones((2, 3))}, E.NumpyBackend())
    assert info.value.args[0] == "no value for A[1]" and info.value.key == ("A", 1)
    assert isinstance(info.value, KeyError)


# -- (c) the SymPy forms, evaluated by SymPy itself ------------------------------------------------
def _explicit(e: Expr, values: dict) -> np.ndarray:
    form = e.to_sympy()
    subs = {sp.MatrixSymbol(s.text, *s.shape): sp.ImmutableMatrix(values[s.key])
            for s in e.symbols()}
    out = form.subs(subs)
    if isinstance(out, sp.MatrixExpr):
        out = out.as_explicit()
    return np.array(sp.Matrix(out) if isinstance(out, sp.MatrixBase) else [[out]], dtype=float)


@pytest.mark.parametrize("name", sorted(k for k, (_, form) in CASES.items() if form is True))
def test_the_sympy_form_evaluated_by_sympy_equals_our_value(name):
    e, _ = CASES[name]
    values = _values(4)
    assert np.allclose(_explicit(e, values), E.evaluate(e, values, E.NumpyBackend()))


@pytest.mark.parametrize("name", sorted(k for k, (_, form) in CASES.items() if form is False))
def test_a_node_without_a_faithful_sympy_form_is_a_named_matrix_symbol(name):
    e, _ = CASES[name]
    assert e.to_sympy() == sp.MatrixSymbol(to_text(e), *e.shape)


@pytest.mark.parametrize("name", sorted(k for k, (_, form) in CASES.items() if form == "broadcast"))
def test_sympy_refuses_a_broadcast(name):
    e, _ = CASES[name]
    with pytest.raises(sp.ShapeError):
        e.to_sympy()


# -- (d) printing: strings pinned elsewhere (tests/test_backward.py, tests/test_handout.py,
# tests/test_cli_backward.py and derive/core/printing.py) ------------------------------------------
L_ = sp.Integer(1) / m
T_W2, T_dZ2, T_Z1 = E.Sym("W", 2, (n2, n1)), E.Sym("dZ", 2, (n2, m)), E.Sym("Z", 1, (n1, m))
T_dZ1, T_X, T_A1 = E.Sym("dZ", 1, (n1, m)), E.Sym("X", None, (sp.Symbol("n0"), m)), S_A
T_A2, T_dA2, T_Y = E.Sym("A", 2, (n2, m)), E.Sym("dA", 2, (n2, m)), E.Sym("Y", None, (n2, m))
GOLDEN = [
    (E.Hadamard(E.MatMul(E.Transpose(T_W2), T_dZ2), E.Deriv(activations()["relu"], 1, T_Z1)),
     "W[2]ᵀ dZ[2] ⊙ relu′(Z[1])",
     r"W^{[2]\top} dZ^{[2]} \odot \operatorname{ReLU}^{\prime}(Z^{[1]})",
     "np.dot(W2.T, dZ2) * np.int64(Z1 > 0)"),
    (E.Scale(L_, E.MatMul(T_dZ1, E.Transpose(T_X))),
     "(1/m) dZ[1] Xᵀ", r"\frac{1}{m} dZ^{[1]} X^{\top}", "(1/m) * np.dot(dZ1, X.T)"),
    (E.Scale(L_, E.MatMul(T_dZ2, E.Transpose(T_A1))),
     "(1/m) dZ[2] A[1]ᵀ", r"\frac{1}{m} dZ^{[2]} A^{[1]\top}", None),
    (E.Scale(L_, E.Sum(T_dZ1, 1)), None, None, "(1/m) * np.sum(dZ1, axis=1, keepdims=True)"),
    (E.Hadamard(T_A2, E.Sub(T_dA2, E.Sum(E.Hadamard(T_A2, T_dA2), 0), broadcast=True)),
     "A[2] ⊙ (dA[2] − sum(A[2] ⊙ dA[2], axis=0))", None, None),
    (E.Hadamard(T_dA2, E.Deriv(None, 2, E.Sym("Z", 2, (n2, m)))), "dA[2] ⊙ g[2]′(Z[2])", None,
     None),
    (E.Pointwise(a - y, (a, y), (T_A2, T_Y)), None, "A^{[2]} - Y", None),
    (E.Hadamard(E.MatMul(E.Sym("dZ", 2, (m, n2)), E.Transpose(E.Sym("W", 2, (n1, n2)))),
                E.Deriv(activations()["tanh"], 1, E.Sym("Z", 1, (m, n1)))),
     "dZ[2] W[2]ᵀ ⊙ tanh′(Z[1])", None, None),  # rows
]


@pytest.mark.parametrize("e, text, latex, code", GOLDEN)
def test_printing_golden(e, text, latex, code):
    for want, printer, method in ((text, to_text, e.to_text), (latex, to_latex, e.to_latex),
                                  (code, to_code, e.to_code)):
        if want is not None:
            assert printer(e) == method() == want


def test_str_and_repr_latex_print_the_node():
    e = E.Transpose(T_W2)
    assert str(e) == "W[2]ᵀ" and e._repr_latex_() == r"$W^{[2]\top}$"


# -- a node defined here: one class, and every function of the language takes it -------------------
@dataclass(frozen=True)
class Square(Expr):
    """X ⊙ X, entry by entry: its shape rule, value, SymPy form and printing, all here."""

    arg: Expr
    src: str | None = field(default=None, compare=False)

    @property
    def shape(self) -> Shape:
        return self.arg.shape

    def children(self):
        return (self.arg,)

    def compute(self, backend: Backend, ev: Ev, env):
        x = ev(self.arg)
        return backend.multiply(x, x)

    def to_sympy(self):
        return sp.HadamardPower(self.arg.to_sympy(), 2)

    def to_text(self) -> str:
        return f"{wrap_text(self.arg, ATOM)}²"

    def to_latex(self) -> str:
        return f"{wrap_latex(self.arg, ATOM)}^{{2}}"

    def to_code(self) -> str:
        return f"{wrap_code(self.arg, ATOM)} ** 2"


def test_a_new_node_is_one_class():
    sq = Square(E.Sub(Z2, Y))
    e = E.Scale(sp.Rational(1, 2), E.Hadamard(sq, Z2))
    values = _values(5)
    want = 0.5 * (values["Z", 2] - values["Y", None]) ** 2 * values["Z", 2]
    assert np.allclose(E.evaluate(e, values, E.NumpyBackend()), want)
    assert np.allclose(_as_float(E.evaluate(e, _sympy_env(values), E.SympyBackend())), want)
    assert np.allclose(_explicit(e, values), want)
    assert to_text(e) == "(1/2) ((Z[2] − Y)² ⊙ Z[2])"
    assert to_latex(e) == r"\frac{1}{2} \left(\left(Z^{[2]} - Y\right)^{2} \odot Z^{[2]}\right)"
    assert to_code(e) == "(1/2) * (Z2 - Y) ** 2 * Z2"
    assert e.symbols() == {Z2, Y} and str(Square(Y)) == "Y²"
    # the tree rewrites rebuild it like any node
    renamed = E.map_children(sq, lambda c: E.map_children(c, lambda _: E.Sym("A", 2, (N, M))))
    assert to_text(renamed) == "(A[2] − A[2])²"
    # and an operand clash names it as printed
    with pytest.raises(ShapeMismatch, match=r"^matrix product \(Z\[2\] − Y\)² and W\[2\]"):
        E.MatMul(sq, W)


def test_a_node_without_a_rule_says_so():
    @dataclass(frozen=True)
    class Bare(Expr):
        shape: Shape

    with pytest.raises(TypeError, match="cannot evaluate Bare"):
        E.evaluate(Bare((N, M)), {}, E.NumpyBackend())
    with pytest.raises(TypeError, match="Bare"):
        to_text(Bare((N, M)))


def test_a_transpose_of_a_superscripted_name_is_one_superscript():
    from derive.core.matrix import transpose_latex

    assert transpose_latex("A^{[1]}") == r"A^{[1]\top}"  # not A^{[1]}^{\top}, a LaTeX error
    assert transpose_latex("X") == r"X^{\top}"
    assert transpose_latex(r"\begin{bmatrix} 1 \end{bmatrix}") == r"\begin{bmatrix} 1 \end{bmatrix}^{\top}"
    assert transpose_latex(r"\left(x\right)") == r"\left(x\right)^{\top}"
    assert transpose_latex(r"g^{[1]\prime}(Z^{[1]})") == r"g^{[1]\prime}(Z^{[1]})^{\top}"
