r"""Names and the language's own symbols: a quantity (base, layer) printed three ways, m and z.

W[2] is text ``W[2]``, LaTeX ``W^{[2]}`` and code ``W2``; A[0] is X in every form (dA[0] is dX), and
a quantity without a layer (X, Y) is its base:

>>> text_name("W", 2), latex_name("W", 2), code_name("W", 2)
('W[2]', 'W^{[2]}', 'W2')
>>> text_name("A", 0), code_name("dA", 0), latex_name("Y", None)
('X', 'dX', 'Y')

Batch normalisation's quantities print as they are written (γ[1], ``\gamma^{[1]}``, ``gamma1``):

>>> text_name("dgamma", 1), text_name("var", 2), latex_name("Ztilde", 1), code_name("dZnorm", 1)
('dγ[1]', 'σ²[2]', '\\tilde{Z}^{[1]}', 'dZ_norm1')

``m`` is the number of examples (the 1/m of a mean cost) and ``z`` the scalar variable in which an
activation's forward definition g(z) and derivative g′(z) are written; both are plain SymPy
symbols, so an equal symbol made elsewhere (same name, same assumptions) is the same symbol.
"""

from __future__ import annotations

import functools
import re

import sympy as sp
from sympy.printing.str import StrPrinter

m = sp.Symbol("m", positive=True, integer=True)
z = sp.Symbol("z", real=True)


@functools.cache
def dim_symbol(layer: int) -> sp.Symbol:
    """The symbolic size n[l], ``n2`` (made once per layer: shapes ask for it thousands of times)."""
    return sp.Symbol(f"n{layer}", positive=True, integer=True)


class ScalarName(sp.Symbol):
    r"""A named scalar of the cost (the L2 coefficient λ) that prints as the course writes it:
    ``λ`` in text, ``\lambda`` in LaTeX, ``lambd`` in numpy code (``lambda`` is a Python keyword,
    and ``lambd`` is the course's name for it)."""

    _printed = {"lambda": ("λ", r"\lambda", "lambd"),
                "keep_prob": ("keep_prob", r"\mathrm{keep\_prob}", "keep_prob"),
                "epsilon": ("ε", r"\epsilon", "eps")}

    def _forms(self) -> tuple[str, str, str]:
        return self._printed.get(self.name, (self.name, self.name, self.name))

    def _sympystr(self, printer) -> str:
        return self._forms()[0]

    def _latex(self, printer) -> str:
        return self._forms()[1]

    def _pythoncode(self, printer) -> str:
        return self._forms()[2]

    _numpycode = _pythoncode
    _derive_code = _pythoncode


#: the L2 coefficient λ of a spec that gives no value (``--l2`` alone, ``l2 = true``); the names a
#: user may write for it are :data:`LAMBDA_NAMES`
LAMBDA = ScalarName("lambda", nonnegative=True, real=True)
LAMBDA_NAMES = ("λ", "lambda", "lambd", "reg", "\\lambda")

#: the dropout keep probability of a spec that gives no value (``--keep-prob`` alone,
#: ``keep_prob = true``): the course's ``keep_prob``, each unit of a hidden layer kept with it
KEEP_PROB = ScalarName("keep_prob", positive=True, real=True)
KEEP_PROB_NAMES = ("keep_prob", "keepprob", "keep_probability", "\\mathrm{keep\\_prob}",
                   "\\text{keep\\_prob}")


#: batch normalisation's ε in √(σ² + ε), always a symbol in formulas (numbers use
#: :data:`derive.network.scales.EPS_STANDIN`, CS231n's 1e-5)
EPS = ScalarName("epsilon", positive=True, real=True)
EPS_NAMES = ("ε", "eps", "epsilon", "\\epsilon", "\\varepsilon", "ϵ")

#: quantities whose printed names are not their base: batch normalisation's (text, LaTeX, code);
#: LaTeX puts the layer after the whole name (``\tilde{Z}^{[1]}``, ``(\sigma^{[1]})^{2}``)
DISPLAY = {"gamma": ("γ", r"\gamma", "gamma"), "beta": ("β", r"\beta", "beta"),
           "mu": ("μ", r"\mu", "mu"), "var": ("σ²", r"\sigma", "var"),
           "Znorm": ("Z_norm", r"Z_{\text{norm}}", "Z_norm"), "Ztilde": ("Z̃", r"\tilde{Z}", "Z_tilde")}


