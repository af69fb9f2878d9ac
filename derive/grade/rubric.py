"""A grading rubric: a network and the questions asked about it, read from TOML.

```toml
title = "Week 4: backpropagation"          # optional

[network]                                   # the spec's keys (docs/spec.md)
layers = [3, 4, 1]
activations = ["relu", "sigmoid"]
loss = "bce"

[[question]]
id = "q1"
target = "dW[1]"                            # the gradient asked for: dA, dZ, dW, db of a layer
points = 2
partial = { missing_scale = 1 }             # points kept per mistake code (the rest are lost)
feedback = { missing_scale = "The cost is a mean over the m examples." }

[[question]]
id = "q2"
kind = "numbers"                            # a worked example: the student's numbers
points = 4
steps = ["dZ2", "dW2", "db2"]               # the steps graded (default: every backward step)
follow_through = 1                          # share kept by a step that follows from a slip
values = { X = [[1.0], [2.0], [0.5]], Y = [[1]], W1 = ..., b1 = ..., W2 = ..., b2 = ... }
```

Why a rubric is data and not code: a course's rubric is read on a grading host from a file a
teacher wrote (and may be handed around), so it is parsed, bounded and checked like every other
input (``derive.network.textfile``), and every mistake is named with its place: the line and
column for malformed TOML, the question's number and id for a bad key or value.

>>> r = rubric_from_mapping({"network": {"layers": [3, 4, 1], "activations": ["relu", "sigmoid"],
...     "loss": "bce"}, "question": [{"id": "q1", "target": "dW1", "points": 2,
...     "partial": {"missing_scale": 1}}]})
>>> q = r.questions[0]
>>> q.target, q.layer, q.points, q.kept("missing_scale"), q.kept("wrong_order"), r.max_score
('dW[1]', 1, 2.0, 1.0, 0.0, 2.0)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from derive.errors import SpecError
from derive.limits import Limit, require
from derive.network.spec import Network
from derive.network.textfile import load_toml, read_bounded

#: the bytes of one rubric file (a rubric with a worked example's values is a few kB)
RUBRIC_BYTES = Limit("grade.rubric_bytes", 1 << 20, "bytes", "a smaller RUBRIC",
                     "one rubric file")
#: the questions of one rubric
QUESTIONS = Limit("grade.questions", 500, "questions", "a smaller RUBRIC",
                  "the questions of one rubric")

KINDS = ("formula", "numbers")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")  # Gradescope's
QUESTION_KEYS = {"id", "target", "points", "kind", "partial", "feedback", "conditional",
                 "title", "steps", "values", "follow_through", "tolerance", "visibility"}
TOP_KEYS = {"title", "network", "question", "values", "visibility", "variants"}
_TARGET = re.compile(r"^\s*(?P<q>dA|dZ|dW|db)\s*(?:\[\s*(?P<a>\d+)\s*\]|(?P<b>\d+)|"
                     r"\^\{\[(?P<c>\d+)\]\}|_\{?(?P<d>\d+)\}?)\s*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_BACKWARD = ("dA", "dZ", "dW", "db")  # the steps a numbers question grades by default


@dataclass(frozen=True)
class Question:
    """One question: its ``id``, the gradient asked for (``target``, e.g. ``dW[1]``; None for a
    numbers question), its ``points``, and how a wrong answer keeps points: ``partial`` maps a
    mistake code to the points kept, ``conditional`` the points of an answer right only under a
    condition (None: full points), ``feedback`` a teacher's sentence per mistake code."""

    id: str
    points: float
    kind: str = "formula"
    target: str | None = None
    layer: int | None = None
    partial: dict[str, float] = field(default_factory=dict)
    feedback: dict[str, str] = field(default_factory=dict)
    conditional: float | None = None
    title: str = ""
    # numbers questions: the step keys graded (("dZ", 2), ...; empty: every backward step),
    # the values of the worked example, the share a step that follows from a slip keeps
    steps: tuple[tuple, ...] = ()
    values: dict | None = None
    follow_through: float = 1.0
    tolerance: float | None = None
    visibility: str | None = None
    # per-process results computed from the question alone (its worked example)
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        """The name shown to a student: the title, else ``id: target``."""
        return self.title or (f"{self.id}: {self.target}" if self.target else self.id)

    def kept(self, code: str) -> float:
        """The points a single mistake ``code`` keeps (0 unless ``partial`` names it)."""
        return self.partial.get(code, 0.0)


@dataclass(frozen=True)
class Rubric:
    """A network and its questions, in order; ``source`` names the file (for messages)."""

    network: Network
    questions: tuple[Question, ...]
    title: str = ""
    source: str = "rubric"
    visibility: str = "visible"
    # the ranges a per-student network is drawn from (``[variants]``, derive.grade.variants);
    # None: every student answers about ``network``
    variants: dict | None = None

    @property
    def max_score(self) -> float:
        return sum(q.points for q in self.questions)

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def for_target(self, target: str) -> list[Question]:
        """The formula questions asking for ``target`` (``dW[1]``)."""
        return [q for q in self.questions if q.target == target]


