"""What a teacher would say at each step, and plain-text notation turned into maths.

The engine's steps carry a rule id (``weight_gradient``) and a terse title; a handout says, in a
sentence, why the step holds, and keeps the rule id for a small reference and the "rules used"
table at the end. Checker messages and notes write ``W[3]ᵀ`` and ``(2×m)`` as text: :func:`mathify`
turns those tokens into LaTeX maths.

>>> mathify("write W[3]ᵀ dZ[3], shape (2×m)")
('write ', M(latex='W^{[3]\\\\top}'), ' ', M(latex='dZ^{[3]}'), ', shape (', M(latex='2 \\\\times m'), ')')
>>> mathify("W[l] is n[l]×n[l-1]; X = A[0]")
(M(latex='W^{[l]}'), ' is ', M(latex='n_{l}'), '×', M(latex='n_{l-1}'), '; X = ', M(latex='A^{[0]}'))
>>> sentence("weight_gradient", 2)[0]
'Every entry of '
"""

from __future__ import annotations

import re

import sympy as sp

from derive.core.names import latex_name
from derive.handout.doc import M, Parts
from derive.network.penalty import LAMBDA, gradient_coefficient
from derive.network.spec import Network

_TOKEN = re.compile(
    r"(?P<sym>\b(?:d?(?:[A-Z]|Z_norm|gamma|beta)|g|n)\[(?P<l>\d+|l(?:[-+]1)?)\](?P<t>ᵀ|⊤)?)"
    r"|(?P<shape>\b(?:\d+|[mn]\d*)\s*×\s*(?:\d+|[mn]\d*)\b)"
    r"|(?P<fn>\b(?:relu|sigmoid|tanh|softmax)′)")


def mathify(text: str) -> Parts:
    """Text with its plain notation (``W[3]ᵀ``, ``dZ[3]``, ``2×m``, ``relu′``) as maths parts."""
    out: list[str | M] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        if m.start() > pos:
            out.append(text[pos:m.start()])
        if m["sym"]:
            base, idx = m["sym"].split("[")[0], m["l"]
            tex = (f"n_{{{idx}}}" if base == "n" else
                   f"{base}^{{[{idx}]}}" if not idx.isdigit() or (base, idx) == ("A", "0") else
                   latex_name(base, int(idx)))
            out.append(M(tex[:-1] + r"\top}" if m["t"] and tex.endswith("]}") else
                         tex + (r"^{\top}" if m["t"] else "")))
        elif m["shape"]:
            a, b = (s.strip() for s in m["shape"].split("×"))
            out.append(M(rf"{_dim(a)} \times {_dim(b)}"))
        else:
            out.append(M(rf"\operatorname{{{m['fn'][:-1]}}}'"))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return tuple(out)


def _dim(s: str) -> str:
    return f"n_{{{s[1:]}}}" if len(s) > 1 and s[0] == "n" else s


#: rule id → a readable name for the table of rules used
RULE_NAMES = {
    "loss_gradient": "gradient of the per-example loss",
    "elementwise_chain": "chain rule through an element-wise activation",
    "output_simplification": "output layer: loss and activation simplify together",
    "weight_gradient": "gradient of a weight matrix",
    "bias_gradient": "gradient of a broadcast bias",
    "input_gradient": "gradient of a layer's input",
    "substitution": "substituting the upstream gradient",
    "frobenius_gradient": "gradient of the L2 penalty",
}


def rule_name(rule: str) -> str:
    return RULE_NAMES.get(rule, rule.replace("_", " "))


def sentence(rule: str, l: int, net: Network | None = None) -> Parts:
    """The reasoning of one step of layer ``l``, as a teacher would say it."""
    if rule == "frobenius_gradient" and net is not None and not (
            net.l2_form == "course" and net.cost_is_mean):
        coef = gradient_coefficient(net.l2_form, LAMBDA, net.cost_is_mean)
        return ("The L2 penalty adds a term of its own: the derivative of the squared norm, ",
                M(rf"{sp.latex(coef)}\, {latex_name('W', l)}"), f" in the {net.l2_form} form, is "
                "added to ", M("dW"), "; the bias is not penalised.")
    Z, A, W, b = (M(latex_name(x, l)) for x in ("Z", "A", "W", "b"))
    Ap = M(latex_name("A", l - 1))
    says: dict[str, Parts] = {
        "loss_gradient": ("We start at the loss: differentiate the per-example loss with respect "
                          "to the network's output ", A, ", one entry at a time."),
        "elementwise_chain": ("The activation acts on each entry of ", Z, " separately, so the "
                              "chain rule multiplies entry by entry with its derivative."),
        "output_simplification": ("Now put the two pieces together: for this pairing of loss and "
                                  "output activation most of the algebra cancels.",),
        "weight_gradient": ("Every entry of ", W, " meets every example through ", Ap,
                            "; summing over the examples is the matrix product with ", Ap,
                            " transposed."),
        "bias_gradient": ("The bias ", b, " is added to every example, so its gradient adds up "
                          "the gradient over the examples."),
        "input_gradient": ("To carry on to the previous layer we need the gradient with respect to "
                           "its output ", Ap, "; the shapes fix the transpose and the order."),
        "substitution": ("Substitute the gradient that arrives from the layer above.",),
        "frobenius_gradient": ("The L2 penalty adds a term of its own. Differentiating the squared "
                               "norm gives twice each entry, which the ", M(r"\tfrac{1}{2}"),
                               " of the penalty cancels; and the penalty carries the same ",
                               M(r"\tfrac{1}{m}"), " as the mean of the losses, so ", M(r"\lambda"),
                               " weighs the penalty against the average loss whatever the batch "
                               "size. Hence ", M(r"\tfrac{\lambda}{m}"), W, " is added to ", M("dW"),
                               ", and the bias is not penalised."),
    }
    return says.get(rule, (rule_name(rule)[:1].upper() + rule_name(rule)[1:] + ".",))


def l2_item(net: Network) -> Parts:
    """The L2 penalty in maths: ``J`` gains ``λ/(2m) Σ_l ‖W[l]‖²_F`` (its form's coefficient)."""
    coef = gradient_coefficient(net.l2_form, LAMBDA, net.cost_is_mean) / 2
    which = ("every layer" if net.l2_layers is None else
             ("layers " if len(net.l2_layers) > 1 else "layer ") + ", ".join(map(str, net.l2_layers)))
    lam = "" if net.l2 == LAMBDA else f", with λ = {sp.latex(net.l2)}"
    return (f"L2 ({net.l2_form} form{lam}): the cost gains ",
            M(rf"{sp.latex(coef)} \sum_l \lVert W^{{[l]}}\rVert_F^2"), f" over {which}; ",
            M("b"), " is not penalised.")
