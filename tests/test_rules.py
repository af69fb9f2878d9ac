"""One table-driven test over the whole catalogue: every textbook derivative is proven."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from derive.catalogue import rules
from derive.core.fd import relative_error
from derive.engine.backward import derive
from derive.engine.values import forward_env, gradient_values
from derive.errors import SpecError
from derive.network.model import random_instance
from derive.network.spec import Network

ELEMENTWISE = [
    rules.activations()[name]
    for name in rules.activations()
    if rules.activations()[name].elementwise
]


def test_catalogue_has_what_the_issue_asks_for():
    acts = set(rules.activations())
    assert {
        "linear",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "softmax",
        "softplus",
        "elu",
        "swish",
        "gelu",
    } <= acts
    assert set(rules.losses()) == {"bce", "ce", "mse", "half_mse", "mse_units", "svm"}
    assert rules.losses()["sse"].name == "mse"  # Σ, no ½: sse is its alias, not mse_units'
    for alias in ("mean_squared_error", "mse_mean"):
        assert rules.losses()[alias].name == "mse_units"
    assert "mean squared error over the output units" in rules.losses()["mse_units"].title


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_textbook_derivative_equals_sympy_diff(act):
    z = rules.z
    difference = sp.diff(act.forward, z) - act.derivative_at_z
    assert sp.simplify(sp.piecewise_fold(difference)) == 0


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_textbook_derivative_matches_finite_differences(act):
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, size=(1, 50))
    for k in act.kinks:  # stay away from kinks
        x = x[:, np.abs(x[0] - float(k)) > 1e-2]
    numeric = _fd_elementwise(act, x)
    analytic = np.asarray(act.numpy_derivative(x), dtype=float) * np.ones_like(x)
    assert relative_error(analytic, numeric) < 1e-8


def _fd_elementwise(act, x, eps=1e-6):
    f = act.numpy_forward
    return (np.asarray(f(x + eps), dtype=float) - np.asarray(f(x - eps), dtype=float)) / (2 * eps)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_derivative_bound_is_the_supremum(act):
    grid = np.linspace(-12, 12, 240001)
    values = np.abs(np.asarray(act.numpy_derivative(grid), dtype=float) * np.ones_like(grid))
    bound = float(act.derivative_bound)
    assert values.max() <= bound + 1e-9
    assert values.max() >= 0.99 * bound


def test_kink_values_are_stated_choices():
    acts = rules.activations()
    assert acts["relu"].numpy_derivative(np.array(0.0)) == 0  # relu'(0) = 0, as numpy's (Z > 0)
    assert acts["leaky_relu"].numpy_derivative(np.array(0.0)) == pytest.approx(0.01)
    for name in ("relu", "leaky_relu", "elu"):
        assert acts[name].kinks == (0,)


@pytest.mark.parametrize("loss", list(rules.losses()), ids=str)
def test_loss_gradient_is_sympy_diff(loss):
    entry = rules.losses()[loss]
    assert sp.simplify(entry.gradient - sp.diff(entry.per_unit, rules.a)) == 0


def test_names_and_aliases_resolve_case_insensitively():
    acts = rules.activations()
    assert acts["σ"].name == acts["Logistic"].name == "sigmoid"
    assert acts["SiLU"].name == "swish"
    assert rules.losses()["cross_entropy"].name == "ce"


def test_unknown_name_lists_the_choices():
    with pytest.raises(SpecError, match=r"unknown activation 'sigmod'; known: linear, sigmoid"):
        rules.activations().lookup("sigmod")


def test_duplicate_name_is_an_error():
    a = rules.activations()["relu"]
    clash = replace(a, name="other", aliases=("ReLU",))
    with pytest.raises(SpecError, match="used twice"):
        rules._Registry([a, clash], "activation")


def test_identities_cite_sources():
    for name in rules.identities():
        ident = rules.identities()[name]
        assert ident.source and ident.index and ident.index_latex


# -- the printed templates: every one checked against SymPy's diff of the forward definition ----
# The catalogue's derivative_text and derivative_numpy are how the tool prints g′ (step notes,
# worked examples, numpy code); they are hand-typed in the course's style, so each is checked
# here: the numpy code is run (trusted catalogue text, in a namespace holding only numpy and the
# template's variables), the text is read into SymPy by a small translation plus the catalogue's
# own ast reader (no eval), and both must equal SymPy's diff of `forward` on a grid away from
# kinks, and the catalogue's stated value at each kink.
GRID = np.linspace(-4, 4, 161)


def _away_from_kinks(act) -> np.ndarray:
    keep = np.ones_like(GRID, dtype=bool)
    for k in act.kinks:
        keep &= np.abs(GRID - float(k)) > 1e-3
    return GRID[keep]


def _sympy_diff(act, x: np.ndarray) -> np.ndarray:
    """g′ by SymPy's diff of the forward definition, as numbers (the reference)."""
    fn = sp.lambdify(rules.z, sp.diff(act.forward, rules.z), "numpy")
    return np.asarray(fn(x), dtype=float) * np.ones_like(x)


