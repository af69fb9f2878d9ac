"""The checker's result: a :class:`Verdict` with its :class:`Mistake` list, as JSON and in a notebook.

``Verdict.to_dict()`` is the object ``derive check --json`` prints (docs/checking.md pins it).

>>> v = Verdict("not_equivalent", "dW[1]", (Mistake("missing_scale", "The factor 1/m is missing."),))
>>> v.exit_code, v.to_dict()["mistakes"]
(1, [{'code': 'missing_scale', 'message': 'The factor 1/m is missing.'}])
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.core.names import code_of_text

# internal_error: a bug in derive itself (derive.errors.InternalError), never the input's fault;
# the message asks for a report. Exit code 3, as for every internal error of the CLI.
VERDICTS = ("correct", "shape_error", "not_equivalent", "parse_error", "internal_error")
EXIT_CODES = {"correct": 0, "shape_error": 1, "not_equivalent": 1, "parse_error": 2,
              "internal_error": 3}
SEVERITY = {"correct": 0, "not_equivalent": 1, "shape_error": 2, "parse_error": 3,
            "internal_error": 4}


@dataclass(frozen=True)
class Mistake:
    """One mistake: a code of the mistake catalogue (:mod:`derive.check.mistakes`, listed in
    docs/checking.md) and one plain sentence."""

    code: str
    message: str
    # the student's formula with the edits that name this mistake (and any other mistake found
    # with it) made, printed: "dW[2] = (1/m) dZ[2] A[1]ᵀ"; None where the diagnosis found none
    fix: str | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, eq=False)
class Verdict:
    """The checker's answer; ``to_dict()`` is the JSON object of ``derive check --json``."""

    verdict: str  # one of VERDICTS
    target: str | None = None
    mistakes: tuple[Mistake, ...] = ()
    message: str = ""
    expected: str | None = None
    expected_latex: str | None = None
    counterexample: dict | None = None
    notes: tuple[str, ...] = ()
    position: int | None = None  # 0-based offset of a parse error in the equation
    syntax: str | None = None  # "latex" or "text", as detected
    network: dict | None = field(default=None)
    dialect: str | None = None  # whose names were read: course, cs231n, nielsen, logreg, ...
    # the assumptions a correct verdict rests on ("only when m = 1 (one example)"): the formula
    # is right under them, and only then (derive.check.conditions)
    conditions: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    @property
    def fix(self) -> str | None:
        """The student's own formula corrected by the smallest edit the diagnosis found, as the
        engine prints formulas (``dW[2] = (1/m) dZ[2] A[1]ᵀ``); the checker calls it correct.
        None when correct, when no edit was found (``other``), and for a generic index l (each
        layer has its own fix)."""
        names = (self.target, code_of_text(self.target)) if self.target else ()
        for mk in self.mistakes:  # dγ[1] may be fixed as dgamma1 (where γ is not read back)
            if mk.fix and any(n and mk.fix.startswith(f"{n} = ") for n in names):
                return mk.fix
        return None

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "target": self.target,
            "mistakes": [m.to_dict() for m in self.mistakes],
            "message": self.message,
            "expected": self.expected,
            "expected_latex": self.expected_latex,
            "fix": self.fix,
            "counterexample": self.counterexample,
            "notes": list(self.notes),
            "position": self.position,
            "syntax": self.syntax,
            "network": self.network,
            "dialect": self.dialect,
            "conditions": list(self.conditions),
        }

    def _repr_latex_(self) -> str:
        head = rf"\text{{{self.verdict.replace('_', ' ')}}}"
        return f"${head}\\quad {self.expected_latex}$" if self.expected_latex else f"${head}$"

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)

    def __str__(self) -> str:
        return f"{self.verdict}: {self.message}"
