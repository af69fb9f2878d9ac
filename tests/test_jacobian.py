"""derive jacobian: arrays against an independent SymPy oracle and central finite differences.

The oracle below builds Z = W A + b, A = g(Z) and J itself (plain SymPy, none of derive.network.model),
differentiates every entry, and is compared with :func:`derive.jacobian.jacobian` at the numbers of
a random instance; finite differences go through :func:`derive.network.model.forward` with numpy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from derive.cli import main
from derive.errors import DeriveError, ParseError, ResourceLimit, SpecError
from derive.jacobian.naive import activation_step, naive_chain_rule
from derive.jacobian.quantities import sizes_of
from derive.jacobian.steps import contraction
from derive.jacobian.tensor import jacobian, parse_quantity
from derive.network import model
from derive.network.spec import Network

SIZES = [{"n0": 2, "n1": 2, "m": 2}, {"n0": 3, "n1": 2, "m": 2}]


# -- the independent oracle ---------------------------------------------------------------------
def leaf(name, r, c):
    return sp.Matrix(r, c, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


def oracle(act, loss, conv, n0, n1, m, cut):
    """Leaves and values of a one-layer network, built from scratch; ``cut="Z"``: Z is a leaf."""
    cols = conv == "columns"
    X = leaf("X", n0, m) if cols else leaf("X", m, n0)
    W = leaf("W1", n1, n0) if cols else leaf("W1", n0, n1)
    b = leaf("b1", n1, 1) if cols else leaf("b1", 1, n1)
    Y = leaf("Y", n1, m) if cols else leaf("Y", m, n1)
    if cut == "Z":
        Z = leaf("Z1", *((n1, m) if cols else (m, n1)))
    else:
        Z = W * X + b * sp.ones(1, m) if cols else X * W + sp.ones(m, 1) * b
    if act == "tanh":
        A = Z.applyfunc(sp.tanh)
    elif act == "sigmoid":
        A = Z.applyfunc(lambda z: 1 / (1 + sp.exp(-z)))
    else:  # softmax over units: columns of Z (columns convention) or rows
        E_ = Z.applyfunc(sp.exp)
        if cols:
            A = sp.Matrix(Z.rows, Z.cols, lambda i, j: E_[i, j] / sum(E_[:, j]))
        else:
            A = sp.Matrix(Z.rows, Z.cols, lambda i, j: E_[i, j] / sum(E_[i, :]))
    if loss == "bce":
        per = [-(Y[k] * sp.log(A[k]) + (1 - Y[k]) * sp.log(1 - A[k])) for k in range(len(A))]
    elif loss == "ce":
        per = [-Y[k] * sp.log(A[k]) for k in range(len(A))]
    else:
        per = [(A[k] - Y[k]) ** 2 for k in range(len(A))]
    J = sp.Add(*per) / m
    leaves = {("X", None): X, ("W", 1): W, ("b", 1): b, ("Y", None): Y}
    if cut == "Z":
        leaves["Z", 1] = Z
    return leaves, {("Z", 1): Z, ("A", 1): A, ("J", None): J}


def oracle_array(of, wrt, leaves, values):
    Y = values[of]
    X = leaves[wrt]
    outs = [Y] if of[0] == "J" else list(Y)
    rows = [[sp.diff(y, x) for x in X] for y in outs]
    shape = (() if of[0] == "J" else Y.shape) + X.shape
    return rows, shape


def numbers(rows, shape, leaves, point):
    syms = [s for mat in leaves.values() for s in mat]
    vals = [point[k].reshape(-1)[i] for k, mat in leaves.items() for i in range(len(mat))]
    fn = sp.lambdify(syms, rows, "numpy")
    return np.array(fn(*vals), dtype=float).reshape(shape)


def instance(net, sizes, seed=3):
    cnet_sizes = [sizes["n0"], sizes["n1"]]
    inst = model.random_instance(net, seed=seed, m=sizes["m"], sizes=cnet_sizes)
    point = {("X", None): inst.X, ("Y", None): inst.Y, **inst.params}
    cache = model.forward(net, inst.params, inst.X)
    point["Z", 1] = cache["Z", 1]
    return inst, point


def fd_array(net, inst, of, wrt, point, h=1e-6):
    """Central differences of ``of`` with respect to every entry of ``wrt``, via model.forward."""
    def value(x):
        params = dict(inst.params)
        if wrt[0] in ("W", "b"):
            params[wrt] = x
            cache = model.forward(net, params, inst.X)
        elif wrt[0] == "X":
            cache = model.forward(net, params, x)
        else:
            cache = model.forward(net, params, inst.X, start=1, start_value=("Z", x))
        if of[0] == "J":
            return np.asarray(model.cost(net, cache, inst.Y))
        return cache[of]

    x0 = np.array(point[wrt], dtype=float)
    out = np.zeros(np.shape(value(x0)) + x0.shape)
    for idx in np.ndindex(x0.shape):
        e = np.zeros_like(x0)
        e[idx] = h
        out[(..., *idx)] = (value(x0 + e) - value(x0 - e)) / (2 * h)
    return out


CASES = [
    # (activation, loss, convention, of, wrt)
    ("tanh", "mse", "columns", ("Z", 1), ("W", 1)),
    ("tanh", "mse", "columns", ("Z", 1), ("X", None)),
    ("tanh", "mse", "columns", ("Z", 1), ("b", 1)),
    ("tanh", "mse", "columns", ("A", 1), ("Z", 1)),
    ("softmax", "ce", "columns", ("A", 1), ("Z", 1)),
    ("sigmoid", "bce", "columns", ("J", None), ("W", 1)),
    ("sigmoid", "bce", "columns", ("J", None), ("Z", 1)),
    ("softmax", "ce", "columns", ("J", None), ("Z", 1)),
    ("tanh", "mse", "rows", ("Z", 1), ("W", 1)),
    ("softmax", "ce", "rows", ("A", 1), ("Z", 1)),
    ("sigmoid", "bce", "rows", ("J", None), ("b", 1)),
]


def _name(key):
    base, layer = key
    return base if layer is None else f"{base}{layer}"


@pytest.mark.parametrize("sizes", SIZES, ids=["all2", "n0=3"])
@pytest.mark.parametrize("act,loss,conv,of,wrt", CASES)
def test_array_matches_sympy_oracle_and_finite_differences(act, loss, conv, of, wrt, sizes):
    net = Network(layers=[None, None], activations=[act], loss=loss, convention=conv)
    r = jacobian(_name(of), _name(wrt), net, sizes)
    leaves, values = oracle(act, loss, conv, sizes["n0"], sizes["n1"], sizes["m"],
                            cut="Z" if wrt[0] == "Z" else None)
    rows, shape = oracle_array(of, wrt, leaves, values)
    assert r.shape == shape
    cnet = r.network
    inst, point = instance(cnet, sizes)
    ours = r.at(point)
    theirs = numbers(rows, shape, leaves, point)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
    fd = fd_array(cnet, inst, of, wrt, point)
    np.testing.assert_allclose(ours, fd, rtol=1e-6, atol=1e-8)
    # zero pattern: exactly where the oracle's entries are identically 0
    flat_zero = [e == 0 for row in rows for e in row]
    assert list(np.array(r.zero_pattern).reshape(-1)) == flat_zero


def test_zero_pattern_and_deltas_of_the_forum_example():
    r = jacobian("Z1", "W1", Network(depth=1))  # Raymond's 2×2 by 2×2: 16 entries
    assert r.shape == (2, 2, 2, 2) and r.size == 16 and r.nonzero == 8
    assert r.deltas == (("i", "k"),)
    X = sp.Matrix(2, 2, lambda i, j: sp.Symbol(f"X_{i}_{j}", real=True))
    for i, j, k, l in np.ndindex(2, 2, 2, 2):  # ∂Z_ij/∂W_kl = δ_ik X_lj
        assert r.array[i, j, k, l] == (X[l, j] if i == k else 0)
    assert r.rule is not None and "δᵢₖ" in r.rule.text


def test_elementwise_activation_is_diagonal_and_softmax_block_diagonal():
    a = activation_step(Network(layers=[2, 3, 2], activations=["tanh", "sigmoid"]), 1, {"m": 2})
    assert a.elementwise.deltas == (("i", "k"), ("j", "l"))
    assert a.softmax.deltas == (("j", "l"),)  # columns: examples never mix
    assert a.softmax.nonzero == 2 * 3 * 3  # one full 3×3 block per example
    z = np.array([0.3, -1.1, 0.7])
    s = np.exp(z) / np.exp(z).sum()
    want = np.diag(s) - np.outer(s, s)
    subs = {sp.Symbol(f"A1_{i}_0", real=True): s[i] for i in range(3)}
    got = np.array(a.block.subs(subs), dtype=float)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_contraction_ends_at_the_engine_formula():
    from derive.engine.backward import derive

    net = Network(layers=[3, 2, 2], activations=["tanh", "sigmoid"], loss="bce")
    c = contraction(net, "W1", {"m": 2})
    assert c.checked and c.fd_error < 1e-7
    assert c.formula.text == derive(net, prove=False).formula("dW", 1).text
    assert [s.rule for s in c.steps] == ["chain_rule_entries", "kronecker_delta", "mean_cost",
                                         "matrix_product_entry", "weight_gradient"]
    assert len(c.steps[0].entries) == 2 * 3  # one line per entry of W[1]
    assert c.steps[1].entries[0] == "∂J/∂W[1]₁₁ = ∂J/∂Z[1]₁₁·X₁₁ + ∂J/∂Z[1]₁₂·X₁₂"
    assert c.steps[2].entries[0] == "∂J/∂W[1]₁₁ = (1/2)(dZ[1]₁₁·X₁₁ + dZ[1]₁₂·X₁₂)"
    for name in ("b2", "A1"):
        assert contraction(net, name, {"m": 2}).checked
    rows = contraction(Network(layers=[2, 2, 2], convention="rows"), "W2")
    assert rows.checked and rows.steps[-1].rule == "weight_gradient_rows"


def test_naive_seed_fits_only_with_equal_sizes_and_gives_other_numbers():
    net = Network(layers=[2, 2, 2], activations=["tanh", "sigmoid"], loss="bce")
    r = naive_chain_rule(net, sizes={"m": 2}, seed=4)
    assert r.verdict == "fits_only_here"
    assert "dZ[2] and W[2]ᵀ" in r.general_error and "(n2×m)·(n1×n2)" in r.general_error
    # independently: dZ[l] = m ∂J/∂Z[l] by finite differences, then the student's ordering
    inst = model.random_instance(net, seed=4, m=2, sizes=[2, 2, 2])
    cache = model.forward(net, inst.params, inst.X)

    def grad_z(layer):
        def J(Z):
            c = model.forward(net, inst.params, inst.X, start=layer, start_value=("Z", Z))
            return float(model.cost(net, c, inst.Y))
        Z0, g = cache["Z", layer], np.zeros_like(cache["Z", layer])
        for idx in np.ndindex(Z0.shape):
            e = np.zeros_like(Z0)
            e[idx] = 1e-6
            g[idx] = (J(Z0 + e) - J(Z0 - e)) / 2e-6
        return 2 * g  # m = 2

    dZ2, dZ1 = grad_z(2), grad_z(1)
    student = (dZ2 @ inst.params["W", 2].T) * (1 - np.tanh(cache["Z", 1]) ** 2)
    np.testing.assert_allclose(r.student_value, student, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r.correct_value, dZ1, rtol=1e-6, atol=1e-8)
    assert r.differing and not np.allclose(student, dZ1)


def test_naive_seed_shape_error_and_rows_convention():
    r = naive_chain_rule(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
    assert r.verdict == "shape_error" and "(1×2)·(3×1)" in r.concrete_error
    ok = naive_chain_rule(Network(depth=2, convention="rows"))  # dZ[2] W[2]ᵀ is right in rows
    assert ok.verdict == "agrees" and ok.general_error is None
    dw = naive_chain_rule(Network(depth=2), example="dW")
    assert dw.verdict == "fits_only_here" and dw.target == "dW[2]"


def test_naive_formula_text_uses_the_parser_when_present():
    parse = pytest.importorskip("derive.parse")
    if not hasattr(parse, "parse_expression"):
        pytest.skip("derive.parse has no parse_expression yet")
    r = naive_chain_rule(Network(depth=2), "dZ1 = dZ2 W2.T * g1'(Z1)")
    assert r.verdict in ("fits_only_here", "shape_error")


@pytest.mark.parametrize("text,key", [("Z1", ("Z", 1)), ("Z[1]", ("Z", 1)), ("W^{[2]}", ("W", 2)),
                                      ("b_1", ("b", 1)), ("A0", ("X", None)), (" X ", ("X", None)),
                                      ("A^[2]", ("A", 2)), ("J", ("J", None)), ("B2", ("b", 2))])
def test_names(text, key):
    assert parse_quantity(text, Network(depth=2)).key == key


@pytest.mark.parametrize("text", ["Q1", "Z", "Z[1", "W1.T", "__import__('os')", "Z1+W1", "x" * 40])
def test_bad_names(text):
    with pytest.raises(ParseError):
        parse_quantity(text, Network(depth=2))


def test_limits():
    with pytest.raises(SpecError, match="layers 1 to 2"):
        jacobian("Z3", "W1", Network(depth=2))
    with pytest.raises(ResourceLimit, match=r"6,561 entries, over the limit of 4,096 entries"):
        jacobian("Z1", "W1", Network(depth=1), {"n0": 9, "n1": 9, "m": 9})  # (9·9)·(9·9)
    with pytest.raises(ResourceLimit, match=r"jacobian\.size"):
        jacobian("Z1", "W1", Network(depth=1), {"n0": 65})
    with pytest.raises(SpecError, match="disagrees"):
        jacobian("Z1", "W1", Network(layers=[3, 2]), {"n0": 2})
    with pytest.raises(SpecError):
        jacobian("W1", "J", Network(depth=1))
    with pytest.raises(DeriveError):
        naive_chain_rule(Network(depth=1))


def test_unrelated_quantities_give_all_zeros():
    r = jacobian("Z1", "W2", Network(depth=2))
    assert r.nonzero == 0 and "does not depend" in r.to_text()


def test_a_result_knows_the_sizes_it_was_computed_at():
    r = jacobian("Z1", "W1", Network(layers=[3, None, None]), {"n1": 2, "m": 3})
    assert r.sizes == {"n0": 3, "n1": 2, "n2": 2, "m": 3}
    assert jacobian("Z2", "W2", r.network, r.sizes).sizes == r.sizes  # they fill nothing anew
    with pytest.raises(ValueError, match="symbolic sizes"):
        sizes_of(Network(depth=2))


# -- the CLI -----------------------------------------------------------------------------------
def test_cli_text(capsys):
    assert main(["jacobian", "Z1", "W1", "--naive"]) == 0
    out = capsys.readouterr().out
    for piece in ("shape 2×2×2×2", "16 entries, 8 nonzero", "Block (i, j)", "δᵢₖ",
                  "dW[1] = (1/m) dZ[1] Xᵀ", "type-checks only", "(n2×m)·(n1×n2)"):
        assert piece in out


def test_cli_json_and_latex(capsys):
    assert main(["jacobian", "Z[1]", "W^{[1]}", "--naive", "--format", "json",
                 "--sizes", "n0=3,n1=2,n2=2,m=2"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["shape"] == [2, 2, 2, 3]
    assert data["zero_pattern"][0][0][1] == [True, True, True]
    assert data["contraction"]["checked"] and len(data["contraction"]["steps"]) == 5
    assert data["naive_chain_rule"]["verdict"] == "fits_only_here"
    assert main(["jacobian", "A1", "Z1", "--act", "tanh,softmax", "--format", "latex"]) == 0
    tex = capsys.readouterr().out
    assert tex.startswith(r"\section{") and r"\begin{bmatrix}" in tex
    assert r"\documentclass" not in tex and r"\subsection{The activation step" in tex


@pytest.mark.parametrize("argv,msg", [
    (["jacobian", "Q1", "W1"], "cannot read"),
    (["jacobian", "Z1", "W1", "--sizes", "n0=2;m=2"], "n0=2,n1=2,m=2"),
    (["jacobian", "Z1", "W1", "--sizes", "n0=20,n1=20,m=20"], "(jacobian.entries)"),
    (["jacobian", "J", "W1", "--layers", "2,2,2,2,2,2"], "at most 3"),
])
def test_cli_errors(argv, msg, capsys):
    assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_display_is_the_same_function_as_the_array():
    """The display abbreviates forward values (A[1]ᵢⱼ, Z[2]ᵢⱼ) and simplifies: still equal."""
    net = Network(layers=[2, 2, 2], activations=["tanh", "sigmoid"], loss="bce")
    r = jacobian("J", "W1", net, {"m": 2})
    inst = model.random_instance(net, seed=5, m=2, sizes=[2, 2, 2])
    cache = model.forward(net, inst.params, inst.X)
    point = {("X", None): inst.X, ("Y", None): inst.Y, **inst.params}
    subs = {}
    for (base, layer), v in {**point, **{k: v for k, v in cache.items() if k[1] != 0}}.items():
        name = base if layer is None else f"{base}{layer}"
        for (i, j), x in np.ndenumerate(v):
            subs[sp.Symbol(f"{name}_{i}_{j}", real=True)] = x
    shown = np.array([[float(r.display[k, l].xreplace(subs)) for l in range(2)] for k in range(2)])
    np.testing.assert_allclose(shown, r.at(point), rtol=1e-10)
    assert any(s.name.startswith("A1_") for s in r.display[0, 0].free_symbols)


@pytest.mark.tex
def test_latex_fragment_compiles(tmp_path, capsys):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not on the PATH")
    frags = []
    for argv in (["Z1", "W1", "--naive"], ["A1", "Z1", "--act", "tanh,sigmoid"]):
        assert main(["jacobian", *argv, "--format", "latex"]) == 0
        frags.append(capsys.readouterr().out)
    doc = ("\\documentclass{article}\\usepackage{amsmath,amssymb}\\begin{document}\n"
           + "\n".join(frags) + "\\end{document}\n")
    (tmp_path / "j.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "j.tex"],
                         cwd=tmp_path, capture_output=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
