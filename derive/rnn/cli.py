"""The commands' bodies for an RNN spec (``[rnn]`` table): each takes the parsed arguments and the
spec's TOML table (:func:`derive.cli._family.dispatch` calls them) and returns the exit code.

``derive backward --spec rnn.toml``, ``derive gradcheck --spec rnn.toml``, ``derive numbers --spec
rnn.toml``, ``derive handout --spec rnn.toml`` and ``derive stability --spec rnn.toml --steps T``.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from derive.errors import SpecError, UsageError
from derive.rnn.spec import RNN, from_table


def rnn_of(args: argparse.Namespace, table: Mapping[str, Any]) -> RNN:
    """The RNN of a spec's table (only an ``[rnn]`` table), ``--m`` overriding its examples."""
    where = getattr(args, "spec", None) or "spec"
    if "rnn" not in table:
        raise SpecError(f"{where}: no [rnn] table")
    extra = sorted(set(table) - {"rnn"})
    if extra:
        raise SpecError(f"{where}: an RNN spec has only the [rnn] table, not {extra[0]!r}")
    rnn = from_table(table["rnn"], where)
    m = getattr(args, "m", None)
    if m is not None:
        rnn = from_table({**table["rnn"], "examples": m}, where)
    return rnn


#: what every command takes with an RNN spec besides its own flags (the CLI's global flags)
COMMON = frozenset({"command", "spec", "format", "seed", "debug", "no_cache"})
#: the flags each command reads from an RNN spec's run (argparse dests); any other one given is
#: refused: a dense network's --scale, --l2, --act, --depth would change nothing here
TAKES = {
    "backward": {"steps", "verify"},
    "gradcheck": {"m", "eps", "rtol", "plant"},
    "numbers": set(),
    "handout": {"output", "title", "pdf"},
    "stability": {"steps", "radius", "max_value", "plot", "dpi"},
}


def _seed(args: argparse.Namespace) -> int:
    """The seed of the drawn instance (0 by default): numpy's generators take a whole number ≥ 0."""
    seed = getattr(args, "seed", None)
    if seed is None:
        return 0
    if seed < 0:
        raise UsageError(f"--seed {seed} must be a whole number ≥ 0")
    return int(seed)


def _refuse(args: argparse.Namespace, command: str) -> None:
    """A usage error for the first flag given that an RNN spec's ``command`` does not read (a
    value other than the parser's default; without the parser, other than None/False/"")."""
    parser = getattr(args, "_parser", None)
    flags = {a.dest: (max(a.option_strings, key=len) if a.option_strings else a.dest)
             for a in getattr(parser, "_actions", ())}
    takes = COMMON | TAKES[command]
    for dest, value in vars(args).items():
        if dest.startswith("_") or dest in takes:
            continue
        default = parser.get_default(dest) if parser is not None else None
        if value != default and value not in (None, False, ""):
            flag = flags.get(dest, "--" + dest.replace("_", "-"))
            raise UsageError(f"derive {command} {flag} is not supported for an RNN spec (an "
                             "RNN's sizes, activation and cost are its [rnn] table's)")


