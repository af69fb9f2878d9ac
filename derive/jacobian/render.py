"""Text, LaTeX and JSON for a :class:`derive.jacobian.JacobianResult`, and its entries as numbers.

Entry symbols print in the course's names with 1-based indices: ``W1_0_1`` is ``W[1]₁₂`` in text
and ``W^{[1]}_{12}`` in LaTeX; a generic g[l]′ prints as ``g[1]′(Z[1]₁₁)``.

>>> import sympy as sp
>>> entry_text(sp.Symbol("W1_0_1") * sp.Symbol("X_1_0"))
'W[1]₁₂·X₂₁'
>>> entry_latex(sp.Symbol("Z2_1_1"))
'Z^{[2]}_{22}'
"""

from __future__ import annotations

import re

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from derive.core.expr import as_sympy

_ENTRY = re.compile(r"(dJd)?(d?(?:X|Y|[WbZA]\d+))_(\d+)_(\d+)")
_DIGITS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
GRID_WIDTH = 16  # entries wider than this are listed one per line instead of drawn in blocks


def _parts(name: str):
    """``W1_0_1`` → ("W", 1, 1, 2, False); ``dZ2_0_0`` → ("dZ", 2, …); ``dJdZ1_0_0`` is ∂J/∂Z."""
    hit = _ENTRY.fullmatch(name)
    if hit is None:
        return None
    stem, i, j = hit[2], int(hit[3]) + 1, int(hit[4]) + 1
    d = "d" if stem.startswith("d") else ""
    stem = stem[len(d):]
    base, layer = (stem, None) if stem in ("X", "Y") else (stem[0], int(stem[1:]))
    return d + base, layer, i, j, bool(hit[1])


def _sub(i: int, j: int | None) -> str:
    idx = [i] if j is None else [i, j]
    sep = "," if any(x > 9 for x in idx) else ""
    return sep.join(str(x) for x in idx)


def _bias_index(base: str, i: int, j: int) -> tuple[int, int | None]:
    if base != "b":
        return i, j
    return (i, None) if j == 1 else (j, None)


def _gname(fn) -> tuple[str, str] | None:
    name = fn.__name__
    if name.startswith("g") and name[1:].isdigit():
        return f"g[{name[1:]}]", f"g^{{[{name[1:]}]}}"
    if name == "ℓ":
        return "ℓ", r"\ell"
    return None


def _undef_derivative(expr):
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
    def _print_Symbol(self, expr):
        parts = _parts(expr.name)
        if parts is None:
            return expr.name
        base, layer, i, j, grad = parts
        from derive.network.symbols import text_name

        i, j = _bias_index(base.lstrip("d"), i, j)
        name = f"{text_name(base, layer)}{_sub(i, j).translate(_DIGITS)}"
        return f"∂J/∂{name}" if grad else name

    def _print_Function(self, expr):
        names = _gname(expr.func)
        if names is None:
            return super()._print_Function(expr)
        return f"{names[0]}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Derivative(self, expr):
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Derivative(expr)

    def _print_Subs(self, expr):
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Subs(expr)

    def _undef(self, found):
        fn, args, which = found
        names = _gname(fn) or (fn.__name__, fn.__name__)
        inner = ", ".join(self._print(a) for a in args)
        if len(args) == 1:
            return f"{names[0]}′({inner})"
        return f"∂{names[0]}/∂{'ay'[which] if len(args) == 2 else which}({inner})"


class _Latex(LatexPrinter):
    def _print_Symbol(self, expr, style="plain"):
        parts = _parts(expr.name)
        if parts is None:
            return super()._print_Symbol(expr)
        base, layer, i, j, grad = parts
        from derive.network.symbols import latex_name

        i, j = _bias_index(base.lstrip("d"), i, j)
        name = f"{latex_name(base, layer)}_{{{_sub(i, j)}}}"
        return rf"\frac{{\partial J}}{{\partial {name}}}" if grad else name

    def _print_Function(self, expr, exp=None):
        names = _gname(expr.func)
        if names is None:
            return super()._print_Function(expr, exp)
        out = rf"{names[1]}\left({', '.join(self._print(a) for a in expr.args)}\right)"
        return out if exp is None else rf"{out}^{{{exp}}}"

    def _print_Derivative(self, expr):
        found = _undef_derivative(expr)
        return self._undef(found) if found else super()._print_Derivative(expr)

    def _print_Subs(self, subs):
        found = _undef_derivative(subs)
        return self._undef(found) if found else super()._print_Subs(subs)

    def _undef(self, found):
        fn, args, which = found
        names = _gname(fn) or (fn.__name__, fn.__name__)
        inner = ", ".join(self._print(a) for a in args)
        if len(args) == 1:
            return rf"{names[1]}^{{\prime}}\left({inner}\right)"
        var = "ay"[which] if len(args) == 2 else str(which)
        return rf"\frac{{\partial {names[1]}}}{{\partial {var}}}\left({inner}\right)"


def entry_text(expr) -> str:
    """One entry in text: course names, 1-based indices, ``·`` for products."""
    s = _Text({"order": "none"}).doprint(as_sympy(expr))
    s = re.sub(r"\*\*2(?!\d)", "²", s)
    return s.replace("**", "^").replace("*", "·")


