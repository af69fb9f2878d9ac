"""Names and the language's own symbols: a quantity (base, layer) printed three ways, m and z.

W[2] is text ``W[2]``, LaTeX ``W^{[2]}`` and code ``W2``; A[0] is X in every form (dA[0] is dX), and
a quantity without a layer (X, Y) is its base:

>>> text_name("W", 2), latex_name("W", 2), code_name("W", 2)
('W[2]', 'W^{[2]}', 'W2')
>>> text_name("A", 0), code_name("dA", 0), latex_name("Y", None)
('X', 'dX', 'Y')

``m`` is the number of examples (the 1/m of a mean cost) and ``z`` the scalar variable in which an
activation's forward definition g(z) and derivative g′(z) are written; both are plain SymPy
symbols, so an equal symbol made elsewhere (same name, same assumptions) is the same symbol.
"""

from __future__ import annotations

import sympy as sp

m = sp.Symbol("m", positive=True, integer=True)
z = sp.Symbol("z", real=True)


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
    return f"{base}[{layer}]" if same is None else same


def latex_name(base: str, layer: int | None) -> str:
    """``W^{[2]}``: the layer as a bracketed superscript."""
    same = _input_name(base, layer)
    return f"{base}^{{[{layer}]}}" if same is None else same


def code_name(base: str, layer: int | None) -> str:
    """``W2``: the numpy variable name."""
    same = _input_name(base, layer)
    return f"{base}{layer}" if same is None else same
