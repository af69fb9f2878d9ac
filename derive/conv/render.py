"""A CNN derivation as text, LaTeX, Markdown or JSON (``derive backward --spec cnn.toml``).

>>> from derive.conv import derive_cnn, load_cnn
>>> from derive.conv.spec import EXAMPLE
>>> out = text(derive_cnn(load_cnn(EXAMPLE), prove=False))
>>> for part in out.splitlines()[0].split("; "):
...     print(part)
CNN: input 6×6×2 per example
conv2d(3 filters 3×3, stride 2, pad 1, relu) → pool(max 2×2, stride 1) → flatten → dense(3, softmax)
loss ce
"""

from __future__ import annotations

import json
from typing import Any

from derive.conv.steps import CNNDerivation, ConvStep

LAYOUT = ("layout (the course's): A[l] is m×n_H×n_W×n_C (X = A[0]); a conv layer's W is "
          "f×f×n_C_prev×n_C and b is 1×1×1×n_C; after the flatten, columns: A[l] is n[l]×m")
SYMBOLS = ("corr(P, W, s): the valid cross-correlation at stride s; corr_W(P, dZ, s): "
           "Σ over i, h, w of P's windows times dZ; pad/crop: zeros added/removed on n_H and n_W; "
           "dilate(dZ, s): s − 1 zeros between entries; fullconv(D, W): the full convolution, "
           "= the correlation of D padded by f − 1 with the flipped filters; maxmask: each window's "
           "gradient to its maximum; avgspread: spread evenly, 1/f² each")


def _describe(layer) -> str:
    if layer.kind == "conv2d":
        return (f"conv2d({layer.filters} filters {layer.size}×{layer.size}, stride {layer.stride}, "
                f"pad {layer.pad}, {layer.activation})")
    if layer.kind == "pool":
        return f"pool({layer.mode} {layer.size}×{layer.size}, stride {layer.stride})"
    if layer.kind == "dense":
        return f"dense({layer.units}, {layer.activation})"
    return layer.kind


def header(d: CNNDerivation) -> str:
    cnn = d.cnn
    return (f"CNN: input {'×'.join(map(str, cnn.input))} per example; "
            f"{' → '.join(_describe(l) for l in cnn.layers)}; loss {cnn.loss}")


def _shape(step: ConvStep) -> str:
    return "×".join(str(x) for x in step.expr.shape)


def _proof_line(d: CNNDerivation) -> str:
    if d.proof is None:
        return "Proof: not run"
    n = len(d.steps)
    status = "all proven" if d.proof.passed else "FAILED"
    note = d.proof.cache_note()  # "proven (cached, <date>)" when the proof cache had them
    return (f"Proof: {status} — {n} formulas (SymPy entry by entry; finite differences, max "
            f"relative error {d.proof.max_fd_error:.1e} < {d.proof.threshold:g})"
            + (f"; {note}" if note else ""))


def text(d: CNNDerivation, steps: bool = False, verify: bool = False) -> str:
    """The derivation layer by layer (``steps``: each step's statement and loop form)."""
    out = [header(d), f"  {LAYOUT}", f"  {SYMBOLS}", *(f"  {n}" for n in d.notes)]
    current = None
    width = max(len(s.text) for s in d.steps)
    for k, s in enumerate(d.steps):
        if s.layer != current:
            current = s.layer
            layer = d.cnn.layer(s.layer)
            out += ["", f"Layer {s.layer} ({_describe(layer)})"]
        if steps:
            out += [f"  {k + 1}. {s.title} [{s.rule}]", f"       {s.index}", f"       ⇒ {s.text}",
                    f"       shape {_shape(s)}; the course's loop form:",
                    *(f"         {line}" for line in s.loop.splitlines())]
        else:
            out.append(f"  {s.text.ljust(width)}   {_shape(s)}   [{s.rule}]")
        if verify and s.proof is not None:
            p = s.proof
            out.append(f"       proof: element-wise {p.elementwise} ({p.entries} entries, {p.method}); "
                       f"finite differences {p.fd_error:.1e} ({'pass' if p.fd_passed else 'FAIL'})"
                       + (f" (cached, {p.cached})" if p.cached else ""))
    out += ["", _proof_line(d)]
    return "\n".join(out)


