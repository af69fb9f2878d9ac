"""The whole ``derive jacobian`` report: the array, then the contraction, the activation step and
the naive chain rule when asked for, as text, a LaTeX ``\\section`` fragment or a JSON-ready dict.

Each part prints itself (:mod:`derive.jacobian.render`, :mod:`derive.jacobian.steps`,
:mod:`derive.jacobian.naive`); this module only puts them in order.

>>> from derive.network.spec import Network
>>> from derive.jacobian.steps import contraction
>>> print(contraction_text(contraction(Network(depth=1), "b1")).splitlines()[0])
The contraction: ∂J/∂b[1] from ∂J/∂Z[1] and the array ∂Z[1]/∂b[1]
"""

from __future__ import annotations

from typing import Any

from derive.jacobian.naive import ActivationStep, NaiveResult, activation_latex, naive_latex
from derive.jacobian.render import JacobianResult
from derive.jacobian.steps import Contraction, contraction_latex, contraction_text
from derive.render import convention_lines

__all__ = ["contraction_text", "report_dict", "report_latex", "report_text"]


def report_text(result: JacobianResult, contraction: Contraction | None = None,
                activation: ActivationStep | None = None, naive: NaiveResult | None = None) -> str:
    parts = [result.to_text(), "\n".join(convention_lines(result.network))]
    for extra in (contraction, activation, naive):
        if extra is not None:
            parts.append(extra.to_text())
    return "\n\n".join(parts) + "\n"


def report_latex(result: JacobianResult, contraction: Contraction | None = None,
                 activation: ActivationStep | None = None, naive: NaiveResult | None = None) -> str:
    """One ``\\section`` (no preamble) with a ``\\subsection`` per part."""
    parts = [result.to_latex()]
    if contraction is not None:
        parts.append(contraction_latex(contraction))
    if activation is not None:
        parts.append(activation_latex(activation))
    if naive is not None:
        parts.append(naive_latex(naive))
    return "\n".join(parts)


def report_dict(result: JacobianResult, contraction: Contraction | None = None,
                activation: ActivationStep | None = None,
                naive: NaiveResult | None = None) -> dict[str, Any]:
    out = result.to_dict()
    out["contraction"] = None if contraction is None else contraction.to_dict()
    out["activation_step"] = None if activation is None else activation.to_dict()
    out["naive_chain_rule"] = None if naive is None else naive.to_dict()
    return out
