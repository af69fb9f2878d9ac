"""Sections other features add to a handout: the full Jacobian, vanishing gradients, worked numbers.

Each plug-in is a function ``(ctx) -> blocks`` over another feature's public functions, imported
here at the top so that the dependency shows: ``derive.handout`` → ``derive.jacobian``,
``derive.stability``, ``derive.numbers``, and none of them knows the handout. A feature's LaTeX
fragment is kept under the handout's own headings (no preamble, no file access) and made ASCII.

>>> sorted(SECTIONS)
['jacobian', 'numbers', 'stability']
>>> demote(r"\\documentclass{article}")
Traceback (most recent call last):
...
derive.errors.DeriveError: a plug-in fragment tried to include a preamble or a file
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from derive.engine.backward import derive
from derive.errors import DeriveError
from derive.handout.doc import Block, Heading, M, Para, Raw, ascii_fragment
from derive.handout.polish import polish
from derive.handout.sections import Context
from derive.jacobian.naive import naive_chain_rule
from derive.jacobian.steps import contraction
from derive.jacobian.tensor import jacobian
from derive.jacobian.text import report_latex
from derive.network.model import concrete_sizes, random_instance
from derive.network.spec import Network
from derive.numbers.render import render_latex
from derive.numbers.worked import worked_example
from derive.stability.analyse import INITS, STABLE_DECADES, sweep
from derive.stability.render import plot_sweep, stability_latex

Section = Callable[[Context], list[Block]]
NUMBERS_WIDTH = 64  # the worked numbers run on layers of at most this many units


def demote(tex: str) -> str:
    """Keep another feature's fragment under our own headings: no preamble, no document."""
    if re.search(r"\\(documentclass|begin\{document\}|input|include|write18)\b", tex):
        raise DeriveError("a plug-in fragment tried to include a preamble or a file")
    return tex


def jacobian_appendix(ctx: Context) -> list[Block]:
    """The full Jacobian behind dW on the classic 2×2 example, its contraction and the naive rule."""
    net = Network(depth=2)  # the classic 2×2 example: sizes 2, generic g[1], g[2] and ℓ
    result = jacobian("Z1", "W1", net, {"n0": 2, "n1": 2, "n2": 2, "m": 2})
    full = result.sizes
    contr = contraction(result.network, "W1", full, seed=ctx.seed)
    naive = naive_chain_rule(result.network, None, full, seed=ctx.seed)
    tex = polish(demote(report_latex(result, contr, None, naive)), _ref(ctx))
    md = "*(The Jacobian section is in the LaTeX handout: `derive jacobian Z1 W1 --naive`.)*"
    return [Heading(1, "Appendix: the full Jacobian behind dW"),
            Para(("A generic two-layer network with every size 2 (not the network above), so that "
                  "each array fits on the page.",)),
            Raw(ascii_fragment(tex.replace(r"\section", r"\subsection")), md)]


def stability_section(ctx: Context) -> list[Block]:
    """Vanishing and exploding gradients for this network's hidden activation: a sweep over
    initialisations at depth 30 (constant width 32), measured by ``derive stability``."""
    hidden = [a for a in (ctx.net.activations or ())[:-1] if a not in (None, "softmax")]
    act = hidden[0] if hidden else "tanh"
    result = sweep(depths=(30,), inits=INITS, activations=(act,), width=32, seed=ctx.seed)
    tex = stability_latex(result).replace(r"\section", r"\subsection")
    command = f"derive stability --sweep --act {act} --depths 30 --width 32"
    intro = Para(("Backprop multiplies one Jacobian ",
                  M(r"J^{[l]} = \operatorname{diag}\bigl(g'(Z^{[l]})\bigr)\, W^{[l]}"),
                  " per layer, so the gradient norm grows or shrinks geometrically with depth. "
                  f"Measured here for {act} layers of width 32, depth 30, for each initialisation, "
                  "by the command",))
    out: list[Block] = [Heading(1, "Vanishing and exploding gradients"), intro,
                        Raw("\\begin{verbatim}\n" + command + "\n\\end{verbatim}", f"`{command}`")]
    plot = _plot(result) if ctx.files is not None else None
    if ctx.files is not None and plot is not None:
        name = f"stability-{act}-d30-w32-s{ctx.seed}.pdf"  # the same sweep, the same name
        ctx.files[name] = plot
        out += [Raw("\\begin{center}\n\\includegraphics[width=\\linewidth]{" + name + "}\n\\end{center}",
                    f"*(The plot is in the LaTeX handout: `{command} --plot {name}`.)*"),
                Para(("The gradient norm ", M(r"\lVert\delta^{[l]}\rVert"), " (batch RMS, log scale) "
                      "layer by layer, from the output (", M("l = 30"), ") down; the shaded band is "
                      "where a gradient stays within ", M(rf"10^{{\pm {STABLE_DECADES:g}}}"), " of ",
                      M(r"\lVert\delta^{[L]}\rVert"), ". The same runs, in numbers:"))]
    out.append(Raw(ascii_fragment(demote(tex)),
                   f"*(The table is in the LaTeX handout: `derive stability --sweep --act {act}`.)*"))
    return out


