"""Text and LaTeX for the contraction, the naive chain rule and the activation step, and the
whole ``derive jacobian`` report (text, a LaTeX ``\\section`` fragment, or a JSON-ready dict).

>>> from derive.network.spec import Network
>>> from derive.jacobian.steps import contraction
>>> print(contraction_text(contraction(Network(depth=1), "b1")).splitlines()[0])
The contraction: ∂J/∂b[1] from ∂J/∂Z[1] and the array ∂Z[1]/∂b[1]
"""

from __future__ import annotations

import numpy as np

from derive.jacobian.render import entry_latex, entry_text


def _num(x: float) -> str:
    return f"{x:.4f}"


def _matrix_text(v: np.ndarray, mark=frozenset()) -> list[str]:
    cells = [[_num(x) + ("*" if (i + 1, j + 1) in mark else " ") for j, x in enumerate(row)]
             for i, row in enumerate(v)]
    w = max(len(c) for row in cells for c in row)
    return ["[ " + "  ".join(c.rjust(w) for c in row) + " ]" for row in cells]


# -- contraction -------------------------------------------------------------------------------
def contraction_text(c) -> str:
    wt, zt = c.wrt.text, f"Z[{c.layer}]"
    lines = [f"The contraction: ∂J/∂{wt} from ∂J/∂{zt} and the array ∂{zt}/∂{wt}", ""]
    for n, s in enumerate(c.steps, 1):
        lines.append(f"{n}. {s.title}")
        lines.append(f"   rule {s.rule} ({s.rule_title}): {s.index}")
        lines += [f"     {e}" for e in s.entries]
        if s.note:
            lines.append(f"   ({s.note})")
    lines.append("")
    lines.append(f"Checked: every entry of the contraction equals the engine's {c.formula.name}"
                 f"{'' if c.factor == 1 else ' times ' + str(c.factor)} (SymPy), and ∂J/∂{zt} "
                 f"from the engine's formulas matches central differences of J (relative error "
                 f"{c.fd_error:.1e}).")
    return "\n".join(lines)


def contraction_latex(c, level: str = "subsection") -> str:
    wt, zt = c.wrt.latex, f"Z^{{[{c.layer}]}}"
    parts = [rf"\{level}{{The contraction: $\partial J/\partial {wt}$}}", r"\begin{enumerate}"]
    for s in c.steps:
        body = " \\\\\n".join(s.entries_latex)
        name = s.rule.replace("_", r"\_")
        parts.append(rf"\item {_tex_escape(s.title)} (rule \texttt{{{name}}})"
                     "\n\\begin{align*}\n" + body.replace(" = ", " &= ", 1) + "\n\\end{align*}")
    parts.append(r"\end{enumerate}")
    parts.append(rf"Checked: every entry equals the engine's ${c.formula.latex.split(' = ')[0]}$ "
                 rf"(SymPy); $\partial J/\partial {zt}$ matches central differences "
                 rf"(relative error ${c.fd_error:.1e}$).")
    return "\n".join(parts) + "\n"


_TEX = {"∂": r"$\partial$", "ᵀ": r"$^{\top}$", "Σ": r"$\Sigma$", "×": r"$\times$",
        "·": r"$\cdot$", "⊙": r"$\odot$", "′": r"$'$", "—": "---", "−": "-", "…": r"\dots{}",
        "_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "✗": "", "ₖ": r"$_k$", "ₗ": r"$_l$",
        "ᵢ": r"$_i$", "ⱼ": r"$_j$", "ℓ": r"$\ell$", "δ": r"$\delta$", "⊘": r"$\oslash$"}
_TEX.update({d: f"$_{i}$" for i, d in enumerate("₀₁₂₃₄₅₆₇₈₉")})


def _tex_escape(s: str) -> str:
    """Prose with symbols (titles, error messages) as LaTeX text: symbols become math."""
    return "".join(_TEX.get(ch, ch) for ch in s)


# -- naive -------------------------------------------------------------------------------------
_VERDICT = {
    "shape_error": "the shapes do not multiply",
    "fits_only_here": "it type-checks only because the sizes happen to be equal, and the numbers "
                      "come out wrong — the trap",
    "wrong_numbers": "the shapes fit, but the numbers come out different",
    "agrees": "it agrees with the engine's formula here",
}


