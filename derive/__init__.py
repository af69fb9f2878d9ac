"""derive: derive, check and teach the backpropagation formulas of dense neural networks.

>>> import derive
>>> net = derive.Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> d = derive.backward(net)
>>> print(d.formula("dZ", 1))
dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])
>>> d.proof.passed
True
>>> derive.check("dZ1 = dZ2 W2^T * g1'(Z1)", net).mistakes[0].code
'wrong_order'

The names below load on first use (PEP 562), so ``derive --help`` and a cold ``derive check``
import only what they need. ``derive.check``, ``derive.backward``, ``derive.handout``,
``derive.numbers``, ``derive.stability`` and ``derive.jacobian`` are functions; their modules
live in the packages named in ``_EXPORTS`` (``from derive.check.checker import ...``).
"""

from __future__ import annotations

import importlib
import sys
import types

__version__ = "0.1.0"

_EXPORTS = {
    # the engine
    "Network": ("derive.network.spec", "Network"),
    "backward": ("derive.engine.backward", "derive"),
    "Derivation": ("derive.engine.backward", "Derivation"),
    "Formula": ("derive.engine.backward", "Formula"),
    "Step": ("derive.engine.backward", "Step"),
    # features on top of the derivation
    "check": ("derive.check.checker", "check"),
    "Verdict": ("derive.check.verdict", "Verdict"),
    "check_code": ("derive.code.checking", "check_code"),
    "CodeResult": ("derive.code.result", "CodeResult"),
    "parse_equation": ("derive.parse", "parse_equation"),
    "handout": ("derive.handout.document", "handout"),
    "numbers": ("derive.numbers.worked", "worked_example"),
    "check_student": ("derive.numbers.student", "check_student"),
    "gradcheck": ("derive.numbers.gradcheck", "gradcheck"),
    "gradcheck_impl": ("derive.numbers.gradcheck", "gradcheck_impl"),
    "layer_backward": ("derive.numbers.layer", "layer_backward"),
    "stability": ("derive.stability.analyse", "analyse"),
    "jacobian": ("derive.jacobian.tensor", "jacobian"),
    # errors
    "DeriveError": ("derive.errors", "DeriveError"),
    "SpecError": ("derive.errors", "SpecError"),
    "ParseError": ("derive.errors", "ParseError"),
    "ShapeMismatch": ("derive.errors", "ShapeMismatch"),
    "ProofFailure": ("derive.errors", "ProofFailure"),
    "ResourceLimit": ("derive.errors", "ResourceLimit"),
    "InternalError": ("derive.errors", "InternalError"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'derive' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    """The API only (what ``dir(derive)`` and tab completion show), not this module's plumbing."""
    return [*__all__, "__version__"]


class _Package(types.ModuleType):
    """Keeps ``derive.check`` (and the other exported functions named like their modules) the
    function: importing the submodule ``derive.check`` would otherwise bind the module there."""

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["derive.check"]
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
