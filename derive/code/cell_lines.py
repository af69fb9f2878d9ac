"""Lines of the course's ``rnn_cell_backward`` checked on their own (issue 20):
``derive check --spec rnn.toml "dxt = np.dot(Wax.T, dtanh)"``.

The lines are placed in the course's function, after its cache is unpacked (``a_next``,
``a_prev``, ``xt``, ``parameters`` and the weights ``Wax``, ``Waa``, ``Wya``, ``ba``, ``by``
by name), and every gradient the lines do not write is the course's own line (``dtanh`` before
them, the others after); the function is then judged as ``check --code`` judges it
(:mod:`derive.code.conv_reading`: derive's bounded interpreter, never Python, against the
derivation's numbers). Only the gradients the lines write are reported, at their own line
numbers; a ``dtanh`` written alone is judged through the course's lines that use it.

>>> out = check_cell("dxt = np.dot(Wax.T, dtanh)")
>>> [(r.line, r.name, r.verdict.verdict) for r in out.results]
[(1, 'dxt', 'correct')]
>>> [(r.name, r.verdict.verdict) for r in check_cell("dWaa = np.dot(dtanh, a_next.T)").results]
[('dWaa', 'not_equivalent')]
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from derive.code.result import CodeResult
from derive.code.source import read_source
from derive.errors import ParseError

GRADIENTS = ("dxt", "da_prev", "dWax", "dWaa", "dba")  # what rnn_cell_backward returns
COURSE = {  # the course's own lines (the default of each one the student's lines leave out)
    "dtanh": "(1 - a_next ** 2) * da_next",
    "dxt": "np.dot(Wax.T, dtanh)",
    "da_prev": "np.dot(Waa.T, dtanh)",
    "dWax": "np.dot(dtanh, xt.T)",
    "dWaa": "np.dot(dtanh, a_prev.T)",
    "dba": "np.sum(dtanh, axis=1, keepdims=True)",
}
HEAD = ("def rnn_cell_backward(da_next, cache):",
        "    (a_next, a_prev, xt, parameters) = cache",
        *(f'    {w} = parameters["{w}"]' for w in ("Wax", "Waa", "Wya", "ba", "by")))


def _written(text: str) -> list[str]:
    """The names the lines assign, in order (a ParseError naming the line for bad code)."""
    src = read_source(text)  # bounded and parsed: nothing is run
    names = []
    for node in src.tree.body:
        for target in getattr(node, "targets", [getattr(node, "target", None)]):
            if isinstance(target, ast.Name):
                names.append(target.id)
    return names


def names_before(text: str, name: str) -> int:
    """How many lines come before the one that assigns ``name`` (0 for the first)."""
    for k, line in enumerate(text.strip("\n").split("\n")):
        if re.match(rf"\s*{name}\s*=", line):
            return k
    return 0


#: ``dWaa += …``, the line of rnn_backward's loop (derive backward prints it): in the cell, the
#: one step's term the loop adds, ``dWaa = …``
ACCUMULATED = re.compile(r"^(\s*)(dWax|dWaa|dba)\s*\+=", re.M)


def wrap(text: str) -> tuple[str, int, list[str]]:
    """(the course's function with the lines in it, the line the student's first line lands on,
    the gradients the lines write)."""
    text = ACCUMULATED.sub(r"\1\2 =", text)
    names = _written(text)
    mine = [n for n in COURSE if n in names]
    if not mine:
        raise ParseError("an RNN spec checks lines of the course's rnn_cell_backward: write one of "
                         + ", ".join(f"{n} = ..." for n in COURSE), 0, text)
    lines = list(HEAD)
    if "dtanh" not in names:
        lines.append(f"    dtanh = {COURSE['dtanh']}")
    first = len(lines) + 1
    lines += ["    " + line for line in text.replace("\r\n", "\n").strip("\n").split("\n")]
    lines += [f"    {n} = {COURSE[n]}" for n in GRADIENTS if n not in names]
    lines.append("    return {" + ", ".join(f'"{n}": {n}' for n in GRADIENTS) + "}")
    return "\n".join(lines) + "\n", first, mine


def check_cell(text: str) -> CodeResult:
    """The verdict of each gradient the lines write (module docstring)."""
    from derive.code.checking import check_code

    try:
        code, first, mine = wrap(text)
    except ParseError as exc:
        return CodeResult([], (exc.describe(),))
    alone = mine == ["dtanh"]  # judged through the course's lines that use it
    out = check_code(code)
    count = text.strip("\n").count("\n") + 1

    def mine_line(n: int) -> int | None:  # a wrapped line's number in the student's lines
        k = n - first + 1
        return k if 1 <= k <= count else None

    def say(message: str) -> str:
        def one(mt: re.Match) -> str:
            k = mine_line(int(mt.group(2)))
            return f"{mt.group(1)} {k}" if k else f"the course's {mt.group(1)}"
        return re.sub(r"\b(line)s? (\d+)", one, message)

    results = []
    for r in out.results:
        if r.name in mine or (alone and r.name in GRADIENTS):
            v = r.verdict
            v = replace(v, message=say(v.message), notes=tuple(say(n) for n in v.notes),
                        mistakes=tuple(replace(mk, message=say(mk.message)) for mk in v.mistakes))
            results.append(replace(r, line=mine_line(r.line) or 1, function=None, verdict=v))
    if alone and results:  # one verdict for dtanh: its first wrong consequence, else dxt's
        worst = next((r for r in results if r.wrong), results[0])
        v = worst.verdict
        if worst.wrong:  # dtanh's own right formula, and what the counterexample is an entry of
            from derive.code.conv_diagnosis import expected

            loop, latex = expected("rnn_cell_backward", "dtanh")
            v = replace(v, target="dtanh", expected=loop or f"dtanh = {COURSE['dtanh']}",
                        expected_latex=latex,
                        message=f"dtanh makes the course's next line wrong: {v.message}",
                        notes=(*v.notes, f"the counterexample is an entry of {worst.name}, which "
                               "the course computes from dtanh"))
        results = [replace(worst, name="dtanh", line=1 + names_before(text, "dtanh"), verdict=v)]
    notes = [n for n in out.notes if "is read as the course's helper" not in n]
    if ACCUMULATED.search(text):
        notes.append("dWax/dWaa/dba += … (rnn_backward's accumulation) read as the cell's one "
                     "step's term: dWaa = …")
    notes.append("read as lines of the course's rnn_cell_backward(da_next, cache), its cache "
                 "unpacked as (a_next, a_prev, xt, parameters); the gradients not written are "
                 "the course's own lines" + (" (dtanh is judged through them: "
                 "the verdict of the first one it makes wrong)" if alone else ""))
    return CodeResult(results, tuple(out.problems), internal=out.internal, notes=tuple(notes))


__all__ = ["check_cell", "wrap"]
