"""Why gradients vanish or explode, derived and checked with SymPy (the symbolic half of
``derive stability``).

Backprop multiplies Jacobians. For a dense layer a[l] = g(W[l] a[l-1] + b[l]) (columns convention,
one example) the Jacobian J[l] = ∂a[l]/∂a[l-1] is diag(g′(z[l])) W[l], and the error signal
δ[l] = ∂ℓ/∂a[l] travels back as δ[l-1] = J[l]ᵀ δ[l], so δ[0] = J[1]ᵀ ⋯ J[L]ᵀ δ[L]. Each function here
derives one piece of that story step by step and checks every claim it prints:

- :func:`layer_jacobian`  J = diag(g′(z)) W, against SymPy's ``jacobian`` entry by entry and
  against central finite differences;
- :func:`backprop_link`   δ[l-1] = J[l]ᵀ δ[l] is the engine's dA[l-1] = W[l]ᵀ dZ[l],
  dZ[l] = dA[l] ⊙ g′(Z[l]) (read from :func:`derive.engine.backward.derive`, not retyped);
- :func:`jacobian_bound`  ‖J[1]ᵀ⋯J[L]ᵀ‖₂ ≤ Π‖J[l]‖₂ ≤ Π sup|g′|·‖W[l]‖₂, with sup|g′| found by SymPy
  and compared with the catalogue's ``derivative_bound``;
- :func:`scaled_identity` linear layers with W = s·I: the product is s^L·I exactly;
- :func:`quadratic_descent` gradient descent on ½aθ²: θ_t = (1 − ηa)^t θ₀, stable iff 0 < η < 2/a.

>>> r = quadratic_descent()
>>> r.passed, r.facts["stable"]
(True, Interval.open(0, 2/a))
>>> scaled_identity().facts["product"]
s**L
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.calculus.util import maximum, minimum

from derive.catalogue import rules
from derive.core.expr import SympyBackend, evaluate
from derive.engine.backward import derive
from derive.errors import ProofFailure, SpecError
from derive.layers.dense import affine
from derive.network.layout import LAYOUTS
from derive.network.model import standin_activation, symbol_matrix
from derive.network.spec import Network

FD_STEP = 1e-6
MAX_OPS = 8  # larger derivatives (swish, gelu) are left to the numeric check on a grid
FD_TOLERANCE = 1e-7  # relative error ‖J − Ĵ‖ / (‖J‖ + ‖Ĵ‖), the course's gradient-check threshold
LAYOUT = LAYOUTS["columns"]  # one example is a column: z = W a + b


@dataclass(frozen=True)
class Claim:
    """One step of a derivation: a statement, how it was checked, and whether the check passed.

    ``passed`` is None for a step that explains (a definition, a rule applied) rather than checks.
    """

    title: str
    text: str
    latex: str
    check: str = ""
    passed: bool | None = None


@dataclass(frozen=True)
class SymbolicResult:
    """A derivation: its steps (claims), and the facts it established (SymPy objects, numbers)."""

    name: str
    title: str
    steps: tuple[Claim, ...]
    facts: Mapping[str, object] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(s.passed is not False for s in self.steps)

    def text(self) -> str:
        lines = [self.title]
        for i, s in enumerate(self.steps, 1):
            mark = {True: " ✓", False: " ✗ FAILED", None: ""}[s.passed]
            lines.append(f"  {i}. {s.title}: {s.text}{mark}")
            if s.check:
                lines.append(f"     check: {s.check}")
        return "\n".join(lines)


def _act(activation):
    """A catalogue activation (by name), None for a generic g; softmax is refused."""
    if activation is None or isinstance(activation, rules.Activation):
        act = activation
    else:
        act = rules.activations().lookup(str(activation))
    if act is not None and not act.elementwise:
        raise SpecError(
            f"{act.name} is not element-wise: its Jacobian is not diag(g′(z)) W "
            "(use an element-wise activation such as tanh, sigmoid or relu)"
        )
    return act


def _name(act) -> str:
    return act.name if act is not None else "generic g"


def _gprime(act, t: sp.Expr) -> sp.Expr:
    """g′ at the expression t: the catalogue's derivative, or Derivative(g(x), x) at x = t."""
    if act is None:
        x = sp.Dummy("x")
        return sp.diff(sp.Function("g")(x), x).subs(x, t)
    return act.derivative_at_z.subs(rules.z, t)


