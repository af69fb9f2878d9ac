"""CNN proofs in the proof cache (derive.engine.proof_cache): a second proof of the same spec
reads every conv, pool and flatten step's result instead of proving it again, and only then.

Every test has an empty cache folder of its own (tests/conftest.py), so the first proof in a test
is a cold one.
"""

from __future__ import annotations

import time
from dataclasses import replace

from derive.conv import proof as P
from derive.conv.derivation import derive_cnn
from derive.conv.planted import MISTAKES
from derive.conv.render import text
from derive.conv.spec import EXAMPLE, load_cnn
from derive.engine import proof_cache


def _fields(p):
    return (p.name, p.kind, p.layer, p.elementwise, p.entries, p.method, p.fd_error, p.fd_passed)


def test_second_proof_of_a_spec_comes_from_the_cache_with_the_same_results():
    cnn = load_cnn(EXAMPLE)
    t0 = time.perf_counter()
    cold = derive_cnn(cnn, prove=True)
    cold_s = time.perf_counter() - t0
    assert all(s.proof.cached is None for s in cold.steps)
    t0 = time.perf_counter()
    warm = derive_cnn(cnn, prove=True)
    warm_s = time.perf_counter() - t0
    assert [_fields(s.proof) for s in warm.steps] == [_fields(s.proof) for s in cold.steps]
    assert all(s.proof.cached for s in warm.steps), [s.name for s in warm.steps if not s.proof.cached]
    assert warm.proof.passed and "proven (cached, " in text(warm)
    assert "cached" not in text(cold)
    assert warm_s < cold_s / 3, (cold_s, warm_s)


def test_a_changed_layer_or_seed_is_proven_again():
    cnn = load_cnn(EXAMPLE)
    d = derive_cnn(cnn, prove=True)
    conv = cnn.layers[0]
    other = replace(cnn, layers=(replace(conv, pad=0), *cnn.layers[1:]))
    step = d.step("dW", 1)
    assert P.cache_key(cnn, step, 0, P.THRESHOLD) != P.cache_key(other, step, 0, P.THRESHOLD)
    assert P.cache_key(cnn, step, 0, P.THRESHOLD) != P.cache_key(cnn, step, 1, P.THRESHOLD)
    assert P.cache_key(cnn, step, 0, P.THRESHOLD) != P.cache_key(cnn, step, 0, 1e-6)
    again = derive_cnn(cnn, prove=True, seed=1)
    assert not any(s.proof.cached for s in again.steps if not s.dense)


def test_a_planted_mistake_is_never_answered_from_the_cache():
    derive_cnn(load_cnn(EXAMPLE), prove=True)
    d = derive_cnn(load_cnn(EXAMPLE), prove=True)  # every step now in the cache
    step = d.step("dA", 0)  # dX
    assert step.proof.cached
    wrong = replace(step, expr=MISTAKES["unflipped_filters"].apply(step.expr), proof=None)
    p = P.prove_step(d, wrong)
    assert p.cached is None and not p.passed
    assert P.prove_step(d, replace(step, proof=None)).cached  # the right one is in it


def test_no_cache_proves_afresh():
    cnn = load_cnn(EXAMPLE)
    derive_cnn(cnn, prove=True)
    previous = proof_cache.disable(True)
    try:
        d = derive_cnn(cnn, prove=True)
    finally:
        proof_cache.disable(previous)
    assert not any(s.proof.cached for s in d.steps)
