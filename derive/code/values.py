"""What a snippet's variables hold while it is read: the value kinds of :mod:`derive.code.reader`.

A variable holds one of these, never a number computed by Python:

- :class:`Tensor`: an expression tree over the network's symbols (:mod:`derive.core.expr`);
  ``grad`` is the gradient quantity it holds when it was assigned to a gradient's name (dZ, dW,
  ``grads["db2"]``), so that a *different* gradient's formula can refer to it as that quantity;
- :class:`Own`: a name whose meaning is its own (a parameter ``A_prev``, the cache of an unknown
  function): read by the parser as written (``A_prev`` is A[l-1]);
- :class:`Int`, :class:`Str`: Python numbers and strings the code computes with
  (``L = len(caches)``, ``"dW" + str(l)``), and :class:`Seq` / :class:`Mapping` for tuples,
  lists and dicts (``cache = (A_prev, W, b)``, ``grads = {}``);
- :class:`Broken`: what an assignment that could not be read left behind (the error and its
  line), reported only where a gradient depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.core.expr import Expr, Sym
from derive.errors import DeriveError


@dataclass(frozen=True)
class Tensor:
    expr: Expr
    grad: Sym | None = None  # the gradient quantity this value holds (None for a helper)


@dataclass(frozen=True)
class Own:
    """A name read as the network's quantity it names (``A_prev``, ``W``, ``Y``)."""

    name: str


@dataclass(frozen=True)
class Int:
    value: int


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Null:
    """``None`` (``dx, dw, db = None, None, None``)."""


@dataclass
class Seq:
    """A tuple or list; ``index`` maps a position to a value lazily (the course's caches)."""

    items: list
    kind: str = "tuple"  # "tuple" or "list"
    what: str = ""  # what it is, for messages: "the cache of layer 2"
    layer: int | None = None  # the layer a course cache belongs to


@dataclass
class Mapping:
    """A dict with string keys, or a known one whose entries are read from their keys
    (``parameters['W1']`` is W[1]: ``keyed`` names how, see :mod:`derive.code.known`)."""

    items: dict = field(default_factory=dict)
    keyed: str | None = None  # "quantity" (a key names a quantity), "gradient" (its gradient)
    what: str = ""


@dataclass(frozen=True)
class Func:
    """A function of the snippet (its ``def``), or of the known table, to be inlined."""

    name: str
    node: object  # ast.FunctionDef
    self_value: object = None  # the bound ``self`` of a method


@dataclass(frozen=True)
class Self:
    """``self`` of a method: its attributes are known lists and dicts (:mod:`.known`)."""


@dataclass(frozen=True)
class Broken:
    """An assignment that could not be read: the error, raised where a gradient needs it."""

    error: DeriveError
    line: int
    grad: Sym | None = None  # the gradient it was to hold


@dataclass(frozen=True)
class Labels:
    """CS231n's ``y``: the class labels, one per example (Y is their one-hot matrix)."""

    name: str


@dataclass(frozen=True)
class Rows:
    """``range(N)`` / ``np.arange(N)`` over the examples: with ``y``, ``x[range(N), y]``."""


Value = Tensor | Own | Int | Str | Null | Seq | Mapping | Func | Self | Broken | Labels | Rows


def describe(v: object) -> str:
    """How a value is named in a message."""
    if isinstance(v, Seq):
        return v.what or f"a {v.kind} of {len(v.items)}"
    if isinstance(v, Mapping):
        return v.what or "a dict"
    if isinstance(v, Int):
        return f"the number {v.value}"
    if isinstance(v, Str):
        return f"the string {v.value!r}"
    if isinstance(v, Func):
        return f"the function {v.name}"
    if isinstance(v, Null):
        return "None"
    return type(v).__name__


__all__ = ["Broken", "Func", "Int", "Labels", "Mapping", "Null", "Own", "Rows", "Self", "Seq",
           "Str", "Tensor", "Value", "describe"]
