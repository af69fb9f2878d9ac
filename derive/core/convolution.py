r"""Correlation, convolution and pooling nodes on rank-4 tensors (the course's layout:
A (m, n_H, n_W, n_C), W (f, f, n_C_prev, n_C)). Each class holds its shape rule, its value
(one ``compute`` for numbers and for the SymPy form, see :mod:`derive.core.tensor`) and its
printing; the course's loops are vectorised over the examples and the channels, looping over the
f² filter offsets (a convolution) or over the output positions (pooling).

With s the stride and f the filter size:

- :class:`Correlate`: Z[i,h,w,c] = Σ_{a,b,k} X[i, s h + a, s w + b, k] W[a,b,k,c] (valid,
  strided; the course's ``conv_single_step`` summed over the slices);
- :class:`WeightCorrelate`: dW[a,b,k,c] = Σ_{i,h,w} X[i, s h + a, s w + b, k] dZ[i,h,w,c];
- :class:`Dilate`: dZ with s − 1 zeros between its entries, the strided transpose's first step;
- :class:`FullConvolve`: Y[i,y,x,k] = Σ_{a,b,c} D[i, y − a, x − b, c] W[a,b,k,c] (a full
  convolution: the correlation of D padded by f − 1 with the flipped filters W[f−1−a, f−1−b]);
- :class:`Pool`, :class:`PoolMask` (max: the window's argmax mask routes the gradient) and
  :class:`AvgSpread` (average: each window's gradient spread evenly, 1/f² each).

>>> import numpy as np
>>> from derive.core.tensor import TSym, tevaluate
>>> x, w = TSym("A", 0, (1, 4, 4, 1)), TSym("W", 1, (2, 2, 1, 1))
>>> Correlate(x, w, 2).shape
(1, 2, 2, 1)
>>> env = {("A", 0): np.arange(16.0).reshape(1, 4, 4, 1), ("W", 1): np.ones((2, 2, 1, 1))}
>>> tevaluate(Correlate(x, w, 2), env)[0, :, :, 0]
array([[10., 18.],
       [42., 50.]])
>>> Correlate(x, TSym("W", 1, (2, 2, 3, 1)), 1)
Traceback (most recent call last):
...
derive.errors.ShapeMismatch: correlation X and W[1]: (1×4×4×1) and (2×2×3×1) — X has 1 channels, W[1] ...
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.core.tensor import Tensor, TShape, Unary, concrete, mismatch


def out_size(n, f: int, s: int):
    """⌊(n − f)/s⌋ + 1, the number of window positions along an axis of size n."""
    return (n - f) // s + 1


def _rank4(op: str, *xs: Tensor) -> None:
    for x in xs:
        if len(x.shape) != 4:
            raise mismatch(op, x, None, "needs a rank-4 tensor")


def _windows(n_out: int, f: int, s: int):
    """The course's vert_start, vert_end for each output position."""
    return ((h, h * s, h * s + f) for h in range(n_out))


@dataclass(frozen=True)
class Correlate(Tensor):
    """The valid, strided cross-correlation of X (already padded) with the filters W (what the
    course and every framework call a convolution layer's forward map)."""

    arg: Tensor
    weights: Tensor
    stride: int

    def __post_init__(self):
        _rank4("correlation", self.arg, self.weights)
        _, h, w, c = self.arg.shape
        f1, f2, k, _ = self.weights.shape
        if str(c) != str(k):
            raise mismatch("correlation", self.arg, self.weights,
                           f"{self.arg.to_text()} has {c} channels, {self.weights.to_text()} "
                           f"expects {k} (its axis 2)")
        if f1 > h or f2 > w:
            raise mismatch("correlation", self.arg, self.weights, f"filter {f1}×{f2} larger than {h}×{w}")

    @property
    def shape(self) -> TShape:
        m_, h, w, _ = self.arg.shape
        f1, f2, _, c = self.weights.shape
        return (m_, out_size(h, f1, self.stride), out_size(w, f2, self.stride), c)

    def children(self):
        return (self.arg, self.weights)

    def compute(self, be, ev, env):
        x, W = ev(self.arg), ev(self.weights)
        shape = concrete(self.shape, be)
        out, s = be.zeros(shape), self.stride
        for a in range(W.shape[0]):
            for b in range(W.shape[1]):
                patch = x[:, a:a + s * (shape[1] - 1) + 1:s, b:b + s * (shape[2] - 1) + 1:s, :]
                out = out + patch @ W[a, b]
        return out

    def to_text(self) -> str:
        return f"corr({self.arg.to_text()}, {self.weights.to_text()}, s={self.stride})"

    def to_latex(self) -> str:
        return (rf"\operatorname{{corr}}_{{s={self.stride}}}\left({self.arg.to_latex()},\, "
                rf"{self.weights.to_latex()}\right)")


