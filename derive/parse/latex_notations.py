"""Every notation family the parsers read, with one checked example each (issue 13, item 7):
the data of ``derive notations`` and of docs/notations.md, made from the parsers' own tables
(a name added to a table appears here without another edit).

Each family says what is written and what it is read as, and gives one example with the
network it is about; tests/test_notations.py checks every example with ``derive check`` (it
must be correct) and that docs/notations.md is this module's rendering.

>>> [f.name for f in families()][:3]
['the course', 'layers counted other ways', 'Greek letters']
>>> render().splitlines()[0]
'# Notations derive reads'
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.parse.dialects import DIALECTS
from derive.parse.latex_calculus import COST_CMDS, COSTS
from derive.parse.latex_layers import NOTES
from derive.parse.latex_names import MACRO_LETTERS, TEXTBOOK
from derive.parse.latex_scripts import OUTPUT_NAMES
from derive.parse.latex_tokens import (
    BN_CMDS,
    FUNC_CMDS,
    GREEK,
    GREEK_NOTES,
    HATS,
    NAME_CMDS,
    PRODUCTS,
    SPECIAL_CMDS,
)

# the networks the examples are about (derive.Network keyword arguments)
NETS: dict[str, dict] = {
    "sig": {"layers": [4, 3, 5, 2], "activations": ["sigmoid"] * 3, "loss": "bce"},
    "one": {"layers": [4, 3, 5, 2], "activations": ["sigmoid"] * 3, "loss": "bce",
            "scale": "sum"},
    "two": {"layers": [4, 3, 2], "activations": ["tanh", "sigmoid"], "loss": "bce"},
    "two_one": {"layers": [4, 3, 2], "activations": ["tanh", "sigmoid"], "loss": "bce",
                "scale": "sum"},
    "rows": {"layers": [4, 3, 2], "activations": ["tanh", "sigmoid"], "loss": "bce",
             "convention": "rows"},
    "rows_one": {"layers": [4, 3, 2], "activations": ["sigmoid", "sigmoid"],
                 "loss": "half_mse", "convention": "rows", "scale": "sum"},
    "ng": {"layers": [4, 3, 5, 2], "activations": ["sigmoid"] * 3, "loss": "bce", "l2": 0.1,
           "l2_form": "half"},
    "logreg": {"layers": [4, 1], "activations": ["sigmoid"], "loss": "bce", "scale": "sum"},
    "rows_sum": {"layers": [4, 3, 2], "activations": ["tanh", "sigmoid"], "loss": "bce",
                 "convention": "rows", "scale": "sum"},
    "half": {"layers": [2, 3, 1], "activations": ["sigmoid"] * 2, "loss": "half_mse",
             "scale": "sum"},
    "bn": {"layers": [4, 5, 3], "activations": ["relu", "softmax"], "loss": "ce",
           "batchnorm": [1]},
}


# how each layer count shows (derive.parse.latex_layers.SCHEMES; "face" is derive's own)
WRITTEN = {"input": "`a^{(l)}`, `z^{(l)}`, `\\delta^{(l)}` beside `W^{(l)}`",
           "nielsen": "`a^l`, `w^l`, `\\delta^l` (layer 1 the input)",
           "delta": "`\\delta_3` beside `a_1`, `W_2`", "delta_up": "`\\delta_1` beside `W_2`",
           "zero": "`W_0`, `z_0`, `\\delta_0`"}


@dataclass(frozen=True)
class Example:
    formula: str
    net: str  # a key of NETS
    layer: int | None = None


@dataclass(frozen=True)
class Family:
    """One notation family: what is written (``rows``: written, read as) and its examples."""

    name: str
    rows: tuple[tuple[str, str], ...]
    examples: tuple[Example, ...]


def _cmds(names: object) -> str:
    return ", ".join(f"`\\{n}`" for n in sorted(names))  # type: ignore[call-overload]


def families() -> list[Family]:
    """The LaTeX families, in the order of docs/parsing.md."""
    schemes = {"input": Example(r"\delta^{(2)} = (W^{(2)})^T \delta^{(3)} \odot g'(z^{(2)})",
                                "sig", 1),
               "nielsen": Example(r"\frac{\partial C}{\partial w^4_{jk}} = a^3_k \delta^4_j",
                                  "one", 3),
               "delta": Example(r"\delta_3 = \hat{y} - y", "rows", 2),
               "delta_up": Example(r"\frac{\partial J}{\partial h} = \delta_1 W_2^T",
                                   "rows_one", 1),
               "zero": Example(r"\delta_0 = W_1^T \delta_1 \odot g'(z_0)", "two_one", 1)}
    return [
        Family("the course", (("`dZ^{[l]}`, `W^{[l]T}`, `g^{[l]\\prime}(Z^{[l]})`",
                               "dZ[l], W[l]ᵀ, g[l]′(Z[l])"),),
               (Example(r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]\prime}(Z^{[1]})", "two"),)),
        Family("layers counted other ways", tuple((WRITTEN[k], NOTES[k]) for k in NOTES),
               tuple(schemes[k] for k in NOTES)),
        Family("Greek letters", tuple((f"`\\{k}`", f"{v}: {GREEK_NOTES[k]}")
                                      for k, v in GREEK.items()),
               (Example(r"\delta^{(2)} = (\Theta^{(2)})^T \delta^{(3)} \ast g'(z^{(2)})",
                        "sig", 1),)),
        Family("textbooks' letters", tuple((f"`{k}`", said) for k, (_, said) in
                                           TEXTBOOK.items()),
               (Example(r"\frac{\partial J}{\partial \mathbf{h}} = {\mathbf{W}^{(2)}}^\top "
                        r"\frac{\partial J}{\partial \mathbf{o}}", "two_one", 1),
                Example(r"D^{(l)} = \frac{1}{m}\Delta^{(l)} + \lambda\Theta^{(l)}", "ng", 2))),
        Family("the Deep Learning book's macros",
               (*((f"`\\V{k}`, `\\M{k}`", v.upper() if v in "azh" else v)
                  for k, v in MACRO_LETTERS.items()),
                ("`\\Vg`", "the running gradient: the one the step before computed"),
                ("`\\nabla_{\\MW} \\Omega(\\theta)`", "W (the L2 penalty ½ Σ ‖W‖²)"),
                ("^{(k)}", "the generic layer l")),
               (Example(r"\nabla_{\MW^{(k)}} J = \Vg \; \Vh^{(k-1)\top}", "two_one", 2),)),
        Family("activations", (
            (_cmds(FUNC_CMDS), "; ".join(f"\\{k}: {v}" for k, v in FUNC_CMDS.items())),
            ("`\\mathrm{softmax}(Z^{[L]})`, `g^{[L]}(Z^{[L]})`", "A[L] on a softmax layer (of "
             "its own Z only)"),
            ("`a(1-a)`", "σ′ in terms of the output, entry by entry")),
            (Example(r"\frac{\partial J}{\partial \mathbf{z}} = \frac{\partial J}"
                     r"{\partial \mathbf{h}} \odot \phi'\left(\mathbf{z}\right)", "two_one", 1),)),
        Family("decorations", ((_cmds(NAME_CMDS), "the name inside"),
                               (_cmds(HATS), "on y: the prediction A[L]")),
               (Example(r"\boldsymbol{\delta}^{[1]} = \mathbf{W}^{[2]T} \bm{\delta}^{[2]} \odot "
                        r"g'(\mathbf{Z}^{[1]})", "two"),)),
        Family("products", tuple((f"`{k}`" if len(k) == 1 else f"`\\{k}`",
                                  {"*": "element-wise", "⊙": "element-wise",
                                   "·": "by shapes (a matrix product if it fits)",
                                   "/": "division"}[v])
                                 for k, v in PRODUCTS.items()),
               (Example(r"\delta^{(2)}=\big((W^{(2)})^{T}\delta^{(3)}\big)\bullet f'(z^{(2)})",
                        "one", 1),)),
        Family("costs", ((", ".join(f"`{c}`" for c in COSTS) + ", " + _cmds(COST_CMDS),
                          "the network's cost, with a subscript (C_0) and arguments (J(W,b))"),),
               (Example(r"\frac{\partial \mathcal{L}(\hat y, y)}{\partial Z^{[2]}} = \hat{y} - y",
                        "two"),)),
        Family("output layers", ((", ".join(f"`^{{{n}}}`" for n in OUTPUT_NAMES),
                                  "the output layer L"),),
               (Example(r"dZ^{O} = A^{O} - Y", "two"),)),
        Family("UFLDL's n_l layers", (("`^{(n_l)}`, `^{(n_{l})}`", "the output layer L"),),
               (Example(r"dZ^{(n_l)} = A^{(n_l)} - Y", "two"),)),
        Family("Nielsen's Σ′ and Ng's Δ", (
            (_cmds(SPECIAL_CMDS), "Σ′(z) = diag(σ′(z)): its product is σ′ ⊙; Δ^{(l)} = "
                                  "dZ[l] A[l-1]ᵀ; \\underbrace's label left out"),),
            (Example(r"\delta^l = \Sigma'(z^l) (w^{l+1})^T \delta^{l+1}", "one", 2),)),
        Family("index form", (
            ("`w^l_{jk}`, `a^{l-1}_k`, `\\delta^l_j`, `W_{ij}^{(l)}`, `\\sum_k`",
             "entries: the vectorised formula they state, for every entry"),
            ("`w_k` (one index, on both sides)", "any weight: the whole matrix's formula")),
            (Example(r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", "one", 2),
             Example(r"\delta^l_j = \sum_k w^{l+1}_{kj} \delta^{l+1}_k g'(z^l_j)", "one", 1),
             Example(r"\frac{\partial C}{\partial w_k} = \frac{1}{n} \sum_{x} \frac{\partial "
                     r"C_x}{\partial w_k}", "sig", 2))),
        Family("sums over the examples", (
            ("`\\sum_{i=1}^{m} dZ^{(i)} x^{(i)T}`", "dZ Xᵀ: the sum is the matrix product's"),
            ("`\\sum_i \\frac{\\partial C_i}{\\partial W}`", "dZ Aᵀ (one example's gradients)")),
            (Example(r"dW^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dZ^{[1](i)} x^{(i)T}", "sig", 1),)),
        Family("chained equalities", (
            ("`=`, `&=`, `\\\\`, `:=`, `\\equiv`, `\\leftarrow`, `, where s = …`",
             "every link checked; a ∂-fraction link must name the same gradient"),
            ("`\\Vg \\leftarrow \\nabla_{\\Va^{(k)}} J = …`", "the running gradient assigned: "
             "checked as the gradient the next link names"),
            ("`\\frac{\\partial}{\\partial w^2_{11}} \\frac{1}{2}(a^3_1 - y)^2 = …`",
             "the cost written out on the left: its derivative along the entry compared with the "
             "network cost's; the right side checked as the gradient"),
            ("`\\frac{\\partial}{\\partial z} \\frac{1}{2}\\|y - a\\|^2` inside a chain, "
             "`\\text{prod}(·,·) + \\text{prod}(·,·)`", "definitions: not evaluated")),
            (Example(r"dZ^{[2]} = \frac{\partial \mathcal{L}}{\partial Z^{[2]}} = A^{[2]} - Y",
                     "two"),
             Example(r"\frac{\partial}{\partial w^2_{11}} \frac{1}{2}(a^3_1-y)^2 = "
                     r"a^2_1(a^3_1-y)\sigma'(z^3_1)", "half"),
             Example(r"\Vg \leftarrow \nabla_{\Va^{(2)}} J = \Vg \odot f'(\Va^{(2)})", "two"))),
        Family("Jacobians", (
            ("`(\\hat{y} - y) \\frac{\\partial \\hat{y}}{\\partial W}`, "
             "`\\delta \\frac{\\partial z}{\\partial h}`",
             "the gradient on the left carried through the Jacobian (a vector-Jacobian "
             "product); a chain of them must link"),),
            (Example(r"\frac{\partial J}{\partial W^{(1)}} = (\hat{y}-y) \frac{\partial "
                     r"\hat{y}}{\partial z^{(3)}} \frac{\partial z^{(3)}}{\partial W^{(1)}}",
                     "rows_one", 1),)),
        Family("unrolled products", (
            ("`F^l \\ldots F^{L-1} G`", "the factors before the dots at every layer up to the "
             "same factors after them"),),
            (Example(r"\delta^l = \Sigma'(z^l) (w^{l+1})^T \ldots \Sigma'(z^{L-1}) (w^L)^T "
                     r"\Sigma'(z^L) \nabla_a C", "one", 1),)),
        Family("tuples and folded biases", (
            ("`(\\delta_0, \\delta_1, \\ldots, \\delta_{n-1})`", "the entry j's formula, "
             "every written entry at consecutive indices"),
            ("`[1\\ H]^T E`", "the bias folded in as the weights' first row: db = 𝟙ᵀE, "
             "dW = HᵀE")),
            (Example(r"\frac{\partial L}{\partial W_2} = [1\ H_1]^T (\hat{y} - y)",
                     "rows_sum", 2),)),
        Family("logistic regression's column w", (
            ("`w^T x` on a one-layer network", "w is W[1]ᵀ, ∂L/∂w is dW[1]ᵀ"),
            ("`\\sigma(w^T x)` without a bias", "Z[1], on the condition b[1] = 0")),
            (Example(r"\frac{\partial J}{\partial w} = \sum_{i=1}^{m} x_i (\sigma(w^T x_i) "
                     r"- y_i)", "logreg", 1),)),
        Family("batch normalisation", (
            (_cmds(BN_CMDS), "; ".join(f"\\{k}: {v}" for k, v in BN_CMDS.items())),
            ("`\\hat{x}`, `\\hat{z}`, `Z_{norm}`", "Z_norm, the normalised Z"),
            ("`\\sigma^2`, `(\\sigma^{[l]})^2`, `\\epsilon`", "σ², the batch variance; ε")),
            (Example(r"d\gamma^{[1]} = \frac{1}{m} \sum_{i=1}^{m} (d\tilde{Z}^{[1]} \odot "
                     r"\hat{z}^{[1]})^{(i)}", "bn"),)),
    ]


def dialect_rows() -> list[tuple[str, str, str]]:
    """(key, title, some names) of every code dialect (derive.parse.dialects)."""
    out = []
    for key, d in DIALECTS.items():
        names = {**d.shared, **(d.readings[0].names if d.readings else {})}
        some = ", ".join(f"`{k}` {v}" for k, v in list(names.items())[:6])
        out.append((key, d.title, some or "the course's names, in lower case"))
    return out


def render() -> str:
    """docs/notations.md: every family, its rows and its examples, then the code dialects."""
    lines = ["# Notations derive reads", "",
             "Generated by `derive notations > docs/notations.md` from the parsers' own tables "
             "(derive/parse/latex_*.py, derive/parse/dialects.py); every example is checked "
             "(tests/test_notations.py). The readings are explained in "
             "[parsing](parsing.md).", ""]
    for f in families():
        lines += [f"## {f.name}", "", "| written | read as |", "|---|---|"]
        lines += [f"| {w} | {r} |" for w, r in f.rows]
        lines += [""] + [f"- `{e.formula}` ({_net(e)})" for e in f.examples] + [""]
    lines += ["## Code dialects", "", "| dialect | whose | names |", "|---|---|---|"]
    lines += [f"| `{k}` | {t} | {n} |" for k, t, n in dialect_rows()]
    return "\n".join(lines) + "\n"


def _net(e: Example) -> str:
    n = NETS[e.net]
    said = "layers " + ",".join(str(x) for x in n["layers"])
    extra = [f"{k} {v}" for k, v in n.items() if k in ("convention", "scale", "l2_form",
                                                      "batchnorm")]
    where = f", layer {e.layer}" if e.layer is not None else ""
    return ", ".join([said, *extra]) + where


def to_dict() -> dict:
    """The same, as JSON-ready data."""
    return {"families": [{"name": f.name, "rows": [list(r) for r in f.rows],
                          "examples": [{"formula": e.formula, "network": NETS[e.net],
                                        "layer": e.layer} for e in f.examples]}
                         for f in families()],
            "dialects": [{"key": k, "title": t, "names": n} for k, t, n in dialect_rows()]}
