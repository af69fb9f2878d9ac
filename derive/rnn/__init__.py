"""Recurrent networks (the course's tanh RNN) and backpropagation through time: the spec
(:mod:`~derive.rnn.spec`), the derivation (:mod:`~derive.rnn.derivation`), its proofs
(:mod:`~derive.rnn.proof`), the course's functions computed from it (:mod:`~derive.rnn.numbers`),
the gradient check with planted mistakes (:mod:`~derive.rnn.gradcheck`), stability through time
(:mod:`~derive.rnn.stability`), the handout section and the command-line functions.

>>> rnn = load_rnn("[rnn]\\ninput = 3\\nhidden = 2\\noutput = 2\\nsteps = 2\\n")
>>> from derive.rnn import derive_rnn
>>> d = derive_rnn(rnn)
>>> d.passed, d.step("dba").text
(True, 'dba = Σₜ₌₁^2 sum(dtanh⟨t⟩, axis=1)')
"""

from __future__ import annotations

from typing import Any

from derive.rnn.spec import RNN, load_rnn

__all__ = ["RNN", "RNNDerivation", "derive_rnn", "load_rnn"]


def __getattr__(name: str) -> Any:  # the derivation imports the core on first use
    if name == "derive_rnn":
        from derive.rnn import proof

        return proof.derive_rnn
    if name == "RNNDerivation":
        from derive.rnn import derivation

        return derivation.RNNDerivation
    raise AttributeError(name)