@dataclass(frozen=True)
class WeightCorrelate(Tensor):
    """dW: the correlation of the padded input X with dZ over the examples and positions,
    dW[a,b,k,c] = Σ_{i,h,w} X[i, s h + a, s w + b, k] dZ[i,h,w,c], shape (f, f, n_C_prev, n_C)."""

    arg: Tensor
    grad: Tensor
    stride: int
    size: int  # f

    def __post_init__(self):
        _rank4("weight correlation", self.arg, self.grad)
        m1, h, w, _ = self.arg.shape
        m2, nh, nw, _ = self.grad.shape
        need = (self.stride * (nh - 1) + self.size, self.stride * (nw - 1) + self.size)
        if str(m1) != str(m2) or need[0] > h or need[1] > w:
            raise mismatch("weight correlation", self.arg, self.grad,
                           f"{nh}×{nw} positions of stride {self.stride} and size {self.size} need "
                           f"at least {need[0]}×{need[1]} of the input, over the same examples")

    @property
    def shape(self) -> TShape:
        return (self.size, self.size, self.arg.shape[3], self.grad.shape[3])

    def children(self):
        return (self.arg, self.grad)

    def compute(self, be, ev, env):
        import numpy as np
        x, dz = ev(self.arg), ev(self.grad)
        f, s = self.size, self.stride
        nh, nw = dz.shape[1], dz.shape[2]
        out = be.zeros(concrete(self.shape, be))
        for a in range(f):
            for b in range(f):
                patch = x[:, a:a + s * (nh - 1) + 1:s, b:b + s * (nw - 1) + 1:s, :]
                out[a, b] = np.tensordot(patch, dz, axes=([0, 1, 2], [0, 1, 2]))
        return out

    def to_text(self) -> str:
        return f"corr_W({self.arg.to_text()}, {self.grad.to_text()}, s={self.stride})"

    def to_latex(self) -> str:
        return (rf"\operatorname{{corr}}^{{W}}_{{s={self.stride}}}\left({self.arg.to_latex()},\, "
                rf"{self.grad.to_latex()}\right)")


@dataclass(frozen=True)
class Dilate(Unary):
    """dZ dilated by the stride: entry (h, w) moved to (s h, s w), zeros between, the spatial
    size ``size`` = (n_H_prev + 2 pad − f + 1, …) so that the full convolution lands on the padded
    input's size (rows the strided windows never reached stay zero)."""

    arg: Tensor
    stride: int
    size: tuple[int, int]

    def __post_init__(self):
        _rank4("dilation", self.arg)
        _, h, w, _ = self.arg.shape
        for n, target in ((h, self.size[0]), (w, self.size[1])):
            if not (n - 1) * self.stride + 1 <= target < n * self.stride + 1:
                raise mismatch("dilation", self.arg, None,
                               f"{n} positions at stride {self.stride} do not span {target}")

    @property
    def shape(self) -> TShape:
        m_, _, _, c = self.arg.shape
        return (m_, self.size[0], self.size[1], c)

    def compute(self, be, ev, env):
        x = ev(self.arg)
        if self.stride == 1:
            return x
        out, s = be.zeros(concrete(self.shape, be)), self.stride
        out[:, : s * (x.shape[1] - 1) + 1:s, : s * (x.shape[2] - 1) + 1:s, :] = x
        return out

    def to_text(self) -> str:
        return self.arg.to_text() if self.stride == 1 else f"dilate({self.arg.to_text()}, {self.stride})"

    def to_latex(self) -> str:
        if self.stride == 1:
            return self.arg.to_latex()
        return rf"\operatorname{{dilate}}_{{{self.stride}}}\left({self.arg.to_latex()}\right)"


