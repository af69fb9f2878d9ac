"""Markdown with ``$...$`` maths, for notebooks and web pages."""

from __future__ import annotations

from derive.engine.backward import Derivation
from derive.render import convention_lines, shape_text


def render(derivation: Derivation, steps: bool = False) -> str:
    net = derivation.network
    out = [f"**Network:** {net.describe()}", ""]
    out += [f"- {line}" for line in convention_lines(net)]
    out += [f"- note: {n}" for n in derivation.notes]
    for l in range(net.L, 0, -1):
        out += ["", f"### Layer {l}", ""]
        if steps:
            for i, s in enumerate(derivation.steps_for(l), 1):
                out.append(f"{i}. *{s.title}* (`{s.rule}`): ${s.index_latex}$ ⇒ ${s.latex}$")
            out.append("")
        out += ["| formula | shape |", "|---|---|"]
        for f in derivation.formulas:
            if f.layer == l or (l == 1 and f.layer == 0):  # dX shows with layer 1
                out.append(f"| ${f.latex}$ | {shape_text(f.shape)} |")
    p = derivation.proof
    if p is not None:  # else not run
        out += [
            "",
            f"**Proof:** {p.status()}: element-wise (SymPy, exact) "
            f"and finite differences (max relative error {p.max_fd_error:.1e})"
            + (f"; {p.cache_note()}." if p.cache_note() else "."),
        ]
    return "\n".join(out)
