"""derive: derive, check and teach the backpropagation formulas of dense neural networks.

>>> import derive
>>> d = derive.backward(derive.Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
>>> print(d.formula("dZ", 1))
dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])
>>> d.proof.passed
True
"""

from derive.backward import Derivation, Formula, Step
from derive.backward import derive as backward
from derive.errors import DeriveError, ParseError, ProofFailure, ShapeMismatch, SpecError
from derive.spec import Network

__all__ = [
    "Derivation",
    "DeriveError",
    "Formula",
    "Network",
    "ParseError",
    "ProofFailure",
    "ShapeMismatch",
    "SpecError",
    "Step",
    "backward",
]
__version__ = "0.1.0"
