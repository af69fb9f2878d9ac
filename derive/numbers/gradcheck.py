"""Gradient checking, end to end: derived gradients against central differences of the whole cost.

For every parameter array P (each W[l] and b[l]) the numeric gradient is
ĝₖ = (J(P + ε eₖ) − J(P − ε eₖ)) / 2ε, with ε = eps · max(1, max|P|) per array. Each entry is
also moved by ±ε/2, and the copies of W[l] and b[l] ride together on a leading batch axis through
:func:`derive.network.model.forward` (in chunks of bounded memory). The analytic gradient g is
the engine's own formulas evaluated by :func:`derive.engine.values.gradient_values` (or the user's
function, :func:`gradcheck_impl`).

The criterion (see docs/numbers.md, "Gradient checking"): an array passes when

    ‖g − ĝ‖ ≤ rtol · (‖g‖ + ‖ĝ‖) + floor,   floor = round-off + noise + truncation

where the floor estimates the error of ĝ itself, from what the differences measured:

- round-off: 8 · u · (√n · max|J| + √n₀ · s·Σ(|A[L]| + |Y|)) / ε (u = 2⁻⁵²): J is known to about
  u·|J|; and an entry whose steps did not move J at all (n₀ of them) is below J's resolution,
  which near saturation (log a with a ≈ 1) is u times the size of what J is computed from;
- noise: 4 · √n · σ / ε, σ the noise of J along the layer's steps, measured by the fourth
  difference J(−ε) − 4J(−ε/2) + 6J(0) − 4J(ε/2) + J(ε) of every entry (≈ √70 σ for noise, ε⁴J⁗/16
  for a smooth J): a saturated layer's cancellation (tanh(z) ≈ ±1, a − y with a ≈ y) shows here;
- truncation: 3 · ‖ĝ(ε) − ĝ(ε/2)‖ (≈ 9/4 of the leading error ε²J‴/6 of ĝ(ε)), so large steps
  (``eps=1e-1``) do not fail correct gradients.

An array whose floor exceeds 5 % of max(‖g‖, ‖ĝ‖) is "unresolved" (neither right nor wrong: a
mistake of that size could not be told at this ε); one whose error exceeds the allowance fails,
as does one with a non-finite entry (named) or norm.

>>> from derive.network.spec import Network
>>> r = gradcheck(Network(layers=[3, 4, 2], activations=["tanh", "sigmoid"], loss="bce"), seed=1)
>>> r.passed, [a.name for a in r.arrays]
(True, ['W[1]', 'b[1]', 'W[2]', 'b[2]'])
>>> r.max_relative_error < 1e-6
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from derive import layers
from derive.engine.backward import Derivation, derive
from derive.engine.values import gradient_values
from derive.errors import DeriveError
from derive.limits import Limit, require
from derive.network import model
from derive.network.scales import LAMBDA_STANDIN
from derive.network.spec import Network
from derive.numbers.differences import (
    EPS,
    Differences,
    differences,
    entry,
    entry_index,
    given_sizes,
    norm,
    numeric_gradients,
    param_keys,
    relative_error,
    work_estimate,
)
from derive.numbers.signatures import call_course, call_pair
from derive.numbers.usercode import UserCodeError, UserInterrupt, user_code, validate_grads

__all__ = ["EPS", "GradCheck", "UserCodeError", "UserInterrupt", "gradcheck", "gradcheck_impl",
           "numeric_gradients", "param_keys", "user_code"]

RTOL = 1e-6  # relative tolerance on ‖g − ĝ‖ / (‖g‖ + ‖ĝ‖) above the floor
FLOOR_FACTOR = 8.0  # safety factor on the round-off estimates u·|J|/ε and u·s·Σ(|A| + |Y|)/ε
NOISE_FACTOR = 4.0  # on the measured noise σ/ε of J (ĝ's own is σ/(√2 ε) per entry)
TRUNCATION_FACTOR = 3.0  # on ‖ĝ(ε) − ĝ(ε/2)‖ (the leading truncation term is 4/3 of it)
RESOLUTION = 0.05  # a floor above this part of the gradients' norm leaves an array unresolved
U = float(np.finfo(float).eps)
CRITERION = (
    "pass if ‖g − ĝ‖ ≤ rtol·(‖g‖ + ‖ĝ‖) + floor, floor = the error of ĝ: round-off "
    "8·u·(√n·max|J| + √n₀·s·Σ(|A[L]| + |Y|))/ε (u = 2⁻⁵², n₀ entries that did not move J) + "
    "noise 4·√n·σ/ε (σ of J, measured along the steps) + truncation 3·‖ĝ(ε) − ĝ(ε/2)‖; "
    "unresolved when floor > 5 % of max(‖g‖, ‖ĝ‖); ε = eps·max(1, max|P|) per array"
)

# -- the work one check may do (docs/limits.md) ------------------------------------------------
PARAMETERS = Limit("gradcheck.parameters", 2_000_000, "parameters", "--layers",
                   "checking every entry of every W[l] and b[l]")
EXAMPLES = Limit("gradcheck.examples", 10_000, "examples", "--m", "a gradient check")
#: the work estimate of the central differences (:func:`derive.numbers.differences.work_estimate`,
#: in multiply-adds of ≈ 0.2 ns): 5·10¹⁰ is about 10 s, at most 20 s measured on a loaded laptop
WORK = Limit("gradcheck.work", 100_000_000_000, "operations", "--m or --layers",
             "checking every entry of W[l] and b[l] by central differences")
MEMORY = Limit("gradcheck.memory", 1_500_000_000, "bytes", "--m or --layers",
               "holding the arrays of the gradient check")


@dataclass(frozen=True)
class ArrayCheck:
    """The check of one parameter array: both gradients' norms, the error and the verdict."""

    name: str  # "W[1]"
    key: tuple[str, int]
    shape: tuple[int, ...]
    eps: float
    analytic_norm: float
    numeric_norm: float
    abs_error: float
    relative_error: float
    floor: float
    status: str  # "pass", "fail" or "unresolved"
    worst_entry: tuple[int, ...] | None = None  # the entry with the largest |g − ĝ|
    reason: str | None = None  # why it failed other than by its error, or why it is unresolved

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    def to_dict(self) -> dict:
        return {
            "name": self.name, "shape": list(self.shape), "eps": self.eps,
            "relative_error": _finite_or_none(self.relative_error),
            "abs_error": _finite_or_none(self.abs_error),
            "analytic_norm": _finite_or_none(self.analytic_norm),
            "numeric_norm": self.numeric_norm, "floor": self.floor, "status": self.status,
            "worst_entry": list(self.worst_entry) if self.worst_entry is not None else None,
            "reason": self.reason,
        }


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None  # JSON has no NaN: a failed array says why instead


