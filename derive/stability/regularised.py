"""Dropout and L2 in the stability analysis: what each does to the Jacobian product.

Inverted dropout with a fixed mask, a = g(z) ⊙ D / p with z = W a_prev + b, has the Jacobian
J = diag(g′(z)) diag(D) / p · W (derived and checked here with SymPy and finite differences,
as :func:`derive.stability.symbolic.layer_jacobian` does without the mask); an L2 penalty
(λ/2m) Σ‖W‖² does not depend on a_prev, so it changes no Jacobian (checked: its derivative with
respect to a_prev is 0), only dW.

>>> r = dropout_jacobian("tanh", 0.8)
>>> r.passed, r.facts["sympy_equal"], r.facts["fd_error"] < 1e-7
(True, True, True)
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from derive.errors import ProofFailure, SpecError
from derive.layers.dense import affine
from derive.stability.symbolic import (
    FD_STEP,
    FD_TOLERANCE,
    LAYOUT,
    Claim,
    SymbolicResult,
    _act,
    _g,
    _gprime,
    _name,
    _numeric,
    symbolic_stability,
)


def check_regularisation(keep_prob, l2) -> float | None:
    """keep_prob in (0, 1] (1: no dropout, None returned) and l2 ≥ 0, or a SpecError."""
    if l2 is not None and not (isinstance(l2, int | float) and math.isfinite(l2) and l2 >= 0):
        raise SpecError(f"l2 must be a number ≥ 0, not {l2!r}")
    if keep_prob is None:
        return None
    if not (isinstance(keep_prob, int | float) and 0 < keep_prob <= 1):
        raise SpecError(f"keep_prob must lie in (0, 1], not {keep_prob!r}")
    return None if keep_prob == 1 else float(keep_prob)


def regularisation_notes(keep_prob: float | None, l2) -> tuple[str, ...]:
    """What dropout and L2 do to the Jacobian product, in words (the run's notes).

    >>> regularisation_notes(None, 0.1)[0][:41]
    'L2 (λ = 0.1) changes no Jacobian: J[l] = '
    """
    out = []
    if keep_prob is not None:
        out.append(f"dropout (keep_prob = {keep_prob:g}, masks held fixed): J[l] = diag(g′(z[l])) "
                   f"diag(D[l]) / {keep_prob:g} · W[l]; a kept unit's derivative is scaled by "
                   f"1/{keep_prob:g}, a dropped one's is 0, so E[(D/p)²] = 1/p per unit")
    if l2 is not None:
        out.append(f"L2 (λ = {float(l2):g}) changes no Jacobian: J[l] = ∂a[l]/∂a[l-1] does not "
                   "involve the penalty (it depends on W alone), so δ and these norms are those "
                   "without it; L2 adds (λ/m) W[l] to dW[l] only")
    return tuple(out)


def dropout_jacobian(activation=None, keep_prob: float = 0.8, n_out: int = 3, n_in: int = 2,
                     seed: int = 0) -> SymbolicResult:
    """J = ∂a/∂a_prev for a = g(W a_prev + b) ⊙ D / p with a fixed 0/1 mask D (one unit dropped,
    the others kept): diag(g′(z)) diag(D) / p · W, by SymPy's jacobian on symbolic entries and
    by central differences at seeded numbers."""
    act = _act(activation)
    p = sp.nsimplify(keep_prob)
    mask = [0] + [1] * (n_out - 1)  # unit 1 dropped: its row of J is 0
    W = sp.Matrix(n_out, n_in, lambda i, j: sp.Symbol(f"W_{i + 1}{j + 1}", real=True))
    ap = sp.Matrix(n_in, 1, lambda i, _: sp.Symbol(f"a_{i + 1}", real=True))
    b = sp.Matrix(n_out, 1, lambda i, _: sp.Symbol(f"b_{i + 1}", real=True))
    zv = affine(LAYOUT, W, ap, b)
    out = sp.Matrix(n_out, 1, lambda i, _: _g(act, zv[i]) * mask[i] / p)
    J_sympy = out.jacobian(ap)
    formula = sp.diag(*[_gprime(act, zv[i]) for i in range(n_out)]) * sp.diag(*mask) / p * W
    sympy_equal = all(sp.simplify(e) == 0 for e in (J_sympy - formula))
    fwd, der = _numeric(act)
    rng = np.random.default_rng(seed)
    Wn, an, bn = rng.normal(size=(n_out, n_in)), rng.normal(size=n_in), rng.normal(size=n_out)
    Dn, pn = np.array(mask, dtype=float), float(keep_prob)

    def f(v):
        return np.asarray(fwd(affine(LAYOUT, Wn, v, bn)), dtype=float) * Dn / pn

    J_fd = np.empty((n_out, n_in))
    for j in range(n_in):
        e = np.zeros(n_in)
        e[j] = FD_STEP
        J_fd[:, j] = (f(an + e) - f(an - e)) / (2 * FD_STEP)
    zn = affine(LAYOUT, Wn, an, bn)
    J_formula = np.diag(np.asarray(der(zn), dtype=float) * np.ones(n_out) * Dn / pn) @ Wn
    scale = np.linalg.norm(J_fd) + np.linalg.norm(J_formula)
    fd_error = float(np.linalg.norm(J_fd - J_formula) / scale) if scale > 0 else 0.0
    steps = (
        Claim("the layer", f"a[l] = {_name(act)}(W a[l-1] + b) ⊙ D / p, D a fixed 0/1 mask, "
              f"p = keep_prob = {keep_prob:g}",
              r"a^{[l]} = g(W a^{[l-1]} + b) \odot D / p"),
        Claim("one entry", "∂a_i/∂a[l-1]_j = g′(z_i) D_i / p · W_ij: the mask is a constant",
              r"\frac{\partial a_i}{\partial a^{[l-1]}_j} = g'(z_i)\,\frac{D_i}{p}\,W_{ij}"),
        Claim("as a matrix", "J[l] = diag(g′(z)) diag(D) / p · W: a dropped unit's row is 0, a "
              "kept one's is scaled by 1/p",
              r"J^{[l]} = \operatorname{diag}(g'(z))\,\operatorname{diag}(D)\,W / p"),
        Claim("SymPy", f"jacobian(a[l], a[l-1]) − diag(g′(z)) diag(D)/p W = 0 on a {n_out}×{n_in} "
              "instance with symbolic entries (unit 1 dropped)",
              r"\operatorname{jacobian} - \operatorname{diag}(g'(z))\operatorname{diag}(D)W/p = 0",
              "each entry simplified to 0", sympy_equal),
        Claim("finite differences", f"central differences (h = {FD_STEP:g}): relative error "
              f"{fd_error:.1e}", rf"\text{{relative error }} {fd_error:.1e}",
              f"below {FD_TOLERANCE:g}", fd_error < FD_TOLERANCE),
    )
    return SymbolicResult("dropout_jacobian", f"The Jacobian of a dense layer with dropout "
                          f"({_name(act)}, keep_prob {keep_prob:g})", steps,
                          {"sympy_equal": sympy_equal, "fd_error": fd_error,
                           "jacobian": J_sympy, "formula": formula})


def l2_jacobian(n: int = 2) -> SymbolicResult:
    """The L2 penalty (λ/2m) Σ‖W‖²_F has zero derivative with respect to a[l-1] (SymPy), so the
    backward recursion δ[l-1] = J[l]ᵀ δ[l] and every Jacobian are unchanged; only dW[l] gains
    (λ/m) W[l]."""
    lam, m = sp.symbols("lambda m", positive=True)
    W = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"W_{i + 1}{j + 1}", real=True))
    ap = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"a_{i + 1}", real=True))
    pen = lam / (2 * m) * sum(w**2 for w in W)
    zero = all(sp.diff(pen, a) == 0 for a in ap)
    dW = sp.Matrix(n, n, lambda i, j: sp.diff(pen, W[i, j]))
    term = all(sp.simplify(e) == 0 for e in (dW - lam / m * W))
    steps = (
        Claim("the penalty", "J gains (λ/(2m)) Σₗ ‖W[l]‖²_F, a function of the weights alone",
              r"\frac{\lambda}{2m}\sum_l \lVert W^{[l]}\rVert_F^2"),
        Claim("no Jacobian changes", "∂/∂a[l-1] of the penalty is 0: J[l] = ∂a[l]/∂a[l-1] and "
              "δ[l-1] = J[l]ᵀ δ[l] are those without L2", r"\partial P / \partial a^{[l-1]} = 0",
              "SymPy: each derivative is 0", zero),
        Claim("only dW", "∂/∂W of the penalty is (λ/m) W: dW[l] += (λ/m) W[l] (weight decay)",
              r"\partial P / \partial W = \tfrac{\lambda}{m} W", "SymPy: equal entry by entry",
              term),
    )
    return SymbolicResult("l2_jacobian", "L2 regularisation changes no Jacobian", steps,
                          {"zero": zero, "weight_term": term})


def regularised_stability(activation="tanh", keep_prob: float | None = None, l2=None,
                          strict: bool = True) -> tuple[SymbolicResult, ...]:
    """:func:`derive.stability.symbolic.symbolic_stability`, with the dropout Jacobian (given a
    keep_prob below 1) and the L2 result (given l2) after it."""
    p = check_regularisation(keep_prob, l2)
    results = symbolic_stability(activation, strict)
    extra = ((dropout_jacobian(activation, p),) if p is not None else ()) + \
        ((l2_jacobian(),) if l2 is not None else ())
    if strict:
        for r in extra:
            if not r.passed:
                bad = next(s for s in r.steps if s.passed is False)
                raise ProofFailure(f"{r.title}: step {bad.title!r} did not check: {bad.check}")
    return results + extra
