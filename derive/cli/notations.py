"""`derive notations`: every notation family the parsers read, with one checked example each."""

from __future__ import annotations

import argparse

from derive.cli.common import add_format_arguments, dumps

NAME = "notations"
HELP = "list the notations derive check reads (LaTeX families and code dialects), as Markdown"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_format_arguments(p, ("markdown", "json"), default="markdown")


def run(args: argparse.Namespace) -> int:
    from derive.parse.latex_notations import render, to_dict

    if args.format == "json":
        print(dumps(to_dict(), indent=2))
    else:
        print(render(), end="")
    return 0
