"""The handout's sections on dropout and batch normalisation: what the course teaches about each,
with every formula from the derivation and every number from a run.

- ``dropout``: inverted dropout, A = g(Z) ⊙ D / keep_prob with the mask held fixed (the gradient
  of the sampled network), why the division (the expected activation is unchanged: measured on
  masks drawn as the course draws them), the backward step dA ⊙ D / keep_prob and its numpy.
- ``batchnorm``: the computational graph (a TikZ figure: Z → μ, σ² → Z_norm → Z̃ = γ Z_norm + β),
  the backward path through dZ_norm, dσ², dμ, the compact dZ, and what dZ means there: the
  gradient of the summed loss, not a per-example one (shown on a run: another example's target
  changes column 1 of dZ[l]).

A worksheet keeps the explanations and leaves out the backward formulas (they are its blanks).

>>> from derive.network.spec import Network
>>> from derive.handout.sections import Context
>>> from derive.engine.backward import derive
>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce", keep_prob=0.8)
>>> ctx = Context(derive(net, prove=False))
>>> [b.text for b in dropout(ctx) if hasattr(b, "text")]
['Dropout: why divide by the keep probability']
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import sympy as sp

from derive.core.names import latex_name
from derive.core.printing import to_code, to_latex
from derive.engine.backward import Step
from derive.engine.values import gradient_values
from derive.handout.doc import Block, Display, Heading, M, Para, Parts, Raw, Row
from derive.handout.sections import Context
from derive.handout.steps import fit
from derive.layers.dropout import draw_mask
from derive.network import model
from derive.network.scales import factor_at
from derive.network.spec import Network

MASK_DRAWS = 100_000  # mask entries drawn to measure E[D/p]


def applies(name: str, net: Network) -> bool:
    """Whether section ``name`` has anything to say about ``net``."""
    if name == "dropout":
        return net.keep_prob is not None and any(p is not None for p in net.keep_prob)
    if name == "batchnorm":
        return "batchnorm" in net.kinds
    return True


def _verbatim(code: str) -> Raw:
    """A line of numpy, copyable (verbatim), indented as a display."""
    return Raw("\\begin{verbatim}\n    " + code + "\n\\end{verbatim}", f"`{code}`")


def _p(net: Network, l: int) -> str:
    p = net.dropout(l)
    return "p" if p is None or p.free_symbols else sp.latex(p)


def _step(ctx: Context, l: int, rule: str, base: str = "") -> Step | None:
    for s in ctx.derivation.steps_for(l):
        if s.rule == rule and (not base or s.target.key[0] == base):
            return s
    return None


# -- dropout --------------------------------------------------------------------------------------
def dropout(ctx: Context) -> list[Block]:
    net = ctx.net
    if not applies("dropout", net):
        return []
    layers = [l for l in range(1, net.L) if net.dropout(l) is not None]
    l = layers[0]
    p = _p(net, l)
    G, D, A, Z = (latex_name(x, l) for x in ("G", "D", "A", "Z"))
    out: list[Block] = [Heading(1, "Dropout: why divide by the keep probability")]
    out.append(Para(("In training, each unit of layer ", str(l), " is kept with probability ",
                     M(f"p = {p}"), " and dropped otherwise: ", M(D), " is a 0/1 mask, drawn afresh "
                     "for every batch as the course draws it,")))
    out.append(_verbatim(f"D{l} = np.random.rand(*A{l}.shape) < keep_prob"))
    out.append(Para(("The forward pass of the layer is",)))
    rows = [Row(to_latex(t), fit(to_latex(t), to_latex(e))) for t, e in model.definitions(net, l)
            if t.key[0] in ("G", "A")]
    out.append(Display(tuple(rows)))
    keep, measured = _mask_mean(net, l, ctx.seed)
    at = "" if p != "p" else f" (at p = {keep:g})"
    out.append(Para(("Why divide by ", M("p"), "? Each entry of the mask is 1 with probability ",
                     M("p"), ", so ", M(rf"\mathbb{{E}}[D^{{[{l}]}}_{{it}}] = p"), " and ",
                     M(rf"\mathbb{{E}}[A^{{[{l}]}}_{{it}}] = G^{{[{l}]}}_{{it}}\,\mathbb{{E}}"
                       rf"[D^{{[{l}]}}_{{it}}]/p = G^{{[{l}]}}_{{it}}"),
                     ": on average the layer passes on the activation it would pass on without "
                     "dropout, so the next layer's ", M(latex_name("Z", l + 1)), " keeps its scale, "
                     "and at test time the network runs without a mask and without any rescaling. "
                     "Without the division the expected activation would shrink to ", M(f"p\\,{G}"),
                     f". Measured here{at}: over {MASK_DRAWS:,} mask entries drawn that way, the mean of ",
                     M(f"{D}/p"), " is ", M(f"{measured:.4f}"), ".")))
    out.append(Para(("Backward, the mask is held fixed: the gradient is the gradient of the network "
                     "as it was sampled for this batch, one thinned network among many, and a "
                     "finite-difference check must use the same mask (the verification here "
                     "does). Through ", M(f"{A} = {G} \\odot {D}/p"), " the chain rule gives",)))
    step = _step(ctx, l, "dropout_mask", "dG")
    if step is not None and not ctx.exercises:  # a worksheet asks for it
        target = to_latex(step.target)
        out.append(Display((Row(target, fit(target, to_latex(step.expr))),)))
        out.append(Para(("in numpy",)))
        out.append(_verbatim(f"d{_code(step)}"))
        out.append(Para(("The gradient reaches a unit only "
                         "where it was kept, scaled by the same ", M("1/p"), " as the forward pass. "
                         "Where a unit was dropped its entries of ", M(latex_name("dZ", l)),
                         " are zero, so that example adds nothing to the unit's row of ",
                         M(latex_name("dW", l)), " and its ", M(latex_name("db", l)), ".")))
    else:
        out.append(Para(("the step asked for in the backward pass.",)))
    if len(layers) > 1:
        out.append(Para(("The same holds on layers ", ", ".join(map(str, layers[1:])),
                         ", each with its own mask.")))
    return out


def _code(step: Step) -> str:
    """``G1 = dA1 * (1/0.8) * D1``: the step's numpy form (its left side without the d)."""
    return f"{step.target.key[0][1:]}{step.layer} = {to_code(step.expr)}"


