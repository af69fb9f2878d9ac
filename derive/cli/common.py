"""What the commands share: the network-spec flags, the output formats, the numeric flags, and
writing results safely (JSON that any reader parses, files replaced whole or not at all)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from derive.errors import DeriveError, SpecError
from derive.limits import Limit
from derive.network.layout import LAYOUTS

if TYPE_CHECKING:  # the spec module imports SymPy: commands load it in run(), not at --help
    from derive.network.spec import Network


#: shtab's marker for "complete a file name" (shtab.FILE), set on file flags as ``.complete``
FILE_COMPLETION = {"bash": "_shtab_compgen_files", "zsh": "_files", "tcsh": "f"}


def takes_file(action: argparse.Action) -> argparse.Action:
    """Mark a flag as naming a file, for the shell completion (``derive completion``)."""
    action.complete = FILE_COMPLETION  # type: ignore[attr-defined]
    return action


def add_spec_arguments(p: argparse.ArgumentParser, required: bool = False) -> None:
    g = p.add_argument_group("network spec (flags, or --spec FILE)")
    takes_file(g.add_argument(
        "--spec", metavar="FILE", help="a TOML spec file (layers, activations, loss, ...)"
    ))
    g.add_argument(
        "--layers", metavar="N0,N1,..", help="layer sizes n[0..L], e.g. 3,3,1 (? for symbolic)"
    )
    g.add_argument(
        "--act",
        "--activations",
        dest="act",
        metavar="G1,G2,..",
        help="one activation per layer, e.g. relu,sigmoid (g for a generic one)",
    )
    g.add_argument("--loss", help="bce, ce, mse, half_mse, mse_units, svm (omit for a generic loss)")
    g.add_argument("--convention", choices=tuple(LAYOUTS), help="columns (default) or rows")
    g.add_argument(
        "--scale", choices=("mean", "sum", "dZ"),
        help="cost scale: mean (default: J = (1/m) Σ ℓ, the 1/m in dW and db), sum (no 1/m), or "
             "dZ (J = (1/m) Σ ℓ, the 1/m in dZ[L], as in CS231n)"
    )
    g.add_argument(
        "--l2", nargs="?", const="λ", metavar="LAMBDA",
        help="L2 regularisation of every W[l] (b is not): the coefficient, e.g. 0.01; "
             "--l2 alone is a symbolic λ"
    )
    g.add_argument(
        "--l2-form", choices=("course", "half", "plain"),
        help="course (default): (λ/(2m)) Σ‖W‖², dW += (λ/m) W; half (CS231n): ½ reg Σ‖W‖², "
             "dW += reg W; plain: λ Σ‖W‖², dW += 2λ W"
    )
    g.add_argument("--l2-layers", metavar="L1,L2,..",
                   help="regularise only these layers' W (default: all)")
    g.add_argument(
        "--keep-prob", nargs="?", const="keep_prob", metavar="P",
        help="inverted dropout on the hidden layers, A[l] = g(Z[l]) ⊙ D[l] / P with a fixed 0/1 "
             "mask D[l]: one P for every hidden layer (0.8) or one per hidden layer (1,0.8); "
             "--keep-prob alone is a symbolic keep_prob"
    )
    g.add_argument(
        "--batchnorm", metavar="L1,L2,..",
        help="batch normalisation (training mode) on these layers: Z = W A (no b), Z_norm = "
             "(Z − μ)/√(σ² + ε) over the examples, Z̃ = γ ⊙ Z_norm + β, A = g(Z̃); true: every "
             "hidden layer"
    )


#: the commands that take each other family's spec (through derive.cli._family)
FAMILY_COMMANDS = {"cnn": "derive backward, gradcheck, numbers and handout (and check --code of "
                          "the course's conv_backward)",
                   "rnn": "derive backward, gradcheck, numbers, handout, stability and check"}


def _dense_spec(path: str, command: str | None) -> None:
    """A CNN or RNN spec given to a command that reads a dense network's: say which it is and
    which commands take it (not the dense reader's "unknown key 'rnn'")."""
    from derive.network.family import read_spec

    family, _ = read_spec(path)
    if family != "dense":
        what = "a CNN spec" if family == "cnn" else "an RNN spec ([rnn])"
        raise SpecError(f"{path}: {what}, for {FAMILY_COMMANDS[family]}; derive "
                        f"{command or 'this command'} takes a dense network's spec")


def network_from_args(args: argparse.Namespace,
                      default: Callable[[], Network] | None = None) -> Network:
    """The Network the flags describe; ``default`` (a callable) when none is given."""
    # lazy: derive.network.spec imports SymPy, which `derive --help` must not pay for
    from derive.network.spec import Network

    l2 = {**l2_flags(args), **dropout_flags(args), **batchnorm_flags(args)}
    if args.spec:
        if args.layers or args.act or args.loss:
            raise SpecError("give the network either by flags or by --spec, not both")
        command = getattr(args, "command", None)
        _dense_spec(args.spec, command)
        net = Network.from_toml(args.spec)
        if "batchnorm" in net.kinds and command is not None and command not in BATCHNORM_COMMANDS:
            raise SpecError(f"{args.spec}: batch normalisation is not supported by derive "
                            f"{command} yet ({_takers()} take it)")
        if args.convention or args.scale or l2:
            net = net.replace(convention=args.convention or net.convention,
                              scale=args.scale or net.scale, **l2)
        return net
    if not (args.layers or args.act) and default is not None:
        return default().replace(**l2) if l2 else default()
    return Network.from_strings(args.layers, args.act, args.loss, args.convention, args.scale, **l2)


def l2_flags(args: argparse.Namespace) -> dict[str, str]:
    """The L2 flags given (``--l2``, ``--l2-form``, ``--l2-layers``) as Network keywords."""
    return {k: v for k in ("l2", "l2_form", "l2_layers") if (v := getattr(args, k, None)) is not None}


def dropout_flags(args: argparse.Namespace) -> dict[str, str]:
    """``--keep-prob`` as a Network keyword, when given (every command with the flag takes it)."""
    value = getattr(args, "keep_prob", None)
    return {} if value is None else {"keep_prob": value}


#: the commands that take batch normalisation (derive stability has its own --batchnorm)
BATCHNORM_COMMANDS = ("backward", "check", "gradcheck", "numbers", "handout")


def _takers() -> str:
    names = [f"derive {c}" for c in (*BATCHNORM_COMMANDS, "stability")]
    return ", ".join(names[:-1]) + " and " + names[-1]


def batchnorm_flags(args: argparse.Namespace) -> dict[str, str]:
    """``--batchnorm`` as a Network keyword, when given (refused by the commands without it)."""
    value = getattr(args, "batchnorm", None)
    command = getattr(args, "command", None)
    if value is not None and command is not None and command not in BATCHNORM_COMMANDS:
        raise SpecError(f"batch normalisation is not supported by derive {command} yet: drop "
                        f"--batchnorm ({_takers()} take it)")
    return {} if value is None else {"batchnorm": value}


def example_network() -> Network:
    """The built-in example: the course's 2-layer network (relu hidden, sigmoid + bce output)."""
    from derive.network.spec import Network  # lazy: SymPy (see network_from_args)

    return Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")


# -- output formats ---------------------------------------------------------------------------------
#: the other names a format answers to (``--format tex`` is ``--format latex``)
FORMAT_ALIASES = {"tex": "latex", "md": "markdown"}


def add_format_arguments(p: argparse.ArgumentParser, formats: tuple[str, ...],
                         default: str = "text") -> None:
    """``--format`` (one of ``formats``; tex|latex and md|markdown are the same format) and
    ``--json`` (the same as ``--format json``), mutually exclusive; the value is ``args.format``."""
    names = ", ".join(f"{f} ({alias})" if (alias := _alias_of(f)) else f for f in formats)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--format", type=_format_name, choices=formats, default=default,
                   metavar="FORMAT", help=f"output format: {names}; default {default}")
    if "json" in formats:
        g.add_argument("--json", action="store_const", const="json", dest="format",
                       help="the same as --format json")


