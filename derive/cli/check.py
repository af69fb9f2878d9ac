"""``derive check``: a verdict on a proposed formula, one at a time or a batch of JSON Lines.

Exit codes: 0 correct, 1 incorrect (shape_error, not_equivalent), 2 unusable input (parse_error,
bad spec). A batch exits with the worst of its lines. ``--code FILE`` checks every gradient a
snippet computes (docs/code.md): exit 1 if any is wrong, 2 if none could be read.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from derive.cli import process_preload
from derive.cli._batch import LINE as LINE  # the batch half of this command, re-exported
from derive.cli._batch import LINE_LIMIT as LINE_LIMIT
from derive.cli._batch import SPEC_FIELDS as SPEC_FIELDS
from derive.cli._batch import _reading, run_batch
from derive.cli._batch import check_bytes as check_bytes
from derive.cli._batch import check_line as check_line
from derive.cli._batch import line_group as line_group
from derive.cli.common import (
    add_format_arguments,
    add_spec_arguments,
    batchnorm_flags,
    dropout_flags,
    dumps,
    l2_flags,
    network_from_args,
    read_argument,
    takes_file,
)
from derive.errors import DeriveError, SpecError, UsageError

# the checker and the network spec import SymPy: they load in run(), since `derive --help` loads
# every command module

NAME = "check"
#: imported with the garbage collector paused (derive.cli.preload) once the arguments are
#: usable, in the process's own command line: the checker,
#: and two modules every check imports on first use, numpy.random (the random instances'
#: default_rng) and sympy.tensor.tensor (SymPy's Add.flatten imports it on the first sum)
PRELOAD = ("derive.check.checker", "numpy.random", "sympy.tensor.tensor")
#: set before numpy loads, unless the user set it: the checker's matrices are at most 64 wide
#: (check.numeric.MAX_NUMERIC_SIZE), too small for more BLAS threads to help, and starting
#: OpenBLAS's pool of threads costs 30-60 ms of a cold check on a busy two-core machine
ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1"}
HELP = "check a proposed gradient formula (text, numpy or LaTeX) against the derivation"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("equation", nargs="?",
                   help="e.g. \"dZ1 = W2^T dZ2 * g1'(Z1)\" or "
                        "\"dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^T\"; - reads it from standard input")
    add_spec_arguments(p)
    p.add_argument("--syntax", choices=("auto", "latex", "text"), default="auto",
                   help="how to read the right side (default: detect)")
    takes_file(p.add_argument("--code", metavar="FILE",
                              help="check every gradient a code snippet computes (a function, "
                                   "several, or lines of numpy code; '-' for stdin), read "
                                   "statically, never run"))
    p.add_argument("--bind", metavar="NAME=QUANTITY,..", type=_bindings,
                   help="what the code's own names mean, a quantity or a formula: "
                        "\"dL_dh2=dA[2],h1=A[1],s=sigmoid(Z[1])\"")
    p.add_argument("--dialect", metavar="NAME",
                   help="read the names as this dialect does (course, cs231n, nielsen, logreg, "
                        "single_example; default: recognised from the names)")
    p.add_argument("--layer", type=_layer, metavar="N",
                   help="the layer l of names without a layer index (dW = 1/m dZ A_prev.T: dZ "
                        "is dZ[N], A_prev is A[N-1]) and of a generic l (default: every layer "
                        "where the formula makes sense)")
    add_format_arguments(p, ("text", "json"))
    takes_file(p.add_argument("--batch", metavar="IN.jsonl",
                   help="check every line of a JSON Lines file ('-' for stdin): objects with "
                        "'equation' (or 'code') and optional layers, activations, loss, scale, "
                        "convention, syntax, layer, names, dialect, id"))
    takes_file(p.add_argument("-o", "--output", metavar="OUT.jsonl",
                              help="with --batch: write the results here instead of stdout"))
    p.add_argument("--jobs", "-j", type=_jobs, default=1, metavar="N",
                   help="with --batch: check in N worker processes (0: one per core; default "
                        "1), lines of one network kept on one worker, results in input order")


def _layer(text: str) -> int:
    """--layer N: a layer number, 1 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a layer number such as 2, not {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"layers are numbered from 1, not {n}")
    return n


def _jobs(text: str) -> int:
    """--jobs N: worker processes, 0 for one per core (bounded by grade.jobs)."""
    from derive.cli.common import whole
    from derive.grade.parallel import JOBS, default_jobs

    n = whole(0, JOBS.value, "a number of processes ")(text)
    return n or default_jobs()


def _bindings(text: str) -> dict[str, str]:
    """--bind "h1=A[1],dL_dh2=dA[2],s=sigmoid(Z[1])": each name and the quantity (or the
    formula, read by derive's parser) it holds."""
    out: dict[str, str] = {}
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):  # split at the commas outside brackets: s=np.sum(x, axis=1)
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in filter(None, (p.strip() for p in parts)):
        name, eq, quantity = part.partition("=")
        if not eq or not name.strip() or not quantity.strip():
            raise argparse.ArgumentTypeError(f"write NAME=QUANTITY (h1=A[1]), not {part!r}")
        out[name.strip()] = quantity.strip()
    return out


