"""`derive numbers`: the worked example of seed 003 (3-3-1, ReLU then sigmoid, squared error,
y = 18) against a numpy reference written here by hand and against `autograd`; student files with
a known first wrong step (the truth decided from the maths, by hand, below)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from derive.cli import main
from derive.engine.backward import derive
from derive.errors import DeriveError, ParseError
from derive.network.spec import Network
from derive.numbers.files import read_file
from derive.numbers.inputs import Entry, parse_number, resolve_name, to_matrix
from derive.numbers.latex import parse_latex
from derive.numbers.render import render_json, render_latex, render_text
from derive.numbers.student import check_student, entry_matches
from derive.numbers.worked import worked_example

DATA = Path(__file__).parent / "data"
SEED_NET = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="mse")
X = np.array([[20.0], [3.0], [4.0]])
Y = np.array([[18.0]])
W1 = np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9]])
b1 = np.array([[0.1], [0.2], [0.3]])
W2 = np.array([[0.2, 0.4, 0.6]])
b2 = np.array([[0.5]])
VALUES = {"X": X, "Y": Y, "W1": W1, "b1": b1, "W2": W2, "b2": b2}


def hand_reference():
    """The seed's network by hand: L = (a − y)², no ½, m = 1; σ′(z) = σ(z)(1 − σ(z))."""
    Z1 = W1 @ X + b1
    A1 = np.maximum(Z1, 0)
    Z2 = W2 @ A1 + b2
    A2 = 1 / (1 + np.exp(-Z2))
    J = float(np.sum((A2 - Y) ** 2))
    dA2 = 2 * (A2 - Y)
    s = np.exp(-Z2) / (1 + np.exp(-Z2)) ** 2  # σ′ written via e^{−z}, not as a(1 − a)
    dZ2 = dA2 * s
    dW2 = dZ2 @ A1.T
    db2 = dZ2.sum(axis=1, keepdims=True)
    dA1 = W2.T @ dZ2
    dZ1 = dA1 * (Z1 > 0)
    return dict(Z1=Z1, A1=A1, Z2=Z2, A2=A2, J=J, dA2=dA2, gp2=s, dZ2=dZ2, dW2=dW2, db2=db2,
                dA1=dA1, dZ1=dZ1, dW1=dZ1 @ X.T, db1=dZ1.sum(axis=1, keepdims=True))


def autograd_reference():
    def cost(params):
        w1, c1, w2, c2 = params
        a1 = anp.maximum(anp.dot(w1, X) + c1, 0.0)
        a2 = 1 / (1 + anp.exp(-(anp.dot(w2, a1) + c2)))
        return anp.sum((a2 - Y) ** 2) / X.shape[1]

    out = dict(zip(("dW1", "db1", "dW2", "db2"), grad(cost)([W1, b1, W2, b2]), strict=True))

    def cost_x(x):  # dX is the per-example gradient ∂ℓ/∂X (m = 1 here: J's own gradient)
        a1 = anp.maximum(anp.dot(W1, x) + b1, 0.0)
        a2 = 1 / (1 + anp.exp(-(anp.dot(W2, a1) + b2)))
        return anp.sum((a2 - Y) ** 2)

    out["dX"] = grad(cost_x)(X)
    return out


@pytest.fixture(scope="module")
def worked():
    return worked_example(SEED_NET, VALUES)


@pytest.fixture(scope="module")
def seed_report():
    inp = read_file(DATA / "seed003_student.json")
    w = worked_example(Network.from_mapping(inp.network), inp.values)
    return check_student(w, inp.student, inp.tolerance)


# -- the worked example --------------------------------------------------------------------------
def test_seed_forward_numbers_are_the_seeds(worked):
    # by hand: 0.1·20 + 0.2·3 + 0.3·4 + 0.1 = 3.9, ...; 0.2·3.9 + 0.4·12.1 + 0.6·20.3 + 0.5 = 18.3
    assert np.allclose(worked.value("Z1").ravel(), [3.9, 12.1, 20.3])
    assert np.allclose(worked.value("A1").ravel(), [3.9, 12.1, 20.3])
    assert worked.value("Z2").item() == pytest.approx(18.3)
    assert worked.value("A2").item() == pytest.approx(1 / (1 + math.exp(-18.3)))
    assert worked.value("L").item() == pytest.approx((1 / (1 + math.exp(-18.3)) - 18) ** 2)


def test_seed_every_step_matches_the_hand_reference(worked):
    ref = hand_reference()
    for name in ["Z1", "A1", "Z2", "A2", "J", "dA2"]:
        assert np.allclose(worked.value(name), ref[name], rtol=1e-12, atol=0), name
    # the catalogue's σ′ = σ(1 − σ) loses about 8 digits to cancellation at z = 18.3 (1 − σ ≈ 1e-8),
    # so everything downstream of σ′(Z2) agrees with e^{-z}/(1 + e^{-z})² to about 1e-8
    for name in ["dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1"]:
        assert np.allclose(worked.value(name), ref[name], rtol=1e-7, atol=0), name
    assert np.allclose(worked.value(("gp", 2)), ref["gp2"], rtol=1e-7, atol=0)


