"""The RNN spec and the BPTT derivation: golden formulas (the course's names and loop), every cited
identity in the catalogue, and hostile specs refused with the key that is wrong."""

from __future__ import annotations

import re

import pytest

from derive.catalogue import rules
from derive.errors import ResourceLimit, SpecError
from derive.rnn import load_rnn
from derive.rnn.derivation import build
from derive.rnn.identities import lookup, rnn_identities
from derive.rnn.render import generic_steps
from derive.rnn.spec import RNN

SPEC = """
[rnn]
input = 3
hidden = 5
output = 2
steps = 4
activation = "tanh"
output_activation = "softmax"
loss = "ce"
examples = 10
"""

# one time step (t < T_x) and the sums: as the course writes them (rnn_cell_backward, rnn_backward)
GOLDEN = [
    ("dy⟨t⟩ = ŷ⟨t⟩ − y⟨t⟩", "dy = y_hat - y", "rnn_output_gradient"),
    ("da_out⟨t⟩ = Wyaᵀ dy⟨t⟩", "da[:, :, t] = np.dot(Wya.T, dy)", "rnn_output_to_state"),
    ("da_next⟨t⟩ = da_out⟨t⟩ + da_prev⟨t+1⟩", "da_next = da[:, :, t] + da_prevt",
     "rnn_state_two_paths"),
    ("dtanh⟨t⟩ = (1 − a⟨t⟩²) ⊙ da_next⟨t⟩", "dtanh = (1 - a_next**2) * da_next",
     "rnn_activation_chain"),
    ("dxt⟨t⟩ = Waxᵀ dtanh⟨t⟩", "dxt = np.dot(Wax.T, dtanh)", "rnn_input_gradient"),
    ("da_prev⟨t⟩ = Waaᵀ dtanh⟨t⟩", "da_prev = np.dot(Waa.T, dtanh)", "rnn_recurrent_gradient"),
    ("dWax = Σₜ₌₁^4 dtanh⟨t⟩ x⟨t⟩ᵀ", "dWax += np.dot(dtanh, xt.T)", "rnn_shared_weight"),
    ("dWaa = Σₜ₌₁^4 dtanh⟨t⟩ a⟨t−1⟩ᵀ", "dWaa += np.dot(dtanh, a_prev.T)", "rnn_shared_weight"),
    ("dba = Σₜ₌₁^4 sum(dtanh⟨t⟩, axis=1)", "dba += np.sum(dtanh, axis=1, keepdims=True)",
     "rnn_shared_bias"),
    ("dWya = Σₜ₌₁^4 dy⟨t⟩ a⟨t⟩ᵀ", "dWya += np.dot(dy, a_next.T)", "rnn_shared_weight"),
    ("dby = Σₜ₌₁^4 sum(dy⟨t⟩, axis=1)", "dby += np.sum(dy, axis=1, keepdims=True)",
     "rnn_shared_bias"),
]


def test_golden_bptt_step_and_course_loop():
    d = build(load_rnn(SPEC))
    got = [(s.template_text, s.loop, s.rule) for s in generic_steps(d)]
    assert got == GOLDEN


def test_unrolled_steps_carry_da_prev_and_stop_at_the_last_step():
    d = build(RNN(3, 5, 2, 3))
    assert d.step("da_next⟨3⟩").text == "da_next⟨3⟩ = da_out⟨3⟩"  # no later step at T_x
    assert d.step("da_next⟨2⟩").text == "da_next⟨2⟩ = da_out⟨2⟩ + da_prev⟨3⟩"
    assert d.step("da_next⟨1⟩").text == "da_next⟨1⟩ = da_out⟨1⟩ + da_prev⟨2⟩"
    assert [s.t for s in d.steps].count(None) == 5  # the five sums
    assert len(d.steps) == 6 * 3 + 5
    assert d.step("dWaa").expr.terms[0].to_text() == "dtanh⟨1⟩ a⟨0⟩ᵀ"  # a⟨0⟩ = a0 enters


def test_shapes_of_the_course():
    d = build(RNN(3, 5, 2, 2, examples=10))
    shapes = {s.name: tuple(int(v) for v in s.target.shape) for s in d.steps}
    assert shapes["dxt⟨1⟩"] == (3, 10) and shapes["da_prev⟨1⟩"] == (5, 10)
    assert shapes["dWax"] == (5, 3) and shapes["dWaa"] == (5, 5) and shapes["dWya"] == (2, 5)
    assert shapes["dba"] == (5, 1) and shapes["dby"] == (2, 1)


def test_symbolic_sizes_when_the_spec_gives_none():
    d = build(load_rnn("[rnn]\nsteps = 2\n"))
    assert str(d.step("dWax").target.shape) == "(n_a, n_x)"


def test_another_activation_uses_its_catalogue_derivative():
    d = build(RNN(2, 3, 2, 2, activation="sigmoid"))
    assert d.step("dz⟨1⟩").text == "dz⟨1⟩ = a⟨1⟩ ⊙ (1 − a⟨1⟩) ⊙ da_next⟨1⟩"