@dataclass(frozen=True)
class FullConvolve(Tensor):
    """The full convolution of D (m, H, W, n_C) with the filters: Y[i,y,x,k] =
    Σ_{a,b,c} D[i, y − a, x − b, c] W[a,b,k,c], shape (m, H + f − 1, W + f − 1, n_C_prev); the
    same as correlating D padded by f − 1 with the filters flipped (rot180) and their channel axes
    swapped."""

    arg: Tensor
    weights: Tensor

    def __post_init__(self):
        _rank4("full convolution", self.arg, self.weights)
        if str(self.arg.shape[3]) != str(self.weights.shape[3]):
            raise mismatch("full convolution", self.arg, self.weights,
                           f"{self.arg.to_text()} has {self.arg.shape[3]} channels, "
                           f"{self.weights.to_text()} makes {self.weights.shape[3]} (its axis 3)")

    @property
    def shape(self) -> TShape:
        m_, h, w, _ = self.arg.shape
        f1, f2, k, _ = self.weights.shape
        return (m_, h + f1 - 1, w + f2 - 1, k)

    def children(self):
        return (self.arg, self.weights)

    def compute(self, be, ev, env):
        d, W = ev(self.arg), ev(self.weights)
        f1, f2 = W.shape[0], W.shape[1]
        shape = concrete(self.shape, be)
        padded = be.zeros((d.shape[0], d.shape[1] + 2 * (f1 - 1), d.shape[2] + 2 * (f2 - 1), d.shape[3]))
        padded[:, f1 - 1:f1 - 1 + d.shape[1], f2 - 1:f2 - 1 + d.shape[2], :] = d
        out = be.zeros(shape)
        for a in range(f1):
            for b in range(f2):
                r, c = f1 - 1 - a, f2 - 1 - b
                out = out + padded[:, r:r + shape[1], c:c + shape[2], :] @ W[a, b].T
        return out

    def to_text(self) -> str:
        return f"fullconv({self.arg.to_text()}, {self.weights.to_text()})"

    def to_latex(self) -> str:
        return rf"{self.arg.to_latex()} \ast_{{\mathrm{{full}}}} {self.weights.to_latex()}"


# -- pooling -------------------------------------------------------------------------------------
def _pool_check(op: str, x: Tensor, f: int, s: int) -> None:
    _rank4(op, x)
    if f > x.shape[1] or f > x.shape[2] or f < 1 or s < 1:
        raise mismatch(op, x, None, f"a {f}×{f} window (stride {s}) does not fit")


@dataclass(frozen=True)
class Pool(Unary):
    """Max or average pooling over f×f windows at stride s, channel by channel."""

    arg: Tensor
    size: int
    stride: int
    mode: str  # "max" | "average"

    def __post_init__(self):
        _pool_check(f"{self.mode} pooling", self.arg, self.size, self.stride)

    @property
    def shape(self) -> TShape:
        m_, h, w, c = self.arg.shape
        return (m_, out_size(h, self.size, self.stride), out_size(w, self.size, self.stride), c)

    def compute(self, be, ev, env):
        x = ev(self.arg)
        shape = concrete(self.shape, be)
        out = be.zeros(shape)
        inv = be.scalar(sp.Rational(1, self.size ** 2))
        for h, v0, v1 in _windows(shape[1], self.size, self.stride):
            for w, h0, h1 in _windows(shape[2], self.size, self.stride):
                window = x[:, v0:v1, h0:h1, :]
                if self.mode == "max":
                    out[:, h, w, :] = be.window_max(window)[:, 0, 0, :]
                else:
                    out[:, h, w, :] = window.sum(axis=(1, 2)) * inv
        return out

    def to_text(self) -> str:
        name = "maxpool" if self.mode == "max" else "avgpool"
        return f"{name}({self.arg.to_text()}, f={self.size}, s={self.stride})"

    def to_latex(self) -> str:
        name = "maxpool" if self.mode == "max" else "avgpool"
        return (rf"\operatorname{{{name}}}_{{f={self.size},\,s={self.stride}}}"
                rf"\left({self.arg.to_latex()}\right)")


