"""A handout section on backpropagation through time, built from the handout's document blocks
(:mod:`derive.handout.doc`): the forward map, one step backward in the course's names, the sums
over the steps, the course's loop, the identities each step cites, the proofs, a gradient check
(with the planted mistakes failing) and stability through time with the course's clipping.

Every formula comes from the derivation's nodes (their LaTeX printers); every number is computed.

>>> from derive.rnn.spec import RNN
>>> tex = handout(RNN(3, 4, 2, 3, examples=2))
>>> tex.startswith("\\\\documentclass"), "Backpropagation through time" in tex
(True, True)
"""

from __future__ import annotations

import re

from derive.handout.doc import (
    Block,
    Display,
    Heading,
    Items,
    M,
    Para,
    Raw,
    Row,
    Table,
    render_md,
    render_tex,
)
from derive.handout.sections import _sci
from derive.rnn import render
from derive.rnn.derivation import RNNDerivation
from derive.rnn.gradcheck import MISTAKES, gradcheck
from derive.rnn.proof import derive_rnn
from derive.rnn.spec import RNN
from derive.rnn.stability import analyse

HANDOUT_STEPS = 6  # the numbers of the section run at most this many steps
HANDOUT_WIDTH = 16  # and at most this many units (and examples: HANDOUT_EXAMPLES) per size
HANDOUT_EXAMPLES = 4


def narrowed(rnn: RNN, steps: int) -> RNN:
    """The spec's sizes capped for the section's numbers (the formulas do not depend on them)."""
    c = rnn.concrete()

    def cap(v, top):
        return min(int(v), top)

    return RNN(cap(c.nx, HANDOUT_WIDTH), cap(c.na, HANDOUT_WIDTH), cap(c.ny, HANDOUT_WIDTH), steps,
               rnn.activation, rnn.output_activation, rnn.loss, cap(c.m, HANDOUT_EXAMPLES))


def _forward_rows(d: RNNDerivation) -> tuple[Row, ...]:
    g = d.rnn.act.latex
    t, tm = r"^{\langle t \rangle}", r"^{\langle t-1 \rangle}"
    return (Row(f"z{t}", rf"W_{{ax}} x{t} + W_{{aa}} a{tm} + b_a"),
            Row(f"a{t}", rf"{g}(z{t})"),
            Row(rf"\hat{{y}}{t}", rf"\operatorname{{softmax}}(W_{{ya}} a{t} + b_y)"),
            Row("J", r"\sum_{t=1}^{T_x} \sum_{i=1}^{m} -\sum_k y_k^{\langle t \rangle (i)} "
                     r"\log \hat{y}_k^{\langle t \rangle (i)}"))


