"""Per-student variants of a rubric's network (issue 16, part 3): the ranges, the draw, the ids.

A student's network (hidden sizes, activations, loss) is drawn from the ranges a rubric's
``[variants]`` table declares, by a keyed hash, HMAC-SHA256 of the student id under the course
secret: the same id and secret always give the same network, and without the secret nobody can
compute another student's. There is no default secret: an empty one is an error.

A rubric declares the ranges in a ``[variants]`` table (:func:`check_ranges` reads it): ``sizes``,
one ``[lo, hi]`` (or a fixed size) per layer n[0..L]; ``activations``, one list of choices (or a
fixed name) per layer 1..L; ``loss``, a list of choices; ``convention`` and ``scale``, lists of
choices. What the table leaves out is the rubric's ``[network]``. Student ids are untrusted
(:func:`check_id`, :func:`read_ids`): they name files.

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
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from derive.errors import SpecError, UsageError
from derive.limits import Limit, require

if TYPE_CHECKING:  # annotations only: the spec module imports SymPy
    from derive.grade.rubric import Rubric
    from derive.network.spec import Network

#: the largest layer size a [variants] range may draw (a sheet is worked by hand)
VARIANT_SIZE = Limit("grade.variant_size", 64, "units", "a smaller [variants] size range",
                     "a layer size drawn for a student")
#: the students of one ids file
STUDENTS = Limit("grade.students", 10_000, "students", "a shorter ids file",
                 "the students of one run of derive variants")
#: the bytes of one ids file
IDS_BYTES = Limit("grade.ids_bytes", 1 << 20, "bytes", "a shorter ids file", "one ids file")
#: the characters of one student id (it names files)
ID_CHARS = 64
SECRET_ENV = "DERIVE_VARIANT_SECRET"
RANGE_KEYS = ("sizes", "activations", "loss", "convention", "scale")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# names Windows will not create, whatever the suffix
_RESERVED = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)),
                       *(f"lpt{i}" for i in range(10))})


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
    for key in ("convention", "scale"):
        choices = list(ranges.get(key, ()))
        if choices:
            out[key] = choices[_stream(student, secret, key) % len(choices)]
    return out


# -- the [variants] table ---------------------------------------------------------------------
def check_ranges(table, net: Network, where: str) -> dict:
    """The ranges of a rubric's ``[variants]`` table, normalised (``sizes`` as [lo, hi] pairs,
    ``activations`` as lists of choices), each mistake named with its key; every output
    activation and loss that can be drawn together must make a network."""
    from derive.catalogue import rules

    if not isinstance(table, dict) or not table:
        raise SpecError(f"{where}: [variants] is a table of ranges: {', '.join(RANGE_KEYS)}")
    unknown = sorted(set(table) - set(RANGE_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(RANGE_KEYS)}")
    out: dict = {}
    if "sizes" in table:
        out["sizes"] = _sizes(table["sizes"], net.depth, f"{where}: sizes")
    if "activations" in table:
        out["activations"] = _choices_per_layer(table["activations"], net.depth,
                                                tuple(rules.activations()),
                                                f"{where}: activations")
    for key, known in (("loss", tuple(rules.losses())), ("convention", ("columns", "rows")),
                       ("scale", ("mean", "sum", "dZ"))):
        if key in table:
            out[key] = _choices(table[key], known, f"{where}: {key}")
    outputs = out.get("activations", [[net.activations[-1]]])[-1]
    for act in outputs:  # the pairings a draw can make, at both ends of the size ranges
        for loss in out.get("loss", [net.loss]):
            for end in (0, 1):
                sizes = [r[end] for r in out["sizes"]] if "sizes" in out else list(net.layers)
                acts = [c[0] for c in out.get("activations", [])] or list(net.activations)
                try:
                    net.replace(layers=sizes, activations=[*acts[:-1], act], loss=loss)
                except SpecError as exc:
                    raise SpecError(f"{where}: output {act} with loss {loss} and sizes "
                                    f"{sizes} does not make a network: {exc}") from None
    return out


def _sizes(value, depth: int, where: str) -> list[list[int]]:
    if not isinstance(value, list) or len(value) != depth + 1:
        raise SpecError(f"{where} must list one [lo, hi] (or a size) per layer n[0..{depth}]: "
                        f"{depth + 1} entries, as [network] has")
    out = []
    for i, r in enumerate(value):
        pair = [r, r] if isinstance(r, int) else r if isinstance(r, list) else []
        if len(pair) != 2 or not all(isinstance(x, int) and not isinstance(x, bool)
                                     for x in pair) or not 1 <= pair[0] <= pair[1]:
            raise SpecError(f"{where}[{i}] must be [lo, hi] with 1 <= lo <= hi, not {r!r}")
        require(VARIANT_SIZE, pair[1], f"{where}[{i}]")
        out.append([int(pair[0]), int(pair[1])])
    return out


def _choices(value, known: Sequence[str], where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise SpecError(f"{where} must be a name or a list of names: {', '.join(known)}")
    for name in items:
        if name not in known:
            raise SpecError(f"{where}: {name!r} is not one of {', '.join(known)}")
    return list(dict.fromkeys(items))


def _choices_per_layer(value, depth: int, known: Sequence[str], where: str) -> list[list[str]]:
    if not isinstance(value, list) or len(value) != depth:
        raise SpecError(f"{where} must list one choice (a name or a list of names) per layer "
                        f"1..{depth}")
    return [_choices(v, known, f"{where}[{i}]") for i, v in enumerate(value)]


def variant_network(rubric: Rubric, student: str, secret: str) -> Network:
    """The network ``student`` answers about: the rubric's, with what ``[variants]`` draws."""
    if rubric.variants is None:
        return rubric.network
    drawn = draw_variant(student, secret, rubric.variants)
    changes = {k: v for k, v in drawn.items() if v or k == "loss"}
    return rubric.network.replace(**changes)


