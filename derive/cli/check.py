"""``derive check``: a verdict on a proposed formula, one at a time or a batch of JSON Lines.

Exit codes: 0 correct, 1 incorrect (shape_error, not_equivalent), 2 unusable input (parse_error,
bad spec). A batch exits with the worst of its lines. ``--code FILE`` checks every gradient a
snippet computes (docs/code.md): exit 1 if any is wrong, 2 if none could be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

from derive.cli.common import (
    add_format_arguments,
    add_spec_arguments,
    dumps,
    l2_flags,
    network_from_args,
    output,
    read_argument,
    takes_file,
)
from derive.errors import DeriveError, UsageError
from derive.limits import Limit

# the checker and the network spec import SymPy: they load in run(), since `derive --help` loads
# every command module

NAME = "check"
HELP = "check a proposed gradient formula (text, numpy or LaTeX) against the derivation"
SPEC_FIELDS = ("layers", "activations", "loss", "scale", "convention")


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


def run(args: argparse.Namespace) -> int:
    if args.batch:
        if args.equation or args.code:
            raise UsageError("give an equation, --code FILE or --batch FILE, not two of them")
        return run_batch(args)
    if args.output:
        raise UsageError("-o/--output goes with --batch")
    if args.jobs != 1:
        raise UsageError("--jobs goes with --batch")
    if args.code:
        if args.equation:
            raise UsageError("give either an equation or --code FILE, not both")
        return run_code(args)
    if not args.equation:
        raise UsageError("give an equation, e.g. derive check \"dZ1 = W2^T dZ2 * g1'(Z1)\" "
                         "(or - to read it from standard input)")
    from derive.check.checker import Verdict, check

    equation = read_argument(args.equation, "the equation")
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
    """The L2 flags for a generic network (a given network carries its own)."""
    return {} if net is not None else dict(l2_flags(args))


def _reading(names, dialect) -> dict[str, Any]:
    """names= and dialect= for the checker, only when given (so that a checker without them
    still runs the rest)."""
    out: dict = {}
    if names:
        out["names"] = names
    if dialect:
        out["dialect"] = dialect
    return out


def run_code(args: argparse.Namespace) -> int:
    """``derive check --code FILE``: one block (or JSON result) per gradient of the snippet."""
    from derive.code.checking import check_code
    from derive.code.result import CodeResult

    code = read_code(args.code)
    try:
        given = args.spec or args.layers or args.act
        net, note = _rows_scale(args, network_from_args(args)) if given else (None, None)
        result = check_code(code, net, layer=args.layer, loss=args.loss,
                            convention=args.convention or "columns", scale=args.scale,
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
        lines.append(f"  correct formula: {v.expected}")
        lines.append(f"  LaTeX: {v.expected_latex}")
    cex = v.counterexample
    if cex:
        sizes = ", ".join(f"{k}={n}" for k, n in cex["sizes"].items())
        r, c = cex["entry"]
        lines.append(f"  counterexample ({sizes}; seed {cex['seed']}): entry ({r}, {c}) should be "
                     f"{cex['expected_entry']}, the formula gives {cex['got_entry']}")
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


def _mat(value) -> str:
    if isinstance(value, str):
        return value
    return "[" + "; ".join(" ".join(f"{x:.4g}" if x is not None else "nan" for x in row)
                           for row in value) + "]"


# -- batch ------------------------------------------------------------------------------------------

#: one line of a batch: longer ones are a parse_error result (the line is not read whole)
LINE = Limit("check.batch_line", 1 << 20, "bytes", "a shorter line", "one line of a batch")
LINE_LIMIT = LINE.value


def run_batch(args: argparse.Namespace) -> int:
    """One JSON result per input line, in order, flushed line by line; exit with the worst.

    The input is read as bytes and decoded line by line (a line that is not UTF-8 is a
    parse_error result with its line number; a BOM and CRLF line ends are accepted; only \\n
    ends a line). The output is UTF-8 JSON Lines with every line-breaking character escaped."""
    if args.batch == "-":
        return _run_stream(sys.stdin.buffer, args, total=None)
    try:
        source = open(args.batch, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise DeriveError(f"cannot read {args.batch}: {exc.strerror}") from None
    with source:
        total = None
        if sys.stderr.isatty():  # the progress bar's total: one cheap pass over the file
            total = sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 16), b""))
            source.seek(0)
        return _run_stream(source, args, total)


def _run_stream(source: IO[bytes], args: argparse.Namespace, total: int | None) -> int:
    with output(args.output, inputs=(args.batch,)) as out:
        return _run_lines(_lines(source), out, total, args.syntax, getattr(args, "jobs", 1))


def _run_lines(lines: Iterable[bytes], out: IO[bytes], total: int | None, syntax: str,
               jobs: int = 1) -> int:
    """Check every line and write its result, in order. With ``jobs`` > 1 the lines go to a
    process pool a window at a time (derive.grade.parallel), grouped by network so that each
    worker's caches stay warm; results are then flushed a window at a time."""
    from functools import partial

    from derive.check.verdict import EXIT_CODES
    from derive.grade.parallel import ordered_map

    bar = _Progress(total) if sys.stderr.isatty() else None
    worst = 0
    numbered = ((raw, number) for number, raw in enumerate(lines, start=1))
    results = ordered_map(partial(check_bytes, default_syntax=syntax), numbered, key=line_group,
                          jobs=jobs)
    try:
        for number, result in enumerate(results, start=1):
            out.write((dumps(result) + "\n").encode("utf-8"))
            out.flush()
            worst = max(worst, EXIT_CODES[result["verdict"]])
            if bar:
                bar.update(number)
    finally:
        if bar:
            bar.close()
    return worst


