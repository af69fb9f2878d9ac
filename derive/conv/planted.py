"""Planted mistakes: the derived CNN formulas with one classic error put in, node by node, so a
gradient check can be seen to fail on each (:mod:`derive.conv.gradcheck`).

Each mistake rewrites the derivation's formula trees (:mod:`derive.core.convolution`,
:mod:`derive.core.tensor`) where its node occurs, and nowhere else:

- ``unflipped_filters``: dA_prev's full convolution with the filters rotated by 180° first, so it
  correlates with W as it stands instead of the flipped W (the course's loop adds
  ``W[::-1, ::-1, :, c] * dZ[i, h, w, c]``);
- ``pad_off_by_one``: the padding cropped one row and column early,
  ``dA_prev_pad[pad-1:-pad-1, pad-1:-pad-1, :]`` for ``[pad:-pad, pad:-pad, :]``;
- ``missing_stride``: the windows at h, w instead of s·h, s·w (``vert_start = h``), in dW's
  correlation and in dA_prev (dZ placed without the stride's spacing);
- ``average_without_scale``: average pooling's gradient spread over the window without the 1/f².

>>> import numpy as np
>>> from derive.core.convolution import AvgSpread
>>> from derive.core.tensor import TSym, tevaluate
>>> spread = AvgSpread(TSym("dA", 2, (1, 1, 1, 1)), 2, 2, (1, 2, 2, 1))
>>> wrong = MISTAKES["average_without_scale"].apply(spread)
>>> tevaluate(wrong, {("dA", 2): np.ones((1, 1, 1, 1))}).ravel()
array([1., 1., 1., 1.])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from derive.core.convolution import AvgSpread, Dilate, FullConvolve, WeightCorrelate
from derive.core.tensor import Crop, Tensor, TScale, TShape, Unary, concrete


@dataclass(frozen=True)
class Rot180(Unary):
    """The filters rotated by 180° in their two spatial axes: W[f−1−a, f−1−b, k, c]."""

    arg: Tensor

    def compute(self, be, ev, env):
        return ev(self.arg)[::-1, ::-1, :, :]

    name = "rot180"


@dataclass(frozen=True)
class Undilated(Unary):
    """dZ placed at the top left of a ``size`` grid without the stride's spacing (zeros after):
    what the course's loop computes with ``vert_start = h`` in place of ``stride * h``."""

    arg: Tensor
    size: tuple[int, int]

    @property
    def shape(self) -> TShape:
        m_, _, _, c = self.arg.shape
        return (m_, self.size[0], self.size[1], c)

    def compute(self, be, ev, env):
        x = ev(self.arg)
        out = be.zeros(concrete(self.shape, be))
        out[:, :x.shape[1], :x.shape[2], :] = x
        return out

    name = "undilated"


def rewrite(node: Tensor, fn: Callable[[Tensor], Tensor | None]) -> Tensor:
    """``node`` with every subtree ``fn`` replaces (it returns the replacement, or None to look
    inside) replaced; the other nodes rebuilt only where a child changed (shape rules rerun)."""
    new = fn(node)
    if new is not None:
        return new
    changes = {}
    for f in dataclasses.fields(node):  # type: ignore[arg-type]  # every node is a dataclass
        value = getattr(node, f.name)
        if isinstance(value, Tensor):
            changed = rewrite(value, fn)
            if changed is not value:
                changes[f.name] = changed
    return dataclasses.replace(node, **changes) if changes else node  # type: ignore[type-var]


@dataclass(frozen=True)
class Mistake:
    """A named mistake: its one-line description, what a network needs to have it, the rewrite."""

    name: str
    title: str
    needs: str  # "a conv2d layer with pad ≥ 1"
    replace: Callable[[Tensor], Tensor | None]

    def apply(self, node: Tensor) -> Tensor:
        return rewrite(node, self.replace)


def _unflipped(n: Tensor) -> Tensor | None:
    return FullConvolve(n.arg, Rot180(n.weights)) if isinstance(n, FullConvolve) else None


def _crop_early(n: Tensor) -> Tensor | None:
    return dataclasses.replace(n, pad=n.pad - 1) if isinstance(n, Crop) and n.pad >= 1 else None


def _no_stride(n: Tensor) -> Tensor | None:
    if isinstance(n, WeightCorrelate) and n.stride > 1:
        return dataclasses.replace(n, stride=1)
    if isinstance(n, Dilate) and n.stride > 1:
        return Undilated(n.arg, n.size)
    return None


def _no_scale(n: Tensor) -> Tensor | None:
    return TScale(sp.Integer(n.size ** 2), n) if isinstance(n, AvgSpread) else None


MISTAKES: dict[str, Mistake] = {m.name: m for m in (
    Mistake("unflipped_filters", "unflipped filters in dA_prev (W[::-1, ::-1] in the loop)",
            "a conv2d layer", _unflipped),
    Mistake("pad_off_by_one", "the pad cropped one off (dA_prev_pad[pad-1:-pad-1, pad-1:-pad-1])",
            "a conv2d layer with pad ≥ 1", _crop_early),
    Mistake("missing_stride", "the stride left out (vert_start = h, not stride * h)",
            "a conv2d layer with stride ≥ 2", _no_stride),
    Mistake("average_without_scale", "average pooling's gradient without the 1/f²",
            "an average pool layer", _no_scale),
)}