def _g(act, t: sp.Expr) -> sp.Expr:
    return sp.Function("g")(t) if act is None else act.forward.subs(rules.z, t)


def _numeric(act):
    """numpy forward and derivative: the catalogue's, or the model's smooth stand-in for g."""
    if act is None:
        act = standin_activation(1)
    return act.numpy_forward, act.numpy_derivative


# -- the Jacobian of one layer --------------------------------------------------------------------
def layer_jacobian(activation=None, n_out: int = 2, n_in: int = 3, seed: int = 0) -> SymbolicResult:
    """J = ∂a/∂a_prev for a = g(W a_prev + b): element-wise g′(z_i) W_ij, i.e. diag(g′(z)) W.

    Proven on an ``n_out``×``n_in`` instance with symbolic entries (SymPy's ``jacobian`` of the
    forward map minus diag(g′(z)) W simplifies to 0 in every entry) and by central differences.

    >>> r = layer_jacobian("sigmoid")
    >>> r.passed, r.facts["sympy_equal"], r.facts["fd_error"] < 1e-7
    (True, True, True)
    """
    act = _act(activation)
    W = sp.Matrix(n_out, n_in, lambda i, j: sp.Symbol(f"W_{i + 1}{j + 1}", real=True))
    ap = sp.Matrix(n_in, 1, lambda i, _: sp.Symbol(f"a_{i + 1}", real=True))
    b = sp.Matrix(n_out, 1, lambda i, _: sp.Symbol(f"b_{i + 1}", real=True))
    zv = affine(LAYOUT, W, ap, b)
    out = zv.applyfunc(lambda e: _g(act, e))
    J_sympy = out.jacobian(ap)
    D = sp.diag(*[_gprime(act, zv[i]) for i in range(n_out)])
    diff = (J_sympy - D * W).applyfunc(sp.simplify)
    sympy_equal = all(e == 0 for e in diff)

    fwd, der = _numeric(act)
    rng = np.random.default_rng(seed)
    kinks = [float(k) for k in act.kinks] if act is not None else []
    for _ in range(100):  # away from kinks (relu at 0), with some z on each side of one
        Wn, an, bn = rng.normal(size=(n_out, n_in)), rng.normal(size=n_in), rng.normal(size=n_out)
        zn = affine(LAYOUT, Wn, an, bn)
        if all(np.min(np.abs(zn - k)) > 0.05 and np.any(zn > k) and np.any(zn < k)
               for k in kinks):
            break
    f = lambda v: np.asarray(fwd(affine(LAYOUT, Wn, v, bn)), dtype=float) * np.ones(n_out)  # noqa: E731
    J_fd = np.empty((n_out, n_in))
    for j in range(n_in):
        e = np.zeros(n_in)
        e[j] = FD_STEP
        J_fd[:, j] = (f(an + e) - f(an - e)) / (2 * FD_STEP)
    J_formula = np.diag(np.asarray(der(zn), dtype=float) * np.ones(n_out)) @ Wn
    scale = np.linalg.norm(J_fd) + np.linalg.norm(J_formula)
    fd_error = float(np.linalg.norm(J_fd - J_formula) / scale) if scale > 0 else 0.0
    gp = f"{act.text}′" if act is not None else "g′"
    steps = (
        Claim("the layer", f"z = W a[l-1] + b, a[l] = {_name(act)}(z) (one example, columns)",
              r"z = W a^{[l-1]} + b,\quad a^{[l]} = g(z)"),
        Claim("one entry", f"∂a_i/∂a[l-1]_j = {gp}(z_i) · ∂z_i/∂a[l-1]_j = {gp}(z_i) W_ij "
              "(chain rule; z_i = Σ_k W_ik a[l-1]_k + b_i)",
              r"\frac{\partial a_i}{\partial a^{[l-1]}_j} = g'(z_i)\,W_{ij}"),
        Claim("as a matrix", "row i of J is g′(z_i) times row i of W: J[l] = diag(g′(z)) W",
              r"J^{[l]} = \operatorname{diag}(g'(z))\,W"),
        Claim("SymPy", f"jacobian(a[l], a[l-1]) − diag({gp}(z)) W = 0 on a {n_out}×{n_in} "
              "instance with symbolic entries",
              r"\operatorname{jacobian} - \operatorname{diag}(g'(z))W = 0",
              "each entry simplified to 0", sympy_equal),
        Claim("finite differences", f"central differences (h = {FD_STEP:g}) at seeded random W, "
              f"a, b: relative error {fd_error:.1e}",
              rf"\text{{relative error }} {fd_error:.1e}",
              f"below {FD_TOLERANCE:g}", fd_error < FD_TOLERANCE),
    )
    return SymbolicResult("jacobian", f"The Jacobian of a dense layer ({_name(act)})", steps,
                          {"sympy_equal": sympy_equal, "fd_error": fd_error,
                           "jacobian": J_sympy, "formula": D * W})