def line_group(item: tuple) -> tuple:
    """The network a batch line names (its spec fields as written), the key that keeps lines of
    one network on one worker; a line that is not a JSON object groups with the generic ones."""
    raw = item[0]
    if len(raw) > LINE_LIMIT:
        return ()
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return ()
    if not isinstance(obj, dict):
        return ()
    return tuple(json.dumps(obj.get(k), sort_keys=True, default=str)
                 for k in (*SPEC_FIELDS, "l2", "l2_form", "l2_layers", "keep_prob"))


def check_bytes(raw: bytes, number: int = 1, default_syntax: str = "auto") -> dict:
    """The result for line ``number`` of a batch, as read (bytes, with its line end)."""
    if number == 1:
        raw = raw.removeprefix(b"\xef\xbb\xbf")
    raw = raw.removesuffix(b"\n").removesuffix(b"\r")
    if len(raw) > LINE_LIMIT:
        return _line_error(f"line {number} is {len(raw):,} bytes or more, over the limit of "
                           f"{LINE_LIMIT:,} bytes per line ({LINE.name})")
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _line_error(f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at "
                           f"byte {exc.start + 1} of the line)")
    return check_line(line, default_syntax)


def _line_error(message: str) -> dict:
    from derive.check.verdict import Verdict

    return Verdict("parse_error", message=message).to_dict()


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of ``stream`` (split at \\n only), each cut at ``LINE_LIMIT + 1`` bytes so that
    one huge line costs no more memory than that (the rest of it is skipped)."""
    while True:
        line = stream.readline(LINE_LIMIT + 1)
        if not line:
            return
        if len(line) > LINE_LIMIT and not line.endswith(b"\n"):
            while (rest := stream.readline(LINE_LIMIT)) and not rest.endswith(b"\n"):
                pass
        yield line


def check_line(line: str, default_syntax: str = "auto") -> dict:
    """The result object for one input line (never raises for bad input)."""
    from derive.check.checker import Verdict, check

    item_id = None
    try:
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _LineError(f"line is not valid JSON: {exc}") from None
        except RecursionError:
            raise _LineError("line is not usable JSON: nested too deeply") from None
        if not isinstance(item, dict):
            raise _LineError("each line must be a JSON object with an 'equation'")
        item_id = item.get("id")
        eq = item.get("equation")
        code = item.get("code")
        if code is not None:
            if eq is not None:
                raise _LineError("give either 'equation' or 'code', not both")
            if not isinstance(code, str) or not code.strip():
                raise _LineError("'code' must be a non-empty string")
        elif not isinstance(eq, str) or not eq.strip():
            raise _LineError("missing 'equation' (a non-empty string) or 'code'")
        syntax = item.get("syntax", default_syntax)
        if syntax not in ("auto", "latex", "text"):
            raise _LineError(f"unknown syntax {syntax!r}; known: auto, latex, text")
        net, generic, note = _line_network(item)
        layer = item.get("layer")
        if layer is not None and (type(layer) is not int or layer < 1):
            raise _LineError(f"'layer' must be a layer number (1, 2, ...), not {layer!r}")
        reading = _line_reading(item)
        if code is not None:
            return _code_line(item_id, code, net, layer, generic, reading, note)
        assert isinstance(eq, str)  # checked above: an equation when there is no code
        verdict = check(eq, net, syntax=syntax, layer=layer, **generic, **reading)
        if note and verdict.verdict != "parse_error":
            verdict = replace(verdict, notes=(*verdict.notes, note))
    except _LineError as exc:
        verdict = Verdict("parse_error", message=str(exc))
    except DeriveError as exc:
        kind = "internal_error" if exc.exit_code == 3 else "parse_error"
        verdict = Verdict(kind, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad line never stops a batch
        verdict = Verdict("internal_error", message=f"internal error in derive on this line "
                                                    f"({type(exc).__name__}: {exc}); this is a "
                                                    "bug: please report it with the line")
    result = verdict.to_dict()
    if item_id is not None:
        result = {"id": item_id, **result}
    return result


class _LineError(Exception):
    pass


def _line_reading(item: dict) -> dict:
    """A batch line's ``names`` (an object of strings) and ``dialect``."""
    names, dialect = item.get("names"), item.get("dialect")
    if names is not None and not (isinstance(names, dict) and
                                  all(isinstance(v, str) for v in names.values())):
        raise _LineError("'names' must be an object mapping names to quantities "
                         "({\"h1\": \"A[1]\"})")
    if dialect is not None and not isinstance(dialect, str):
        raise _LineError("'dialect' must be a string")
    return _reading(names, dialect)


