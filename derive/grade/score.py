"""Grading a submission against a rubric: one :class:`QuestionGrade` per question, summed.

The points of a formula question follow its verdict (``derive check`` on the rubric's network,
the current layer pinned to the target's):

* ``correct``: full points; correct only under a condition (``Verdict.conditions``, e.g. "only
  when m = 1"): the question's ``conditional`` points (full when it sets none), the conditions
  reported with the grade;
* ``not_equivalent``: each mistake code loses ``points − partial[code]`` (a code the rubric does
  not name loses them all), the score is what is left, at least 0; ``other`` keeps nothing;
* ``shape_error``: 0 points, reported as a shape error (MITx's MatrixGrader: the student sees
  the shapes clash, the teacher sees it was not a wrong value);
* ``parse_error``: *not gradable*, not wrong: 0 points and a format error, so a host that
  supports it (PrairieLearn's ``gradable: false``) does not count the attempt;
* an answer for another gradient than the target: 0 points, saying which it is.

A numbers question grades each of its steps with the student check
(:func:`derive.numbers.student.check_student`): a step is worth ``points / len(steps)``; a right
step keeps it, a wrong step that follows from the student's own earlier slip keeps
``follow_through`` of it (the student did the step right on wrong inputs), any other step none.

>>> from derive.grade.rubric import rubric_from_mapping
>>> r = rubric_from_mapping({"network": {"layers": [3, 4, 1], "activations": ["relu", "sigmoid"],
...     "loss": "bce"}, "question": [{"id": "q1", "target": "dW[1]", "points": 2,
...     "partial": {"missing_scale": 1.5}}]})
>>> g = grade_formula(r.questions[0], "dW1 = np.dot(dZ1, X.T)", r.network)
>>> g.points, g.status, g.mistakes
(1.5, 'partial', ('missing_scale',))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from derive.grade.rubric import Question, Rubric, default_steps, numbers_example
from derive.grade.submission import Submission

STATUSES = ("correct", "partial", "incorrect", "shape_error", "not_gradable", "missing", "error")
_LEFT = re.compile(r"^[^=(]*=(?!=)")  # a left side: text before the first '=', outside any call
_QUANTITY = re.compile(r"^(dA|dZ|dW|db)\[")


@dataclass(frozen=True)
class QuestionGrade:
    """One question's grade: ``points`` of ``max_points``, a ``status`` (:data:`STATUSES`), the
    verdict and mistake codes behind it, the messages and the rubric's feedback a student sees."""

    id: str
    name: str
    max_points: float
    points: float
    status: str
    target: str | None = None
    verdict: str | None = None
    mistakes: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    feedback: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    answer: str | None = None
    expected: str | None = None
    fix: str | None = None
    first_wrong_step: str | None = None
    steps: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "target": self.target,
                "points": self.points, "max_points": self.max_points, "status": self.status,
                "verdict": self.verdict, "mistakes": list(self.mistakes),
                "messages": list(self.messages), "feedback": list(self.feedback),
                "conditions": list(self.conditions), "answer": self.answer,
                "expected": self.expected, "fix": self.fix,
                "first_wrong_step": self.first_wrong_step, "steps": [dict(s) for s in self.steps]}

    def output(self) -> str:
        """The text a student reads about this question."""
        head = {"correct": "correct", "partial": "partly right", "incorrect": "incorrect",
                "shape_error": "incorrect: shape error", "not_gradable": "not gradable",
                "missing": "no answer", "error": "not graded (an error in derive)"}[self.status]
        lines = [f"{head} ({_num(self.points)}/{_num(self.max_points)})"]
        lines += [f"condition: {c}" for c in self.conditions]
        lines += self.messages
        lines += self.feedback
        if self.status not in ("correct", "not_gradable", "missing") and self.expected:
            lines.append(f"correct formula: {self.expected}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Grade:
    """A submission's grade: every question's, the total, and the format errors that made a
    part of it not gradable."""

    student: str
    source: str
    questions: tuple[QuestionGrade, ...]
    format_errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def score(self) -> float:
        return _round(sum(q.points for q in self.questions))

    @property
    def max_score(self) -> float:
        return _round(sum(q.max_points for q in self.questions))

    @property
    def gradable(self) -> bool:
        """False when a file or an answer could not be read (a parse error): the student should
        fix its form, and an attempt should not count."""
        return not self.format_errors

    @property
    def exit_code(self) -> int:
        """0 full marks, 1 points lost, 2 not gradable, 3 an error in derive."""
        if any(q.status == "error" for q in self.questions):
            return 3
        if not self.gradable:
            return 2
        return 0 if self.score == self.max_score else 1

    def to_dict(self) -> dict:
        return {"student": self.student, "source": self.source, "score": self.score,
                "max_score": self.max_score, "gradable": self.gradable,
                "format_errors": list(self.format_errors), "notes": list(self.notes),
                "questions": [q.to_dict() for q in self.questions]}


def grade_submission(rubric: Rubric, sub: Submission, secret: str | None = None) -> Grade:
    """Every question of ``rubric`` graded on ``sub`` (never raises for the submission's content).
    A rubric with ``[variants]`` grades against the student's own network, drawn with the course
    ``secret`` (a UsageError without one); a student id that cannot be one is a format error."""
    notes: list[str] = []
    if sub.claimed is not None and sub.claimed != sub.student:  # another student's file: 0 points
        return Grade(sub.student, sub.source, tuple(
            _grade(q, 0.0, "not_gradable", messages=sub.errors) for q in rubric.questions),
            sub.errors)
    if rubric.variants is not None:
        from derive.errors import DeriveError, UsageError
        from derive.grade.variants import check_id, variant_rubric

        if not secret:
            raise UsageError(f"{rubric.source} draws a network per student ([variants]): give "
                             "the course secret (--secret or DERIVE_VARIANT_SECRET)")
        try:
            check_id(sub.student, f"{sub.source}: the student id")
        except DeriveError as exc:
            return Grade(sub.student, sub.source, tuple(
                _grade(q, 0.0, "not_gradable", messages=(str(exc),)) for q in rubric.questions),
                (*sub.errors, f"{exc} (give --student ID, or \"_student\" in the file)"))
        rubric = variant_rubric(rubric, sub.student, secret)
        notes.append(f"graded on the network of {sub.student}: {rubric.network.describe()}")
    errors = list(sub.errors)
    notes += [f"{sub.source}: {qid!r} is not a question of the rubric (ignored)"
              for qid in sub.answers if rubric.question(str(qid)) is None]
    by_code = _code_answers(rubric, sub, notes, errors)
    grades = []
    for q in rubric.questions:
        if q.id in sub.answers:
            g = grade_answer(q, sub.answers[q.id], rubric.network)
        elif q.id in by_code:
            g = by_code[q.id]
        else:
            g = _grade(q, 0.0, "missing", messages=("no answer was given",))
        if g.status == "not_gradable":
            errors += [f"{q.id}: {m}" for m in g.messages]
        grades.append(g)
    return Grade(sub.student, sub.source, tuple(grades), tuple(errors), tuple(notes))


def grade_answer(q: Question, answer, net) -> QuestionGrade:
    """One answer as the submission holds it: a formula string, or a table of a numbers answer."""
    from derive.numbers.inputs import Num

    try:
        if q.kind == "numbers":
            if not isinstance(answer, dict):
                return _grade(q, 0.0, "not_gradable", messages=(
                    "a numbers answer is a table of step names and values "
                    "({\"dZ2\": \"-3,7e-7\", \"dW2\": [...]})",))
            return grade_numbers(q, answer, net)
        if not isinstance(answer, str) or not answer.strip():
            shown = answer.text if isinstance(answer, Num) else answer
            return _grade(q, 0.0, "not_gradable", messages=(
                f"the answer is {type(shown).__name__} {str(shown)[:40]!r}, not a formula "
                f"(write it as a string: \"{q.target} = ...\")",))
        return grade_formula(q, answer, net)
    except Exception as exc:  # noqa: BLE001 - one answer never stops a class's grading
        return _grade(q, 0.0, "error", messages=(
            f"internal error in derive on this answer ({type(exc).__name__}: {exc}); this is a "
            "bug: please report it with the answer",))


def grade_formula(q: Question, answer: str, net) -> QuestionGrade:
    """A formula answer (``"dW1 = 1/m dZ1 X.T"``, or its right side alone) checked and scored."""
    from derive.check.checker import check

    eq = answer if _LEFT.match(answer) else f"{q.target} = {answer}"
    return grade_verdict(q, check(eq, net, layer=q.layer), answer)


def grade_verdict(q: Question, v, answer: str | None) -> QuestionGrade:
    """The points a :class:`derive.check.verdict.Verdict` earns on question ``q``."""
    codes = tuple(dict.fromkeys(m.code for m in v.mistakes))
    messages = tuple(m.message for m in v.mistakes)
    feedback = tuple(q.feedback[c] for c in codes if c in q.feedback)
    common = dict(verdict=v.verdict, mistakes=codes, feedback=feedback, answer=answer,
                  expected=v.expected, fix=v.fix)
    if v.verdict == "parse_error":
        where = f" (at position {v.position})" if v.position is not None else ""
        first = v.message.splitlines()[0] if v.message else "the answer could not be read"
        return _grade(q, 0.0, "not_gradable", messages=(first + where,), answer=answer,
                      verdict=v.verdict)
    if v.verdict == "internal_error":
        return _grade(q, 0.0, "error", messages=(v.message,), answer=answer, verdict=v.verdict)
    if v.target is not None and v.target != q.target:
        return _grade(q, 0.0, "incorrect", messages=(
            f"this is a formula for {v.target}; the question asks for {q.target}",), **common)
    if v.verdict == "correct":
        points = q.points if not v.conditions or q.conditional is None else q.conditional
        return _grade(q, points, "correct" if points == q.points else "partial",
                      conditions=tuple(v.conditions), **common)
    if v.verdict == "shape_error":
        return _grade(q, 0.0, "shape_error", messages=(v.message, *messages), **common)
    points = partial_points(q, codes)
    status = "partial" if points > 0 else "incorrect"
    return _grade(q, points, status, messages=(v.message, *messages), **common)


def partial_points(q: Question, codes) -> float:
    """``points − Σ (points − partial[c])`` over the distinct mistake codes, at least 0."""
    if not codes:
        return 0.0
    lost = sum(q.points - q.kept(c) for c in dict.fromkeys(codes))
    return _round(max(0.0, q.points - lost))


def grade_numbers(q: Question, answer: dict, net) -> QuestionGrade:
    """A numbers answer: the student check on the question's worked example, step by step."""
    from derive.errors import DeriveError
    from derive.numbers.inputs import from_mapping
    from derive.numbers.student import check_student

    try:
        inp = from_mapping({"values": q.values, "student": answer}, where=f"the answer to {q.id}")
    except DeriveError as exc:
        return _grade(q, 0.0, "not_gradable", messages=(str(exc),))
    worked = numbers_example(q, net)
    report = check_student(worked, inp.student, q.tolerance)
    keys = q.steps or default_steps(worked.network)
    share = q.points / len(keys)
    by_key = {s.key: s for s in report.steps}
    points, steps, messages = 0.0, [], []
    for key in keys:
        s = by_key.get(key)
        if s is None:
            continue
        if s.status == "right":
            got, what = share, "right"
        elif s.status == "wrong" and s.cause in ("follows_from_earlier", "carried_rounding"):
            got, what = share * q.follow_through, "follows"
        elif s.status == "not_given":
            got, what = 0.0, "missing"
        else:
            got, what = 0.0, s.status if s.status != "wrong" else "wrong"
        points += got
        steps.append({"step": s.name, "status": what, "points": _round(got),
                      "max_points": _round(share), "mistake": s.mistake})
        if what != "right" and s.message:
            messages.append(f"{s.name}: {s.message}")
        elif what == "missing":
            messages.append(f"{s.name}: not given")
    messages += [m.message for m in report.mislabelled]
    points = _round(points)
    status = "correct" if points == q.points else "partial" if points > 0 else "incorrect"
    mistakes = tuple(dict.fromkeys(s.mistake for s in report.steps if s.mistake))
    return _grade(q, points, status, messages=tuple(messages), steps=tuple(steps),
                  first_wrong_step=report.first_wrong_step, mistakes=mistakes,
                  feedback=tuple(q.feedback[c] for c in mistakes if c in q.feedback))


def _code_answers(rubric: Rubric, sub: Submission, notes: list, errors: list) -> dict:
    """The formula questions a submission's code files answer: each gradient the code computes
    graded on the question whose target it is (the last assignment of it, if several); a
    function checked at every layer (names without an index: dW[l]) answers each of its
    layers' questions with its one verdict."""
    from derive.code.checking import check_code

    out: dict[str, QuestionGrade] = {}
    for path, code in sub.code:
        try:
            result = check_code(code, rubric.network)
        except Exception as exc:  # noqa: BLE001 - a bad file never stops the batch
            errors.append(f"{path}: cannot be checked ({type(exc).__name__}: {exc})")
            continue
        if not result.results:
            errors.append(f"{path}: no gradient could be read from this code"
                          + (f" ({result.problems[0]})" if result.problems else ""))
            continue
        notes += [f"{path}: not read: {p}" for p in result.problems]
        for q in rubric.questions:
            if q.kind != "formula" or q.id in sub.answers or q.id in out:
                continue
            exact = [r for r in result.results if r.target == q.target]
            generic = [r for r in result.results if r.target and r.target != q.target
                       and _QUANTITY.match(r.target) and r.target.endswith("[l]")
                       and r.target.split("[")[0] == q.target.split("[")[0]] if q.target else []
            found = exact or generic
            if found:
                hit = found[-1]
                label = f"{path}, line {hit.line}: {hit.name}" + (
                    f" (in {hit.function})" if hit.function else "")
                g = grade_verdict(q, hit.verdict if hit in exact else _pinned(hit.verdict, q),
                                  label)
                out[q.id] = g
    return out


def _pinned(v, q: Question):
    """A verdict on dW[l] (checked at every layer) read as the verdict on the question's dW[k]."""
    from dataclasses import replace

    return replace(v, target=q.target)


def _grade(q: Question, points: float, status: str, **kw) -> QuestionGrade:
    return QuestionGrade(q.id, q.name, q.points, _round(points), status, target=q.target, **kw)


def _round(x: float) -> float:
    """Points to 6 decimals: 2/3 of a point shows as 0.666667, and sums compare equal."""
    return round(x + 0.0, 6)


def _num(x: float) -> str:
    return f"{x:g}"
