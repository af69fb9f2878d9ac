"""Hostile input: injection attempts, huge exponents, deep nesting, look-alikes, and fuzzing.

Every input gives an Equation, a ParseError (with a position where there is one) or a
ShapeMismatch; never another exception, never a hang (hypothesis deadlines bound the time).
"""

from __future__ import annotations

import builtins
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import Network
from derive.parse import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_TOKENS,
    Equation,
    parse_equation,
    parse_expression,
)

NET = Network(layers=[3, 4, 2], activations=["relu", "sigmoid"], loss="bce")
SYMBOLIC = Network(depth=3)

HOSTILE = [
    ("dZ1 = __import__('os').system('rm -rf /')", "unknown name '__import__'"),
    ("dZ1 = W2.__class__.__bases__[0].__subclasses__()", "attribute .__class__"),
    ("dZ1 = W2.T.__dict__", "attribute .__dict__"),
    ("dZ1 = (lambda: 0)()", "COLON"),
    ("dZ1 = [x for x in A1]", "unexpected '\\['"),
    ("dZ1 = {x: 1 for x in A1}", "unknown name .x.|COLON|not read|cannot"),
    ("dZ1 = eval('A1')", "unknown name 'eval'"),
    ("dZ1 = np.load('x.npy')", "np.load is not allowed"),
    ("dZ1 = np.__dict__", "np.__dict__ is not allowed"),
    ("dZ1 = A1; import os", "unexpected character ';'"),
    ('dZ1 = "A1"', "unexpected character '\"'"),
    ("dZ1 = A1 if True else A1", "unknown name 'if'"),
    ("dZ1 = _p0", "unknown name '_p0'"),
    ("dZ1 = _jx(A1, A1)", "unknown name '_jx'"),
    ("dZ1 = foo(Z1)", "unknown name 'foo'"),
    ("dZ1 = A1.sum(axis=A1)", "expected a number"),
    ("dZ1 = np.sum(A1, axis=7, keepdims=True)", "axis=7"),
    ("dZ1 = np.sum(A1, out=A1)", "unexpected keyword"),
    ("dZ1 = 2**2**2**2**99", "exponent"),
    ("dZ1 = A1 ** 100", "exponent"),
    ("dZ1 = A1 ** A1", "exponent must be a number"),
    ("dZ1 = 9**64 * 9**64 * 9**64 * 9**64 * 9**64 * 9**64 * A1", "too large"),
    (r"dZ^{[1]} = 9^{9^{9^{9}}} A^{[1]}", "exponent"),
    ("dZ1 = 1e999 * A1", "too large"),
    ("dZ1 = " + "9" * 40 + " * A1", "digits"),
    ("dZ1 = " + "(" * (MAX_DEPTH + 5) + "A1" + ")" * (MAX_DEPTH + 5), "nested"),
    ("dZ1 = " + "-" * 300 + "A1", "deep"),
    ("dZ1 = " + " + ".join(["A1"] * 150), "deep"),
    ("dZ1 = " + "A1 " * (MAX_TOKENS + 10), "tokens"),
    ("dZ1 = " + "A1+" * 700 + "A1", "characters long"),
    (r"dZ^{[1]} = " + r"\frac{" * 50 + "1" + "}{2}" * 50, "nested"),
    ("dZ1 = А1", "CYRILLIC CAPITAL LETTER A"),
    ("dZ1 = W2ᵀ dZ2 ⊙ g′(Ζ1)", "GREEK CAPITAL LETTER ZETA"),
    ("dZ1 = A1\u200b", "invisible"),
    ("dZ1 = A1\x00", "control"),
    ("", "empty"),
    ("   ", "empty"),
    ("dZ1", "needs a left side"),
    ("dZ1 =", "nothing on the right"),
    ("= A1", "nothing on the left"),
    ("dZ1 = A1 = A1", "more than one '='"),
    ("A1 = dZ1", "left side must name one gradient"),
    ("dZ1 = (A1", "unclosed"),
    ("dZ1 = A1)", "unmatched"),
    ("dZ9 = A1", "dZ\\[9\\] is not in this network"),
    ("dZ1 = A1 +", "ends where an operand"),
    ("dZ1 = relu'", "needs its argument"),
    ("dZ1 = A1'", "prime"),
    (r"dZ^{[1]} = \input{/etc/passwd}", "not read"),
    (r"dZ^{[1]} = \def\x{A}", "not read"),
    ("dZ2 = softmax'(Z2) * dA2", "not element-wise"),
]


