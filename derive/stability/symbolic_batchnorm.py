"""Batch norm in the Jacobian product, derived and checked (``derive stability --symbolic
--batchnorm``).

Per unit over the batch of m examples (training mode): μ = (1/m)Σ z_t, v = (1/m)Σ(z_t − μ)²,
σ = √(v + ε), ẑ = (z − μ)/σ, z̃ = γ ẑ + β. Its Jacobian J = ∂z̃/∂z = (γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m) is a
projection P scaled by γ/σ, with eigenvalues 1 (m − 2 times), 0 (along 𝟙) and ε/(v + ε) (along ẑ),
so ‖J‖₂ = γ/σ for m ≥ 3; and σ grows with W's scale, so ‖J W‖ does not (up to ε). Every step is
checked: SymPy on a symbolic instance (m = 3), numpy at seeded random values.

>>> r = batchnorm_jacobian()
>>> r.passed, r.facts["sympy_equal"], r.facts["fd_error"] < 1e-7
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy as sp

from derive.errors import ProofFailure
from derive.stability.batchnorm import EPS, spectral_norm
from derive.stability.symbolic import FD_STEP, FD_TOLERANCE, Claim, SymbolicResult

M_SYMBOLIC = 3  # the symbolic instance: m = 3 examples (the smallest with ‖J‖₂ = γ/σ)
M_NUMERIC = 8  # examples at the seeded random values
EIG_TOLERANCE = 1e-10
SCALE_TOLERANCE = 1e-5  # |ratio − 1| at c = 10 vs c = 1 (ε = 1e-5 against v ≈ 1)

Formula = Callable[[sp.Matrix, sp.Expr, sp.Expr, int], sp.Matrix]


def jacobian_formula(zhat: sp.Matrix, sigma: sp.Expr, gamma: sp.Expr, m: int) -> sp.Matrix:
    """(γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m) on SymPy matrices (ẑ an m×1 column)."""
    return gamma / sigma * (sp.eye(m) - sp.ones(m, m) / m - zhat * zhat.T / m)


def _instance(m: int = M_SYMBOLIC):
    """One unit's batch with symbolic z, γ, β, ε: z, its statistics, ẑ and z̃."""
    z = sp.Matrix(m, 1, lambda i, _: sp.Symbol(f"z_{i + 1}", real=True))
    gamma, beta = sp.symbols("gamma beta", real=True)
    eps = sp.Symbol("epsilon", positive=True)
    mu = sum(z) / m
    v = sum((zi - mu) ** 2 for zi in z) / m
    sigma = sp.sqrt(v + eps)
    zhat = (z - mu * sp.ones(m, 1)) / sigma
    return z, gamma, beta, eps, mu, v, sigma, zhat, gamma * zhat + beta * sp.ones(m, 1)


def sympy_check(formula: Formula = jacobian_formula, m: int = M_SYMBOLIC) -> bool:
    """Whether SymPy's ``jacobian`` of z̃ with respect to z minus ``formula`` simplifies to 0 in
    every entry, on an instance with m examples and symbolic z, γ, β, ε."""
    z, gamma, _, _, _, _, sigma, zhat, zt = _instance(m)
    diff = zt.jacobian(z) - formula(zhat, sigma, gamma, m)
    return all(sp.simplify(e) == 0 for e in diff)


def forward_numpy(z: np.ndarray, gamma: float = 1.0, beta: float = 0.0, eps: float = EPS):
    """z̃ of one unit's batch z (1-D), with σ and ẑ."""
    mu, v = z.mean(), z.var()
    sigma = np.sqrt(v + eps)
    zhat = (z - mu) / sigma
    return gamma * zhat + beta, sigma, zhat, v


def jacobian_numpy(z: np.ndarray, gamma: float = 1.0, eps: float = EPS) -> np.ndarray:
    """The formula (γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m) at the numbers z (1-D)."""
    m = z.size
    _, sigma, zhat, _ = forward_numpy(z, gamma, 0.0, eps)
    return gamma / sigma * (np.eye(m) - np.ones((m, m)) / m - np.outer(zhat, zhat) / m)


def layer_jacobian_numpy(W: np.ndarray, A: np.ndarray, gamma: float = 1.0, eps: float = EPS,
                         gprime=None) -> np.ndarray:
    """∂vec(g(z̃))/∂vec(A) for z = W A (units × examples, rows flattened):
    diag(g′(z̃)) blockdiag(Jᵢ) (W ⊗ I_m); ``gprime`` None leaves g′ out (the identity)."""
    Z = W @ A
    m = Z.shape[1]
    blocks = [jacobian_numpy(Z[i], gamma, eps) for i in range(Z.shape[0])]
    n = len(blocks)
    J = np.zeros((n * m, n * m))
    for i, b in enumerate(blocks):
        J[i * m:(i + 1) * m, i * m:(i + 1) * m] = b
    J = J @ np.kron(W, np.eye(m))
    if gprime is not None:
        zt = np.concatenate([forward_numpy(Z[i], gamma, 0.0, eps)[0] for i in range(n)])
        J = gprime(zt)[:, None] * J
    return J