def blocks(d: RNNDerivation, seed: int = 0) -> list[Block]:
    """The section's blocks for a (proven) derivation."""
    rnn = d.rnn
    gen = render.generic_steps(d)
    ref = {s.rule: f"R{k}" for k, s in enumerate(_one_per_rule(gen), 1)}  # [R1], not rule ids
    out: list[Block] = [
        Heading(1, "The network"),
        Para((f"The network: {rnn.describe()}. One example per column (the Deep Learning "
              "Specialization's course 5 layout): ",
              M(r"x^{\langle t \rangle}"), " is n_x × m, ", M(r"a^{\langle t \rangle}"),
              " is n_a × m. The forward map, for t = 1, …, T_x:")),
        Display(_forward_rows(d)),
        Heading(1, "Backward through time"),
        Heading(2, "One step backward, then the sums over the steps"),
        Para(("Backward runs t = T_x, …, 1 with ", M(r"da_{\text{prev}}^{\langle T_x+1 \rangle} = 0"),
              ". Each line is one identity (its reference on the right, listed below); the names "
              "are the course's "
              "(rnn_cell_backward, rnn_backward), derive's gradient beside each in the table.")),
        Display(tuple(Row(s.template_target.latex, s.generic.to_latex(),
                          note=(f"[{ref[s.rule]}]",)) for s in gen)),
        Table(("course", "is", "shape", "identity"),
              tuple(((s.template_target.code if s.t is not None else s.course,),
                     (M(s.derive_latex),), (render._shape(s),), (ref[s.rule],)) for s in gen),
              "llll"),
        Heading(2, "The course's loop"),
        Para(("The same steps as the course writes them: rnn_cell_backward inside the loop of "
              "rnn_backward over t = T_x − 1, …, 0; a weight's gradient accumulates (+=) because "
              "every step uses the same weight.",)),
        Raw("\\begin{verbatim}\n" + "\n".join(render.course_loop(gen)) + "\n\\end{verbatim}",
            "```python\n" + "\n".join(render.course_loop(gen)) + "\n```"),
        Heading(2, "Why each step holds"),
        # the sources name the course's functions (rnn_cell_backward): long words TeX cannot
        # hyphenate, so the list is set \sloppy (wider spaces, not a line into the margin)
        Raw("\\begingroup\\sloppy"),
        Items(tuple((f"{ref[s.rule]}, ", *_title(render.identity_parts(d, s.identity)[0]), ": ",
                     M(render.identity_parts(d, s.identity)[2]),
                     f" ({render.identity_parts(d, s.identity)[3]})") for s in _one_per_rule(gen))),
        Raw("\\par\\endgroup"),
    ]
    out += _proof_blocks(d) + _gradcheck_blocks(rnn, seed) + _stability_blocks(rnn, seed)
    return out


def _title(text: str) -> tuple[str | M, ...]:
    """An identity's title with its time steps (a⟨t−1⟩) as maths: ⟨ ⟩ are not in the fonts."""
    parts: list[str | M] = []
    for k, piece in enumerate(re.split(r"([A-Za-z_]+⟨[^⟩]*⟩)", text)):
        if k % 2:
            base, step = piece[:-1].split("⟨")
            parts.append(M(rf"{base}^{{\langle {step.replace('−', '-')} \rangle}}"))
        elif piece:
            parts.append(piece)
    return tuple(parts)


def _one_per_rule(steps):
    seen: set[str] = set()
    for s in steps:
        if s.rule not in seen:
            seen.add(s.rule)
            yield s


def _proof_blocks(d: RNNDerivation) -> list[Block]:
    rows = tuple(((M(s.template_target.latex),), (s.proof.elementwise,), (str(s.proof.entries),),
                  (M(_sci(s.proof.fd_error, 1)),)) for s in render.generic_steps(d)
                 if s.proof is not None)
    return [Heading(1, "Verification"),
            Para(("Every formula is proven two ways on a local surrogate of the chain rule "
                  "(any upstream gradient): computer algebra differentiates it entry by entry on a small "
                  "symbolic instance and the difference with the formula simplifies to 0; central "
                  "differences agree on a random instance.",)),
            Table(("formula", "exact", "entries", "differences: error"), rows, "llrr")]


def _dz_latex(rnn: RNN) -> str:
    """∂J/∂z⟨t⟩'s name: the course's dtanh in a tanh RNN, dz in any other."""
    return r"d\tanh" if rnn.activation == "tanh" else "dz"


def _derivative_latex(rnn: RNN) -> str:
    """g′(z⟨t⟩) as the Jacobian's diagonal: tanh's 1 − (a⟨t⟩)², another's g′(z⟨t⟩)."""
    if rnn.activation == "tanh":
        return r"1 - (a^{\langle t \rangle})^2"
    return rf"{rnn.act.latex}'(z^{{\langle t \rangle}})"