def run_numpy_template(code: str, **arrays) -> np.ndarray:
    """A catalogue snippet run as the printed numpy code runs: numpy as np, and its variables."""
    return eval(code, {"__builtins__": {}, "np": np, **arrays})  # trusted catalogue text


_GLYPHS = {"⊙": "*", "·": "*", "−": "-", "²": "**2", "³": "**3", "½": "(1/2)", "π": "pi",
           "α": "alpha", "√": "sqrt", "ₖ": "", "Σ": "", "Z": "z", "A": "a"}
_LATEX = {r"\bigl(": "(", r"\bigr)": ")", r"\sum_k": "", r"\tfrac{1}{2}": "(1/2)", r"\frac{1}{n}": "(1/n)",
          r"\log": " log ", "_k": "", "^2": "**2"}
_FUNCTIONS = {"log", "exp", "tanh", "sqrt", "Piecewise"}
_TOKEN = re.compile(r"\d+\.\d+|\d+|[A-Za-z_]\w*|\*\*|[-+*/(),<>]|\S")


def math_as_python(text: str) -> str:
    """The catalogue's semi-math text in Python syntax: glyphs replaced, ``x where c, else y``
    as a Piecewise, σ(x) written out, juxtaposition as ``*``, ``log a`` as ``log(a)``."""
    text = re.sub(r"σ\(([^()]*)\)", r"(1/(1 + exp(-(\1))))", text)
    for glyph, python in _GLYPHS.items():
        text = text.replace(glyph, python)
    cases = re.fullmatch(r"(.+) where (.+), else (.+)", text)
    if cases:
        text = f"Piecewise(({cases[1]}, {cases[2]}), ({cases[3]}, True))"
    out: list[str] = []
    tokens = _TOKEN.findall(text)
    k = 0
    while k < len(tokens):
        tok = tokens[k]
        prev = out[-1] if out else ""
        operand_before = prev == ")" or (re.fullmatch(r"[\w.]+", prev) and prev not in _FUNCTIONS)
        if operand_before and (tok == "(" or re.fullmatch(r"[\w.]+", tok)):
            out.append("*")  # juxtaposition
        if tok in _FUNCTIONS and k + 1 < len(tokens) and tokens[k + 1] != "(":
            out += [tok, "(", tokens[k + 1], ")"]  # log a
            k += 2
            continue
        out.append(tok)
        k += 1
    return " ".join(out)


def text_as_sympy(text: str, params) -> sp.Expr:
    """A template read into SymPy: ``body, t = definition`` substitutes each definition; a bare
    comparison such as ``(Z > 0)`` is the 0/1 mask numpy makes of it."""
    body, *definitions = re.split(r",\s*(?=\w+\s*=[^=])", text)
    expr = rules._expr(math_as_python(body), params)
    for definition in reversed(definitions):
        name, value = definition.split("=", 1)
        expr = expr.subs(sp.Symbol(name.strip()), rules._expr(math_as_python(value), params))
    if isinstance(expr, sp.core.relational.Relational):
        expr = sp.Piecewise((1, expr), (0, True))
    return expr


def latex_as_sympy(latex: str) -> sp.Expr:
    for command, python in _LATEX.items():
        latex = latex.replace(command, python)
    assert "\\" not in latex and "{" not in latex, f"LaTeX the test cannot read yet: {latex!r}"
    return rules._expr(math_as_python(latex))


