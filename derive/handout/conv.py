r"""A handout for a convolutional network: the shapes, the forward pass, the dense head's backward
steps (backpropagation starts at the loss), then for each layer below the flatten its backward
steps (the correlation form of dW, dA_prev as the full convolution of the dilated dZ with the
flipped filters and the pad cropped, the max-pool mask or the average spread), each in matrix
form, entry by entry and in the course's loop form, then the proofs and a gradient check that
passes on the derived formulas and fails on each planted mistake.

Everything printed comes from the derivation (:func:`derive.conv.derive_cnn`, proven), its
proofs and the checks run here; the prose around it names the layer's own f, s and p.

>>> from derive.conv.spec import load_cnn, EXAMPLE
>>> h = conv_handout(load_cnn(EXAMPLE), prove=False, check=False)
>>> r"\section{Backward through layer 1: conv2d}" in h.tex, "dA_prev_pad[i, vert_start:vert_end" in h.tex
(True, True)
"""

from __future__ import annotations

from typing import Any

from derive.conv.spec import CNN
from derive.conv.worked import ascii_code, wrap_code
from derive.core import tensor as T
from derive.handout.doc import Block, Display, Heading, Items, M, Para, Raw, Ref, Row, Table
from derive.handout.document import Handout

_IMPLIES = r" \;\Rightarrow\; "
CHECK_WORK = 2_000_000_000  # a gradient check's estimated operations (≈ 2 s) a handout runs


def conv_handout(cnn: CNN, title: str | None = None, format: str = "tex", seed: int = 0,
                 prove: bool = True, check: bool = True) -> Handout:
    """The handout of ``cnn`` (LaTeX, or Markdown with ``format="md"``); ``prove``: the steps
    proven (both proofs, their numbers printed); ``check``: the gradient check and the planted
    mistakes run and tabulated."""
    from derive.conv.derivation import derive_cnn
    from derive.conv.gradcheck import describe
    from derive.errors import SpecError
    from derive.handout.doc import render_md, render_tex

    if format not in ("tex", "md"):
        raise SpecError(f"unknown handout format {format!r}; known: tex, md")
    d = derive_cnn(cnn, prove=prove, seed=seed)
    refs = references(d)
    blocks = [*network(d), *shapes(d), *forward(d)]
    blocks += head(d, refs)  # backpropagation starts at the loss: the dense head, then to layer 1
    for layer in reversed(cnn.layers[:cnn.flatten_at]):
        blocks += layer_section(d, layer, refs)
    blocks += verification(d, seed, check, refs)
    blocks += rules_used(refs)
    title = title if title is not None else "Backpropagation through a convolutional network"
    subtitle = f"derive handout: {describe(cnn)}"
    render = render_tex if format == "tex" else render_md
    text = render(blocks, title, subtitle, key=False)
    names = ("network", "shapes", "forward", "head", "layers", "verification", "rules")
    return Handout(title, format, names, text)


# -- the sections ----------------------------------------------------------------------------------
def network(d) -> list[Block]:
    from derive.conv.gradcheck import describe

    return [Heading(1, "The network"), Para((describe(d.cnn) + ".",)),
            Items(tuple((_sentence(n),) for n in d.notes))]


def _symbols(d) -> dict[Any, Any]:
    """Every named quantity of the derivation and its shape, from the nodes themselves."""
    from derive.core import expr as E

    found: dict[Any, Any] = {}
    trees = [e for _, e in d.forward] + [s.expr for s in d.steps] + [s.target for s in d.steps]
    trees += [t for t, _ in d.forward]
    for tree in trees:
        for n in tree.walk():
            if isinstance(n, T.TSym | E.Sym) and n.layer is not None or getattr(n, "base", None) in ("X", "Y"):
                found.setdefault((n.base, n.layer), n)
    return found


def _shape_latex(shape) -> str:
    import sympy as sp
    return r" \times ".join(sp.latex(sp.sympify(s, strict=True)) for s in shape)


def shapes(d) -> list[Block]:
    syms = _symbols(d)
    given = [k for k in syms if not k[0].startswith("d")]
    rank = {"X": 0, "W": 1, "b": 2, "Z": 3, "A": 4, "Y": 9}
    given.sort(key=lambda k: (k[0] == "Y", k[1] if k[1] is not None else 0, rank.get(k[0], 5)))
    rows = tuple(((M(syms[k].to_latex()),), (M(_shape_latex(syms[k].shape)),)) for k in given)
    return [Heading(1, "Shapes"),
            Para(("The course's layout: examples first, channels last; after the flatten, one "
                  "example per column. Each gradient dQ has the shape of Q.",)),
            Table(("quantity", "shape"), rows, "ll")]


