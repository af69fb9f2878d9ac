"""``derive check`` end to end: text, numpy and LaTeX through the parser, the verdict and mistake
code each formula deserves (from the maths), JSON output and exit codes via derive.cli.main."""

from __future__ import annotations

import json

import pytest

from derive.check.checker import check as check_equation
from derive.cli import main
from derive.network.spec import Network

NET = Network(layers=[4, 3, 2], activations=["tanh", "sigmoid"], loss="bce")
SOFTMAX = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce")

# (equation, verdict, first mistake code or None) on NET: tanh hidden layer, sigmoid + bce output
CASES = [
    # dZ, hidden layer: three notations, then one mistake each
    ("dZ1 = W2^T dZ2 * g1'(Z1)", "correct", None),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "correct", None),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})", "correct", None),
    ("dZ1 = W2.T @ (A2 - Y) * (1 - A1**2)", "correct", None),
    ("dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])", "shape_error", "wrong_order"),
    ("dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))", "shape_error", "missing_transpose"),
    ("dZ1 = np.dot(W2.T, dZ2.T) * (1 - np.power(A1, 2))", "shape_error", "extra_transpose"),
    ("dZ1 = np.dot(W2.T, dZ2) * A1", "not_equivalent", "activation_instead_of_derivative"),
    ("dZ1 = np.dot(W2.T, dZ2) * A1 * (1 - A1)", "not_equivalent", "wrong_activation_derivative"),
    ("dZ1 = W2.T * dZ2 * (1 - A1**2)", "shape_error", "elementwise_instead_of_matmul"),
    ("dZ1 = W2.T @ dZ2 @ (1 - A1**2)", "shape_error", "matmul_instead_of_elementwise"),
    ("dZ1 = np.dot(W1.T, dZ2) * (1 - A1**2)", "shape_error", "wrong_layer_index"),
    ("dZ1 = -np.dot(W2.T, dZ2) * (1 - A1**2)", "not_equivalent", "sign_error"),
    ("dZ1 = 1/m * np.dot(W2.T, dZ2) * (1 - A1**2)", "not_equivalent", "extra_scale"),
    # dZ, output layer (sigmoid + bce)
    ("dZ2 = A2 - Y", "correct", None),
    ("dZ2 = dA2 * A2 * (1 - A2)", "correct", None),
    (r"dZ^{[2]} = A^{[2]} - Y", "correct", None),
    ("dZ2 = Y - A2", "not_equivalent", "sign_error"),
    ("dZ2 = dA2 * A2", "not_equivalent", "activation_instead_of_derivative"),
    ("dZ2 = A1 - Y", "shape_error", "wrong_layer_index"),
    # dW
    ("dW1 = 1/m dZ1 X^T", "correct", None),
    ("dW1 = (1/m) * np.dot(dZ1, X.T)", "correct", None),
    (r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T", "correct", None),
    ("dW2 = 1/m * np.dot(A2 - Y, A1.T)", "correct", None),
    ("dW1 = 1/m * np.dot(X.T, dZ1)", "shape_error", "wrong_order"),
    ("dW1 = 1/m * np.dot(dZ1, X)", "shape_error", "missing_transpose"),
    ("dW1 = 1/m * np.dot(dZ1.T, X.T)", "shape_error", "extra_transpose"),
    ("dW1 = np.dot(dZ1, X.T)", "not_equivalent", "missing_scale"),
    ("dW1 = 1/m * dZ1 * X.T", "shape_error", "elementwise_instead_of_matmul"),
    ("dW1 = 1/m * np.dot(dZ1, A1.T)", "shape_error", "wrong_layer_index"),
    ("dW1 = -1/m * np.dot(dZ1, X.T)", "not_equivalent", "sign_error"),
    # db
    ("db1 = (1/m) * np.sum(dZ1, axis=1, keepdims=True)", "correct", None),
    ("db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)", "correct", None),
    ("db2 = 1/m * np.sum(A2 - Y, axis=1, keepdims=True)", "correct", None),
    ("db1 = 1/m * dZ1", "shape_error", "missing_sum"),
    ("db1 = 1/m * np.sum(dZ1, axis=0, keepdims=True)", "shape_error", "wrong_sum_axis"),
    ("db1 = np.sum(dZ1, axis=1, keepdims=True)", "not_equivalent", "missing_scale"),
    ("db1 = 1/m * np.sum(dZ2, axis=1, keepdims=True)", "shape_error", "wrong_layer_index"),
    ("db1 = -1/m * np.sum(dZ1, axis=1, keepdims=True)", "not_equivalent", "sign_error"),
    # dA
    ("dA1 = W2^T dZ2", "correct", None),
    ("dA1 = np.dot(W2.T, dZ2)", "correct", None),
    (r"dA^{[1]} = W^{[2]T} dZ^{[2]}", "correct", None),
    ("dA1 = np.dot(dZ2, W2.T)", "shape_error", "wrong_order"),
    ("dA1 = np.dot(W2, dZ2)", "shape_error", "missing_transpose"),
    ("dA1 = 1/m * np.dot(W2.T, dZ2)", "not_equivalent", "extra_scale"),
    ("dA1 = W2.T * dZ2", "shape_error", "elementwise_instead_of_matmul"),
    ("dA1 = np.dot(W1.T, dZ1)", "shape_error", "wrong_layer_index"),
    ("dA1 = -np.dot(W2.T, dZ2)", "not_equivalent", "sign_error"),
]