@dataclass(frozen=True)
class KinkWarning:
    """A pre-activation close enough to an activation's kink that a difference can straddle it."""

    layer: int
    entry: tuple[int, int]
    z: float
    kink: float
    activation: str

    def message(self) -> str:
        return (f"Z[{self.layer}]{list(self.entry)} = {self.z:.3g} lies within the step of "
                f"{self.activation}'s kink at {self.kink:g}: the difference there straddles it")


class ArrayVerdicts:
    """What a check over ``arrays`` (one :class:`ArrayCheck` each) concludes: the dense check's and
    the CNN's reports share it."""

    arrays: tuple[ArrayCheck, ...]

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.arrays)

    @property
    def max_relative_error(self) -> float:
        errors = [a.relative_error for a in self.arrays if a.status != "unresolved"]
        return max(errors, default=0.0, key=lambda e: e if math.isfinite(e) else math.inf)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arrays if a.status == "fail")


@dataclass(frozen=True)
class GradCheck(ArrayVerdicts):
    """A whole gradient check: one :class:`ArrayCheck` per W[l] and b[l], and the overall error."""

    network: Network
    source: str  # "derived formulas" or "module:function"
    arrays: tuple[ArrayCheck, ...]
    overall_relative_error: float
    rtol: float
    eps: float
    seed: int | None
    m: int
    kinks: tuple[KinkWarning, ...] = ()
    criterion: str = CRITERION
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "network": self.network.to_dict(), "source": self.source, "passed": self.passed,
            "max_relative_error": _finite_or_none(self.max_relative_error),
            "overall_relative_error": _finite_or_none(self.overall_relative_error),
            "criterion": self.criterion, "rtol": self.rtol, "eps": self.eps, "seed": self.seed,
            "m": self.m, "arrays": [a.to_dict() for a in self.arrays],
            "failed": list(self.failed), "kinks": [k.message() for k in self.kinks],
            "notes": list(self.notes),
        }

    def _repr_html_(self) -> str:
        from derive.web.html import to_html  # the notebook's HTML; every string escaped
        return to_html(self)


