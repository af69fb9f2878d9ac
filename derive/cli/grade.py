"""``derive grade --rubric RUBRIC.toml SUBMISSION...``: points, partial credit and feedback for a
class's submissions, in the formats autograders read (docs/grading.md).

Exit codes: 0 every submission has full marks, 1 some lost points, 2 a submission (or a part of
it) is not gradable or the rubric cannot be used, 3 a bug in derive. A bad submission never
stops the others: its grade says what could not be read, with the file and the place.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator

from derive.cli.common import add_format_arguments, dumps, output, takes_file
from derive.errors import DeriveError, UsageError

NAME = "grade"
HELP = "grade submissions against a rubric: points, partial credit, feedback; Gradescope, " \
       "PrairieLearn, CSV or JSON Lines"
FORMATS = ("text", "json", "gradescope", "prairielearn", "csv")


def add_arguments(p: argparse.ArgumentParser) -> None:
    takes_file(p.add_argument(
        "submissions", nargs="*", metavar="SUBMISSION",
        help="a student's answers (.json or .toml: question id -> formula, or a table of "
             "numbers), a code file (.py, read statically), or a folder of them"))
    takes_file(p.add_argument("--rubric", metavar="RUBRIC.toml", required=True,
                              help="the network and the questions: id, target, points, partial, "
                                   "feedback (docs/grading.md)"))
    add_format_arguments(p, FORMATS)
    takes_file(p.add_argument("-o", "--output", metavar="FILE",
                              help="write the grades here (replaced whole) instead of stdout"))
    p.add_argument("--student", metavar="ID",
                   help="the student's id for a single SUBMISSION (default: the file's "
                        "\"_student\", else its name); with a [variants] rubric, the student "
                        "whose network it is graded on")
    p.add_argument("--secret", metavar="SECRET",
                   help="the course secret of a rubric with [variants] (default: "
                        "$DERIVE_VARIANT_SECRET); never printed")
    takes_file(p.add_argument("--report", metavar="REPORT.md",
                              help="also write a class report (Markdown, or HTML for .html) "
                                   "with a bar chart PNG beside it"))
    p.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                   help="grade in N worker processes (0: one per core; default 1); the "
                        "output keeps the order of the submissions")


def _jobs(text: str) -> int:
    from derive.cli.check import _jobs as jobs

    return jobs(text)


def run(args: argparse.Namespace) -> int:
    from derive.grade.parallel import ordered_map
    from derive.grade.rubric import load_rubric
    from derive.grade.submission import SUBMISSIONS
    from derive.limits import require

    if not args.submissions:
        raise UsageError("give one or more SUBMISSION files (or folders)")
    require(SUBMISSIONS, len(args.submissions), "the submissions of this run")
    if args.student and len(args.submissions) > 1:
        raise UsageError("--student names the student of a single SUBMISSION")
    rubric = load_rubric(args.rubric)  # a bad rubric: an error naming its line, before any work
    secret = None
    if rubric.variants is not None:
        from derive.grade.variants import check_id, secret_from

        secret = secret_from(args.secret)
        if args.student:
            check_id(args.student, "--student")
    items = [(args.rubric, path, args.student, secret) for path in args.submissions]
    grades = ordered_map(grade_path, items, key=lambda item: 0, jobs=args.jobs, chunk=8)
    worst = 0
    kept: list = []
    with _output(args.output, (args.rubric, *args.submissions)) as out:
        if args.format == "csv":
            from derive.grade.formats import csv_header, csv_text

            out.write(csv_text([csv_header(rubric)]).encode("utf-8"))
        for g in grades:
            worst = max(worst, g.exit_code)
            out.write(render(g, rubric, args.format).encode("utf-8"))
            out.flush()
            if args.report:
                kept.append(g)
    if args.report:
        from derive.grade.report import write_report

        write_report(rubric, kept, args.report)
    return worst


@contextlib.contextmanager
def _output(path: str | None, inputs: tuple) -> Iterator:
    """Where the grades go: ``output()``'s binary stream, or standard output's text stream when
    it has no binary one (derive run in-process, as the docs' examples are)."""
    if (path is None or path == "-") and not hasattr(sys.stdout, "buffer"):
        yield _Text(sys.stdout)
        return
    with output(path, inputs=inputs) as out:
        yield out


class _Text:
    """A text stream written with UTF-8 bytes."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode("utf-8"))

    def flush(self) -> None:
        self.stream.flush()


def render(g, rubric, fmt: str) -> str:
    """One submission's grade in ``fmt``, with its line end."""
    from derive.grade import formats

    if fmt == "gradescope":
        return dumps(formats.gradescope(g, rubric)) + "\n"
    if fmt == "prairielearn":
        return dumps(formats.prairielearn(g)) + "\n"
    if fmt == "csv":
        return formats.csv_text([formats.csv_row(g)])
    if fmt == "json":
        return dumps(g.to_dict()) + "\n"
    return formats.text(g) + "\n"


_RUBRICS: dict = {}


def grade_path(rubric_path: str, path: str, student: str | None = None,
               secret: str | None = None):
    """The grade of the submission at ``path`` (a worker's unit of work: the rubric is read once
    per process and kept, with its worked examples); ``secret`` draws the student's network
    when the rubric has [variants]."""
    from derive.grade.rubric import load_rubric
    from derive.grade.score import grade_submission
    from derive.grade.submission import read_submission

    if rubric_path not in _RUBRICS:
        _RUBRICS[rubric_path] = load_rubric(rubric_path)
    rubric = _RUBRICS[rubric_path]
    try:
        sub = read_submission(path, student)
    except DeriveError as exc:  # a limit on the submission: not gradable, the batch goes on
        from derive.grade.submission import Submission

        sub = Submission(student or path, path, {}, (), (str(exc),))
    return grade_submission(rubric, sub, secret)
