"""`derive handout`: a LaTeX (or Markdown) handout for a network; ``--pdf`` compiles it."""

from __future__ import annotations

import argparse
from pathlib import Path

from derive.cli.common import add_spec_arguments, example_network, network_from_args
from derive.errors import SpecError

NAME = "handout"
HELP = "write a teaching handout (LaTeX or Markdown; --pdf compiles it) for a network"

SECTION_HELP = (
    "comma-separated sections, in order: network, shapes, forward, backward, averaging, order, "
    "verification, mistakes (the default: all of these); plug-ins jacobian, stability, numbers "
    "when installed; 'all' = every available section")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_spec_arguments(p)
    p.add_argument("-o", "--output", metavar="FILE",
                   help="where to write the handout (default: standard output)")
    p.add_argument("--title", help="the handout's title (plain text; escaped)")
    p.add_argument("--format", choices=("tex", "md"), default="tex",
                   help="tex (standalone LaTeX, default) or md (Markdown with $...$ maths)")
    p.add_argument("--pdf", action="store_true",
                   help="also compile FILE.tex to FILE.pdf with pdflatex (needs -o)")
    p.add_argument("--exercises", action="store_true",
                   help="a worksheet with numbered blanks, plus FILE-key.tex with the answers (needs -o)")
    p.add_argument("--sections", metavar="LIST", help=SECTION_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the numeric instance")


def run(args: argparse.Namespace) -> int:
    # lazy: the handout imports SymPy and every feature; `derive --help` loads every command module
    from derive.handout.document import handout, key_path, write_pdf

    if (args.pdf or args.exercises) and not args.output:
        raise SpecError("--pdf and --exercises write files: give -o FILE.tex")
    if args.pdf and args.format != "tex":
        raise SpecError("--pdf compiles LaTeX: use it with --format tex")
    net = network_from_args(args, default=example_network)
    h = handout(net, title=args.title, sections=args.sections, exercises=args.exercises,
                format=args.format, seed=args.seed)
    if not args.output:
        print(h.text, end="")
        return 0
    written = h.write(args.output)
    if args.pdf:
        written.append(write_pdf(h.text, Path(args.output).with_suffix(".pdf")))
        if h.key is not None:
            written.append(write_pdf(h.key, key_path(args.output).with_suffix(".pdf")))
    for path in written:
        print(f"wrote {path}")
    return 0
