"""Recurrent networks (the course's tanh RNN) and backpropagation through time: the spec
(:mod:`~derive.rnn.spec`), the derivation (:mod:`~derive.rnn.derivation`), its proofs
(:mod:`~derive.rnn.proof`), the course's functions computed from it (:mod:`~derive.rnn.numbers`),
the gradient check with planted mistakes (:mod:`~derive.rnn.gradcheck`), stability through time
(:mod:`~derive.rnn.stability`), the handout section and the command-line functions.

>>> rnn = load_rnn("[rnn]\\ninput = 3\\nhidden = 2\\noutput = 2\\nsteps = 2\\n")
>>> from derive.rnn import derive_rnn
>>> derive_rnn(rnn, prove=False).step("dba").text
'dba = Σₜ₌₁^2 sum(dtanh⟨t⟩, axis=1)'
"""

from __future__ import annotations

from typing import Any

from derive.rnn.spec import RNN, load_rnn

__all__ = ["RNN", "RNNDerivation", "derive_rnn", "load_rnn"]


def __getattr__(name: str) -> Any:  # the derivation imports the core on first use
    if name in ("derive_rnn", "RNNDerivation"):
        from derive.rnn import derivation

        return getattr(derivation, name)
    raise AttributeError(name)