def test_the_gradient_at_z_is_dtanh_only_for_a_tanh_rnn():
    """The course's name dtanh says tanh; a relu RNN's ∂J/∂z⟨t⟩ is dz (no tanh in it)."""
    d = build(RNN(2, 3, 2, 2, activation="relu"))
    names = {s.name for s in d.steps}
    assert not any("tanh" in n for n in names), names
    step = d.step("dz⟨1⟩")
    assert step.text == "dz⟨1⟩ = [z⟨1⟩ > 0] ⊙ da_next⟨1⟩"
    assert step.derive_name == "∂J/∂z⟨t⟩" and step.loop.startswith("dz = ")
    assert d.step("dWax").text == "dWax = Σₜ₌₁^2 dz⟨t⟩ x⟨t⟩ᵀ"
    assert d.step("dWaa").loop == "dWaa += np.dot(dz, a_prev.T)"
    assert "tanh" not in d.step("dWaa").latex


def test_every_cited_identity_exists_in_the_catalogue():
    d = build(RNN(3, 2, 2, 3))
    own = rnn_identities()
    for s in d.steps:
        assert s.rule in own, s.rule  # rules/rnn.toml
        for c in s.cites:
            assert c in rules.identities(), c  # rules/identities.toml
        assert lookup(s.rule).index and lookup(s.rule).source


def test_rnn_identities_do_not_clash_with_the_catalogue():
    catalogue = rules.identities()
    for name, identity in rnn_identities().items():  # the catalogue may list rules/rnn.toml too
        assert name not in catalogue or catalogue[name] == identity, name


@pytest.mark.parametrize(("text", "message"), [
    ("[rnn]\nhidden = 0\n", "[rnn] hidden must be a whole number ≥ 1, not 0"),
    ("[rnn]\nhidden = true\n", "[rnn] hidden must be a whole number ≥ 1, not True"),
    ("[rnn]\nsteps = 2.5\n", "[rnn] steps must be a whole number ≥ 1, not 2.5"),
    ("[rnn]\nhiden = 3\n", "[rnn] has unknown key 'hiden'"),
    ("[rnn]\nactivation = 3\n", "[rnn] activation must be a name (a string), not 3"),
    ("[rnn]\nactivation = \"softmax\"\n", "[rnn] activation must be element-wise"),
    ("[rnn]\nactivation = \"nope\"\n", "[rnn] unknown activation 'nope'"),
    ("[rnn]\nloss = \"mse\"\n", "must be softmax and ce"),
    ("layers = [2, 1]\n", "no [rnn] table"),
    ("layers = [2, 1]\n[rnn]\n", "only the [rnn] table, not 'layers'"),
    ("[rnn]\nhidden = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
     "nested more than"),
    ("[rnn\n", "malformed TOML"),
])
def test_hostile_specs_name_the_key(text, message):
    with pytest.raises(SpecError) as err:
        load_rnn(text, "net.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("net.toml")


@pytest.mark.parametrize("text", [
    "[rnn]\nsteps = 100000\n",
    "[rnn]\nhidden = 100000\nsteps = 10\n",
    "[rnn]\ninput = 9223372036854775807\n",
])
def test_sizes_over_the_limits_are_refused_before_anything_is_built(text):
    with pytest.raises(ResourceLimit) as err:
        load_rnn(text, "net.toml")
    assert "rnn." in str(err.value)
    assert str(err.value).startswith("net.toml: [rnn] "), str(err.value)  # the file, the table


def test_a_limit_says_what_was_asked_once():
    with pytest.raises(ResourceLimit) as err:
        load_rnn("[rnn]\nhidden = 100000\ninput = 100000\n", "net.toml")
    message = str(err.value)
    assert len(re.findall(r"\d entries", message)) == 2, message  # asked and the limit, once each
    assert message.startswith("net.toml: [rnn] an instance of these sizes (x, y, every a⟨t⟩ and ŷ⟨t⟩, "
                              "the parameters) needs 20,001,400,009 entries, over the limit")


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "softplus", "swish", "gelu"])
def test_an_activation_without_a_short_derivative_prints_g_prime_of_z(activation):
    """tanh, sigmoid and relu print their derivative (1 − a², a ⊙ (1 − a), [z > 0]); another one
    prints g′(z⟨t⟩) as the dense engine does, not SymPy's Piecewise((1, z⟨t⟩ > 0), (1 ⊘ 100, True))."""
    from derive.rnn.proof import derive_rnn

    rnn = RNN(2, 3, 2, 2, activation=activation)
    d = build(rnn)
    step = d.step("dz⟨1⟩")
    assert step.text == f"dz⟨1⟩ = {rnn.act.text}′(z⟨1⟩) ⊙ da_next⟨1⟩"
    assert not any("Piecewise" in s.text or "sqrt" in s.text for s in d.steps)
    assert derive_rnn(rnn).passed