_AN = {"cnn": "a CNN", "rnn": "an RNN"}


def run(args: argparse.Namespace) -> int:
    from derive.network.family import read_spec  # the standard library only until it reads

    family, table = read_spec(args.spec) if args.spec else ("dense", None)
    if args.batch:
        if args.equation or args.code:
            raise UsageError("give an equation, --code FILE or --batch FILE, not two of them")
        if family != "dense":
            raise SpecError(f"{args.spec}: {_AN[family]} spec: --batch checks a dense "
                            "network's formulas" + (
                                "; check lines of rnn_cell_backward one call at a time: derive "
                                "check --spec rnn.toml \"dtanh = …\"" if family == "rnn" else
                                "; a CNN's gradients are checked as the course's functions: "
                                "derive check --code conv_backward.py"))
        process_preload(PRELOAD, ENVIRONMENT)
        return run_batch(args)
    if args.output:
        raise UsageError("-o/--output goes with --batch")
    if args.jobs != 1:
        raise UsageError("--jobs goes with --batch")
    if args.code:
        if args.equation:
            raise UsageError("give either an equation or --code FILE, not both")
        if family != "dense":
            raise SpecError(f"{args.spec}: {_AN[family]} spec: check --code reads the "
                            "course's conv_backward, pool_backward, rnn_cell_backward and "
                            "rnn_backward without one (their sizes are their arguments'): leave "
                            "out --spec")
        process_preload(PRELOAD, ENVIRONMENT)
        return run_code(args)
    if not args.equation:
        raise UsageError("give an equation, e.g. derive check \"dZ1 = W2^T dZ2 * g1'(Z1)\" "
                         "(or - to read it from standard input)")
    process_preload(PRELOAD, ENVIRONMENT)
    from derive.check.checker import Verdict, check

    equation = read_argument(args.equation, "the equation")
    if family != "dense":
        return _cell_lines(args, equation, family, table)
    try:
        given = args.spec or args.layers or args.act  # else a generic network, from the formula
        net, note = _rows_scale(args, network_from_args(args)) if given else (None, None)
        verdict = check(equation, net, syntax=args.syntax, loss=args.loss,
                        convention=args.convention or "columns", scale=args.scale,
                        layer=args.layer, **_reading(args.bind, args.dialect), **_l2(args, net))
        if note and verdict.verdict != "parse_error":
            verdict = replace(verdict, notes=(*verdict.notes, note))
    except DeriveError as exc:  # a bad spec: unusable input, reported in the verdict's form
        if exc.exit_code != 2:
            raise
        verdict = Verdict("parse_error", message=str(exc))
    if args.format == "json":
        print(dumps(verdict.to_dict()))
    else:
        print(render(verdict, equation))
    return verdict.exit_code


def _cell_lines(args: argparse.Namespace, equation: str, family: str, table) -> int:
    """An RNN spec: the equation is lines of the course's rnn_cell_backward (derive.code.
    cell_lines); a CNN spec's formulas are checked as the course's functions, with --code."""
    from derive.code.cell_lines import check_cell

    if family == "cnn":
        raise SpecError(f"{args.spec}: a CNN spec; derive check reads a CNN's gradients as the "
                        "course's functions: derive check --code conv_backward.py (docs/code.md)")
    from derive.rnn.cli import rnn_of

    rnn = rnn_of(args, table)
    if rnn.activation != "tanh":  # the course's cell, which the lines are judged in, is tanh's
        raise SpecError(f"{args.spec}: activation = {rnn.activation!r}: derive check judges lines "
                        "of the course's tanh rnn_cell_backward (dtanh = (1 - a_next ** 2) * "
                        "da_next); derive backward --spec shows this network's dz formulas")
    result = check_cell(equation)
    print(dumps(result.to_dict()) if args.format == "json" else render_code(result))
    return result.exit_code


def _rows_scale(args: argparse.Namespace, net):
    """(network, note): a network given by --layers/--act takes the convention of --dialect when
    --convention is not given (cs231n: rows); in convention rows without --scale it is read with
    scale dZ, as the generic network is (CS231n's 1/N inside dscores). A spec file says its own."""
    from derive.check.dialect import ROWS_NOTE
    from derive.parse.dialects import DIALECTS

    dialect = DIALECTS.get(args.dialect) if args.dialect else None
    if not args.spec and not args.convention and dialect is not None and dialect.convention:
        net = net.replace(convention=dialect.convention)  # --dialect cs231n: rows
    if args.spec or args.scale or net.layout.columns or net.scale == "dZ":
        return net, None
    return net.replace(scale="dZ"), ROWS_NOTE


