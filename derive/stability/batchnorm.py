"""Vanishing and exploding gradients through batch-normalised layers (training mode).

The network of :mod:`derive.stability.analyse` with batch norm before every activation:
z[l] = W[l] a[l-1], ẑ[l] = (z[l] − μ)/s with μ, s² = σ² + ε the batch mean and variance of
each unit (ε = 1e-5), z̃[l] = γ ẑ[l] + β, a[l] = g(z̃[l]). The examples are coupled: for unit i
the Jacobian of its m values is

    ∂z̃ᵢ/∂zᵢ = (γᵢ/sᵢ) (I − 11ᵀ/m − ẑᵢẑᵢᵀ/m),

a projection (it removes the batch mean and the direction ẑᵢ) scaled by γᵢ/sᵢ. So the layer's
Jacobian is one nm × nm matrix for the whole batch, J[l] = diag(g′(z̃)) · blockdiag((γᵢ/sᵢ)Pᵢ) ·
(W[l] ⊗ I_m), not one n × n matrix per example; backprop runs its transpose,
δ[l-1] = W[l]ᵀ ((γ/s) ⊙ P(δ[l] ⊙ g′(z̃))) unit by unit, here for the whole batch at once.
‖J[l]‖₂ is computed honestly, by power iteration on J[l]ᵀJ[l] with both maps (no matrix formed).

What batch norm does to the scale: s ∝ ‖W[l]‖ (W → cW gives z → cz, s → cs up to ε), so γ/s
cancels W's scale: the gradient through the layer does not grow or shrink with the
initialisation's gain (it still may with g′ and with the depth, through the projections).
δ is rescaled by one number per layer (the examples are coupled: no per-column rescaling).

>>> r = analyse_batchnorm(depth=10, width=8, activation="tanh", gain=5.0)
>>> s = analyse_batchnorm(depth=10, width=8, activation="tanh", gain=1.0)
>>> bool(abs(r.log_grad_norm - s.log_grad_norm).max() < 1e-3), r.verdict
(True, 'stable')
"""

from __future__ import annotations

import numpy as np

from derive.errors import DeriveError
from derive.layers.dense import affine
from derive.stability.analyse import (
    LAYOUT,
    StabilityResult,
    _check_sizes,
    _fit_growth,
    _log_rms,
    _verdict,
    draw,
    element_wise_activation,
)
from derive.stability.cost import require_run

EPS = 1e-5  # batch norm's ε, as derive's numbers use it
POWER_STEPS = 200  # power iterations for ‖J[l]‖₂ at most (each a forward and an adjoint map)
POWER_RTOL = 1e-10


def project(u: np.ndarray, zhat: np.ndarray) -> np.ndarray:
    """P u for every unit (row) at once: u − mean(u) − ẑ mean(u ⊙ ẑ), over the examples."""
    return u - u.mean(axis=1, keepdims=True) - zhat * (u * zhat).mean(axis=1, keepdims=True)


def backward_layer(delta: np.ndarray, W, gp, zhat, scale) -> np.ndarray:
    """δ[l-1] = J[l]ᵀ δ[l] for the whole batch (``scale`` = γ/s per unit, n×1)."""
    return W.T @ (scale * project(delta * gp, zhat))


def forward_layer(v: np.ndarray, W, gp, zhat, scale) -> np.ndarray:
    """J[l] v: a perturbation of a[l-1] carried to a[l] (P is symmetric)."""
    return gp * (scale * project(W @ v, zhat))


def spectral_norm(W, gp, zhat, scale, rng: np.random.Generator) -> float:
    """‖J[l]‖₂ of the batch Jacobian, by power iteration on JᵀJ (the largest singular value)."""
    v = rng.normal(size=(W.shape[1], gp.shape[1]))
    v /= np.linalg.norm(v)
    sigma = 0.0
    for _ in range(POWER_STEPS):
        w = backward_layer(forward_layer(v, W, gp, zhat, scale), W, gp, zhat, scale)
        top = float(np.linalg.norm(w))
        if top == 0.0:
            return 0.0
        new = float(np.sqrt(top))
        v = w / top
        if abs(new - sigma) <= POWER_RTOL * new:
            return new
        sigma = new
    return sigma


