r"""Tensors of any rank: the expression language of convolutional layers.

The matrix language (:mod:`derive.core.matrix`) is two-dimensional: every node's shape is
(rows, cols) and the dense engine's sizes are ``net.dim(l)``. A convolutional layer's
quantities are rank 4 in the Deep Learning Specialization's layout: A (m, n_H, n_W, n_C),
W (f, f, n_C_prev, n_C), b (1, 1, 1, n_C). These nodes carry such tensors. As in
:mod:`derive.core.node`, each node type is one class holding its **shape rule** (checked in
``__post_init__``, a :class:`~derive.errors.ShapeMismatch` naming the operation, both operands
and both shapes), its **value** (``compute``, written once against a :class:`TensorBackend`),
its **SymPy form** (the same ``compute`` over object arrays of SymPy expressions: the
:class:`SympyTensors` backend, so the proof differentiates exactly what the numbers evaluate)
and its **printing** (``to_text``, ``to_latex``).

This module holds the leaf, the element-wise nodes, the index sums, padding and cropping and the
flatten/unflatten pair; :mod:`derive.core.convolution` holds the correlation, convolution and
pooling nodes.

>>> import numpy as np
>>> x = TSym("A", 0, (2, 3, 3, 1))
>>> Pad(x, 1).shape
(2, 5, 5, 1)
>>> print(TSum(Pad(x, 1), (0, 1, 2)))
Σ_{i,h,w} pad(X, 1)
>>> tevaluate(TSum(x, (0, 1, 2)), {("A", 0): np.ones((2, 3, 3, 1))}).ravel()
array([18.])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import sympy as sp

from derive.core.names import latex_name, text_name
from derive.core.tensor_backend import NumpyTensors, SympyTensors, TensorBackend
from derive.errors import ShapeMismatch

if TYPE_CHECKING:
    import numpy as np

    from derive.catalogue.rules import Activation

__all__ = ["AXES", "AddBias", "Crop", "Flatten", "NumpyTensors", "Pad", "SympyTensors", "TAct",
           "TDeriv", "THadamard", "TScale", "TShape", "TSum", "TSym", "Tensor", "TensorBackend",
           "Unflatten", "concrete", "mismatch", "tevaluate"]

TShape = tuple[Any, ...]  # ints (or SymPy sizes: m) per axis
AXES = ("i", "h", "w", "c")  # the course's index letters for (m, n_H, n_W, n_C)


def _fmt(shape: TShape) -> str:
    return "×".join(str(d) for d in shape)


def mismatch(op: str, left: Tensor, right: Tensor | None, why: str) -> ShapeMismatch:
    """The shape error of ``op`` between two operands (or one)."""
    other = right if right is not None else left
    return ShapeMismatch(op, left.to_text(), other.to_text(), left.shape, other.shape, why)


def concrete(shape: TShape, be: TensorBackend) -> tuple[int, ...]:
    """A shape's sizes as ints (m from the backend)."""
    return tuple(int(sp.sympify(d, strict=True).subs(be.sizes)) for d in shape)


def tevaluate(expr: Tensor, env: Mapping, backend: TensorBackend | None = None) -> np.ndarray:
    """The value of ``expr``: ``env`` maps (base, layer) to arrays; each node evaluated once."""
    be = backend or NumpyTensors()
    memo: dict[int, Any] = {}

    def ev(node: Tensor) -> Any:
        key = id(node)
        if key not in memo:
            memo[key] = node.compute(be, ev, env)
        return memo[key]

    return ev(expr)


# -- the base and the leaf ---------------------------------------------------------------------
class Tensor:
    """Base of the tensor nodes (frozen dataclasses with a ``shape``)."""

    if TYPE_CHECKING:
        @property
        def shape(self) -> TShape: ...

    text_prec: ClassVar[int] = 9  # 1 sums, 2 ⊙, 9 names and calls

    def children(self) -> tuple[Tensor, ...]:
        return ()

    def walk(self):
        yield self
        for c in self.children():
            yield from c.walk()

    def compute(self, be: TensorBackend, ev: Callable[[Tensor], Any], env: Mapping) -> Any:
        raise TypeError(f"cannot evaluate {type(self).__name__}")

    def to_sympy(self, env: Mapping, sizes: Mapping | None = None) -> np.ndarray:
        """The SymPy form: this node over ``env``'s SymPy entries, an object array."""
        return tevaluate(self, env, SympyTensors(sizes))

    def to_text(self) -> str:
        raise TypeError(type(self).__name__)

    def to_latex(self) -> str:
        raise TypeError(type(self).__name__)

    def __str__(self) -> str:
        return self.to_text()


class Unary(Tensor):
    """A node of one tensor, ``arg``: its child, its shape (the argument's where the node does not
    say otherwise) and, for a node with a ``name``, its print ``name(arg)``."""

    if TYPE_CHECKING:
        arg: Tensor
    name: ClassVar[str] = ""

    @property
    def shape(self) -> TShape:
        return self.arg.shape

    def children(self):
        return (self.arg,)

    def to_text(self) -> str:
        return f"{self.name}({self.arg.to_text()})"

    def to_latex(self) -> str:
        return rf"\operatorname{{{self.name}}}\left({self.arg.to_latex()}\right)"


