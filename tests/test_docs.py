"""The docs are executable: every example in README.md and docs/*.md prints what its page shows.

Conventions (also stated in docs/design.md, "Executable docs"):

- **Console examples.** In a fenced block, a line ``$ derive …`` is a command and the lines after
  it, up to the next ``$`` line or the end of the block, are its output (stdout and stderr
  together, in order). The command runs in-process through ``derive.cli.main(argv)``, in a
  temporary directory that sees the repository's ``tests/`` and ``examples/`` (so ``-o`` files and
  ``--plot`` images never touch the checkout). Trailing spaces are ignored.
- **Excerpts.** A line ``...`` (alone, indentation allowed) in the output stands for any lines,
  zero or more: an output shown in part starts, ends or breaks with ``...``. Nothing else is
  ever left out.
- **Pipes**, never through a real shell: ``| head -n N``, ``| head -N``, ``| tail -n N``,
  ``| tail -N`` are emulated in Python, and ``| python -c CODE`` runs the interpreter on the
  output (a subprocess with an argument list). ``$ echo $?`` prints the previous command's exit
  code; a comment ``# exit code N`` on a command asserts it. Any other ``#`` comment is prose.
- **Commands without output.** A line ``derive …`` (no ``$``) in an ``sh`` block is parsed by the
  CLI's own argument parser (its flags must exist) but not run. A block whose ``$`` lines are not
  ``derive`` (the benchmarks' timings) is not run.
- **Python blocks.** Every ```` ```python ```` block runs as it stands, in a fresh namespace in a
  temporary directory. A ``print(...)`` line with a trailing comment must print what the comment
  starts with; a bare expression line whose comment starts with a Python literal
  (``d.proof.passed  # True: …``, ``r.shape  # (2, 2, 2, 2)``) must have that value; other
  comments are prose. A block that is a listing, not a program, is fenced
  ```` ```python norun ```` (a word after the language, which Markdown renderers ignore).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from derive.cli import build_parser, main
from derive.render.catalogue import render

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(`{3,}|~{3,})\s*(.*)$")


def test_rules_doc_is_current():
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == render(), (
        "docs/rules.md is stale: run `derive rules > docs/rules.md`"
    )


# -- reading the pages ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """One fenced block: the page, the line of its opening fence (1-based), info string, lines."""

    page: str
    line: int
    info: tuple[str, ...]
    lines: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


@dataclass(frozen=True)
class Command:
    """One ``$ …`` line of a block and the output the page shows for it."""

    line: int
    text: str
    expected: tuple[str, ...]


def blocks(path: Path) -> Iterator[Block]:
    """The fenced blocks of a Markdown page, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    name = str(path.relative_to(ROOT))
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, info = opening.groups()
        end = i + 1
        while end < len(lines) and not (lines[end].startswith(fence[0] * len(fence))
                                         and not lines[end].strip(fence[0]).strip()):
            end += 1
        yield Block(name, i + 1, tuple(info.split()), tuple(lines[i + 1:end]))
        i = end + 1


def commands(block: Block) -> list[Command]:
    """The ``$`` commands of a block with their shown output."""
    out: list[Command] = []
    for k, line in enumerate(block.lines):
        if line.startswith("$ "):
            out.append(Command(block.line + 1 + k, line[2:].strip(), ()))
        elif out:
            last = out[-1]
            out[-1] = Command(last.line, last.text, (*last.expected, line))
    return out


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]
CONSOLE = [b for b in ALL_BLOCKS if any(c.text.startswith("derive ") for c in commands(b))]
PYTHON = [b for b in ALL_BLOCKS if b.info[:1] == ("python",)]
SHOWN = [(b, line) for b in ALL_BLOCKS if b.info[:1] == ("sh",) and not commands(b)
         for line in b.lines if line.startswith("derive ")]


# -- running a console example -------------------------------------------------------------------
def split_comment(command: str) -> tuple[str, str]:
    """``cmd  # words`` -> (``cmd``, ``words``): a ``#`` outside quotes after a space."""
    quote = ""
    for k, ch in enumerate(command):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or command[k - 1].isspace()):
            return command[:k].rstrip(), command[k + 1:].strip()
    return command, ""


