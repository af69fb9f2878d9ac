"""Semantic actions shared by the LaTeX and text parsers: values into :mod:`derive.core.expr` nodes.

A parser hands the builder operands and the span of input they came from; the builder makes the
node, sets its ``src`` to the text as the user wrote it (so a shape clash names ``dZ[2]`` and
``W[2]T``, not our printing of them), and records notes about readings that needed a choice.

Values are :class:`derive.core.expr.Expr` (a matrix), :class:`Const` (a scalar such as 1/m or 2) or
:class:`OnesVec` (𝟙, whose length the product it sits in decides).

Products: ``matmul`` (juxtaposition, @, np.dot), ``elementwise`` (⊙, *, np.multiply: strict in
mathematical notation, numpy broadcasting in numpy text), ``cdot`` (· resolved by shapes).

>>> from derive.network.spec import Network
>>> text = "W2ᵀ dZ2"
>>> b = Builder(Network(layers=[3, 3, 1]), text, mode="math")
>>> W2 = b.transpose(b.symbol("W", ("num", 2), (0, 2), 0), (0, 3))
>>> dZ2 = b.symbol("dZ", ("num", 2), (4, 7), 4)
>>> e = b.matmul(W2, dZ2, (0, 7))
>>> e.shape, e.src
((3, m), 'W2ᵀ dZ2')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeGuard

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.expr import as_sympy
from derive.errors import ParseError, ShapeMismatch
from derive.network.spec import Network
from derive.network.spec import m as M
from derive.parse.bindings import Bindings
from derive.parse.names import MAX_EXPONENT, MAX_MAGNITUDE, LayerIndex, LayerOutOfRange, Name
from derive.parse.resolve import Resolver, Span
from derive.parse.scalars import Evaluator, finite_float

X = tuple(sp.Symbol(f"x{i}", real=True) for i in range(4))  # Pointwise parameters


@dataclass(frozen=True)
class Const:
    """A scalar: a number, m, or an expression in them (1/m)."""

    value: sp.Expr
    src: str = ""


@dataclass(frozen=True)
class OnesVec:
    """𝟙 (``\\mathbf{1}``): a vector of ones; ``A 𝟙`` sums A's rows, ``𝟙ᵀ A`` its columns."""

    transposed: bool = False
    src: str = ""


Value = E.Expr | Const | OnesVec
_STEP = sp.Piecewise((1, X[0] > 0), (0, True))


def _is_relu_prime(v: Value) -> TypeGuard[E.Deriv]:
    return (isinstance(v, E.Deriv) and isinstance(v.activation, rules.Activation)
            and v.activation.name == "relu")


def is_indicator(v: Value) -> bool:
    """A 0/1 array: (Z > 0), np.where(..., 1, 0) or relu′(Z)."""
    return _is_relu_prime(v) or (isinstance(v, E.Pointwise) and isinstance(v.expr, sp.Piecewise)
                                 and all(a.expr in (0, 1) for a in v.expr.args))


def _same(a: object, b: object) -> bool:
    return bool(as_sympy(a) == as_sympy(b))


def _fmt(shape: Iterable[object]) -> str:
    return "×".join(str(d) for d in shape)


