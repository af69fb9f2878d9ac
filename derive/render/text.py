"""Unicode text: the formulas per layer with shapes, the steps, and the proof."""

from __future__ import annotations

import unicodedata

from derive.engine.backward import Derivation
from derive.network.spec import Network
from derive.render import convention_lines, shape_text

WIDE = 100  # a formula longer than this does not set the shape column


def _shown(text: str) -> int:
    """How many columns ``text`` takes: a combining mark (the tilde of Z̃) takes none."""
    return sum(not unicodedata.combining(ch) for ch in text)


def _padded(text: str, width: int) -> str:
    return text + " " * max(0, width - _shown(text))


def _layer_title(net: Network, l: int) -> str:
    act = net.activation(l)
    name = act.name if act is not None else f"generic g[{l}]"
    role = "output" if l == net.L else "hidden"
    return f"Layer {l} ({name}, {role})"


def render(derivation: Derivation, steps: bool = False, verify: bool = False) -> str:
    net = derivation.network
    out = [f"Network: {net.describe()}"]
    out += [f"  {line}" for line in convention_lines(net)]
    if net.loss_entry is not None:
        loss = net.loss_entry
        out.append(
            f"  loss {loss.name}: ℓ = {loss.text}" + (f" ({loss.assumes})" if loss.assumes else "")
        )
    out += [f"  note: {n}" for n in derivation.notes]
    # the shapes line up in one column; a formula longer than WIDE (batch norm's graph form of
    # dZ) keeps its shape after it rather than pushing every other shape that far
    width = max((_shown(f.text) for f in derivation.formulas if _shown(f.text) <= WIDE),
                default=WIDE)
    for l in range(net.L, 0, -1):
        out.append("")
        out.append(_layer_title(net, l))
        if steps:
            for i, s in enumerate(derivation.steps_for(l), 1):
                out.append(f"  {i}. {s.title} [{s.rule}]")
                out.append(f"       {s.index}")
                out.append(f"       ⇒ {s.text}")
                if s.note:
                    out.append(f"       ({s.note})")
            out.append("  Result:")
        for f in derivation.formulas:
            if f.layer == l or (l == 1 and f.layer == 0):  # dX shows with layer 1
                out.append(f"  {_padded(f.text, width)}   {shape_text(f.shape)}")
    proof = derivation.proof
    out.append("")
    if proof is None:  # not run
        out.append("Proof: not run")
    else:
        note = proof.cache_note()  # "proven (cached, <date>)" when the proof cache had them
        out.append(
            f"Proof: {proof.status()} — {len(proof.formulas)} formulas, element-wise exact (SymPy) and by "
            f"central differences (max relative error {proof.max_fd_error:.1e} < {proof.threshold:.0e})"
            + (f"; {note}" if note else "")
        )
        if verify:
            out.append(
                f"  activation derivatives proven by SymPy: {', '.join(proof.identities) or '(none: generic g)'}"
            )
            out.append(
                f"  finite differences: ε = {proof.eps:g}, sizes {','.join(map(str, proof.fd_sizes))}, "
                f"m = {proof.fd_m}, seed {proof.seed}"
            )
            w = max(len(p.name) for p in proof.formulas)
            out.append(
                f"  {'formula'.ljust(w)}  {'element-wise'.ljust(20)}  {'fd rel. error'.ljust(13)}  method"
            )
            for p in proof.formulas:
                ew = f"{p.elementwise} ({p.entries} {'entry' if p.entries == 1 else 'entries'})"
                fd_txt = f"{p.fd_error:.1e}{'' if p.fd_passed else ' FAIL'}"
                when = f" (cached, {p.cached})" if p.cached else ""
                out.append(f"  {p.name.ljust(w)}  {ew.ljust(20)}  {fd_txt.ljust(13)}  {p.method}{when}")
    return "\n".join(out)
