"""Checking under a dialect's names (derive.parse.dialects): the network the dialect's
conventions ask for (CS231n's scale dZ, its rows), each reading of its names, and the verdict
that says which dialect and reading were used.

>>> from derive.check.checker import check
>>> from derive.network.spec import Network
>>> net = Network(layers=[4, 5, 3], activations=["relu", "softmax"], loss="ce", convention="rows")
>>> v = check("dx = dout * (x > 0)", net, layer=1)
>>> v.verdict, v.dialect, v.notes[2]
('correct', 'cs231n', 'cs231n: the 1/N is inside dscores (scale dZ)')
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from derive.check.verdict import Verdict
from derive.errors import ParseError
from derive.network.layout import LAYOUTS
from derive.network.spec import SCALES, Network
from derive.parse import parse_equation, parse_expression
from derive.parse.dialects import DIALECTS, detect
from derive.parse.resolve import ONE_EXAMPLE_NOTE


@dataclass(frozen=True)
class Runner:
    """The checker's own pieces (derive.check.checker), handed in to keep the imports one way."""

    check_with: Callable[..., Verdict]
    unusable: Callable[..., Verdict]
    left_side: Callable[[str], str | None]


def check_dialect(equation: str, network, syntax: str, generic: dict, layer, names,
                  dialect: str | None, run: Runner) -> Verdict:
    """:func:`derive.check.checker.check` once its arguments are checked."""
    if dialect is not None and dialect not in DIALECTS:
        return run.unusable(ParseError(f"unknown dialect {dialect!r}; known: "
                                    f"{', '.join(DIALECTS)}"), None)
    key = dialect or detect(equation, network.L if isinstance(network, Network) else None,
                           names if isinstance(names, dict) else ())
    d = DIALECTS.get(key) if key else None
    convention, scale = generic["convention"], generic["scale"]
    notes: list[str] = []
    if scale is None:  # CS231n's rows: the 1/N inside dscores
        rows = convention in LAYOUTS and not LAYOUTS[convention].columns
        scale = "dZ" if rows and "dZ" in SCALES else "mean"
        if network is None and scale == "dZ" and (d is None or d.scale != "dZ"):
            notes.append(ROWS_NOTE)
    if d is not None and d.scale in SCALES:
        if network is None:
            convention, scale = d.convention or convention, d.scale
        elif isinstance(network, Network) and network.scale != d.scale:
            network = network.replace(scale=d.scale)
            notes.append(f"{d.key}: checked with scale = {d.scale}, the dialect's (the spec "
                         "said otherwise)")
    generic = {**generic, "convention": convention, "scale": scale}
    verdicts = []
    order: list[str | None] = [r.name for r in d.readings] if d is not None else [None]
    if "batchnorm_backward" in order and _batchnorm_names(equation, network):
        order.insert(0, order.pop(order.index("batchnorm_backward")))  # its names are there
    for reading in order:
        verdicts.append(_check_reading(equation, network, generic, syntax, layer, names, key,
                                       reading, run))
        if verdicts[-1].verdict == "correct":
            break
    verdict = _best(verdicts)
    shown = key or ("single_example" if ONE_EXAMPLE_NOTE in verdict.notes else "course")
    return replace(verdict, dialect=shown, notes=(*verdict.notes, *notes))


ROWS_NOTE = ("convention rows: read with scale dZ, CS231n's (the 1/N is inside dscores, so dW = "
             "A_prevᵀ dZ carries none); pass scale mean (--scale mean) for the course's "
             "per-example dZ")


def _check_reading(equation, network, generic, syntax, layer, names, dialect, reading, run):
    def parse(net, layer):
        return parse_equation(equation, net, syntax=syntax, layer=layer, names=names,
                              dialect=dialect, reading=reading)

    def target_of(net, layer):
        left = run.left_side(equation)
        return parse_expression(left, net, syntax=syntax, layer=layer, names=names,
                                dialect=dialect, reading=reading) if left else None

    return run.check_with(parse, network, generic, target_of, layer=layer)


_BATCHNORM_NAMES = re.compile(r"\b(d?(gamma|beta|x_?hat|x_?norm|mu|var|ivar|xmu|sqrtvar|std))\b")


def _batchnorm_names(equation, network) -> bool:
    """A formula on a network with batch norm that names batch norm's quantities (CS231n's
    gamma, x_hat, ...): its dout is batch norm's dZ̃, so that reading is tried first."""
    return isinstance(network, Network) and "batchnorm" in network.kinds and \
        isinstance(equation, str) and _BATCHNORM_NAMES.search(equation) is not None


def _best(verdicts: list[Verdict]) -> Verdict:
    """Of the verdicts under each reading of a dialect's names: a correct one, else the first
    whose shapes fit, else the first that reads, else the first."""
    for ok in (("correct",), ("not_equivalent",), ("shape_error",)):
        for v in verdicts:
            if v.verdict in ok:
                return v
    return verdicts[0]




__all__ = ["check_dialect"]