class Builder(Resolver):
    """Builds expression nodes over one network's :class:`SymbolTable` for one input text.

    ``mode`` is "math" (⊙ and * need equal shapes) or "numpy" (* and + broadcast as numpy does).
    ``current`` is the layer an unindexed name (``dW``, ``A``) refers to; ``generic`` the value of
    a generic index ``l`` (names: :class:`~derive.parse.resolve.Resolver`).
    """

    def __init__(self, net: Network, text: str, mode: str = "math", current: int | None = None,
                 generic: int | None = None, bindings: Bindings | None = None):
        super().__init__(net, text, current=current, generic=generic, bindings=bindings)
        self.mode = mode
        self.octave = False  # Octave's .* was written: * is a matrix product, ' a transpose

    # -- scalars ----------------------------------------------------------------------------
    def const(self, value: sp.Expr | int, span: Span, pos: int) -> Const:
        value = as_sympy(value)
        if value.is_Number and (value.is_infinite or value is sp.nan or
                                abs(value) > MAX_MAGNITUDE):
            raise self.error("a number too large to compute with", pos)
        if value.is_Rational and value.q > MAX_MAGNITUDE:
            raise self.error("a number too small to compute with", pos)
        if not value.is_Number and value.is_number:
            # exp(7**64), log(2)**64: the same bounds, on the value the bounded evaluator gives
            # (SymPy itself, asked whether exp(exp(7**64)) - 5 is negative, never answers); a
            # value that is not a real number (log(-1)) stays, for the checker to say so
            size = abs(Evaluator(15).value(value))
            if size > MAX_MAGNITUDE:
                raise self.error("a number too large to compute with", pos)
            if 0 < size < 1 / MAX_MAGNITUDE:
                raise self.error("a number too small to compute with", pos)
        if M in value.free_symbols:
            self.uses_m = True
        return Const(value, self.src(span))

    # -- products ---------------------------------------------------------------------------
    def _as_matrix(self, v: Value, pos: int) -> E.Expr:
        if isinstance(v, OnesVec):
            raise self.error("𝟙 (a vector of ones) must multiply a matrix: dZ 𝟙 or 𝟙ᵀ dZ", pos)
        if isinstance(v, Const):
            return E.Scalar(v.value, src=v.src)
        return v

    def scale(self, c: Const, v: E.Expr, span: Span) -> E.Expr:
        """c·v, with nested scalars multiplied out: (1/2)·(4 A) is 2 A."""
        factor = c.value
        if isinstance(v, E.Scale):
            factor, v = factor * v.factor, v.arg
        if factor == 1:
            return v
        return E.Scale(factor, v, src=self.src(span))

    def matmul(self, a: Value, b: Value, span: Span, pos: int = 0) -> Value:
        """A B (juxtaposition, @, np.dot): scalars scale, 𝟙 sums, matrices multiply."""
        if isinstance(a, Const) and isinstance(b, Const):
            return self.const(a.value * b.value, span, pos)
        if isinstance(a, Const) and isinstance(b, E.Expr):
            return self.scale(a, b, span)
        if isinstance(b, Const) and isinstance(a, E.Expr):
            return self.scale(b, a, span)
        if isinstance(b, OnesVec) and isinstance(a, E.Expr) and not b.transposed:
            return E.Sum(a, 1, src=self.src(span))
        if isinstance(a, OnesVec) and isinstance(b, E.Expr) and a.transposed:
            return E.Sum(b, 0, src=self.src(span))
        if not (isinstance(a, E.Expr) and isinstance(b, E.Expr)):  # a 𝟙 anywhere else
            raise self.error("𝟙 must sit right of a matrix (dZ 𝟙) or as 𝟙ᵀ on its left", pos)
        return E.MatMul(a, b, src=self.src(span))

    def juxtapose(self, items: list[tuple[Value, Span]], pos: int) -> Value:
        """A run of factors written side by side: scalars pulled out, matrices multiplied."""
        coeff = sp.Integer(1)
        mats: list[tuple[Value, Span]] = []
        for v, sp_ in items:
            if isinstance(v, Const):
                coeff = coeff * v.value
            else:
                mats.append((v, sp_))
        span = (items[0][1][0], items[-1][1][1])
        if not mats:
            return self.const(coeff, span, pos)
        acc, acc_span = mats[0]
        for v, sp_ in mats[1:]:
            acc_span = (acc_span[0], sp_[1])
            acc = self.matmul(acc, v, acc_span, pos)
        if not isinstance(acc, E.Expr):  # a product of matrices is never a Const: a lone 𝟙
            raise self.error("𝟙 must multiply a matrix", pos)
        if coeff != 1:
            acc = self.scale(Const(coeff), acc, span)
        return acc

    def elementwise(self, a: Value, b: Value, span: Span, pos: int = 0, op: str = "⊙") -> Value:
        """A ⊙ B (⊙, *, np.multiply). Strict in maths; numpy broadcasting in numpy text."""
        if isinstance(a, Const) or isinstance(b, Const):
            return self.matmul(a, b, span, pos)
        a, b = self._as_matrix(a, pos), self._as_matrix(b, pos)
        if self.mode != "numpy" and self.net.layout.columns and self.per_unit(a, b):
            return E.Hadamard(a, b, broadcast=True, src=self.src(span))
        if self.mode == "numpy":
            out = E.Hadamard(a, b, broadcast=True, src=self.src(span))
            self._broadcast_note(a, b, op)
            return out
        return E.Hadamard(a, b, src=self.src(span))

    def _broadcast_note(self, a: E.Expr, b: E.Expr, op: str) -> None:
        if all(_same(x, y) for x, y in zip(a.shape, b.shape, strict=True)):
            return
        ones = [f"n{l} = 1" for l in range(self.net.L + 1) if _same(self.net.dim(l), 1)]
        if any(_same(d, 1) for d in (*a.shape, *b.shape)) and not isinstance(a, E.Scalar) \
                and not isinstance(b, E.Scalar):
            why = f" ({', '.join(ones)})" if ones else ""
            self.note(f"relies on numpy broadcasting{why}: {a.written()} {op} {b.written()} "
                      f"combines {_fmt(a.shape)} with {_fmt(b.shape)}")

    def cdot(self, a: Value, b: Value, span: Span, pos: int = 0, sign: str = "·") -> Value:
        """A · B: a matrix product if the inner dimensions fit, else element-wise if the shapes
        are equal; the reading is recorded as a note."""
        if isinstance(a, Const | OnesVec) or isinstance(b, Const | OnesVec):
            return self.matmul(a, b, span, pos)
        inner = _same(a.shape[1], b.shape[0])
        equal = all(_same(x, y) for x, y in zip(a.shape, b.shape, strict=True))
        if inner:
            both = " (an element-wise product would fit too)" if equal else ""
            self.note(f"{sign} in {self.src(span)} read as a matrix product: the inner "
                      f"dimensions fit{both}")
            return E.MatMul(a, b, src=self.src(span))
        if equal:
            self.note(f"{sign} in {self.src(span)} read as an element-wise product: the shapes "
                      "are equal and the inner dimensions do not fit")
            return E.Hadamard(a, b, src=self.src(span))
        return E.MatMul(a, b, src=self.src(span))  # raises ShapeMismatch naming both operands

    def divide(self, a: Value, b: Value, span: Span, pos: int = 0) -> Value:
        if isinstance(b, Const):
            if b.value == 0:
                raise self.error("division by zero", pos)
            if isinstance(a, Const):
                return self.const(a.value / b.value, span, pos)
            return self.scale(Const(1 / b.value), self._as_matrix(a, pos), span)
        a, b = self._as_matrix(a, pos), self._as_matrix(b, pos)
        if self.mode != "numpy" and self.net.layout.columns and self.per_unit(a, b):
            return E.Div(a, b, broadcast=True, src=self.src(span))
        if self.mode == "numpy":
            out = E.Div(a, b, broadcast=True, src=self.src(span))
            self._broadcast_note(a, b, "/")
            return out
        return E.Div(a, b, src=self.src(span))

    def add(self, a: Value, b: Value, span: Span, pos: int = 0, minus: bool = False) -> Value:
        if isinstance(a, Const) and isinstance(b, Const):
            return self.const(a.value - b.value if minus else a.value + b.value, span, pos)
        scalar = isinstance(a, Const) or isinstance(b, Const)
        a, b = self._as_matrix(a, pos), self._as_matrix(b, pos)
        node = E.Sub if minus else E.Add
        broadcast = scalar or self.mode == "numpy" or (
            "batchnorm" in self.net.kinds and self.net.layout.columns and self.per_unit(a, b))
        out = node(a, b, broadcast=broadcast, src=self.src(span))
        if self.mode == "numpy" and not scalar:
            self._broadcast_note(a, b, "-" if minus else "+")
        return out

    def negate(self, a: Value, span: Span, pos: int = 0) -> Value:
        if isinstance(a, Const):
            return self.const(-a.value, span, pos)
        return E.Scale(sp.Integer(-1), self._as_matrix(a, pos), src=self.src(span))

    def transpose(self, a: Value, span: Span) -> Value:
        if isinstance(a, Const):
            return a
        if isinstance(a, OnesVec):
            return OnesVec(not a.transposed, self.src(span))
        return E.Transpose(a, src=self.src(span))

    def power(self, a: Value, k: Value, span: Span, pos: int) -> Value:
        """A**k: numbers are computed (|k| bounded); a matrix to a number is element-wise."""
        if isinstance(k, Const):
            # the exponent's value, bounded (SymPy's own comparison of exp(exp(7**64)) with 64
            # never returns); NaN where it is not a finite real number
            power = finite_float(Evaluator(), k.value) if k.value.is_number else math.nan
            if math.isnan(power):
                raise self.error("an exponent must be a number", pos)
            if abs(power) > MAX_EXPONENT:
                raise self.error(f"the exponent {k.value} is larger than {MAX_EXPONENT}", pos)
            if isinstance(a, Const):
                if a.value == 0 and power < 0:
                    raise self.error("division by zero (0 to a negative power)", pos)
                return self.const(a.value ** k.value, span, pos)
            a = self._as_matrix(a, pos)
            if k.value == 1:
                return a
            self.note(f"{self.src(span)} read element-wise (each entry to the power {k.value}), "
                      "not as a matrix power")
            return E.Pointwise(X[0] ** k.value, (X[0],), (a,), src=self.src(span))
        if isinstance(a, Const) and isinstance(k, E.Expr):
            return self.pointwise(lambda x: a.value ** x, [k], span, pos)
        raise self.error("an exponent must be a number (a matrix power is not element-wise)", pos)

    # -- functions --------------------------------------------------------------------------
    def pointwise(self, fn: Callable[..., sp.Expr], args: list[Value], span: Span,
                  pos: int) -> Value:
        """fn applied entry by entry; all-scalar arguments give a scalar."""
        syms: list[sp.Expr] = []
        mats: list[E.Expr] = []
        params: list[sp.Symbol] = []
        for v in args:
            if isinstance(v, Const):
                syms.append(v.value)
            else:
                p = X[len(mats)]
                mats.append(self._as_matrix(v, pos))
                params.append(p)
                syms.append(p)
        out = fn(*syms)
        if not mats:
            return self.const(out, span, pos)
        return E.Pointwise(out, tuple(params), tuple(mats), src=self.src(span))

    def compare(self, a: Value, op: str, b: Value, span: Span, pos: int) -> Value:
        """(Z > 0): 1 where it holds, 0 elsewhere."""
        rel = {">": sp.StrictGreaterThan, "<": sp.StrictLessThan, ">=": sp.GreaterThan,
               "<=": sp.LessThan, "==": sp.Eq, "!=": sp.Ne}[op]
        if isinstance(a, Const) and isinstance(b, Const):
            raise self.error("a comparison of two numbers", pos)
        out = self.pointwise(lambda x, y: sp.Piecewise((1, rel(x, y)), (0, True)), [a, b],
                             span, pos)
        return self._relu_prime(out, span)

    def _relu_prime(self, v: Value, span: Span) -> Value:
        """(Z[l] > 0) is relu′(Z[l]) exactly (the catalogue's relu′(0) = 0): say it that way."""
        if isinstance(v, E.Pointwise) and len(v.args) == 1:
            z = v.args[0]
            if isinstance(z, E.Sym) and z.base == "Z" and z.layer is not None and v.expr == _STEP:
                self.note(f"{self.src(span)} read as relu′({z.written()}) (1 where positive, "
                          "else 0)")
                return E.Deriv(rules.activations()["relu"], z.layer, z, src=self.src(span))
        return v

    def where(self, cond: Value, a: Value, b: Value, span: Span, pos: int) -> Value:
        """np.where(cond, a, b) for a condition such as (Z > 0)."""
        if _is_relu_prime(cond):
            cond = E.Pointwise(_STEP, (X[0],), (cond.arg,))
        if not (isinstance(cond, E.Pointwise) and isinstance(cond.expr, sp.Piecewise)):
            raise self.error("np.where needs a comparison such as Z1 > 0 first", pos)
        rel = cond.expr.args[0].cond
        args: list[Value] = list(cond.args)
        n = len(args)

        def fn(*xs: sp.Expr) -> sp.Expr:
            inner = rel.subs(dict(zip(cond.params, xs[:n], strict=False)), simultaneous=True)
            return sp.Piecewise((xs[n], inner), (xs[n + 1], True))

        return self._relu_prime(self.pointwise(fn, [*args, a, b], span, pos), span)

    def activation(self, name: Name, index: LayerIndex | None, arg: Value, span: Span,
                   pos: int) -> Value:
        """g(arg) or g′(arg) for a named activation or the layer's own g."""
        if not isinstance(arg, E.Expr) or isinstance(arg, OnesVec):
            raise self.error(f"{self.src(span)}: an activation applies to a matrix such as Z[1]",
                             pos)
        arg = self.preactivation(arg, span)
        assert isinstance(arg, E.Expr)  # a product of matrices, or Z[l]
        layer = self._activation_layer(index, arg, pos)
        act = name.act if name.act is not None else self.net.activation(layer)
        written = self.text[span[0]:span[0] + 6]
        if act is not None and act.name == "sigmoid" and self.net.activation(layer) is None \
                and written.startswith(("σ", "\\sigma")):  # textbooks' σ for any activation
            act = None
            self.note(f"σ read as layer {layer}'s activation g (its activation is not given: "
                      "textbooks write σ for any activation)")
        if act is not None and act.kind == "softmax":
            raise self.error(
                (f"layer {layer}'s activation is softmax, which is not element-wise: "
                 if name.act is None else "softmax is not element-wise (it is read only as A[l], "
                 "from a softmax layer's own Z[l]): ")
                + ("its derivative is a Jacobian, so g′(Z) has no element-wise meaning; write "
                   "dZ in terms of A and Y" if name.prime else "write A instead of softmax(Z)"),
                pos)
        node = E.Deriv if name.prime else E.Act
        return node(act, layer, arg, src=self.src(span))

    def _activation_layer(self, index: LayerIndex | None, arg: E.Expr, pos: int) -> int:
        if index is not None:
            layer = self.layer(index, "g", pos)
        else:
            layers = {s.layer for s in arg.symbols() if s.base in ("Z", "A") and s.layer}
            if isinstance(arg, E.Sym) and arg.layer:
                layer = arg.layer
            elif len(layers) == 1:
                layer = layers.pop()
            else:
                layer = self.layer(None, "g", pos)
        if not 1 <= layer <= self.net.L:
            raise LayerOutOfRange(f"g[{layer}] is not in this network: layers 1 to "
                                  f"{self.net.L}", pos, self.text, layer, 1, self.net.L)
        return layer

    def total(self, v: Value, axis: int | None, keepdims: bool, span: Span,
              pos: int) -> Const | E.Sum:
        """np.sum(v, axis, keepdims): Sum node; without keepdims a note (numpy gives 1-D)."""
        if isinstance(v, Const):
            return v
        v = self._as_matrix(v, pos)
        if axis not in (0, 1, None):
            raise self.error(f"axis must be 0, 1 or None, not {axis}", pos)
        out = E.Sum(v, axis, src=self.src(span))
        if axis is not None and not keepdims:
            self.note(f"{self.src(span)}: without keepdims=True numpy gives a 1-D array of "
                      f"{v.shape[1 - axis]} values; it is read here as the "
                      f"{_fmt(out.shape)} {'column' if axis == 1 else 'row'} keepdims=True gives")
        return out

    # -- numpy's scalars and element-wise helpers -------------------------------------------
    def dimension(self, v: Value, k: int, span: Span, pos: int) -> Const:
        """x.shape[k]: m for the examples' axis of X, A, Z, dZ, ...; n[l] for the units'."""
        if not isinstance(v, E.Expr):
            raise self.error("x.shape applies to a matrix such as X or A_prev", pos)
        if not -2 <= k <= 1:
            raise self.error(f"x.shape[{k}]: a matrix has axes 0 and 1", pos)
        return self.const(v.shape[k % 2], span, pos)

    def scalar_of(self, fn: str, v: Value, span: Span, pos: int) -> Const:
        """float(m), int(m): the number itself; len(x) is x.shape[0], as numpy has it."""
        if fn == "len":
            out = self.dimension(v, 0, span, pos)
            layout = self.net.layout
            axis = layout.example_axis % 2
            if isinstance(v, E.Expr) and axis != 0 and not _same(out.value, M):
                self.note(f"{self.src(span)} is {v.written()}.shape[0] = {out.value}, its number "
                          f"of rows (numpy's len); the number of examples m is "
                          f"{v.written()}.shape[{axis}] in this convention")
            return out
        if not isinstance(v, Const):
            raise self.error(f"{fn}() of a matrix: numpy converts only a single number", pos)
        return Const(v.value, self.src(span))

    def maximum(self, a: Value, b: Value, span: Span, pos: int) -> Value:
        """np.maximum(0, Z) and np.maximum(Z, 0): relu(Z)."""
        zero, z = (a, b) if isinstance(a, Const) else (b, a)
        if not (isinstance(zero, Const) and zero.value == 0 and isinstance(z, E.Expr)):
            raise self.error("np.maximum is read as relu: np.maximum(0, Z) or np.maximum(Z, 0)",
                             pos)
        return self.activation(Name("act", "relu", act=rules.activations()["relu"]), None, z,
                               span, pos)

    def heaviside(self, x: Value, h: Value, span: Span, pos: int) -> Value:
        """np.heaviside(Z, h): 1 where Z > 0, h where Z = 0, else 0; with h = 0 relu′(Z)."""
        if not isinstance(h, Const):
            raise self.error("np.heaviside(Z, h) takes a number h, its value at 0", pos)

        def step(z: sp.Expr) -> sp.Expr:
            if h.value == 0:
                return sp.Piecewise((1, z > 0), (0, True))
            return sp.Piecewise((1, z > 0), (h.value, sp.Eq(z, 0)), (0, True))

        return self._relu_prime(self.pointwise(step, [x], span, pos), span)

    def mean(self, v: Value, axis: int | None, keepdims: bool, span: Span, pos: int) -> Value:
        s = self.total(v, axis, keepdims, span, pos)
        if isinstance(s, Const) or not isinstance(v, E.Expr):
            return s
        count = v.shape[axis] if axis is not None else v.shape[0] * v.shape[1]
        self.uses_m = self.uses_m or M in as_sympy(count).free_symbols
        return E.Scale(1 / as_sympy(count), s, src=self.src(span))


def check_tree_depth(e: E.Expr, limit: int, text: str) -> None:
    """Refuse trees deeper than ``limit`` (printing and evaluation recurse)."""
    stack = [(e, 1)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            raise ParseError(f"the formula nests more than {limit} operations deep", None, text)
        stack.extend((c, d + 1) for c in node.children())


__all__ = ["Builder", "Const", "OnesVec", "ShapeMismatch", "check_tree_depth"]
