"""``derive completion bash|zsh``: a shell completion script, generated from the command line
parser itself (by shtab), so it offers exactly the commands, flags and choices that exist.

Install it once, e.g. ``derive completion bash > ~/.local/share/bash-completion/completions/derive``
or, for zsh, ``derive completion zsh > ~/.zfunc/_derive`` (with ``~/.zfunc`` on ``$fpath``).
"""

from __future__ import annotations

import argparse

NAME = "completion"
HELP = "print a bash or zsh completion script for derive (generated from its flags)"
SHELLS = ("bash", "zsh")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=SHELLS, help="the shell the script is for")


def run(args: argparse.Namespace) -> int:
    import shtab  # here: only this command needs it

    print(shtab.complete(args._root, shell=args.shell), end="")
    return 0
