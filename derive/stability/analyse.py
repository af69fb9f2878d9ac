"""Vanishing and exploding gradients, measured: backprop through a deep network of constant width.

The network: a[0] = X (n×batch, standard normal), z[l] = W[l] a[l-1] (biases 0), a[l] = g(z[l])
for l = 1..L, every layer n units and one element-wise activation g (columns convention). From a
random upstream gradient δ[L] (each example's column of unit norm) backprop runs

    δ[l-1] = J[l]ᵀ δ[l] = W[l]ᵀ (δ[l] ⊙ g′(z[l])),     J[l] = diag(g′(z[l])) W[l]

(the engine's dA[l-1] = W[l]ᵀ dZ[l]; see :mod:`derive.stability.symbolic`). Reported per layer:

- ‖δ[l]‖: the root mean square over the batch of the per-example norms, ‖δ[l]‖_F / √batch, so
  ‖δ[L]‖ = 1; also example 0's own norm;
- ‖J[l]‖₂ (largest singular value of diag(g′(z)) W[l] for example 0), max|g′(z)| (example 0) and
  ‖W[l]‖₂; the bounds Π_{k>l} ‖J[k]‖₂ (for example 0) and Π_{k>l} sup|g′|·‖W[k]‖₂ (any example);
- the growth factor r: least squares of ln‖δ[l]‖ against l, r = exp(−slope), so ‖δ[l-1]‖ ≈ r‖δ[l]‖.

Norms are tracked as logarithms (each column is rescaled after every layer; backprop is linear in
δ), so depth 1,000 neither underflows nor overflows here; the verdict says when a plain float64
backprop would have. For activations with g(cz) = c·g(z), c > 0 (linear, relu, leaky relu; checked
by SymPy) the forward activations are rescaled too, which leaves g′(z) unchanged.

Verdicts (thresholds): with the fitted factor r over depth L, the predicted change r^L decides:
``stable`` when 1/10 ≤ r^L ≤ 10 (less than one decade over the whole depth), ``vanishing`` below,
``exploding`` above; ``vanished`` / ``exploded`` when some ‖δ[l]‖ falls below the smallest normal
float64 (2.2e-308) or above the largest (1.8e308), or is exactly 0.

>>> r = analyse(depth=20, width=8, activation="linear", init="identity", gain=1.5, batch=4)
>>> r.verdict, round(r.growth_factor, 12)
('exploding', 1.5)
>>> analyse(depth=30, width=16, activation="sigmoid", init="xavier").verdict
'vanishing'
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.core.relational import Relational

from derive.catalogue import rules
from derive.errors import DeriveError, SpecError
from derive.layers.dense import affine
from derive.network.layout import LAYOUTS
from derive.stability.cost import (
    DEPTH,
    SVD_WIDTH,
    keeps_weights,
    norm_chunk,
    require_run,
    require_sweep,
)
from derive.stability.regularised import check_regularisation, regularisation_notes

LAYOUT = LAYOUTS["columns"]  # one column per example: a[l] is width×batch

INITS = ("identity", "normal", "xavier", "he", "orthogonal")
STABLE_DECADES = 1.0  # stable when the fitted factor changes ‖δ‖ by less than 10^1 over the depth
MAX_DEPTH = DEPTH.value  # the limits on depth, work and memory: derive.stability.cost
MAX_GAIN = 1e6
LOG_TINY = math.log(np.finfo(float).tiny)  # smallest normal float64
LOG_HUGE = math.log(np.finfo(float).max)
LANCZOS_STEPS, LANCZOS_TOL, LANCZOS_CHUNK = 80, 1e-11, 8


@dataclass(frozen=True, eq=False)
class StabilityResult:
    """One run: the network, every per-layer measurement, the fitted factor and the verdict.

    Arrays over layers 0..L: ``log_grad_norm`` (ln ‖δ[l]‖, batch RMS), ``log_grad_norm_example``
    (example 0), ``log_activation_norm`` (ln of the batch RMS of ‖a[l]‖). Arrays over layers 1..L
    (index l − 1): ``jacobian_norm``, ``derivative_max``, ``weight_norm``.
    """

    depth: int
    width: int
    activation: str
    init: str
    gain: float
    seed: int
    batch: int
    log_grad_norm: np.ndarray
    log_grad_norm_example: np.ndarray
    log_activation_norm: np.ndarray
    jacobian_norm: np.ndarray
    derivative_max: np.ndarray
    weight_norm: np.ndarray
    derivative_bound: float
    growth_factor: float
    verdict: str
    limit_layer: int | None  # where float64 would under/overflow (vanished/exploded)
    norm_method: str
    keep_prob: float | None = None  # inverted dropout on every layer (masks held fixed)
    l2: float | None = None  # an L2 coefficient: it changes no Jacobian (stated in notes)
    notes: tuple[str, ...] = ()
    #: batch norm before every activation: max γ/s per layer (layers 1..L), else None
    batchnorm_scale: np.ndarray | None = None

    @property
    def layers(self) -> np.ndarray:
        return np.arange(self.depth + 1)

    @property
    def grad_norm(self) -> np.ndarray:
        """‖δ[l]‖ as float64 (0 where it underflows, inf where it overflows)."""
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(self.log_grad_norm)

    @property
    def log_bound(self) -> np.ndarray:
        """ln Π_{k=l+1}^{L} ‖J[k]‖₂: bounds ln ‖δ[l]‖ of example 0 (whose ‖δ[L]‖ is 1)."""
        return _suffix_log_products(self.jacobian_norm)

    @property
    def log_catalogue_bound(self) -> np.ndarray:
        """ln Π_{k=l+1}^{L} sup|g′| ‖W[k]‖₂: bounds every example's ln ‖δ[l]‖."""
        scale = 1.0 if self.batchnorm_scale is None else self.batchnorm_scale
        return _suffix_log_products(self.derivative_bound * self.weight_norm * scale)

    @property
    def log_ratio(self) -> float:
        """ln (‖δ[0]‖ / ‖δ[L]‖)."""
        return float(self.log_grad_norm[0] - self.log_grad_norm[-1])

    @property
    def rate(self) -> str:
        """The verdict's rate in words."""
        r, L = self.growth_factor, self.depth
        out = f"×{r:.6g} per layer (fit); ‖δ[0]‖/‖δ[L]‖ = {_pow10(self.log_ratio)} over {L} layers"
        if np.isfinite(r) and r > 0 and abs(math.log10(r)) > 1e-12:
            out += f"; a factor 10 every {1 / abs(math.log10(r)):.3g} layers"
        if self.limit_layer is not None:
            which = "underflows" if self.verdict == "vanished" else "overflows"
            out += f"; float64 {which} from layer {self.limit_layer}"
        return out

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


