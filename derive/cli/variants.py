"""``derive variants --rubric RUBRIC.toml --students ids.txt -o DIR``: a network per student.

Each student's network is drawn from the ranges of the rubric's ``[variants]`` table by a keyed
hash of the student id under the course secret (``--secret`` or ``$DERIVE_VARIANT_SECRET``; there
is no default, and the secret is never printed nor written). For each student: the question
sheet (``DIR/sheets/ID.tex``, ``DIR/sheets/ID.md``) and the answer key (``DIR/keys/ID.json``, a
submission that gets full marks, and ``DIR/keys/ID.md``), from the engine's proven derivation.

``--check`` grades every key against the rubric (full marks) and a mutated key per mistake code
the rubric names (the points ``partial`` says): exit 0 when all agree, 1 on a mismatch.
"""

from __future__ import annotations

import argparse

from derive.cli.common import add_format_arguments, dumps, takes_file
from derive.errors import UsageError

NAME = "variants"
HELP = "draw a network per student (keyed hash of the id and a course secret): question sheets, " \
       "answer keys, and a self-test of the rubric"


def add_arguments(p: argparse.ArgumentParser) -> None:
    takes_file(p.add_argument("--rubric", metavar="RUBRIC.toml", required=True,
                              help="the questions and a [variants] table of ranges "
                                   "(docs/grading.md)"))
    takes_file(p.add_argument("--students", metavar="IDS.txt", required=True,
                              help="the student ids, one a line (letters, digits, '_', '-', '.'; "
                                   "at most 64 characters)"))
    takes_file(p.add_argument("-o", "--output", metavar="DIR",
                              help="write DIR/sheets/ID.tex, ID.md and DIR/keys/ID.json, ID.md"))
    p.add_argument("--secret", metavar="SECRET",
                   help="the course secret (default: $DERIVE_VARIANT_SECRET; no default "
                        "otherwise); never printed")
    p.add_argument("--check", action="store_true",
                   help="grade each key (full marks) and a mutated key per mistake code the "
                        "rubric names (its partial points); exit 1 on a mismatch")
    add_format_arguments(p, ("text", "json"))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive.grade.rubric import load_rubric
    from derive.grade.variants import read_ids, secret_from, variant_rubric

    if not args.output and not args.check:
        raise UsageError("give -o DIR (the sheets and keys), --check (the self-test), or both")
    rubric = load_rubric(args.rubric)
    if rubric.variants is None:
        raise UsageError(f"{args.rubric} has no [variants] table: every student would get the "
                         "same network (docs/grading.md says how to declare the ranges)")
    secret = secret_from(args.secret)
    ids = read_ids(args.students)
    out = Path(args.output) if args.output else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"-o {args.output}: not a directory")
    mismatches = 0
    for sid in ids:
        mine = variant_rubric(rubric, sid, secret)
        mismatches += _one(args, mine, sid, out)
    if args.format == "text":
        if out is not None:
            print(f"wrote {out}/sheets/ID.tex, ID.md and {out}/keys/ID.json, ID.md for "
                  f"{len(ids)} student(s)")
        if args.check:
            print(f"self-test: {mismatches} mismatch(es) over {len(ids)} student(s)")
    return 1 if mismatches else 0


def _one(args: argparse.Namespace, rubric, sid: str, out) -> int:
    """Write and/or self-test one student's variant; the mismatches found."""
    from derive.grade.sheets import make_variant, write_variant

    v = make_variant(rubric, sid)
    files = write_variant(v, out) if out is not None else []
    lines = []
    if args.check:
        from derive.grade.selftest import self_test

        lines = self_test(rubric, sid, v.answers)
    bad = sum(line.ok is False for line in lines)
    if args.format == "json":
        print(dumps({"student": sid, "network": rubric.network.to_dict(),
                     "files": [str(f) for f in files], "ok": bad == 0 if args.check else None,
                     "checks": [line.to_dict() for line in lines]}))
        return bad
    print(f"{sid}: {rubric.network.describe()}")
    for line in lines:
        if line.ok is not True:
            print(f"  {line.text()}")
    if args.check:
        passed = sum(line.ok is True for line in lines)
        untested = sum(line.ok is None for line in lines)
        print(f"  {passed} ok, {bad} mismatch(es), {untested} not tested")
    return bad
