"""Which body of a command runs: a dense network's (the command's own), or another family's.

A command that takes ``--spec`` for a CNN or an RNN names, per family, the function that runs it
(``"module:function"``, called with the parsed arguments and the spec's table, returning the exit
code); :func:`dispatch` reads the spec once (:func:`derive.network.family.read_spec`: bounded,
as every spec is read, and which family it is), and runs that function, or returns
None for a dense network (the command goes on as before). Not a command module (the leading
underscore keeps it out of the CLI's discovery).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping

from derive.errors import SpecError


def dispatch(args: argparse.Namespace, runners: Mapping[str, str]) -> int | None:
    """Run the family's function for ``--spec`` (a CNN's, an RNN's), or None for a dense network
    (or no spec). A family this command does not take is an error naming the ones it does."""
    path = getattr(args, "spec", None)
    if not path:
        return None
    from derive.network.family import read_spec

    family, table = read_spec(path)
    if family == "dense":
        return None
    if family not in runners:
        takes = ", ".join(sorted({"dense", *runners}))
        command = getattr(args, "command", None) or "this command"
        raise SpecError(f"{path}: a {family} spec is not taken by derive {command} yet "
                        f"(it takes: {takes})")
    module, _, function = runners[family].partition(":")
    return int(getattr(importlib.import_module(module), function)(args, table))