def _gradcheck_blocks(rnn: RNN, seed: int) -> list[Block]:
    # at least 2 steps: at T_x = 1 the planted mistakes change nothing (no sum, nothing carried)
    small = narrowed(rnn, max(2, min(rnn.steps, HANDOUT_STEPS)))
    runs = [gradcheck(small, seed=seed)] + [gradcheck(small, seed=seed, mistake=k) for k in MISTAKES]
    names = [n for n, _ in runs[0].errors]
    # one row per gradient, one column per run: seven gradients do not fit across the page
    heads = tuple(r.mistake.replace("_", " ") if r.mistake else "derived" for r in runs)
    rows: list[tuple[tuple[str | M, ...], ...]] = []
    for n in names:
        cells: list[tuple[str | M, ...]] = [(n,)]
        cells += [(M(_sci(dict(r.errors)[n], 1)),) for r in runs]
        rows.append(tuple(cells))
    rows.append((("verdict",), *(("passed" if r.passed else "FAILED",) for r in runs)))
    return [Heading(1, "Gradient check"),
            Para((f"Central differences of the whole unrolled cost J on a random instance "
                  f"({small.describe()}), relative error ‖g − ĝ‖/(‖g‖ + ‖ĝ‖), threshold "
                  "", M(_sci(runs[0].threshold, 0)), ". The planted mistakes: missing sum, ",
                  M(rf"dW_{{aa}} = {_dz_latex(rnn)}^{{\langle T \rangle}} a^{{\langle T-1 \rangle\top}}"),
                  " (no sum over t); no carry, ",
                  M(r"da_{\text{next}}^{\langle t \rangle} = da_{\text{out}}^{\langle t \rangle}"),
                  " (da_prev not carried back).")),
            Table(("gradient", *heads), tuple(rows), "l" + "r" * len(heads))]


def _stability_blocks(rnn: RNN, seed: int) -> list[Block]:
    small = narrowed(rnn, max(rnn.steps, 20))
    runs = [analyse(small, seed=seed, radius=r) for r in (0.5, 1.0, 2.0)]
    rows = tuple(((f"{r.rho:.3g}",), (f"{r.norm2:.3g}",), (f"{r.growth:.3g}",),
                  (f"{r.decades:.3g}",), (r.verdict,)) for r in runs)
    c = runs[-1].clip
    clip_rows = tuple(((n,), (f"{b:.4g}",), (f"{a:.4g}",), (str(k),)) for n, b, a, k in c.rows)
    return [Heading(1, "Stability through time"),
            Para(("A gradient crosses step t through ",
                  M(r"J^{\langle t \rangle} = \partial a^{\langle t \rangle}/\partial a^{\langle t-1 \rangle}"
                    rf" = \operatorname{{diag}}({_derivative_latex(rnn)})\, W_{{aa}}"),
                  "; over T steps the product ",
                  M(r"P = J^{\langle T \rangle} \cdots J^{\langle 1 \rangle}"),
                  ". With ", M(r"W_{aa}"), " scaled to spectral radius ", M(r"\rho"),
                  f" ({small.describe()}; example 1"
                  + (f"; {small.steps} steps, not the spec's {rnn.steps}, so that the trend shows"
                     if small.steps != rnn.steps else "")
                  + "), the fitted per-step growth factor r and "
                  "the verdict:")),
            Table((M(r"\rho(W_{aa})"), M(r"\lVert W_{aa} \rVert_2"), "r", M(r"\log_{10} r^T"),
                   "verdict"), rows, "rrrrl"),
            Para((f"The course's remedy, clip(gradients, maxValue = {c.max_value:g}) (np.clip of "
                  "every entry), on the run with ", M(rf"\rho = {runs[-1].rho:.3g}"),
                  ": Frobenius norms before and after.")),
            Table(("gradient", "before", "after", "entries clipped"), clip_rows, "lrrr")]


def handout(rnn: RNN, title: str | None = None, format: str = "tex", seed: int = 0) -> str:
    """The BPTT handout as a standalone LaTeX document (``format="tex"``) or Markdown."""
    d = derive_rnn(rnn, seed=seed)
    title = title or "Backpropagation through time"
    subtitle = f"derive: {rnn.describe()}"
    doc = blocks(d, seed)
    return render_md(doc, title, subtitle, False) if format == "md" else render_tex(
        doc, title, subtitle, False)
