"""Bounded values of the scalar SymPy expressions a formula carries: constants such as 1/m or
log(1 - m·(1/m)), and the entry-wise functions of :class:`~derive.core.expr.Pointwise` nodes.

SymPy's own ``float()``/``evalf`` of a user's constant is unbounded (``exp(exp(7**64))`` never
returns; ``log(-1)`` is complex and ``float`` refuses it). Here an expression is compiled once into
a small function over an ``mpmath`` context of a chosen precision, with numpy's real semantics:
log of 0 is −∞, log or square root of a negative number is NaN, x/0 is ±∞. The binary exponent of
every value is unbounded, so float64's overflow does not happen; only ``exp(x)`` with |x| above
2**EXP_BITS is taken as infinite (or 0), so every evaluation finishes in bounded time. The first
reason a value is not finite is recorded ("log of 0", "division by zero", ...) for the message.

>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> ev = Evaluator()
>>> ev.value(sp.log(1 - x), {x: 1}), ev.reason
(mpf('-inf'), 'log of 0')
>>> ev = Evaluator()
>>> float(ev.value(sp.exp(sp.exp(sp.Integer(7) ** 64)))), ev.reason
(inf, 'exp of a number too large to compute with')
>>> Evaluator().value(sp.log(0))  # SymPy folds log(0) to zoo: not a finite real number
mpf('nan')
>>> f = Evaluator(dps=20).compile(sp.sqrt(x) + 1, (x,))
>>> f([4]), f([-1])
(mpf('3.0'), mpf('nan'))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import mpmath
import sympy as sp

from derive.core.node import as_sympy

EXP_BITS = 4000  # exp(x) with |x| ≥ 2**4000 (about 10**1204) is taken as ∞ (or 0 below zero)

Fn = Callable[[Sequence[Any]], Any]  # compiled: the values of the parameters -> the value


@functools.cache
def _context(dps: int) -> mpmath.MPContext:
    """One mpmath context per precision (making one costs a third of a millisecond); nothing
    changes a context's precision after this."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    return ctx


class Unsupported(TypeError):
    """An expression node this evaluator has no rule for (a bug in derive, never the input)."""