def _wrap(x: Tensor, need: int, latex: bool = False) -> str:
    s = x.to_latex() if latex else x.to_text()
    if x.text_prec >= need:
        return s
    return rf"\left({s}\right)" if latex else f"({s})"


@dataclass(frozen=True)
class TSym(Tensor):
    """A named tensor: ``TSym("W", 1, (3, 3, 2, 4))`` is W[1]."""

    base: str
    layer: int | None
    shape: TShape

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.base, self.layer)

    def compute(self, be, ev, env):
        try:
            return env[self.key]
        except KeyError:
            raise KeyError(f"no value for {self.to_text()}") from None

    def to_text(self) -> str:
        return text_name(self.base, self.layer)

    def to_latex(self) -> str:
        return latex_name(self.base, self.layer)


# -- element-wise --------------------------------------------------------------------------------
@dataclass(frozen=True)
class THadamard(Tensor):
    """a ⊙ b, entry by entry (equal shapes)."""

    left: Tensor
    right: Tensor

    def __post_init__(self):
        if tuple(map(str, self.left.shape)) != tuple(map(str, self.right.shape)):
            raise mismatch("element-wise product", self.left, self.right,
                           "an element-wise product needs equal shapes")

    @property
    def shape(self) -> TShape:
        return self.left.shape

    def children(self):
        return (self.left, self.right)

    def compute(self, be, ev, env):
        return ev(self.left) * ev(self.right)

    text_prec = 2

    def to_text(self) -> str:
        return f"{_wrap(self.left, 2)} ⊙ {_wrap(self.right, 3)}"

    def to_latex(self) -> str:
        return rf"{_wrap(self.left, 2, True)} \odot {_wrap(self.right, 3, True)}"


@dataclass(frozen=True)
class AddBias(Tensor):
    """z + b with b (1, 1, 1, n_C) broadcast over the examples and the positions."""

    arg: Tensor
    bias: Tensor

    def __post_init__(self):
        s, b = self.arg.shape, self.bias.shape
        if len(b) != len(s) or any(str(d) != "1" for d in b[:-1]) or str(b[-1]) != str(s[-1]):
            raise mismatch("bias addition", self.arg, self.bias,
                           f"b must be (1, 1, 1, {s[-1]}): one bias per channel")

    @property
    def shape(self) -> TShape:
        return self.arg.shape

    def children(self):
        return (self.arg, self.bias)

    def compute(self, be, ev, env):
        return ev(self.arg) + ev(self.bias)

    text_prec = 1

    def to_text(self) -> str:
        return f"{self.arg.to_text()} + {_wrap(self.bias, 2)}"

    def to_latex(self) -> str:
        return f"{self.arg.to_latex()} + {_wrap(self.bias, 2, True)}"


@dataclass(frozen=True)
class TAct(Unary):
    """g(Z), entry by entry (an element-wise activation of the catalogue)."""

    activation: Activation
    arg: Tensor

    def compute(self, be, ev, env):
        return be.act(self.activation, ev(self.arg))

    def to_text(self) -> str:
        return f"{self.activation.text}({self.arg.to_text()})"

    def to_latex(self) -> str:
        return rf"{self.activation.latex}\left({self.arg.to_latex()}\right)"


@dataclass(frozen=True)
class TDeriv(Unary):
    """g′(Z), entry by entry (the catalogue's textbook derivative, written in z)."""

    activation: Activation
    arg: Tensor

    def compute(self, be, ev, env):
        return be.deriv(self.activation, ev(self.arg))

    def to_text(self) -> str:
        return f"{self.activation.text}′({self.arg.to_text()})"

    def to_latex(self) -> str:
        return rf"{self.activation.latex}^{{\prime}}\left({self.arg.to_latex()}\right)"


@dataclass(frozen=True)
class TScale(Unary):
    """c · x for a scalar c such as 1/m (m taken from the backend's sizes)."""

    factor: sp.Expr
    arg: Tensor

    def compute(self, be, ev, env):
        return be.scalar(self.factor) * ev(self.arg)

    text_prec = 3

    def to_text(self) -> str:
        return f"({sp.sstr(self.factor)}) {_wrap(self.arg, 3)}"

    def to_latex(self) -> str:
        return rf"{sp.latex(self.factor)}\, {_wrap(self.arg, 3, True)}"


# -- index sums ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TSum(Unary):
    """Σ over ``axes`` (kept as size 1, numpy's keepdims): db = Σ_{i,h,w} dZ is (1, 1, 1, n_C)."""

    arg: Tensor
    axes: tuple[int, ...]

    def __post_init__(self):
        if not self.axes or any(not 0 <= a < len(self.arg.shape) for a in self.axes):
            raise mismatch("index sum", self.arg, None, f"axes {self.axes} out of range")

    @property
    def shape(self) -> TShape:
        return tuple(1 if k in self.axes else d for k, d in enumerate(self.arg.shape))

    def compute(self, be, ev, env):
        return ev(self.arg).sum(axis=self.axes, keepdims=True)

    def _letters(self) -> str:
        return ",".join(AXES[a] if len(self.arg.shape) == 4 else f"k{a}" for a in self.axes)

    text_prec = 3

    def to_text(self) -> str:
        return f"Σ_{{{self._letters()}}} {_wrap(self.arg, 3)}"

    def to_latex(self) -> str:
        return rf"\sum_{{{self._letters()}}} {_wrap(self.arg, 3, True)}"


