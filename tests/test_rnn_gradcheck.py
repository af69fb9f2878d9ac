"""The RNN gradient check: it passes on the derived formulas for T = 1..6 and fails, on the right
gradients, when a mistake is planted; the derived gradients it checks are autograd's."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from derive.errors import SpecError
from derive.rnn import cli
from derive.rnn.derivation import build
from derive.rnn.gradcheck import derived_gradients, gradcheck, instance, numeric_gradients, plant
from derive.rnn.spec import RNN
from tests import oracle_rnn as O


@pytest.mark.parametrize("T", [1, 2, 3, 4, 5, 6])
def test_passes_on_the_derived_formulas(T):
    r = gradcheck(RNN(3, 4, 2, T, examples=3), seed=T)
    assert r.passed, r.errors
    assert [k for k, _ in r.errors] == ["dWax", "dWaa", "dWya", "dba", "dby", "dx", "da0"]
    assert max(e for _, e in r.errors) < 1e-7


def test_the_checked_gradients_are_autograds_and_so_are_the_differences():
    rnn = RNN(3, 4, 2, 5, examples=2)
    inst = instance(rnn, 3)
    d = build(rnn)
    ours, numeric = derived_gradients(d, inst), numeric_gradients(d, inst)
    theirs = O.rnn_gradients(inst["x"], inst["a0"], inst["parameters"], inst["Y"])
    for k, v in ours.items():
        np.testing.assert_allclose(v, theirs[k], rtol=1e-10, atol=1e-13, err_msg=k)
        np.testing.assert_allclose(numeric[k], theirs[k], rtol=1e-5, atol=1e-8, err_msg=k)


@pytest.mark.parametrize("T", [2, 4, 6])
def test_missing_sum_over_t_fails_on_dWaa_alone(T):
    r = gradcheck(RNN(3, 4, 2, T, examples=3), mistake="missing_sum")
    assert not r.passed
    assert [k for k, e in r.errors if e > 1e-7] == ["dWaa"]
    assert dict(r.errors)["dWaa"] > 1e-3


@pytest.mark.parametrize("T", [2, 4, 6])
def test_da_prev_not_carried_fails_below_the_output(T):
    r = gradcheck(RNN(3, 4, 2, T, examples=3), mistake="no_carry")
    bad = {k for k, e in r.errors if e > 1e-7}
    assert bad == {"dWax", "dWaa", "dba", "dx", "da0"}  # dWya, dby do not go through a⟨t+1⟩
    assert min(dict(r.errors)[k] for k in bad) > 1e-3


def test_one_step_has_no_later_step_to_carry():
    assert gradcheck(RNN(3, 4, 2, 1, examples=3), mistake="no_carry").passed
    assert gradcheck(RNN(3, 4, 2, 1, examples=3), mistake="missing_sum").passed


def test_unknown_mistake_is_named():
    with pytest.raises(SpecError, match="unknown mistake 'nope'; known: missing_sum, no_carry"):
        plant(build(RNN(2, 2, 2, 2)), "nope")


def _args(**kw):
    base = {"spec": "rnn.toml", "seed": 0, "eps": None, "rtol": None, "plant": None, "m": None,
            "format": "text", "values": None, "impl": None, "forward": None, "layers": None,
            "act": None}
    return argparse.Namespace(**{**base, **kw})


TABLE = {"rnn": {"input": 3, "hidden": 4, "output": 2, "steps": 3, "examples": 2}}


def test_command_exit_codes_and_text(capsys):
    assert cli.gradcheck(_args(), TABLE) == 0
    out = capsys.readouterr().out
    assert "dWaa  relative error" in out and out.strip().endswith("the course's measure)")
    assert cli.gradcheck(_args(plant="missing_sum"), TABLE) == 1
    out = capsys.readouterr().out
    assert "planted mistake missing_sum" in out and "FAIL" in out
    assert cli.gradcheck(_args(format="json", m=3), TABLE) == 0
    assert '"passed": true' in capsys.readouterr().out


def test_a_mistake_planted_at_one_step_says_it_changes_nothing(capsys):
    """At T_x = 1 there is no sum over t to drop nor a later step to carry from: the check passes,
    and the output says why instead of seeming to miss the mistake."""
    one = {"rnn": {**TABLE["rnn"], "steps": 1}}
    assert cli.gradcheck(_args(plant="no_carry"), one) == 0
    out = capsys.readouterr().out
    assert "at T_x = 1 no_carry changes nothing" in out and "steps ≥ 2" in out
    r = gradcheck(RNN(3, 4, 2, 1, examples=3), mistake="missing_sum")
    assert r.as_dict()["mistake_changes_nothing"] is True
    assert gradcheck(RNN(3, 4, 2, 2, examples=3), mistake="missing_sum").as_dict()[
        "mistake_changes_nothing"] is False


def test_the_handouts_planted_mistakes_fail_even_for_a_one_step_spec():
    from derive.rnn.handout import handout

    md = handout(RNN(3, 4, 2, 1, examples=2), format="md")
    head = next(line for line in md.splitlines() if line.startswith("| gradient |"))
    verdict = next(line for line in md.splitlines() if line.startswith("| verdict |"))
    cells = [c.strip() for c in head.strip("|").split("|")]
    verdicts = dict(zip(cells, [c.strip() for c in verdict.strip("|").split("|")], strict=True))
    assert verdicts == {"gradient": "verdict", "derived": "passed", "missing sum": "FAILED",
                        "no carry": "FAILED"}, verdicts


def test_a_long_check_is_refused_by_its_forward_passes_not_only_its_arithmetic():
    """Each batched forward pass walks every step (about 180 µs a step, whatever its size): 1,000
    steps of the default sizes took 105 s (measured), with an arithmetic estimate under the limit.
    The passes count now: it is refused before any is run."""
    from derive.errors import ResourceLimit

    with pytest.raises(ResourceLimit, match="rnn.gradcheck_work"):
        gradcheck(RNN(steps=1000))
    assert gradcheck(RNN(3, 5, 2, 60, examples=4)).passed  # a few hundred passes: a second


def test_a_long_sequence_differences_each_steps_cost_not_their_sum():
    """J sums T_x · m cross-entropies: differenced whole, its round-off (~|J| · 1e-16 / ε) reached
    2e-8 of dx at 150 steps (5e-8 at 200), within a few times of the 1e-7 threshold. Each step's
    term differenced alone, then summed, keeps the check's own error near the short sequences'."""
    r = gradcheck(RNN(3, 5, 2, 150, examples=8))
    assert r.passed and max(e for _, e in r.errors) < 5e-9, r.errors
