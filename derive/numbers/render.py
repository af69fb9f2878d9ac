"""Rendering a worked example (and a student check) as text, a LaTeX section, or JSON.

The formula of each step is printed by :mod:`derive.core.printing` from the step's expression; the
substituted line is the SAME expression with every symbol replaced by its numbers (a placeholder
symbol is printed, then filled), so the substitution can never drift from the formula.

>>> from derive.network.spec import Network
>>> from derive.numbers.worked import worked_example
>>> w = worked_example(Network(layers=[1, 1], activations=["linear"], loss="mse"),
...                    {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.5]], "b1": [[0.0]]})
>>> print(text_step(w.steps[0], w.env(), w.m))
Z[1] = W[1] X + b[1]
     = 1.5 2 + 0
     = 3
"""

from __future__ import annotations

import json
import math

import numpy as np
import sympy as sp

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.core.matrix import transpose_latex
from derive.core.printing import to_latex, to_text
from derive.network.spec import dim_symbol
from derive.network.spec import m as m_symbol
from derive.render.latex import escape

MAX_SHOWN = 16  # a matrix with more entries is named, not written out


# -- numbers -------------------------------------------------------------------------------------
def fmt(x: float, digits: int = 8) -> str:
    x = float(x)
    if x == 0:
        return "0"
    if not math.isfinite(x):  # a student's value recomputed from huge numbers of their own
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"


def fmt_latex_number(x: float, digits: int = 6) -> str:
    s = fmt(x, digits)
    if "e" in s:
        mant, exp = s.split("e")
        return rf"{mant} \cdot 10^{{{int(exp)}}}"
    return s


def matrix_text(v: np.ndarray, digits: int = 8) -> str:
    v = np.asarray(v, dtype=float)
    if v.size == 1:
        return fmt(v.item(), digits)
    return "[" + "; ".join(", ".join(fmt(x, digits) for x in row) for row in v) + "]"


def matrix_latex(v: np.ndarray, digits: int = 6) -> str:
    v = np.asarray(v, dtype=float)
    if v.size == 1:
        return fmt_latex_number(v.item(), digits)
    body = r" \\ ".join(" & ".join(fmt_latex_number(x, digits) for x in row) for row in v)
    if v.shape[-1] > 10:  # amsmath's bmatrix takes at most 10 columns (MaxMatrixCols)
        return rf"\left[\begin{{array}}{{{'c' * v.shape[-1]}}} {body} \end{{array}}\right]"
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


# -- substitution --------------------------------------------------------------------------------
def _placeholders(expr: E.Expr, shown: dict, table: list):
    """The expression with each symbol replaced by a placeholder symbol ``⟨i⟩``, and m (and the
    sizes n[l]) in factors by a symbol that prints their value (``shown``)."""
    if isinstance(expr, E.Sym):
        table.append(expr)
        return E.Sym(f"⟨{len(table) - 1}⟩", None, expr.shape)
    if isinstance(expr, E.Scale):
        factor = as_sympy(expr.factor).subs(shown)
        return E.map_children(expr, lambda c: _placeholders(c, shown, table), factor=factor)
    return E.map_children(expr, lambda c: _placeholders(c, shown, table))


def substituted(expr: E.Expr, env: dict, m: int, latex: bool = False, sizes=None, lr=None) -> str:
    """``expr`` printed with the numbers of ``env`` in place of its symbols (m and, given
    ``sizes``, each n[l] of a factor by its value: the 2/n[L] of mse_units)."""
    table: list = []
    values = {m_symbol: sp.Symbol(str(m))}
    values.update({dim_symbol(l): sp.Symbol(str(s)) for l, s in enumerate(sizes or ()) if s is not None})
    if lr is not None:
        values[sp.Symbol("α")] = sp.Symbol(fmt(lr))
    shown = _placeholders(expr, values, table)
    s = to_latex(shown) if latex else to_text(shown)
    for i, sym in enumerate(table):
        value = np.asarray(env[sym.key], dtype=float)
        if value.size > MAX_SHOWN:
            num = (to_latex(sym) if latex else to_text(sym))
        elif latex:
            num = matrix_latex(value)
            if value.size == 1 and value.item() < 0:
                num = rf"\left({num}\right)"
        else:
            num = matrix_text(value)
            if value.size == 1 and value.item() < 0:
                num = f"({num})"
        if latex:  # A^{[1]} transposed is A^{[1]\top}, not A^{[1]}^{\top} (a LaTeX error)
            s = s.replace(f"⟨{i}⟩^{{\\top}}", transpose_latex(num))
        s = s.replace(f"⟨{i}⟩", num)
    return s


