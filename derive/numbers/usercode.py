"""The user's own code (``derive gradcheck --impl``): running it, and reading what it returned.

Whatever the user's module or function does runs in this process, unsandboxed; :func:`user_code`
only turns what escapes from it (an exception, ``sys.exit``, Ctrl-C) into an error that names it,
with the traceback of their frames kept for ``--debug``.

>>> try:
...     with user_code("your backward function mynet:backward", "running mynet:backward"):
...         1 / 0
... except UserCodeError as exc:
...     print(str(exc).split(" (at ")[0])
your backward function mynet:backward raised ZeroDivisionError: division by zero
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import traceback
from collections.abc import Iterator, Mapping

import numpy as np

from derive.errors import DeriveError
from derive.network import model
from derive.network.spec import Network
from derive.numbers.differences import param_keys


class UserCodeError(DeriveError):
    """The user's own code (``--impl``) raised, called ``sys.exit`` or was interrupted; the
    message names it, ``user_traceback`` holds the frames of their code (for ``--debug``)."""

    def __init__(self, message: str, user_traceback: str = ""):
        super().__init__(message)
        self.user_traceback = user_traceback


class UserInterrupt(UserCodeError):
    """Ctrl-C while the user's code ran: exit code 130, like any interruption."""

    exit_code = 130


_DERIVE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def user_code(what: str, doing: str) -> Iterator[None]:
    """Run the user's code inside: what escapes from it becomes a :class:`UserCodeError` —
    ``"{what} raised ValueError: ... (at mynet.py line 12)"``, ``"your code called sys.exit(0)
    while {doing}"`` — or, for Ctrl-C, a :class:`UserInterrupt` (``"interrupted while {doing}"``).
    A :class:`derive.errors.DeriveError` passes through as it is."""
    try:
        yield
    except DeriveError:
        raise
    except SystemExit as exc:
        code = "" if exc.code is None else repr(exc.code)
        raise UserCodeError(f"your code called sys.exit({code}) while {doing}; derive runs it "
                            "in its own process, so it must return (or raise) instead",
                            _frames(exc)) from None
    except KeyboardInterrupt as exc:
        raise UserInterrupt(f"interrupted while {doing}", _frames(exc)) from None
    except BaseException as exc:  # noqa: BLE001 - the user's code: report what it raised, in their terms
        raise UserCodeError(f"{what} raised {type(exc).__name__}: {exc}{_where(exc)}",
                            _frames(exc)) from None


def _user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of the traceback from the first one of the user's (not derive's, nor the
    import machinery's or contextlib's) on."""
    frames = traceback.extract_tb(exc.__traceback__)
    skip = (_DERIVE_DIR + os.sep, contextlib.__file__, os.path.dirname(importlib.__file__) + os.sep,
            "<frozen ")
    for i, f in enumerate(frames):
        if not f.filename.startswith(skip):
            return frames[i:]
    return []


def _frames(exc: BaseException) -> str:
    """The traceback of the user's frames (a SyntaxError: its line with the caret)."""
    frames = _user_frames(exc)
    lines = ["Traceback of your code (most recent call last):\n", *traceback.format_list(frames)]
    return "".join((lines if frames else []) + traceback.format_exception_only(type(exc), exc))


def _where(exc: BaseException) -> str:
    """" (at mynet.py line 12)": the innermost frame of the user's own files (not the standard
    library or installed packages)."""
    if isinstance(exc, SyntaxError):  # its message has the file and line already
        return ""
    frames = _user_frames(exc)
    libraries = tuple(p.rstrip(os.sep) + os.sep for p in
                      {os.path.dirname(os.__file__), sys.prefix, sys.base_prefix} if p)
    own = [f for f in frames if not f.filename.startswith(libraries)] or frames
    if not own:
        return ""
    return f" (at {os.path.basename(own[-1].filename)} line {own[-1].lineno})"


def validate_grads(net: Network, instance: model.Instance, out, source: str
                    ) -> tuple[dict, tuple[str, ...]]:
    """The returned gradients as float arrays of their parameters' shapes, and the keys that
    are not gradients of a parameter (ignored); a returned value that is not a real array of
    the right shape is an error naming the key and what was returned."""
    want_keys = [f"d{b}{l}" for b, l in param_keys(net)]
    if not isinstance(out, Mapping):
        raise DeriveError(f"{source} returned {_describe(out)}; expected a dict with keys "
                          + ", ".join(want_keys))
    out = dict(out)
    grads = {}
    for b, l in param_keys(net):
        name = f"d{b}{l}"
        if name not in out:
            raise DeriveError(f"{source} returned no {name!r} (keys: {', '.join(map(str, out)) or 'none'})")
        grads[b, l] = _as_gradient(out[name], name, f"{b}{l}", np.shape(instance.params[b, l]),
                                   source)
    extra = tuple(str(k) for k in out if k not in want_keys)
    return grads, extra


def _as_gradient(raw, name: str, param: str, want: tuple[int, ...], source: str) -> np.ndarray:
    if raw is None or isinstance(raw, str | bytes | bool | complex | dict | set):
        raise DeriveError(f"{source}: {name} is {_describe(raw)}, not an array of real numbers")
    try:
        value = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        if not isinstance(raw, list | tuple):
            raise  # the user's own object raised: user_code reports it
        raise DeriveError(f"{source}: {name} is not a numeric array ({exc})") from None  # ragged
    kind = value.dtype.kind
    if kind == "c":
        raise DeriveError(f"{source}: {name} is complex ({value.dtype} array): the gradient of a "
                          "real cost is real; return its real part only if the imaginary part "
                          "is meant to be 0")
    if kind not in "iuf":
        raise DeriveError(f"{source}: {name} is {_describe(raw)} (numpy dtype {value.dtype}), "
                          "not an array of real numbers")
    value = np.array(value, dtype=float)
    if value.shape != want:
        raise DeriveError(f"{source}: {name} has shape {_fmt(value.shape)}, but {param} has "
                          f"shape {_fmt(want)} (a gradient has its parameter's shape)")
    return value


def _describe(x) -> str:
    """What a returned value is, shortly: "None", "the string '0.5'", "a set", "a bool array"."""
    if x is None:
        return "None"
    if isinstance(x, str | bytes):
        text = repr(x)
        return f"the string {text[:40] + '…' if len(text) > 40 else text}"
    if isinstance(x, np.ndarray):
        return f"a {x.dtype} array of shape {_fmt(x.shape)}"
    kind = type(x).__name__
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"
