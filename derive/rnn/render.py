"""Backpropagation through time as text, JSON, LaTeX and Markdown: the forward map, the steps of
one time step in the course's names (derive's ∂J/∂… beside each), the sums over the steps, the
course's loop, and how each formula was proven.

>>> from derive.rnn.spec import RNN
>>> from derive.rnn.proof import derive_rnn
>>> text = to_text(derive_rnn(RNN(3, 2, 2, 2, examples=1)))
>>> print(text.splitlines()[10])
  dtanh⟨t⟩ = (1 − a⟨t⟩²) ⊙ da_next⟨t⟩     (2×1)   ∂J/∂z⟨t⟩   [rnn_activation_chain]
"""

from __future__ import annotations

import re

from derive.rnn.derivation import RNNDerivation, Step
from derive.rnn.proof import PROOF_STEPS


def _shape(step: Step) -> str:
    r, c = step.target.shape
    return f"{r}×{c}"


def forward_text(d: RNNDerivation) -> list[str]:
    g = d.rnn.act.text
    return [f"z⟨t⟩ = Wax x⟨t⟩ + Waa a⟨t−1⟩ + ba,  a⟨t⟩ = {g}(z⟨t⟩),  "
            "ŷ⟨t⟩ = softmax(Wya a⟨t⟩ + by)   for t = 1..T_x (a⟨0⟩ given)",
            "J = Σₜ Σᵢ ce(ŷ⟨t⟩(i), y⟨t⟩(i)),  ce(ŷ, y) = −Σₖ yₖ log ŷₖ"]


def generic_steps(d: RNNDerivation) -> list[Step]:
    """One step of each kind: the formulas at a generic t (from the first inner step, else the
    last), then the sums over the steps."""
    T = d.rnn.steps
    t0 = T - 1 if T > 1 else T
    return [s for s in d.steps if s.t == t0] + [s for s in d.steps if s.t is None]


def _proof_text(d: RNNDerivation) -> list[str]:
    proofs = [s.proof for s in d.steps if s.proof is not None]
    if not proofs:
        return ["proof: not run"]
    worst = max(p.fd_error for p in proofs)
    bad = [p for p in proofs if not p.passed]
    if bad:
        return [f"proof FAILED for {', '.join(p.name for p in bad)}"] + [
            f"  {p.name}: element-wise {p.elementwise}, fd error {p.fd_error:.2e}" for p in bad]
    out = [f"proof: all {len(proofs)} formulas proven: SymPy entry by entry (exact) on local "
           f"surrogates, and central differences (largest relative error {worst:.1e})"]
    dates = sorted({p.cached for p in proofs if p.cached})
    if dates:
        out.append(f"  ({sum(1 for p in proofs if p.cached)} of them from the proof cache, proven "
                   f"{dates[0][:10]}{'' if dates[0][:10] == dates[-1][:10] else ' to ' + dates[-1][:10]};"
                   " --no-cache proves afresh)")
    if d.rnn.steps > PROOF_STEPS:  # the formulas do not depend on T_x beyond the sums' length
        out.append(f"  (T_x = {d.rnn.steps}: each by the step of the same kind of a T_x = "
                   f"{PROOF_STEPS} derivation, the last, an inner or the first step)")
    return out


def identity_parts(d: RNNDerivation, identity) -> tuple[str, str, str, str]:
    """An identity's (title, index, index_latex, source) as this network writes them: the
    catalogue's are the course's tanh cell, whose ∂J/∂z⟨t⟩ is named dtanh; another activation
    names it dz (derive backward's name) and has no tanh′ in it."""
    parts = (identity.title, identity.index, identity.index_latex, identity.source)
    if d.rnn.activation == "tanh":
        return parts
    g = d.rnn.activation

    def plain(text: str) -> str:
        text = text.replace(" (tanh: 1 − aᵢₖ⟨t⟩²)", "")
        text = text.replace("dtanh = (1 - a_next ** 2) * da_next",
                            f"dtanh = (1 - a_next ** 2) * da_next for tanh; here dz, with {g}′")
        return re.sub(r"\\tanh(?=[_^])", "z", re.sub(r"(?<![A-Za-z_])dtanh(?![A-Za-z_])(?!\s*=\s*\(1)", "dz", text))

    return tuple(plain(p) for p in parts)  # type: ignore[return-value]


