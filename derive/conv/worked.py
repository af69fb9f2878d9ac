"""A CNN's worked example: the forward and backward numbers step by step, each line the
derivation's own formula (:func:`derive.conv.derive_cnn`) evaluated on a small seeded instance,
as `derive numbers` does for a dense network (text and a LaTeX section).

Rank-4 values (the course's (m, n_H, n_W, n_C)) are printed one n_H × n_W slice per example i and
channel c; a filter bank W (f, f, n_C_prev, n_C) one f × f slice per input channel k and filter c.
Every forward line is a definition of the derivation (conv, pool, flatten; the dense head's own
Z = W A + b, A = g(Z)), every backward line a step with the identity it cites and, below the
flatten, the course's loop form; the instance is drawn clear of ReLU kinks and max-pool ties
(:func:`derive.conv.gradcheck.random_instance`).

>>> from derive.conv.spec import load_cnn, EXAMPLE
>>> w = worked_example(load_cnn(EXAMPLE), seed=0)
>>> [line.name for line in w.backward][-4:]
['dZ[1]', 'dW[1]', 'db[1]', 'dX']
>>> print(render_text(w).splitlines()[0])  # doctest: +ELLIPSIS
Worked example: input 6×6×2 per example; conv2d(3 filters 3×3, stride 2, pad 1, relu) → ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from derive.conv.gradcheck import cost, describe, random_instance
from derive.conv.spec import CNN
from derive.core import tensor as T
from derive.core.names import m as M
from derive.limits import Limit, require
from derive.numbers.render import fmt, matrix_latex, matrix_text
from derive.render.latex import escape

#: the entries one worked example prints (every value of every line, m examples)
SHOWN = Limit("conv.worked_entries", 20_000, "entries", "smaller sizes in the spec (or examples)",
              "the entries a CNN worked example computes and prints")


@dataclass(frozen=True)
class Line:
    """One line of the example: ``name = formula`` and its value; a backward step also has the
    rule it cites, its index form and its loop form."""

    name: str
    text: str  # "Z[1] = corr(pad(X, 1), W[1], s=2) + b[1]"
    latex: str
    value: np.ndarray
    rule: str | None = None
    title: str | None = None
    index: str | None = None
    loop: str | None = None


@dataclass(frozen=True)
class CNNWorked:
    """The whole example: the given values, the forward lines, J, the backward lines, notes."""

    description: str
    m: int
    seed: int
    given: tuple[Line, ...]
    forward: tuple[Line, ...]
    J: float
    backward: tuple[Line, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        def line(x: Line) -> dict[str, Any]:
            return {"name": x.name, "formula": x.text, "latex": x.latex, "rule": x.rule,
                    "shape": list(x.value.shape), "value": np.asarray(x.value).tolist(),
                    "loop": x.loop}

        return {"network": self.description, "m": self.m, "seed": self.seed, "J": self.J,
                "given": [line(x) for x in self.given], "forward": [line(x) for x in self.forward],
                "backward": [line(x) for x in self.backward], "notes": list(self.notes)}


def _name(base: str, layer) -> str:
    return base if layer is None else f"{base}[{layer}]"


def worked_example(cnn: CNN, seed: int = 0, m: int | None = None) -> CNNWorked:
    """Draw an instance (m = the spec's ``examples``, else 1) and evaluate every line."""
    from derive.conv.derivation import derive_cnn
    from derive.conv.numbers import forward_values, network_gradients
    from derive.core.expr import evaluate
    from derive.core.names import latex_name
    from derive.core.printing import to_latex, to_text
    from derive.network import model

    m = m if m is not None else (cnn.examples or 1)
    require(SHOWN, shown_entries(cnn, m), f"a worked example of this spec with m = {m}")
    d = derive_cnn(cnn, prove=False)
    params, X, Y, _ = random_instance(cnn, seed, m)
    # labels, as the course's examples have them (the draw's targets are the loss's whole domain):
    # ce, each example's most likely class in the drawn Y, one-hot; bce, each probability rounded
    targets = cnn.head().loss_entry.targets
    labels = {"distribution": "Y one-hot (one label per example, as the course's)",
              "probability": "Y of 0/1 labels (as the course's)"}.get(targets, "")
    if targets == "distribution":
        Y = np.eye(Y.shape[0])[np.argmax(Y, axis=0)].T
    elif targets == "probability":
        Y = (Y >= 0.5).astype(float)
    values = {_split(k): v for k, v in network_gradients(cnn, params, X, Y).items()}
    env: dict[Any, Any] = {**forward_values(cnn, params, X), **values, **params, ("Y", None): Y}
    given = [Line("X", "X", "X", X)]
    given += [Line(_name(*k), _name(*k), latex_name(*k), v) for k, v in params.items()]
    given.append(Line("Y", "Y", "Y", Y))
    forward = [Line(_name(*t.key), f"{t.to_text()} = {e.to_text()}",
                    f"{t.to_latex()} = {e.to_latex()}", env[t.key]) for t, e in d.forward]
    backend = model.numpy_backend(cnn.head(), m)
    for t, e in head_definitions(cnn):
        forward.append(Line(to_text(t), f"{to_text(t)} = {to_text(e)}",
                            f"{to_latex(t)} = {to_latex(e)}", np.asarray(evaluate(e, env, backend))))
    be = T.NumpyTensors({M: m})
    backward = []
    for s in d.steps:
        value = evaluate(s.expr, env, backend) if s.dense else T.tevaluate(s.expr, env, be)
        backward.append(Line(s.name, s.text, s.latex, np.asarray(value, dtype=float), s.rule,
                             s.title, s.index, None if s.dense else s.loop))
    notes = (f"a seeded instance (seed {seed}, m = {m}), drawn clear of ReLU kinks and max-pool "
             "ties" + (f"; {labels}" if labels else "")
             + "; every line is the derivation's formula evaluated (derive backward --spec "
             "proves them)", *d.notes)
    return CNNWorked(describe(cnn), m, seed, tuple(given), tuple(forward),
                     cost(cnn, params, X, Y), tuple(backward), notes)


def shown_entries(cnn: CNN, m: int) -> int:
    """The entries a worked example prints, estimated before anything is drawn: X and Y, every
    layer's output (and Z) and its gradients, every parameter and its gradient."""
    from derive.conv.gradcheck import _shapes

    per_example = int(np.prod(cnn.input)) + sum(5 * int(np.prod(l.out_shape)) for l in cnn.layers)
    return m * (per_example + cnn.layers[-1].units) + 2 * sum(
        int(np.prod(shape)) for shape in _shapes(cnn).values())


def head_definitions(cnn: CNN) -> list[tuple[Any, Any]]:
    """The dense head's forward definitions (Z = W A + b, A = g(Z): the dense engine's own,
    :func:`derive.network.model.definitions`) numbered as the CNN's layers, its X the flatten's A."""
    from derive.conv.derivation import renumbered
    from derive.network import model

    head, off = cnn.head(), cnn.flatten_at
    return [(renumbered(sym, off), renumbered(expr, off))
            for k in range(1, head.L + 1) for sym, expr in model.definitions(head, k)]


def _split(name: str) -> tuple[str, int]:
    base = name.rstrip("0123456789")
    return (base, int(name[len(base):]))


# -- printing ------------------------------------------------------------------------------------
def slices(value: np.ndarray, filters: bool = False):
    """(label, 2-D slice) pairs: rank 4 one n_H × n_W slice per example i and channel c (a filter
    bank: per input channel k and filter c), 1-based; a bias (1×1×1×n_C) one row of its n_C
    values; lower ranks as they are."""
    v = np.asarray(value, dtype=float)
    if v.ndim != 4 or v.shape[:3] == (1, 1, 1):  # a bias b, db (1×1×1×n_C): one row, per filter
        yield "", v.reshape(v.shape[0], -1) if 1 < v.ndim < 4 else v.reshape(1, -1)
        return
    first, last = ("k", "c") if filters else ("i", "c")
    if filters:
        for k in range(v.shape[2]):
            for c in range(v.shape[3]):
                yield f"{first}={k + 1}, {last}={c + 1}", v[:, :, k, c]
    else:
        for i in range(v.shape[0]):
            for c in range(v.shape[3]):
                yield f"{first}={i + 1}, {last}={c + 1}", v[i, :, :, c]


def _is_filter(line: Line) -> bool:
    return line.name.startswith(("W[", "dW[")) and np.ndim(line.value) == 4


def _rows_text(part: np.ndarray, pad: str, digits: int = 5) -> list[str]:
    """A 2-D slice one row a line, the columns aligned (a row of up to 4 entries inline)."""
    if part.ndim < 2 or part.size <= 4:
        return [f"{pad}{matrix_text(part, digits)}"]
    cells = [[fmt(x, digits) for x in row] for row in part]
    width = max(len(c) for row in cells for c in row)
    return [f"{pad}[{'  '.join(c.rjust(width) for c in row)}]" for row in cells]


def _value_text(line: Line, pad: str) -> list[str]:
    v = np.asarray(line.value)
    if v.size == 1:
        return [f"{pad}= {fmt(v.item())}"]
    shape = "×".join(map(str, v.shape))
    out = [f"{pad}({shape})"]
    for label, part in slices(v, _is_filter(line)):
        rows = _rows_text(part, pad + "  ")
        if label and len(rows) == 1:
            out.append(f"{pad}[{label}] {rows[0].strip()}")
        else:
            out += ([f"{pad}[{label}]"] if label else []) + rows
    return out


def render_text(w: CNNWorked) -> str:
    out = [f"Worked example: {w.description}"]
    out += [f"  note: {n}" for n in w.notes]
    out += ["", "Given"]
    for x in w.given:
        out.append(f"{x.name}")
        out += _value_text(x, "  ")
    out += ["", "Forward pass"]
    for x in w.forward:
        out.append(x.text)
        out += _value_text(x, "  ")
    out.append(f"J = (1/m) Σ ℓ = {fmt(w.J)}")
    out += ["", "Backward pass (the derivation's formulas, each proven by `derive backward --spec`)"]
    for x in w.backward:
        out.append(f"{x.text}    [{x.rule}]")
        if x.loop:
            out += ["  loop form:"] + [f"    {line}" for line in x.loop.splitlines()]
        out += _value_text(x, "  ")
    return "\n".join(out)


COLUMN_PT, LABEL_PT, LINE_PT = 58, 45, 440  # a 4-digit entry's column, a name, the text width
MAX_COLUMNS = 8  # wider matrices are shown in blocks of columns
CODE_WIDTH = 88  # characters of a loop line in \footnotesize verbatim (the text is ~99 wide)


def _value_latex(line: Line, lhs: str, digits: int = 4) -> list[str]:
    """The value as bmatrix slices, as many to a display as fit the text width (estimated from
    the columns); a slice wider than :data:`MAX_COLUMNS` in blocks of columns."""
    v = np.asarray(line.value)
    if v.size == 1:
        return [rf"\[ {lhs} = {matrix_latex(v, digits)} \]"]
    pieces: list[tuple[str, int]] = []
    for label, part in slices(v, _is_filter(line)):
        part = part if part.ndim == 2 else part.reshape(1, -1)
        for j in range(0, part.shape[1], MAX_COLUMNS):
            block = part[:, j:j + MAX_COLUMNS]
            cols = f"cols {j + 1}..{j + block.shape[1]}" if part.shape[1] > MAX_COLUMNS else ""
            sub = ", ".join(x for x in (label, cols) if x)
            name = rf"{lhs}_{{{_sub(sub)}}}" if sub else lhs
            pieces.append((rf"{name} = {matrix_latex(block, digits)}",
                           LABEL_PT + COLUMN_PT * block.shape[1]))
    out: list[str] = []
    row: list[str] = []
    width = 0
    for tex, w in pieces:
        if row and width + w > LINE_PT:
            out.append(r"\[ " + r" \quad ".join(row) + r" \]")
            row, width = [], 0
        row.append(tex)
        width += w + 20
    out.append(r"\[ " + r" \quad ".join(row) + r" \]")
    return out


def _sub(label: str) -> str:
    return label.replace(", ", r",\,").replace("cols ", r"\text{cols }")


def render_latex(w: CNNWorked, title: str = "Worked example") -> str:
    """A section a handout can \\input (amsmath for bmatrix; verbatim for the loops); no preamble."""
    from derive.handout.doc import tex_text

    out = [f"% derive numbers: {tex_text(w.description)}", "% needs \\usepackage{amsmath}",
           rf"\section*{{{escape(title)}}}"]
    out += [rf"\noindent {tex_text(n)}\par" for n in w.notes]
    out.append(r"\subsection*{Given}")
    for x in w.given:
        out += _value_latex(x, x.latex)
    out.append(r"\subsection*{Forward pass}")
    for x in w.forward:
        out.append(rf"\[ {x.latex} \]")
        out += _value_latex(x, x.latex.split(" = ")[0])
    out.append(rf"\[ J = \frac{{1}}{{m}} \sum \ell = {matrix_latex(np.asarray(w.J))} \]")
    out.append(r"\subsection*{Backward pass}")
    for x in w.backward:
        out.append(rf"{{\raggedright\noindent {tex_text(x.title or x.rule or '')} "
                   rf"({tex_text(x.rule or '')}):\par}}")
        out.append(rf"\[ {x.latex} \]")
        if x.loop:
            out += [r"{\footnotesize", r"\begin{verbatim}", *wrap_code(ascii_code(x.loop)).splitlines(),
                    r"\end{verbatim}", "}"]
        out += _value_latex(x, x.latex.split(" = ")[0])
    return "\n".join(out)


def wrap_code(code: str, width: int = CODE_WIDTH) -> str:
    """Loop code with every line at most ``width`` characters: a long line is broken at a space,
    inside brackets as Python allows, else with a backslash, inside a comment as a new comment
    line; continuations indented by 4."""
    out = []
    for line in code.splitlines():
        indent = " " * (len(line) - len(line.lstrip()))
        hash_at = line.find("#")
        if len(line) > width and hash_at > len(indent) and len(line[:hash_at].rstrip()) <= width:
            out.append(line[:hash_at].rstrip())  # an inline comment goes on a line of its own
            line = indent + "    " + line[hash_at:]
        while len(line) > width:
            cut = line.rfind(" ", len(indent) + 8, width - 2)
            if cut < 0:
                break
            head, rest = line[:cut], line[cut + 1:]
            if "#" in head:  # in a comment: the rest is a comment of its own
                out.append(head)
                line = indent + "    # " + rest
                continue
            opened = sum(head.count(c) for c in "([{") - sum(head.count(c) for c in ")]}")
            out.append(head if opened > 0 else head + " \\")
            line = indent + "    " + rest
        out.append(line)
    return "\n".join(out)


def ascii_code(code: str) -> str:
    """Loop code as pdflatex's verbatim reads it (ASCII): relu′ as relu_prime, − as -."""
    table = {"′": "_prime", "−": "-", "⊙": "*", "·": "*", "×": "x"}
    return "".join(table.get(ch, ch if ch.isascii() else "?") for ch in code)
