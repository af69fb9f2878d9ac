"""A student's submission: answers by question id (JSON or TOML), code files, or a folder of both.

A submission is untrusted and read without ever raising: a file that cannot be read (too large,
not UTF-8, malformed JSON or TOML) becomes a *format error* that names the file and the place
(line and column), and the grade says "not gradable" for it instead of "wrong". So a batch of a
class's submissions always goes on. Numbers keep the digits written (``0,999`` has three
decimals), as the student check needs (:mod:`derive.numbers.inputs`).

>>> s = submission_from_text('{"q1": "dW1 = 1/m dZ1 X.T", "q2": {"dZ2": "-3,7e-7"}}', "ada.json")
>>> s.student, sorted(s.answers), s.errors
('ada', ['q1', 'q2'], ())
>>> submission_from_text('{"q1": "dW1 = ', "bob.json").errors[0]
'bob.json, line 1, column 8: malformed JSON: Unterminated string starting at'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from derive.errors import DeriveError, ParseError
from derive.limits import Limit, require
from derive.network.textfile import load_toml, read_bounded, scan

#: one submission file (answers or code)
SUBMISSION_BYTES = Limit("grade.submission_bytes", 1 << 20, "bytes", "a smaller SUBMISSION",
                         "one submission file")
#: the files of one submission folder that are read (.json, .toml, .py)
FOLDER_FILES = Limit("grade.submission_files", 64, "files", "fewer files in the SUBMISSION folder",
                     "the answer and code files of one submission folder")
#: the submissions of one run of derive grade
SUBMISSIONS = Limit("grade.submissions", 100_000, "submissions", "fewer SUBMISSION arguments",
                    "the submissions graded by one run")

ANSWER_SUFFIXES = (".json", ".toml")
#: the key of an answers file that carries the student's id
STUDENT_KEY = "_student"
CODE_SUFFIXES = (".py",)


@dataclass(frozen=True)
class Submission:
    """What one student handed in: ``answers`` by question id (a formula is a string, a numbers
    answer a table of step names), ``code`` as (file, text) pairs, and the ``errors`` that kept a
    file (or an answer) from being read, each naming its file and place."""

    student: str
    source: str
    answers: dict
    code: tuple[tuple[str, str], ...] = ()
    errors: tuple[str, ...] = ()
    claimed: str | None = None  # the id the submission carries (``"_student"``), if any


def read_submission(path: str | Path, student: str | None = None) -> Submission:
    """The submission in ``path``: a .json/.toml answers file, a .py code file, or a folder of
    them (Gradescope's ``/autograder/submission``). The student is ``student``, else the file's
    stem (the folder's name for a folder); a file may carry its id (``"_student"``), which
    ``student``, when given, must match. Never raises for what the files hold."""
    p = Path(path)
    who = student or p.name
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file()
                       and f.suffix.lower() in (*ANSWER_SUFFIXES, *CODE_SUFFIXES))
        try:
            require(FOLDER_FILES, len(files), f"the files of {p}")
        except DeriveError as exc:
            return Submission(who, str(p), {}, (), (str(exc),))
        if not files:
            return Submission(who, str(p), {}, (), (f"{p}: no answers (.json, .toml) or code "
                                                    "(.py) file in this folder",))
        parts = [_read_file(f, student) for f in files]
        return merge(who, str(p), parts, explicit=student is not None)
    return _read_file(p, student)


def merge(student: str, source: str, parts: list[Submission], explicit: bool = False) -> Submission:
    """One submission from several files; a question answered in two files is an error, and so
    are two files that carry different student ids. The student is the id the files carry,
    else ``student`` (always ``student`` when ``explicit``: the files were checked against it)."""
    answers: dict = {}
    errors: list[str] = []
    code: list[tuple[str, str]] = []
    claims = [part for part in parts if part.claimed is not None]
    claimed = claims[0].claimed if claims else None
    for part in claims[1:]:
        if part.claimed != claimed:
            errors.append(f"{part.source}: _student is {part.claimed!r}, but {claims[0].source} "
                          f"says {claimed!r}")
    if claimed is not None and not explicit:
        student = claimed
    for part in parts:
        for qid, a in part.answers.items():
            if qid in answers:
                errors.append(f"{part.source}: question {qid!r} is answered in another file too")
                continue
            answers[qid] = a
        code += part.code
        errors += part.errors
    return Submission(student, source, answers, tuple(code), tuple(errors), claimed)


def _read_file(p: Path, student: str | None) -> Submission:
    who = student or p.stem
    try:
        text = read_bounded(p, SUBMISSION_BYTES, "submission file", error=ParseError)
    except DeriveError as exc:  # missing, too large, not UTF-8
        return Submission(who, str(p), {}, (), (str(exc),))
    if p.suffix.lower() in CODE_SUFFIXES:
        return Submission(who, str(p), {}, ((str(p), text),))
    return submission_from_text(text, str(p), student)


def submission_from_text(text: str, where: str, student: str | None = None) -> Submission:
    """Answers from the JSON (first character ``{``) or TOML ``text`` of file ``where``. The
    key ``_student`` (never a question id: ids start with a letter or digit) carries the
    student's id; ``student``, when given, must be the same."""
    who = student or Path(where).stem
    try:
        data = _parse(text, where)
    except ParseError as exc:
        return Submission(who, where, {}, (), (str(exc),))
    if not isinstance(data, dict):
        return Submission(who, where, {}, (), (f"{where}: a submission is a table of question ids "
                                               "and answers ({\"q1\": \"dW1 = ...\"})",))
    if STUDENT_KEY not in data:
        return Submission(who, where, data)
    from derive.grade.variants import check_id

    claimed = data.pop(STUDENT_KEY)
    try:
        claimed = check_id(claimed, f"{where}: {STUDENT_KEY}")
    except DeriveError as exc:
        return Submission(who, where, data, (), (str(exc),))
    if student is not None and claimed != student:
        return Submission(who, where, data, (), (
            f"{where}: {STUDENT_KEY} is {claimed!r}, but the submission is graded as "
            f"{student!r} (--student)",), claimed)
    return Submission(student or claimed, where, data, (), (), claimed)


def _parse(text: str, where: str):
    from derive.numbers.inputs import parse_number

    if text.lstrip().startswith("{"):
        scan(text, where, "json", error=ParseError)
        try:
            return json.loads(text, parse_float=parse_number)
        except json.JSONDecodeError as exc:
            raise ParseError(f"{where}, line {exc.lineno}, column {exc.colno}: malformed JSON: "
                             f"{exc.msg}") from None
        except (RecursionError, ValueError) as exc:  # scan() bounds both; a last guard
            raise ParseError(f"{where}: cannot be read as JSON ({type(exc).__name__})") from None
        except ParseError as exc:  # a number parse_number refuses (1e999)
            raise ParseError(f"{where}: {exc}") from None

    def number(t: str):
        if t.lstrip("+-") in ("nan", "inf"):
            raise ParseError(f"{where}: {t} is not a finite number")
        return parse_number(t.replace("_", ""))

    try:
        return load_toml(text, where, ParseError, parse_float=number)
    except ParseError as exc:
        msg = str(exc)
        raise ParseError(msg if msg.startswith(where) else f"{where}: {msg}") from None