def _l2(args: argparse.Namespace, net) -> dict[str, Any]:
    """The L2, dropout and batch-norm flags for a generic network (a given network carries its
    own): --batchnorm 1 without --layers builds a network of symbolic sizes with it."""
    return {} if net is not None else {**l2_flags(args), **dropout_flags(args),
                                       **batchnorm_flags(args)}


def run_code(args: argparse.Namespace) -> int:
    """``derive check --code FILE``: one block (or JSON result) per gradient of the snippet."""
    from derive.code.checking import check_code
    from derive.code.result import CodeResult

    code = read_code(args.code)
    try:
        given = args.spec or args.layers or args.act
        net, note = _rows_scale(args, network_from_args(args)) if given else (None, None)
        # no --convention: the code's own functions say (CS231n's: rows); a spec says its own
        convention = args.convention or ("columns" if args.spec else "auto")
        result = check_code(code, net, layer=args.layer, loss=args.loss,
                            convention=convention, scale=args.scale,
                            **_reading(args.bind, args.dialect), **_l2(args, net))
        if note:
            result = replace(result, notes=(*result.notes, note))
    except DeriveError as exc:  # a bad spec: unusable input
        if exc.exit_code != 2:
            raise
        result = CodeResult([], (str(exc),))
    if args.format == "json":
        print(dumps(result.to_dict()))
    else:
        print(render_code(result))
    return result.exit_code


def read_code(path: str) -> str:
    """The snippet: a file, or standard input for ``-`` (UTF-8; a BOM is dropped)."""
    from derive.cli.common import decode
    from derive.code.source import LENGTH

    if path == "-":
        return read_argument("-", "the code")
    try:
        with open(path, "rb") as f:
            data = f.read(4 * LENGTH.value + 1)
    except OSError as exc:
        raise DeriveError(f"cannot read {path}: {exc.strerror}") from None
    return decode(data, path)


def render_code(result) -> str:
    """One block per gradient: ``line N: name`` and its verdict as ``derive check`` shows it."""
    blocks = []
    for r in result.results:
        head = f"line {r.line}: {r.name}" + (f" (in {r.function})" if r.function else "")
        body = render(r.verdict)
        blocks.append(head + " — " + body)
    if not result.results:
        blocks.append("cannot check: no gradient could be read from this code")
    for problem in result.problems:
        blocks.append(f"not read: {problem}")
    for note in result.notes:
        blocks.append(f"note: {note}")
    if result.verdict == "parse_error" and any(r.verdict.verdict == "correct"
                                               for r in result.results):
        blocks.append("every gradient that could be read is correct, but a part of the code "
                      "could not be read")
    return "\n".join(blocks)


def render(v, equation: str | None = None) -> str:
    """The human-readable verdict: verdict line, message, mistakes, the correct formula, numbers."""
    label = {"correct": "correct", "shape_error": "incorrect: shape error",
             "not_equivalent": "incorrect: not equivalent", "parse_error": "cannot check",
             "internal_error": "internal error in derive (a bug: please report it)"}
    lines = [f"{label[v.verdict]}" + (" (under a condition)" if v.conditions else "")
             + (f" — {v.target}" if v.target else "")]
    if v.message:
        lines.append(f"  {v.message}")
    for c in v.conditions:  # what a correct verdict rests on
        lines.append(f"  condition: {c}")
    for mk in v.mistakes:
        lines.append(f"  - {mk.code}: {mk.message}")
    if v.verdict != "correct" and v.fix and v.fix != v.expected:  # the student's own form
        lines.append(f"  suggested fix: {v.fix}")
    if v.expected and v.verdict != "correct":
        shown = v.expected.replace("\n", "\n      ")  # a loop form: its lines indented
        lines.append(f"  correct formula: {shown}")
        lines.append(f"  LaTeX: {v.expected_latex}")
    cex = v.counterexample
    if cex:
        sizes = ", ".join(f"{k}={n}" for k, n in cex["sizes"].items())
        entry = ", ".join(map(str, cex["entry"]))  # 1-based, of any rank (a conv's has 4)
        lines.append(f"  counterexample ({sizes}; seed {cex['seed']}): entry ({entry}) should be "
                     f"{_num(cex['expected_entry'])}, the formula gives {_num(cex['got_entry'])}")
        for name, value in cex["inputs"].items():
            lines.append(f"    {name} = {_mat(value)}")
        if cex.get("expected") is not None:
            lines.append(f"    expected = {_mat(cex['expected'])}")
            lines.append(f"    got      = {_mat(cex['got'])}")
        if cex.get("note"):
            lines.append(f"    ({cex['note']})")
    for note in v.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def _num(x) -> str:
    """An entry as the matrices print it: 0 for a zero (never -0 or 0.0), nan for None."""
    return "nan" if x is None else f"{x + 0.0:.6g}"


def _mat(value) -> str:
    if isinstance(value, str):
        return value
    return "[" + "; ".join(" ".join(f"{x + 0.0:.4g}" if x is not None else "nan" for x in row)
                           for row in value) + "]"