def naive_text(r) -> str:
    sizes = ",".join(str(s) for s in r.sizes)
    lines = [f"The naive scalar chain rule: {r.written}", "",
             "With symbolic sizes (n0, n1, …, m): "
             + (f"✗ {r.general_error}" if r.general_error else "the shapes fit")]
    lines.append(f"With sizes {sizes} and m = {r.m}: "
                 + (f"✗ {r.concrete_error}" if r.concrete_error else "the shapes fit"))
    if r.student_value is not None:
        mark = frozenset((i, j) for i, j, _, _ in r.differing)
        lines.append(f"Numbers on a random instance (seed {r.seed}); * marks a differing entry:")
        left = ["student:"] + _matrix_text(r.student_value, mark)
        right = [f"engine: {r.correct.text}"] + _matrix_text(r.correct_value)
        w = max(len(s) for s in left) + 4
        lines += ["  " + a.ljust(w) + b for a, b in zip(left, right, strict=True)]
        for i, j, s, c in r.differing:
            lines.append(f"  {r.target} entry ({i}, {j}): student {_num(s)}, correct {_num(c)}")
        lines.append(f"  the engine's {r.correct.name} matches central differences of J "
                     f"(relative error {r.fd_error:.1e})")
    lines.append(f"Verdict: {_VERDICT[r.verdict]}. The correct formula: {r.correct.text}")
    return "\n".join(lines)


def _bm(v: np.ndarray) -> str:
    rows = r" \\ ".join(" & ".join(f"{x:.4f}" for x in row) for row in v)
    return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"


def naive_latex(r, level: str = "subsection") -> str:
    parts = [rf"\{level}{{The naive scalar chain rule}}",
             "Student's ordering: " + _tex_escape(r.written) + "."]
    if r.general_error:
        parts.append("With symbolic sizes: " + _tex_escape(r.general_error) + ".")
    if r.concrete_error:
        parts.append("At the chosen sizes: " + _tex_escape(r.concrete_error) + ".")
    if r.student_value is not None:
        parts.append(rf"\[ \text{{student}} = {_bm(r.student_value)} \neq {_bm(r.correct_value)}"
                     r" = \text{engine} \]")
    parts.append(f"Verdict: {_tex_escape(_VERDICT[r.verdict])}. "
                 rf"The correct formula: ${r.correct.latex}$.")
    return "\n\n".join(parts) + "\n"


# -- activation step ---------------------------------------------------------------------------
def activation_text(a) -> str:
    from derive.jacobian.render import array_text, zeros_text

    l_ = a.layer
    lines = [f"The activation step of layer {l_}: ∂A[{l_}]/∂Z[{l_}]", ""]
    e = a.elementwise
    g = e.network.activation(l_)
    name = f"g[{l_}]" if g is None else g.text
    lines.append(f"Element-wise {name}: diagonal, so Σ dA ⊙ (∂A/∂Z) is dA ⊙ {name}′(Z[{l_}])")
    lines += [array_text(e), zeros_text(e), ""]
    if a.softmax is not None:
        s = a.softmax
        lines.append("Softmax: a full Jacobian within each example, zero across examples")
        lines += [array_text(s), zeros_text(s)]
        lines.append("One example's block, diag(a) − a aᵀ (from the checked closed form):")
        lines += ["  " + " | ".join(entry_text(x) for x in row) for row in a.block.tolist()]
    if a.note:
        lines.append(f"Note: {a.note}")
    return "\n".join(lines)


def activation_latex(a, level: str = "subsection") -> str:
    from derive.jacobian.render import array_latex

    l_ = a.layer
    parts = [rf"\{level}{{The activation step: $\partial A^{{[{l_}]}}/\partial Z^{{[{l_}]}}$}}",
             r"Element-wise: the Jacobian is diagonal, so the chain rule becomes $\odot g'(Z)$.",
             array_latex(a.elementwise)]
    if a.elementwise.rule is not None:
        parts.append(rf"\[ {a.elementwise.rule.latex} \]")
    if a.softmax is not None:
        parts += [r"Softmax: a full Jacobian within each example, block diagonal across examples.",
                  rf"\[ {a.softmax.rule.latex} \]",
                  r"\[ \operatorname{diag}(a) - a a^{\top} = \begin{bmatrix} "
                  + r" \\ ".join(" & ".join(entry_latex(x) for x in row)
                                 for row in a.block.tolist()) + r" \end{bmatrix} \]"]
    return "\n\n".join(parts) + "\n"


# -- the whole report ----------------------------------------------------------------------------
def report_text(result, contraction=None, activation=None, naive=None) -> str:
    from derive.render import convention_lines

    parts = [result.to_text(), "\n".join(convention_lines(result.network))]
    for extra in (contraction, activation, naive):
        if extra is not None:
            parts.append(extra.to_text())
    return "\n\n".join(parts) + "\n"


def report_latex(result, contraction=None, activation=None, naive=None) -> str:
    """One ``\\section`` (no preamble) with a ``\\subsection`` per part."""
    parts = [result.to_latex()]
    if contraction is not None:
        parts.append(contraction_latex(contraction))
    if activation is not None:
        parts.append(activation_latex(activation))
    if naive is not None:
        parts.append(naive_latex(naive))
    return "\n".join(parts)


def report_dict(result, contraction=None, activation=None, naive=None) -> dict:
    out = result.to_dict()
    out["contraction"] = None if contraction is None else contraction.to_dict()
    out["activation_step"] = None if activation is None else activation.to_dict()
    out["naive_chain_rule"] = None if naive is None else naive.to_dict()
    return out
