"""Closed forms of the one-layer Jacobians, each checked against every entry SymPy computed.

Columns convention (Z = W A + b 1ᵀ, Z_ij = Σₚ W_ip A_pj + b_i):
  ∂Z_ij/∂W_kl = δ_ik A_lj,  ∂Z_ij/∂A_kl = W_ik δ_jl,  ∂Z_ij/∂b_k = δ_ik,
  ∂A_ij/∂Z_kl = δ_ik δ_jl g′(Z_ij) (element-wise g),
  ∂A_ij/∂Z_kl = δ_jl A_ij (δ_ik − A_kj) (softmax).
Rows convention (Z = A W + 1 b, Z_ij = Σₚ A_ip W_pj + b_j): the roles of the two indices swap.

A closed form is returned only when it matches all entries: exactly (``expand`` of the difference
is 0) or, for entries SymPy cannot cancel cheaply, at two random points (generic g and ℓ replaced
by the smooth stand-ins of :mod:`derive.network.model`) to 1e-9.

>>> from derive.jacobian.tensor import jacobian
>>> from derive.network.spec import Network
>>> print(jacobian("Z1", "X", Network(depth=1, convention="rows")).rule.text)
∂Z[1]ᵢⱼ/∂Xₖₗ = δᵢₖ W[1]ₗⱼ
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.catalogue import rules
from derive.core.expr import as_sympy
from derive.jacobian.quantities import Quantity, SymbolicModel, cells
from derive.network.model import standin_activation, standin_loss
from derive.network.spec import Network

SUB = {"i": "ᵢ", "j": "ⱼ", "k": "ₖ", "l": "ₗ", "p": "ₚ"}

Entry = Callable[[int, int, int, int], sp.Expr | int]  # (i, j, k, l) → ∂of_ij/∂wrt_kl
Candidate = tuple[Entry, str, str, str]  # the entries, their text, their LaTeX, why


@dataclass(frozen=True)
class ClosedForm:
    """A closed form of every entry (text, LaTeX), checked against all entries of the array."""

    text: str
    latex: str
    why: str


def _d(a: int, b: int) -> int:
    return 1 if a == b else 0


def closed_form(of: Quantity, wrt: Quantity, model: SymbolicModel,
                array: sp.NDimArray) -> ClosedForm | None:
    """The checked closed form of ∂of/∂wrt for a layer's own maps, else None."""
    found = _candidate(of, wrt, model)
    if found is None:
        return None
    fn, rhs_text, rhs_latex, why = found
    for idx in cells(array.shape):
        if not _equal(array[idx], fn(*idx), model.net):
            return None
    lhs = f"∂{of.text}{SUB['i']}{SUB['j']}/∂{wrt.text}{SUB['k']}{SUB['l']}"
    lhs_latex = rf"\frac{{\partial {of.latex}_{{ij}}}}{{\partial {wrt.latex}_{{kl}}}}"
    return ClosedForm(f"{lhs} = {rhs_text}", f"{lhs_latex} = {rhs_latex}", why)


def _el(q_text: str, a: str, b: str) -> str:
    return f"{q_text}{SUB[a]}{SUB[b]}"