def require_within_limits(net: Network, m: int) -> None:
    """Refuse, before allocating, a check over :data:`PARAMETERS`, :data:`EXAMPLES`,
    :data:`MEMORY` or :data:`WORK` (a :class:`derive.errors.ResourceLimit` naming the flag)."""
    n = given_sizes(_concrete(net, None, None))
    # a batch-normalised layer has W and γ, β (2 n[l]) where a dense one has W and b (n[l])
    extra = sum(n[l] for l in range(1, net.L + 1) if net.kinds[l - 1] != "dense")
    require(PARAMETERS, sum(a * (b + 1) for a, b in zip(n[1:], n[:-1], strict=False)) + extra)
    require(EXAMPLES, m)
    ops, memory = work_estimate(net, m)
    require(MEMORY, memory)
    require(WORK, ops)


# -- the comparison ----------------------------------------------------------------------------
def analytic_gradients(derivation: Derivation, instance: model.Instance) -> dict:
    """dW[l], db[l] from the engine's own formulas (:func:`derive.engine.values.gradient_values`)."""
    with np.errstate(all="ignore"):  # a non-finite entry fails its array, by name
        values = gradient_values(derivation, instance)
    return {(base, l): values["d" + base, l] for base, l in param_keys(derivation.network)}


def compare(net: Network, analytic: dict, d: Differences, rtol: float = RTOL
            ) -> tuple[tuple[ArrayCheck, ...], float]:
    """Apply the criterion array by array; also the overall relative error over all arrays."""
    checks = []
    for key in param_keys(net):
        g, h = np.asarray(analytic[key], dtype=float), np.asarray(d.gradients[key], dtype=float)
        step, base, layer = d.steps[key], key[0], key[1]
        name = f"{base}[{layer}]"
        n = h.size
        roundoff = (FLOOR_FACTOR * U * (math.sqrt(n) * max(d.jmax, 1e-300)
                                        + math.sqrt(d.still[key]) * d.jscale) / step
                    + NOISE_FACTOR * math.sqrt(n) * d.noise[key] / step)
        truncation = TRUNCATION_FACTOR * norm(h - d.halves[key])
        floor = roundoff + truncation
        hn = norm(h)
        if g.shape != h.shape:
            checks.append(ArrayCheck(name, key, tuple(h.shape), step, math.nan, hn, math.nan,
                                     math.nan, floor, "fail", None,
                                     f"shape {_fmt(g.shape)}, not {_fmt(h.shape)}"))
            continue
        diff = g - h
        err, gn = norm(diff), norm(g)
        rel = relative_error(g, h)
        reason = None
        worst = entry_index(np.abs(diff)) if diff.size else None
        if not np.all(np.isfinite(g)):
            worst = entry_index(~np.isfinite(g))
            reason = f"entry {entry(worst)} is {g[worst]}"
        elif not all(math.isfinite(v) for v in (err, gn, rel)):
            reason = f"‖g‖ = {gn:.3g} overflows" if not math.isfinite(gn) else "the error overflows"
        if reason is not None or err > rtol * (gn + hn) + floor:
            status = "fail"
        elif floor > RESOLUTION * max(gn, hn):
            status = "unresolved"
            if truncation > roundoff:  # not float64's resolution: the step itself
                reason = "ĝ at ε and ε/2 disagree (a kink or strong curvature within the step)"
        else:
            status = "pass"
        checks.append(ArrayCheck(name, key, tuple(g.shape), step, gn, hn, err, rel, float(floor),
                                 status, worst, reason))
    G = np.concatenate([np.ravel(analytic[k]) for k in param_keys(net)
                        if np.shape(analytic[k]) == np.shape(d.gradients[k])] or [np.zeros(0)])
    H = np.concatenate([np.ravel(d.gradients[k]) for k in param_keys(net)
                        if np.shape(analytic[k]) == np.shape(d.gradients[k])] or [np.zeros(0)])
    return tuple(checks), relative_error(G, H)


