"""The checker's second opinion: a formula evaluated at high precision where float64 disagrees.

float64 decides almost every formula. When a student's value differs from the engine's on a random
instance, the difference may be an accident of float64 rather than a mistake: an exponential that
overflows (``np.exp(1000 * W2) / np.exp(1000 * W2)``), a cancellation (``(dZ1 + 1e10) - 1e10``),
an underflow to 0 that a division turns into NaN. So the instance is evaluated again with ``mpmath``
with at least 40 significant digits, and more where the magnitudes met call for it (a sum loses
the digits between its largest operand and its result), then confirmed with twice the digits;
mpmath has no exponent range to overflow. The formula is judged by that value: an equal value is
correct (with a note on the float64 accident), a different or a non-finite one is a real
counterexample.

The semantics stay numpy's, over the reals: the log of 0 is −∞, the log or square root of a
negative number is NaN (not a complex number), x/0 is ±∞. A formula whose value is not finite where
the derivation's is finite is not equivalent, and the note names the first operation that went
non-finite and why (``log of 0 in np.log(1 - A2)``).

>>> from derive.network.spec import Network
>>> from derive.check.numeric import numbers_for
>>> nums = numbers_for(Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"))
>>> f = nums.derivation.formula("dZ", 2)
>>> from derive.core import expr as E
>>> # dZ2 + 1e200 - 1e200: float64 loses every digit of dZ2
>>> lost = E.Sub(E.Add(E.Scalar(10**200), f.expr, broadcast=True), E.Scalar(10**200),
...              broadcast=True)
>>> nums.equal(lost, f.target), nums.judge(lost, f.target, f.expr).equal
(False, True)
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from derive.core import expr as E
from derive.core.evaluation import NumpyBackend
from derive.core.expr import as_sympy
from derive.core.names import z
from derive.parse.scalars import Evaluator

MIN_DPS, MAX_DPS = 40, 2400  # significant digits: the first reading's, and the most tried
AGREE = 1e-12  # two precisions agree when they differ by at most this (relative)
REL, ABS = 1e-8, 1e-12  # the checker's tolerance (numeric.close): err <= REL * scale + ABS


@dataclass(frozen=True)
class Judgement:
    """Is the formula's value the derivation's, and the notes that explain an unusual answer."""

    equal: bool
    notes: tuple[str, ...] = ()


class PreciseBackend:
    """The numpy backend's operations on object arrays of mpmath numbers (..., rows, cols)."""

    def __init__(self, ev: Evaluator, standins: Mapping, unit_axis: int,
                 subs: Mapping[sp.Symbol, float], size_map: Mapping[int, int]):
        self.ev, self.ctx = ev, ev.ctx
        self.standins = standins
        self.unit_axis = unit_axis  # -2: examples in columns, -1: in rows
        self._subs = dict(subs)
        self._size_map = size_map
        self._div = np.frompyfunc(self._divide, 2, 1)

    # -- numbers and shapes -------------------------------------------------------------------
    def convert(self, a: np.ndarray) -> np.ndarray:
        """A float array as an object array of this precision's numbers (exactly)."""
        return np.frompyfunc(self.ctx.mpf, 1, 1)(np.asarray(a, dtype=float)).astype(object)

    def number(self, value) -> Any:
        v = as_sympy(value)
        return self.ev.value(v, {s: self._subs[s] for s in v.free_symbols if s in self._subs})

    def size(self, d) -> int:
        n = int(float(self.number(d)))
        return self._size_map.get(n, n)

    def ones(self, shape):
        return np.full(tuple(self.size(d) for d in shape), self.ctx.mpf(1), dtype=object)

    def scalar(self, value):
        return np.full((1, 1), self.number(value), dtype=object)

    def scale(self, factor, a):
        return a * self.number(factor)

    # -- the operations -----------------------------------------------------------------------
    def matmul(self, a, b):
        return np.matmul(a, b)

    multiply = staticmethod(operator.mul)
    add = staticmethod(operator.add)
    subtract = staticmethod(operator.sub)

    def divide(self, a, b):
        return self._div(a, b)

    def _divide(self, x, y):
        ctx = self.ctx
        if y == 0:
            self.ev.note("division by zero")
            return ctx.nan if x == 0 or ctx.isnan(x) else ctx.inf if x > 0 else -ctx.inf
        return x / y

    # the same on object arrays as on float ones: the numpy backend's own
    transpose = NumpyBackend.transpose
    sum = NumpyBackend.sum

    def _entrywise(self, expr: sp.Expr, params: tuple[sp.Symbol, ...], values: Sequence):
        fn = self.ev.compile(expr, params)
        out = np.frompyfunc(lambda *xs: fn(xs), len(values), 1)(*values)
        return np.broadcast_to(np.asarray(out, dtype=object), np.shape(values[0])).copy()

    def _activation(self, act, layer):
        return act if act is not None else self.standins[layer]

    def act(self, act, layer, x):
        act = self._activation(act, layer)
        if act.kind == "softmax":
            return self._softmax(x)
        return self._entrywise(act.forward, (z,), [x])

    def deriv(self, act, layer, x):
        return self._entrywise(self._activation(act, layer).derivative_at_z, (z,), [x])

    def pointwise(self, expr, params, values):
        bound = tuple(s for s in self._subs if s in expr.free_symbols)  # m, n1, ...
        sizes = [self.ctx.mpf(self._subs[s]) for s in bound]
        return self._entrywise(expr, (*params, *bound), [*values, *sizes])

    def _softmax(self, x):
        axis = self.unit_axis
        top = np.max(x, axis=axis, keepdims=True)
        e = self._entrywise(sp.exp(z), (z,), [x - top])
        return self._div(e, np.sum(e, axis=axis, keepdims=True))