@pytest.mark.parametrize("equation, want, code", CASES, ids=[c[0] for c in CASES])
def test_verdict_through_the_parser(equation, want, code):
    v = check_equation(equation, NET)
    assert v.verdict == want, v.message
    if code is None:
        assert v.mistakes == ()
    else:
        assert v.mistakes and v.mistakes[0].code == code, [m.code for m in v.mistakes]


@pytest.mark.parametrize("equation, want", [
    ("dZ2 = A2 - Y", "correct"),
    (r"dZ^{[2]} = A^{[2]} - Y", "correct"),
    ("dZ2 = Y - A2", "not_equivalent"),
    ("dW2 = 1/m * np.dot(A2 - Y, A1.T)", "correct"),
    ("dZ1 = np.dot(W2.T, A2 - Y) * np.int64(Z1 > 0)", "correct"),
    ("dZ1 = np.dot(W2.T, A2 - Y) * (1 - np.power(A1, 2))", "not_equivalent"),
])
def test_softmax_output_layer(equation, want):
    assert check_equation(equation, SOFTMAX).verdict == want


def test_generic_network_from_the_layer_numbers():
    v = check_equation("dZ1 = W2^T dZ2 * g1'(Z1)")
    assert v.verdict == "correct"
    assert v.network["layers"] == [None, None, None]
    v = check_equation("dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])")
    assert v.verdict == "shape_error" and v.mistakes[0].code == "wrong_order"
    assert v.message == ("matrix product dZ[2] and W[2]T: (n2×m)·(n1×n2) — "
                         "inner dimensions m and n1 differ")
    assert v.expected == "dZ[1] = W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])"


def test_generic_layer_index_is_checked_at_several_layers():
    v = check_equation("dW[l] = 1/m dZ[l] A[l-1]^T")
    assert v.verdict == "correct"
    assert any("l = 1, 2, 3, 4" in n for n in v.notes)
    v = check_equation("dZ[l] = W[l+1]^T dZ[l+1] * g[l]'(Z[l])")
    assert v.verdict == "correct"
    v = check_equation("dW[l] = dZ[l] A[l-1]^T")
    assert v.verdict == "not_equivalent" and v.mistakes[0].code == "missing_scale"
    assert v.target == "dW[l]"


def test_output_layer_L():
    v = check_equation("dZ[L] = A[L] - Y", Network(layers=[3, 4, 1], activations=["relu", "sigmoid"],
                                                  loss="bce"))
    assert v.verdict == "correct" and v.target == "dZ[2]"


def test_parse_error_has_a_position():
    v = check_equation("dZ1 = W2^T dZ2 * g1'(Z1", NET)
    assert v.verdict == "parse_error" and v.exit_code == 2
    assert isinstance(v.position, int)


@pytest.mark.parametrize("hostile", ["__import__('os').system('echo hi')", "dZ1 = (lambda: 1)()",
                                     "dW1 = X.__class__", "", "dW1 = 2**2**2**2**99",
                                     "dW1 = " + "(" * 500 + "X" + ")" * 500])
def test_hostile_input_is_a_parse_error(hostile):
    v = check_equation(hostile, NET)
    assert v.verdict == "parse_error"


# -- the command line ---------------------------------------------------------------------------
SPEC = ["--layers", "4,3,2", "--act", "tanh,sigmoid", "--loss", "bce"]


@pytest.mark.parametrize("argv, code", [
    (["check", "dW1 = 1/m dZ1 X^T", *SPEC], 0),
    (["check", "dW1 = dZ1 X^T", *SPEC], 1),
    (["check", "dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])"], 1),
    (["check", "dW1 = 1/m dZ1 X^T +", *SPEC], 2),
    (["check", "dW1 = 1/m dZ1 X^T", "--layers", "4,3,2", "--act", "tanh,nosuch"], 2),
    (["check", "dW1 = 1/m dZ1 X^T", "--spec", "/nonexistent.toml"], 2),
])
def test_exit_codes(argv, code, capsys):
    assert main(argv) == code
    capsys.readouterr()


