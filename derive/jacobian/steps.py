"""From the 4-index array to the vectorized formula: the contraction, entry by entry.

For Z = W A + b and the cost J = (1/m) Σₜ ℓₜ, J depends on W only through Z, so

    ∂J/∂W_kl = Σᵢ Σⱼ ∂J/∂Z_ij · ∂Z_ij/∂W_kl = Σᵢ Σⱼ (1/m) dZ_ij δ_ik A_lj = (1/m) Σⱼ dZ_kj A_lj
             = ((1/m) dZ Aᵀ)_kl,

which is the engine's dW = (1/m) dZ Aᵀ. :func:`contraction` shows each step on concrete sizes,
every entry, each step citing its rule, and checks that the last entries equal the engine's
formula (SymPy: the difference expands to 0) and that ∂J/∂Z = (1/m) dZ (finite differences).
The naive scalar chain rule and the activation step are in :mod:`derive.jacobian.naive`.

>>> from derive.network.spec import Network
>>> c = contraction(Network(depth=2), "W1")
>>> print(c.formula.text)
dW[1] = (1/m) dZ[1] Xᵀ
>>> c.steps[1].entries[0]
'∂J/∂W[1]₁₁ = ∂J/∂Z[1]₁₁·X₁₁ + ∂J/∂Z[1]₁₂·X₁₂'
>>> c.checked
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive.catalogue import rules
from derive.core import fd
from derive.core.expr import SympyBackend, as_sympy, evaluate
from derive.core.printing import to_latex, to_text
from derive.engine.backward import Derivation, Formula, derive
from derive.engine.values import gradient_values
from derive.errors import ProofFailure, SpecError
from derive.jacobian.entries import DIGITS, entry_latex, entry_text, tex_escape
from derive.jacobian.quantities import Quantity, code, parse_quantity, resolve_sizes
from derive.jacobian.render import JacobianResult
from derive.jacobian.tensor import jacobian
from derive.network import model
from derive.network.model import symbol_matrix
from derive.network.spec import Network
from derive.network.spec import m as m_symbol


# Elementary facts the contraction uses that the catalogue (rules/identities.toml) does not hold;
# a catalogue entry of the same name, if one is added, takes precedence.
def rule(name: str) -> rules.Identity:
    """The catalogue identity ``name`` (rules/identities.toml)."""
    return rules.identities().lookup(name)


@dataclass(frozen=True)
class ContractionStep:
    """One step: a rule applied to every entry; ``entries`` one line per entry (text, LaTeX)."""

    title: str
    rule: str
    rule_title: str
    index: str
    entries: tuple[str, ...]
    entries_latex: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Contraction:
    """∂J/∂wrt contracted from ∂J/∂Z[l] and the array ∂Z[l]/∂wrt, ending at the engine's formula."""

    wrt: Quantity
    layer: int
    jacobian: JacobianResult  # of Z[l] with respect to wrt
    steps: tuple[ContractionStep, ...]
    formula: Formula  # the engine's
    factor: sp.Expr  # ∂J/∂wrt = factor · formula (1 for dW, db; 1/m for dA under scale mean)
    checked: bool
    fd_error: float  # relative error of (1/m) dZ against central differences of J w.r.t. Z

    def to_text(self) -> str:
        return contraction_text(self)

    def to_latex(self) -> str:
        return contraction_latex(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "wrt": self.wrt.text,
            "layer": self.layer,
            "formula": self.formula.text,
            "formula_latex": self.formula.latex,
            "factor": sp.sstr(self.factor),
            "checked": self.checked,
            "fd_relative_error": self.fd_error,
            "steps": [{"title": s.title, "rule": s.rule, "index": s.index,
                       "entries": list(s.entries), "note": s.note} for s in self.steps],
        }