def test_seed_gradients_match_autograd(worked):
    ref = autograd_reference()
    for name, value in ref.items():
        assert np.allclose(worked.value(name), value, rtol=1e-7, atol=0), name


def test_order_and_formulas_come_from_the_engine(worked):
    codes = [s.code for s in worked.steps]
    assert codes == ["Z1", "A1", "Z2", "A2", "J", "dA2", "gp2", "dZ2", "dW2", "db2", "dA1",
                     "gp1", "dZ1", "dW1", "db1", "dA0"]
    d = derive(SEED_NET, prove=False, input_gradient=True)
    for s in worked.steps:
        if s.source == "derivation" and s.key[0] != "gp":
            assert s.formula_text == d.formula(*s.key).text
            assert s.formula_latex == d.formula(*s.key).latex
    assert worked.step("dA2").formula_text == "dA[2] = 2 (A[2] − Y)"  # mse without ½


def test_warnings_a_teacher_would_give(worked):
    kinds = {w.kind: w.message for w in worked.warnings}
    assert "y = 18" in kinds["target_range"] and "(0, 1)" in kinds["target_range"]
    assert "sigmoid" in kinds["target_range"]
    assert "saturated" in kinds["saturation"] and "1.128e-08" in kinds["saturation"]
    assert "kink" not in kinds
    assert any("m = 1" in n and "agree" in n for n in worked.notes)
    assert any("no ½" in n for n in worked.notes)


def test_kink_warning_names_the_value_used():
    net = Network(layers=[2, 1, 1], activations=["relu", "linear"], loss="mse")
    w = worked_example(net, {"X": [[1.0], [1.0]], "Y": [[0.0]], "W1": [[1.0, -1.0]],
                             "b1": [[0.0]], "W2": [[2.0]], "b2": [[0.0]]})
    msg = next(x.message for x in w.warnings if x.kind == "kink")
    assert "Z[1]" in msg and "relu′(0) = 0" in msg and "left 0, right 1" in msg
    assert w.value("dZ1").item() == 0.0  # the catalogue's choice, applied


def test_rows_worked_example_is_the_columns_one_transposed(worked):
    # the rows convention (CS231n): X is m×n0, W[l] is n[l-1]×n[l], Z[l] = A[l-1] W[l] + b[l];
    # every quantity is the transpose of its columns value, the scalar J unchanged
    rows = worked_example(SEED_NET.replace(convention="rows"), {k: v.T for k, v in VALUES.items()})
    assert [s.key for s in rows.steps] == [s.key for s in worked.steps]
    for s in worked.steps:
        np.testing.assert_allclose(rows.value(s.key), s.value.T, rtol=1e-12, atol=0)
    assert worked.step(("Z", 1)).formula_text == "Z[1] = W[1] X + b[1]"
    assert rows.step(("Z", 1)).formula_text == "Z[1] = X W[1] + b[1]"
    assert rows.step(("Z", 2)).formula_text == "Z[2] = A[1] W[2] + b[2]"
    assert "convention rows: X is m×n[0], one row per example" in rows.notes
    assert "convention columns: X is n[0]×m, one column per example" in worked.notes


def test_read_file_picks_the_reader_by_suffix():
    tex = DATA / "seed003_network.tex"
    assert read_file(tex) == parse_latex(tex.read_text())
    assert read_file(DATA / "seed003_student.json").network is not None


def test_latex_input_with_decimal_commas_equals_the_json_values():
    inp = parse_latex((DATA / "seed003_network.tex").read_text())
    w = worked_example(SEED_NET, inp.values)
    for k, v in VALUES.items():
        assert np.array_equal(w.given[resolve_name(k)], v), k


def test_renderers(worked):
    text = render_text(worked)
    assert "= [0.1, 0.2, 0.3; 0.4, 0.5, 0.6; 0.7, 0.8, 0.9] [20; 3; 4] + [0.1; 0.2; 0.3]" in text
    assert "dZ[2] = dA[2] ⊙ σ′(Z[2])" in text and "(-34) ⊙ σ′(18.3)" in text
    tex = render_latex(worked)
    assert r"\section*{" in tex and r"\documentclass" not in tex and r"\begin{bmatrix}" in tex
    assert tex.count(r"\begin{aligned}") == len(worked.steps)
    data = json.loads(render_json(worked))
    assert [s["name"] for s in data["steps"]][:5] == ["Z1", "A1", "Z2", "A2", "J"]
    assert data["steps"][0]["formula"] == "Z[1] = W[1] X + b[1]"