# -- δ[l-1] = J[l]ᵀ δ[l] is the engine's dA[l-1] ----------------------------------------------------
def backprop_link(activation=None, m: int = 2) -> SymbolicResult:
    """The engine's dA[l-1] = W[l]ᵀ dZ[l] with dZ[l] = dA[l] ⊙ g′(Z[l]) is δ[l-1] = J[l]ᵀ δ[l],
    column by column (J[l] depends on the example through z).

    The formulas are read from :func:`derive.engine.backward.derive` on a 2-layer network and evaluated
    on SymPy matrices; each column is compared with J[l]ᵀ δ[l] where J[l] is SymPy's jacobian.

    >>> r = backprop_link()
    >>> r.passed, r.facts["formulas"]
    (True, ('dZ[2] = dA[2] ⊙ g[2]′(Z[2])', 'dA[1] = W[2]ᵀ dZ[2]'))
    """
    act = _act(activation)
    n1, n2 = 3, 2
    net = Network(layers=(2, n1, n2), activations=(None, act.name if act is not None else None),
                  loss=None, convention=LAYOUT.name)
    d = derive(net, prove=False)
    fz, fa = d.formula("dZ", 2), d.formula("dA", 1)
    W = symbol_matrix("W", *LAYOUT.weight(n2, n1))
    A1 = symbol_matrix("A", *LAYOUT.batch(n1, m))
    b = symbol_matrix("b", *LAYOUT.bias(n2, 1))
    Z2 = affine(LAYOUT, W, A1, b)
    dA2 = symbol_matrix("δ", *LAYOUT.batch(n2, m))
    backend = SympyBackend(generic=act is None)
    env = {("W", 2): W, ("Z", 2): Z2, ("dA", 2): dA2, ("A", 1): A1, ("b", 2): b}
    env[("dZ", 2)] = evaluate(fz.expr, env, backend)
    dA1 = evaluate(fa.expr, env, backend)
    if not isinstance(dA1, sp.MatrixBase):
        raise ProofFailure(f"the engine's dA[1] evaluated to {type(dA1).__name__}, not a matrix")
    ok = True
    for t in range(m):  # example t is column t (LAYOUT: columns)
        a_col = A1[:, t]
        x = sp.Matrix(n1, 1, lambda i, _: sp.Symbol(f"x_{i}", real=True))
        fwd = affine(LAYOUT, W, x, b).applyfunc(lambda e: _g(act, e) if act is not None
                                                else sp.Function("g2")(e))
        J = fwd.jacobian(x).subs(dict(zip(x, a_col, strict=True)), simultaneous=True)
        ok &= all(sp.simplify(e) == 0 for e in (dA1[:, t] - J.T * dA2[:, t]))
    steps = (
        Claim("error signal", "δ[l] = ∂ℓ/∂a[l] is one column of dA[l]", r"\delta^{[l]} = "
              r"\partial\ell/\partial a^{[l]}"),
        Claim("chain rule", "δ[l-1] = J[l]ᵀ δ[l] = Wᵀ diag(g′(z)) δ[l] = Wᵀ (δ[l] ⊙ g′(z))",
              r"\delta^{[l-1]} = J^{[l]\top}\delta^{[l]} = W^{\top}(\delta^{[l]}\odot g'(z))"),
        Claim("the engine", f"{fz.text}; {fa.text}", f"{fz.latex};\\quad {fa.latex}"),
        Claim("SymPy", f"the engine's dA[1], column by column, equals J[2]ᵀ δ[2] ({m} examples, "
              "symbolic entries)", r"dA^{[1]}_{:,t} = J^{[2]\top}_t \delta^{[2]}_t",
              "each entry simplified to 0", ok),
    )
    return SymbolicResult("backprop", "Backprop is a product of transposed Jacobians", steps,
                          {"formulas": (fz.text, fa.text), "equal": ok})


