"""``derive check --batch``: JSON Lines in, one result per line out, in order (docs/checking.md,
"Batch mode"); ``--jobs N`` spreads the lines over worker processes (derive.grade.parallel).
The command itself is :mod:`derive.cli.check`; this module is its batch half.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import IO, Any

from derive.cli.common import dumps, output
from derive.errors import DeriveError
from derive.limits import Limit

SPEC_FIELDS = ("layers", "activations", "loss", "scale", "convention", "l2", "l2_form",
               "l2_layers", "keep_prob", "batchnorm")  # batchnorm: with the layers given
EXTRA = ("l2", "l2_form", "l2_layers", "keep_prob")  # a generic network's options besides these


def _reading(names, dialect) -> dict[str, Any]:
    """names= and dialect= for the checker, only when given."""
    out: dict = {}
    if names:
        out["names"] = names
    if dialect:
        out["dialect"] = dialect
    return out


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
            return _code_line(item_id, code, net, layer, generic, reading, note,
                              item.get("convention"))
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
               note: str | None = None, given: str | None = None) -> dict:
    """A batch line with ``code``: the snippet's object, ``id`` first."""
    from derive.code.checking import check_code

    # a line without 'convention': the code's own functions say (CS231n's: rows)
    generic = {**generic, "convention": given or "auto"}
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
        extra = {k: fields[k] for k in EXTRA if fields[k] is not None}
        return None, dict(loss=fields["loss"], convention=convention, scale=scale, **extra), None
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