# -- text ----------------------------------------------------------------------------------------
def text_step(step, env: dict, m: int, sizes=None, lr=None) -> str:
    pad = " " * len(step.name)
    if step.given:  # a cache value: the formula's own value only when it differs
        lines = [f"{step.name} = {matrix_text(step.value)}   (given)"]
        if step.computed is not None and not np.allclose(step.computed, step.value, rtol=1e-9,
                                                         atol=1e-300):
            lines.append(f"{pad}   ({step.formula_text.split(' = ', 1)[1]} would give "
                         f"{matrix_text(step.computed)})")
        return "\n".join(lines)
    lines = [step.formula_text]
    lines.append(f"{pad} = {substituted(step.expr, env, m, sizes=sizes, lr=lr)}")
    lines.append(f"{pad} = {matrix_text(step.value)}")
    return "\n".join(lines)


def render_text(w) -> str:
    env = w.env()
    out = [f"Worked example: {w.network.describe()}"]
    out += [f"  note: {n}" for n in w.notes]
    heading = "forward model"
    if w.steps and w.steps[0].source == heading:
        out += ["", "Forward pass"]
    titles = {"derivation": "Backward pass (the derivation's formulas, each proven by `derive backward`)",
              "update": f"Update (gradient descent, learning rate α = {fmt(w.learning_rate or 0)})"}
    for s in w.steps:
        if s.source != heading:
            out += ["", titles[s.source]]
            heading = s.source
        out.append(text_step(s, env, w.m, w.network.layers, w.learning_rate))
    if w.warnings:
        out += ["", "Warnings"]
        out += [f"  ! {x.message}" for x in w.warnings]
    return "\n".join(out)


def render_check_text(r) -> str:
    out = [f"Checking the student's numbers ({_rule(r.tolerance)})", ""]
    width = max(len(c.name) for c in r.steps)
    for c in r.steps:
        mark = {"right": "ok   ", "not_given": "  -  ", "wrong": "WRONG", "wrong_shape": "SHAPE",
                "mislabelled": "LABEL", "given": "given"}[c.status]
        student = "" if c.student is None else ", ".join(x.text for x in c.student.entries())
        digits = 8 if c.value.size == 1 else 4
        line = f"  {mark} {c.name:<{width}}  true {matrix_text(c.value, digits)}"
        if c.student is not None:
            line += f"   yours ({c.written_as}) {student}"
        out.append(line)
        if c.message:
            out.append(f"        {c.message}")
        if c.likely:
            out.append(f"        likely: {c.likely}")
        if c.cause in ("follows_from_earlier", "carried_rounding") and c.recomputed is not None:
            out.append(f"        (from your values the formula gives {matrix_text(c.recomputed, 3)})")
    attached = {c.message for c in r.steps}
    for mlab in r.mislabelled:
        if mlab.message not in attached:
            out.append(f"  LABEL {mlab.message}")
    out.append("")
    first = r.first_wrong_step
    out.append("All steps right." if first is None and r.all_right else
               f"First wrong step: {first}" if first else "Numbers right; a label is wrong.")
    out += [f"  note: {n}" for n in r.notes]
    return "\n".join(out)


def _rule(tol) -> str:
    rule = "right if the true value rounds to the digits you wrote"
    return rule + (f", or within a relative {tol:g}" if tol else "")


# -- LaTeX ---------------------------------------------------------------------------------------
_UNICODE_TEX = {
    "σ": r"$\sigma$", "′": r"$'$", "ℓ": r"$\ell$", "Σ": r"$\Sigma$", "ₖ": r"$_k$", "½": r"$\tfrac12$",
    "−": "-", "⊙": r"$\odot$", "×": r"$\times$", "ᵀ": r"$^\top$", "≈": r"$\approx$", "²": r"$^2$",
    "ε": r"$\varepsilon$", "α": r"$\alpha$", "∂": r"$\partial$", "⊘": r"$\oslash$", "…": r"\ldots{}",
    "⁻": "-", "·": r"$\cdot$",
}


def tex_text(text: str) -> str:
    """Plain text (notes, warnings) for pdflatex: escaped, and the few symbols we print mapped."""
    out = escape(text)
    for u, t in _UNICODE_TEX.items():
        out = out.replace(u, t)
    return "".join(c if ord(c) < 128 else "?" for c in out)


