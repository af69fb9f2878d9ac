"""The command line: a thin shell over the Python API.

Each command lives in its own module of this package (``derive/cli/<command>.py``) and defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; commands are discovered
here, so adding one is adding one file. Command modules import the heavy parts of the package
(SymPy) inside ``run`` only, which keeps ``derive --help`` fast: the one place where imports sit
inside functions on purpose.

Every :class:`derive.errors.DeriveError` is printed once, as ``Error: ...`` on stderr, with its
exit code (2 for unusable input).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

from derive.errors import DeriveError

ORDER = ("backward", "check", "handout", "numbers", "gradcheck", "stability", "jacobian")


def _commands() -> list[ModuleType]:
    """Every command module of this package (not ``common``), in ``ORDER`` then by name."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    names = [n for n in names if n != "common"]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="derive",
        description="Derive, check and teach the backpropagation formulas of dense neural networks.",
    )
    parser.add_argument("--version", action="version", version="derive 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _commands():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 a negative verdict, 2 unusable input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except DeriveError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