# -- the norm bound ---------------------------------------------------------------------------------
def derivative_sup(activation) -> sp.Expr | None:
    """sup |g′| over the real line, found by SymPy; None when SymPy cannot find it.

    Textbook forms in a (sigmoid a(1 − a), tanh 1 − a²) are maximised over the activation's range;
    piecewise forms in z piece by piece.

    >>> derivative_sup("sigmoid"), derivative_sup("tanh"), derivative_sup("relu")
    (1/4, 1, 1)
    """
    act = _act(activation)
    d = act.derivative
    a, z = rules.a, rules.z
    if not d.free_symbols:
        return sp.Abs(d)
    if d.free_symbols == {a}:
        lo, hi = act.range
        return _sup_abs(d, a, sp.Interval.open(lo, hi))
    d = sp.piecewise_fold(act.derivative_at_z)
    if not isinstance(d, sp.Piecewise):
        return None if d.count_ops() > MAX_OPS else _sup_abs(d, z, sp.S.Reals)
    sups, covered = [], sp.S.EmptySet
    for expr, cond in d.args:
        where = (cond.as_set() if cond is not sp.true else sp.S.Reals) - covered
        covered = covered | where
        if where is sp.S.EmptySet:
            continue
        if expr.count_ops() > MAX_OPS:
            return None
        sups.append(_sup_abs(expr, z, where))
    return sp.Max(*sups) if None not in sups else None


def _sup_abs(expr: sp.Expr, var: sp.Symbol, domain: sp.Set) -> sp.Expr | None:
    if not expr.has(var):
        return sp.Abs(expr)
    try:
        hi, lo = maximum(expr, var, domain), minimum(expr, var, domain)
    except (NotImplementedError, ValueError):
        return None
    return sp.Max(sp.Abs(hi), sp.Abs(lo))