def _code_line(item_id, code: str, net, layer, generic: dict, reading: dict,
               note: str | None = None) -> dict:
    """A batch line with ``code``: the snippet's object, ``id`` first."""
    from derive.code.checking import check_code

    out = check_code(code, net, layer=layer, **generic, **reading).to_dict()
    if note:
        out["notes"] = [*out["notes"], note]
    return {"id": item_id, **out} if item_id is not None else out


def _line_network(item: dict):
    """(network or None, generic-network options, note or None) from a batch line's optional
    spec fields."""
    from derive.network.spec import Network

    fields = {k: item.get(k) for k in SPEC_FIELDS}
    for k in ("loss", "scale", "convention"):
        if fields[k] is not None and not isinstance(fields[k], str):
            raise _LineError(f"'{k}' must be a string")
    convention = fields["convention"] or "columns"
    scale = fields["scale"]  # None: the convention's (rows: dZ, with a note)
    layers, acts = fields["layers"], fields["activations"]
    for k, v in (("layers", layers), ("activations", acts)):
        if v is not None and not isinstance(v, str | list):
            raise _LineError(f"'{k}' must be a list or a comma-separated string")
    if layers is None and acts is None:
        return None, dict(loss=fields["loss"], convention=convention, scale=scale), None
    spec = {k: v for k, v in fields.items() if v is not None}
    net = Network.from_mapping(spec, where="this line")
    if scale is None and not net.layout.columns:  # as the generic network and --layers read it
        from derive.check.dialect import ROWS_NOTE

        return net.replace(scale="dZ"), {}, ROWS_NOTE
    return net, {}, None


class _Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, total: int | None):
        self.total = total

    def update(self, done: int) -> None:
        if self.total:
            width = 30
            filled = width * done // self.total
            sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{self.total}")
        else:
            sys.stderr.write(f"\r{done} checked")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
