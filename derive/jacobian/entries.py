"""How the entries of a Jacobian print: course names, 1-based indices, g′ and ∂ℓ/∂a.

Entry symbols print in the course's names with 1-based indices: ``W1_0_1`` is ``W[1]₁₂`` in text
and ``W^{[1]}_{12}`` in LaTeX; a generic g[l]′ prints as ``g[1]′(Z[1]₁₁)``. Also the small helpers
every part of ``derive jacobian`` prints numbers and prose with.

>>> import sympy as sp
>>> entry_text(sp.Symbol("W1_0_1") * sp.Symbol("X_1_0"))
'W[1]₁₂·X₂₁'
>>> entry_latex(sp.Symbol("Z2_1_1"))
'Z^{[2]}_{22}'
>>> print(tex_escape("∂J/∂W[1]ᵀ"))
$\\partial$J/$\\partial$W[1]$^{\\top}$
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from derive.core.expr import as_sympy
from derive.core.names import latex_name, text_name

_ENTRY = re.compile(r"(dJd)?(d?(?:X|Y|[WbZA]\d+))_(\d+)_(\d+)")
DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")  # 12 → ₁₂


def _parts(name: str) -> tuple[str, int | None, int, int, bool] | None:
    """``W1_0_1`` → ("W", 1, 1, 2, False); ``dZ2_0_0`` → ("dZ", 2, …); ``dJdZ1_0_0`` is ∂J/∂Z."""
    hit = _ENTRY.fullmatch(name)
    if hit is None:
        return None
    stem, i, j = hit[2], int(hit[3]) + 1, int(hit[4]) + 1
    d = "d" if stem.startswith("d") else ""
    stem = stem[len(d):]
    base, layer = (stem, None) if stem in ("X", "Y") else (stem[0], int(stem[1:]))
    return d + base, layer, i, j, bool(hit[1])


def subscript(i: int, j: int | None = None) -> str:
    """1-based indices as a subscript: ``12``, or ``1,12`` when one passes 9."""
    idx = [i] if j is None else [i, j]
    sep = "," if any(x > 9 for x in idx) else ""
    return sep.join(str(x) for x in idx)


def _bias_index(base: str, i: int, j: int) -> tuple[int, int | None]:
    if base != "b":
        return i, j
    return (i, None) if j == 1 else (j, None)


def _gname(fn: Any) -> tuple[str, str] | None:
    name = fn.__name__
    if name.startswith("g") and name[1:].isdigit():
        return f"g[{name[1:]}]", f"g^{{[{name[1:]}]}}"
    if name == "ℓ":
        return "ℓ", r"\ell"
    return None


Undef = tuple[Any, list[sp.Expr], int]  # (the undefined function, its arguments, which one varies)


def _undef_derivative(expr: sp.Expr) -> Undef | None:
    """(function, point args, which arg) for g′ / ∂ℓ/∂a written as Derivative or Subs."""
    if isinstance(expr, sp.Subs):
        inner, vars_, points = expr.expr, expr.variables, expr.point
        if isinstance(inner, sp.Derivative) and isinstance(inner.expr, AppliedUndef) \
                and len(inner.variables) == 1:
            f = inner.expr
            args = [points[vars_.index(a)] if a in vars_ else a for a in f.args]
            return f.func, args, f.args.index(inner.variables[0])
        return None
    if isinstance(expr, sp.Derivative) and isinstance(expr.expr, AppliedUndef) \
            and len(expr.variables) == 1 and expr.variables[0] in expr.expr.args:
        f = expr.expr
        return f.func, list(f.args), f.args.index(expr.variables[0])
    return None


class _Text(StrPrinter):
    def _print_Symbol(self, expr: sp.Symbol) -> str:
        parts = _parts(expr.name)
        if parts is None:
            return expr.name
        base, layer, i, j, grad = parts
        name = f"{text_name(base, layer)}{subscript(*_bias_index(base.lstrip('d'), i, j)).translate(DIGITS)}"
        return f"∂J/∂{name}" if grad else name

    def _print_Function(self, expr: sp.Function) -> str:
        names = _gname(expr.func)
        if names is None:
            return super()._print_Function(expr)
        return f"{names[0]}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Derivative(expr)

    def _print_Subs(self, expr: sp.Subs) -> str:
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Subs(expr)

    def _undef(self, found: Undef) -> str:
        fn, args, which = found
        names = _gname(fn) or (fn.__name__, fn.__name__)
        inner = ", ".join(self._print(a) for a in args)
        if len(args) == 1:
            return f"{names[0]}′({inner})"
        return f"∂{names[0]}/∂{'ay'[which] if len(args) == 2 else which}({inner})"


class _Latex(LatexPrinter):
    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        parts = _parts(expr.name)
        if parts is None:
            return super()._print_Symbol(expr)
        base, layer, i, j, grad = parts
        name = f"{latex_name(base, layer)}_{{{subscript(*_bias_index(base.lstrip('d'), i, j))}}}"
        return rf"\frac{{\partial J}}{{\partial {name}}}" if grad else name

    def _print_Function(self, expr: sp.Function, exp: str | None = None) -> str:
        names = _gname(expr.func)
        if names is None:
            return super()._print_Function(expr, exp)
        out = rf"{names[1]}\left({', '.join(self._print(a) for a in expr.args)}\right)"
        return out if exp is None else rf"{out}^{{{exp}}}"

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Derivative(expr)

    def _print_Subs(self, subs: sp.Subs) -> str:
        found = _undef_derivative(subs)
        return self._undef(found) if found else super()._print_Subs(subs)

    def _undef(self, found: Undef) -> str:
        fn, args, which = found
        names = _gname(fn) or (fn.__name__, fn.__name__)
        inner = ", ".join(self._print(a) for a in args)
        if len(args) == 1:
            return rf"{names[1]}^{{\prime}}\left({inner}\right)"
        var = "ay"[which] if len(args) == 2 else str(which)
        return rf"\frac{{\partial {names[1]}}}{{\partial {var}}}\left({inner}\right)"


def entry_text(expr: sp.Basic | int) -> str:
    """One entry in text: course names, 1-based indices, ``·`` for products."""
    s = _Text({"order": "none"}).doprint(as_sympy(expr))
    s = re.sub(r"\*\*2(?!\d)", "²", s)
    return s.replace("**", "^").replace("*", "·")


def entry_latex(expr: sp.Basic | int) -> str:
    return _Latex({"mul_symbol": None}).doprint(as_sympy(expr))


# -- numbers and prose --------------------------------------------------------------------------
def num(x: float) -> str:
    return f"{x:.4f}"


def matrix_text(v: np.ndarray, mark: Collection[tuple[int, int]] = frozenset()) -> list[str]:
    """A numeric matrix as bracketed text lines; entries at 1-based ``mark`` carry a ``*``."""
    cells = [[num(x) + ("*" if (i + 1, j + 1) in mark else " ") for j, x in enumerate(row)]
             for i, row in enumerate(v)]
    w = max(len(c) for row in cells for c in row)
    return ["[ " + "  ".join(c.rjust(w) for c in row) + " ]" for row in cells]


def bmatrix_numbers(v: np.ndarray) -> str:
    rows = r" \\ ".join(" & ".join(f"{x:.4f}" for x in row) for row in v)
    return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"


_TEX = {"∂": r"$\partial$", "ᵀ": r"$^{\top}$", "Σ": r"$\Sigma$", "×": r"$\times$",
        "·": r"$\cdot$", "⊙": r"$\odot$", "′": r"$'$", "—": "---", "−": "-", "…": r"\dots{}",
        "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "✗": "", "ₖ": r"$_k$", "ₗ": r"$_l$",
        "ᵢ": r"$_i$", "ⱼ": r"$_j$", "ℓ": r"$\ell$", "δ": r"$\delta$", "⊘": r"$\oslash$"}
_TEX.update({d: f"$_{i}$" for i, d in enumerate("₀₁₂₃₄₅₆₇₈₉")})


def tex_escape(s: str) -> str:
    """Prose with symbols (titles, error messages) as LaTeX text: symbols become math."""
    return "".join(_TEX.get(ch, ch) for ch in s)