def _alias_of(fmt: str) -> str | None:
    return next((a for a, f in FORMAT_ALIASES.items() if f == fmt), None)


def _format_name(text: str) -> str:
    return FORMAT_ALIASES.get(text.lower(), text.lower())


# -- numeric flags ----------------------------------------------------------------------------------
def whole(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number in [low, high], with an error that says the range."""
    def parse(text: str) -> int:
        span = f"from {low:,} to {high:,}" if high is not None else f"at least {low:,}"
        if not re.fullmatch(r"\s*[+-]?\d{1,19}\s*", text):
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number ({span})")
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {what}{span}")
        return value
    parse.__name__ = "whole number"  # argparse names the type in its messages
    return parse


#: numpy's generators take any non-negative integer; 2**63 - 1 keeps seeds printable and portable
SEED = whole(0, 2**63 - 1)


def add_seed_argument(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--seed", type=SEED, default=0, help=f"{help} (a whole number ≥ 0; default 0)")


# -- writing ----------------------------------------------------------------------------------------
#: characters JSON allows raw in strings that some readers take for line ends or cannot encode:
#: U+2028/U+2029 (JavaScript), C1 controls such as U+0085 (Python's splitlines), lone surrogates
_UNSAFE = re.compile("[\u007f-\u009f\u2028\u2029\ud800-\udfff]")


def dumps(obj: Any, indent: int | None = None) -> str:
    """JSON text that is always valid UTF-8 and one line per object without ``indent``: the
    characters above are written as ``\\uXXXX`` escapes (the same value to any JSON reader)."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False, default=str)
    return _UNSAFE.sub(lambda hit: f"\\u{ord(hit.group()):04x}", text)


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (by device and inode: ``./x``, a symlink, a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def output(path: str | None, inputs: tuple[str | None, ...] = ()) -> Iterator[IO[bytes]]:
    """A binary stream for the results: standard output, or ``path`` written to a temporary file
    beside it and renamed over it only when everything is written (a failure leaves the old file,
    or none; Ctrl-C installs the results finished so far). A path that is not a regular file
    (``/dev/null``, a FIFO) is written directly. A ``path`` that is one of the ``inputs`` is
    refused before anything is opened."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    for source in inputs:
        if source not in (None, "-") and same_file(path, source):
            raise DeriveError(f"-o {path}: that is the input file {source}; "
                              "write the results to another file")
    if os.path.exists(path) and not os.path.isfile(path):  # /dev/null, a FIFO: write through
        try:
            stream = open(path, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise DeriveError(f"cannot write {path}: {exc.strerror}") from None
        try:
            with stream:
                yield stream
        except OSError as exc:
            raise DeriveError(f"cannot write {path}: {exc.strerror}") from None
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".derive-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise DeriveError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as stream:
            try:
                yield stream
            except KeyboardInterrupt:  # Ctrl-C: keep the results finished so far, then stop
                _install(stream, tmp, path)
                raise
            _install(stream, tmp, path)
    except OSError as exc:
        raise DeriveError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _install(stream: IO[bytes], tmp: str, path: str) -> None:
    stream.flush()
    os.fsync(stream.fileno())
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_argument(text: str, what: str) -> str:
    """``text``, or standard input when it is ``-`` (read as UTF-8, a BOM and a final newline
    dropped); an input that is not UTF-8 is an error naming the byte."""
    if text != "-":
        return text
    data = sys.stdin.buffer.read(STDIN.value + 1)
    if len(data) > STDIN.value:  # not read to its end: its size is unknown, only "too large"
        raise DeriveError(f"{what} from standard input is over the limit of {STDIN.value:,} "
                          f"bytes ({STDIN.name}); give {STDIN.flag}")
    return decode(data, f"{what} (standard input)").removesuffix("\n").removesuffix("\r")


STDIN = Limit("cli.stdin_bytes", 1 << 20, "bytes", "a shorter input",
              "an argument read from standard input")


def decode(data: bytes, where: str) -> str:
    """UTF-8 bytes as text (a leading BOM dropped), or an error naming the first bad byte."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise DeriveError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
                          f"{exc.start + 1})") from None
