"""Both proofs of every BPTT formula for T = 1..6, and both failing on wrong formulas (a proof that
cannot fail proves nothing)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from derive.core import expr as E
from derive.rnn.derivation import build
from derive.rnn.proof import FD_SIZES, SYMBOLIC_SIZES, derive_rnn, numeric_check, symbolic_check
from derive.rnn.spec import RNN


@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 6])
def test_every_formula_proven_both_ways(T):
    d = derive_rnn(RNN(3, 5, 2, T, examples=4))
    assert len(d.steps) == 6 * T + 5
    for s in d.steps:
        assert s.proof.elementwise == "exact", (s.name, s.proof.elementwise)
        assert s.proof.fd_error < 1e-8, (s.name, s.proof.fd_error)
    nx, na, ny, m = SYMBOLIC_SIZES  # every entry of the quantity differentiated, at these sizes
    assert d.step("dWax").proof.entries == na * nx and d.step("dWya").proof.entries == ny * na
    assert d.step(f"dxt⟨{T}⟩").proof.entries == nx * m and d.step("dba").proof.entries == na
    assert d.passed


def test_a_long_derivation_is_proven_by_the_steps_of_the_same_kind():
    d = derive_rnn(RNN(3, 5, 2, 9))
    assert d.passed
    assert d.step("dWaa").proof.entries == 4  # n_a = 2 of the symbolic instance


def _small(T):
    nx, na, ny, m = SYMBOLIC_SIZES
    exact = build(RNN(nx, na, ny, T, examples=m))
    nx, na, ny, m = FD_SIZES
    numeric = build(RNN(nx, na, ny, T, examples=m))
    return exact, numeric


def _mutate(d, name, fn):
    s = d.step(name)
    return d, replace(s, expr=fn(s, d))


def _fails(T, name, fn):
    exact, numeric = _small(T)
    _, wrong_exact = _mutate(exact, name, fn)
    _, wrong_numeric = _mutate(numeric, name, fn)
    ew, _ = symbolic_check(exact, wrong_exact)
    err = numeric_check(numeric, wrong_numeric, seed=0, eps=1e-5)
    return ew, err


MUTATIONS = {
    # only the last step's term: the missing sum over t
    "dWaa": lambda s, d: s.expr.terms[-1],
    # the recurrent weight without its transpose (Waa is square: the shapes still fit)
    "da_prev⟨2⟩": lambda s, d: E.MatMul(d.step("dWaa").expr.terms[0].left.__class__(
        "Waa", None, s.expr.left.arg.shape), s.expr.right),
    # da_prev not carried: the path through a⟨t+1⟩ lost
    "da_next⟨2⟩": lambda s, d: s.expr.left,
    # tanh's derivative written as 1 − a (not 1 − a²)
    "dtanh⟨2⟩": lambda s, d: E.Hadamard(
        E.Pointwise(1 - s.expr.left.params[0], s.expr.left.params, s.expr.left.args), s.expr.right),
    # the output's gradient without y
    "dy⟨3⟩": lambda s, d: s.expr.left,
    # a bias summed over the wrong axis is a shape error; over nothing, a wrong value
    "dby": lambda s, d: E.Sum(s.expr.terms[-1].arg, 1),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_both_proofs_fail_on_a_wrong_formula(name):
    ew, err = _fails(3, name, MUTATIONS[name])
    assert ew != "exact" and ew.startswith("entry ("), ew
    assert err > 1e-3, err


def test_a_second_derivation_reads_its_proofs_from_the_cache(monkeypatch):
    """The proofs are the cold run's cost (3.6 s for 4 steps, every run): the second run of the
    same spec reads each step's two results from the proof cache, the same results, dated; with
    the cache off (--no-cache) it proves afresh; a cached entry that is not whole is proven again."""
    import time

    from derive.engine import proof_cache
    from derive.rnn import proof as P

    rnn = RNN(3, 5, 2, 3, examples=2)
    first = derive_rnn(rnn)
    assert first.passed and all(s.proof.cached is None for s in first.steps)
    proven = []
    monkeypatch.setattr(P, "symbolic_check", lambda *a: proven.append(a) or ("exact", 0))
    start = time.perf_counter()
    second = derive_rnn(rnn)
    assert time.perf_counter() - start < 1.0 and proven == []  # nothing proven again
    assert [s.proof.as_dict() for s in second.steps] == [s.proof.as_dict() for s in first.steps]
    assert all(s.proof.cached for s in second.steps)
    assert "from the proof cache" in P_text(second)
    previous = proof_cache.disable(True)
    try:
        assert derive_rnn(rnn).step("dWaa").proof.entries == 0  # proven afresh: the stub's 0
    finally:
        proof_cache.disable(previous)


def P_text(d):
    from derive.rnn.render import to_text

    return to_text(d)
