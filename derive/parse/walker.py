"""The whitelisted walk over the ``ast`` the text pre-pass produced: nodes into expressions.

Only these nodes are read: constants, the pre-pass's placeholders ``_pN``, binary and unary
operators, one-operator comparisons, ``.T``, ``x.shape[k]``, calls of ``_jx`` (juxtaposition),
of placeholders (activations, exp, log, sum), of ``float``, ``int``, ``len``, of ``np.<function>``
from a fixed list, and of the methods ``.sum``, ``.mean``, ``.dot``, ``.astype``, ``.transpose``,
``.copy``; a tuple only as np.ones's shape. Anything else is a ParseError at its position.

>>> from derive.network.spec import Network
>>> from derive.parse.text import parse
>>> from derive.parse.build import Builder
>>> text = "W2.T.dot(dZ2)"
>>> parse(Builder(Network(layers=[3, 3, 1]), text), 0, len(text)).shape
(3, m)
"""

from __future__ import annotations

import ast
from typing import Literal

import sympy as sp

from derive.errors import ParseError
from derive.network.spec import m
from derive.parse.bindings import Binding
from derive.parse.build import Builder, Const, OnesVec, Span, Value, is_indicator
from derive.parse.names import LayerIndex, Name, activation_name

METHODS = {"sum", "mean", "astype", "dot", "transpose", "copy", "reshape"}
NP_DTYPES = {"int64", "int32", "int_", "float64", "float32", "float_"}
FUNCTIONS = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "abs": sp.Abs, "cosh": sp.cosh}
COMPARE = {"greater": ">", "greater_equal": ">=", "less": "<", "less_equal": "<="}
Piece = tuple[str, int, int]  # emitted Python text and the input span it stands for
# What a placeholder _pN stands for: a quantity, ∂L/∂(quantity), an activation (with its layer
# index as written), a function such as exp, or m, e, 𝟙.
Entry = (tuple[Literal["sym", "grad", "act"], Name, LayerIndex | None]
         | tuple[Literal["func"], Name] | tuple[Literal["m", "e", "ones"]]
         | tuple[Literal["expr"], Binding] | tuple[Literal["l2"], str]
         | tuple[Literal["size"]])
KwValue = bool | int | None  # axis= and keepdims= values


