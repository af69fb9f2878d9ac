"""The names a cost formula's left side is written with (``cost = ...``,
``L2_regularization_cost = ...``, ``loss += ...``): which of the network's cost quantities it
means. derive.check.costs builds their values.

>>> cost_of("L2_regularization_cost"), cost_of("cost"), cost_of("data_loss"), cost_of("dW1")
('penalty', 'J', 'data', None)
"""

from __future__ import annotations

import re

import sympy as sp

from derive.core import expr as E

KINDS = ("J", "data", "penalty")
TITLES = {"J": "the cost J", "data": "the cost's data term", "penalty": "the L2 penalty"}
_NAMES = [  # (pattern of the left side, quantity); the first that matches
    (r"(?i)(L2_?)?(regulari[sz]ation|reg)_?(cost|loss|term)|l2_?(cost|loss|term|penalty)|"
     r"penalty|reg_?penalty", "penalty"),
    (r"(?i)(cross_?entropy|data|ce|bce|mse|svm|hinge|softmax)_?(cost|loss)|loss_?data",
     "data"),
    (r"J|cost|total_?(cost|loss)|loss|\\mathcal\{[JL]\}|\\mathcal [JL]", "J"),
]

def cost_of(left: str) -> str | None:
    """The cost quantity a left side names (``"penalty"`` for ``L2_regularization_cost``), or
    None for anything else (a gradient)."""
    text = left.strip()
    for pattern, kind in _NAMES:
        if re.fullmatch(pattern, text):
            return kind
    return None

def target(kind: str, written: str) -> E.Sym:
    """The 1×1 symbol a cost formula's left side stands for."""
    return E.Sym(kind, None, (sp.Integer(1), sp.Integer(1)), src=written.strip())

__all__ = ["KINDS", "TITLES", "cost_of", "target"]
