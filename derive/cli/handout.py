"""`derive handout`: a LaTeX (or Markdown) handout for a network; ``--pdf`` compiles it."""

from __future__ import annotations

import argparse
from pathlib import Path

from derive.cli.common import (
    add_format_arguments,
    add_seed_argument,
    add_spec_arguments,
    dumps,
    example_network,
    network_from_args,
    output,
    takes_file,
)
from derive.errors import UsageError

NAME = "handout"
HELP = "write a teaching handout (LaTeX or Markdown; --pdf compiles it) for a network"

SECTION_HELP = (
    "comma-separated sections, in order: network, shapes, forward, backward, averaging, order, "
    "verification, mistakes (the default: all of these); plug-ins jacobian, stability, numbers "
    "when installed; 'all' = every available section")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    takes_file(p.add_argument("-o", "--output", metavar="FILE",
                              help="where to write the handout (default: standard output)"))
    p.add_argument("--title", help="the handout's title (plain text; escaped)")
    add_format_arguments(p, ("latex", "markdown", "json"), default="latex")
    p.add_argument("--pdf", action="store_true",
                   help="also compile FILE.tex to FILE.pdf with pdflatex (needs -o; -o FILE.pdf implies it)")
    p.add_argument("--exercises", action="store_true",
                   help="a worksheet with numbered blanks, plus FILE-key.tex with the answers (needs -o)")
    p.add_argument("--sections", metavar="LIST", help=SECTION_HELP)
    add_seed_argument(p, "seed of the numeric instance; with --exercises and no network given, it "
                         "also draws the worksheet's network (another seed, another worksheet)")


#: the spec families besides dense, and what runs them (derive.cli._family.dispatch)
FAMILIES = {
    "cnn": "derive.conv.numbers_cli:handout",
    "rnn": "derive.rnn.cli:handout",
}


def run(args: argparse.Namespace) -> int:
    from derive.cli._family import dispatch

    other = dispatch(args, FAMILIES)
    if other is not None:
        return other
    # lazy: the handout imports SymPy and every feature; `derive --help` loads every command module
    from derive.handout.document import handout, worksheet_network

    check_output_flags(args)
    # a worksheet with a seed and no network: the seed draws the network (another seed, another sheet)
    drawn = args.exercises and args.seed and not (args.spec or args.layers or args.act or args.loss)
    net = network_from_args(args, default=(lambda: worksheet_network(args.seed)) if drawn
                            else example_network)
    h = handout(net, title=args.title, sections=args.sections, exercises=args.exercises,
                format="md" if args.format == "markdown" else "tex", seed=args.seed,
                figures=bool(args.output))  # a figure is written beside the .tex, never to stdout
    return write(args, h)


def check_output_flags(args: argparse.Namespace) -> None:
    """-o FILE.pdf means --pdf; --pdf and --exercises need -o; a PDF is compiled from LaTeX."""
    if args.output and Path(args.output).suffix.lower() == ".pdf":  # -o h.pdf: the PDF is wanted
        if args.format == "markdown":
            raise UsageError(f"-o {args.output}: a PDF is compiled from LaTeX, not Markdown: "
                             "give -o FILE.md, or drop --format markdown")
        args.pdf, args.output = True, str(Path(args.output).with_suffix(".tex"))
    if (args.pdf or args.exercises) and not args.output:
        raise UsageError("--pdf and --exercises write files: give -o FILE.tex")
    if args.pdf and args.format == "markdown":
        raise UsageError("--pdf compiles LaTeX: use it with --format latex")


def write(args: argparse.Namespace, h) -> int:
    """Write the handout ``h`` as the flags say (-o, --pdf, --format json), or print it."""
    from derive.handout.document import compile_tex, key_path

    files: list[tuple[Path, bytes]] = []
    if args.output:
        files.append((Path(args.output), h.text.encode("utf-8")))
        if h.key is not None:
            files.append((key_path(args.output), h.key.encode("utf-8")))
        if args.pdf:  # compiled before anything is written: a TeX failure writes no file
            files += [(path.with_suffix(".pdf"), compile_tex(text.decode("utf-8"), files=h.files).pdf)
                      for path, text in list(files)]
        # the figures the .tex includes, beside it (\includegraphics finds them there)
        files += [(Path(args.output).with_name(name), data) for name, data in h.files]
    for path, data in files:
        with output(str(path), inputs=(args.spec,)) as stream:
            stream.write(data)
    if args.format == "json":
        print(dumps({"title": h.title, "format": h.format, "sections": list(h.sections),
                     "blanks": h.answers, "text": None if files else h.text,
                     "key": None if files else h.key, "written": [str(p) for p, _ in files]},
                    indent=2))
        return 0
    if not files:
        print(h.text, end="")
    for path, _ in files:
        print(f"wrote {path}")
    return 0
