"""The CNN bodies of `derive gradcheck`, `derive numbers` and `derive handout` (``--spec cnn.toml``),
run by :func:`derive.cli._family.dispatch` with the parsed arguments and the spec's table."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from derive.errors import SpecError

#: the flags of a dense network that a CNN spec does not take (its TOML says it all)
DENSE_ONLY = ("layers", "act", "loss", "convention", "scale", "l2", "l2_form", "l2_layers",
              "keep_prob", "batchnorm", "impl", "forward", "values", "file", "latex", "layer",
              "learning_rate", "mask_seed", "exercises", "sections", "tolerance", "no_student")


def refuse_dense_flags(args: argparse.Namespace, where: str) -> None:
    """A dense-network flag beside a CNN spec (``where``: its file, or the built-in example) is
    an error naming the flag: the spec gives the whole network, the flag would change nothing."""
    for name in DENSE_ONLY:
        value = getattr(args, name, None)
        if value not in (None, False):
            flag = "FILE" if name == "file" else "--" + name.replace("_", "-")
            raise SpecError(f"{where}: a CNN spec gives the whole network: {flag} is for a "
                            "dense network and is not taken with it")


def load(args: argparse.Namespace, table: Mapping[str, Any]):
    """The CNN of ``--spec``; a dense-network flag beside it is an error naming the flag."""
    from derive.conv.spec import cnn_from_mapping

    refuse_dense_flags(args, args.spec)
    return cnn_from_mapping(table, where=args.spec)


def gradcheck(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """`derive gradcheck --spec cnn.toml [--plant MISTAKE]`: exit 0 passed, 1 failed."""
    from derive.cli.common import dumps
    from derive.cli.gradcheck import array_table
    from derive.conv import gradcheck as G

    cnn = load(args, table)
    r = G.gradcheck(cnn, seed=args.seed or 0, m=args.m,
                    eps=args.eps if args.eps is not None else G.EPS,
                    rtol=args.rtol if args.rtol is not None else G.RTOL, plant=args.plant)
    if args.format == "json":
        print(dumps(r.to_dict(), indent=2))
    else:
        print(render_gradcheck(r, array_table))
    return 0 if r.passed else 1


def render_gradcheck(r, array_table) -> str:
    """The text of a CNN check, in the dense check's form (its table is ``array_table``)."""
    out = [f"Gradient check of {r.source}: {r.description}",
           f"  m = {r.m}, seed = {r.seed}, eps = {r.eps:g}, rtol = {r.rtol:g}",
           f"  criterion: {r.criterion}"]
    out += [f"  note: {n}" for n in r.notes]
    out.append("")
    out += array_table(r)
    out.append("PASSED" if r.passed else f"FAILED: wrong gradient for {', '.join(r.failed)}")
    return "\n".join(out)


def numbers(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """`derive numbers --spec cnn.toml [--seed N] [--format text|latex|json]`: the worked example."""
    from derive.cli.common import dumps
    from derive.conv.worked import render_latex, render_text, worked_example

    w = worked_example(load(args, table), seed=args.seed or 0)
    if args.format == "json":
        print(dumps(w.to_dict(), indent=2))
    elif args.format == "latex":
        print(render_latex(w))
    else:
        print(render_text(w))
    return 0


def handout(args: argparse.Namespace, table: Mapping[str, Any]) -> int:
    """`derive handout --spec cnn.toml [-o FILE.tex] [--pdf]`: the convolutional handout."""
    from derive.cli.handout import check_output_flags, write
    from derive.handout.conv import conv_handout

    cnn = load(args, table)
    check_output_flags(args)
    h = conv_handout(cnn, title=args.title, format="md" if args.format == "markdown" else "tex",
                     seed=args.seed or 0)
    return write(args, h)
