"""`derive rules`: the catalogue of activations, losses, layer kinds and identities the engine applies."""

from __future__ import annotations

import argparse

from derive.cli.common import add_format_arguments, dumps

NAME = "rules"
HELP = "list the rule catalogue (activations, losses, layer kinds, matrix-calculus identities) as Markdown"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", action="store_true", help="print where the catalogue is read from")
    add_format_arguments(p, ("markdown", "json"), default="markdown")


def run(args: argparse.Namespace) -> int:
    if args.path:
        from derive.catalogue.rules import rules_dir

        print(rules_dir())
        return 0
    from derive.render.catalogue import render, to_dict

    if args.format == "json":
        print(dumps(to_dict(), indent=2))
    else:
        print(render(), end="")
    return 0