@pytest.mark.parametrize("text,match", HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_inputs_are_parse_errors(text, match, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached eval/exec/compile")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    softmax = Network(layers=[3, 4, 3], activations=["relu", "softmax"], loss="ce")
    with pytest.raises(ParseError, match=match) as info:
        parse_equation(text, softmax if "softmax" in text else NET)
    assert isinstance(info.value.message, str) and info.value.message


def test_positions_point_at_the_problem():
    with pytest.raises(ParseError) as info:
        parse_equation("dZ1 = W2.T @ foo(dZ2)", NET)
    assert info.value.position == 13
    assert "known:" in info.value.message and "np.dot" in info.value.message
    with pytest.raises(ParseError) as info:
        parse_equation("dZ1 = W2ᵀ dZ2 ⊙ g′(Z1) + Ζ1", NET)
    assert info.value.position == 25
    with pytest.raises(ParseError) as info:
        parse_equation("dZ1 = W2.T @ dZ2 * A1.__len__()", NET)
    assert info.value.position == 22


def test_bounds_are_documented_constants():
    assert MAX_LENGTH == 2000 and MAX_DEPTH >= 20 and MAX_TOKENS >= 200
    ok = "dZ1 = " + "+".join(["A1"] * 20)
    assert isinstance(parse_equation(ok, NET), Equation)


# -- fuzzing ---------------------------------------------------------------------------------------
TOKENS = [
    "dZ1", "dZ[2]", "W2", "W[2]T", "W2.T", "W2ᵀ", "X", "X.T", "Y", "A1", "Z1", "b1", "db1", "m",
    "dz1", "dW[l]", "A[l-1]", "dZ[L]", "g1'", "g'", "relu'", "σ′", "tanh", "(", ")", "[", "]",
    ",", "=", "+", "-", "−", "*", "/", "@", "**", "^", "⊙", "∘", "·", "ᵀ", "²", "'", ".", "1",
    "2", "0,5", "1/m", "99", "np.dot(", "np.sum(", "axis=1", "keepdims=True", "np.power(",
    "np.where(", "np.exp(", "np.int64(", ".astype(float)", ".sum(", ">", "0", "𝟙", "dL/dZ1",
    "∂L/∂W1", "__class__", "lambda", "_p0", "\\frac{", "}{", "}", "{", "\\partial", "^{[1]}",
    "_1", "\\odot", "\\cdot", "\\sum_{i=1}^{m}", "^{(i)}", "\\mathbf{1}", "\\left(", "\\right)",
    "\\sigma", "\\prime", "\\top", "e^{", "\\mathrm{np.sum}", " ", "А", "\u200b",
]
soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
spaced_soup = st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join)
equations = st.tuples(st.sampled_from(["dZ1 = ", "dW[l] = ", r"dZ^{[1]} = ", "db2 = ", ""]),
                      st.one_of(soup, spaced_soup)).map("".join)

FUZZ = settings(max_examples=300, deadline=timedelta(seconds=2),
                suppress_health_check=[HealthCheck.too_slow])


def _outcome(text: str, net: Network, syntax: str = "auto", expression: bool = False):
    try:
        out = parse_expression(text, net, syntax) if expression else \
            parse_equation(text, net, syntax)
    except ParseError as exc:
        assert exc.position is None or 0 <= exc.position <= len(text) + 1
        return "parse_error"
    except ShapeMismatch as exc:
        assert exc.left and exc.right
        return "shape_error"
    if not expression:
        assert isinstance(out, Equation) and out.rhs.shape
        str(out.rhs)  # printable
    return "ok"


@FUZZ
@given(st.text(max_size=200), st.sampled_from(["auto", "latex", "text"]))
def test_fuzz_any_text(text, syntax):
    _outcome(text, NET, syntax)


@FUZZ
@given(equations, st.sampled_from(["auto", "latex", "text"]),
       st.sampled_from([NET, SYMBOLIC]))
def test_fuzz_token_soup(text, syntax, net):
    _outcome(text, net, syntax)
    _outcome(text.partition("=")[2], net, syntax, expression=True)