def contraction(net: Network, wrt: str | Quantity = "W1", sizes: Mapping[str, int] | None = None,
                seed: int = 0) -> Contraction:
    """Contract ∂J/∂Z[l] with ∂Z[l]/∂wrt (wrt one of W[l], b[l], A[l-1] for l ≥ 2) on concrete
    sizes and end at the engine's vectorized formula (dW, db or dA)."""
    net.require_no_l2("derive jacobian's contractions")
    net.require_no_dropout("derive jacobian")
    cnet, m = resolve_sizes(net, sizes)
    q = wrt if isinstance(wrt, Quantity) else parse_quantity(wrt, cnet)
    if q.base in ("W", "b") and q.layer is not None:
        l_, kind, at = q.layer, "d" + q.base, q.layer
    elif q.base == "A" and q.layer is not None and q.layer < cnet.L:
        l_, kind, at = q.layer + 1, "dA", q.layer
    else:
        raise SpecError(f"the contraction goes from ∂J/∂Z[l] to W[l], b[l] or A[l-1] (l ≥ 2), "
                        f"not {q.text}: the engine derives no gradient for it")
    Z = Quantity("Z", l_)
    jac = jacobian(Z, q, cnet, {"m": m})
    d = derive(cnet, prove=False)
    formula = d.formula(kind, at)
    eng_step = next(s for s in d.steps if s.target.key == (kind, at))
    scale = sp.Rational(1, m) if cnet.per_example_dZ else sp.Integer(1)  # ∂J/∂Z = scale · dZ
    factor = scale if kind == "dA" else sp.Integer(1)

    zshape = jac.of_shape
    dJdZ = symbol_matrix(f"dJdZ{l_}", *zshape)
    dZ = symbol_matrix(f"dZ{l_}", *zshape)
    wshape = jac.wrt_shape
    cells = [(k, l) for k in range(wshape[0]) for l in range(wshape[1])]
    zcells = [(i, j) for i in range(zshape[0]) for j in range(zshape[1])]
    arr = jac.display
    lhs = {c: f"∂J/∂{_name(q, *c)}" for c in cells}
    lhs_tex = {c: rf"\frac{{\partial J}}{{\partial {_name_tex(q, *c)}}}" for c in cells}

    def terms(c: tuple[int, int], keep_zero: bool, symbols: sp.Matrix,
              fmt: Callable[[sp.Expr, sp.Expr], str]) -> list[str]:
        out = []
        for i, j in zcells:
            e = arr[i, j, c[0], c[1]]
            if e == 0 and not keep_zero:
                continue
            out.append(fmt(symbols[i, j], e))
        return out

    def t_fmt(s: sp.Expr, e: sp.Expr) -> str:
        es = entry_text(e)
        return entry_text(s) if e == 1 else f"{entry_text(s)}·{_paren(es, e)}"

    def l_fmt(s: sp.Expr, e: sp.Expr) -> str:
        es = entry_latex(e)
        return entry_latex(s) if e == 1 else rf"{entry_latex(s)}\, {_paren_tex(es, e)}"

    steps = []
    zt, wt = Z.text, q.text
    ids = rule("chain_rule_entries")
    steps.append(ContractionStep(
        f"J depends on {wt} only through {zt}: sum over all {len(zcells)} entries of {zt}",
        ids.name, ids.title,
        f"∂J/∂{wt}ₖₗ = Σᵢ Σⱼ ∂J/∂{zt}ᵢⱼ · ∂{zt}ᵢⱼ/∂{wt}ₖₗ",
        tuple(f"{lhs[c]} = " + " + ".join(terms(c, True, dJdZ, t_fmt)) for c in cells),
        tuple(f"{lhs_tex[c]} = " + " + ".join(terms(c, True, dJdZ, l_fmt)) for c in cells),
        "each ∂" + zt + "ᵢⱼ/∂" + wt + "ₖₗ is the entry of the array above"))
    forward_rule = eng_step.rule
    delta = ", ".join(f"{p} = {r}" for p, r in jac.deltas)
    kron = rule("kronecker_delta")
    steps.append(ContractionStep(
        (f"the Kronecker deltas ({delta}) drop the zero terms" if len(jac.deltas) > 1 else
         f"the Kronecker delta ({delta or 'none'}) drops the zero terms"), kron.name, kron.title,
        jac.rule.text if jac.rule else "",
        tuple(f"{lhs[c]} = " + (" + ".join(terms(c, False, dJdZ, t_fmt)) or "0") for c in cells),
        tuple(f"{lhs_tex[c]} = " + (" + ".join(terms(c, False, dJdZ, l_fmt)) or "0")
              for c in cells),
        f"the closed form is checked against every entry; {zt} = … is the forward map "
        f"({forward_rule})"))
    mean = rule("mean_cost")
    scale_t = "" if scale == 1 else f"({sp.sstr(scale)})"
    scale_tex = "" if scale == 1 else sp.latex(scale) + r"\,"
    steps.append(ContractionStep(
        (f"∂J/∂{zt} = {scale_t} d{zt}: d{zt} is the per-example gradient" if scale_t else
         f"∂J/∂{zt} = d{zt}: d{zt} is J's own gradient ({cnet.scale_rule.name} scale)"),
        mean.name, mean.title, mean.index.replace("[l]", f"[{l_}]"),
        tuple(f"{lhs[c]} = {scale_t}(" + (" + ".join(terms(c, False, dZ, t_fmt)) or "0") + ")"
              for c in cells),
        tuple(rf"{lhs_tex[c]} = {scale_tex}\left(" + (" + ".join(terms(c, False, dZ, l_fmt))
                                                       or "0") + r"\right)" for c in cells),
        "checked numerically: see the finite-difference line below"))

    # the engine's formula, evaluated on the same symbols, entry by entry
    env = {(k, lay): v for (k, lay), v in jac.model.values.items()}
    env["dZ", l_] = dZ
    for key, mat in jac.model.leaves.items():
        env[key] = mat
    eng = sp.Matrix(evaluate(formula.expr, env, SympyBackend(generic=True))).subs(m_symbol, m)
    shown = {k: (v if k in jac.model.leaves or not isinstance(v, sp.MatrixBase)
                 else symbol_matrix(code(*k), v.rows, v.cols)) for k, v in env.items()}
    shown["dZ", l_] = dZ
    eng_shown = sp.Matrix(evaluate(formula.expr, shown, SympyBackend(generic=True)))
    eng_shown = eng_shown.subs(m_symbol, m)
    contracted = {c: sum(scale * dZ[i, j] * jac.array[i, j, c[0], c[1]] for i, j in zcells)
                  for c in cells}
    checked = all(sp.expand(contracted[c] - factor * eng[c]) == 0 for c in cells)
    if not checked:
        raise ProofFailure(f"the contraction for {wt} does not match the engine's {formula.text}")
    prod = rule("matrix_product_entry")
    fac_t = "" if factor == 1 else f"({sp.sstr(factor)}) "
    fac_tex = "" if factor == 1 else sp.latex(factor) + r"\, "
    steps.append(ContractionStep(
        f"each sum is one entry of the engine's matrix formula: {fac_t}({_expr_text(formula)})ₖₗ",
        prod.name, prod.title, prod.index,
        tuple(f"{lhs[c]} = {fac_t}({_expr_text(formula)})" + _sub1(c) + f" = {fac_t}"
              + (_paren(entry_text(eng_shown[c]), eng_shown[c]) if fac_t
                 else entry_text(eng_shown[c])) for c in cells),
        tuple(rf"{lhs_tex[c]} = {fac_tex}\left({_expr_latex(formula)}\right)"
              rf"_{{{c[0] + 1}{c[1] + 1}}}"
              + " = " + fac_tex + entry_latex(eng_shown[c]) for c in cells),
        f"SymPy: each entry minus the engine's {formula.name} entry expands to 0 "
        f"(all {len(cells)} checked)"))
    ident = rule(forward_rule)
    fac_w = "" if factor == 1 else f"{fac_t}"
    steps.append(ContractionStep(
        f"so ∂J/∂{wt} = {fac_w}{formula.name}, the engine's vectorized formula", ident.name,
        eng_step.title, eng_step.index, (formula.text,), (formula.latex,), ident.source))
    fd = _fd_check(cnet, d, l_, m, seed)
    return Contraction(q, l_, jac, tuple(steps), formula, factor, checked, fd)