def jacobian_bound(activation="tanh") -> SymbolicResult:
    """‖J[1]ᵀ⋯J[L]ᵀ‖₂ ≤ Π‖J[l]‖₂ ≤ Π ‖diag(g′)‖₂ ‖W[l]‖₂ ≤ Π sup|g′| ‖W[l]‖₂, with sup|g′| derived
    by SymPy and compared with the catalogue's ``derivative_bound``.

    >>> r = jacobian_bound("sigmoid")
    >>> r.passed, r.facts["sup"], r.facts["catalogue"]
    (True, 1/4, 1/4)
    """
    act = _act(activation)
    sup = derivative_sup(act)
    cat = act.derivative_bound
    if sup is None:
        agree, how = None, "SymPy found no closed form; tests check the bound on a fine grid"
    else:
        agree, how = bool(sp.simplify(sup - cat) == 0), f"SymPy: sup|{act.text}′| = {sup}"
    steps = (
        Claim("transpose", "‖Aᵀ‖₂ = ‖A‖₂ (the same singular values)",
              r"\|A^\top\|_2 = \|A\|_2"),
        Claim("submultiplicative", "‖J[1]ᵀ⋯J[L]ᵀ‖₂ ≤ ‖J[1]‖₂ ⋯ ‖J[L]‖₂",
              r"\|J^{[1]\top}\cdots J^{[L]\top}\|_2 \le \prod_{l=1}^{L}\|J^{[l]}\|_2"),
        Claim("one layer", "‖J[l]‖₂ = ‖diag(g′(z)) W[l]‖₂ ≤ ‖diag(g′(z))‖₂ ‖W[l]‖₂, and "
              "‖diag(g′(z))‖₂ = maxᵢ |g′(zᵢ)| ≤ sup|g′|",
              r"\|J^{[l]}\|_2 \le \max_i |g'(z_i)|\,\|W^{[l]}\|_2 \le \sup|g'|\,\|W^{[l]}\|_2"),
        Claim(f"sup|{act.text}′|", f"{act.derivative_text}: sup = {sup if sup is not None else '?'};"
              f" catalogue derivative_bound = {cat}", rf"\sup|g'| = {sp.latex(cat)}",
              how, agree),
        Claim("so", f"‖δ[0]‖ ≤ ({cat})^L · Π‖W[l]‖₂ · ‖δ[L]‖: with {act.name} the gradient "
              f"can only grow if ‖W[l]‖₂ > {sp.nsimplify(1 / cat) if cat != 0 else 'oo'} on average",
              rf"\|\delta^{{[0]}}\| \le \left({sp.latex(cat)}\right)^L \prod_l \|W^{{[l]}}\|_2\,"
              r"\|\delta^{[L]}\|"),
    )
    return SymbolicResult("bound", f"The norm bound ({act.name})", steps,
                          {"sup": sup, "catalogue": cat})


# -- linear layers with W = s·I --------------------------------------------------------------------
def scaled_identity(n: int = 2, depth: int = 4) -> SymbolicResult:
    """Linear layers with W[l] = s·I: J[l] = s·I and J[1]ᵀ⋯J[L]ᵀ = s^L·I exactly.

    Checked for L = 1..``depth`` on n×n symbolic matrices, then for every L by induction with a
    symbolic L; the limits as L → ∞ give the three regimes.

    >>> r = scaled_identity()
    >>> r.passed, r.facts["limits"]
    (True, {'1/2': 0, '1': 1, '3/2': oo})
    """
    s = sp.Symbol("s", positive=True)
    L = sp.Symbol("L", integer=True, positive=True)
    I = sp.eye(n)
    W = s * I
    x = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"a_{i}", real=True))
    b = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"b_{i}", real=True))
    J = affine(LAYOUT, W, x, b).jacobian(x)  # linear activation: g′ = 1
    j_ok = J == s * I
    P = sp.eye(n)
    small_ok = True
    for k in range(1, depth + 1):
        P = J.T * P
        small_ok &= sp.simplify(P - s**k * I) == sp.zeros(n)
    a, fwd_ok = x, True
    for k in range(1, depth + 1):  # the forward pass with b = 0
        a = affine(LAYOUT, W, a)
        fwd_ok &= sp.simplify(a - s**k * x) == sp.zeros(n, 1)
    induction = sp.simplify((J.T * (s**L * I)) - s ** (L + 1) * I) == sp.zeros(n)
    limits = {str(v): sp.limit(v**L, L, sp.oo) for v in (sp.Rational(1, 2), 1, sp.Rational(3, 2))}
    steps = (
        Claim("Jacobian", "g = id, g′ = 1: J[l] = diag(1) (s·I) = s·I (SymPy jacobian of s·I a + b)",
              r"J^{[l]} = sI", "SymPy jacobian", j_ok),
        Claim("small L", f"J[1]ᵀ⋯J[L]ᵀ = s^L·I for L = 1..{depth} ({n}×{n}, symbolic s)",
              r"J^{[1]\top}\cdots J^{[L]\top} = s^L I", "SymPy matrix products", small_ok),
        Claim("induction", "if the product of L is s^L·I, then (s·I)ᵀ s^L·I = s^(L+1)·I "
              "(symbolic L)", r"(sI)^\top s^L I = s^{L+1} I", "SymPy simplify", induction),
        Claim("so", "δ[0] = s^L δ[L] and ‖δ[0]‖ = s^L ‖δ[L]‖: s = 1 (identity) keeps every "
              "gradient norm; s > 1 explodes, s < 1 vanishes, geometrically in L",
              r"\|\delta^{[0]}\| = s^L \|\delta^{[L]}\|"),
        Claim("limits", "L → ∞: (1/2)^L → 0, 1^L = 1, (3/2)^L → ∞",
              r"\lim_{L\to\infty} s^L = 0,\ 1,\ \infty", "SymPy limit",
              limits == {"1/2": 0, "1": 1, "3/2": sp.oo}),
        Claim("forward too", "with b = 0 also A[L] = s^L X: the activations explode or vanish "
              "with the same factor, not only the gradients", r"A^{[L]} = s^L X",
              f"SymPy: W(⋯(W x)) = s^L x for L = 1..{depth}", fwd_ok),
    )
    return SymbolicResult("scaled_identity", "Linear layers with W[l] = s·I", steps,
                          {"product": s**L, "limits": limits})


