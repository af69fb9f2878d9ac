"""The backward pass of a handout, step by step: each step's sentence, its entry-wise argument and
its vectorized result, and each layer's results boxed.

The entry-wise forms are the catalogue's (``Step.index_latex``); where a layer type's form would
mislead in a handout they are mended here, from the derivation, and nothing is typed in: the
dropout form keeps the one result its step derives (∂ℓ/∂G or ∂ℓ/∂Z), a substitution is shown as
the step before it with the upstream gradient put in (a worksheet's named activation would give the
answer away), and a form too wide for the page is split at its ``⇒``.

>>> from derive.network.spec import Network
>>> from derive.engine.backward import derive
>>> d = derive(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce",
...                    keep_prob=0.8), prove=False)
>>> s = d.steps_for(1)[0]
>>> mend(d, s).count(r"\\Rightarrow"), r"D^{[1]}_{it} / p" in mend(d, s)
(1, True)
"""

from __future__ import annotations

import sympy as sp

from derive.core import expr as E
from derive.core.names import latex_name
from derive.core.printing import to_latex, to_text
from derive.engine.backward import Derivation, Step
from derive.handout.doc import Block, Boxed, Display, Heading, M, Para, Row
from derive.handout.polish import WIDTH, _visible, break_long
from derive.handout.prose import sentence
from derive.handout.sections import Context, _role, shape_latex
from derive.network.spec import Network

_IMPLIES = r" \;\Rightarrow\; "


def _base(target: E.Expr) -> str:
    """``dG[1]`` → ``G``, ``dZ̃[1]`` → ``Ztilde``: what a step's target is the gradient of."""
    key = getattr(target, "key", None)
    name = key[0] if isinstance(key, tuple) else str(target)
    return name[1:] if name.startswith("d") else name


def mend(d: Derivation, s: Step) -> str:
    """A step's entry-wise form as the handout shows it (see the module's docstring)."""
    net, l, tex = d.network, s.layer, s.index_latex
    if s.rule == "dropout_mask":  # the one result of the two this step derives (∂ℓ/∂G or ∂ℓ/∂Z)
        premise, _, results = tex.partition(_IMPLIES)
        base = {"Ztilde": r"\tilde{Z}"}.get(_base(s.target), _base(s.target))
        picked = [r for r in results.split(r",\quad ") if rf"\partial {base}^{{[{l}]}}" in r]
        tex = premise + _IMPLIES + (picked[0] if picked else results)
    return _named(net, l, tex)


def _index_rows(tex: str) -> list[Row]:
    """An entry-wise form as display rows: split at its ⇒ when it is wider than the page."""
    if _visible(tex) <= WIDTH or _IMPLIES not in tex:
        return [Row("", tex, rel="")]
    premise, _, result = tex.partition(_IMPLIES)
    return [Row("", premise, rel=""), Row("", r"\Rightarrow\; " + result, rel="")]


def fit(lhs: str, rhs: str) -> str:
    """``rhs`` broken after a top-level operator when ``lhs = rhs`` is too wide for the page
    (:func:`derive.handout.polish.break_long`); a Row's rhs may hold the break."""
    line = break_long(f"{lhs} &= {rhs}")
    return line.split("&= ", 1)[1] if "&= " in line else rhs


def _substituted(ctx: Context, steps: list[Step], i: int) -> str:
    """A substitution on a dropout or batch-norm layer: the step before, then the upstream put in
    (the catalogue's generic ``dZ = dA ⊙ g′(Z)`` is not this layer's rule)."""
    s, before = steps[i], steps[i - 1]
    up = latex_name("dA", s.layer)
    if ctx.exercises:  # the step before's result is a blank: name it, do not show it
        return (rf"{to_latex(s.target)} = \text{{step {i} with }} {up} "
                rf"\text{{ from layer {s.layer + 1}}}")
    return f"{to_latex(before.target)} = {to_latex(before.expr)}"


def _heading(net: Network, l: int) -> str:
    act = net.activation(l)
    name = act.name if act is not None else f"generic g[{l}]"
    extra = ""
    if net.kinds[l - 1] == "batchnorm":
        extra = ", batch norm"
    elif net.dropout(l) is not None:
        extra = ", dropout"
    return f"Layer {l} ({name}, {_role(net, l)}{extra})"