def test_json_output(capsys):
    assert main(["check", "dW1 = dZ1 X^T", *SPEC, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "not_equivalent" and d["target"] == "dW[1]"
    assert d["mistakes"][0]["code"] == "missing_scale"
    assert d["expected"] == "dW[1] = (1/m) dZ[1] Xᵀ"
    assert d["counterexample"]["sizes"]["m"] == 2


def test_json_parse_error_output(capsys):
    assert main(["check", "dW1 = 1/m dZ1 X^T +", *SPEC, "--json"]) == 2
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "parse_error" and isinstance(d["position"], int)


def test_human_output(capsys):
    assert main(["check", "dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("incorrect: shape error — dZ[1]")
    assert "wrong_order" in out
    assert "correct formula: dZ[1] = W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])" in out
    assert main(["check", "dW1 = dZ1 X^T", *SPEC]) == 1
    out = capsys.readouterr().out
    assert "counterexample (n0=4, n1=3, n2=2, m=2" in out and "missing_scale" in out


def test_syntax_flag(capsys):
    assert main(["check", r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T", "--syntax", "latex", *SPEC]) == 0
    capsys.readouterr()


# -- hostile input: any string gives a verdict, never an exception ------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ALPHABET = st.sampled_from(list("dZWAXYbLl0123=+-*/@^_.,()[]{}'ᵀ⊙ \\Tgmnp") +
                           ["np.dot(", "np.sum(", "axis=1", "\\frac{1}{m}", "^{[1]}", "relu'(",
                            "dZ1", "W2", "A1", "__", "lambda", "**", "keepdims=True"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ALPHABET, max_size=30).map("".join))
def test_any_string_gives_a_verdict(text):
    for net in (None, NET):
        v = check_equation(text, net)
        assert v.verdict in ("correct", "shape_error", "not_equivalent", "parse_error")
        assert "please report" not in v.message, v.message
        json.dumps(v.to_dict())


ATOMS = st.sampled_from(["W1", "W2", "W2.T", "dZ1", "dZ2", "dZ2.T", "A1", "A2", "X", "X.T", "Y",
                         "Z1", "b1", "g1'(Z1)", "(1 - A1**2)", "np.sum(dZ1, axis=1, keepdims=True)",
                         "np.sum(dZ2, axis=0, keepdims=True)", "(1/m)", "2"])
OPS = st.sampled_from([" @ ", " * ", " + ", " - ", " / "])


def _expression(draw_atoms, draw_ops):
    text = draw_atoms[0]
    for op, atom in zip(draw_ops, draw_atoms[1:], strict=False):
        text = f"({text}{op}{atom})" if op in (" + ", " - ") else f"{text}{op}{atom}"
    return text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["dZ1", "dZ2", "dW1", "dW2", "db1", "dA1"]),
       st.lists(ATOMS, min_size=1, max_size=5), st.lists(OPS, min_size=4, max_size=4))
def test_well_formed_formulas_get_a_verdict(target, atoms, ops):
    text = f"{target} = {_expression(atoms, ops)}"
    for net in (None, NET):
        v = check_equation(text, net)
        assert v.verdict in ("correct", "shape_error", "not_equivalent", "parse_error")
        assert "please report" not in v.message, (text, v.message)
        if v.verdict != "parse_error":
            assert v.expected and v.expected_latex and v.target
        if v.verdict in ("shape_error", "not_equivalent"):
            assert v.mistakes


def test_wide_network_is_checked_at_a_narrower_stand_in():
    """The course's 12288-20-7-5-1 network: numbers on a narrower copy, verdicts unchanged."""
    net = Network(layers=[12288, 20, 7, 5, 1], activations=["relu", "relu", "relu", "sigmoid"],
                  loss="bce")
    assert check_equation("dZ3 = np.dot(W4.T, dZ4) * np.int64(Z3 > 0)", net).verdict == "correct"
    v = check_equation("dW1 = np.dot(dZ1, X.T)", net)
    assert (v.verdict, v.mistakes[0].code) == ("not_equivalent", "missing_scale")
    assert "12288 →" in v.counterexample["note"]
    v = check_equation("dW1 = 1/m * np.dot(X.T, dZ1)", net)
    assert (v.verdict, v.mistakes[0].code) == ("shape_error", "wrong_order")
    assert "12288" in v.message


# -- the generic network's options reach the checker ------------------------------------------------
def _json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_rows_without_a_scale_reads_cs231n_scale(capsys):
    # CS231n's dW2 = A1.T.dot(dscores): the 1/N is inside dscores (scale dZ), so no 1/m here
    code, out = _json(capsys, ["check", "--convention", "rows", "--json", "dW2 = A1.T.dot(dZ2)"])
    assert code == 0 and out["verdict"] == "correct"
    code, out = _json(capsys, ["check", "--convention", "rows", "--scale", "mean", "--json",
                               "dW2 = A1.T.dot(dZ2)"])
    assert code == 1 and [m["code"] for m in out["mistakes"]] == ["missing_scale"]


def test_l2_flags_reach_a_generic_network(capsys):
    eq = "dW1 = 1/m * np.dot(dZ1, X.T) + lambd/m * W1"
    code, out = _json(capsys, ["check", "--l2", "--json", eq])
    assert code == 0 and out["verdict"] == "correct"
    code, out = _json(capsys, ["check", "--l2", "--l2-form", "plain", "--json", eq])
    assert code == 1 and out["verdict"] == "not_equivalent"


def test_code_rows_without_a_scale_says_so(capsys, tmp_path):
    path = tmp_path / "affine.py"
    path.write_text("def f(dout, cache):\n    x, w, b = cache\n    dw = x.T.dot(dout)\n"
                    "    return dw\n", encoding="utf-8")
    code, out = _json(capsys, ["check", "--code", str(path), "--convention", "rows",
                               "--layer", "2", "--json"])
    assert code == 0 and [r["verdict"] for r in out["results"]] == ["correct"]
    assert any("scale dZ" in n for n in out["notes"])


def test_bind_values_may_be_formulas_with_commas(capsys):
    code, out = _json(capsys, ["check", "--layers", "3,4,1", "--act", "relu,sigmoid", "--loss",
                               "bce", "--layer", "2", "--json", "--bind",
                               "s=np.divide(1, 1 + np.exp(-Z)),q=A[1]", "dZ = dA * s * (1 - s)"])
    assert code == 0 and out["verdict"] == "correct"
    code, out = _json(capsys, ["check", "--layers", "3,4,1", "--act", "relu,sigmoid", "--loss",
                               "bce", "--layer", "2", "--json", "--bind",
                               "s=np.divide(1, 1 + np.exp(-Z))", "dZ = dA * s"])
    assert code == 1 and out["verdict"] == "not_equivalent"


def test_a_given_rows_network_is_read_like_the_generic_one(capsys, tmp_path):
    # issue 12: with --convention rows, CS231n's correct dW2 = A1.T.dot(dZ2) was missing_scale:
    # the 1/N is inside dscores (scale dZ), for a given network as for the generic one
    spec = ["--layers", "3,4,2", "--act", "relu,softmax", "--loss", "ce"]
    assert main(["check", "dW2 = A1.T.dot(dZ2)", *spec, "--convention", "rows", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "correct" and any("scale dZ" in n for n in out["notes"])
    # --scale mean keeps the course's per-example dZ: then the 1/m is missing
    assert main(["check", "dW2 = A1.T.dot(dZ2)", *spec, "--convention", "rows",
                 "--scale", "mean"]) == 1
    capsys.readouterr()
    # --dialect cs231n without --convention: CS231n's rows
    code = tmp_path / "affine.py"
    code.write_text("def affine_backward(dout, cache):\n    x, w, b = cache\n"
                    "    dx = dout.dot(w.T)\n    dw = x.T.dot(dout)\n"
                    "    db = np.sum(dout, axis=0)\n    return dx, dw, db\n")
    assert main(["check", "--code", str(code), *spec, "--dialect", "cs231n", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["results"]
    assert [r["verdict"] for r in res] == ["correct"] * 3


def test_a_formula_over_the_length_limit_is_shown_as_an_excerpt(capsys):
    """The 'cannot check' message shows 60 characters either side of the position, with "…",
    not the whole input; the caret is under the character at that position."""
    text = "dW1 = " + " + ".join(f"W{k % 9 + 1}" for k in range(700))
    assert len(text) > 2000
    code = main(["check", text, "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert (code, out["verdict"], out["position"]) == (2, "parse_error", 2000)
    head, shown, caret = out["message"].split("\n")
    assert head == f"the input is {len(text)} characters long; at most 2000 are read (at position 2001)"
    assert shown == "  …" + text[1940:2060] + "…"
    assert caret == "  " + " " * 61 + "^" and shown[caret.index("^")] == text[2000]
    short = main(["check", "dW1 = 1/m np.dot(dZ1, X.T", "--format", "json"])
    msg = json.loads(capsys.readouterr().out)["message"]
    assert short == 2 and msg == "unclosed '(' (at position 17)\n  dW1 = 1/m np.dot(dZ1, X.T\n" \
        "                  ^"
