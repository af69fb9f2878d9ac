"""One exception family for the whole package; the CLI prints any of them as ``Error: ...``.

Every error speaks the user's language: the layer, the symbol as written, the two shapes.
"""

from __future__ import annotations


class DeriveError(Exception):
    """Base class of every error the tool reports to a user (exit code 2 in the CLI)."""

    exit_code = 2


class UsageError(DeriveError):
    """A command line that cannot be run as given (flags that exclude each other, a missing
    argument); the CLI prints the command's usage line with it."""


class SpecError(DeriveError):
    """A network spec that cannot describe a network (unknown activation, bad size, ...)."""


EXCERPT = 60  # characters shown either side of an error's position in a long input


class ParseError(DeriveError):
    """Input text that cannot be read; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int | None = None, text: str | None = None):
        self.message = message
        self.position = position
        self.text = text
        super().__init__(self.describe())

    def describe(self) -> str:
        """The message, the position, and the input with a caret under it; a long input (over
        the length limit, say) shown as the ``EXCERPT`` characters either side, with "…"."""
        if self.position is None:
            return self.message
        where = f"at position {self.position + 1}"
        text, pos = self.text, self.position
        if text is None:
            return f"{self.message} ({where})"
        pos = min(pos, len(text))
        if len(text) <= 2 * EXCERPT + 20:
            return f"{self.message} ({where})\n  {text}\n  {' ' * pos}^"
        start, end = max(0, pos - EXCERPT), min(len(text), pos + EXCERPT)
        head, tail = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
        shown = head + text[start:end].replace("\n", " ") + tail
        return f"{self.message} ({where})\n  {shown}\n  {' ' * (len(head) + pos - start)}^"


class ShapeMismatch(DeriveError):
    """Two operands whose shapes do not fit the operation between them."""

    def __init__(self, operation: str, left: str, right: str, left_shape, right_shape, why: str):
        self.operation = operation
        self.left, self.right = left, right
        self.left_shape, self.right_shape = left_shape, right_shape
        self.why = why
        # (n2×m)·(n1×n2) for a product; "(n1×n0) and (n1×1)" where the shapes must be equal
        joint = "·" if operation == "matrix product" else " and "
        super().__init__(
            f"{operation} {left} and {right}: ({_fmt(left_shape)}){joint}({_fmt(right_shape)})"
            f" — {why}"
        )


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape)


class ProofFailure(DeriveError):
    """A formula the engine produced did not pass its own proof: never printed as a result."""

    exit_code = 3


class ResourceLimit(DeriveError):
    """A request whose work estimate exceeds a documented limit (``derive.limits``): refused
    before anything is allocated, naming the limit and the flag that narrows the work."""

    def __init__(self, name: str, amount: int, limit: int, unit: str, flag: str, what: str = ""):
        self.name, self.amount, self.limit, self.unit, self.flag = name, amount, limit, unit, flag
        asked = f"{what} needs" if what else "this needs"
        exact = human(amount, unit) == human(limit, unit)  # 1.0 MiB over 1.0 MiB: say the bytes
        super().__init__(
            f"{asked} {human(amount, unit, exact)}, over the limit of {human(limit, unit, exact)} "
            f"({name}); narrow the work with {flag}"
        )


class InternalError(DeriveError):
    """A bug in derive itself, not in the input (exit code 3); the CLI asks for a report."""

    exit_code = 3


def human(amount: int, unit: str, exact: bool = False) -> str:
    """``amount`` of ``unit`` as a person reads it: 80,000,000,000 bytes is "74.5 GiB" (with
    ``exact``, "80,000,000,000 bytes")."""
    if unit != "bytes" or exact:
        return f"{amount:,} {unit}"
    size = float(amount)
    for suffix in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.0f} {suffix}" if suffix == "bytes" else f"{size:.1f} {suffix}"
        size /= 1024
    return f"{size:.1f} TiB"