def kink_warnings(net: Network, params: dict, X: np.ndarray, eps: float = EPS) -> tuple[KinkWarning, ...]:
    """Pre-activations within reach of a kink: |Z − k| ≤ 10 ε · max(1, Σⱼ |A[l−1]ⱼ|) per example
    (a batch-normalised layer's activation reads Z̃[l]: its reach is scaled by γ[l]/σ[l] too, and
    β[l]'s own step moves Z̃[l] by ε)."""
    cache = model.forward(net, params, X)
    out = []
    for l in range(1, net.L + 1):
        act = net.activation(l)
        if act is None or not act.kinks:
            continue
        normalised = ("Ztilde", l) in cache
        Z, A_prev = cache["Ztilde" if normalised else "Z", l], cache["A", l - 1]
        axis = net.layout.unit_axis
        reach = 10 * eps * np.maximum(1.0, np.sum(np.abs(A_prev), axis=axis, keepdims=True))
        scale = max(1.0, float(np.max(np.abs(params["W", l]))))
        if normalised:
            spread = np.abs(params["gamma", l]) / np.sqrt(cache["var", l] + 1e-5)
            reach = np.maximum(reach * spread, 10 * eps * max(1.0, float(np.max(np.abs(Z)))))
        for k in act.kinks:
            close = np.argwhere(np.abs(Z - float(k)) <= reach * scale)
            for i, j in close[:20]:
                out.append(KinkWarning(l, (int(i), int(j)), float(Z[i, j]), float(k), act.name))
    return tuple(out)


# -- the checks --------------------------------------------------------------------------------
def gradcheck(net: Network, seed: int | None = 0, m: int = 4, eps: float = EPS, rtol: float = RTOL,
              instance: model.Instance | None = None, derivation: Derivation | None = None,
              sizes=None, *, X=None, Y=None, params: dict | None = None) -> GradCheck:
    """Check the derived formulas of ``net`` against central differences (see module docstring).

    ``instance`` gives the parameters and data (else a seeded random one, away from kinks);
    ``derivation`` the formulas to check (else ``derive(net, prove=False)``).
    """
    instance = instance if instance is not None else arrays_instance(net, X, Y, params)
    net, instance = _prepare(net, seed, m, eps, rtol, instance, sizes)
    d = derivation if derivation is not None else derive(net, prove=False)
    if d.network != net:
        d = replace(d, network=net)
    analytic = analytic_gradients(d, instance)
    return _result(net, "derived formulas", analytic, instance, seed, eps, rtol, ())