def variant_rubric(rubric: Rubric, student: str, secret: str) -> Rubric:
    """``rubric`` with the network of ``student`` (itself, for a rubric without [variants])."""
    from dataclasses import replace

    if rubric.variants is None:
        return rubric
    return replace(rubric, network=variant_network(rubric, student, secret))


def secret_from(given: str | None) -> str:
    """The course secret: ``--secret``, else ``$DERIVE_VARIANT_SECRET``; refuse without one."""
    secret = given if given is not None else os.environ.get(SECRET_ENV, "")
    if not secret:
        raise UsageError(f"variants need the course secret: give --secret or set {SECRET_ENV} "
                         "(there is no default: without it anyone could draw a student's network)")
    return secret


# -- student ids -------------------------------------------------------------------------------
def check_id(text, where: str) -> str:
    """A student id made safe to name files: 1 to 64 letters, digits, ``_``, ``-`` or ``.``,
    starting with a letter or digit, no ``..``, not a device name; else an error naming ``where``."""
    if not isinstance(text, str) or not text:
        raise SpecError(f"{where}: a student id must be a non-empty string")
    if len(text) > ID_CHARS:
        raise SpecError(f"{where}: the student id is {len(text)} characters long; at most "
                        f"{ID_CHARS}")
    if "/" in text or "\\" in text:
        raise SpecError(f"{where}: the student id {text[:ID_CHARS]!r} holds a path separator")
    if not _ID.fullmatch(text) or ".." in text:
        bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "_.-"))), None)
        what = f"the character {bad!r}" if bad else "a leading '.' or '-', or '..'"
        raise SpecError(f"{where}: the student id {text!r} holds {what}; use letters, digits, "
                        "'_', '-' and '.'")
    if text.split(".")[0].lower() in _RESERVED:
        raise SpecError(f"{where}: the student id {text!r} is a device name on Windows")
    return text


def read_ids(path: str | Path) -> list[str]:
    """The student ids of a file, one a line (blank lines and ``# comments`` skipped), each
    checked (:func:`check_id`, naming the line); a repeated id (letter case aside) is an error."""
    from derive.network.textfile import read_bounded

    text = read_bounded(path, IDS_BYTES, "ids file")
    ids: list[str] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        sid = check_id(item, f"{path}, line {n}")
        if sid.lower() in seen:
            raise SpecError(f"{path}, line {n}: the student id {sid!r} repeats line "
                            f"{seen[sid.lower()]} (ids name files: letter case aside)")
        seen[sid.lower()] = n
        ids.append(sid)
    if not ids:
        raise SpecError(f"{path}: no student ids (one a line)")
    require(STUDENTS, len(ids), f"the students of {path}")
    return ids