def course_loop(gen) -> list[str]:
    """The course's loop as lines: the sums and the carried da_prev start at zero, then each
    generic step's line inside ``for t``, with rnn_backward's carry of da_prev to the step before
    (without it the loop is the no_carry mistake)."""
    sums = [s.course for s in gen if s.t is None]
    lines = [f"{' = '.join(sums)} = 0   # before the loop",
             "da_prevt = np.zeros((n_a, m))   # nothing comes back after T_x",
             "for t in reversed(range(T_x)):"]
    for s in gen:
        lines.append(f"    {s.loop}")
        if s.course == "da_prev":
            lines.append("    da_prevt = da_prev   # carried back to step t - 1")
    return lines


def to_text(d: RNNDerivation, steps: bool = False, verify: bool = False) -> str:
    T = d.rnn.steps
    lines = [f"backpropagation through time: {d.rnn.describe()}", "", "forward:"]
    lines += [f"  {s}" for s in forward_text(d)]
    lines += ["", f"backward, for t = T_x, …, 1 (T_x = {T}; da_prev⟨T_x+1⟩ = 0, so "
              "da_next⟨T_x⟩ = da_out⟨T_x⟩):"]
    gen = generic_steps(d)
    width = max(len(s.template_text) for s in gen)
    for s in gen:
        if s.t is None and gen.index(s) and gen[gen.index(s) - 1].t is not None:
            lines.append("then, summed over the steps (every step uses the same weights):")
        lines.append(f"  {s.template_text:<{width}}   ({_shape(s)})   {s.derive_name}   [{s.rule}]")
    lines += ["", "the course's loop (rnn_cell_backward inside rnn_backward, t = T_x−1 … 0):"]
    lines += [f"  {line}" for line in course_loop(gen)]
    if steps:
        lines += ["", "every step, unrolled:"]
        lines += [f"  {s.text}" for s in d.steps]
        lines += ["", "the identities, entry by entry:"]
        seen: set[str] = set()
        for s in gen:
            if s.rule not in seen:
                seen.add(s.rule)
                title, index, _, source = identity_parts(d, s.identity)
                lines.append(f"  [{s.rule}] {index}")
                lines.append(f"      cites {', '.join(s.cites)}; {source}")
    lines += [""] + _proof_text(d)
    if verify:
        for s in d.steps:
            if s.proof is not None:
                lines.append(f"  {s.name}: SymPy {s.proof.elementwise} ({s.proof.entries} entries), "
                             f"fd error {s.proof.fd_error:.2e}")
    lines += [""] + [f"note: {n}" for n in d.notes]
    return "\n".join(lines)


def step_json(s: Step) -> dict:
    return {"t": s.t, "name": s.name, "course": s.course, "derive": s.derive_name,
            "formula": s.text, "generic": s.template_text, "latex": s.latex, "loop": s.loop,
            "shape": _shape(s), "rule": s.rule, "cites": list(s.cites),
            "proof": None if s.proof is None else {**s.proof.as_dict(), "cached": s.proof.cached}}


def to_json(d: RNNDerivation) -> dict:
    return {"family": "rnn", "spec": d.rnn.describe(), "steps_T": d.rnn.steps,
            "forward": forward_text(d), "steps": [step_json(s) for s in d.steps],
            "passed": d.passed, "notes": list(d.notes)}


def latex_rows(d: RNNDerivation) -> list[str]:
    """The generic step's formulas and the sums as LaTeX, one per row (no environment)."""
    return [s.latex for s in generic_steps(d)]


def to_latex(d: RNNDerivation) -> str:
    rows = " \\\\\n".join("  " + r.replace(" = ", " &= ", 1) for r in latex_rows(d))
    notes = "\n".join(f"% note: {n}" for n in d.notes)
    return (f"% backpropagation through time: {d.rnn.describe()}\n{notes}\n"
            f"\\begin{{align*}}\n{rows}\n\\end{{align*}}")


def to_markdown(d: RNNDerivation, steps: bool = False) -> str:
    rows = " \\\\\n".join(r.replace(" = ", " &= ", 1) for r in latex_rows(d))
    return (f"**Backpropagation through time**: {d.rnn.describe()}\n\n"
            f"$$\n\\begin{{aligned}}\n{rows}\n\\end{{aligned}}\n$$\n\n"
            "```\n" + to_text(d, steps=steps) + "\n```\n")
