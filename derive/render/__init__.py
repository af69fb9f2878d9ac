"""Renderers: one module per output format, shared by every command.

``text``, ``latex``, ``markdown`` and ``json`` each turn a :class:`derive.engine.backward.Derivation`
into a string; :func:`convention_lines` is the convention statement every output prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: render.latex.escape is imported without the model
    from derive.network.spec import Network


def convention_lines(net: Network) -> list[str]:
    """The conventions in force, in words (printed by every output)."""
    lines = [net.layout.statement(), net.scale_rule.statement]
    lines.append(
        "⊙ is the element-wise product, ⊘ element-wise division, juxtaposition the matrix "
        "product, ᵀ the transpose"
    )
    return lines


def shape_text(shape: Iterable[object]) -> str:
    return "×".join(str(d) for d in shape)