def _mask_mean(net: Network, l: int, seed: int) -> tuple[float, float]:
    """The keep probability (a symbolic one at its stand-in) and the mean of D/p over
    MASK_DRAWS entries drawn by the layer's own :func:`draw_mask`."""
    p = net.dropout(l)
    keep = factor_at(p if p is not None else sp.S(1), 1)
    mask = draw_mask(net, l, np.random.default_rng(seed), (MASK_DRAWS,))
    return keep, float(mask.mean() / keep)


# -- batch norm ------------------------------------------------------------------------------------
def _graph(l: int) -> str:
    """The batch-norm layer's computational graph, its gradients under each node."""
    def node(name: str, at: str, tex: str, grad: str) -> str:
        side = "above" if name in ("mu", "g") else "below"  # clear of the edges
        return (rf"\node[box] ({name}) at ({at}) {{${tex}$}};" + "\n"
                + rf"\node[grad, {side}=1pt of {name}] {{${grad}$}};")
    L = f"[{l}]"
    lines = [r"\begin{center}", r"\begin{tikzpicture}[x=1cm, y=1cm, font=\small, >=stealth,",
             r"  box/.style={draw, rounded corners, minimum width=1.1cm, minimum height=0.7cm},",
             r"  grad/.style={text=red!70!black, font=\scriptsize}]",
             rf"\node (in) at (0,0) {{$A^{{[{l - 1}]}}$}};" if l > 1 else r"\node (in) at (0,0) {$X$};",
             node("Z", "2,0", f"Z^{{{L}}}", f"dZ^{{{L}}}"),
             node("mu", "4.3,1.3", f"\\mu^{{{L}}}", r"d\mu"),
             node("var", "4.3,-1.3", r"\sigma^{2}", r"d\sigma^{2}"),
             node("Zn", "7,0", r"Z_{\text{norm}}", r"dZ_{\text{norm}}"),
             node("Zt", "9.6,0", rf"\tilde{{Z}}^{{{L}}}", rf"d\tilde{{Z}}^{{{L}}}"),
             node("A", "12,0", f"A^{{{L}}}", f"dA^{{{L}}}"),
             node("g", "8.3,1.5", r"\gamma", r"d\gamma"),
             node("b", "8.3,-1.5", r"\beta", r"d\beta"),
             rf"\draw[->] (in) -- node[above, font=\scriptsize] {{$W^{{{L}}}$}} (Z);",
             r"\draw[->] (Z) -- (mu);", r"\draw[->] (Z) -- (var);", r"\draw[->] (mu) -- (var);",
             r"\draw[->] (Z) -- (Zn);", r"\draw[->] (mu) -- (Zn);", r"\draw[->] (var) -- (Zn);",
             r"\draw[->] (Zn) -- (Zt);", r"\draw[->] (g) -- (Zt);", r"\draw[->] (b) -- (Zt);",
             rf"\draw[->] (Zt) -- node[above, font=\scriptsize] {{$g^{{{L}}}$}} (A);",
             r"\end{tikzpicture}", r"\end{center}"]
    return "\n".join(lines)


