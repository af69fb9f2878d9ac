"""The limits on the work one call may do, each declared once, next to the feature it bounds.

A feature declares a :class:`Limit` at module level (``WIDTH = Limit("stability.width", 4096,
"units per layer", flag="--width")``) and calls :func:`require` with its work estimate *before*
it allocates or loops; a request over the limit is a :class:`derive.errors.ResourceLimit` that
names the limit, the amount asked for and the flag that narrows the work. Every limit declared
is listed in ``docs/limits.md`` (a test compares the two), so the documented numbers are the
numbers the code enforces.

The limits keep every command under about 30 s and 2 GB on a laptop; they are not a sandbox
(``--impl`` runs the user's own code, which this module does not bound).
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.errors import ResourceLimit, human

__all__ = ["DECLARED", "FLOAT", "Limit", "human", "require"]

#: the estimate of one float64 entry, in bytes
FLOAT = 8

#: every Limit declared so far, by name (filled as the feature modules are imported)
DECLARED: dict[str, Limit] = {}


@dataclass(frozen=True)
class Limit:
    """One documented bound: ``name`` (``feature.what``), its ``value``, the ``unit`` it counts
    (``"bytes"``, ``"entries"``, ``"layers"``, ...) and the ``flag`` a user narrows it with."""

    name: str
    value: int
    unit: str
    flag: str
    what: str = ""

    def __post_init__(self) -> None:
        DECLARED[self.name] = self


def require(limit: Limit, amount: int, what: str | None = None) -> None:
    """Raise :class:`ResourceLimit` when ``amount`` (a work estimate in ``limit.unit``) exceeds
    ``limit.value``; ``what`` says what was asked for ("the Jacobian of Z2 by W1")."""
    if amount > limit.value:
        raise ResourceLimit(limit.name, amount, limit.value, limit.unit, limit.flag,
                            what or limit.what)

