"""A formula line of the staged batch-norm graph read alone (``dvar = 0.5 * 1. / np.sqrt(var +
eps) * dsqrtvar``): the graph's node names it uses without defining them (:data:`derive.code.
bn_cache.STAGED`, one table with the code reader's) bound to their meaning at the batch-norm
layer, each said in a note. A name the user binds, or one the parsers read already (``var``,
``xhat``), keeps its meaning; the layer is the one given, else the network's one batch-norm
layer (with several and no layer given, the names stay unknown and the error asks for them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from derive.errors import DeriveError
from derive.network.spec import Network
from derive.parse import parse_expression
from derive.parse.names import resolve_ident

_IDENT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")


def bindings(equation: str, network, layer: int | None,
             names: Mapping | None) -> tuple[dict, tuple[str, ...]]:
    """(the staged names' bindings, a note for each) for ``equation`` on ``network``."""
    if not isinstance(network, Network) or not isinstance(equation, str) or \
            "batchnorm" not in network.kinds:
        return {}, ()
    from derive.code.bn_cache import STAGED  # derive.code imports the checker
    layers = [l for l in range(1, network.L + 1) if network.kinds[l - 1] == "batchnorm"]
    at = layer if layer in layers else (layers[0] if layer is None and len(layers) == 1
                                        else None)
    if at is None:
        return {}, ()
    given = names if isinstance(names, Mapping) else {}
    wanted = [i for i in dict.fromkeys(_IDENT.findall(equation))
              if i in STAGED and i not in given and resolve_ident(i) is None]
    out, notes = {}, []
    axis = network.layout.example_sum_axis
    for ident in wanted:
        text = STAGED[ident].format(l=at, ax=axis)
        try:
            out[ident] = parse_expression(text, network, syntax="text")
        except DeriveError:
            continue
        notes.append(f"{ident} read as {out[ident].to_text()}, the staged batch-norm graph's "
                     f"node at layer {at}" if not ident.startswith("d") else
                     f"{ident} read as ∂L/∂{ident[1:]} = {out[ident].to_text()}, the gradient "
                     f"with respect to the staged batch-norm graph's node {ident[1:]} "
                     f"(layer {at})")
    return out, tuple(notes)


__all__ = ["bindings"]