def batchnorm(ctx: Context) -> list[Block]:
    net, d = ctx.net, ctx.derivation
    if not applies("batchnorm", net):
        return []
    l = next(i for i in range(1, net.L + 1) if net.kinds[i - 1] == "batchnorm")
    Z, dZ = latex_name("Z", l), latex_name("dZ", l)
    out: list[Block] = [Heading(1, "Batch normalisation: the computational graph")]
    out.append(Para(("Layer ", str(l), " normalises ", M(Z), " unit by unit over the ", M("m"),
                     " examples of the batch, with the batch's own mean and variance, then scales "
                     "and shifts it:")))
    rows = [Row(to_latex(t), fit(to_latex(t), to_latex(e))) for t, e in model.definitions(net, l)]
    out.append(Display(tuple(rows)))
    out.append(Raw(_graph(l), f"`Z[{l}] → μ, σ² → Z_norm → Z̃ = γ Z_norm + β → A[{l}]`"))
    out.append(Para(("Backprop visits the graph from right to left; beside each node, in red, is its gradient. ",
                     M(r"\gamma"), " and ", M(r"\beta"), " get theirs from ", M(r"d\tilde{Z}"),
                     " directly. ", M(Z), " has three outgoing edges, to ", M(r"\mu"), ", to ",
                     M(r"\sigma^2"), " and to ", M(r"Z_{\text{norm}}"), ", so its gradient adds three "
                     "paths; ", M(r"\mu"), " has two (to ", M(r"\sigma^2"), " and to ",
                     M(r"Z_{\text{norm}}"), "). The backward pass above takes them in that order: ",
                     M(r"dZ_{\text{norm}}"), ", then ", M(r"d\sigma^2"), ", then ", M(r"d\mu"),
                     ", then ", M(dZ), ".")))
    compact = _step(ctx, l, "batchnorm_compact")
    if compact is not None and not ctx.exercises:
        target = to_latex(compact.target)
        out.append(Para(("Substituted and simplified, the three paths give the compact form:",)))
        out.append(Display((Row(target, fit(target, to_latex(compact.expr))),)))
    out.append(Heading(2, "What dZ means in a batch-normalised layer"))
    meaning: Parts
    if net.per_example_dZ:
        meaning = ("Above this layer, column ", M("t"), " of ", M(latex_name("dZ", l + 1) if l < net.L
                                                                 else dZ), " is example ", M("t"),
                   "'s own gradient ", M(r"\partial \ell_t / \partial Z"), ". Batch norm ends that: ",
                   M(r"\mu"), " and ", M(r"\sigma^2"), " are computed from the whole batch, so "
                   "every example's loss depends on every column of ", M(Z), ". Here ",
                   M(rf"{dZ} = \partial \bigl(\textstyle\sum_t \ell_t\bigr) / \partial {Z} = "
                     rf"m\, \partial J / \partial {Z}"),
                   ": its column ", M("t"), " collects every example's loss, not example ", M("t"),
                   "'s alone, and so does every gradient below it. It is still ", M("m"),
                   " times the gradient of ", M("J"), ", so ", M(to_latex(d.formula("dW", l).target)),
                   " keeps the dense layer's form",
                   *((".",) if ctx.exercises else  # a worksheet asks for it
                     (" ", M(to_latex(d.formula("dW", l).expr)), ".")))
    else:
        meaning = ("Here ", M(rf"{dZ} = \partial J / \partial {Z}"), ", the gradient of the cost "
                   "itself; through ", M(r"\mu"), " and ", M(r"\sigma^2"), " its column ", M("t"),
                   " collects every example's loss, not example ", M("t"), "'s alone.")
    out.append(Para(meaning))
    changed = _coupling(d, l, ctx.seed)
    if changed is not None:
        out.append(Para(("Measured on a random instance (", M("m = 4"), "): changing only the target of "
                         "example 2 changes column 1 of ", M(dZ), " by a relative ",
                         M(_num(changed[0])), ", while column 1 of ", M(latex_name("dZ", net.L)),
                         " changes by ", M(_num(changed[1])), " (a per-example gradient).")))
    return out


def _num(x: float) -> str:
    if x == 0:
        return "0"
    mant, exp = f"{x:.2e}".split("e")
    return rf"{mant}\times 10^{{{int(exp)}}}" if not -2 <= int(exp) <= 1 else f"{x:.3g}"


def _coupling(d, l: int, seed: int) -> tuple[float, float] | None:
    """Relative change of column 1 of dZ[l] and of dZ[L] when only example 2's target changes."""
    net = d.network
    if net.loss is None or any(a is None for a in net.activations or ()):
        return None
    small = net.replace(layers=tuple(min(n, 16) for n in model.concrete_sizes(net)))
    if small != net:
        return None
    inst = model.random_instance(net, seed=seed, m=4)
    Y2 = np.array(inst.Y, dtype=float)
    col = (slice(None), 1) if net.layout.columns else (1, slice(None))
    first = (slice(None), 0) if net.layout.columns else (0, slice(None))
    Y2[col] = np.roll(Y2[col], 1) if Y2[col].size > 1 else 1 - Y2[col]  # another class / label
    before = gradient_values(d, inst)
    after = gradient_values(d, replace(inst, Y=Y2))

    def rel(key: tuple[str, int]) -> float:
        a, b = np.asarray(before[key])[first], np.asarray(after[key])[first]
        return float(np.linalg.norm(a - b)) / max(float(np.linalg.norm(a)), 1e-300)
    return rel(("dZ", l)), rel(("dZ", net.L))
