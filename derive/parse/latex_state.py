"""What one equation's LaTeX sides share: the left side's gradient, read before the right side.

The parser reads each side of ``gradient = formula`` on its own (derive.parse), through one
:class:`~derive.parse.build.Builder`. Some right sides mean something only with the left side
known: the Deep Learning book's running gradient ``\\Vg`` is the gradient the step before
computed, and an entry's formula (``\\frac{\\partial C}{\\partial w^l_{jk}} = …``) is read with
the left side's indices. So the LaTeX reader keeps, per builder, what its left side was.

>>> from derive.network.spec import Network
>>> from derive.parse.build import Builder
>>> b = Builder(Network(layers=[3, 2]), "dZ1 = A1")
>>> state(b).target is None
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from derive.core import expr as E
from derive.parse.build import Builder


@dataclass
class State:
    """The left side's gradient (None until read) and the indices it was written with."""

    target: E.Sym | None = None
    indices: tuple[str, ...] = ()
    any_weight: list[str] = field(default_factory=list)  # w_k on the left: any weight's letter
    numbering: str = "face"  # how the layer numbers are read (derive.parse.latex_layers)
    trial: bool = False  # a trial reading (latex_layers): its numbering is given, not inferred
    notes: list[str] = field(default_factory=list)


_STATES: WeakKeyDictionary[Builder, State] = WeakKeyDictionary()


def state(b: Builder) -> State:
    """The state of the equation ``b`` reads (made on first use; it lives as long as ``b``)."""
    found = _STATES.get(b)
    if found is None:
        found = _STATES[b] = State()
    return found