def forward(d) -> list[Block]:
    from derive.conv.worked import head_definitions
    from derive.core.printing import to_latex

    rows = [Row(t.to_latex(), e.to_latex()) for t, e in d.forward]
    rows += [Row(to_latex(t), to_latex(e)) for t, e in head_definitions(d.cnn)]
    return [Heading(1, "Forward pass"), Display(tuple(rows))]


def _index_rows(tex: str) -> list[Row]:
    """An entry-wise statement as display rows: split at its ⇒ and at each \\quad."""
    premise, _, result = tex.partition(_IMPLIES)
    rows = [Row("", premise, rel="")]
    for i, part in enumerate(result.split(r",\quad ") if result else []):
        rows.append(Row("", (r"\Rightarrow\; " if i == 0 else r"\phantom{\Rightarrow}\; ") + part, rel=""))
    return rows


def _loop(code: str) -> Raw:
    text = wrap_code(ascii_code(code))
    return Raw("{\\footnotesize\n\\begin{verbatim}\n" + text + "\n\\end{verbatim}\n}",
               "```python\n" + text + "\n```")


def _proof_parts(step) -> tuple[Any, ...]:
    p = step.proof
    if p is None:
        return ("Not proven in this handout (derive backward --spec proves it).",)
    # the method reads "SymPy on the printed formula (m = 2, at a rational point)": one level
    how = p.method.removeprefix("SymPy ").replace(" (", ", ", 1).replace(")", "", 1)
    return (f"Proven: {p.entries} entries compared exactly by SymPy {how}; central "
            f"differences agree to a relative error of {p.fd_error:.1e}.",)


def _explain(layer, step) -> tuple[Any, ...]:
    """What the step's form means for this layer, with its own sizes (prose; the formula is the
    step's)."""
    f, s, p = layer.size, layer.stride, layer.pad
    if step.rule == "conv_weight_gradient":
        return (f"The correlation form: filter tap (a, b) of dW meets the padded input shifted by "
                f"(a, b) and read at stride {s}, multiplied by dZ and summed over the examples and "
                f"the {layer.out_shape[0]}×{layer.out_shape[1]} output positions. The loop adds "
                "each window of the padded input, weighted by its dZ entry.",)
    if step.rule == "conv_input_gradient":
        return (f"The full convolution with the flipped filters: each output position sent "
                f"W times its dZ entry back to the {f}×{f} window it read. Written as one "
                f"operation, dZ is first dilated by the stride ({_count(s - 1, 'zero')} between entries, "
                f"so position (h, w) lands at ({s}h, {s}w)){_trailing(layer)}, then fully "
                f"convolved with W, which is the correlation with W rotated by 180 degrees; the "
                f"result has the padded input's size, and "
                + (f"the crop takes the pad of {p} off each side (dA_prev_pad[pad:-pad, pad:-pad] "
                   "in the course's loop)." if p else
                   "with pad 0 there is nothing to crop (the course's dA_prev_pad[pad:-pad] would "
                   "be empty at pad 0: dA_prev is dA_prev_pad itself)."),)
    if step.rule == "maxpool_gradient":
        return (f"The max-pool mask: in each {f}×{f} window (stride {s}) only the entry that was "
                "the maximum moved the output, so the window's gradient goes there and nowhere else "
                "(create_mask_from_window).",)
    if step.rule == "avgpool_gradient":
        return (f"The average spread: each of the {f * f} entries of a window moved the output by "
                f"1/{f * f} of its change, so each receives 1/{f * f} of the window's gradient "
                "(distribute_value).",)
    return ()


def _trailing(layer) -> str:
    """Where the stride leaves the padded input's last rows unread: the dilated dZ's trailing
    zeros (its size n_H_prev + 2p − f + 1, :class:`derive.core.convolution.Dilate`), or ""."""
    f, s, p = layer.size, layer.stride, layer.pad
    rows = [(n + 2 * p - f + 1, (o - 1) * s + 1) for n, o in zip(layer.in_shape[:2], layer.out_shape[:2],
                                                                strict=True)]
    if all(size == spanned for size, spanned in rows):
        return ""
    (h, hs), (w, ws) = rows
    if (h, hs) == (w, ws):
        k = h - hs
        what = "row and column" if k == 1 else f"{k} rows and columns"
        return (f"; the dilated dZ has n_H_prev + 2p − f + 1 = {h} rows and columns, {k} of them "
                f"trailing zeros: the strided windows never read the padded input's last {what}, "
                "so their gradient is 0")
    return (f"; the dilated dZ is n_H_prev + 2p − f + 1 = {h} by n_W_prev + 2p − f + 1 = {w}, "
            f"with {_count(h - hs, 'trailing zero row')} and {_count(w - ws, 'trailing zero column')}: the strided "
            "windows never read the padded input's last ones, so their gradient is 0")