# -- reading numbers -----------------------------------------------------------------------------
@pytest.mark.parametrize("text,value,ulp", [
    ("0,999", 0.999, 1e-3), ("-3,7e-7", -3.7e-7, 1e-8), (r"1,1 \cdot 10^{-8}", 1.1e-8, 1e-9),
    ("−34", -34.0, 1.0), ("289", 289.0, 1.0), ("3e-6", 3e-6, 1e-6), ("0.50", 0.5, 1e-2),
])
def test_numbers_keep_their_written_precision(text, value, ulp):
    n = parse_number(text)
    assert n.value == pytest.approx(value, rel=1e-15) and n.ulp == pytest.approx(ulp)


@pytest.mark.parametrize("bad", ["__import__('os')", "1+1", "", "9" * 40, "1e999", "0x10"])
def test_bad_numbers_are_refused(bad):
    with pytest.raises(ParseError):
        parse_number(bad)


@pytest.mark.parametrize("name,key", [
    ("z1", ("Z", 1)), ("a1", ("A", 1)), ("yhat", ("A", 2)), ("cost", ("J", None)),
    ("L", ("J", None)), ("dL/dZ2", ("dZ", 2)), ("dZ_2", ("dZ", 2)), (r"\frac{dL}{dA_2}", ("dA", 2)),
    (r"\frac{\partial L}{\partial W^{[1]}}", ("dW", 1)), ("G'(Z_2)", ("gp", 2)),
    ("sigmoid'(Z2)", ("gp", 2)), ("db1", ("db", 1)), ("dz2", ("dZ", 2)), ("dW[2]", ("dW", 2)),
])
def test_step_names_and_aliases(name, key):
    assert resolve_name(name, depth=2) == key


def test_rounding_aware_match():
    truth = np.array([[1 / (1 + math.exp(-18.3))]])  # 0.99999998876...
    written = to_matrix("0,999", "A2")
    assert not entry_matches(written, truth, None).all()  # rounds to 1.000 at three decimals
    assert entry_matches(written, truth, 0.01).all()
    assert entry_matches(to_matrix("1,000", "A2"), truth, None).all()
    assert entry_matches(to_matrix("-3e-6", "x"), np.array([[-2.96e-6]]), None).all()


# -- the student's numbers -----------------------------------------------------------------------
def test_seed_student_first_wrong_step_is_dZ2(seed_report):
    # By hand: σ′(18.3) = e^{-18.3}/(1 + e^{-18.3})² = 1.128e-8, dA2 = 2(σ(18.3) − 18) = −34.0,
    # dZ2 = −3.836e-7, which is −3.8e-7 at two digits: the student's −3,7e-7 is wrong, and 3.6 %
    # off (beyond the file's 1 %). It is −34 · 1,1e-8 = −3.74e-7: the student's own σ′, right at
    # two digits, rounded too early.
    assert math.exp(-18.3) / (1 + math.exp(-18.3)) ** 2 == pytest.approx(1.128e-8, rel=1e-3)
    r = seed_report
    assert r.first_wrong_step == "dZ[2]"
    for name in ("Z1", "A1", "Z2", "A2", "L", "dA2", "G'(Z2)"):
        assert r.step(name).status == "right", name
    dz2 = r.step("dZ2")
    assert dz2.status == "wrong" and dz2.cause == "carried_rounding"
    assert dz2.recomputed.item() == pytest.approx(-34 * 1.1e-8)


def test_seed_student_later_steps_follow_or_are_new(seed_report):
    r = seed_report
    # dW2 = dZ2 A1ᵀ from the student's −3,7e-7: [−1.44e-6, −4.48e-6, −7.51e-6]; the student wrote
    # [−1,4e-6, −4,5e-6, −3,5e-6]: the first two follow, the third (−3,5e-6) is a new slip.
    dw2 = r.step("dW2")
    assert dw2.cause == "new_slip" and dw2.new_slip_entries == ((0, 2),)
    assert (0, 0) in dw2.wrong_entries and (0, 1) in dw2.wrong_entries
    # db2 = dZ2 = −3,7e-7 and dA1 = W2ᵀ dZ2 = [−7.4e-8, −1.48e-7, −2.22e-7]: follow from dZ2
    for name in ("db2", "dA1", "dZ1", "dW1"):
        assert r.step(name).cause == "follows_from_earlier", name
        assert r.step(name).because == ("dZ[2]",), name


def test_seed_student_step8_label_slip(seed_report):
    # step 8 writes ∂L/∂z2 = [−7,4e-8, −1,5e-7, −2,2e-7]: three numbers, db1's (= dZ1 here), under
    # the name of the 1×1 dZ2
    (m,) = seed_report.mislabelled
    assert m.written == "dL/dz2" and m.labelled_as == "dZ[2]" and m.looks_like == "db[1]"