def backward(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """``derive backward --spec rnn.toml``: BPTT, every formula proven (a failure: exit 1)."""
    from derive.cli.common import dumps
    from derive.rnn import render
    from derive.rnn.proof import derive_rnn

    _refuse(args, "backward")
    d = derive_rnn(rnn_of(args, table), seed=_seed(args))
    fmt = getattr(args, "format", "text")
    steps, verify = getattr(args, "steps", False), getattr(args, "verify", False)
    if fmt == "json":
        print(dumps(render.to_json(d), indent=2))
    elif fmt == "latex":
        print(render.to_latex(d))
    elif fmt == "markdown":
        print(render.to_markdown(d, steps=steps))
    else:
        print(render.to_text(d, steps=steps, verify=verify))
    return 0 if d.passed else 1


def gradcheck(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """``derive gradcheck --spec rnn.toml [--plant missing_sum|no_carry]``: exit 0 when every
    relative error is below the threshold, 1 otherwise."""
    from derive.cli.common import dumps
    from derive.core import fd
    from derive.rnn.gradcheck import MISTAKES, THRESHOLD
    from derive.rnn.gradcheck import gradcheck as check

    _refuse(args, "gradcheck")
    eps = fd.DEFAULT_EPS if getattr(args, "eps", None) is None else args.eps
    rtol = THRESHOLD if getattr(args, "rtol", None) is None else args.rtol
    if not 1e-10 <= eps <= 1e-1:  # the dense and CNN checks' bounds
        raise UsageError(f"--eps {eps:g} is outside 1e-10..1e-1")
    if not 0 < rtol < 1:
        raise UsageError(f"--rtol {rtol:g} must lie between 0 and 1")
    r = check(rnn_of(args, table), seed=_seed(args), eps=eps, threshold=rtol,
              mistake=getattr(args, "plant", None))
    if getattr(args, "format", "text") == "json":
        print(dumps(r.as_dict(), indent=2))
        return 0 if r.passed else 1
    c = r.rnn
    lines = [f"gradient check (central differences of the whole unrolled cost J, eps {r.eps:g}): "
             f"{c.describe()}, seed {r.seed}"]
    if r.mistake:
        lines.append(f"planted mistake {r.mistake}: {MISTAKES[r.mistake]}")
    if r.mistake_changes_nothing:
        lines.append(f"  at T_x = 1 {r.mistake} changes nothing (one step has no sum over t and no "
                     "later step to carry from): give steps ≥ 2 to see it fail")
    for name, err in r.errors:
        lines.append(f"  {name:<5} relative error {err:.2e}  {'ok' if err < r.threshold else 'FAIL'}")
    verdict = "passed" if r.passed else "FAILED"
    lines.append(f"{verdict}: threshold {r.threshold:g} (‖g − ĝ‖/(‖g‖ + ‖ĝ‖), the course's measure)")
    print("\n".join(lines))
    return 0 if r.passed else 1


def numbers(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """``derive numbers --spec rnn.toml``: a worked example, every forward quantity and every
    backward step's value on a seeded instance of the spec's sizes."""
    from derive.cli.common import dumps
    from derive.rnn.worked import worked, worked_json, worked_text

    _refuse(args, "numbers")
    fmt = getattr(args, "format", "text")
    if fmt not in ("text", "json"):  # it printed the text under --format latex
        raise UsageError(f"derive numbers --spec with an RNN spec writes text or json, not {fmt}; "
                         "the LaTeX of backpropagation through time is derive backward --spec "
                         "--format latex, or the handout: derive handout --spec")
    w = worked(rnn_of(args, table), seed=_seed(args))
    print(dumps(worked_json(w), indent=2) if getattr(args, "format", "text") == "json"
          else worked_text(w))
    return 0


def handout(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """``derive handout --spec rnn.toml [-o FILE.tex] [--pdf]``: the BPTT section."""
    from pathlib import Path

    from derive.cli.common import dumps, output
    from derive.handout.document import compile_tex
    from derive.rnn.handout import handout as build

    _refuse(args, "handout")
    out_path = getattr(args, "output", None)
    pdf = getattr(args, "pdf", False)
    fmt = getattr(args, "format", "latex")
    if out_path and Path(out_path).suffix.lower() == ".pdf":
        pdf, out_path = True, str(Path(out_path).with_suffix(".tex"))
    if pdf and not out_path:
        raise UsageError("--pdf writes files: give -o FILE.tex")
    if pdf and fmt == "markdown":
        raise UsageError("--pdf compiles LaTeX: use it with --format latex")
    text = build(rnn_of(args, table), title=getattr(args, "title", None),
                 format="md" if fmt == "markdown" else "tex", seed=_seed(args))
    files: list[tuple[Path, bytes]] = []
    if out_path:
        files.append((Path(out_path), text.encode("utf-8")))
        if pdf:  # compiled before anything is written: a TeX failure writes no file
            files.append((Path(out_path).with_suffix(".pdf"), compile_tex(text).pdf))
    for path, data in files:
        with output(str(path), inputs=(getattr(args, "spec", None),)) as stream:
            stream.write(data)
    if fmt == "json":
        print(dumps({"format": "tex", "text": None if files else text,
                     "written": [str(p) for p, _ in files]}, indent=2))
    elif not files:
        print(text)
    else:
        print("\n".join(f"wrote {p}" for p, _ in files))
    return 0


def stability(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """``derive stability --spec rnn.toml --steps T [--radius R] [--max-value V] [--plot F]``."""
    from derive.cli.common import dumps
    from derive.rnn import stability_render as R
    from derive.rnn.stability import DEFAULT_MAX_VALUE, analyse

    _refuse(args, "stability")
    max_value = getattr(args, "max_value", None)
    r = analyse(rnn_of(args, table), steps=getattr(args, "steps", None),
                seed=_seed(args), radius=getattr(args, "radius", None),
                max_value=DEFAULT_MAX_VALUE if max_value is None else max_value)
    fmt = getattr(args, "format", "text")
    text = {"text": R.to_text, "latex": R.to_latex,
            "json": lambda r: dumps(R.to_json(r), indent=2)}[fmt](r)
    plot = getattr(args, "plot", None)
    if plot:
        R.plot(r, plot, dpi=getattr(args, "dpi", 150))
    print(text)
    if plot and fmt == "text":
        print(f"\nplot written to {plot}")
    return 0