def _printed(d) -> list:
    """The steps in the order the handout prints them: the dense head, then layer L' .. 1."""
    conv = [s for layer in reversed(d.cnn.layers[:d.cnn.flatten_at]) for s in d.steps
            if not s.dense and s.layer == layer.number]
    return [s for s in d.steps if s.dense] + conv


def references(d) -> dict[str, str]:
    """Each rule the steps cite, numbered R1, R2, … in order of first use (the margin shows the
    number, the last section lists the rules: ids such as conv_weight_gradient are no words)."""
    refs: dict[str, str] = {}
    for step in _printed(d):
        refs.setdefault(step.rule, f"R{len(refs) + 1}")
    return refs


def rules_used(refs: dict[str, str]) -> list[Block]:
    """The table of the rules referred to: number, title, source."""
    from derive.catalogue import rules
    from derive.handout.prose import RULE_NAMES

    rows = []
    for rule, ref in refs.items():
        identity = rules.identities().get(rule)
        # the dense head's rules by the dense handout's names (their titles hold templates)
        title = RULE_NAMES.get(rule) or (identity.title if identity is not None else rule.replace("_", " "))
        rows.append(((ref,), (title[:1].upper() + title[1:],),
                     (identity.source if identity is not None else "",)))
    return [Heading(1, "Rules used"), Table(("ref.", "rule", "source"), tuple(rows), "lp{6cm}p{6.5cm}")]


def layer_section(d, layer, refs: dict[str, str]) -> list[Block]:
    out: list[Block] = [Heading(1, f"Backward through layer {layer.number}: {layer.kind}")]
    for step in d.steps:
        if step.dense or step.layer != layer.number:
            continue
        out.append(Heading(2, f"{step.name}: {step.title}"))
        out.append(Display((Row(step.target.to_latex(), step.expr.to_latex(), (Ref(refs[step.rule]),)),)))
        explained = _explain(layer, step)
        if explained:
            out.append(Para(explained))
        out.append(Para(("Entry by entry:",)))
        out.append(Display(tuple(_index_rows(step.index_latex))))
        if step.rule == "conv_input_gradient":
            out += stride_and_pad(d, layer, step)
        out.append(Para(("The course's loop form:",)))
        out.append(_loop(step.loop))
        out.append(Para(_proof_parts(step)))
    return out


ILLUSTRATED = 8  # the widest slice the stride-and-pad illustration shows


def stride_pad_values(step) -> list[tuple[str, Any]]:
    """dA_prev's own subtrees (the dilation, the full convolution, the crop), innermost first,
    each evaluated on one example with dZ = 1, 2, 3, ... in channel 1 (0 in the others) and
    filters W drawn (to one decimal): [(LaTeX, value)], dZ and W first; [] when a slice would be wider than
    :data:`ILLUSTRATED`."""
    import numpy as np

    from derive.core.convolution import Dilate, FullConvolve
    from derive.core.names import m as M
    from derive.core.tensor import Crop, NumpyTensors, TSym, tevaluate

    parts = [n for n in step.expr.walk() if isinstance(n, Dilate | FullConvolve | Crop)]
    syms = {n.base: n for n in step.expr.walk() if isinstance(n, TSym)}
    if not parts or "dZ" not in syms or "W" not in syms or any(
            max(int(n.shape[1]), int(n.shape[2])) > ILLUSTRATED for n in parts):
        return []
    dz, w = syms["dZ"], syms["W"]
    h, wd, c = (int(x) for x in dz.shape[1:])
    dZ = np.zeros((1, h, wd, c))
    dZ[0, :, :, 0] = (1.0 + np.arange(h * wd)).reshape(h, wd)  # filter 1 only: W[:, :, :, 0] acts
    W = np.round(np.random.default_rng(0).normal(0.0, 0.5, size=tuple(int(x) for x in w.shape)), 1)
    env, be = {dz.key: dZ, w.key: W}, NumpyTensors({M: 1})
    out: list[tuple[str, Any]] = [(dz.to_latex(), dZ), (w.to_latex(), W)]
    return out + [(n.to_latex(), tevaluate(n, env, be)) for n in reversed(parts)]


