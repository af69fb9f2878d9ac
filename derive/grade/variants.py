"""Per-student variants of a rubric's network (issue 16, part 3): the first piece, the draw.

A student's network (hidden sizes, activations, loss) is drawn from the ranges a rubric's
``[variants]`` table declares, by a keyed hash, HMAC-SHA256 of the student id under the course
secret: the same id and secret always give the same network, and without the secret nobody can
compute another student's. There is no default secret: an empty one is an error.

>>> ranges = {"sizes": [[2, 4], [3, 5], [1, 1]], "activations": [["relu", "tanh"], ["sigmoid"]],
...           "loss": ["bce"]}
>>> v = draw_variant("s001", "course-secret", ranges)
>>> v == draw_variant("s001", "course-secret", ranges)
True
>>> v["loss"], v["activations"][1], v["layers"][2]
('bce', 'sigmoid', 1)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

from derive.errors import UsageError


def _stream(student: str, secret: str, label: str) -> int:
    """An integer drawn for one field: HMAC-SHA256(secret, student id + field label)."""
    mac = hmac.new(secret.encode("utf-8"), f"{student}\x00{label}".encode(),
                   hashlib.sha256)
    return int.from_bytes(mac.digest(), "big")


def draw_variant(student: str, secret: str, ranges: Mapping) -> dict:
    """The network of ``student``: each size uniform in its ``[lo, hi]``, each activation and the
    loss one of its choices, each field from its own keyed hash."""
    if not secret:
        raise UsageError("variants need a course secret (--secret or DERIVE_VARIANT_SECRET); "
                         "there is no default")
    sizes: Sequence = ranges.get("sizes", ())
    layers = []
    for i, (lo, hi) in enumerate(sizes):
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise UsageError(f"[variants] sizes[{i}] must be [lo, hi] with 1 <= lo <= hi")
        layers.append(lo + _stream(student, secret, f"size{i}") % (hi - lo + 1))
    acts = [list(c)[_stream(student, secret, f"act{i}") % len(c)]
            for i, c in enumerate(ranges.get("activations", ())) if c]
    out: dict = {"layers": layers, "activations": acts}
    losses = list(ranges.get("loss", ()))
    if losses:
        out["loss"] = losses[_stream(student, secret, "loss") % len(losses)]
    return out
