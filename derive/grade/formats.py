"""A grade in the formats grading hosts read: Gradescope, PrairieLearn, CSV, JSON Lines, text.

* **Gradescope** (its autograder specification, ``/autograder/results/results.json``):
  ``{"score": float, "output": str, "visibility": str, "tests": [{"name": str, "number": str,
  "score": float, "max_score": float, "output": str, "tags": [str], "visibility": str}]}``;
  the top-level score is the sum of the tests' scores.
* **PrairieLearn** (the external grader's ``/grade/results/results.json``): ``{"gradable": bool,
  "score": float in [0, 1], "format_errors": [str], "message": str, "tests": [{"name": str,
  "description": str, "points": float, "max_points": float, "message": str, "output": str}]}``;
  ``gradable: false`` when an answer could not be read (PrairieLearn then awards and takes no
  points and does not count the attempt, so a syntax slip costs nothing: fix it and resubmit).
* **CSV**: one row per student: ``student, source, score, max_score, gradable`` and the points
  of each question under its id.
* **JSON Lines** (``--format json``): :meth:`Grade.to_dict`, one object per submission.

>>> from derive.grade.score import Grade, QuestionGrade
>>> g = Grade("ada", "ada.json", (QuestionGrade("q1", "q1: dW[1]", 2.0, 1.0, "partial"),))
>>> r = gradescope(g)
>>> r["score"], r["tests"][0]["max_score"], r["tests"][0]["visibility"]
(1.0, 2.0, 'visible')
>>> prairielearn(g)["score"], prairielearn(g)["gradable"]
(0.5, True)
"""

from __future__ import annotations

import csv
import io

from derive.grade.rubric import Rubric
from derive.grade.score import Grade

FORMATS = ("text", "json", "gradescope", "prairielearn", "csv")


def gradescope(g: Grade, rubric: Rubric | None = None) -> dict:
    """Gradescope's results.json for one submission."""
    visibility = rubric.visibility if rubric is not None else "visible"
    tests = []
    for i, q in enumerate(g.questions, start=1):
        rq = rubric.question(q.id) if rubric is not None else None
        test = {"name": q.name, "number": str(i), "score": q.points, "max_score": q.max_points,
                "output": q.output(), "tags": [q.status, *q.mistakes],
                "visibility": (rq.visibility if rq is not None and rq.visibility else visibility)}
        tests.append(test)
    head = f"{g.student}: {g.score:g}/{g.max_score:g}"
    if g.format_errors:
        head += "\nnot gradable (fix the form and resubmit):\n" + "\n".join(g.format_errors)
    return {"score": g.score, "output": head, "visibility": visibility, "tests": tests}


def prairielearn(g: Grade) -> dict:
    """PrairieLearn's external grader results.json for one submission."""
    tests = [{"name": q.name, "description": q.target or q.id, "points": q.points,
              "max_points": q.max_points, "message": q.output().splitlines()[0],
              "output": q.output()} for q in g.questions]
    score = g.score / g.max_score if g.max_score else 0.0
    return {"gradable": g.gradable, "score": round(min(1.0, max(0.0, score)), 6),
            "format_errors": list(g.format_errors),
            "message": f"{g.score:g}/{g.max_score:g} points", "tests": tests}


def csv_header(rubric: Rubric) -> list[str]:
    return ["student", "source", "score", "max_score", "gradable",
            *(q.id for q in rubric.questions)]


def csv_row(g: Grade) -> list:
    return [g.student, g.source, g.score, g.max_score, str(g.gradable).lower(),
            *(q.points for q in g.questions)]


def csv_text(rows: list[list]) -> str:
    """CSV text (RFC 4180 quoting, \\r\\n line ends as the csv module writes them); a cell that
    a spreadsheet would read as a formula (=, +, -, @ first) is prefixed with a quote."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([_cell(c) for c in row])
    return buf.getvalue()


def _cell(c):
    if isinstance(c, str) and c[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + c
    return c


def text(g: Grade) -> str:
    """What a person reads: the total, then one block per question."""
    lines = [f"{g.student} ({g.source}): {g.score:g}/{g.max_score:g}"]
    for e in g.format_errors:
        lines.append(f"  not gradable: {e}")
    for q in g.questions:
        body = q.output().splitlines()
        lines.append(f"  {q.id}" + (f" {q.target}" if q.target else "") + f": {body[0]}")
        lines += [f"      {b}" for b in body[1:]]
    lines += [f"  note: {n}" for n in g.notes]
    return "\n".join(lines)
