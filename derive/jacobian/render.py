"""The result of a Jacobian computation, and its text, LaTeX and JSON, and its entries as numbers.

:class:`JacobianResult` holds the array ∂of_ij/∂wrt_kl that :func:`derive.jacobian.tensor.jacobian`
computes; the functions below lay it out as blocks of matrices (text), ``bmatrix`` (LaTeX) or
nested lists (JSON), with entries printed by :mod:`derive.jacobian.entries`.

>>> from derive.jacobian.tensor import jacobian
>>> from derive.network.spec import Network
>>> print(pattern_text(jacobian("Z1", "W1", Network(depth=1))))
  ■ ■ │ ■ ■
  · · │ · ·
  ────┼────
  · · │ · ·
  ■ ■ │ ■ ■
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from derive.jacobian.entries import DIGITS, entry_latex, entry_text, subscript
from derive.jacobian.forms import ClosedForm, with_standins
from derive.jacobian.quantities import Key, Quantity, SymbolicModel, cells, nested, size_map
from derive.network.spec import Network

GRID_WIDTH = 16  # entries wider than this are listed one per line instead of drawn in blocks


@dataclass(frozen=True)
class JacobianResult:
    """∂of/∂wrt on concrete sizes. ``array[i][j][k][l] = ∂of_ij/∂wrt_kl`` (a sympy.Array; for J,
    ``array[k][l]``); ``zero_pattern`` has the same shape, True where the entry is identically 0;
    ``deltas`` the index pairs (p, q) with every nonzero entry on p = q (a factor δ_pq);
    ``display`` the entries with forward quantities abbreviated (Z[l]ᵢⱼ for its expression)."""

    of: Quantity
    wrt: Quantity
    network: Network
    m: int
    array: sp.NDimArray
    display: sp.NDimArray
    zero_pattern: tuple[Any, ...]
    deltas: tuple[tuple[str, str], ...]
    rule: ClosedForm | None
    model: SymbolicModel = field(repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)

    @property
    def of_shape(self) -> tuple[int, ...]:
        return self.shape[:-2]

    @property
    def wrt_shape(self) -> tuple[int, ...]:
        return self.shape[-2:]

    @property
    def size(self) -> int:
        return len(self.array)

    @property
    def nonzero(self) -> int:
        return sum(1 for e in sp.flatten(self.array) if e != 0)

    @property
    def sizes(self) -> dict[str, int]:
        """Every size it was computed at, as ``sizes=`` takes them: {"n0": 2, …, "m": 2}."""
        return size_map(self.network, self.m)

    def entry(self, *index: int) -> sp.Expr:
        """The entry at 1-based indices (i, j, k, l), as printed."""
        return self.array[tuple(i - 1 for i in index)]

    def at(self, values: Mapping[Key, Any], standins: Mapping | None = None) -> np.ndarray:
        """The array as numbers (numpy float64) at ``values[(base, layer)] = ndarray`` for every
        leaf (X, Y, W, b and the cut quantity); generic g{l} / ℓ replaced by ``standins``."""
        return numeric(self, values, standins)

    def to_text(self) -> str:
        return result_text(self)

    def to_latex(self) -> str:
        return result_latex(self)

    def to_dict(self) -> dict[str, Any]:
        return result_dict(self)

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)



# -- numbers -----------------------------------------------------------------------------------
def numeric(result: JacobianResult, values: Mapping[Key, Any],
            standins: Mapping | None = None) -> np.ndarray:
    """The array at concrete leaf values (see :meth:`JacobianResult.at`)."""
    syms: list[sp.Symbol] = []
    vals: list[float] = []
    for key, mat in result.model.leaves.items():
        if key not in values:
            continue
        v = np.asarray(values[key], dtype=float)
        if v.shape != mat.shape:
            raise ValueError(f"{key}: expected shape {mat.shape}, got {v.shape}")
        syms.extend(mat)
        vals.extend(v.reshape(-1))
    flat = [with_standins(e, result.network) for e in sp.flatten(result.array)]
    # our own expressions (the model's forward map), never user text
    fn = sp.lambdify(syms, flat, "numpy")
    out = np.asarray(fn(*vals), dtype=float)
    return out.reshape(result.shape)


# -- text --------------------------------------------------------------------------------------
def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "1×1 (a scalar)"


def convention_text(result: JacobianResult) -> str:
    of, wrt = result.of.text, result.wrt.text
    if result.of.base == "J":
        return (f"Entry (k, l) is ∂J/∂{wrt}ₖₗ: a scalar's derivative has the shape of "
                f"{wrt}; indices from 1.")
    k, l = result.wrt_shape
    return (f"Block (i, j) is the {k}×{l} matrix ∂{of}ᵢⱼ/∂{wrt}ₖₗ over (k, l); "
            "indices from 1.")


def header_text(result: JacobianResult) -> str:
    of, wrt, net = result.of, result.wrt, result.network
    lines = [
        f"∂{of.text}/∂{wrt.text}: shape {_shape(result.shape)}  "
        f"({of.text} is {_shape(result.of_shape)}, {wrt.text} is {_shape(result.wrt_shape)}); "
        f"{result.size} entries, {result.nonzero} nonzero",
        f"network: {net.describe()}; m = {result.m}",
        convention_text(result),
    ]
    return "\n".join(lines)


def zeros_text(result: JacobianResult) -> str:
    zeros = result.size - result.nonzero
    if result.nonzero == 0:
        return (f"All {result.size} entries vanish: {result.of.text} does not depend on "
                f"{result.wrt.text}.")
    lines = [f"{zeros} of {result.size} entries vanish."]
    if result.deltas:
        deltas = " ".join(f"δ{p.translate(_LETTER)}{q.translate(_LETTER)}"
                          for p, q in result.deltas)
        cond = ", ".join(f"{p} = {q}" for p, q in result.deltas)
        lines[0] += f" Kronecker deltas: {deltas} (zero unless {cond})."
    if result.rule is not None:
        lines.append(f"Every entry: {result.rule.text}   (checked against all {result.size})")
        lines.append(f"Why: {result.rule.why}.")
    return "\n".join(lines)


_LETTER = str.maketrans("ijkl", "ᵢⱼₖₗ")


def _bracket(rows: list[list[str]], widths: list[int]) -> list[str]:
    out = []
    n = len(rows)
    for r, row in enumerate(rows):
        left, right = ("[", "]") if n == 1 else (
            ("⎡", "⎤") if r == 0 else ("⎣", "⎦") if r == n - 1 else ("⎢", "⎥"))
        cells = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        out.append(f"{left} {cells} {right}")
    return out


def array_text(result: JacobianResult) -> str:
    """The array laid out as blocks (short entries) or listed entry by entry (long ones)."""
    disp = result.display
    strings = {idx: entry_text(disp[idx]) for idx in _indices(result.shape)}
    if max(len(s) for s in strings.values()) > GRID_WIDTH:
        return _list_text(result, strings)
    if result.of.base == "J":
        k, l = result.shape
        rows = [[strings[a, b] for b in range(l)] for a in range(k)]
        widths = [max(len(rows[a][b]) for a in range(k)) for b in range(l)]
        return "\n".join(_bracket(rows, widths))
    I, Jn, K, L = result.shape
    widths = [max(len(strings[i, j, k, l]) for i in range(I) for j in range(Jn) for k in range(K))
              for l in range(L)]
    blocks = {(i, j): _bracket([[strings[i, j, k, l] for l in range(L)] for k in range(K)], widths)
              for i in range(I) for j in range(Jn)}
    bw = len(blocks[0, 0][0])
    lab = len(f"i = {I}")
    lines = [" " * (lab + 2) + "   ".join(f"j = {j + 1}".ljust(bw) for j in range(Jn)).rstrip()]
    for i in range(I):
        for r in range(K):
            label = f"i = {i + 1}" if r == 0 else ""
            lines.append(f"{label.ljust(lab)}  " + "   ".join(blocks[i, j][r] for j in range(Jn)))
        if i < I - 1:
            lines.append("")
    return "\n".join(lines)


def _list_text(result: JacobianResult, strings: dict[tuple[int, ...], str]) -> str:
    of, wrt = result.of.text, result.wrt.text
    lines = ["Zero pattern (■ nonzero, · zero), laid out as the blocks:"]
    lines += pattern_text(result).splitlines()
    lines.append("Nonzero entries:")
    for idx, s in strings.items():
        if s == "0":
            continue
        one = tuple(i + 1 for i in idx)
        if result.of.base == "J":
            lines.append(f"  ∂J/∂{wrt}{subscript(*one).translate(DIGITS)} = {s}")
        else:
            i, j, k, l = one
            lines.append(f"  ∂{of}{subscript(i, j).translate(DIGITS)}/∂{wrt}"
                         f"{subscript(k, l).translate(DIGITS)} = {s}")
    return "\n".join(lines)


def pattern_text(result: JacobianResult) -> str:
    shape = result.shape
    mark = {idx: ("·" if result.array[idx] == 0 else "■") for idx in _indices(shape)}
    if len(shape) == 2:
        return "\n".join("  " + " ".join(mark[a, b] for b in range(shape[1]))
                         for a in range(shape[0]))
    I, Jn, K, L = shape
    lines = []
    for i in range(I):
        for k in range(K):
            lines.append("  " + " │ ".join(" ".join(mark[i, j, k, l] for l in range(L))
                                         for j in range(Jn)))
        if i < I - 1:
            lines.append("  " + "─┼─".join("─" * (2 * L - 1) for _ in range(Jn)))
    return "\n".join(lines)


def result_text(result: JacobianResult) -> str:
    return "\n".join([header_text(result), "", array_text(result), "", zeros_text(result)])


# -- LaTeX -------------------------------------------------------------------------------------
def _bmatrix(rows: list[list[str]]) -> str:
    body = r" \\ ".join(" & ".join(r) for r in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def array_latex(result: JacobianResult) -> str:
    disp = result.display
    shown = {idx: entry_latex(disp[idx]) for idx in _indices(result.shape)}
    of, wrt = result.of.latex, result.wrt.latex
    lhs = rf"\frac{{\partial {of}}}{{\partial {wrt}}}"
    long = max(len(c) for c in shown.values()) > 60
    if long:
        lines = []
        for idx, c in shown.items():
            if c == "0":
                continue
            one = tuple(i + 1 for i in idx)
            if result.of.base == "J":
                lines.append(rf"\frac{{\partial J}}{{\partial {wrt}_{{{subscript(*one)}}}}} &= {c}")
            else:
                i, j, k, l = one
                lines.append(rf"\frac{{\partial {of}_{{{subscript(i, j)}}}}}"
                             rf"{{\partial {wrt}_{{{subscript(k, l)}}}}} &= {c}")
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"
    if result.of.base == "J":
        k, l = result.shape
        return rf"\[ {lhs} = " + _bmatrix([[shown[a, b] for b in range(l)]
                                           for a in range(k)]) + r" \]"
    I, Jn, K, L = result.shape
    outer = [[_bmatrix([[shown[i, j, k, l] for l in range(L)] for k in range(K)])
              for j in range(Jn)] for i in range(I)]
    return rf"\[ {lhs} = " + _bmatrix(outer) + r" \]"


def result_latex(result: JacobianResult, level: str = "section") -> str:
    """A ``\\section{...}`` fragment (no preamble) a handout can ``\\input``."""
    of, wrt = result.of, result.wrt
    zeros = result.size - result.nonzero
    conv = (rf"Entry $(k, l)$ is $\partial J/\partial {wrt.latex}_{{kl}}$."
            if of.base == "J" else
            rf"Block $(i, j)$ is the matrix "
            rf"$\partial {of.latex}_{{ij}}/\partial {wrt.latex}_{{kl}}$"
            r" over $(k, l)$; indices from 1.")
    shape = _shape(result.shape).replace("×", r" \times ")
    parts = [
        rf"\{level}{{The Jacobian $\partial {of.latex}/\partial {wrt.latex}$}}",
        rf"Shape ${shape}$: {result.size} entries, "
        rf"{result.nonzero} nonzero; m = {result.m}, convention "
        rf"{result.network.convention}. {conv}",
        array_latex(result),
        f"{zeros} of {result.size} entries vanish.",
    ]
    if result.deltas:
        parts[-1] += " Kronecker deltas: " + ", ".join(
            rf"$\delta_{{{p}{q}}}$ (zero unless ${p} = {q}$)" for p, q in result.deltas) + "."
    if result.rule is not None:
        parts.append(rf"Every entry (checked against all {result.size}): "
                     rf"\[ {result.rule.latex} \]")
    return "\n\n".join(parts) + "\n"


# -- JSON --------------------------------------------------------------------------------------
def result_dict(result: JacobianResult) -> dict[str, Any]:
    def each(fn: Callable[[sp.Expr, sp.Expr], object]) -> tuple[Any, ...]:
        return nested([fn(result.array[idx], result.display[idx]) for idx in _indices(result.shape)],
                      result.shape)

    return {
        "of": result.of.text,
        "wrt": result.wrt.text,
        "network": result.network.to_dict(),
        "m": result.m,
        "shape": list(result.shape),
        "index_convention": convention_text(result),
        "entries": each(lambda raw, disp: sp.sstr(raw)),
        "display": each(lambda raw, disp: entry_text(disp)),
        "zero_pattern": each(lambda raw, disp: raw == 0),
        "nonzero": result.nonzero,
        "deltas": [f"{p}={q}" for p, q in result.deltas],
        "rule": None if result.rule is None else {
            "text": result.rule.text, "latex": result.rule.latex, "why": result.rule.why},
    }


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(cells(shape))