# -- gradient descent on ½aθ² ----------------------------------------------------------------------
def quadratic_descent() -> SymbolicResult:
    """Gradient descent on L(θ) = ½aθ² (a > 0): θ_t = (1 − ηa)^t θ₀, stable iff 0 < η < 2/a.

    The regimes of r = 1 − ηa come from SymPy's inequality solver: 0 < r < 1 (monotone shrink),
    −1 < r < 0 (oscillating shrink), r < −1 (oscillating explode), r > 1 (explode).

    >>> quadratic_descent().facts["regimes"]["oscillating shrink"]
    Interval.open(1/a, 2/a)
    """
    a = sp.Symbol("a", positive=True)
    eta = sp.Symbol("eta", real=True)
    th, th0 = sp.symbols("theta theta_0", real=True)
    t = sp.Symbol("t", integer=True, nonnegative=True)
    loss = a * th**2 / 2
    grad = sp.diff(loss, th)
    update = sp.factor(th - eta * grad)  # θ(1 − ηa), up to SymPy's sign order
    r = 1 - eta * a
    upd_ok = sp.simplify(update - r * th) == 0
    unrolled = [th0]
    for _ in range(3):
        unrolled.append(sp.expand(unrolled[-1] - eta * grad.subs(th, unrolled[-1])))
    unroll_ok = all(sp.simplify(unrolled[k] - r**k * th0) == 0 for k in range(4))
    induction = sp.simplify(r * (r**t * th0) - r ** (t + 1) * th0) == 0

    def solve(*conds):
        if len(conds) == 1:
            return sp.solve_univariate_inequality(conds[0], eta, relational=False)
        return _open_interval(sp.reduce_inequalities(list(conds), eta), eta)

    left, right = solve(r > -1), solve(r < 1)
    stable = solve(sp.Abs(r) < 1)
    both_ok = solve(r > -1, r < 1) == stable == sp.Interval.open(0, 2 / a)
    regimes = {
        "monotone shrink": solve(r > 0, r < 1),
        "oscillating shrink": solve(r > -1, r < 0),
        "oscillating explode": solve(r < -1),
        "explode": solve(r > 1),
    }
    regimes_ok = regimes == {
        "monotone shrink": sp.Interval.open(0, 1 / a),
        "oscillating shrink": sp.Interval.open(1 / a, 2 / a),
        "oscillating explode": sp.Interval.open(2 / a, sp.oo),
        "explode": sp.Interval.open(-sp.oo, 0),
    }
    ltx = sp.latex
    steps = (
        Claim("loss", "L(θ) = ½aθ², a > 0; L′(θ) = aθ", r"L(\theta) = \tfrac12 a\theta^2,"
              r"\ L'(\theta) = a\theta", "SymPy diff", grad == a * th),
        Claim("one step", "θ_{t+1} = θ_t − η L′(θ_t) = (1 − ηa) θ_t = r θ_t",
              r"\theta_{t+1} = (1-\eta a)\,\theta_t", "SymPy simplify", upd_ok),
        Claim("unroll", "θ₁ = rθ₀, θ₂ = r²θ₀, θ₃ = r³θ₀ (three updates, symbolic)",
              r"\theta_3 = r^3\theta_0", "SymPy expand", unroll_ok),
        Claim("induction", "r·(r^t θ₀) = r^(t+1) θ₀, so θ_t = (1 − ηa)^t θ₀ for every t",
              r"\theta_t = (1-\eta a)^t\theta_0", "SymPy simplify", induction),
        Claim("left", f"−1 < 1 − ηa ⇔ η ∈ {_itext(left)}", rf"-1 < 1-\eta a \iff \eta \in {ltx(left)}",
              "solve_univariate_inequality"),
        Claim("right", f"1 − ηa < 1 ⇔ η ∈ {_itext(right)}", rf"1-\eta a < 1 \iff \eta \in {ltx(right)}",
              "solve_univariate_inequality"),
        Claim("stable", f"|1 − ηa| < 1 ⇔ η ∈ {_itext(stable)}: 0 < η < 2/a",
              rf"|1-\eta a| < 1 \iff 0 < \eta < {ltx(2 / a)}",
              "both sides together (reduce_inequalities) equal SymPy's direct solution of |r| < 1", both_ok),
        Claim("regimes", "; ".join(f"{k}: η ∈ {_itext(v)}" for k, v in regimes.items()) +
              " (r = 0 at η = 1/a: one step; r = −1 at η = 2/a: bounded oscillation)",
              r",\ ".join(rf"\text{{{k}}}: \eta\in {ltx(v)}" for k, v in regimes.items()),
              "reduce_inequalities / solve_univariate_inequality", regimes_ok),
    )
    return SymbolicResult("quadratic", "Gradient descent on ½aθ²: repeated multiplication",
                          steps, {"stable": stable, "regimes": regimes, "r": r})