def gradcheck_impl(net: Network, backward: Callable, seed: int | None = 0, m: int = 4,
                   eps: float = EPS, rtol: float = RTOL, instance: model.Instance | None = None,
                   sizes=None, source: str = "user function", *, X=None, Y=None,
                   params: dict | None = None, forward: Callable | None = None) -> GradCheck:
    """Check a user's numpy backward function against central differences.

    ``backward(params, X, Y) -> grads`` is called once, in this process, with ``params = {"W1":
    ..., "b1": ..., "W2": ...}`` (copies, the network's convention) and copies of X and Y;
    ``grads = {"dW1": ..., "db1": ..., ...}`` are gradients of the cost J as defined by the spec
    (mean over the m examples unless scale = "sum": mean and dZ give the same dW, db), each a
    real array (or nested lists) of its parameter's shape; other keys are ignored (and noted).
    An exception, ``sys.exit`` or Ctrl-C in it is a :class:`UserCodeError` naming it. The
    courses' own signatures are called as they are (:mod:`derive.numbers.signatures`), and with
    ``forward`` a forward/backward pair whose cache goes from one to the other.
    """
    if net.l2_symbolic:
        raise DeriveError("the cost has a symbolic L2 coefficient λ: give its value (--l2 0.1, "
                          "l2 = 0.1), the one your function uses")
    instance = instance if instance is not None else arrays_instance(net, X, Y, params)
    net, instance = _prepare(net, seed, m, eps, rtol, instance, sizes)
    function = f"your backward function {source}"
    with user_code(function, f"running {function}"):
        out, converted = (call_pair(forward, backward, net, instance) if forward is not None
                          else call_course(backward, net, instance))
    with user_code(f"the value {source} returned", f"reading the value {source} returned"):
        analytic, extra = validate_grads(net, instance, out, source)
    notes = converted + ((f"keys not checked: {', '.join(extra)}",) if extra else ())
    r = _result(net, source, analytic, instance, seed, eps, rtol, notes)
    if not r.passed and (net.keep_prob is not None or net.l2 is not None or not net.all_dense):
        from derive.numbers.gradcause import named_mistake  # here: only a failed check needs it
        found = named_mistake(derive(net, prove=False), instance, analytic)
        if found is not None:
            r = replace(r, notes=(*r.notes, found[1]))
    return r


def arrays_instance(net: Network, X, Y, params: dict | None) -> model.Instance | None:
    """The instance of arrays given to the API (``X=``, ``Y=``, ``params={"W1": ...}``), or
    None when none is given; 1-D biases, boolean and integer labels read as the layout wants
    (:func:`derive.numbers.worked.given_values`)."""
    if X is None and Y is None and not params:
        return None
    if X is None or Y is None or not params:
        raise DeriveError("give X, Y and params together (or none of them, for random values)")
    from derive.numbers.worked import given_values  # here: worked loads the derivation engine

    # masks not given are drawn (seed 0, the course's draw); a --forward pair's replace them
    net, given, _, _ = given_values(net, {"X": X, "Y": Y, **params},
                                    0 if net.keep_prob is not None else None)
    Xv, Yv = given[("X", None)], given[("Y", None)]
    ps = {k: v for k, v in given.items() if k[0] in layers.given()}  # parameters and fixed masks
    return model.Instance(tuple(int(s or 0) for s in net.layers), model.example_count(net, Xv), Xv,
                          Yv, ps)


def _prepare(net, seed, m, eps, rtol, instance, sizes) -> tuple[Network, model.Instance]:
    """The concrete network and a finite instance, within the limits (checked before drawing).
    Dropout: the masks D[l] are held fixed (the gradient of the sampled network): they are in
    the instance's params, and every moved copy (a leading axis, :mod:`differences`) runs
    through the same masks; a symbolic keep_prob needs its value."""
    if net.keep_prob_symbolic:
        raise DeriveError("a gradient check needs keep_prob's value, not a symbol: give "
                          "--keep-prob 0.8 (keep_prob = 0.8), the one your function uses")
    _check_numbers(eps, rtol)
    net = _concrete(net, instance, sizes)
    require_within_limits(net, instance.m if instance is not None else m)
    if instance is None:
        instance = random_instance(net, seed, m, sizes, eps)
    _require_finite_instance(net, instance)
    return net, instance


def _result(net, source, analytic, instance, seed, eps, rtol, notes) -> GradCheck:
    with np.errstate(all="ignore"):  # a non-finite cost or gradient is reported, by name
        d = differences(net, instance.params, instance.X, instance.Y, eps)
    arrays, overall = compare(net, analytic, d, rtol)
    return GradCheck(net, source, arrays, overall, rtol, eps, seed, instance.m,
                     kink_warnings(net, instance.params, instance.X, eps),
                     notes=_notes(net) + notes)