def _fd_error(z: np.ndarray, gamma: float, beta: float) -> float:
    m = z.size
    J_fd = np.empty((m, m))
    for s in range(m):
        e = np.zeros(m)
        e[s] = FD_STEP
        J_fd[:, s] = (forward_numpy(z + e, gamma, beta)[0] - forward_numpy(z - e, gamma, beta)[0]) \
            / (2 * FD_STEP)
    J = jacobian_numpy(z, gamma)
    return float(np.linalg.norm(J_fd - J) / (np.linalg.norm(J_fd) + np.linalg.norm(J)))


def _steps_through_mu_sigma():
    """∂μ/∂z_s = 1/m, ∂σ/∂z_s = (z_s − μ)/(mσ), and the entry (1/σ)(δ_ts − 1/m − ẑ_t ẑ_s/m)."""
    z, _, _, eps, mu, v, sigma, zhat, _ = _instance()
    m = M_SYMBOLIC
    mu_ok = all(sp.diff(mu, zs) == sp.Rational(1, m) for zs in z)
    sigma_ok = all(sp.simplify(sp.diff(sigma, z[s]) - (z[s] - mu) / (m * sigma)) == 0
                   for s in range(m))
    entry_ok = all(
        sp.simplify(sp.diff(zhat[t], z[s])
                    - (sp.KroneckerDelta(t, s) - sp.Rational(1, m) - zhat[t] * zhat[s] / m) / sigma)
        == 0 for t in range(m) for s in range(m))
    ortho_ok = sp.simplify(sum(zhat)) == 0
    norm_ok = sp.simplify((zhat.T * zhat)[0] - m * v / (v + eps)) == 0
    P = sp.eye(m) - sp.ones(m, m) / m - zhat * zhat.T / m
    null_ok = all(sp.simplify(e) == 0 for e in P * sp.ones(m, 1))
    along_ok = all(sp.simplify(e) == 0 for e in P * zhat - eps / (v + eps) * zhat)
    c = sp.Symbol("c", positive=True)
    zh0 = zhat.subs(eps, 0)
    invariant = all(sp.simplify(e) == 0
                    for e in zh0.subs({zi: c * zi for zi in z}, simultaneous=True) - zh0)
    return {"mu": mu_ok, "sigma": sigma_ok, "entry": entry_ok, "ortho": ortho_ok,
            "norm": norm_ok, "null": null_ok, "along": along_ok, "invariant": invariant}


def _eigen_error(rng: np.random.Generator, trials: int = 5) -> tuple[float, float]:
    """Largest |eigvalsh(P) − (1 ×(m−2), 0, ε/(v+ε))| and |‖J‖₂ − γ/σ|·σ/γ over random batches;
    v is made small (≈ 10ε) in one trial so that ε/(v + ε) is visibly not 0."""
    eig, norm = 0.0, 0.0
    for k in range(trials):
        z = rng.normal(size=M_NUMERIC) * (np.sqrt(10 * EPS) if k == 0 else rng.uniform(0.5, 3))
        gamma = float(rng.uniform(0.5, 2.0))
        _, sigma, zhat, v = forward_numpy(z, gamma)
        m = z.size
        P = np.eye(m) - np.ones((m, m)) / m - np.outer(zhat, zhat) / m
        want = np.sort(np.array([0.0, EPS / (v + EPS)] + [1.0] * (m - 2)))
        eig = max(eig, float(np.max(np.abs(np.linalg.eigvalsh(P) - want))))
        J = jacobian_numpy(z, gamma)
        norm = max(norm, abs(float(np.linalg.norm(J, 2)) - gamma / sigma) * sigma / gamma)
    return eig, norm


SCALE_UNITS = 4  # the layer whose ‖diag(g′) J W‖₂ is measured at W and cW


def _scale(rng: np.random.Generator, n: int = SCALE_UNITS, m: int = M_NUMERIC):
    """‖diag(tanh′(z̃)) J W‖₂ of a layer at W and at cW: the ratios at c = 10 and c = 1e-3 (where
    c²v ≈ 1e-6 is comparable to ε), and the batch module's power iteration at c = 1."""
    W, A = rng.normal(size=(n, n)) / np.sqrt(n), rng.normal(size=(n, m))

    def gp(zt):
        return 1 - np.tanh(zt) ** 2

    def norm(c: float) -> float:
        return float(np.linalg.norm(layer_jacobian_numpy(c * W, A, gprime=gp), 2))

    base = norm(1.0)
    Z = W @ A
    s = np.sqrt(Z.var(axis=1, keepdims=True) + EPS)
    zhat = (Z - Z.mean(axis=1, keepdims=True)) / s
    power = spectral_norm(W, gp(zhat), zhat, 1 / s, np.random.default_rng(0))
    bound = float(np.max(np.abs(gp(zhat)))) * float(np.max(1 / s)) * float(np.linalg.norm(W, 2))
    return norm(10.0) / base, norm(1e-3) / base, abs(power - base) / base, base, bound