class Walker:
    """Expressions from the nodes of the pre-pass's Python text; positions map back to the input."""

    def __init__(self, b: Builder, table: dict[str, Entry], pieces: list[Piece]):
        self.b, self.table = b, table
        self.ostart: list[int] = []
        self.oend: list[int] = []
        for text, s, e in pieces:
            self.ostart += [s] * len(text)
            self.oend += [e] * len(text)

    def span(self, node: ast.expr) -> Span:
        end = node.end_col_offset
        if end is None:  # ast.parse sets it on every node it makes
            end = node.col_offset + 1
        return (self.ostart[node.col_offset], self.oend[end - 1])

    def pos(self, node: ast.expr) -> int:
        return self.ostart[node.col_offset]

    def err(self, message: str, node: ast.expr) -> ParseError:
        return ParseError(message, self.pos(node), self.b.text)

    def ev(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            v = self.ev(node.operand)
            return self.b.negate(v, self.span(node), self.pos(node)) \
                if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            op = {ast.Gt: ">", ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<=", ast.Eq: "==",
                  ast.NotEq: "!="}.get(type(node.ops[0]))
            if op is not None:
                return self.b.compare(self.ev(node.left), op, self.ev(node.comparators[0]),
                                      self.span(node), self.pos(node))
        if isinstance(node, ast.Attribute) and node.attr == "T":
            return self.b.transpose(self.ev(node.value), self.span(node))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            k = self.literal(node.slice)
            if not isinstance(k, int) or isinstance(k, bool):
                raise self.err("x.shape takes a number: x.shape[0] or x.shape[1]", node)
            return self.b.dimension(self.ev(node.value.value), k, self.span(node), self.pos(node))
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.err(f"{type(node).__name__.lower()} is not allowed in a formula", node)

    def constant(self, node: ast.Constant) -> Value:
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.err(f"{v!r} is not a number", node)
        value = sp.Integer(v) if isinstance(v, int) else sp.Rational(repr(v)) \
            if v == v and abs(v) != float("inf") else None
        if value is None:
            raise self.err("a number too large to compute with", node)
        return self.b.const(value, self.span(node), self.pos(node))

    def name(self, node: ast.Name) -> Value:
        entry = self.table.get(node.id)
        if entry is None:
            raise self.err(f"{node.id} is only allowed as an argument (axis=1, keepdims=True, "
                           ".astype(float))", node)
        span, pos = self.span(node), self.pos(node)
        if entry[0] == "sym":
            _, name, index = entry
            return self.b.symbol(name.base, index, span, pos, lower=name.lower,
                                 counted=not name.bound)
        if entry[0] == "expr":
            return self.b.bound_expr(entry[1], span, pos)
        if entry[0] == "grad":
            _, name, index = entry
            q = self.b.symbol(name.base, index, span, pos, lower=name.lower)
            return self.b.gradient_of(q, span, pos)
        if entry[0] == "m":
            return self.b.const(m, span, pos)
        if entry[0] == "l2":  # lambd, reg, λ: the network's L2 strength
            return self.b.const(self.b.l2_strength(entry[1], pos), span, pos)
        if entry[0] == "e":
            return self.b.const(sp.E, span, pos)
        if entry[0] == "size":
            raise self.err(f"{self.b.src(span)} is read only as a size of .reshape(...)", node)
        if entry[0] == "ones":
            return OnesVec(False, self.b.src(span))
        raise self.err(f"{self.b.src(span)} needs an argument in parentheses", node)

    def binop(self, node: ast.BinOp) -> Value:
        a, c = self.ev(node.left), self.ev(node.right)
        span, pos, op, b = self.span(node), self.pos(node), node.op, self.b
        if isinstance(op, ast.Add | ast.Sub):
            return b.add(a, c, span, pos, minus=isinstance(op, ast.Sub))
        if isinstance(op, ast.Mult):
            return b.elementwise(a, c, span, pos, op="*")
        if isinstance(op, ast.Div):
            return b.divide(a, c, span, pos)
        if isinstance(op, ast.MatMult):
            return b.matmul(a, c, span, pos)
        if isinstance(op, ast.Pow):
            return b.power(a, c, span, pos)
        if isinstance(op, ast.Mod):
            return b.cdot(a, c, span, pos)
        raise self.err(f"the operator {type(op).__name__} is not allowed", node)

    # -- calls --------------------------------------------------------------------------------
    def literal(self, node: ast.expr) -> KwValue:
        """axis= / keepdims= values: an int, -int, True, False or None."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int | type(None)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and \
                isinstance(node.operand, ast.Constant) and type(node.operand.value) is int:
            return -node.operand.value
        if isinstance(node, ast.Name) and node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise self.err("expected a number, True, False or None here", node)

    def args(self, node: ast.Call, required: tuple[str, ...], optional: tuple[str, ...] = ()
             ) -> tuple[list[ast.expr], list[ast.expr | None]]:
        """The arguments ``required`` then ``optional``, by position or keyword: the required
        ones, and the optional ones (None where not given)."""
        names, n = required + optional, len(required)
        if len(node.args) > len(names) or len(node.args) < n and not node.keywords:
            raise self.err(f"expected {n} to {len(names)} arguments", node)
        out: dict[str | None, ast.expr] = dict(zip(names, node.args, strict=False))
        for kw in node.keywords:
            if kw.arg not in names or kw.arg in out:
                raise self.err(f"unexpected keyword argument {kw.arg}=", kw.value)
            out[kw.arg] = kw.value
        if any(r not in out for r in required):
            raise self.err(f"expected {n} argument(s)", node)
        return [out[r] for r in required], [out.get(o) for o in optional]

    def reduce(self, node: ast.Call, x: ast.expr, axis_node: ast.expr | None,
               keep_node: ast.expr | None, mean: bool, keep_default: bool) -> Value:
        axis = self.literal(axis_node) if axis_node is not None else None
        keep = self.literal(keep_node) if keep_node is not None else keep_default
        if axis_node is not None and axis is not None and not -2 <= axis <= 1:
            hint = " (Octave's sum(x, 2) is numpy's axis=1)" if axis == 2 else ""
            raise self.err(f"axis={axis}: a matrix has axes 0 and 1{hint}", axis_node)
        axis = axis % 2 if axis is not None else None
        v = self.ev(x)
        span, pos = self.span(node), self.pos(node)
        if mean:
            return self.b.mean(v, axis, bool(keep), span, pos)
        return self.b.total(v, axis, bool(keep), span, pos)

    def cast(self, node: ast.Call, v: Value, integer: bool) -> Value:
        if integer and not is_indicator(v) and not isinstance(v, Const):
            raise self.err("an integer cast would truncate these values; it is only read for "
                           "0/1 arrays such as (Z1 > 0)", node)
        return v

    def call(self, node: ast.Call) -> Value:
        f, span, pos, b = node.func, self.span(node), self.pos(node), self.b
        if isinstance(f, ast.Name) and f.id == "_jx":
            return b.juxtapose([(self.ev(a), self.span(a)) for a in node.args], pos)
        if isinstance(f, ast.Name) and f.id == "_nd":
            return self.cost_delta(node)
        if isinstance(f, ast.Name) and f.id in self.table:
            entry = self.table[f.id]
            if entry[0] == "act":
                (x,), _ = self.args(node, ("x",))
                return b.activation(entry[1], entry[2], self.ev(x), span, pos)
            if entry[0] == "func":
                return self.func(node, entry[1].base, keep_default=True)
        if isinstance(f, ast.Name) and f.id in ("float", "int", "len"):
            (x,), _ = self.args(node, ("x",))
            return b.scalar_of(f.id, self.ev(x), span, pos)
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np":
            return self.func(node, f.attr, keep_default=False)
        if isinstance(f, ast.Attribute) and f.attr in METHODS:
            return self.method(node, f.attr, f.value)
        raise self.err("this is not a function a formula may call", node)

    def cost_delta(self, node: ast.Call) -> Value:
        """Nielsen's network2.py ``(self.cost).delta(z, a, y)``: what its cost class returns for
        the network's loss (CrossEntropyCost: a − y; QuadraticCost, ½‖a − y‖²: (a − y) ⊙ σ′(z))."""
        span, pos, b = self.span(node), self.pos(node), self.b
        (z, a, y), _ = self.args(node, ("z", "a", "y"))
        loss = b.net.loss
        if loss not in ("bce", "ce", "half_mse"):
            raise self.err("(self.cost).delta(z, a, y) is network2.py's cost class: give the "
                           "network's loss, bce or ce (CrossEntropyCost: a - y) or half_mse "
                           "(QuadraticCost: (a - y) * sigmoid_prime(z))", node)
        diff = b.add(self.ev(a), self.ev(y), span, pos, minus=True)
        if loss != "half_mse":
            b.note(f"{b.src(span)} read as CrossEntropyCost.delta: a - y (the loss is {loss})")
            return diff
        b.note(f"{b.src(span)} read as QuadraticCost.delta: (a - y) ⊙ σ′(z) (the loss is "
               "half_mse)")
        prime = b.activation(Name("act", "sigmoid", prime=True, act=activation_name(
            "sigmoid").act), None, self.ev(z), span, pos)
        return b.elementwise(diff, prime, span, pos, op="*")

    def method(self, node: ast.Call, attr: str, obj: ast.expr) -> Value:
        span, pos = self.span(node), self.pos(node)
        if attr in ("sum", "mean"):
            _, (axis, keep) = self.args(node, (), ("axis", "keepdims"))
            return self.reduce(node, obj, axis, keep, attr == "mean", False)
        if attr == "dot":
            (other,), _ = self.args(node, ("b",))
            return self.b.matmul(self.ev(obj), self.ev(other), span, pos)
        if attr == "transpose":
            self.args(node, ())
            return self.b.transpose(self.ev(obj), span)
        if attr == "copy":
            self.args(node, ())
            return self.ev(obj)
        if attr == "reshape":  # CS231n's x.reshape(N, -1), dx.reshape(x.shape): 2-D already
            for a in node.args:
                size = isinstance(a, ast.Name) and self.table.get(a.id, ("",))[0] == "size"
                if not size and not isinstance(a, ast.Attribute | ast.Subscript | ast.Constant | ast.Tuple
                                               | ast.UnaryOp):
                    self.ev(a)
            v = self.ev(obj)
            dims = node.args[0].elts if len(node.args) == 1 and isinstance(node.args[0], ast.Tuple) \
                else node.args
            if len(dims) == 2 and isinstance(dims[0], ast.Constant) and dims[0].value == 1 and \
                    not (isinstance(dims[1], ast.Constant) and dims[1].value == 1) and \
                    not isinstance(v, Const | OnesVec) and v.shape[1] == m:
                # avg.reshape(1, n_h): a vector (one example, a column here) made one row
                self.b.note(f"{self.b.src(span)} read as {self.b.src(self.span(obj))}ᵀ: a vector "
                            "reshaped to one row is its transpose (one example: a column)")
                return self.b.transpose(v, span)
            self.b.note(f"{self.b.src(span)} read as {self.b.src(self.span(obj))}: a reshape "
                        "of a matrix to its own 2-D shape changes nothing (derive checks the "
                        "shape the formula has)")
            return v
        (dtype,), _ = self.args(node, ("dtype",))  # astype
        return self.cast(node, self.ev(obj), self.dtype(dtype, node))

    def dtype(self, dtype: ast.expr, node: ast.Call) -> bool:
        """float, int, np.float64, np.int64, ...: whether it is an integer type."""
        if isinstance(dtype, ast.Name) and dtype.id in ("float", "int"):
            return dtype.id == "int"
        if isinstance(dtype, ast.Attribute) and isinstance(dtype.value, ast.Name) and \
                dtype.value.id == "np" and dtype.attr in NP_DTYPES:
            return dtype.attr.startswith("int")
        raise self.err("the type is float, int or np.float64 / np.int64", node)

    def ones(self, shape: ast.expr, one: bool, span: Span, pos: int) -> Value:
        """np.ones(x.shape) like np.ones_like(x); np.ones((m, 1)) is 𝟙, np.ones((1, m)) 𝟙ᵀ."""
        b = self.b
        if isinstance(shape, ast.Attribute) and shape.attr == "shape":
            value = 1 if one else 0
            return b.pointwise(lambda x_: sp.Integer(value) + 0 * x_, [self.ev(shape.value)],
                               span, pos)
        dims = [self.ev(e) for e in shape.elts] if isinstance(shape, ast.Tuple) else []
        if one and len(dims) == 2 and all(isinstance(d, Const) for d in dims):
            values = [d.value for d in dims if isinstance(d, Const)]
            if values[1] == 1 and values[0] == m or values[0] == 1 and values[1] == m:
                b.uses_m = True
                return OnesVec(values[0] == 1, b.src(span))
        raise self.err(f"np.{'ones' if one else 'zeros'} is read for x.shape"
                       + (", (m, 1) (𝟙, a column of m ones) and (1, m)" if one else ""), shape)

    def func(self, node: ast.Call, name: str, keep_default: bool) -> Value:
        span, pos, b = self.span(node), self.pos(node), self.b
        if name in ("sum", "mean"):
            (x,), (axis, keep) = self.args(node, ("a",), ("axis", "keepdims"))
            if b.octave and axis is not None and node.args[1:2] == [axis]:  # sum(x, 2): 1-based
                k = self.literal(axis)
                if k not in (1, 2):
                    raise self.err("Octave's sum(x, dim) sums along dim 1 or 2", axis)
                axis = ast.copy_location(ast.Constant(int(k) - 1), axis)
            return self.reduce(node, x, axis, keep, name == "mean", keep_default)
        if name in ("ones", "zeros"):
            (shape,), _ = self.args(node, ("shape",))
            return self.ones(shape, name == "ones", span, pos)
        if name in ("maximum", "heaviside") or name in COMPARE:
            a, c = (self.ev(x) for x in self.args(node, ("a", "b"))[0])
            if name == "maximum":
                return b.maximum(a, c, span, pos)
            if name == "heaviside":
                return b.heaviside(a, c, span, pos)
            return b.compare(a, COMPARE[name], c, span, pos)
        if name in ("array", "asarray", "copy"):
            (x,), (copy, dtype) = self.args(node, ("x",), ("copy", "dtype"))
            if copy is not None:
                self.literal(copy)
            if dtype is not None:
                self.dtype(dtype, node)
            return self.ev(x)
        if name in ("dot", "matmul", "multiply", "divide", "add", "subtract", "power", "where",
                    "outer"):
            names = ("a", "b", "c") if name == "where" else ("a", "b")
            vals = [self.ev(a) for a in self.args(node, names)[0]]
            if name in ("dot", "matmul"):
                return b.matmul(vals[0], vals[1], span, pos)
            if name == "outer":  # of two vectors (one example): a bᵀ
                b.note(f"{b.src(span)} read as the outer product of two vectors, a bᵀ (one "
                       "example: each is a column)")
                return b.matmul(vals[0], b.transpose(vals[1], span), span, pos)
            if name == "multiply":
                return b.elementwise(vals[0], vals[1], span, pos, op="*")
            if name == "divide":
                return b.divide(vals[0], vals[1], span, pos)
            if name in ("add", "subtract"):
                return b.add(vals[0], vals[1], span, pos, minus=name == "subtract")
            if name == "power":
                return b.power(vals[0], vals[1], span, pos)
            return b.where(vals[0], vals[1], vals[2], span, pos)
        (x,), _ = self.args(node, ("x",))
        v = self.ev(x)
        if name == "square":
            return b.power(v, Const(sp.Integer(2)), span, pos)
        if name in FUNCTIONS:
            return b.pointwise(FUNCTIONS[name], [v], span, pos)
        if name == "tanh":
            return b.activation(activation_name("tanh"), None, v, span, pos)
        if name == "transpose":
            return b.transpose(v, span)
        if name in ("ones_like", "zeros_like"):
            value = 1 if name == "ones_like" else 0
            return b.pointwise(lambda x_: sp.Integer(value) + 0 * x_, [v], span, pos)
        if name in ("array", "asarray"):
            return v
        return self.cast(node, v, name.startswith("int"))