def _finite(ctx, a: np.ndarray) -> np.ndarray:
    return np.frompyfunc(lambda x: bool(ctx.isfinite(x)), 1, 1)(a).astype(bool)


def _top(ctx, a: np.ndarray) -> int | None:
    """The largest binary exponent among the finite, non-zero entries of ``a`` (None: none)."""
    mags = [ctx.mag(x) for x in a.flat if x != 0 and ctx.isfinite(x)]
    return max(mags) if mags else None


@dataclass(frozen=True)
class _Reading:
    got: np.ndarray  # the student's value on one instance (an object array of mp numbers)
    want: np.ndarray  # the derivation's value
    culprit: E.Expr | None  # the first operation whose value is not finite
    reason: str | None  # why ("log of 0"), as the evaluator recorded it
    top: int  # the largest binary exponent of any value met while evaluating the formula
    dps: int  # the significant digits it was computed with

    def needed(self, ctx) -> int:
        """The digits that keep the result accurate through a cancellation: a sum loses at most
        the bits between its largest operand (``top``) and the result's scale."""
        scale = _top(ctx, self.want)
        bits = self.top - max(scale if scale is not None else -40, -40) + 80
        return int(bits * 0.30103) + 10


def _evaluate(e: E.Expr, values: Mapping, backend: PreciseBackend):
    """The value of ``e``, the first node (children before parents) whose value is not finite,
    and the largest binary exponent met."""
    first: list[E.Expr] = []
    top = [-40]
    ctx = backend.ctx

    def ev(node: E.Expr):
        v = np.asarray(node.compute(backend, ev, values), dtype=object)
        if not first and not np.all(_finite(ctx, v)):
            first.append(node)
        t = _top(ctx, v)
        if t is not None and t > top[0]:
            top[0] = t
        return v

    out = ev(e)
    return out, (first[0] if first else None), top[0]