def render_latex(w, title: str = "Worked example") -> str:
    """A section a handout can \\input (needs amsmath for bmatrix and aligned); no preamble."""
    env = w.env()
    out = [f"% derive numbers: {tex_text(w.network.describe())}", "% needs \\usepackage{amsmath}",
           rf"\section*{{{escape(title)}}}"]
    out += [rf"\noindent {tex_text(n)}\\" for n in w.notes]
    heading = None
    for s in w.steps:
        part = {"forward model": "Forward pass", "update": "Update"}.get(s.source, "Backward pass")
        if part != heading:
            out.append(rf"\subsection*{{{part}}}")
            heading = part
        lhs = s.formula_latex
        out.append(r"\[ \begin{aligned}")
        out.append(rf"  {lhs} \\")
        if not s.given:
            sub = substituted(s.expr, env, w.m, latex=True, sizes=w.network.layers, lr=w.learning_rate)
            out.append(rf"  &= {sub} \\")
        out.append(rf"  &= {matrix_latex(s.value)}")
        out.append(r"\end{aligned} \]")
    if w.warnings:
        out.append(r"\subsection*{Warnings}")
        out.append(r"\begin{itemize}")
        out += [rf"  \item {tex_text(x.message)}" for x in w.warnings]
        out.append(r"\end{itemize}")
    return "\n".join(out)


# -- JSON ----------------------------------------------------------------------------------------
def to_dict(w, report=None) -> dict:
    env = w.env()
    checks = {c.key: c for c in report.steps} if report is not None else {}
    steps = []
    for s in w.steps:
        item = {
            "name": s.code if s.key[0] != "gp" else f"g{s.key[1]}'(Z{s.key[1]})",
            "label": s.name, "formula": s.formula_text, "formula_latex": s.formula_latex,
            "substituted": None if s.given else substituted(s.expr, env, w.m, sizes=w.network.layers,
                                                            lr=w.learning_rate),
            "value": s.value.tolist(), "source": s.source, "given": s.given,
        }
        if s.given:
            item["computed"] = None if s.computed is None else _json_numbers(s.computed)
        c = checks.get(s.key)  # with a report, every step has its check
        if c is not None:
            item.update({
                "student_value": None if c.student is None else c.student.values().tolist(),
                "student_written": None if c.student is None else [x.text for x in c.student.entries()],
                "written_as": c.written_as, "status": c.status, "cause": c.cause,
                "because": list(c.because),
                "wrong_entries": [list(e) for e in c.wrong_entries],
                "new_slip_entries": [list(e) for e in c.new_slip_entries],
                "recomputed_from_student": None if c.recomputed is None or c.status == "not_given"
                else _json_numbers(c.recomputed),
                "message": c.message, "mistake": c.mistake, "likely": c.likely or None,
            })
        steps.append(item)
    out = {
        "network": w.network.to_dict(), "m": w.m,
        "given": {_code(k): v.tolist() for k, v in w.given.items()},
        "steps": steps, "warnings": [{"kind": x.kind, "message": x.message, "layer": x.layer}
                                     for x in w.warnings],
        "notes": list(w.notes), "learning_rate": w.learning_rate,
    }
    if report is not None:
        out["first_wrong_step"] = _first_code(w, report)
        out["all_right"] = report.all_right
        out["mislabelled"] = [{"written": x.written, "labelled_as": x.labelled_as,
                               "looks_like": x.looks_like, "message": x.message}
                              for x in report.mislabelled]
        out["rule"] = _rule(report.tolerance)
        out["tolerance"] = report.tolerance
        out["check_notes"] = list(report.notes)
    return out


def _first_code(w, report):
    name = report.first_wrong_step
    if name is None and report.mislabelled:
        name = report.mislabelled[0].labelled_as
    if name is None:
        return None
    s = next(s for s in w.steps if s.name == name)
    return s.code if s.key[0] != "gp" else f"g{s.key[1]}'(Z{s.key[1]})"


def _json_numbers(v) -> list:
    """An array as nested lists, an entry that is not finite as null (JSON has no inf or NaN; a
    recomputation from a student's own huge numbers can overflow)."""
    arr = np.asarray(v, dtype=float)
    return [[x if math.isfinite(x) else None for x in row] for row in arr.tolist()]


def _code(key) -> str:
    return key[0] if key[1] is None else f"{key[0]}{key[1]}"


def render_json(w, report=None) -> str:
    return json.dumps(to_dict(w, report), indent=2, ensure_ascii=False)