def analyse_batchnorm(depth: int = 50, width: int = 64, activation: str = "tanh",
                      init: str = "xavier", gain: float = 1.0, seed: int = 0, batch: int = 32,
                      gamma: float = 1.0, beta: float = 0.0) -> StabilityResult:
    """Forward a seeded batch through batch-normalised layers (γ, β the same for every unit),
    backprop a unit upstream gradient through the coupled batch Jacobians, measure every layer:
    ``jacobian_norm`` is ‖J[l]‖₂ of the nm × nm batch Jacobian, ``derivative_max`` max|g′(z̃)|
    over the batch, ``weight_norm`` ‖W[l]‖₂ (see the module docstring)."""
    act = element_wise_activation(activation)
    init = str(init).strip().lower()
    _check_sizes(depth, width, batch, gain, init)
    if batch < 2:
        raise DeriveError("batch norm needs at least 2 examples in the batch (--batch 2)")
    if not (np.isfinite(gamma) and np.isfinite(beta)) or gamma == 0:
        raise DeriveError("γ must be a nonzero finite number and β finite")
    require_run(int(depth), int(width), int(batch), init)
    weight, A, upstream = draw(depth, width, init, float(gain), seed, batch)
    L, n = depth, width
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)).spawn(5)[4])
    fwd, der = act.numpy_forward, act.numpy_derivative
    layers = []
    log_act = np.empty(L + 1)
    log_act[0] = _log_rms(np.log(np.linalg.norm(A, axis=0)))
    wn, jn, gmax, ratio, smax = (np.empty(L) for _ in range(5))
    with np.errstate(all="ignore"):
        for l in range(L):
            W = weight(l)
            Z = affine(LAYOUT, W, A)
            mu, var = Z.mean(axis=1, keepdims=True), Z.var(axis=1, keepdims=True)
            s = np.sqrt(var + EPS)
            zhat = (Z - mu) / s
            Zt = gamma * zhat + beta
            gp = np.asarray(der(Zt), dtype=float) * np.ones_like(Zt)
            scale = gamma / s
            if not (np.all(np.isfinite(Zt)) and np.all(np.isfinite(gp))):
                raise DeriveError(f"layer {l + 1}: the forward pass is not finite")
            wn[l] = float(np.linalg.norm(W, 2))
            jn[l] = spectral_norm(W, gp, zhat, scale, rng)
            gmax[l] = float(np.max(np.abs(gp)))
            smax[l] = float(np.max(np.abs(scale)))
            ratio[l] = wn[l] * smax[l]
            layers.append((W, gp, zhat, scale))
            A = np.asarray(fwd(Zt), dtype=float) * np.ones_like(Zt)
            log_act[l + 1] = _log_rms(np.log(np.linalg.norm(A, axis=0)))
        delta = upstream
        log_delta = np.zeros((L + 1, batch))
        log_delta[L] = np.log(np.linalg.norm(delta, axis=0))
        log_total = 0.0
        for l in range(L, 0, -1):
            delta = backward_layer(delta, *layers[l - 1])
            c = float(np.linalg.norm(delta))
            delta = delta / (c if c > 0 else 1.0)
            log_total += np.log(c) if c > 0 else -np.inf
            log_delta[l - 1] = np.log(np.linalg.norm(delta, axis=0)) + log_total
    log_rms = np.array([_log_rms(row) for row in log_delta])
    growth = _fit_growth(log_rms)
    verdict, limit = _verdict(log_rms, growth, L)
    notes = (
        f"batch norm (training mode) before every activation, γ = {gamma:g}, β = {beta:g}, "
        f"ε = {EPS:g}: ∂z̃ᵢ/∂zᵢ = (γ/sᵢ)(I − 11ᵀ/m − ẑᵢẑᵢᵀ/m) couples the {batch} examples, so "
        f"‖J[l]‖₂ is that of the {n * batch}×{n * batch} batch Jacobian (power iteration), not "
        "of one example's",
        "batch norm removes W's scale: sᵢ ∝ ‖W[l]‖ (W → cW gives s → cs, up to ε), so "
        f"‖W[l]‖₂·max(γ/s) does not change with the gain: measured {_range(ratio)} here "
        f"(‖W[l]‖₂ {_range(wn)}); the gradient's scale comes from g′, γ and the projections, "
        "not from W's",
    )
    return StabilityResult(
        depth=L, width=n, activation=act.name, init=init, gain=float(gain), seed=int(seed),
        batch=batch, log_grad_norm=log_rms, log_grad_norm_example=log_delta[:, 0].copy(),
        log_activation_norm=log_act, jacobian_norm=jn, derivative_max=gmax, weight_norm=wn,
        growth_factor=growth, derivative_bound=float(act.derivative_bound), verdict=verdict,
        limit_layer=limit, norm_method="power iteration (batch Jacobian)", notes=notes,
        batchnorm_scale=smax,
    )


def _range(values: np.ndarray) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:.3g}" if np.isclose(lo, hi, rtol=1e-3) else f"{lo:.3g} to {hi:.3g}"