def _read(env, e: E.Expr, expected: E.Expr, values: Mapping, dps: int) -> _Reading:
    ev = Evaluator(dps)
    b = env.backend
    backend = PreciseBackend(ev, b.standins, b.unit_axis, b.subs, b.size_map)
    used = {s.key for s in e.symbols() | expected.symbols()}
    exact = {k: backend.convert(v) for k, v in values.items() if k in used}
    got, culprit, top = _evaluate(e, exact, backend)
    reason = ev.reason
    reference = PreciseBackend(Evaluator(dps), b.standins, b.unit_axis, b.subs, b.size_map)
    want, _, _ = _evaluate(expected, exact, reference)
    got = np.broadcast_to(got, want.shape) if got.shape != want.shape else got
    return _Reading(got, want, culprit, reason, top, dps)


def _same(ctx, a: np.ndarray, b: np.ndarray, rel: float, absolute: float) -> bool:
    """Entry by entry: equal where both are finite (within rel · max|b| + absolute), and the
    same non-finite value where either is not."""
    fa, fb = _finite(ctx, a), _finite(ctx, b)
    if not np.array_equal(fa, fb):
        return False
    scale = max((abs(x) for x in b[fb]), default=ctx.mpf(0))
    err = max((abs(x - y) for x, y in zip(a[fa], b[fb], strict=True)), default=ctx.mpf(0))
    if err > rel * scale + absolute:
        return False
    return all(str(x) == str(y) for x, y in zip(a[~fa], b[~fb], strict=True))


def _stable(env, e, expected, values) -> tuple[_Reading, bool]:
    """A reading that a second one, with twice the digits, confirms; the first has at least the
    digits a cancellation of the magnitudes met needs. False: none up to MAX_DPS."""
    ctx = Evaluator(MAX_DPS).ctx
    cur = _read(env, e, expected, values, MIN_DPS)
    dps = min(MAX_DPS, max(MIN_DPS, cur.needed(ctx)))
    if dps > cur.dps:
        cur = _read(env, e, expected, values, dps)
    while True:
        more = _read(env, e, expected, values, min(MAX_DPS, 2 * cur.dps))
        if _same(ctx, cur.got, more.got, AGREE, 0.0) and more.needed(ctx) <= more.dps:
            return more, True
        if more.dps >= MAX_DPS:
            return more, False
        cur = more


def judge_instances(env, e: E.Expr, expected: E.Expr, values: Mapping,
                    failing: Sequence[int], got64: np.ndarray) -> Judgement:
    """Decide the instances (axis 0 of ``values``) where float64 found ``e`` different."""
    notes: list[str] = []
    decided = len(got64) - len(failing)  # instances float64 already found equal
    for i in failing:
        one = {k: v[i:i + 1] for k, v in values.items()}
        reading, stable = _stable(env, e, expected, one)
        ctx = Evaluator(MAX_DPS).ctx
        if not np.all(_finite(ctx, reading.want)):
            continue  # the derivation itself is not finite here: nothing to compare with
        if not np.all(_finite(ctx, reading.got)):
            return Judgement(False, (_not_finite(reading),))
        if not _same(ctx, reading.got, reading.want, REL, ABS):
            if not stable:
                notes.append("the formula's value on the random instance depends on the "
                             f"precision even at {MAX_DPS} digits (a cancellation)")
            return Judgement(False, tuple(notes))
        g = np.broadcast_to(got64[i], reading.want.shape[1:])
        if not np.all(np.isfinite(g)):
            note = ("in float64 (numpy) this formula is not finite on the random instance (it "
                    "overflows); computed with more digits it equals the derivation")
        else:
            note = ("in float64 (numpy) this formula loses its precision on the random instance "
                    "(a cancellation); computed with more digits it equals the derivation")
        if note not in notes:
            notes.append(note)
        decided += 1
    return Judgement(decided > 0, tuple(notes))


def _not_finite(r: _Reading) -> str:
    where = f" in {r.culprit.written()}" if r.culprit is not None else ""
    why = r.reason or "an infinite or undefined value"
    return f"the formula is not finite on the random instance: {why}{where}"


__all__ = ["MAX_DPS", "MIN_DPS", "Judgement", "PreciseBackend", "judge_instances"]
