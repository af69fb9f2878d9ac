"""`derive rules`: the catalogue of activations, losses, layer kinds and identities the engine applies."""

from __future__ import annotations

import argparse

NAME = "rules"
HELP = "list the rule catalogue (activations, losses, layer kinds, matrix-calculus identities) as Markdown"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--path", action="store_true", help="print where the catalogue is read from")


def run(args: argparse.Namespace) -> int:
    if args.path:
        from derive.catalogue.rules import rules_dir

        print(rules_dir())
        return 0
    from derive.render.catalogue import render

    print(render(), end="")
    return 0