def _plot(result) -> bytes | None:
    """The sweep's plot as vector PDF (``derive stability --plot OUT.pdf``), its bytes; None
    without matplotlib (the optional plot extra): the section keeps its table."""
    try:
        import matplotlib
    except ImportError:
        return None

    # a serif face beside the handout's serif text; fonts embedded as TrueType (text stays text)
    style: dict[str, Any] = {"font.family": "serif", "font.serif": ["DejaVu Serif"], "pdf.fonttype": 42}
    with tempfile.TemporaryDirectory(prefix="derive-plot-") as tmp, matplotlib.rc_context(style):  # type: ignore[arg-type]
        path = Path(tmp, "sweep.pdf")
        plot_sweep(result, str(path))
        return path.read_bytes()


def worked_numbers(ctx: Context) -> list[Block]:
    """The worked numbers of ``derive numbers`` for this network (m = 2, values to 2 decimals)."""
    net = ctx.net
    if net.loss is None or any(a is None for a in net.activations or ()):
        return [Heading(1, "Worked numbers"),
                Para(("A worked example needs concrete activations and a loss; this network has "
                      "generic ones, so the section is left out.",))]
    if net.l2 is not None and getattr(net.l2, "free_symbols", None):
        return [Heading(1, "Worked numbers"),
                Para(("A worked example needs the value of ", M(r"\lambda"), "; this handout keeps "
                      "it a symbol, so the section is left out (give --l2 0.7 for one).",))]
    if "batchnorm" in net.kinds:  # derive numbers asks for every layer's b (2026-12: not yet)
        return [Heading(1, "Worked numbers"),
                Para(("A worked example of a batch-normalised network needs derive numbers to take "
                      "batch norm's ", M(r"\gamma"), " and ", M(r"\beta"), " in place of ", M("b"),
                      ", which it does not yet, so the section is left out.",))]
    derivation = ctx.derivation
    # a matrix of more than 16 entries is named, not written out; a layer of 100,000 units would
    # still need 80 GB for its W: wider layers than NUMBERS_WIDTH are narrowed to it
    sizes = concrete_sizes(net)
    small = net.replace(layers=tuple(min(n, NUMBERS_WIDTH) for n in sizes))
    narrowed = small.layers != sizes
    if narrowed:
        net, derivation = small, derive(small, prove=False)
    inst = random_instance(net, seed=ctx.seed, m=2)
    values = {"X": np.round(inst.X, 2).tolist(), "Y": np.round(inst.Y, 2).tolist()}
    for (base, layer), v in inst.params.items():
        values[f"{base}{layer}"] = np.round(v, 2).tolist()
    w = worked_example(net, values, derivation=derivation)
    tex = polish(_unheaded(demote(render_latex(w, title="Worked numbers"))), _ref(ctx))
    tex = re.sub(r"\\(sub)?section\*", lambda mt: "\\subsection*" if mt[1] else "\\section", tex)
    out: list[Block] = [Raw(ascii_fragment(tex), "*(The worked numbers are in the LaTeX handout: "
                            "`derive numbers FILE`.)*")]
    if narrowed:
        out.append(Para((f"These numbers are for layers narrowed to at most {NUMBERS_WIDTH} units "
                         f"(sizes {', '.join(map(str, small.layers or ()))}): the formulas do "
                         "not depend on the sizes.",)))
    return out


def _ref(ctx: Context) -> Callable[[str], str]:
    """A rule's reference number in the handout's table of rules used."""
    return lambda rule: ctx.rule_ref(rule, ()).label


def _unheaded(tex: str) -> str:
    """The worked numbers without their plain-text header lines (loss, cost, convention): the
    network section has said all of that in maths."""
    return "\n".join(line for line in tex.splitlines() if not line.startswith("\\noindent "))


SECTIONS: dict[str, Section] = {
    "jacobian": jacobian_appendix,  # derive jacobian Z1 W1 --naive, on a generic 2×2 network
    "stability": stability_section,  # derive stability --sweep for the hidden activation
    "numbers": worked_numbers,      # derive numbers on a random instance of this network
}