class Evaluator:
    """Values of scalar SymPy expressions at ``dps`` significant digits; ``reason`` is the first
    cause of a value that is not finite (None while every value has been finite)."""

    def __init__(self, dps: int = 30):
        self.ctx = _context(dps)
        self.reason: str | None = None
        self._compiled: dict[tuple, Fn] = {}

    # -- public -----------------------------------------------------------------------------------
    def value(self, expr: sp.Expr, bindings: dict | None = None) -> Any:
        """The value of ``expr``, its free symbols taken from ``bindings`` (symbol -> number)."""
        bindings = bindings or {}
        params = tuple(bindings)
        return self.compile(expr, params)([self.ctx.convert(bindings[p]) for p in params])

    def compile(self, expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> Fn:
        """``expr`` as a function of the list of ``params``' values (numbers of this context); a
        symbol not in ``params`` is :class:`Unsupported`."""
        key = (expr, params)
        fn = self._compiled.get(key)
        if fn is None:
            fn = self._compile(as_sympy(expr), {p: i for i, p in enumerate(params)})  # never text
            self._compiled[key] = fn
        return fn

    def note(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason

    def finite(self, x: Any) -> bool:
        return bool(self.ctx.isfinite(x))

    # -- the rules, one per node type ---------------------------------------------------------------
    def _compile(self, e: sp.Basic, index: dict) -> Fn:
        ctx = self.ctx
        if e.is_Symbol:
            if e not in index:
                raise Unsupported(f"no value for the symbol {e}")
            i = index[e]
            return lambda v: v[i]
        if e.is_Integer or e.is_Rational:
            const = ctx.mpf(int(e.p)) / int(e.q)
            return lambda v: const
        if e.is_Float:
            const = ctx.make_mpf(e._mpf_)
            return lambda v: const
        if e is sp.pi or e is sp.E:
            name = "pi" if e is sp.pi else "e"
            return lambda v: +getattr(ctx, name)
        if e in (sp.oo, sp.zoo, sp.nan, sp.I, -sp.oo) or e.is_Number:  # not a finite real number
            return self._not_real(e)
        if isinstance(e, sp.Add):
            parts = [self._compile(a, index) for a in e.args]
            return lambda v: ctx.fsum(f(v) for f in parts)
        if isinstance(e, sp.Mul):
            parts = [self._compile(a, index) for a in e.args]

            def mul(v):
                out = ctx.mpf(1)
                for f in parts:
                    out = out * f(v)
                return out

            return mul
        if isinstance(e, sp.Pow):
            base, power = (self._compile(a, index) for a in e.args)
            half = e.args[1] == sp.S.Half
            return lambda v: self._pow(base(v), power(v), half)
        if isinstance(e, sp.Piecewise):
            pieces = [(self._compile(c.expr, index), self._condition(c.cond, index))
                      for c in e.args]

            def piecewise(v):
                for f, cond in pieces:
                    if cond(v):
                        return f(v)
                return ctx.nan

            return piecewise
        if isinstance(e, sp.Function) and len(e.args) == 1:
            rule = self._function(type(e))
            arg = self._compile(e.args[0], index)
            return lambda v: rule(arg(v))
        raise Unsupported(f"no numeric rule for {type(e).__name__}")

    def _not_real(self, e: sp.Basic) -> Fn:
        nan, inf = self.ctx.nan, self.ctx.inf
        what = {sp.I: "a constant that is not a real number (the log or square root of a "
                      "negative number)",
                sp.zoo: "a constant that is not finite (log of 0, or 0 to a negative power)"}
        reason = what.get(e, "a constant that is not finite")
        out = inf if e is sp.oo else -inf if e == -sp.oo else nan

        def value(v):
            self.note(reason)
            return out

        return value

    def _condition(self, c: sp.Basic, index: dict) -> Callable[[Sequence[Any]], bool]:
        if c is sp.true:
            return lambda v: True
        if c is sp.false:
            return lambda v: False
        ops = {sp.StrictGreaterThan: lambda a, b: a > b, sp.StrictLessThan: lambda a, b: a < b,
               sp.GreaterThan: lambda a, b: a >= b, sp.LessThan: lambda a, b: a <= b,
               sp.Equality: lambda a, b: a == b, sp.Unequality: lambda a, b: a != b}
        op = ops.get(type(c))
        if op is None:
            raise Unsupported(f"no numeric rule for the condition {type(c).__name__}")
        lhs, rhs = (self._compile(a, index) for a in c.args)
        nan = self.ctx.isnan
        # numpy: every comparison with NaN is False, except != which is True
        return lambda v: (lambda a, b: (type(c) is sp.Unequality) if nan(a) or nan(b)
                          else bool(op(a, b)))(lhs(v), rhs(v))

    def _function(self, kind: type) -> Callable[[Any], Any]:
        ctx = self.ctx
        rules: dict[type, Callable[[Any], Any]] = {
            sp.exp: self._exp, sp.log: self._log, sp.tanh: ctx.tanh, sp.Abs: abs,
            sp.cosh: self._cosh,
        }
        if kind not in rules:
            raise Unsupported(f"no numeric rule for {kind.__name__}")
        return rules[kind]

    # -- numpy's real semantics, bounded ----------------------------------------------------------
    def _exp(self, x: Any) -> Any:
        ctx = self.ctx
        if ctx.isnan(x):
            return ctx.nan
        if ctx.isinf(x) or ctx.mag(x) > EXP_BITS:
            if x > 0:
                self.note("exp of a number too large to compute with")
                return ctx.inf
            return ctx.mpf(0)
        return ctx.exp(x)

    def _cosh(self, x: Any) -> Any:
        """cosh x = (e^x + e^-x) / 2, as bounded as exp (infinite where exp is)."""
        if self.ctx.isnan(x):
            return self.ctx.nan
        return (self._exp(x) + self._exp(-x)) / 2

    def _log(self, x: Any) -> Any:
        ctx = self.ctx
        if ctx.isnan(x):
            return ctx.nan
        if x == 0:
            self.note("log of 0")
            return -ctx.inf
        if x < 0:
            self.note("log of a negative number")
            return ctx.nan
        return ctx.log(x)

    def _pow(self, b: Any, k: Any, half: bool) -> Any:
        ctx = self.ctx
        if ctx.isnan(b) or ctx.isnan(k):
            return ctx.nan
        if b == 0:
            if k < 0:
                self.note("division by zero")
                return ctx.inf
            return ctx.mpf(1) if k == 0 else ctx.mpf(0)
        integer = ctx.isint(k) if ctx.isfinite(k) else False
        if b < 0 and not integer:
            self.note("the square root of a negative number" if half else
                      "a fractional power of a negative number")
            return ctx.nan
        if ctx.isinf(b) or ctx.isinf(k):
            return ctx.power(b, k) if not (b < 0 and ctx.isinf(k)) else ctx.nan
        if integer and abs(k) <= 64:
            return ctx.power(b, int(k))
        size = k * ctx.log(abs(b))  # the exponent of e: bounded like exp's
        out = self._exp(size)
        return -out if b < 0 and int(k) % 2 else out


def finite_float(ev: Evaluator, expr: sp.Expr, bindings: dict | None = None) -> float:
    """``expr`` as a Python float (±inf or NaN where it is not a finite real number)."""
    v = ev.value(expr, bindings)
    try:
        return float(v)
    except OverflowError:  # pragma: no cover - mpmath maps huge values to inf itself
        return float("inf") if v > 0 else float("-inf")


__all__ = ["EXP_BITS", "Evaluator", "Unsupported", "finite_float"]