@dataclass(frozen=True)
class PoolMask(Tensor):
    """Max pooling's backward: each window's gradient dA[i,h,w,c] routed to the window's maximum,
    dA_prev[i, s h + a, s w + b, c] += [X[i, s h + a, s w + b, c] = max of the window] dA[i,h,w,c]
    (the course's ``create_mask_from_window``: a tie marks every maximal entry)."""

    grad: Tensor
    arg: Tensor  # the pool's input X
    size: int
    stride: int

    def __post_init__(self):
        _pool_check("max-pool mask", self.arg, self.size, self.stride)
        want = Pool(self.arg, self.size, self.stride, "max").shape
        if tuple(map(str, want)) != tuple(map(str, self.grad.shape)):
            raise mismatch("max-pool mask", self.grad, self.arg,
                           f"the gradient must have the pool's output shape {want}")

    @property
    def shape(self) -> TShape:
        return self.arg.shape

    def children(self):
        return (self.grad, self.arg)

    def compute(self, be, ev, env):
        import numpy as np
        x, d = ev(self.arg), ev(self.grad)
        out = be.zeros(concrete(self.shape, be))
        for h, v0, v1 in _windows(d.shape[1], self.size, self.stride):
            for w, h0, h1 in _windows(d.shape[2], self.size, self.stride):
                window = x[:, v0:v1, h0:h1, :]
                mask = np.where(window == be.window_max(window), 1, 0)
                out[:, v0:v1, h0:h1, :] = out[:, v0:v1, h0:h1, :] + mask * d[:, h:h + 1, w:w + 1, :]
        return out

    def to_text(self) -> str:
        return f"maxmask({self.arg.to_text()}, {self.grad.to_text()}, f={self.size}, s={self.stride})"

    def to_latex(self) -> str:
        return (rf"\operatorname{{maxmask}}_{{f={self.size},\,s={self.stride}}}"
                rf"\left({self.arg.to_latex()},\, {self.grad.to_latex()}\right)")


@dataclass(frozen=True)
class AvgSpread(Tensor):
    """Average pooling's backward: each window's gradient spread evenly over it,
    dA_prev[i, s h + a, s w + b, c] += dA[i,h,w,c] / f² (the course's ``distribute_value``)."""

    grad: Tensor
    size: int
    stride: int
    target: TShape  # the pool's input shape

    def __post_init__(self):
        _rank4("average spread", self.grad)
        m_, h, w, c = self.target
        want = (m_, out_size(h, self.size, self.stride), out_size(w, self.size, self.stride), c)
        if tuple(map(str, want)) != tuple(map(str, self.grad.shape)):
            raise mismatch("average spread", self.grad, None,
                           f"the gradient must have the pool's output shape {want}")

    @property
    def shape(self) -> TShape:
        return self.target

    def children(self):
        return (self.grad,)

    def compute(self, be, ev, env):
        d = ev(self.grad)
        out = be.zeros(concrete(self.shape, be))
        inv = be.scalar(sp.Rational(1, self.size ** 2))
        for h, v0, v1 in _windows(d.shape[1], self.size, self.stride):
            for w, h0, h1 in _windows(d.shape[2], self.size, self.stride):
                out[:, v0:v1, h0:h1, :] = out[:, v0:v1, h0:h1, :] + d[:, h:h + 1, w:w + 1, :] * inv
        return out

    def to_text(self) -> str:
        return f"avgspread({self.grad.to_text()}, f={self.size}, s={self.stride})"

    def to_latex(self) -> str:
        return (rf"\operatorname{{avgspread}}_{{f={self.size},\,s={self.stride}}}"
                rf"\left({self.grad.to_latex()}\right)")