def batchnorm_jacobian(seed: int = 0) -> SymbolicResult:
    """The Jacobian of a batch-norm layer (training mode): derived through μ and σ, checked with
    SymPy (m = 3, symbolic z, γ, β, ε) and finite differences; its norm γ/σ from the eigenvalues
    of the projection; and the invariance of ‖J W‖ to W's scale (see the module docstring)."""
    rng = np.random.default_rng(seed)
    sym = _steps_through_mu_sigma()
    sympy_equal = sympy_check()
    z = rng.normal(size=M_NUMERIC) * 1.5 + 0.3
    gamma, beta = float(rng.uniform(0.5, 2.0)), float(rng.normal())
    fd_error = _fd_error(z, gamma, beta)
    eig_error, norm_error = _eigen_error(rng)
    r10, r_small, power_error, base, bound = _scale(rng)
    m = M_SYMBOLIC
    steps = (
        Claim("the layer", "per unit i over the batch of m examples: μ = (1/m)Σ z_t, "
              "v = (1/m)Σ(z_t − μ)², σ = √(v + ε), ẑ = (z − μ)/σ, z̃ = γ ẑ + β",
              r"\mu = \tfrac1m\sum_t z_t,\ v = \tfrac1m\sum_t (z_t-\mu)^2,\ "
              r"\sigma = \sqrt{v+\epsilon},\ \hat z = (z-\mu)/\sigma,\ \tilde z = \gamma\hat z+\beta"),
        Claim("through μ", "∂μ/∂z_s = 1/m", r"\partial\mu/\partial z_s = 1/m",
              f"SymPy diff (m = {m})", sym["mu"]),
        Claim("through σ", "∂v/∂z_s = (2/m)(z_s − μ) (the Σ_t(z_t − μ)·∂μ/∂z_s term is 0), so "
              "∂σ/∂z_s = (z_s − μ)/(mσ)",
              r"\partial\sigma/\partial z_s = \frac{z_s-\mu}{m\sigma}",
              f"SymPy diff (m = {m}, symbolic ε)", sym["sigma"]),
        Claim("one entry", "∂ẑ_t/∂z_s = (δ_ts − 1/m)/σ − (z_t − μ)/σ² · (z_s − μ)/(mσ) "
              "= (1/σ)(δ_ts − 1/m − ẑ_t ẑ_s/m)",
              r"\frac{\partial\hat z_t}{\partial z_s} = \frac1\sigma\left(\delta_{ts}-\frac1m-"
              r"\frac{\hat z_t\hat z_s}{m}\right)", f"SymPy, all {m}×{m} entries", sym["entry"]),
        Claim("as a matrix", "J = ∂z̃/∂z = (γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m) = (γ/σ) P",
              r"J = \frac{\gamma}{\sigma}\left(I-\frac{\mathbb 1\mathbb 1^\top}{m}-"
              r"\frac{\hat z\hat z^\top}{m}\right)"),
        Claim("SymPy", f"jacobian(z̃, z) − (γ/σ)(I − 𝟙𝟙ᵀ/m − ẑẑᵀ/m) = 0 on m = {m} with "
              "symbolic z, γ, β, ε", r"\operatorname{jacobian} - J = 0",
              "each entry simplified to 0", sympy_equal),
        Claim("finite differences", f"central differences (h = {FD_STEP:g}) at seeded random z "
              f"(m = {M_NUMERIC}), γ, β, ε = {EPS:g}: relative error {fd_error:.1e}",
              rf"\text{{relative error }} {fd_error:.1e}", f"below {FD_TOLERANCE:g}",
              fd_error < FD_TOLERANCE),
        Claim("two facts", "ẑ ⊥ 𝟙 (Σ_t ẑ_t = 0) and ‖ẑ‖² = m v/(v + ε)",
              r"\mathbb 1^\top\hat z = 0,\ \|\hat z\|^2 = \frac{mv}{v+\epsilon}",
              f"SymPy simplify (m = {m})", sym["ortho"] and sym["norm"]),
        Claim("eigenvalues", "P𝟙 = 0, Pẑ = (1 − ‖ẑ‖²/m) ẑ = ε/(v + ε) ẑ, Pu = u for u ⊥ 𝟙, ẑ: "
              "eigenvalues 1 (m − 2 times), 0 (along 𝟙), ε/(v + ε) (along ẑ)",
              r"\operatorname{eig}(P) = \{1^{(m-2)},\ 0,\ \epsilon/(v+\epsilon)\}",
              f"SymPy: P𝟙 = 0 and Pẑ = ε/(v+ε)ẑ (m = {m}); numpy eigvalsh against the formula "
              f"at 5 random batches (m = {M_NUMERIC}): max error {eig_error:.1e}",
              sym["null"] and sym["along"] and eig_error < EIG_TOLERANCE),
        Claim("its norm", "‖J‖₂ = (γ/σ)·max(1, ε/(v + ε)) = γ/σ exactly for m ≥ 3 (for m = 2 "
              "only 0 and ε/(v + ε) are left: ‖J‖₂ = (γ/σ)ε/(v + ε))",
              r"\|J\|_2 = \gamma/\sigma\quad(m\ge 3)",
              f"numpy: |‖J‖₂ − γ/σ|·σ/γ ≤ {norm_error:.1e}", norm_error < EIG_TOLERANCE),
        Claim("the scale", "z = W a: W → cW (c > 0) scales z − μ by c and σ = √(c²v + ε) ≈ c√v "
              "for v ≫ ε, so ẑ, z̃ = γẑ + β and g′(z̃) are unchanged and J → J/c: the backward "
              f"signal through diag(g′(z̃)) J W is invariant to c; measured ‖diag(tanh′)JW‖₂ at "
              f"c = 10 over c = 1: {r10:.7f}",
              r"\hat z(cz) = \hat z(z)\ (\epsilon = 0),\quad \|\operatorname{diag}(g')J\,cW\|"
              r" = \|\operatorname{diag}(g')JW\|",
              f"SymPy: ẑ(cz) = ẑ(z) at ε = 0; numpy ({SCALE_UNITS} units, {M_NUMERIC} examples, "
              f"ε = {EPS:g}, v ≈ 1): |ratio − 1| < {SCALE_TOLERANCE:g}",
              sym["invariant"] and abs(r10 - 1) < SCALE_TOLERANCE),
        Claim("where ε matters", "ε breaks the invariance only when v is comparable to ε: at "
              f"c = 1e-3 (c²v ≈ 1e-6 against ε = {EPS:g}) the ratio is {r_small:.3g}, "
              "since σ ≈ √ε no longer shrinks with c", r"\sigma = \sqrt{c^2 v+\epsilon}",
              "numpy: |ratio − 1| > 0.01", abs(r_small - 1) > 0.01),
        Claim("so", "batch norm removes W's scale from the Jacobian product: per layer "
              "‖diag(g′(z̃)) J W‖₂ ≤ max|g′(z̃)| · max(γ/σ) · ‖W‖₂, and γ/σ·‖W‖ ≈ γ‖W‖/‖W a‖ "
              "has degree 0 in W; what remains is γ, the activation's g′ at z̃ = γẑ + β (itself "
              "scale-free) and the projections, so the initialisation's gain no longer decides "
              "whether the gradient vanishes or explodes (derive stability --batchnorm measures "
              f"it); here ‖J[l]‖₂ = {base:.4g} ≤ {bound:.4g}, and derive.stability.batchnorm's "
              f"power iteration agrees to {power_error:.1e}",
              r"\|\operatorname{diag}(g')JW\|_2 \le \max|g'|\,\max\frac{\gamma}{\sigma}\,\|W\|_2",
              "numpy: the bound holds (γ = 1, β = 0, tanh) and the power iteration agrees to 1e-6",
              base <= bound * (1 + 1e-12) and power_error < 1e-6),
    )
    return SymbolicResult("batchnorm_jacobian", "The Jacobian of a batch-norm layer (training mode)",
                          steps, {"sympy_equal": sympy_equal, "fd_error": fd_error,
                                  "eig_error": eig_error, "norm_error": norm_error,
                                  "scale_ratio": r10, "scale_ratio_small": r_small,
                                  "power_error": power_error, **sym})


def batchnorm_stability(activation="tanh", keep_prob: float | None = None, l2=None,
                        strict: bool = True) -> tuple[SymbolicResult, ...]:
    """The other symbolic results (with dropout and L2 if given), then the batch-norm one."""
    from derive.stability.regularised import regularised_stability

    results = regularised_stability(activation, keep_prob, l2, strict)
    bn = batchnorm_jacobian()
    if strict and not bn.passed:
        bad = next(s for s in bn.steps if s.passed is False)
        raise ProofFailure(f"{bn.title}: step {bad.title!r} did not check: {bad.check}")
    return (*results, bn)