def entry_latex(expr) -> str:
    return _Latex({"mul_symbol": None}).doprint(as_sympy(expr))


# -- numbers -----------------------------------------------------------------------------------
def numeric(result, values, standins=None) -> np.ndarray:
    """The array at concrete leaf values (see :meth:`JacobianResult.at`)."""
    from derive.jacobian.forms import with_standins

    syms, vals = [], []
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
    out = np.array(fn(*vals), dtype=float)
    return out.reshape(result.shape)


# -- text --------------------------------------------------------------------------------------
def _shape(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "1×1 (a scalar)"


def convention_text(result) -> str:
    of, wrt = result.of.text, result.wrt.text
    if result.of.base == "J":
        return (f"Entry (k, l) is ∂J/∂{wrt}ₖₗ: a scalar's derivative has the shape of "
                f"{wrt}; indices from 1.")
    k, l = result.wrt_shape
    return (f"Block (i, j) is the {k}×{l} matrix ∂{of}ᵢⱼ/∂{wrt}ₖₗ over (k, l); "
            "indices from 1.")


def header_text(result) -> str:
    of, wrt, net = result.of, result.wrt, result.network
    lines = [
        f"∂{of.text}/∂{wrt.text}: shape {_shape(result.shape)}  "
        f"({of.text} is {_shape(result.of_shape)}, {wrt.text} is {_shape(result.wrt_shape)}); "
        f"{result.size} entries, {result.nonzero} nonzero",
        f"network: {net.describe()}; m = {result.m}",
        convention_text(result),
    ]
    return "\n".join(lines)


def zeros_text(result) -> str:
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


def array_text(result) -> str:
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


def _list_text(result, strings) -> str:
    of, wrt = result.of.text, result.wrt.text
    lines = ["Zero pattern (■ nonzero, · zero), laid out as the blocks:"]
    lines += pattern_text(result).splitlines()
    lines.append("Nonzero entries:")
    for idx, s in strings.items():
        if s == "0":
            continue
        one = tuple(i + 1 for i in idx)
        if result.of.base == "J":
            lines.append(f"  ∂J/∂{wrt}{_sub(*one).translate(_DIGITS)} = {s}")
        else:
            i, j, k, l = one
            lines.append(f"  ∂{of}{_sub(i, j).translate(_DIGITS)}/∂{wrt}"
                         f"{_sub(k, l).translate(_DIGITS)} = {s}")
    return "\n".join(lines)


def pattern_text(result) -> str:
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


def result_text(result) -> str:
    return "\n".join([header_text(result), "", array_text(result), "", zeros_text(result)])


# -- LaTeX -------------------------------------------------------------------------------------
def _bmatrix(rows: list[list[str]]) -> str:
    body = r" \\ ".join(" & ".join(r) for r in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def array_latex(result) -> str:
    disp = result.display
    cells = {idx: entry_latex(disp[idx]) for idx in _indices(result.shape)}
    of, wrt = result.of.latex, result.wrt.latex
    lhs = rf"\frac{{\partial {of}}}{{\partial {wrt}}}"
    long = max(len(c) for c in cells.values()) > 60
    if long:
        lines = []
        for idx, c in cells.items():
            if c == "0":
                continue
            one = tuple(i + 1 for i in idx)
            if result.of.base == "J":
                lines.append(rf"\frac{{\partial J}}{{\partial {wrt}_{{{_sub(*one)}}}}} &= {c}")
            else:
                i, j, k, l = one
                lines.append(rf"\frac{{\partial {of}_{{{_sub(i, j)}}}}}"
                             rf"{{\partial {wrt}_{{{_sub(k, l)}}}}} &= {c}")
        return "\\begin{align*}\n" + " \\\\\n".join(lines) + "\n\\end{align*}"
    if result.of.base == "J":
        k, l = result.shape
        return rf"\[ {lhs} = " + _bmatrix([[cells[a, b] for b in range(l)]
                                           for a in range(k)]) + r" \]"
    I, Jn, K, L = result.shape
    outer = [[_bmatrix([[cells[i, j, k, l] for l in range(L)] for k in range(K)])
              for j in range(Jn)] for i in range(I)]
    return rf"\[ {lhs} = " + _bmatrix(outer) + r" \]"


def result_latex(result, level: str = "section") -> str:
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
def result_dict(result) -> dict:
    def nested(fn):
        flat = [fn(result.array[idx], result.display[idx]) for idx in _indices(result.shape)]
        from derive.jacobian.tensor import _nested

        return _nested(flat, result.shape)

    return {
        "of": result.of.text,
        "wrt": result.wrt.text,
        "network": result.network.to_dict(),
        "m": result.m,
        "shape": list(result.shape),
        "index_convention": convention_text(result),
        "entries": nested(lambda raw, disp: sp.sstr(raw)),
        "display": nested(lambda raw, disp: entry_text(disp)),
        "zero_pattern": nested(lambda raw, disp: raw == 0),
        "nonzero": result.nonzero,
        "deltas": [f"{p}={q}" for p, q in result.deltas],
        "rule": None if result.rule is None else {
            "text": result.rule.text, "latex": result.rule.latex, "why": result.rule.why},
    }


def _indices(shape):
    import itertools

    return list(itertools.product(*map(range, shape)))
