"""The result of checking a snippet: one :class:`GradientResult` per gradient it computes.

``CodeResult.to_dict()`` is the object ``derive check --code FILE --json`` prints:
``{"verdict": ..., "results": [{"line": 5, "name": "dW", "function": "linear_backward",
"verdict": ..., ...every field of Verdict.to_dict()}], "problems": [...]}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.check.verdict import EXIT_CODES, SEVERITY, Verdict


@dataclass(frozen=True)
class GradientResult:
    """One gradient of the snippet: the line of its final assignment, its name as written,
    the function it is computed in (None outside any), and its verdict."""

    line: int
    name: str
    verdict: Verdict
    function: str | None = None
    # the snippet's wrong gradients this one's value depends on (each {"name", "line",
    # "target"}): judged on its own it may be correct, but the value returned is wrong
    uses_wrong: tuple[dict, ...] = ()

    @property
    def wrong(self) -> bool:
        """Whether the value the code computes is wrong: its own verdict, or one it uses."""
        return EXIT_CODES[self.verdict.verdict] == 1 or bool(self.uses_wrong)

    @property
    def target(self) -> str | None:
        return self.verdict.target

    def to_dict(self) -> dict:
        return {"line": self.line, "name": self.name, "function": self.function,
                **self.verdict.to_dict(), "uses_wrong": [dict(u) for u in self.uses_wrong]}


@dataclass(frozen=True)
class CodeResult:
    """Every gradient's result, in the order the code computes them, and the problems that
    stopped a part of the code from being read (each naming its line)."""

    results: list[GradientResult] = field(default_factory=list)
    problems: tuple[str, ...] = ()
    internal: bool = False  # a part of the code hit a bug in derive (named in problems)
    notes: tuple[str, ...] = ()  # gradients read but not checked (dX, which derive does not derive)

    @property
    def verdict(self) -> str:
        """The summary: ``correct`` if every gradient is and the whole code was read; else the
        worst wrong verdict if any gradient is wrong (one that uses a wrong gradient counts as
        ``not_equivalent``); else ``parse_error`` (nothing wrong, but a part of the code, or all
        of it, could not be read); ``internal_error`` if a part hit a bug in derive."""
        verdicts = [r.verdict.verdict for r in self.results]
        if self.internal or "internal_error" in verdicts:
            return "internal_error"
        if not verdicts:
            return "parse_error"
        wrong = [v for v in verdicts if EXIT_CODES[v] == 1]
        if not wrong and any(r.uses_wrong for r in self.results):
            wrong = ["not_equivalent"]  # correct on its own, but computed from a wrong gradient
        if not wrong and self.problems:
            return "parse_error"  # what was read is right, but a part could not be read
        return max(wrong or verdicts, key=SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        """0 all correct, 1 any gradient wrong, 2 none wrong but some unreadable (or none
        read at all), 3 a bug in derive."""
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "results": [r.to_dict() for r in self.results],
                "problems": list(self.problems), "notes": list(self.notes),
                "internal": self.internal}

    def __iter__(self):
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


__all__ = ["CodeResult", "GradientResult"]