def stride_and_pad(d, layer, step) -> list[Block]:
    """:func:`stride_pad_values` as a display, channel 1 of each (filter 1, channel 1 of W)."""
    import numpy as np

    from derive.numbers.render import matrix_latex

    values = stride_pad_values(step)
    if not values:
        return []
    rows = []
    for i, (tex, v) in enumerate(values):
        shown = np.round(v[:, :, 0, 0] if i == 1 else v[0, :, :, 0], 10) + 0.0  # 1e-16 dust: 0
        rows.append(Row(tex + (r"_{::11}" if i == 1 else ""), matrix_latex(shown, 3)))
    return [Para((f"Stride {layer.stride} and pad {layer.pad} in numbers: each part of the formula "
                  "above evaluated from its own nodes, on one example with dZ = 1, 2, 3, ... in "
                  "channel 1 (0 in the others, so only filter 1 acts) and drawn filters (input "
                  "channel 1 shown): the dilation spreads dZ out, "
                  "the full convolution lands on the padded input's size, the crop takes the pad "
                  "off.",)),
            Display(tuple(rows))]


def head(d, refs: dict[str, str]) -> list[Block]:
    rows = tuple(Row(s.target.to_latex(), s.expr.to_latex(), (Ref(refs[s.rule]),))
                 for s in d.steps if s.dense)
    off = d.cnn.flatten_at
    layers = f"layer {off + 1}" if off + 1 == d.cnn.L else f"layers {off + 1}..{d.cnn.L}"
    return [Heading(1, f"The dense head ({layers})"),
            Para(("Backpropagation starts at the loss. The layers after the flatten are dense, "
                  "derived by the dense engine (one example per column); the last formula, ",
                  M(f"dA^{{[{off}]}}"), ", is what the flatten hands back to the layers below:")),
            Display(rows)]


def verification(d, seed: int, check: bool, refs: dict[str, str]) -> list[Block]:
    out: list[Block] = [Heading(1, "Verification")]
    if d.proof is not None:
        rows = tuple(((M(s.target.to_latex()),), (refs.get(s.rule, ""),),
                      (str(s.proof.entries) if s.proof else "",),
                      (f"{s.proof.fd_error:.1e}" if s.proof else "",)) for s in _printed(d))
        out.append(Para(("Each formula above, in the order shown, with its rule's reference (the "
                         "output layer's dZ is shown twice: by the chain rule, then simplified), "
                         "proven entry by entry by SymPy on tiny instances and by central "
                         "differences:",)))
        out.append(Table(("formula", "rule", "entries exact", "central differences"), rows, "llrr"))
    if check:
        from derive.conv import gradcheck as G
        from derive.errors import DeriveError, ResourceLimit

        m = d.cnn.examples or 2
        entries, ops = G.work_estimate(d.cnn, m)
        if ops > CHECK_WORK:  # five checks (one passing, four planted) of a large spec: too long
            out.append(Para((f"The gradient check by central differences ({entries} entries, about "
                             f"{5 * ops / 1e9:.0f} s with the planted mistakes) is left to "
                             "derive gradcheck --spec.",)))
            return out
        try:
            ok = G.gradcheck(d.cnn, seed=seed, m=m)
        except ResourceLimit as exc:
            out.append(Para((f"The gradient check by central differences was not run: {exc}",)))
            return out
        out.append(Para((f"A gradient check of the whole cost J by central differences, every "
                         f"entry of every W, b and X (m = {ok.m}, drawn clear of kinks and ties): "
                         f"largest relative error {ok.max_relative_error:.1e}, "
                         f"{'passed' if ok.passed else 'FAILED'}. The same check on the formulas "
                         "with one mistake planted:",)))
        planted: list[tuple[tuple[str], ...]] = []
        for name, mistake in G.MISTAKES.items():
            try:
                r = G.gradcheck(d.cnn, seed=seed, m=m, plant=name)
            except DeriveError:  # the network has no place for this mistake
                planted.append(((mistake.title,), (f"no place for it (needs {mistake.needs})",), ("",)))
                continue
            worst = max((a.relative_error for a in r.arrays if a.status == "fail"), default=0.0)
            planted.append(((mistake.title,), (", ".join(r.failed) or "none: passed",),
                            (f"{worst:.2f}",)))
        out.append(Table(("planted mistake", "arrays that fail", "rel. error"), tuple(planted),
                         "p{7.5cm}p{3.5cm}r"))
    return out


def _sentence(note: str) -> str:
    """A note as a sentence: capitalised, unless it opens with a quantity's name (dZ[l], dW)."""
    first = note.split(" ", 1)[0]
    if first[:1] == "d" and first[1:2].isupper():
        return note + "."
    return note[:1].upper() + note[1:] + "."


def _count(n: int, noun: str) -> str:
    """``1 zero``, ``2 zeros``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")