def _candidate(of: Quantity, wrt: Quantity, model: SymbolicModel) -> Candidate | None:
    net = model.net
    cols = net.layout.columns
    V = model.matrix
    if of.key == wrt.key:
        return (lambda i, j, k, l: _d(i, k) * _d(j, l), "δᵢₖ δⱼₗ", r"\delta_{ik}\,\delta_{jl}",
                "every entry depends on itself only")
    if of.base == "Z" and of.layer is not None:
        l_ = of.layer
        prev = Quantity("X", None) if l_ == 1 else Quantity("A", l_ - 1)
        W, A = V(("W", l_)), V(prev.key)
        Wt, At, Wl, Al = f"W[{l_}]", prev.text, f"W^{{[{l_}]}}", prev.latex
        defn = (f"Z[{l_}]ᵢⱼ = Σₚ W[{l_}]ᵢₚ {At}ₚⱼ + b[{l_}]ᵢ" if cols
                else f"Z[{l_}]ᵢⱼ = Σₚ {At}ᵢₚ W[{l_}]ₚⱼ + b[{l_}]ⱼ")
        if wrt.key == ("W", l_):
            if cols:
                return (lambda i, j, k, l: _d(i, k) * A[l, j], f"δᵢₖ {_el(At, 'l', 'j')}",
                        rf"\delta_{{ik}}\, {Al}_{{lj}}",
                        f"{defn}: entry (i, j) uses row i of W[{l_}] only, so it is 0 unless "
                        f"i = k, and the coefficient of W[{l_}]ᵢₗ is {_el(At, 'l', 'j')}")
            return (lambda i, j, k, l: A[i, k] * _d(j, l), f"{_el(At, 'i', 'k')} δⱼₗ",
                    rf"{Al}_{{ik}}\,\delta_{{jl}}",
                    f"{defn}: entry (i, j) uses column j of W[{l_}] only, so it is 0 unless "
                    f"j = l, and the coefficient of W[{l_}]ₖⱼ is {_el(At, 'i', 'k')}")
        if wrt.key == prev.key:
            if cols:
                return (lambda i, j, k, l: W[i, k] * _d(j, l), f"{_el(Wt, 'i', 'k')} δⱼₗ",
                        rf"{Wl}_{{ik}}\,\delta_{{jl}}",
                        f"{defn}: example j of Z[{l_}] uses example j of {At} only (j = l)")
            return (lambda i, j, k, l: _d(i, k) * W[l, j], f"δᵢₖ {_el(Wt, 'l', 'j')}",
                    rf"\delta_{{ik}}\, {Wl}_{{lj}}",
                    f"{defn}: example i of Z[{l_}] uses example i of {At} only (i = k)")
        if wrt.key == ("b", l_):
            if cols:
                return (lambda i, j, k, l: _d(i, k), "δᵢₖ", r"\delta_{ik}",
                        f"{defn}: b[{l_}] is added to every column (l = 1 always), unit i "
                        "gets bᵢ only")
            return (lambda i, j, k, l: _d(j, l), "δⱼₗ", r"\delta_{jl}",
                    f"{defn}: b[{l_}] is added to every row (k = 1 always), unit j gets bⱼ only")
    if of.base == "A" and of.layer is not None and wrt.key == ("Z", of.layer):
        l_ = of.layer
        act = net.activation(l_)
        Z, A = V(("Z", l_)), V(("A", l_))
        if act is None or act.elementwise:
            name = f"g[{l_}]" if act is None else act.text
            lname = f"g^{{[{l_}]}}" if act is None else act.latex
            gp = _gprime(act, l_)
            return (lambda i, j, k, l: _d(i, k) * _d(j, l) * gp(Z[i, j]),
                    f"δᵢₖ δⱼₗ {name}′(Z[{l_}]ᵢⱼ)",
                    rf"\delta_{{ik}}\,\delta_{{jl}}\, {lname}^{{\prime}}(Z^{{[{l_}]}}_{{ij}})",
                    f"A[{l_}]ᵢⱼ = {name}(Z[{l_}]ᵢⱼ) depends on Z[{l_}]ᵢⱼ alone: the Jacobian is "
                    f"diagonal, so the chain rule through it is ⊙ {name}′(Z[{l_}])")
        if cols:
            return (lambda i, j, k, l: _d(j, l) * A[i, j] * (_d(i, k) - A[k, j]),
                    f"δⱼₗ A[{l_}]ᵢⱼ (δᵢₖ − A[{l_}]ₖⱼ)",
                    rf"\delta_{{jl}}\, A^{{[{l_}]}}_{{ij}}(\delta_{{ik}} - A^{{[{l_}]}}_{{kj}})",
                    "softmax normalises each example (column) over all its units: within an "
                    "example the Jacobian is the full diag(a) − a aᵀ; across examples it is 0 "
                    "(block diagonal)")
        return (lambda i, j, k, l: _d(i, k) * A[i, j] * (_d(j, l) - A[i, l]),
                f"δᵢₖ A[{l_}]ᵢⱼ (δⱼₗ − A[{l_}]ᵢₗ)",
                rf"\delta_{{ik}}\, A^{{[{l_}]}}_{{ij}}(\delta_{{jl}} - A^{{[{l_}]}}_{{il}})",
                "softmax normalises each example (row) over all its units: within an example "
                "the Jacobian is the full diag(a) − a aᵀ; across examples it is 0 "
                "(block diagonal)")
    return None


def _gprime(act: rules.Activation | None, layer: int) -> Callable[[sp.Expr], sp.Expr]:
    if act is None:
        g = sp.Function(f"g{layer}")
        return lambda e: sp.diff(g(e), e) if e.is_Symbol else sp.Subs(
            sp.Derivative(g(_T), _T), _T, e)
    return lambda e: act.derivative_at_z.subs(rules.z, e)


_T = sp.Dummy("t")


def _equal(a: sp.Expr | int, b: sp.Expr | int, net: Network) -> bool:
    a, b = as_sympy(a), as_sympy(b)
    if a == b:
        return True
    diff = a - b
    try:
        if sp.expand(diff) == 0:
            return True
    except Exception:  # noqa: BLE001 - expand may choke on Piecewise; fall back to numbers
        pass
    rng = random.Random(12345)
    for _ in range(2):
        point = {s: sp.Float(rng.uniform(0.2, 0.8) * rng.choice((-1, 1)))
                 for s in diff.free_symbols}
        # keep loss targets and activations in range: targets in (0.2, 0.8)
        point.update({s: sp.Float(rng.uniform(0.2, 0.8)) for s in diff.free_symbols
                      if s.name.startswith("Y_")})
        va, vb = numeric_value(a, point, net), numeric_value(b, point, net)
        if not abs(va - vb) <= 1e-9 * (1 + abs(va) + abs(vb)):
            return False
    return True


def with_standins(expr: sp.Expr, net: Network) -> sp.Expr:
    """Replace the undefined g{l} and ℓ by :mod:`derive.network.model`'s stand-ins, derivatives done."""
    t, u = sp.Dummy("t"), sp.Dummy("u")
    reps: dict[sp.FunctionClass, sp.Lambda] = {}
    for f in expr.atoms(sp.core.function.AppliedUndef):
        name = f.func.__name__
        if name == "ℓ":
            reps[f.func] = sp.Lambda((t, u), standin_loss().per_unit.subs(
                {rules.a: t, rules.y: u}, simultaneous=True))
        elif name.startswith("g") and name[1:].isdigit():
            reps[f.func] = sp.Lambda(t, standin_activation(int(name[1:])).forward.subs(rules.z, t))
    if not reps:
        return expr
    out = expr
    for fn, lam in reps.items():
        out = out.replace(fn, lam)
    return out.doit()


def numeric_value(expr: sp.Expr, point: dict[sp.Symbol, sp.Float], net: Network) -> complex:
    """``expr`` at ``point`` (a symbol → number map) as a Python number."""
    e = with_standins(as_sympy(expr), net).xreplace(point)
    return complex(sp.N(e, 30))
