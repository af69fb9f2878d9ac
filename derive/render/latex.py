"""LaTeX: an ``align*`` block of the formulas, optionally the steps (a fragment, no preamble)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from derive.render import convention_lines

if TYPE_CHECKING:  # annotations only: escape() is used without a derivation
    from derive.engine.backward import Derivation


def escape(text: str) -> str:
    """Escape plain text for LaTeX (so a user's title or name cannot inject commands)."""
    table = {
        "\\": r"\textbackslash{}",
        "{": r"\{",
        "}": r"\}",
        "$": r"\$",
        "&": r"\&",
        "#": r"\#",
        "%": r"\%",
        "_": r"\_",
        "^": r"\^{}",
        "~": r"\~{}",
    }
    return "".join(table.get(ch, ch) for ch in text)


def formulas_block(derivation: Derivation) -> str:
    rows = []
    for f in derivation.formulas:
        lhs, rhs = f.latex.split(" = ", 1)
        rows.append(f"  {lhs} &= {rhs}")
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def render(derivation: Derivation, steps: bool = False) -> str:
    net = derivation.network
    out = [f"% derive: {escape(net.describe())}"]
    out += [f"% {line}" for line in convention_lines(net)]
    loss = net.loss_entry
    if loss is not None:
        out.append(f"% loss {loss.name}: ℓ = {loss.text}" + (f" ({loss.assumes})" if loss.assumes else ""))
    out += [f"% note: {' '.join(n.split())}" for n in derivation.notes]  # as the text output says
    if steps:
        for l in range(net.L, 0, -1):
            out.append(f"% layer {l}")
            out.append("\\begin{align*}")
            lines = []
            for s in derivation.steps_for(l):
                lhs, rhs = s.latex.split(" = ", 1)
                lines.append(
                    f"  & {s.index_latex} \\\\\n  \\Rightarrow\\quad {lhs} &= {rhs}"
                    f" && \\text{{({escape(s.rule.replace('_', ' '))})}}"
                )
            out.append(" \\\\\n".join(lines))
            out.append("\\end{align*}")
    else:
        out.append(formulas_block(derivation))
    p = derivation.proof
    if p is not None:  # else not run
        note = f"; {p.cache_note()}" if p.cache_note() else ""
        out.append(f"% proof: {p.status()}: element-wise (SymPy, exact) and finite differences "
                   f"(max relative error {p.max_fd_error:.1e}){escape(note)}")
    return "\n".join(out)
