"""The proofs must fail for wrong formulas: each mistake students make is caught by both proofs."""

from __future__ import annotations

from dataclasses import replace

import pytest

import derive
from derive.core import expr as E
from derive.engine.backward import derive as run
from derive.engine.proof import prove
from derive.errors import ProofFailure

NET = derive.Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce")


def _with(d, kind, layer, new_expr):
    formulas = tuple(
        replace(f, expr=new_expr) if (f.kind, f.layer) == (kind, layer) else f for f in d.formulas
    )
    return replace(d, formulas=formulas)


def _mutations(d):
    dW1 = d.formula("dW", 1).expr  # (1/m) dZ[1] Xᵀ
    dZ1 = d.formula("dZ", 1).expr  # W[2]ᵀ dZ[2] ⊙ tanh′(Z[1])
    matmul, deriv = dZ1.left, dZ1.right
    yield "missing 1/m", "dW", 1, dW1.arg
    yield "doubled", "dW", 1, E.Scale(2, dW1)
    yield "A for g′(Z)", "dZ", 1, E.Hadamard(matmul, E.Sym("A", 1, deriv.shape))
    yield "sign", "dZ", 1, E.Scale(-1, dZ1)
    yield (
        "wrong activation derivative",
        "dZ",
        1,
        E.Hadamard(matmul, E.Deriv(derive.catalogue.rules.activations()["sigmoid"], 1, deriv.arg)),
    )
    yield (
        "dZ output sign",
        "dZ",
        2,
        E.Sub(
            E.Sym("Y", None, deriv.shape[:1] + (deriv.shape[1],))
            if False
            else d.formula("dZ", 2).expr.args[1],
            d.formula("dZ", 2).expr.args[0],
        ),
    )


@pytest.mark.parametrize("case", range(6))
def test_wrong_formulas_fail_both_proofs(case):
    d = run(NET, prove=False)
    name, kind, layer, wrong = list(_mutations(d))[case]
    p = prove(_with(d, kind, layer, wrong))
    bad = [f for f in p.formulas if (f.kind, f.layer) == (kind, layer)][0]
    assert bad.elementwise == "failed", name
    assert not bad.fd_passed, name
    assert not p.passed
    with pytest.raises(ProofFailure):
        prove(_with(d, kind, layer, wrong), strict=True)


def test_wrong_transpose_fails_on_square_weights():
    # With square W the wrong transpose type-checks; only the values can catch it.
    net = derive.Network(layers=[3, 3, 3], activations=["tanh", "sigmoid"], loss="bce")
    d = run(net, prove=False)
    dA1 = d.formula("dA", 1).expr  # W[2]ᵀ dZ[2]
    p = prove(_with(d, "dA", 1, E.MatMul(dA1.left.arg, dA1.right)))
    bad = [f for f in p.formulas if f.name == "dA[1]"][0]
    assert bad.elementwise == "failed" and not bad.fd_passed


def test_proof_reports_every_formula():
    d = derive.backward(NET)
    assert [f.name for f in d.proof.formulas] == [f.name for f in d.formulas]
    assert all(f.entries > 0 for f in d.proof.formulas)
    assert d.proof.max_fd_error < 1e-6
    assert "σ′ = a*(1 - a)" in d.proof.identities


def test_wide_layers_are_proven_at_small_sizes():
    # the formulas do not depend on the sizes: a 1000-500-10 network is proven at 2-3 (exact)
    # and at most 16 units per layer (finite differences), not with 500,000 symbols
    d = derive.backward(derive.Network(layers=[1000, 500, 10], activations=["relu", "softmax"],
                                       loss="ce"))
    assert d.proof.passed
    assert d.proof.fd_sizes == (16, 16, 10)
    assert max(f.entries for f in d.proof.formulas) <= 9