def run_derive(argv: list[str]) -> tuple[str, int]:
    """``derive ARGV`` in-process: stdout and stderr as one text, and the exit code."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's own errors
            code = stop.code if isinstance(stop.code, int) else 2
    return out.getvalue(), code


def _count(args: list[str], stage: str) -> int:
    if not args:
        return 10
    if len(args) == 2 and args[0] == "-n" and args[1].isdigit():
        return int(args[1])
    if len(args) == 1 and re.fullmatch(r"-\d+", args[0]):
        return int(args[0][1:])
    raise AssertionError(f"pipe stage {stage!r}: only -n N or -N is emulated")


def pipe(stage: list[str], text: str) -> tuple[str, int]:
    """One pipe stage after ``derive``, emulated without a shell."""
    name, args = stage[0], stage[1:]
    lines = text.splitlines(keepends=True)
    if name == "head":
        return "".join(lines[:_count(args, "head")]), 0
    if name == "tail":
        n = _count(args, "tail")
        return "".join(lines[-n:] if n else []), 0
    if name == "python" and len(args) == 2 and args[0] == "-c":
        done = subprocess.run([sys.executable, "-c", args[1]], input=text, capture_output=True,
                              text=True, timeout=60, check=False)
        return done.stdout + done.stderr, done.returncode
    raise AssertionError(f"pipe stage {' '.join(stage)!r} is not emulated (head, tail, python -c)")


def run_command(text: str, previous_code: int) -> tuple[str, int]:
    """A page's command line (``derive … | tail -3``, ``echo $?``): its output and exit code."""
    command, comment = split_comment(text)
    tokens = shlex.split(command)
    if tokens == ["echo", "$?"]:
        return f"{previous_code}\n", 0
    stages: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    first, *rest = stages
    assert first[0] == "derive", f"only derive commands run: {text!r}"
    output, code = run_derive(first[1:])
    stated = re.search(r"exit code (\d+)", comment)
    if stated:
        assert code == int(stated.group(1)), f"exit code {code}, the page says {stated.group(1)}"
    for stage in rest:
        output, code = pipe(stage, output)
    return output, code


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line equality where an expected ``...`` line stands for any lines (zero or more)."""

    @functools.cache
    def at(i: int, j: int) -> bool:
        if i == len(expected):
            return j == len(actual)
        if expected[i].strip() == "...":
            return any(at(i + 1, k) for k in range(j, len(actual) + 1))
        return j < len(actual) and expected[i] == actual[j] and at(i + 1, j + 1)

    return at(0, 0)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory like the repository root, whose writes go to a temporary folder."""
    for name in ("tests", "examples"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    (tmp_path / "docs" / "img").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", _path())
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


@pytest.mark.parametrize("block", CONSOLE, ids=lambda b: b.where)
def test_console_example_prints_what_the_page_shows(block, sandbox):
    code = 0
    for cmd in commands(block):
        output, code = run_command(cmd.text, code)
        expected = [line.rstrip() for line in cmd.expected]
        actual = [line.rstrip() for line in output.rstrip("\n").split("\n")] if output else []
        if not matches(expected, actual):
            diff = "\n".join(difflib.unified_diff(expected, actual, "page", "derive", lineterm=""))
            pytest.fail(f"{block.page}:{cmd.line}: `{cmd.text}` prints something else:\n{diff}")


@pytest.mark.parametrize(
    ("block", "line"), [pytest.param(b, line, id=f"{b.where}:{line[:40]}") for b, line in SHOWN]
)
def test_command_shown_without_output_has_valid_flags(block, line):
    tokens = shlex.split(split_comment(line)[0])
    # a redirection or a pipe ends the derive command line (`derive completion bash > file`)
    ends = [i for i, t in enumerate(tokens) if t in (">", ">>", "<", "|")]
    tokens = tokens[:ends[0]] if ends else tokens
    try:
        build_parser().parse_args(tokens[1:])
    except SystemExit as stop:
        pytest.fail(f"{block.where}: `{line}` is not a valid command line (exit {stop.code})")


# -- running a Python block ----------------------------------------------------------------------
def _needs_tex(block: Block) -> bool:
    return any("write_pdf" in line or "--pdf" in line for line in block.lines)


def _marks(block: Block):
    marks = []
    if _needs_tex(block):
        marks += [pytest.mark.tex, pytest.mark.skipif(shutil.which("pdflatex") is None,
                                                      reason="pdflatex not installed")]
    if any('["derive",' in line for line in block.lines):  # runs the installed command
        marks.append(pytest.mark.skipif(shutil.which("derive", path=_path()) is None,
                                        reason="the derive command is not installed"))
    return marks


def _path() -> str:
    """PATH with this interpreter's scripts first (where ``pip install -e .`` puts derive)."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


@pytest.mark.parametrize(
    "block", [pytest.param(b, marks=_marks(b), id=b.where) for b in PYTHON if "norun" not in b.info]
)
def test_python_block_runs_and_prints_its_comments(block, sandbox):
    source = "\n".join(block.lines) + "\n"
    tree = ast.parse(source, filename=block.where)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for statement in tree.body:
        out = io.StringIO()
        value = None
        with contextlib.redirect_stdout(out):  # trusted project text, run as a reader would
            if isinstance(statement, ast.Expr):
                value = eval(compile(ast.Expression(statement.value), block.where, "eval"),
                             namespace)
            else:
                exec(compile(ast.Module([statement], type_ignores=[]), block.where, "exec"),
                     namespace)
        comment = split_comment(block.lines[statement.end_lineno - 1])[1]
        where = f"{block.page}:{block.line + statement.end_lineno}"
        if not comment or not isinstance(statement, ast.Expr):
            continue
        if _is_print(statement):
            shown = out.getvalue().strip()
            assert comment.startswith(shown), f"{where}: prints {shown!r}, the comment says {comment!r}"
        elif (stated := _leading_literal(comment)) is not None:
            assert value == stated[0], f"{where}: the value is {value!r}, the comment says {comment!r}"


def _is_print(statement: ast.Expr) -> bool:
    call = statement.value
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"


def _leading_literal(comment: str) -> tuple[object] | None:
    """The Python literal a comment starts with (``True: every …``, ``(2, 2)``), if any."""
    for end in range(len(comment), 0, -1):
        try:
            return (ast.literal_eval(comment[:end]),)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def test_the_conventions_themselves():
    """``...`` stands for zero or more lines; pipes and ``echo $?`` are emulated as a shell would."""
    assert matches(["a", "...", "c"], ["a", "b", "b", "c"])
    assert matches(["a", "  ..."], ["a"]) and matches(["..."], [])
    assert not matches(["...", "c"], ["a", "b"]) and not matches(["a"], ["a", "b"])
    assert pipe(["tail", "-n", "2"], "a\nb\nc\n") == ("b\nc\n", 0)
    assert pipe(["head", "-1"], "a\nb\n") == ("a\n", 0)
    assert run_command("echo $?", 3) == ("3\n", 0)
    assert split_comment('derive check "a # b"  # exit code 1') == ('derive check "a # b"', "exit code 1")


def test_every_example_is_found():
    """The extractor sees the pages' examples (a broken fence would silently hide them)."""
    assert len([c for b in CONSOLE for c in commands(b)]) >= 25
    assert len(PYTHON) >= 6
