"""Printing expressions three ways: Unicode text, LaTeX and numpy code.

Text follows the course's notation: juxtaposition is the matrix product and binds tighter than ⊙,
ᵀ the transpose, (1/m) the mean.

>>> import sympy as sp
>>> from derive.core.expr import Sym, MatMul, Transpose, Hadamard, Deriv, Scale, Sum
>>> from derive.catalogue.rules import activations
>>> n1, n2, m = sp.symbols("n1 n2 m")
>>> W2, dZ2, Z1 = Sym("W", 2, (n2, n1)), Sym("dZ", 2, (n2, m)), Sym("Z", 1, (n1, m))
>>> e = Hadamard(MatMul(Transpose(W2), dZ2), Deriv(activations()["relu"], 1, Z1))
>>> to_text(e)
'W[2]ᵀ dZ[2] ⊙ relu′(Z[1])'
>>> to_latex(e)
'W^{[2]\\\\top} dZ^{[2]} \\\\odot \\\\operatorname{ReLU}^{\\\\prime}(Z^{[1]})'
>>> to_code(e)
'np.dot(W2.T, dZ2) * np.int64(Z1 > 0)'
>>> to_code(Scale(1 / m, Sum(dZ2, 1)))
'(1/m) * np.sum(dZ2, axis=1, keepdims=True)'
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter
from sympy.printing.str import StrPrinter

from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.network.symbols import code_name, latex_name, text_name

_ATOM = 9


class _Placeholders(StrPrinter):
    """Prints a Pointwise's parameters as __0__, __1__ (replaced by operands afterwards) without
    re-evaluating the expression (which would undo its student-friendly order)."""

    def __init__(self, params, settings=None):
        super().__init__(settings)
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)


class _PlaceholderCode(PythonCodePrinter):
    def __init__(self, params):
        super().__init__({"standard": "python3"})
        self._names = {p: f"__{i}__" for i, p in enumerate(params)}

    def _print_Symbol(self, expr):
        return self._names.get(expr, expr.name)


# -- text ----------------------------------------------------------------------------------------
def _prec(e: E.Expr) -> int:
    if isinstance(e, E.Add | E.Sub):
        return 1
    if isinstance(e, E.Hadamard | E.Div):
        return 2
    if isinstance(e, E.MatMul | E.Scale):
        return 3
    if isinstance(e, E.Pointwise):
        if isinstance(e.expr, sp.Add) or (e.expr.could_extract_minus_sign()):
            return 1
        if isinstance(e.expr, sp.Mul):
            return 2
    return _ATOM


def _factor_text(f: sp.Expr) -> str:
    f = as_sympy(f)
    if f == -1:
        return "−"
    if f.is_Integer:
        return f"{f} "
    return f"({sp.sstr(f)}) "


def to_text(e: E.Expr) -> str:
    """Unicode text: ``W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])``."""
    t = to_text

    def wrap(x: E.Expr, need: int) -> str:
        s = t(x)
        return f"({s})" if _prec(x) < need else s

    if isinstance(e, E.Sym):
        return text_name(e.base, e.layer)
    if isinstance(e, E.Scalar):
        return sp.sstr(e.value)
    if isinstance(e, E.Ones):
        return "𝟙"
    if isinstance(e, E.Transpose):
        return f"{wrap(e.arg, _ATOM)}ᵀ"
    if isinstance(e, E.MatMul):
        return f"{wrap(e.left, 3)} {wrap(e.right, 3)}"
    if isinstance(e, E.Scale):
        return f"{_factor_text(e.factor)}{wrap(e.arg, 3)}"
    if isinstance(e, E.Hadamard):
        return f"{wrap(e.left, 2)} ⊙ {wrap(e.right, 2)}"
    if isinstance(e, E.Div):
        return f"{wrap(e.left, 2)} ⊘ {wrap(e.right, 3)}"
    if isinstance(e, E.Add):
        return f"{t(e.left)} + {wrap(e.right, 1)}"
    if isinstance(e, E.Sub):
        return f"{t(e.left)} − {wrap(e.right, 2)}"
    if isinstance(e, E.Sum):
        axis = "all" if e.axis is None else e.axis
        return f"sum({t(e.arg)}, axis={axis})"
    if isinstance(e, E.Deriv):
        return f"{_fname_text(e)}′({t(e.arg)})"
    if isinstance(e, E.Act):
        return f"{_fname_text(e)}({t(e.arg)})"
    if isinstance(e, E.Pointwise):
        return _pointwise_text(e)
    raise TypeError(type(e).__name__)


def _fname_text(e) -> str:
    return e.activation.text if e.activation is not None else f"g[{e.layer}]"


def _pointwise_text(e: E.Pointwise) -> str:
    s = _Placeholders(e.params, {"order": "none"}).doprint(e.expr)
    s = s.replace("**2", "²").replace("**3", "³")
    s = re.sub(r"(?<![\w_])(\d+)\*", r"\1 ", s)
    s = s.replace("*", " ⊙ ").replace("/", " ⊘ ").replace(" - ", " − ")
    s = re.sub(r"^-", "−", s)
    s = re.sub(r"\(-", "(−", s)
    for i, a in enumerate(e.args):
        inner = to_text(a)
        if _prec(a) < _ATOM:
            inner = f"({inner})"
        s = s.replace(f"__{i}__", inner)
    return s


# -- LaTeX ---------------------------------------------------------------------------------------
def _factor_latex(f: sp.Expr) -> str:
    f = as_sympy(f)
    if f == -1:
        return "-"
    return sp.latex(f) + " "


def to_latex(e: E.Expr) -> str:
    """LaTeX: ``W^{[2]\\top} dZ^{[2]} \\odot g^{[1]\\prime}(Z^{[1]})``."""
    t = to_latex

    def wrap(x: E.Expr, need: int) -> str:
        s = t(x)
        return rf"\left({s}\right)" if _prec(x) < need else s

    if isinstance(e, E.Sym):
        return latex_name(e.base, e.layer)
    if isinstance(e, E.Scalar):
        return sp.latex(e.value)
    if isinstance(e, E.Ones):
        return r"\mathbf{1}"
    if isinstance(e, E.Transpose):
        inner = e.arg
        if (
            isinstance(inner, E.Sym)
            and inner.layer is not None
            and not (inner.base == "A" and inner.layer == 0)
        ):
            return latex_name(inner.base, inner.layer)[:-1] + r"\top}"
        return f"{wrap(inner, _ATOM)}^{{\\top}}"
    if isinstance(e, E.MatMul):
        return f"{wrap(e.left, 3)} {wrap(e.right, 3)}"
    if isinstance(e, E.Scale):
        return f"{_factor_latex(e.factor)}{wrap(e.arg, 3)}"
    if isinstance(e, E.Hadamard):
        return rf"{wrap(e.left, 2)} \odot {wrap(e.right, 2)}"
    if isinstance(e, E.Div):
        return rf"{wrap(e.left, 2)} \oslash {wrap(e.right, 3)}"
    if isinstance(e, E.Add):
        return f"{t(e.left)} + {wrap(e.right, 1)}"
    if isinstance(e, E.Sub):
        return f"{t(e.left)} - {wrap(e.right, 2)}"
    if isinstance(e, E.Sum):
        return _sum_latex(e)
    if isinstance(e, E.Deriv):
        if e.activation is None:
            return rf"g^{{[{e.layer}]\prime}}({t(e.arg)})"
        return rf"{e.activation.latex}^{{\prime}}({t(e.arg)})"
    if isinstance(e, E.Act):
        name = e.activation.latex if e.activation is not None else f"g^{{[{e.layer}]}}"
        return rf"{name}({t(e.arg)})"
    if isinstance(e, E.Pointwise):
        return _pointwise_latex(e)
    raise TypeError(type(e).__name__)


def _sum_latex(e: E.Sum) -> str:
    from derive.network.spec import m

    arg = e.arg
    if e.axis is not None and arg.shape[e.axis] == m:
        if isinstance(arg, E.Sym) and arg.layer is not None:
            body = latex_name(arg.base, arg.layer)[:-1] + "(i)}"
        else:
            body = rf"\left({to_latex(arg)}\right)^{{(i)}}"
        return rf"\sum_{{i=1}}^{{m}} {body}"
    axis = "all" if e.axis is None else e.axis
    return rf"\operatorname{{sum}}_{{\text{{axis}}={axis}}}\left({to_latex(arg)}\right)"


def _pointwise_latex(e: E.Pointwise) -> str:
    names = {}
    for a, p in zip(e.args, e.params, strict=True):
        inner = to_latex(a)
        names[p] = inner if _prec(a) == _ATOM else rf"\left({inner}\right)"
    s = sp.latex(e.expr, symbol_names=names, mul_symbol=r" \odot ", order="none")
    s = re.sub(r"(?<![\w}])(\d+) \\odot ", r"\1 ", s)
    return s


# -- numpy code ----------------------------------------------------------------------------------
def _code_prec(e: E.Expr) -> int:
    if isinstance(e, E.Add | E.Sub):
        return 1
    if isinstance(e, E.Hadamard | E.Div | E.Scale):
        return 2
    if isinstance(e, E.Pointwise):
        return 1
    return _ATOM


def to_code(e: E.Expr) -> str:
    """numpy code, as the course writes it: ``np.dot(W2.T, dZ2) * np.int64(Z1 > 0)``."""
    t = to_code

    def wrap(x: E.Expr, need: int) -> str:
        s = t(x)
        return f"({s})" if _code_prec(x) < need else s

    if isinstance(e, E.Sym):
        return code_name(e.base, e.layer)
    if isinstance(e, E.Scalar):
        return sp.pycode(e.value)
    if isinstance(e, E.Ones):
        return f"np.ones(({e.shape[0]}, {e.shape[1]}))"
    if isinstance(e, E.Transpose):
        return f"{wrap(e.arg, _ATOM)}.T"
    if isinstance(e, E.MatMul):
        return f"np.dot({t(e.left)}, {t(e.right)})"
    if isinstance(e, E.Scale):
        f = as_sympy(e.factor)
        if f == -1:
            return f"-{wrap(e.arg, _ATOM)}"
        fs = f"({sp.sstr(f)})" if not f.is_Integer else sp.sstr(f)
        return f"{fs} * {wrap(e.arg, 2)}"
    if isinstance(e, E.Hadamard):
        return f"{wrap(e.left, 2)} * {wrap(e.right, 2)}"
    if isinstance(e, E.Div):
        return f"{wrap(e.left, 2)} / {wrap(e.right, _ATOM)}"
    if isinstance(e, E.Add):
        return f"{t(e.left)} + {t(e.right)}"
    if isinstance(e, E.Sub):
        return f"{t(e.left)} - {wrap(e.right, 2)}"
    if isinstance(e, E.Sum):
        if e.axis is None:
            return f"np.sum({t(e.arg)})"
        return f"np.sum({t(e.arg)}, axis={e.axis}, keepdims=True)"
    if isinstance(e, E.Deriv):
        arg = t(e.arg)
        if e.activation is None:
            return f"g{e.layer}_prime({arg})"
        tmpl = e.activation.derivative_numpy
        uses_a = re.search(r"\bA\b", tmpl) is not None
        if isinstance(e.arg, E.Sym) and e.arg.base == "Z":
            a_name = code_name("A", e.arg.layer)
            return _paren_template(re.sub(r"\bZ\b", arg, re.sub(r"\bA\b", a_name, tmpl)))
        if uses_a:
            return f"{e.activation.name}_prime({arg})"
        return _paren_template(
            re.sub(r"\bZ\b", f"({arg})" if _code_prec(e.arg) < _ATOM else arg, tmpl)
        )
    if isinstance(e, E.Act):
        name = e.activation.name if e.activation is not None else f"g{e.layer}"
        return f"{name}({t(e.arg)})"
    if isinstance(e, E.Pointwise):
        s = _PlaceholderCode(e.params).doprint(e.expr).replace("math.", "np.")
        for i, a in enumerate(e.args):
            s = s.replace(f"__{i}__", wrap(a, _ATOM))
        return s
    raise TypeError(type(e).__name__)


def _paren_template(code: str) -> str:
    """Parenthesize a catalogue snippet unless it is one call or one name (``A * (1 - A)``)."""
    if re.fullmatch(r"[\w.]+(\((?:[^()]|\([^()]*\))*\))?", code):
        return code
    return f"({code})"
