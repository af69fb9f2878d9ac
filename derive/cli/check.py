"""``derive check``: a verdict on a proposed formula, one at a time or a batch of JSON Lines.

Exit codes: 0 correct, 1 incorrect (shape_error, not_equivalent), 2 unusable input (parse_error,
bad spec). A batch exits with the worst of its lines.
"""

from __future__ import annotations

import argparse
import json
import sys

from derive.cli.common import add_spec_arguments, network_from_args
from derive.errors import DeriveError

# the checker and the network spec import SymPy: they load in run(), since `derive --help` loads
# every command module

NAME = "check"
HELP = "check a proposed gradient formula (text, numpy or LaTeX) against the derivation"
SPEC_FIELDS = ("layers", "activations", "loss", "scale", "convention")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("equation", nargs="?",
                   help="e.g. \"dZ1 = W2^T dZ2 * g1'(Z1)\" or \"dW^{[1]} = \\frac{1}{m} dZ^{[1]} X^T\"")
    add_spec_arguments(p)
    p.add_argument("--syntax", choices=("auto", "latex", "text"), default="auto",
                   help="how to read the right side (default: detect)")
    p.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    p.add_argument("--batch", metavar="IN.jsonl",
                   help="check every line of a JSON Lines file ('-' for stdin): objects with "
                        "'equation' and optional layers, activations, loss, scale, convention, "
                        "syntax, id")
    p.add_argument("-o", "--output", metavar="OUT.jsonl",
                   help="with --batch: write the results here instead of stdout")


def run(args: argparse.Namespace) -> int:
    if args.batch:
        if args.equation:
            raise _usage("give either an equation or --batch FILE, not both")
        return run_batch(args)
    if args.output:
        raise _usage("-o/--output goes with --batch")
    if not args.equation:
        raise _usage("give an equation, e.g. derive check \"dZ1 = W2^T dZ2 * g1'(Z1)\"")
    from derive.check.checker import Verdict, check

    try:
        given = args.spec or args.layers or args.act  # else a generic network, from the formula
        net = network_from_args(args) if given else None
        verdict = check(args.equation, net, syntax=args.syntax, loss=args.loss,
                        convention=args.convention or "columns", scale=args.scale or "mean")
    except DeriveError as exc:  # a bad spec: unusable input, reported in the verdict's form
        verdict = Verdict("parse_error", message=str(exc))
    if args.json:
        print(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        print(render(verdict, args.equation))
    return verdict.exit_code


def _usage(message: str) -> DeriveError:
    return DeriveError(message)


def render(v, equation: str | None = None) -> str:
    """The human-readable verdict: verdict line, message, mistakes, the correct formula, numbers."""
    label = {"correct": "correct", "shape_error": "incorrect: shape error",
             "not_equivalent": "incorrect: not equivalent", "parse_error": "cannot check"}
    lines = [f"{label[v.verdict]}" + (f" — {v.target}" if v.target else "")]
    if v.message:
        lines.append(f"  {v.message}")
    for mk in v.mistakes:
        lines.append(f"  - {mk.code}: {mk.message}")
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
def run_batch(args: argparse.Namespace) -> int:
    """One JSON result per input line, in order, flushed line by line; exit with the worst."""
    try:
        src = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise DeriveError(f"cannot read {args.batch!r}: {exc.strerror}") from None
    try:
        out = sys.stdout if not args.output else open(args.output, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise DeriveError(f"cannot write {args.output!r}: {exc.strerror}") from None
    lines = src.readlines() if src is not sys.stdin else None
    total = len(lines) if lines is not None else None
    bar = _Progress(total) if sys.stderr.isatty() else None
    worst = 0
    try:
        for i, line in enumerate(lines if lines is not None else src):
            result = check_line(line, default_syntax=args.syntax)
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
            out.flush()
            worst = max(worst, {"correct": 0, "shape_error": 1, "not_equivalent": 1}.get(
                result["verdict"], 2))
            if bar:
                bar.update(i + 1)
    finally:
        if bar:
            bar.close()
        if out is not sys.stdout:
            out.close()
        if src is not sys.stdin:
            src.close()
    return worst


def check_line(line: str, default_syntax: str = "auto") -> dict:
    """The result object for one input line (never raises for bad input)."""
    from derive.check.checker import Verdict, check

    item_id = None
    try:
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _LineError(f"line is not valid JSON: {exc}") from None
        if not isinstance(item, dict):
            raise _LineError("each line must be a JSON object with an 'equation'")
        item_id = item.get("id")
        eq = item.get("equation")
        if not isinstance(eq, str) or not eq.strip():
            raise _LineError("missing 'equation' (a non-empty string)")
        syntax = item.get("syntax", default_syntax)
        if syntax not in ("auto", "latex", "text"):
            raise _LineError(f"unknown syntax {syntax!r}; known: auto, latex, text")
        net, generic = _line_network(item)
        verdict = check(eq, net, syntax=syntax, **generic)
    except (_LineError, DeriveError) as exc:
        verdict = Verdict("parse_error", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one bad line never stops a batch
        verdict = Verdict("parse_error", message=f"internal error on this line: {exc!r}")
    result = verdict.to_dict()
    if item_id is not None:
        result = {"id": item_id, **result}
    return result


class _LineError(Exception):
    pass


def _line_network(item: dict):
    """(network or None, generic-network options) from a batch line's optional spec fields."""
    from derive.network.spec import Network

    fields = {k: item.get(k) for k in SPEC_FIELDS}
    for k in ("loss", "scale", "convention"):
        if fields[k] is not None and not isinstance(fields[k], str):
            raise _LineError(f"'{k}' must be a string")
    convention = fields["convention"] or "columns"
    scale = fields["scale"] or "mean"
    layers, acts = fields["layers"], fields["activations"]
    for k, v in (("layers", layers), ("activations", acts)):
        if v is not None and not isinstance(v, str | list):
            raise _LineError(f"'{k}' must be a list or a comma-separated string")
    if layers is None and acts is None:
        return None, dict(loss=fields["loss"], convention=convention, scale=scale)
    spec = {k: v for k, v in fields.items() if v is not None}
    return Network.from_mapping(spec, where="this line"), {}


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