# -- padding and cropping of the spatial axes (1 and 2) ------------------------------------------
def _spatial(op: str, x: Tensor) -> None:
    if len(x.shape) != 4:
        raise mismatch(op, x, None, "needs a rank-4 tensor (m, n_H, n_W, n_C)")


@dataclass(frozen=True)
class Pad(Unary):
    """Zero padding of ``pad`` rows and columns on each side of n_H and n_W (``np.pad`` with
    ``((0, 0), (p, p), (p, p), (0, 0))``, the course's ``zero_pad``)."""

    arg: Tensor
    pad: int

    def __post_init__(self):
        _spatial("zero padding", self.arg)

    @property
    def shape(self) -> TShape:
        m_, h, w, c = self.arg.shape
        return (m_, h + 2 * self.pad, w + 2 * self.pad, c)

    def compute(self, be, ev, env):
        x = ev(self.arg)
        if self.pad == 0:
            return x
        p = self.pad
        out = be.zeros(concrete(self.shape, be))
        out[:, p:p + x.shape[1], p:p + x.shape[2], :] = x
        return out

    def to_text(self) -> str:
        return f"pad({self.arg.to_text()}, {self.pad})" if self.pad else self.arg.to_text()

    def to_latex(self) -> str:
        if not self.pad:
            return self.arg.to_latex()
        return rf"\operatorname{{pad}}_{{{self.pad}}}\left({self.arg.to_latex()}\right)"


@dataclass(frozen=True)
class Crop(Unary):
    """The padding taken off again: ``x[:, p:p+n_H, p:p+n_W, :]`` (the course's
    ``dA_prev_pad[pad:-pad, pad:-pad, :]``), to the shape ``size`` = (n_H, n_W)."""

    arg: Tensor
    pad: int
    size: tuple[int, int]

    def __post_init__(self):
        _spatial("crop", self.arg)
        _, h, w, _ = self.arg.shape
        if self.pad + self.size[0] > h or self.pad + self.size[1] > w:
            raise mismatch("crop", self.arg, None,
                           f"[{self.pad}:{self.pad + self.size[0]}, {self.pad}:"
                           f"{self.pad + self.size[1]}] does not fit in {h}×{w}")

    @property
    def shape(self) -> TShape:
        m_, _, _, c = self.arg.shape
        return (m_, self.size[0], self.size[1], c)

    def compute(self, be, ev, env):
        p, (h, w) = self.pad, self.size
        return ev(self.arg)[:, p:p + h, p:p + w, :]

    def _identity(self) -> bool:
        """No padding to take off: the argument already has the crop's shape (printed alone)."""
        return self.pad == 0 and tuple(map(str, self.arg.shape[1:3])) == tuple(map(str, self.size))

    def to_text(self) -> str:
        return self.arg.to_text() if self._identity() else f"crop({self.arg.to_text()}, {self.pad})"

    def to_latex(self) -> str:
        if self._identity():
            return self.arg.to_latex()
        return rf"\operatorname{{crop}}_{{{self.pad}}}\left({self.arg.to_latex()}\right)"


# -- flatten into a dense head (the course's columns: one example per column) ---------------------
@dataclass(frozen=True)
class Flatten(Unary):
    """(m, n_H, n_W, n_C) → (n_H·n_W·n_C, m): ``A.reshape(m, -1).T``, one example per column
    (the dense head's columns convention), entries in numpy's row-major order (h, w, c)."""

    arg: Tensor

    def __post_init__(self):
        _spatial("flatten", self.arg)

    @property
    def shape(self) -> TShape:
        m_, h, w, c = self.arg.shape
        return (h * w * c, m_)

    def compute(self, be, ev, env):
        x = ev(self.arg)
        return x.reshape(x.shape[0], -1).T

    name = "flatten"


@dataclass(frozen=True)
class Unflatten(Unary):
    """(n, m) → (m, n_H, n_W, n_C), the inverse of :class:`Flatten`: ``dA.T.reshape(shape)``."""

    arg: Tensor
    target: TShape  # (m, n_H, n_W, n_C)

    def __post_init__(self):
        n, m_ = self.arg.shape
        _, h, w, c = self.target
        if str(sp.sympify(h * w * c, strict=True)) != str(n) or str(self.target[0]) != str(m_):
            raise mismatch("unflatten", self.arg, None,
                           f"{n}×{m_} cannot be reshaped to {_fmt(self.target)}")

    @property
    def shape(self) -> TShape:
        return self.target

    def compute(self, be, ev, env):
        x = ev(self.arg)
        return x.T.reshape(concrete(self.target, be))

    name = "unflatten"