def test_student_who_forgot_b2():
    # Z2 without b2: 0.78 + 4.84 + 12.18 = 17.8; then dZ2 = −34 · σ′(17.8) = −6.31e-7
    r = _report("student_forgot_b2.json")
    assert r.first_wrong_step == "Z[2]"
    assert r.step("Z2").cause == "new_slip"
    assert r.step("dZ2").cause == "follows_from_earlier" and r.step("dZ2").because == ("Z[2]",)
    s = 1 / (1 + math.exp(-17.8))
    assert -34 * s * (1 - s) == pytest.approx(-6.3e-7, rel=0.01)


def test_student_all_right():
    r = _report("student_all_right.toml")
    assert r.all_right and r.first_wrong_step is None


def test_latex_student_solution_reads_the_worked_lines():
    inp = parse_latex((DATA / "seed003_student.tex").read_text())
    keys = {e.keys[0] for e in inp.student}
    assert {("Z", 1), ("Z", 2), ("A", 2), ("J", None), ("dA", 2), ("gp", 2), ("dZ", 2)} <= keys
    z1 = next(e for e in inp.student if e.keys[0] == ("Z", 1))
    assert ("A", 1) in z1.keys  # "Z_1 = [...] = A_1"
    w = worked_example(SEED_NET, inp.values)
    r = check_student(w, inp.student, 0.01)
    assert r.first_wrong_step == "dZ[2]"
    assert any(m.looks_like == "db[1]" and m.labelled_as == "dZ[2]" for m in r.mislabelled)


def _report(name):
    inp = read_file(DATA / name)
    w = worked_example(Network.from_mapping(inp.network), inp.values)
    return check_student(w, inp.student, inp.tolerance)


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_exit_codes(capsys, tmp_path):
    assert main(["numbers", str(DATA / "student_all_right.toml")]) == 0
    assert main(["numbers", str(DATA / "seed003_student.json")]) == 1
    assert main(["numbers", "--latex", str(DATA / "seed003_network.tex"), "--act", "relu,sigmoid",
                 "--loss", "mse"]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"network": {"layers": [3, 3, 1]}, "values": {"X": [1, 2]')
    assert main(["numbers", str(bad)]) == 2
    bad.write_text('{"network": {"layers": [3, 3, 1], "activations": ["relu", "sigmoid"], '
                   '"loss": "mse"}, "values": {"X": [[1], [2], [3]], "Y": [[1]], "W1": [[1, 2]],'
                   ' "b1": [[0], [0], [0]], "W2": [[1, 1, 1]], "b2": [[0]]}}')
    assert main(["numbers", str(bad)]) == 2
    assert "W1 is 1×2" in capsys.readouterr().err
    bad.write_text('{"network": {"layers": [1, 1], "activations": ["linear"], "loss": "mse"}, '
                   '"values": {"X": [[1]], "Y": [[1]], "W1": [[1]], "b1": [[0]]}, '
                   '"student": {"foo": 1}}')
    assert main(["numbers", str(bad)]) == 2


def test_cli_json_student(capsys):
    assert main(["numbers", "--json", str(DATA / "seed003_student.json")]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["first_wrong_step"] == "dZ2"
    step = next(s for s in data["steps"] if s["name"] == "dZ2")
    assert set(step) >= {"name", "formula", "value", "student_value", "status"}
    assert step["status"] == "wrong" and step["student_value"] == [[-3.7e-7]]
    assert data["mislabelled"][0]["looks_like"] == "db[1]"


def test_input_bounds(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("{" + " " * 1_100_000 + "}")
    with pytest.raises(DeriveError):
        read_file(big)


def test_values_never_evaluated(tmp_path):
    f = tmp_path / "evil.toml"
    f.write_text('[network]\nlayers = [1, 1]\nactivations = ["linear"]\nloss = "mse"\n'
                 '[values]\nX = [["__import__(\'os\').system(\'echo hi\')"]]\nY = [[1]]\n'
                 'W1 = [[1]]\nb1 = [[0]]\n')
    with pytest.raises(ParseError):
        read_file(f)


def test_student_entry_api():
    net = Network(layers=[1, 1], activations=["linear"], loss="mse")
    w = worked_example(net, {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]})
    r = check_student(w, [Entry(("dW1",), (("dW", 1),), to_matrix("4", "dW1"))])
    assert r.all_right  # J = (2 − 1)², dW1 = 2(2 − 1)·2 = 4


@pytest.mark.tex
def test_latex_section_compiles(worked, tmp_path):
    import shutil
    import subprocess

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not on the PATH")
    (tmp_path / "part.tex").write_text(render_latex(worked), encoding="utf-8")
    (tmp_path / "doc.tex").write_text("\\documentclass{article}\\usepackage{amsmath}"
                                      "\\begin{document}\\input{part.tex}\\end{document}\n")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