def load_rubric(path: str | Path) -> Rubric:
    """The rubric in the TOML file ``path`` (bounded: :data:`RUBRIC_BYTES`)."""
    where = str(path)
    text = read_bounded(path, RUBRIC_BYTES, "rubric file")
    return rubric_from_mapping(load_toml(text, where), where)


def rubric_from_mapping(data: dict, where: str = "rubric") -> Rubric:
    """The rubric of a parsed TOML table; every error names ``where`` and the question."""
    if not isinstance(data, dict):
        raise SpecError(f"{where}: a rubric is a table with [network] and [[question]] tables")
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(TOP_KEYS))}")
    if not isinstance(data.get("network"), dict):
        raise SpecError(f"{where}: no [network] table (layers, activations, loss, ...)")
    try:
        net = Network.from_mapping(data["network"], where=f"{where}, [network]")
    except SpecError as exc:
        text = str(exc)
        raise SpecError(text if text.startswith(where) else f"{where}, [network]: {text}") from None
    tables = data.get("question")
    if not isinstance(tables, list) or not tables:
        raise SpecError(f"{where}: no [[question]] tables")
    require(QUESTIONS, len(tables), f"the questions of {where}")
    top_values = data.get("values")
    if top_values is not None and not isinstance(top_values, dict):
        raise SpecError(f"{where}: 'values' must be a table (X, Y, W1, b1, ...)")
    questions: list[Question] = []
    for i, table in enumerate(tables, start=1):
        q = _question(table, f"{where}, question {i}", net, top_values)
        if any(p.id == q.id for p in questions):
            raise SpecError(f"{where}, question {i}: the id {q.id!r} is used twice")
        questions.append(q)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise SpecError(f"{where}: 'title' must be a string")
    variants = None
    if "variants" in data:
        from derive.grade.variants import check_ranges

        variants = check_ranges(data["variants"], net, f"{where}, [variants]")
        numbers = [q.id for q in questions if q.kind == "numbers"]
        if numbers:
            raise SpecError(f"{where}, [variants]: question {numbers[0]!r} is a numbers question, "
                            "whose values fit one network only; a rubric with [variants] asks "
                            "formula questions")
    return Rubric(net, tuple(questions), title, where,
                  _visibility(data.get("visibility", "visible"), where), variants)


def parse_target(text, where: str, net: Network | None = None) -> tuple[str, int]:
    """``"dW[1]"``, ``"dW1"``, ``"dW^{[1]}"`` -> ``("dW[1]", 1)``; the layer must exist."""
    hit = _TARGET.match(text) if isinstance(text, str) else None
    if not hit:
        raise SpecError(f"{where}: target {text!r} is not a gradient of a layer: write dA[l], "
                        "dZ[l], dW[l] or db[l] with a layer number (dW[1])")
    layer = int(next(g for g in (hit["a"], hit["b"], hit["c"], hit["d"]) if g is not None))
    if net is not None and not 1 <= layer <= net.depth:
        raise SpecError(f"{where}: target {text!r}: the network has layers 1 to {net.depth}")
    return f"{hit['q']}[{layer}]", layer


def _question(table, where: str, net: Network, top_values) -> Question:
    from derive.check.mistakes import PRIORITY  # the mistake catalogue's codes

    if not isinstance(table, dict):
        raise SpecError(f"{where}: a [[question]] must be a table")
    unknown = sorted(set(table) - QUESTION_KEYS)
    if unknown:
        raise SpecError(f"{where}: unknown key {unknown[0]!r}; known: "
                        f"{', '.join(sorted(QUESTION_KEYS))}")
    qid = table.get("id")
    if not isinstance(qid, str) or not _ID.match(qid):
        raise SpecError(f"{where}: 'id' must be a short name of letters, digits, '_', '-' or '.' "
                        f"(q1, 2b), not {qid!r}")
    where = f"{where} (id {qid!r})"
    points = _number(table.get("points"), f"{where}: 'points'", positive=True)
    kind = table.get("kind", "formula")
    if kind not in KINDS:
        raise SpecError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    partial = _table(table.get("partial", {}), f"{where}: 'partial'")
    feedback = _table(table.get("feedback", {}), f"{where}: 'feedback'")
    for name, codes in (("partial", partial), ("feedback", feedback)):
        for code in codes:
            if code not in PRIORITY:
                raise SpecError(f"{where}: {name}: {code!r} is not a mistake code; known: "
                                f"{', '.join(PRIORITY)} (docs/checking.md)")
    kept = {c: _number(v, f"{where}: partial.{c}") for c, v in partial.items()}
    for c, v in kept.items():
        if v > points:
            raise SpecError(f"{where}: partial.{c} keeps {v:g} points of the question's {points:g}")
    for c, v in feedback.items():
        if not isinstance(v, str):
            raise SpecError(f"{where}: feedback.{c} must be a string")
    conditional = table.get("conditional")
    if conditional is not None:
        conditional = _number(conditional, f"{where}: 'conditional'")
        if conditional > points:
            raise SpecError(f"{where}: 'conditional' keeps {conditional:g} points of {points:g}")
    title = table.get("title", "")
    if not isinstance(title, str):
        raise SpecError(f"{where}: 'title' must be a string")
    common = dict(id=qid, points=points, kind=kind, partial=kept, feedback=dict(feedback),
                  conditional=conditional, title=title,
                  visibility=_visibility(table["visibility"], where) if "visibility" in table
                  else None)
    if kind == "formula":
        for key in ("steps", "values", "follow_through", "tolerance"):
            if key in table:
                raise SpecError(f"{where}: {key!r} belongs to kind = \"numbers\" questions")
        target, layer = parse_target(table.get("target"), where, net)
        return Question(target=target, layer=layer, **common)  # type: ignore[arg-type]
    return _numbers_question(table, where, net, top_values, common)