def _text_values(act, x: np.ndarray) -> np.ndarray:
    expr = text_as_sympy(act.derivative_text, act.params)
    fn = sp.lambdify((rules.z, rules.a), expr, "numpy")
    return np.asarray(fn(x, act.numpy_forward(x)), dtype=float) * np.ones_like(x)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_numpy_template_is_sympy_diff(act):
    x = _away_from_kinks(act)
    got = run_numpy_template(act.derivative_numpy, Z=x, A=act.numpy_forward(x))
    assert np.shape(got) == x.shape, "the printed code must keep Z's shape"
    np.testing.assert_allclose(got, _sympy_diff(act, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_text_template_is_sympy_diff(act):
    x = _away_from_kinks(act)
    np.testing.assert_allclose(_text_values(act, x), _sympy_diff(act, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("act", [a for a in ELEMENTWISE if a.kinks], ids=lambda a: a.name)
def test_templates_at_a_kink_give_the_stated_value(act):
    for k in act.kinks:
        x = np.array([float(k)])
        stated = float(act.derivative_at_z.subs(rules.z, k))
        assert run_numpy_template(act.derivative_numpy, Z=x, A=act.numpy_forward(x)) == stated
        assert _text_values(act, x) == pytest.approx(stated)


@pytest.mark.parametrize("act", ELEMENTWISE, ids=lambda a: a.name)
def test_range_holds_the_values_and_is_tight(act):
    values = np.asarray(act.numpy_forward(np.linspace(-60, 60, 1_200_001)), dtype=float)
    lo, hi = act.range
    assert float(lo) <= values.min() and values.max() <= float(hi)
    for end, reached in ((lo, values.min()), (hi, values.max())):
        if end.is_finite:
            assert abs(reached - float(end)) < 1e-3, f"{act.name}: {end} is not tight ({reached})"


def test_the_template_reader_reads_what_it_is_given():
    """The translation itself: juxtaposition, glyphs, cases, definitions, a mask."""
    z, a = rules.z, rules.a
    assert text_as_sympy("A ⊙ (1 − A)", {}) == a * (1 - a)
    assert text_as_sympy("½(1 + t)², t = 2 Z", {}) == (1 + 2 * z) ** 2 / 2
    assert text_as_sympy("1 where Z > 0, else α", {"alpha": 3}) == sp.Piecewise((1, z > 0), (3, True))
    assert text_as_sympy("(Z > 0)", {}) == sp.Piecewise((1, z > 0), (0, True))
    assert latex_as_sympy(r"-\sum_k y_k \log a_k") == -rules.y * sp.log(a)


def _vector_text(text: str) -> str:
    """Softmax's catalogue text (one example's vector) as numpy code over z or a."""
    for old, new in ((" per example", ""), ("−", "-"), ("Σ_k exp(z_k)", "sum(exp(z))"),
                     ("a aᵀ", "outer(a, a)"), ("a*a^T", "outer(a, a)")):
        text = text.replace(old, new)
    return re.sub(r"\b(exp|sum|diag|outer)\(", r"np.\1(", text)


def test_softmax_templates_are_its_jacobian():
    act = rules.activations()["softmax"]
    zs = sp.symbols("z1:4", real=True)
    soft = [sp.exp(zi) / sum(sp.exp(zj) for zj in zs) for zi in zs]
    point = dict(zip(zs, (0.3, -1.2, 2.0), strict=True))
    jacobian = np.array(sp.Matrix(3, 3, lambda i, j: sp.diff(soft[i], zs[j])).subs(point),
                        dtype=float)
    z = np.array(list(point.values()))
    a = run_numpy_template(_vector_text(act.source["forward"]), z=z)
    np.testing.assert_allclose(a, np.array([s.subs(point) for s in soft], dtype=float))
    for form in (act.derivative_numpy, _vector_text(act.derivative_text),
                 _vector_text(act.source["derivative"])):
        np.testing.assert_allclose(run_numpy_template(form, a=a), jacobian, rtol=1e-12)


@pytest.mark.parametrize("loss", [n for n in rules.losses() if not rules.losses()[n].coupled], ids=str)
def test_loss_text_and_latex_are_the_per_unit_loss(loss):
    """``text`` and ``latex`` print the per-example loss Σₖ per_unit(aₖ, yₖ)."""
    entry = rules.losses()[loss]
    for form in (text_as_sympy(entry.text, {}), latex_as_sympy(entry.latex)):
        assert sp.simplify(form - entry.per_unit) == 0, (form, entry.per_unit)


def _code_name(base: str, layer: int | None) -> str:
    """The course's variable names, as the printed code uses them: W1, dZ2, X for A[0]."""
    if layer is None:
        return base
    return {"A": "X", "dA": "dX"}.get(base, base) if layer == 0 else f"{base}{layer}"


@pytest.mark.parametrize("name", [n for n in rules.activations()], ids=str)
def test_printed_numpy_code_runs_and_gives_the_engine_values(name):
    """Every line of ``derive backward``'s numpy code (the JSON "numpy" field) runs with numpy
    alone and computes what the engine computes: GELU's once used an undefined t."""
    net = Network(layers=[3, 4, 2], activations=[name, name], loss="mse")
    d = derive(net, prove=False)
    instance = random_instance(net, seed=3)
    expected = gradient_values(d, instance)
    namespace: dict[str, object] = {"np": np, "m": instance.X.shape[1]}
    namespace |= {_code_name(base, layer): v for (base, layer), v in forward_env(net, instance).items()}
    for f in d.formulas:
        exec(f.code, namespace)  # the printed line, exactly
        np.testing.assert_allclose(namespace[_code_name(f.kind, f.layer)], expected[f.kind, f.layer],
                                   rtol=1e-10, atol=1e-12, err_msg=f.code)


def test_hinge_text_latex_and_per_unit_agree():
    """svm's text and LaTeX say Σ_{k≠y} max(0, aₖ − a_y + 1); its per_unit, at one-hot y and
    s = a_y, is that term for k ≠ y and 0 for k = y (checked on numbers)."""
    entry = rules.losses()["svm"]
    assert entry.text == "Σ_{k≠y} max(0, aₖ − a_y + 1)"
    assert entry.latex == r"\sum_{k \ne y} \max(0,\, a_k - a_y + 1)"
    for av, sv in ((0.3, 1.0), (2.0, 0.5), (-1.0, 0.2)):
        off = entry.per_unit.subs({rules.a: av, rules.y: 0, rules.s: sv})
        assert float(off) == pytest.approx(max(0.0, av - sv + 1))
        assert entry.per_unit.subs({rules.a: sv, rules.y: 1, rules.s: sv}) == 0
