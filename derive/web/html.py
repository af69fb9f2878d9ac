"""HTML for notebooks: every result type of derive as Jupyter shows it (``_repr_html_``).

:func:`to_html` picks the renderer by the result's class name, so that the result modules can
call it from a two-line ``_repr_html_`` without this module importing them (it reads only the
objects' own fields and methods, and prints expressions with :mod:`derive.core.printing`).
Every string is escaped (:func:`html.escape`); maths is written as LaTeX between ``\\(`` and
``\\)``, escaped too, for the notebook's MathJax or KaTeX to typeset. The same page shows the
plain text when no typesetter runs.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> d = derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
>>> out = to_html(d)
>>> out.count('<tr class="formula">'), "proven" in out
(8, True)
>>> to_html(d.formulas[1])
'<div class="derive-formula">\\\\[dZ^{[2]} = A^{[2]} - Y\\\\]<br><code>dZ[2] = A[2] − Y</code></div>'
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
from typing import Any

from derive.core.printing import to_latex, to_text

esc = html.escape


def inline(latex: str) -> str:
    return f"\\({esc(latex)}\\)"


def display(latex: str) -> str:
    return f"\\[{esc(latex)}\\]"


def _notes(notes: Iterable[str], cls: str = "note") -> str:
    return "".join(f'<div class="{cls}"><i>{esc(str(n))}</i></div>' for n in notes)


def _num(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(str(x))
    return f"{v:.4g}" if math.isfinite(v) else esc(str(v))


def matrix(value: Any) -> str:
    """A numpy array (or nested lists) as a LaTeX bmatrix, numbers only, at most 8×8 shown."""
    rows = [list(r) if hasattr(r, "__iter__") else [r] for r in
            (value.tolist() if hasattr(value, "tolist") else value)] \
        if hasattr(value, "__iter__") or hasattr(value, "tolist") else [[value]]
    shown = [r[:8] + (["\\cdots"] if len(r) > 8 else []) for r in rows[:8]]
    if len(rows) > 8:
        shown.append(["\\vdots"])
    body = " \\\\ ".join(" & ".join(c if c in ("\\cdots", "\\vdots") else _num(c) for c in r)
                         for r in shown)
    return f"\\begin{{bmatrix}} {body} \\end{{bmatrix}}"


# -- one renderer per result type -----------------------------------------------------------------
def formula_html(f: Any) -> str:
    return (f'<div class="derive-formula">{display(f.latex)}<br>'
            f"<code>{esc(f.text)}</code></div>")


def derivation_html(d: Any) -> str:
    rows = "".join(f'<tr class="formula"><td>{inline(to_latex(f.target))}</td>'
                   f"<td>{inline(to_latex(f.expr))}</td><td><code>{esc(f.text)}</code></td></tr>"
                   for f in d.formulas)
    proof = d.proof
    status = ("not proven" if proof is None else
              "every formula proven (element-wise and finite differences)"
              + (f"; {proof.cache_note()}" if proof.cache_note() else "") if proof.passed
              else "the proof FAILED")
    return (f'<div class="derive-derivation"><b>{esc(d.network.describe())}</b>'
            f"<table>{rows}</table><div>{esc(status)}</div>{_notes(d.notes)}</div>")


def verdict_html(v: Any) -> str:
    label = v.verdict.replace("_", " ")
    parts = [f"<b>{esc(label)}</b>" + (f" &mdash; {esc(v.target)}" if v.target else "")]
    parts += [f"<div>condition: {esc(c)}</div>" for c in v.conditions]
    if v.message:
        parts.append(f"<pre>{esc(v.message)}</pre>")
    parts += [f"<div><code>{esc(m.code)}</code>: {esc(m.message)}</div>" for m in v.mistakes]
    if v.verdict != "correct" and v.expected_latex:
        parts.append(f"<div>correct: {display(v.expected_latex)}</div>")
    cex = v.counterexample
    if cex:
        sizes = ", ".join(f"{esc(str(k))}={esc(str(n))}" for k, n in cex.get("sizes", {}).items())
        parts.append(f"<div>counterexample ({sizes}): entry {esc(str(cex.get('entry')))} should "
                     f"be {_num(cex.get('expected_entry'))}, the formula gives "
                     f"{_num(cex.get('got_entry'))}</div>")
    parts.append(_notes(v.notes))
    return '<div class="derive-verdict">' + "".join(parts) + "</div>"


def gradcheck_html(g: Any) -> str:
    rows = "".join(f"<tr><td>{esc(a.name)}</td><td>{esc(a.status)}</td>"
                   f"<td>{_num(a.relative_error)}</td><td>{esc(a.reason or '')}</td></tr>"
                   for a in g.arrays)
    verdict = "PASSED" if g.passed else "FAILED"
    return (f'<div class="derive-gradcheck"><b>gradient check {verdict}</b> '
            f"({esc(g.source)}; max relative error {_num(g.max_relative_error)}, threshold "
            f"{_num(g.rtol)}, ε = {_num(g.eps)}, m = {esc(str(g.m))})"
            "<table><tr><th>array</th><th>status</th><th>relative error</th><th></th></tr>"
            f"{rows}</table>{_notes(g.notes)}</div>")


def worked_html(w: Any) -> str:
    rows = []
    for s in w.steps:
        formula = f"{to_latex(s.target)} = {to_latex(s.expr)}"
        given = " (given)" if s.given else ""
        rows.append(f"<tr><td>{inline(formula)}{esc(given)}</td>"
                    f"<td>{inline(matrix(s.value))}</td></tr>")
    warnings = _notes((x.message for x in w.warnings), "warning")
    return (f'<div class="derive-worked"><b>worked example: {esc(w.network.describe())}</b>, '
            f"m = {esc(str(w.m))}<table>{''.join(rows)}</table>{warnings}"
            f"{_notes(w.notes)}</div>")


def stability_html(r: Any) -> str:
    logs = list(r.log_grad_norm)
    every = max(1, len(logs) // 12)
    rows = "".join(f"<tr><td>{l}</td><td>{_num(v / math.log(10))}</td></tr>"
                   for l, v in enumerate(logs) if l % every == 0 or l == len(logs) - 1)
    return (f'<div class="derive-stability"><b>{esc(r.verdict)}</b>: depth {esc(str(r.depth))}, '
            f"width {esc(str(r.width))}, {esc(r.activation)}, init {esc(r.init)} "
            f"(gain {_num(r.gain)})<div>{esc(r.rate)}</div>"
            "<table><tr><th>layer l</th><th>log10 ‖δ[l]‖</th></tr>"
            f"{rows}</table></div>")


def jacobian_html(j: Any) -> str:
    # its LaTeX is a handout fragment (a section, paragraphs): the notebook shows the text
    return f'<div class="derive-jacobian"><pre>{esc(j.to_text())}</pre></div>'


def handout_html(h: Any) -> str:
    head = h.text[:4000]
    more = "\n…" if len(h.text) > len(head) else ""
    return (f'<div class="derive-handout"><b>{esc(h.title)}</b> ({esc(h.format)}, sections '
            f"{esc(', '.join(h.sections))}; {len(h.text):,} characters"
            + (f", {h.answers} blanks" if h.answers else "")
            + f")<pre>{esc(head + more)}</pre></div>")


def step_html(s: Any) -> str:
    return (f'<div class="derive-step"><b>{esc(s.title)}</b> <code>{esc(s.rule)}</code>'
            f"{display(s.latex)}<div>element-wise: {inline(s.index_latex)}</div></div>")


RENDERERS: dict[str, Callable[[Any], str]] = {
    "Formula": formula_html, "Derivation": derivation_html, "Verdict": verdict_html,
    "GradCheck": gradcheck_html, "Worked": worked_html, "StabilityResult": stability_html,
    "JacobianResult": jacobian_html, "Handout": handout_html, "Step": step_html,
}


def to_html(result: Any) -> str:
    """The HTML of any derive result (by its class, or a base class's name)."""
    for cls in type(result).__mro__:
        if cls.__name__ in RENDERERS:
            return RENDERERS[cls.__name__](result)
    raise TypeError(f"no HTML rendering for {type(result).__name__}")


__all__ = ["RENDERERS", "to_html", "to_text"]
