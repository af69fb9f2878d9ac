"""What a proof found: :class:`FormulaProof` for one formula, :class:`Proof` for a derivation.

``cached`` is the date (UTC, ISO 8601) a formula's proofs were found when they come from the
proof cache (:mod:`derive.engine.proof_cache`), None when proven in this run; every output says
"proven (cached, <date>)" then (:meth:`Proof.cache_note`). Everything else is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FormulaProof:
    """The two proofs of one formula."""

    name: str  # e.g. "dW[1]"
    kind: str
    layer: int
    elementwise: str  # "exact" or "failed"
    entries: int  # entries compared exactly
    method: str  # what the element-wise proof differentiated
    fd_error: float  # relative error against central differences
    fd_passed: bool
    cached: str | None = None  # when the cache proved it (ISO 8601, UTC); None: this run

    @property
    def passed(self) -> bool:
        return self.elementwise == "exact" and self.fd_passed

    def to_dict(self) -> dict:
        return {
            "formula": self.name,
            "elementwise": self.elementwise,
            "entries": self.entries,
            "method": self.method,
            "fd_relative_error": self.fd_error,
            "fd_passed": self.fd_passed,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class Proof:
    formulas: tuple[FormulaProof, ...]
    identities: tuple[str, ...]  # catalogue derivatives proven by SymPy, e.g. "σ′ = a(1 − a)"
    eps: float
    threshold: float
    fd_sizes: tuple[int, ...]
    fd_m: int
    seed: int

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.formulas)

    @property
    def max_fd_error(self) -> float:
        return max((f.fd_error for f in self.formulas), default=0.0)

    @property
    def cached(self) -> tuple[int, str | None]:
        """How many formulas' proofs came from the cache, and the oldest such proof's date."""
        dates = [f.cached for f in self.formulas if f.cached is not None]
        return len(dates), min(dates, default=None)

    def status(self) -> str:
        """"all proven" or "FAILED"."""
        return "all proven" if self.passed else "FAILED"

    def cache_note(self) -> str:
        """"" when proven in this run, else "proven (cached, 2026-12-02)" (every formula) or
        "6 of 8 proven (cached, 2026-12-02), 2 now": what every output adds to the status."""
        count, oldest = self.cached
        if not count or oldest is None:
            return ""
        day = oldest[:10]
        if count == len(self.formulas):
            return f"proven (cached, {day})"
        return f"{count} of {len(self.formulas)} proven (cached, {day}), {len(self.formulas) - count} now"

    def to_dict(self) -> dict:
        count, oldest = self.cached
        return {
            "passed": self.passed,
            "cached": {"formulas": count, "oldest": oldest} if count else None,
            "elementwise": {
                "sizes": "2 or 3 per layer, m = 2",
                "identities": list(self.identities),
            },
            "finite_differences": {
                "eps": self.eps,
                "threshold": self.threshold,
                "sizes": list(self.fd_sizes),
                "m": self.fd_m,
                "seed": self.seed,
                "max_relative_error": self.max_fd_error,
            },
            "formulas": [f.to_dict() for f in self.formulas],
        }