def _display(base: str) -> tuple[str, tuple[str, str, str]] | None:
    """(prefix, forms) of a base with a display name (``dgamma``: ("d", γ's forms)), else None."""
    if base in DISPLAY:
        return "", DISPLAY[base]
    if base.startswith("d") and base[1:] in DISPLAY:
        return "d", DISPLAY[base[1:]]
    return None


def code_of_text(text: str) -> str | None:
    """The numpy name of a quantity with a display name printed as text (``dγ[2]`` → ``dgamma2``);
    None for any other text."""
    mt = re.fullmatch(r"(d?)(.+)\[(\d+)\]", text)
    if mt is None:
        return None
    for shown, _, code in DISPLAY.values():
        if mt.group(2) == shown:
            return f"{mt.group(1)}{code}{mt.group(3)}"
    return None


class _CodeStr(StrPrinter):
    """SymPy's str printer with short floats (0.1, not 0.100000000000000) and λ as ``lambd``."""

    printmethod = "_derive_code"


def scalar_text(value) -> str:
    """A scalar factor in text: ``1/m``, ``λ/m``, ``0.1/m``.

    >>> scalar_text(LAMBDA / m), scalar_text(sp.Float(0.1) / (2 * m)), scalar_code(LAMBDA / m)
    ('λ/m', '0.05/m', 'lambd/m')
    >>> scalar_text(2 * LAMBDA), scalar_text(LAMBDA / (2 * m)), factor_text(LAMBDA), factor_text(1 / m)
    ('2λ', 'λ/(2m)', 'λ', '(1/m)')
    >>> factor_text(-2 / m)
    '(−2/m)'
    """
    text = re.sub(r"(\d)\*(?=[^\W\d])", r"\1", sp.sstr(value, full_prec=False))
    return text.replace("-", "−")  # the minus sign, as every other text form prints it


def factor_text(value) -> str:
    """A scalar factor as it stands before a matrix: ``2``, ``0.1``, ``λ``, else bracketed:
    ``(1/m)``, ``(2λ)``."""
    value = sp.sympify(value, strict=True)
    plain = value.is_Integer or value.is_Float or value.is_Symbol
    return scalar_text(value) if plain else f"({scalar_text(value)})"


def scalar_code(value) -> str:
    """A scalar factor in numpy code: ``1/m``, ``lambd/m``, ``0.1/m``."""
    return _CodeStr({"full_prec": False}).doprint(value)


def _input_name(base: str, layer: int | None) -> str | None:
    """The name of a quantity that is the same in every form: X, Y, dX (None for the others)."""
    if layer is None:
        return base
    if base == "A" and layer == 0:
        return "X"
    if base == "dA" and layer == 0:
        return "dX"
    return None


def text_name(base: str, layer: int | None) -> str:
    """``W[2]``: the course's text notation."""
    same = _input_name(base, layer)
    shown = _display(base)
    if shown is not None and same is None:
        return f"{shown[0]}{shown[1][0]}[{layer}]"
    return f"{base}[{layer}]" if same is None else same


def latex_name(base: str, layer: int | None) -> str:
    """``W^{[2]}``: the layer as a bracketed superscript."""
    same = _input_name(base, layer)
    shown = _display(base)
    if shown is not None and same is None:
        if base.endswith("var"):  # σ²[1] is (σ^{[1]})^{2}
            return f"{shown[0]}(\\sigma^{{[{layer}]}})^{{2}}"
        return f"{shown[0]}{shown[1][1]}^{{[{layer}]}}"
    return f"{base}^{{[{layer}]}}" if same is None else same


def code_name(base: str, layer: int | None) -> str:
    """``W2``: the numpy variable name."""
    same = _input_name(base, layer)
    shown = _display(base)
    if shown is not None and same is None:
        return f"{shown[0]}{shown[1][2]}{layer}"
    return f"{base}{layer}" if same is None else same