def random_instance(net: Network, seed: int | None, m: int, sizes, eps: float) -> model.Instance:
    """A seeded instance away from every kink (margin 0.05, narrowed for deep ReLU networks where
    some pre-activation almost always falls near 0, but always far beyond the step ε)."""
    for margin in (0.05, 0.01, 1e-3):
        try:
            return model.random_instance(net, seed=seed or 0, m=m, sizes=sizes, margin=margin)
        except RuntimeError:
            continue
    raise DeriveError("could not draw parameters away from the activation kinks; try another --seed")


def _require_finite_instance(net: Network, instance: model.Instance) -> None:
    """Non-finite values, or a forward pass or cost that is not finite at them, are input
    errors naming the array and the entry."""
    given = [("X", instance.X), ("Y", instance.Y)]
    given += [(f"{b}{l}", instance.params[b, l]) for b, l in param_keys(net)]
    for name, value in given:
        value = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(value)):
            i = entry_index(~np.isfinite(value))
            raise DeriveError(f"entry {entry(i)} of {name} is {value[i]}: the values must be "
                              "finite numbers")
    with np.errstate(all="ignore"):
        cache = model.forward(net, instance.params, instance.X)
        for l in range(1, net.L + 1):
            for base in ("Z", "A"):
                value = cache[base, l]
                if not np.all(np.isfinite(value)):
                    i = entry_index(~np.isfinite(value))
                    raise DeriveError(f"entry {entry(i)} of {base}[{l}] is {value[i]} at these "
                                      "values (beyond float64): give smaller values")
        A = cache["A", net.L]
        per = model.loss_or_standin(net).numpy_terms(A, instance.Y, net.layout.unit_axis)
        per = np.broadcast_to(per, A.shape)
    if not np.all(np.isfinite(per)):
        i = entry_index(~np.isfinite(per))
        raise DeriveError(
            f"the cost J is not finite at these values: the loss at entry {entry(i)} of "
            f"A[{net.L}] is {per[i]} (A[{net.L}] = {A[i]:.17g}, Y = {instance.Y[i]:.17g}); "
            "give values where the loss is finite")


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape) if shape else "scalar"


def _check_numbers(eps: float, rtol: float) -> None:
    if not (1e-10 <= eps <= 1e-1):
        raise DeriveError(f"--eps {eps:g} is outside 1e-10..1e-1")
    if not (0 < rtol < 1):
        raise DeriveError(f"--rtol {rtol:g} must lie between 0 and 1")


def _concrete(net: Network, instance, sizes) -> Network:
    if all(s is not None for s in net.layers):
        return net
    if instance is not None:
        return net.with_sizes(instance.sizes)
    return net.with_sizes(model.concrete_sizes(net, sizes))


def _notes(net: Network) -> tuple[str, ...]:
    notes = [f"cost J = {'(1/m) ' if net.cost_is_mean else ''}Σ ℓ over the m examples"]
    if net.l2 is not None:
        notes.append(net.l2_statement() + (f" (λ = {LAMBDA_STANDIN} for numbers)" if net.l2_symbolic
                                           else ""))
    if net.keep_prob is not None:
        notes.append(net.dropout_statement() + "; the differences move each entry with the "
                     "same masks")
    for l in range(1, net.L + 1):
        if net.kinds[l - 1] == "batchnorm":
            notes.append(f"batch norm on layer {l} in training mode: μ[{l}], σ²[{l}] (ε = 1e-5) are "
                         f"the statistics of each moved copy's own batch, so the differences "
                         f"run through them; checked: W[{l}], γ[{l}], β[{l}] (no b[{l}])")
    if any(a is None for a in net.activations):
        notes.append("generic g[l] replaced by g(z) = tanh(z) + z/(l + 2) for numbers")
    if net.loss is None:
        notes.append("generic loss ℓ replaced by log cosh(a − y) + (a − y)²/4 for numbers")
    return tuple(notes)
