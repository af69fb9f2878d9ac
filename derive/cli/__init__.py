"""The command line: a thin shell over the Python API.

Each command lives in its own module of this package (``derive/cli/<command>.py``) and defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; commands are discovered
here, so adding one is adding one file. Command modules import the heavy parts of the package
(SymPy) inside ``run`` only, which keeps ``derive --help`` fast: the one place where imports sit
inside functions on purpose.

The contract every command keeps (docs/cli.md):

* exit 0: done, the answer is "correct" / "passed"; 1: done, the answer is "incorrect" / "failed";
  2: the input or the command line cannot be used (``Error: ...`` on stderr, naming the input and
  the position); 3: a bug in derive (a one-line report on stderr; ``--debug`` shows the traceback);
  130: interrupted (Ctrl-C), 143: terminated (SIGTERM), both after finishing the line at hand;
  141: the reader of the output went away (``| head``), quietly.
* no traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import errno
import gc
import importlib
import os
import signal
import sys
import threading
from collections.abc import Mapping
from types import ModuleType

from derive.engine import proof_cache  # the standard library only: a flag and a folder
from derive.errors import DeriveError, UsageError

ORDER = ("backward", "check", "handout", "numbers", "gradcheck", "stability", "jacobian")

#: the exit codes of the contract above
OK, NEGATIVE, UNUSABLE, INTERNAL, INTERRUPTED, CLOSED_PIPE, TERMINATED = 0, 1, 2, 3, 130, 141, 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: a batch keeps the lines it finished, temporary files go."""


def _terminate_as_interrupt():
    """Handle SIGTERM as an interrupt while a command runs; returns the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum, frame) -> None:
    raise Terminated


def _commands(only: str | None = None) -> list[ModuleType]:
    """Every command module of this package (not ``common``), in ``ORDER`` then by name; with
    ``only`` the one of that name, if there is one (else every module)."""
    # the folder's own .py files (every command is one); pkgutil is not needed for that
    names = [f.removesuffix(".py") for f in os.listdir(__path__[0])
             if f.endswith(".py") and not f.startswith("_") and f != "common.py"]
    names.sort(key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    if only in names:
        module = importlib.import_module(f"{__name__}.{only}")
        if module.NAME == only:
            return [module]
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def _named_command(argv: list[str]) -> str | None:
    """The command a command line names, when only the common flags come before it: then
    :func:`main` builds that command's parser alone (importing and building all of them is
    ~10 ms of a cold ``derive check``). None where the root parser answers (``--help``,
    ``--version``, a typo's list of commands) or needs every command (``completion``)."""
    for token in argv:
        if token in ("--debug", "--no-cache"):
            continue
        if token.startswith("-") or token == "completion":
            return None
        return token
    return None


class _Parser(argparse.ArgumentParser):
    """argparse with exit code 2 for usage errors (its default) and messages in our form."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(UNUSABLE, f"Error: {message} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The root parser and every command's beneath it; with ``only`` (a command's name) that
    command's alone, the same parser for every command line that names it."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an internal error, show the Python traceback")
    common.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS,
                        help="prove every formula afresh: neither read nor write the proof cache "
                             "($DERIVE_CACHE_DIR, else the user cache folder; $DERIVE_NO_CACHE=1 "
                             "does the same)")
    parser = _Parser(
        prog="derive", parents=[common],
        description="Derive, check and teach the backpropagation formulas of neural networks.",
        epilog="Exit codes: 0 correct/passed, 1 incorrect/failed, 2 unusable input, 3 a bug in "
               "derive. `derive COMMAND --help` for a command's flags.",
    )
    parser.add_argument("--version", action="version", version="derive 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _commands(only):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP,
                           parents=[common])
        module.add_arguments(p)
        p.set_defaults(_run=module.run, _parser=p, _root=parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module's docstring)."""
    parser = build_parser(_named_command(sys.argv[1:] if argv is None else argv))
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named by the command's parser, so the usage shown is the command's
            getattr(args, "_parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else UNUSABLE
    if not getattr(args, "_run", None):
        parser.print_help()
        return UNUSABLE
    debug = getattr(args, "debug", False)
    for stream in (sys.stdout, sys.stderr):  # a name the user typed may not be encodable
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    previous = _terminate_as_interrupt()
    cached = proof_cache.disable(True) if getattr(args, "no_cache", False) else None
    global _process
    _process = argv is None  # the process's own command line (derive ..., python -m derive ...)
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, inside the contract
        return code
    except UsageError as exc:
        args._parser.print_usage(sys.stderr)
        print(f"Error: {exc}", file=sys.stderr)
        return UNUSABLE
    except DeriveError as exc:
        if debug and exc.exit_code == INTERNAL:
            raise
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated:
        print("terminated", file=sys.stderr)
        return TERMINATED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return CLOSED_PIPE
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
            return _internal(exc, debug)
        _silence_stdout()
        print(f"Error: cannot write the output: {exc.strerror}", file=sys.stderr)
        return UNUSABLE
    except RecursionError:
        print("Error: the input is nested too deeply to read", file=sys.stderr)
        return UNUSABLE
    except MemoryError:
        print("Error: out of memory: give smaller sizes (docs/limits.md lists the limits)",
              file=sys.stderr)
        return UNUSABLE
    except Exception as exc:  # noqa: BLE001 - the contract: a bug is exit 3, one line
        return _internal(exc, debug)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if cached is not None:  # in-process callers (tests, the docs) get the cache back
            proof_cache.disable(cached)
        if _process:  # the process ends: see preload
            _process = False
            gc.collect()  # today's garbage goes now, its finalizers run; what lives is frozen
            gc.freeze()


#: main() is running the process's own command line (not main([...]) in-process): see preload
_process = False


def process_preload(modules: tuple[str, ...], environment: Mapping[str, str] | None = None):
    """:func:`preload`, where :func:`main` runs the process's own command line; nothing for a
    caller of ``main([...])``. A command calls it once its arguments passed its own checks
    (a usage error stays quick), before it imports what it needs."""
    if _process:
        preload(modules, environment)


def preload(modules: tuple[str, ...], environment: Mapping[str, str] | None = None) -> None:
    """Import a command's modules (SymPy, numpy and derive's own, which it would import anyway)
    with the cyclic garbage collector paused, then freeze them
    (:func:`gc.freeze`): the objects an import builds live as long as the process, so no
    collection need walk them again, neither the collections SymPy's import triggers on the
    way (it builds tens of thousands of classes, functions and cached expressions) nor the
    full ones of the interpreter's exit, where :func:`main` collects once and freezes what
    is alive. Together ~0.15 s of a cold ``derive check`` (bench/bench_cold.py). Commands call
    it through :func:`process_preload`: a caller of ``main([...])`` (the tests, the docs) keeps
    its collector as it was.

    ``environment`` is set first where the user has not set it: ``derive check`` asks for one
    OpenBLAS thread, read once when numpy loads."""
    for key, value in (environment or {}).items():
        os.environ.setdefault(key, value)
    if not modules:
        return
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        raise exc
    print(f"Error: internal error in derive ({type(exc).__name__}: {exc}); this is a bug: "
          "please report it with the command line (--debug shows the traceback)", file=sys.stderr)
    return INTERNAL


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush at exit does not print a
    second error about the same closed pipe or full disk."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # a stdout without a descriptor (tests)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