def _fd_check(net: Network, d: Derivation, layer: int, m: int, seed: int) -> float:
    """Relative error between (scale)·dZ[layer] from the engine's formulas and central differences
    of J with respect to Z[layer], on a random instance."""
    inst = model.random_instance(net, seed=seed, m=m, sizes=net.layers)
    vals = gradient_values(d, inst)
    Z = vals["Z", layer]

    def J(Zs: np.ndarray) -> np.ndarray:
        cache = model.forward(net, inst.params, inst.X, start=layer, start_value=("Z", Zs))
        return model.cost(net, cache, inst.Y)

    scale = 1.0 / m if net.per_example_dZ else 1.0  # ∂J/∂Z = scale · dZ
    return fd.relative_error(fd.central_differences(J, Z), scale * vals["dZ", layer])


def _name(q: Quantity, k: int, l: int) -> str:
    return entry_text(sp.Symbol(f"{q.code}_{k}_{l}"))


def _name_tex(q: Quantity, k: int, l: int) -> str:
    return entry_latex(sp.Symbol(f"{q.code}_{k}_{l}"))


def _paren(s: str, e: sp.Expr) -> str:
    return f"({s})" if isinstance(as_sympy(e), sp.Add) else s


def _paren_tex(s: str, e: sp.Expr) -> str:
    return rf"\left({s}\right)" if isinstance(as_sympy(e), sp.Add) else s


def _sub1(c: tuple[int, int]) -> str:
    return f"{c[0] + 1}{c[1] + 1}".translate(DIGITS)


def _expr_text(formula: Formula) -> str:
    return to_text(formula.expr)


def _expr_latex(formula: Formula) -> str:
    return to_latex(formula.expr)


# -- text and LaTeX ------------------------------------------------------------------------------
def contraction_text(c: Contraction) -> str:
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


def contraction_latex(c: Contraction, level: str = "subsection") -> str:
    wt, zt = c.wrt.latex, f"Z^{{[{c.layer}]}}"
    parts = [rf"\{level}{{The contraction: $\partial J/\partial {wt}$}}", r"\begin{enumerate}"]
    for s in c.steps:
        body = " \\\\\n".join(s.entries_latex)
        name = s.rule.replace("_", r"\_")
        parts.append(rf"\item {tex_escape(s.title)} (rule \texttt{{{name}}})"
                     "\n\\begin{align*}\n" + body.replace(" = ", " &= ", 1) + "\n\\end{align*}")
    parts.append(r"\end{enumerate}")
    parts.append(rf"Checked: every entry equals the engine's ${c.formula.latex.split(' = ')[0]}$ "
                 rf"(SymPy); $\partial J/\partial {zt}$ matches central differences "
                 rf"(relative error ${c.fd_error:.1e}$).")
    return "\n".join(parts) + "\n"


