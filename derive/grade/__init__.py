"""Grading: rubrics with partial credit, submissions, scores and the formats autograders read.

``load_rubric(path)`` reads a rubric (:mod:`derive.grade.rubric`), ``read_submission(path)`` a
student's files (:mod:`derive.grade.submission`), ``grade_submission(rubric, submission)`` gives
a :class:`Grade` (:mod:`derive.grade.score`); :mod:`derive.grade.formats` writes it for
Gradescope, PrairieLearn, CSV or JSON Lines, :mod:`derive.grade.report` sums up a class.
A rubric's ``[variants]`` draws a network per student (:mod:`derive.grade.variants`, with a
course secret); :mod:`derive.grade.sheets` writes each student's question sheet and proven answer
key, :mod:`derive.grade.selftest` checks that the rubric grades the keys and their mistakes as it
says (``derive variants``). ``check_line`` (one JSON line of ``derive check --batch`` to its
result object) is the function a cluster maps over a course's answers (docs/grading.md).
"""

from __future__ import annotations

from derive.cli.check import check_line
from derive.grade.rubric import Question, Rubric, load_rubric, rubric_from_mapping
from derive.grade.score import Grade, QuestionGrade, grade_answer, grade_submission
from derive.grade.submission import Submission, read_submission, submission_from_text

__all__ = ["Grade", "Question", "QuestionGrade", "Rubric", "Submission", "check_line",
           "grade_answer", "grade_submission", "load_rubric", "read_submission",
           "rubric_from_mapping", "submission_from_text"]
