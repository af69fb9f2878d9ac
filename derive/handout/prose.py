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
from derive.network.dropout import value_of
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
    "dropout_mask": "chain rule through a fixed dropout mask",
    "batchnorm_activation": "chain rule through a batch-normalised layer's activation",
    "batchnorm_gamma": "gradient of the batch-norm scale γ",
    "batchnorm_beta": "gradient of the batch-norm shift β",
    "batchnorm_normalised": "gradient of the normalised value",
    "batchnorm_variance": "gradient of the batch variance",
    "batchnorm_mean": "gradient of the batch mean",
    "batchnorm_graph": "batch norm: the three paths into Z",
    "batchnorm_compact": "batch norm: the compact form of dZ",
}


def rule_name(rule: str) -> str:
    return RULE_NAMES.get(rule, rule.replace("_", " "))


def sentence(rule: str, l: int, net: Network | None = None, target: str = "") -> Parts:
    """The reasoning of one step of layer ``l``, as a teacher would say it (``target``: the
    base name of what the step computes, ``G`` or ``Z`` for dropout's two steps)."""
    if rule.startswith(("dropout", "batchnorm")):
        return _regularised(rule, l, target)
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


def _regularised(rule: str, l: int, target: str) -> Parts:
    """The sentences of dropout's and batch norm's steps."""
    Z, A, G, D = (M(latex_name(x, l)) for x in ("Z", "A", "G", "D"))
    Zt, Zn, gamma = (M(latex_name(x, l)) for x in ("Ztilde", "Znorm", "gamma"))
    mu, var = M(latex_name("mu", l)), M(latex_name("var", l))
    if rule == "dropout_mask" and target == "Z":
        return ("Then through the activation, entry by entry, exactly as without dropout: ", G,
                " is the activation before the mask.")
    says: dict[str, Parts] = {
        "dropout_mask": ("Dropout multiplied each entry of ", G, " by ", M(r"D/p"), ", with the "
                         "mask ", D, " held fixed: we differentiate the network as it was sampled "
                         "for this batch. So the gradient passes where a unit was kept, scaled by ",
                         M(r"1/p"), ", and is zero where it was dropped."),
        "batchnorm_activation": ("The activation acts on each entry of ", Zt, " separately, so the "
                                 "chain rule multiplies entry by entry with its derivative, taken "
                                 "at ", Zt, " (normalised, scaled and shifted), not at ", Z, "."),
        "batchnorm_gamma": ("The scale ", gamma, " multiplies the unit's normalised value in every "
                            "example, so its gradient adds up ", M(r"d\tilde{Z} \odot Z_{\text{norm}}"),
                            " over the examples."),
        "batchnorm_beta": ("The shift ", M(latex_name("beta", l)), " is added to every example, as "
                           "a bias is, so its gradient adds up ", M(r"d\tilde{Z}"), " over the "
                           "examples."),
        "batchnorm_normalised": ("Back through the scale: ", Zt, " is ", gamma, " times ", Zn,
                                 " plus a shift, so the gradient is multiplied by ", gamma,
                                 ", unit by unit."),
        "batchnorm_variance": ("Every example's ", Zn, " is divided by the same ",
                               M(r"\sqrt{\sigma^2 + \epsilon}"), ": the variance ", var,
                               " of a unit collects a contribution from every example, a sum over "
                               "the examples."),
        "batchnorm_mean": ("The mean ", mu, " reaches the loss two ways: directly through ", Zn,
                           ", and through the variance, which is computed from ", M(r"Z - \mu"),
                           "."),
        "batchnorm_graph": ("Now ", Z, " itself. It reaches the loss three ways: through its own ",
                            Zn, ", through the mean and through the variance; the chain rule adds "
                            "the three paths."),
        "batchnorm_compact": ("Substituting ", M(r"dZ_{\text{norm}}"), ", ", M(r"d\sigma^2"),
                              " and ", M(r"d\mu"), ", and using ", M(r"\sum_t (Z - \mu) = 0"),
                              ", gives the compact form a student is asked for."),
    }
    return says.get(rule, (rule_name(rule)[:1].upper() + rule_name(rule)[1:] + ".",))


def dropout_item(net: Network) -> Parts:
    """The convention's line on dropout: A = G ⊙ D / p, D a fixed 0/1 mask, p per layer."""
    layers = [l for l in range(1, net.L) if net.dropout(l) is not None]
    kept = ", ".join(f"layer {l}" + ("" if (net.dropout(l) or sp.S(0)).free_symbols
                                       else f" (p = {value_of(net.dropout(l))})") for l in layers)
    return ("Dropout (inverted) on ", kept, ": ", M(r"A^{[l]} = G^{[l]} \odot D^{[l]} / p"), " with ",
            M(r"G^{[l]} = g^{[l]}(Z^{[l]})"), ", ", M("p"), " the keep probability and ",
            M("D^{[l]}"), " a 0/1 mask, each entry 1 with probability ", M("p"),
            ", held fixed while we differentiate.")


def batchnorm_item(net: Network) -> Parts:
    """The convention's line on batch norm."""
    layers = ", ".join(str(l) for l in range(1, net.L + 1) if net.kinds[l - 1] == "batchnorm")
    return ("Batch normalisation (training mode) on layer ", layers, ": ",
            M(r"Z^{[l]} = W^{[l]} A^{[l-1]}"), " (no bias), normalised over the ", M("m"),
            " examples of the batch, then ", M(r"\tilde{Z}^{[l]} = \gamma^{[l]} \odot "
                                            r"Z_{\text{norm}}^{[l]} + \beta^{[l]}"),
            " and ", M(r"A^{[l]} = g^{[l]}(\tilde{Z}^{[l]})"), ".")
