"""The convention, decided once: where the examples run, the order of a layer's products, shapes.

``columns`` (the Deep Learning Specialization's): one column per example, Z = W A + b.
``rows`` (CS231n's): one row per example, Z = A W + b. Everything that depends on the convention
asks the network's :class:`Layout` (``net.layout``); nothing else compares the convention's name.

>>> cols, rows = LAYOUTS["columns"], LAYOUTS["rows"]
>>> cols.batch(3, "m"), rows.batch(3, "m")
((3, 'm'), ('m', 3))
>>> cols.ordered("W", "A"), rows.ordered("W", "A")
(('W', 'A'), ('A', 'W'))
>>> cols.example_sum_axis, rows.example_sum_axis, cols.identity("weight_gradient"), rows.identity("bias_gradient")
(1, 0, 'weight_gradient', 'bias_gradient_rows')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Layout:
    """One convention: ``columns`` is True when each example is a column."""

    name: str
    columns: bool

    # -- axes ---------------------------------------------------------------------------------
    @property
    def unit_axis(self) -> int:
        """The numpy axis of a (..., rows, cols) array that runs over units (softmax's axis)."""
        return -2 if self.columns else -1

    @property
    def example_axis(self) -> int:
        """The numpy axis of a (..., rows, cols) array that runs over examples."""
        return -1 if self.columns else -2

    @property
    def example_sum_axis(self) -> int:
        """The 2-D ``axis=`` that sums over examples: db = np.sum(dZ, axis=this, keepdims=True)."""
        return 1 if self.columns else 0

    @property
    def unit_sum_axis(self) -> int:
        """The 2-D ``axis=`` that sums over a layer's units (per example)."""
        return 0 if self.columns else 1

    def examples(self, array: Any) -> int:
        """How many examples an (..., rows, cols) array holds."""
        return int(array.shape[self.example_axis])

    def units(self, array: Any) -> int:
        """How many units an (..., rows, cols) array holds."""
        return int(array.shape[self.unit_axis])

    # -- shapes -------------------------------------------------------------------------------
    def batch(self, units: T, examples: T) -> tuple[T, T]:
        """The shape of a per-example quantity (X, Z, A, Y): units × examples, or the transpose."""
        return (units, examples) if self.columns else (examples, units)

    def weight(self, n_out: T, n_in: T) -> tuple[T, T]:
        """The shape of W[l]: n[l]×n[l-1] (columns) or n[l-1]×n[l] (rows)."""
        return (n_out, n_in) if self.columns else (n_in, n_out)

    def bias(self, n: T, one: T) -> tuple[T, T]:
        """The shape of b[l]: n[l]×1 (columns) or 1×n[l] (rows)."""
        return (n, one) if self.columns else (one, n)

    # -- products ------------------------------------------------------------------------------
    def ordered(self, first: T, second: T) -> tuple[T, T]:
        """The factors of a product written ``first second`` in the columns convention, in this
        convention's order (rows transposes every product, so the order flips):
        W A ↔ A W, Wᵀ dZ ↔ dZ Wᵀ, dZ Aᵀ ↔ Aᵀ dZ."""
        return (first, second) if self.columns else (second, first)

    def identity(self, base: str) -> str:
        """The name in ``rules/identities.toml`` of a convention-specific identity."""
        return base if self.columns else f"{base}_rows"

    # -- words ---------------------------------------------------------------------------------
    @property
    def example_word(self) -> str:
        """What one example is: a "column" or a "row"."""
        return "column" if self.columns else "row"

    def statement(self) -> str:
        """The convention in words, as every output prints it."""
        if self.columns:
            return (
                "convention columns: X = A[0] is n0×m (one column per example); W[l] is n[l]×n[l-1]; "
                "b[l] is n[l]×1, broadcast over the m columns; Z[l] = W[l] A[l-1] + b[l]; A[l] = g[l](Z[l])"
            )
        return (
            "convention rows: X = A[0] is m×n0 (one row per example); W[l] is n[l-1]×n[l]; "
            "b[l] is 1×n[l], broadcast over the m rows; Z[l] = A[l-1] W[l] + b[l]; A[l] = g[l](Z[l])"
        )


LAYOUTS: dict[str, Layout] = {"columns": Layout("columns", True), "rows": Layout("rows", False)}