def latex(d: CNNDerivation, steps: bool = False) -> str:
    """An ``align*`` of every formula (``steps``: each step's element-wise statement too)."""
    out = [f"% derive: {header(d)}", f"% {LAYOUT}", *(f"% {n}" for n in d.notes), r"\begin{align*}"]
    rows = []
    for s in d.steps:
        lhs, rhs = s.latex.split(" = ", 1)
        rows.append(f"  {lhs} &= {rhs}")
        if steps:
            rows.append(rf"  &\quad\text{{[{s.rule.replace('_', chr(92) + '_')}]}}\ {s.index_latex}")
    out.append(" \\\\\n".join(rows))
    out += [r"\end{align*}", f"% {_proof_line(d)}"]
    return "\n".join(out)


def markdown(d: CNNDerivation, steps: bool = False) -> str:
    """Per layer a table of the formulas (LaTeX in ``$…$``), their shapes and identities
    (``steps``: each step's element-wise statement and the course's loop form below its table)."""
    out = [f"**CNN:** {header(d).removeprefix('CNN: ')}", "", f"- {LAYOUT}", f"- {SYMBOLS}",
           *(f"- {n}" for n in d.notes)]
    by_layer: dict[int, list[ConvStep]] = {}
    for s in d.steps:
        by_layer.setdefault(s.layer, []).append(s)
    for number, group in by_layer.items():
        out += ["", f"### Layer {number} ({_describe(d.cnn.layer(number))})", "",
                "| formula | shape | identity |", "|---|---|---|"]
        out += [f"| ${s.latex}$ | {_shape(s)} | `{s.rule}` |" for s in group]
        if steps:
            for s in group:
                out += ["", f"**{s.name}**: {s.title}", "", f"$${s.index_latex}$$", "",
                        "The course's loop form:", "", "```python", s.loop, "```"]
    out += ["", f"**{_proof_line(d).replace('Proof:', 'Proof:**', 1)}"]
    return "\n".join(out)


def to_dict(d: CNNDerivation) -> dict[str, Any]:
    cnn = d.cnn
    return {
        "family": "cnn",
        "input": list(cnn.input),
        "layers": [{"number": l.number, "kind": l.kind, "in_shape": list(l.in_shape),
                    "out_shape": list(l.out_shape),
                    **({"filters": l.filters, "size": l.size, "stride": l.stride, "pad": l.pad,
                        "activation": l.activation} if l.kind == "conv2d" else {}),
                    **({"mode": l.mode, "size": l.size, "stride": l.stride} if l.kind == "pool" else {}),
                    **({"units": l.units, "activation": l.activation} if l.kind == "dense" else {})}
                   for l in cnn.layers],
        "loss": cnn.loss,
        "layout": LAYOUT,
        "notes": list(d.notes),
        "steps": [{"layer": s.layer, "kind": s.kind, "target": s.name, "rule": s.rule,
                   "title": s.title, "text": s.text, "latex": s.latex, "index": s.index,
                   "index_latex": s.index_latex, "loop": s.loop,
                   "shape": [str(x) for x in s.expr.shape],
                   "proof": s.proof.to_dict() if s.proof is not None else None}
                  for s in d.steps],
        "proof": None if d.proof is None else {
            "passed": d.proof.passed, "max_relative_error": d.proof.max_fd_error,
            "threshold": d.proof.threshold, "seed": d.proof.seed, "m": d.proof.fd_m,
            "cached": d.proof.to_dict()["cached"]},
    }


def to_json(d: CNNDerivation) -> str:
    return json.dumps(to_dict(d), ensure_ascii=False, indent=2)
