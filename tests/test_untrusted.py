"""User text never reaches SymPy's string parser (parse_expr, and so eval): a trap proves it.

The rule catalogue is SymPy text too, but trusted project data: it is parsed before the trap is set.
"""

from __future__ import annotations

import pytest
import sympy.parsing.sympy_parser as sympy_parser

import derive
from derive.catalogue import rules
from derive.cli import main
from derive.network import model

FORMULAS = [
    "dZ1 = W2^T dZ2 * g1'(Z1)",
    "dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])",
    "dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^{\\top}",
    "db1 = 1/m * np.sum(dZ1, axis=1, keepdims=True)",
    "dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))",
    "dZ1 = W2.T @ dZ2 * (Z1 > 0)",
    "dZ2 = A2 - Y",
    "dZ1 = __import__('os').system('echo pwned')",
    "dW1 = (lambda: 1)()",
    "dW1 = X.__class__",
    "dW1 = 2**2**2**2**99",
    "dW1 = 9^{9^{9^{9}}}",
    "dW1 = exp(log(X))",
    "dW1 = sympify('x')",
    "dZ1 = eval('1')",
]


@pytest.fixture
def trapped(monkeypatch):
    for name in rules.activations():  # the trusted catalogue, parsed before the trap
        act = rules.activations()[name]
        act.forward, act.derivative, act.range, act.kinks, act.derivative_bound  # noqa: B018
    standins = [model.standin_activation(l) for l in range(1, 9)]
    for act in standins:  # the documented stand-ins for a generic g[l]: our text, not the user's
        act.forward, act.derivative, act.range, act.kinks, act.derivative_bound  # noqa: B018
    for loss in [rules.losses()[name] for name in rules.losses()] + [model.standin_loss()]:
        loss.per_unit, loss.a_range, loss.y_range  # noqa: B018
    import sympy.physics.units  # noqa: F401 - SymPy parses its own unit names on import (simplify)

    calls = []

    def trap(text, *args, **kwargs):
        calls.append(text)
        raise AssertionError(f"user text reached SymPy's parser: {text!r}")

    monkeypatch.setattr(sympy_parser, "parse_expr", trap)
    return calls


@pytest.mark.parametrize("formula", FORMULAS)
def test_check_never_parses_user_text_with_sympy(trapped, formula):
    net = derive.Network(layers=[3, 4, 1], activations=["tanh", "sigmoid"], loss="bce")
    verdict = derive.check(formula, net)
    assert verdict.verdict in ("correct", "shape_error", "not_equivalent", "parse_error")
    verdict = derive.check(formula)  # the generic network
    assert verdict.verdict in ("correct", "shape_error", "not_equivalent", "parse_error")
    assert trapped == []


def test_cli_paths_never_parse_user_text_with_sympy(trapped, tmp_path, capsys):
    main(["check", "dZ1 = W2^T dZ2 * g1'(Z1)", "--layers", "3,3,1", "--act", "relu,sigmoid",
          "--loss", "bce", "--json"])
    main(["jacobian", "Z1", "W1", "--naive", "dZ1 = dZ2 W2.T * g1'(Z1)"])
    main(["handout", "--title", "\\input{/etc/passwd} $x$", "-o", str(tmp_path / "h.tex")])
    capsys.readouterr()
    assert trapped == []