def _itext(iv: sp.Set) -> str:
    """(0, 2/a) for Interval.open(0, 2/a)."""
    if not isinstance(iv, sp.Interval):
        return str(iv)
    end = {sp.oo: "∞", -sp.oo: "−∞"}
    lo, hi = (end.get(v, str(v)) for v in (iv.start, iv.end))
    return f"{'(' if iv.left_open else '['}{lo}, {hi}{')' if iv.right_open else ']'}"


def _open_interval(cond, var: sp.Symbol) -> sp.Interval:
    """The interval an And of strict bounds on ``var`` describes (SymPy's ``as_set`` refuses one
    with a symbolic bound such as 2/a)."""
    lo, hi = -sp.oo, sp.oo
    for rel in sp.And.make_args(cond):
        lhs, rhs, op = rel.lhs, rel.rhs, rel.rel_op
        if op not in ("<", ">") or var not in (lhs, rhs):
            raise ProofFailure(f"unexpected condition {rel} from the inequality solver")
        if op == ">":
            lhs, rhs = rhs, lhs  # now lhs < rhs
        if lhs == var:
            hi = rhs
        else:
            lo = lhs
    return sp.Interval.open(lo, hi)


def symbolic_stability(activation="tanh", strict: bool = True) -> tuple[SymbolicResult, ...]:
    """Every symbolic result, for one activation; ``strict`` raises ProofFailure if one fails."""
    results = (
        layer_jacobian(None),
        layer_jacobian(activation),
        backprop_link(None),
        jacobian_bound(activation),
        scaled_identity(),
        quadratic_descent(),
    )
    if strict:
        for r in results:
            if not r.passed:
                bad = next(s for s in r.steps if s.passed is False)
                raise ProofFailure(f"{r.title}: step {bad.title!r} did not check: {bad.check}")
    return results
