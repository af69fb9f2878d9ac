"""Conditional verdicts (issue 13, item 6): a formula right only under an assumption is
``correct`` with the assumption in ``Verdict.conditions``, and the text says so.

Three sources, each checked, never guessed:

- **A reading's assumption.** A reader that takes one of two readings says so in a note that
  starts ``condition: `` (LaTeX's Θ without its bias column, a juxtaposition read as ⊙, one
  neuron per layer). Under a correct verdict it becomes a condition; under any other verdict
  it stays a note (the reading was tried, and the formula is wrong on this network).
- **One example.** A formula read as one example (lower-case names, no m) that is also right
  with m examples needs no condition; one that is right only at m = 1 (``dw = dz xᵀ``: the 1/m
  of the mean cost is missing) gets "only when m = 1".
- **The usual pairing.** On a generic network whose loss is bce or ce the output activation is
  not known; a formula wrong for a generic activation but right with the loss's usual one
  (sigmoid, softmax) is right under that assumption (``dZ[L] = A[L] − Y``).

A condition the given network contradicts is not stated: the check on that network already
finds the formula wrong (``W2.T * dZ2``, right only when n[2] = 1, on a network with n[2] = 2).

>>> from derive.check.verdict import Verdict
>>> v = Verdict("correct", "dZ[1]", notes=("condition: only when · means ⊙", "read as ..."))
>>> from_notes(v).conditions, from_notes(v).notes
(('only when · means ⊙',), ('read as ...',))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from derive.check.verdict import Verdict

PREFIX = "condition: "
PAIRING = {"bce": "sigmoid", "ce": "softmax"}  # a loss and its usual output activation
ONE_EXAMPLE = ("only when m = 1 (one example): with m examples the mean cost puts 1/m in dW "
               "and db")


def _with(v: Verdict, *found: str) -> Verdict:
    return replace(v, conditions=tuple(dict.fromkeys((*v.conditions, *found))))


def from_notes(v: Verdict) -> Verdict:
    """A correct verdict with the readers' ``condition:`` notes moved into its conditions."""
    if v.verdict != "correct":
        return v
    found = [n[len(PREFIX):] for n in v.notes if n.startswith(PREFIX)]
    if not found:
        return v
    return replace(_with(v, *found), notes=tuple(n for n in v.notes if not n.startswith(PREFIX)))


def one_example(v: Verdict, with_m: Callable[[], Verdict]) -> Verdict:
    """``v``, correct as one example, with the condition m = 1 if ``with_m()`` (the same check
    with the mean cost over m examples) does not find it correct."""
    if v.verdict != "correct" or with_m().verdict == "correct":
        return v
    return _with(v, ONE_EXAMPLE)


def paired(v: Verdict, loss: str | None, again: Callable[[str], Verdict]) -> Verdict:
    """On a generic network: ``v`` if it is correct or the loss has no usual output activation;
    else the check ``again(activation)`` with the loss's usual one, correct under that
    condition, if it is correct; else ``v``."""
    if v.verdict not in ("not_equivalent", "shape_error") or loss not in PAIRING:
        return v
    act = PAIRING[loss]
    w = again(act)
    if w.verdict != "correct":
        return v
    said = (f"assumes the output activation is {act}, the usual pairing with {loss} (the "
            f"network does not say: give --act ...,{act} to check it as given)")
    return _with(w, said)


__all__ = ["ONE_EXAMPLE", "PAIRING", "PREFIX", "from_notes", "one_example", "paired"]