def _pow10(log_value: float) -> str:
    """e^x written as a power of ten, valid far outside the float64 range."""
    if not np.isfinite(log_value):
        return "0" if log_value < 0 else "inf"
    d = log_value / math.log(10)
    if abs(d) < 4:
        return f"{10 ** d:.4g}"
    e = math.floor(d)
    return f"{10 ** (d - e):.3g}e{e:+d}"


def _suffix_log_products(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        logs = np.log(values)
    out = np.zeros(len(values) + 1)
    out[:-1] = np.cumsum(logs[::-1])[::-1]
    return out


# -- inputs ----------------------------------------------------------------------------------------
def element_wise_activation(name: str) -> rules.Activation:
    """The catalogue's activation ``name``; softmax (not element-wise) is refused."""
    if name is None or not str(name).strip():
        raise SpecError("give an activation for the hidden layers, e.g. --act tanh")
    act = rules.activations().lookup(str(name).strip())
    if not act.elementwise:
        choices = ", ".join(n for n in rules.activations() if rules.activations()[n].elementwise)
        raise SpecError(
            f"{act.name} is not element-wise, so J[l] is not diag(g′(z)) W and it cannot be the "
            f"activation of every hidden layer here; choose one of: {choices}"
        )
    return act


@functools.cache
def positively_homogeneous(name: str) -> bool:
    """g(cz) = c·g(z) and g′(cz) = g′(z) for every c > 0 (SymPy, conditions solved for z).

    >>> positively_homogeneous("relu"), positively_homogeneous("tanh")
    (True, False)
    """
    act = rules.activations()[name]
    c, z = sp.Symbol("c", positive=True), rules.z

    def scaled(e):
        e = e.subs(z, c * z)
        return e.replace(lambda x: isinstance(x, Relational) and x.has(z),
                         lambda x: sp.solve_univariate_inequality(x, z))

    return (sp.simplify(scaled(act.forward) - c * act.forward) == 0
            and sp.simplify(scaled(act.derivative_at_z) - act.derivative_at_z) == 0)


def _check_sizes(depth: int, width: int, batch: int, gain: float, init: str) -> None:
    """Bad values are a SpecError (the limits on depth, work and memory are checked after)."""
    for what, v in (("depth", depth), ("width", width), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise SpecError(f"{what} must be a whole number of at least 1, not {v!r}")
    if not (isinstance(gain, int | float) and math.isfinite(gain) and abs(gain) <= MAX_GAIN):
        raise SpecError(f"gain must be a finite number of size at most {MAX_GAIN:g}, not {gain!r}")
    if init not in INITS:
        raise SpecError(f"unknown init {init!r}; known: {', '.join(INITS)}")


def init_weight(init: str, n: int, gain: float, rng: np.random.Generator) -> np.ndarray:
    """One n×n weight matrix.

    identity: gain·I; normal: gain·N(0, 1) (``--gain 0.01`` is the course's randn·0.01);
    xavier: gain·N(0, 2/(n_in + n_out)) = N(0, 1/n); he: gain·N(0, 2/n_in);
    orthogonal: gain·Q, Q from the QR factorisation of an N(0, 1) matrix (signs fixed by diag R).

    >>> W = init_weight("orthogonal", 4, 2.0, np.random.default_rng(0))
    >>> bool(np.allclose(W.T @ W, 4 * np.eye(4)))
    True
    """
    if init == "identity":
        return gain * np.eye(n)
    G = rng.standard_normal((n, n))
    if init == "normal":
        return gain * G
    if init == "xavier":
        return gain * math.sqrt(2.0 / (n + n)) * G
    if init == "he":
        return gain * math.sqrt(2.0 / n) * G
    Q, R = np.linalg.qr(G)
    return gain * Q * np.sign(np.diag(R))


# -- spectral norms --------------------------------------------------------------------------------
def spectral_norms(M: np.ndarray) -> tuple[np.ndarray, str]:
    """Largest singular value of each matrix of the stack M (k, n, n), and the method used.

    Full SVD up to width 96; above, Lanczos on MᵀM with full reorthogonalisation, run until the
    top Ritz value changes by less than 1e-11 relative (a Ritz value never exceeds the true one).

    >>> M = np.random.default_rng(1).normal(size=(3, 120, 120))
    >>> est, how = spectral_norms(M)
    >>> how, bool(np.allclose(est, np.linalg.norm(M, 2, axis=(1, 2)), rtol=1e-10))
    ('lanczos', True)
    """
    n = M.shape[-1]
    if n <= SVD_WIDTH or M.shape[0] == 0:
        return np.linalg.svd(M, compute_uv=False)[:, 0], "svd"
    out = np.empty(M.shape[0])
    for i in range(0, M.shape[0], LANCZOS_CHUNK):
        out[i:i + LANCZOS_CHUNK] = _lanczos_top(M[i:i + LANCZOS_CHUNK])
    return out, "lanczos"


def _lanczos_top(M: np.ndarray) -> np.ndarray:
    B, n, _ = M.shape
    MT = np.swapaxes(M, 1, 2)
    kmax = min(LANCZOS_STEPS, n)
    V = np.zeros((B, n, kmax + 1))
    v = np.random.default_rng(12345).standard_normal((B, n))
    V[:, :, 0] = v / np.linalg.norm(v, axis=1, keepdims=True)
    alpha, beta = np.zeros((B, kmax)), np.zeros((B, kmax))
    prev: np.ndarray = np.zeros(B)
    top: np.ndarray = prev
    for j in range(kmax):
        q = V[:, :, j:j + 1]
        w = MT @ (M @ q)
        alpha[:, j] = (np.swapaxes(q, 1, 2) @ w)[:, 0, 0]
        Q = V[:, :, :j + 1]
        size = np.linalg.norm(w[:, :, 0], axis=1)
        w = w - Q @ (np.swapaxes(Q, 1, 2) @ w)  # full reorthogonalisation
        b = np.linalg.norm(w[:, :, 0], axis=1)
        # b ≈ 0: the Krylov space is invariant and its top Ritz value exact (W = s·I, orthogonal
        # W); continuing from the rounding noise would break orthogonality, so stop with zeros
        done = b <= 1e-10 * size
        b = np.where(done, 0.0, b)
        beta[:, j] = b
        V[:, :, j + 1] = np.where(done[:, None], 0.0, w[:, :, 0] / np.where(done, 1.0, b)[:, None])
        if (j + 1) % 5 == 0 or j == kmax - 1:
            k = j + 1
            T = np.zeros((B, k, k))
            idx = np.arange(k)
            T[:, idx, idx] = alpha[:, :k]
            T[:, idx[:-1], idx[1:]] = beta[:, :k - 1]
            T[:, idx[1:], idx[:-1]] = beta[:, :k - 1]
            top = np.linalg.eigvalsh(T)[:, -1]
            if j >= 5 and np.all(np.abs(top - prev) <= LANCZOS_TOL * np.abs(top)):
                break
            prev = top
    return np.sqrt(np.maximum(top, 0.0))


def draw(depth: int, width: int, init: str, gain: float, seed: int, batch: int):
    """The seeded numbers of one run: ``weight(l)`` → W[l+1] (0-based l), the inputs X
    (width×batch, N(0, 1)) and δ[L] (each column a random unit vector).

    Each layer has its own stream (``SeedSequence(seed)``), so a depth-30 run shares a depth-50
    run's first 30 weight matrices, and weights can be drawn again for the backward pass instead
    of being stored (depth × width² floats).

    >>> weight, X, U = draw(3, 4, "identity", 2.0, 0, 5)
    >>> weight(2).tolist()[0], X.shape, bool(np.allclose(np.linalg.norm(U, axis=0), 1))
    ([2.0, 0.0, 0.0, 0.0], (4, 5), True)
    """
    s_weights, s_input, s_upstream = np.random.SeedSequence(int(seed)).spawn(3)
    layer_seeds = s_weights.spawn(depth)

    def weight(l: int) -> np.ndarray:
        return init_weight(init, width, float(gain), np.random.default_rng(layer_seeds[l]))

    X = np.random.default_rng(s_input).standard_normal((width, batch))
    U = np.random.default_rng(s_upstream).standard_normal((width, batch))
    return weight, X, U / np.linalg.norm(U, axis=0)


# -- the analysis ----------------------------------------------------------------------------------
def analyse(depth: int = 50, width: int = 64, activation: str = "tanh", init: str = "xavier",
            gain: float = 1.0, seed: int = 0, batch: int = 32, keep_prob: float | None = None,
            l2: float | None = None) -> StabilityResult:
    """Forward a seeded batch, backprop a unit upstream gradient, measure every layer (see the
    module docstring for what is measured and the verdict thresholds).

    ``keep_prob`` p: inverted dropout on every layer, a[l] = g(z[l]) ⊙ D[l] / p with seeded 0/1
    masks (a fourth stream of the seed), held fixed, so J[l] = diag(g′(z[l])) diag(D[l]) / p · W[l]
    and δ[l-1] = W[l]ᵀ (δ[l] ⊙ g′(z[l]) ⊙ D[l] / p). ``l2`` changes no Jacobian (the penalty
    depends on W alone, not on a[l-1]): the numbers are those without it, and a note says so.

    >>> r = analyse(depth=10, width=8, activation="linear", init="identity")
    >>> r.verdict, float(abs(r.log_ratio)) < 1e-12
    ('stable', True)
    """
    act = element_wise_activation(activation)
    init = str(init).strip().lower()
    _check_sizes(depth, width, batch, gain, init)
    p = check_regularisation(keep_prob, l2)
    require_run(int(depth), int(width), int(batch), init)  # before anything is drawn
    gain = float(gain)
    weight, A, upstream = draw(depth, width, init, gain, seed, batch)
    n, L = width, depth
    masks = None if p is None else np.random.default_rng(
        np.random.SeedSequence(int(seed)).spawn(4)[3])
    fwd, der = act.numpy_forward, act.numpy_derivative
    homogeneous = positively_homogeneous(act.name)

    log_scale = np.zeros(batch)  # A holds a[l] / exp(log_scale), column by column
    log_act = np.empty(L + 1)
    log_act[0] = _log_rms(np.log(np.linalg.norm(A, axis=0)))
    D = np.empty((L, n, batch))
    chunk = norm_chunk(n, L)  # layers whose norms are taken together (fewer when wide)
    stack = np.empty((2 * chunk, n, n))  # W[l] and example 0's J[l], a chunk at a time
    wn, jn, method = np.empty(L), np.empty(L), "svd"
    kept: list[np.ndarray] | None = [] if keeps_weights(L, n) else None  # else drawn again
    with np.errstate(all="ignore"):
        for l in range(L):
            W = weight(l)
            if kept is not None:
                kept.append(W)
            Z = affine(LAYOUT, W, A)  # the dense layer's map, without biases
            if not np.all(np.isfinite(Z)):
                raise DeriveError(
                    f"layer {l + 1}: the forward pass overflowed float64 (the activations grow "
                    f"without bound with {act.name} and {init} × {gain:g}); use a smaller --gain"
                )
            D[l] = np.asarray(der(Z), dtype=float) * np.ones_like(Z)
            if not np.all(np.isfinite(D[l])):
                raise DeriveError(f"layer {l + 1}: {act.name}′(z) is not finite")
            kept_units = None
            if masks is not None and p is not None:  # D[l] / p folded into g′: diag(g′) diag(D)/p
                kept_units = (masks.random(Z.shape) < p) / p
                D[l] *= kept_units
            k = l % chunk
            stack[2 * k] = W
            np.multiply(D[l, :, :1], W, out=stack[2 * k + 1])
            if k == chunk - 1 or l == L - 1:
                norms2, method = spectral_norms(stack[:2 * k + 2])
                wn[l - k:l + 1], jn[l - k:l + 1] = norms2[0::2], norms2[1::2]
            A = np.asarray(fwd(Z), dtype=float) * np.ones_like(Z)
            if kept_units is not None:
                A = A * kept_units
            norms = np.linalg.norm(A, axis=0)
            log_act[l + 1] = _log_rms(np.log(norms) + log_scale)
            if homogeneous:
                A = A / np.where(norms > 0, norms, 1.0)
                log_scale = log_scale + np.log(np.where(norms > 0, norms, 1.0))

        delta = upstream
        log_delta = np.zeros((L + 1, batch))
        for l in range(L, 0, -1):
            W = kept[l - 1] if kept is not None else weight(l - 1)
            delta = W.T @ (delta * D[l - 1])
            c = np.linalg.norm(delta, axis=0)
            log_delta[l - 1] = log_delta[l] + np.log(c)
            delta = delta / np.where(c > 0, c, 1.0)

    log_rms = np.array([_log_rms(row) for row in log_delta])
    growth = _fit_growth(log_rms)
    verdict, limit = _verdict(log_rms, growth, L)
    return StabilityResult(
        depth=L, width=n, activation=act.name, init=init, gain=gain, seed=int(seed), batch=batch,
        log_grad_norm=log_rms, log_grad_norm_example=log_delta[:, 0].copy(),
        log_activation_norm=log_act, jacobian_norm=jn, derivative_max=np.max(np.abs(D[:, :, 0]),
                                                                            axis=1),
        weight_norm=wn, growth_factor=growth,
        # with dropout a kept unit's derivative is g′/p: the catalogue bound must carry the 1/p
        derivative_bound=float(act.derivative_bound) / (1.0 if p is None else p),
        verdict=verdict, limit_layer=limit, norm_method=method, keep_prob=p,
        l2=None if l2 is None else float(l2), notes=regularisation_notes(p, l2),
    )


def _log_rms(logs: np.ndarray) -> float:
    """ln sqrt(mean(exp(2·logs))), stable for any range (−inf entries are zeros)."""
    top = np.max(logs)
    if not np.isfinite(top):
        return float(top)
    return float(top + 0.5 * math.log(np.mean(np.exp(2 * (logs - top)))))


def _fit_growth(log_norms: np.ndarray) -> float:
    x = np.arange(len(log_norms), dtype=float)
    ok = np.isfinite(log_norms)
    if ok.sum() < 2:
        return 0.0
    slope = np.polyfit(x[ok], log_norms[ok], 1)[0]
    return float(math.exp(-slope))


def _verdict(log_norms: np.ndarray, growth: float, depth: int) -> tuple[str, int | None]:
    below = np.nonzero(log_norms < LOG_TINY)[0]
    if below.size:
        return "vanished", int(below.max())
    above = np.nonzero(log_norms > LOG_HUGE)[0]
    if above.size:
        return "exploded", int(above.max())
    decades = depth * math.log10(growth) if growth > 0 else -math.inf
    if decades < -STABLE_DECADES:
        return "vanishing", None
    if decades > STABLE_DECADES:
        return "exploding", None
    return "stable", None


# -- sweeps ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SweepResult:
    """Runs over depths × activations × initialisations (each init with its gain)."""

    runs: tuple[StabilityResult, ...]
    depths: tuple[int, ...]


def parse_init(spec: str) -> tuple[str, float | None]:
    """``"xavier"`` or ``"identity:1.5"`` (an init with its own gain).

    >>> parse_init("identity:1.5"), parse_init(" He ")
    (('identity', 1.5), ('he', None))
    """
    name, sep, g = str(spec).strip().partition(":")
    name = name.strip().lower()
    if name not in INITS:
        raise SpecError(f"unknown init {name!r} in {spec!r}; known: {', '.join(INITS)}")
    if not sep:
        return name, None
    try:
        value = float(g.strip().replace(",", "."))
    except ValueError:
        raise SpecError(f"the gain in {spec!r} is {g!r}: write a number, e.g. identity:1.5") from None
    return name, value


def sweep(depths: Sequence[int] = (10, 20, 50), inits: Sequence[str] = INITS,
          activations: Sequence[str] = ("tanh",), width: int = 64, gain: float = 1.0,
          seed: int = 0, batch: int = 32) -> SweepResult:
    """:func:`analyse` for every depth × activation × init (``"name:gain"`` sets that init's gain).

    >>> s = sweep(depths=(5,), inits=("identity", "identity:2"), activations=("linear",), width=4)
    >>> [r.verdict for r in s.runs]
    ['stable', 'exploding']
    """
    if not depths or not inits or not activations:
        raise SpecError("a sweep needs at least one depth, one init and one activation")
    parsed = [parse_init(i) for i in inits]
    for a in activations:
        element_wise_activation(a)
    for d in depths:
        _check_sizes(d, width, batch, gain, parsed[0][0])  # bad values first, as a run says them
    require_sweep([(int(d), name) for d in depths for _ in activations for name, _g in parsed],
                  width, batch)
    runs = tuple(
        analyse(depth=int(d), width=width, activation=a, init=name,
                gain=gain if g is None else g, seed=seed, batch=batch)
        for d in depths for a in activations for name, g in parsed
    )
    return SweepResult(runs, tuple(int(d) for d in depths))