def _numbers_question(table: dict, where: str, net: Network, top_values, common: dict) -> Question:
    from derive.numbers.inputs import resolve_name

    if "target" in table:
        raise SpecError(f"{where}: a numbers question grades 'steps', not a 'target'")
    values = table.get("values", top_values)
    if not isinstance(values, dict) or not values:
        raise SpecError(f"{where}: a numbers question needs 'values' (X, Y, W1, b1, ...), in the "
                        "question or at the top of the rubric")
    steps_in = table.get("steps", [])
    if not isinstance(steps_in, list) or not all(isinstance(s, str) for s in steps_in):
        raise SpecError(f"{where}: 'steps' must be a list of step names (\"dZ2\", \"dW[1]\")")
    steps = []
    for s in steps_in:
        key = resolve_name(s, net.depth)
        if key is None or key[0] == "?":
            raise SpecError(f"{where}: steps: {s!r} is not a step name (Z1, A1, J, dA2, dZ2, "
                            "dW2, db2, ...)")
        steps.append(key)
    follow = _number(table.get("follow_through", 1), f"{where}: 'follow_through'")
    if follow > 1:
        raise SpecError(f"{where}: 'follow_through' is a share from 0 to 1, not {follow:g}")
    tol = table.get("tolerance")
    if tol is not None:
        tol = _number(tol, f"{where}: 'tolerance'")
        if tol >= 1:
            raise SpecError(f"{where}: 'tolerance' is relative, from 0 to below 1, not {tol:g}")
    q = Question(steps=tuple(steps), values=dict(values), follow_through=follow, tolerance=tol,
                 **common)
    from derive.errors import DeriveError

    try:  # the rubric's own values must make a worked example: say so now, not per student
        worked = numbers_example(q, net)
    except DeriveError as exc:
        raise SpecError(f"{where}: values: {exc}") from None
    known = {s.key for s in worked.steps}
    for name, key in zip(steps_in, steps, strict=True):
        if key not in known:
            raise SpecError(f"{where}: steps: the worked example has no step {name!r}")
    return q


def default_steps(net: Network) -> tuple[tuple, ...]:
    """The steps a numbers question grades when it names none: dA, dZ, dW, db of every layer
    the derivation computes (dA[L] only with a concrete loss)."""
    out: list[tuple] = []
    for l in range(net.depth, 0, -1):
        out += [(q, l) for q in _BACKWARD if not (q == "dA" and l == net.depth and not net.loss)]
    return tuple(out)


def _number(x, where: str, positive: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0:
        raise SpecError(f"{where} must be a number of points, 0 or more, not {x!r}")
    if positive and x == 0:
        raise SpecError(f"{where} must be more than 0")
    return float(x)


def _table(x, where: str) -> dict:
    if not isinstance(x, dict):
        raise SpecError(f"{where} must be a table of mistake codes ({{ missing_scale = 1 }})")
    return x


def _visibility(v, where: str) -> str:
    if v not in VISIBILITIES:
        raise SpecError(f"{where}: visibility {v!r} is not one of {', '.join(VISIBILITIES)}")
    return v
def numbers_example(q: Question, net):
    """The question's worked example (computed once per process: the rubric's values are fixed)."""
    from derive.numbers.inputs import from_mapping
    from derive.numbers.worked import worked_example

    if "worked" not in q.cache:
        inp = from_mapping({"values": q.values}, where=f"question {q.id}")
        q.cache["worked"] = worked_example(net, inp.values)
    return q.cache["worked"]