def backward(ctx: Context) -> list[Block]:
    net, d = ctx.net, ctx.derivation
    out: list[Block] = [Heading(1, "Backward pass, step by step"), Para((
        "From the output layer back to the input. Each step applies one rule, referred to in the "
        "margin and listed at the end: first for one entry (indices ", M("i, j"), " over units, ",
        M("t"), " over examples), then for the whole matrix. ",
        M(r"\odot"), " is the element-wise product, ", M(r"\oslash"), " element-wise division.",))]
    for l in range(net.L, 0, -1):
        out.append(Heading(2, _heading(net, l)))
        steps = list(d.steps_for(l))
        plain = net.kinds[l - 1] == "dense" and net.dropout(l) is None
        for i, s in enumerate(steps, 1):
            out.append(Para((f"Step {i}. ", *sentence(s.rule, l, net, _base(s.target)),
                             ctx.rule_ref(s.rule, s.cites))))
            target = to_latex(s.target)
            rhs = ctx.maybe_blank(to_latex(s.expr), f"step {i} of layer {l}: {to_text(s.target)}",
                                  to_text(s.expr), fit(target, to_latex(s.expr)))
            shape = () if ctx.exercises else (M(rf"\quad {shape_latex(s.expr.shape)}"),)
            if s.rule == "substitution" and not plain and i > 1:
                index = [Row("", _substituted(ctx, steps, i - 1), rel="")]
            else:
                # a worksheet keeps the generic g: named, a substitution would show the step
                # before's answer
                index = _index_rows(s.index_latex if ctx.exercises and plain else mend(d, s))
            out.append(Display((*index, Row(rf"\Rightarrow\quad {target}", rhs, shape))))
            if s.rule == "output_simplification" and not ctx.exercises:
                out += _simplification(ctx, s, l)
        out += [Para((f"Results for layer {l}:",)), Boxed(tuple(_results(ctx, l, steps)))]
    return out


def _results(ctx: Context, l: int, steps: list[Step]) -> list[Row]:
    """The layer's formulas, each as its last step wrote it when the fully substituted formula is
    too wide to read (batch norm's dμ); batch norm's dZ only in the compact form asked for."""
    d, rows = ctx.derivation, []
    for f in d.formulas:
        if f.layer != l:
            continue
        mine = [s for s in steps if s.target == f.target]
        same = [g for g in d.formulas if g.layer == l and g.target == f.target]
        step = mine[same.index(f)] if len(mine) == len(same) else (mine[-1] if mine else None)
        if step is not None and step.rule == "batchnorm_graph":
            continue  # the graph's dZ is in its step; the box holds the compact form
        expr = f.expr
        if step is not None and _visible(to_latex(f.expr)) > WIDTH:
            expr = step.expr
        target = to_latex(f.target)
        rows.append(Row(target, ctx.maybe_blank(to_latex(expr), f"result {f.name}", to_text(expr),
                                                fit(target, to_latex(expr)))))
    return rows


def _named(net: Network, l: int, latex: str) -> str:
    """The generic ``g`` of an index form named once layer ``l``'s activation is known (ReLU′)."""
    act = net.activation(l)
    if act is None:
        return latex
    return (latex.replace(f"g^{{[{l}]\\prime}}", f"{act.latex}^{{\\prime}}")
            .replace("g^{\\prime}(", f"{act.latex}^{{\\prime}}(").replace("= g(", f"= {act.latex}("))


def _simplification(ctx: Context, s: Step, l: int) -> list[Block]:
    """The output layer's simplification in full: ∂ℓ/∂a · g′ = (…)(…) = result, checked here."""
    net = ctx.net
    act, loss = net.activation(l), net.loss_entry
    if act is None or loss is None or not act.elementwise or not isinstance(s.expr, E.Pointwise):
        return []
    dl, gp, fused = loss.gradient, act.derivative, s.expr.expr
    if sp.simplify(dl * gp - fused) != 0:
        return []
    return [Para(("In full, per entry (a = ", M(latex_name("A", l)), ", y = ", M("Y"), "):")),
            Display((Row(r"\frac{\partial \ell}{\partial a}\cdot " + f"{act.latex}^{{\\prime}}",
                         rf"\left({sp.latex(dl)}\right)\left({sp.latex(gp)}\right)"),
                     Row("", sp.latex(fused)))),
            Para(("so ", M(f"{to_latex(s.target)} = {to_latex(s.expr)}"),
                  *((": the division by ", M("a(1 - a)"), " in the loss gradient cancels against "
                     "the derivative.") if act.name == "sigmoid" else (".",))))]



