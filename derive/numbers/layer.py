"""One layer at a time: the backward pass of a single dense layer from its cache and upstream
gradient, as the courses test it (the Deep Learning Specialization's ``linear_backward`` and
``linear_activation_backward``, CS231n's ``affine_backward`` and ``relu_backward``).

Given A_prev, W, b, the activation's cache Z and the upstream dA (or dZ itself), it gives dZ, dW,
db and dA_prev, in either convention: a worked example of a one-layer network with no loss, whose
dA[1] is given (:mod:`derive.numbers.worked`). Columns (the course's) put 1/m in dW and db; rows
(CS231n's) do not, because CS231n's upstream ``dout`` carries it already (``--scale`` chooses).
CS231n's 1-D b and its (N, d1, d2) inputs are read as b of shape 1×M and x reshaped to N×D; the
results come back in the shapes given (``dx`` as x's, ``db`` as b's).

>>> import numpy as np
>>> r = layer_backward(np.array([[1.0, 2.0]]), np.array([[3.0]]), np.array([[0.0]]),
...                    dA=np.array([[1.0, 1.0]]), Z=np.array([[1.0, -1.0]]), activation="relu")
>>> r["dZ"].tolist(), r["dW"].tolist(), r["dA_prev"].tolist()
([[1.0, 0.0]], [[0.5]], [[3.0, 0.0]])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from derive.errors import SpecError
from derive.network.layout import LAYOUTS
from derive.network.spec import Network
from derive.numbers.worked import Worked, worked_example

OUTPUTS = {"dZ": ("dZ", 1), "dW": ("dW", 1), "db": ("db", 1), "dA_prev": ("dA", 0)}


@dataclass(frozen=True)
class LayerResult:
    """dZ, dW, db, dA_prev of one layer (``result["dW"]``), in the shapes given, and the worked
    example they come from (every step printed as ``derive numbers`` prints it)."""

    worked: Worked
    outputs: dict
    notes: tuple[str, ...] = field(default=())

    def __getitem__(self, name: str) -> np.ndarray:
        return self.outputs[name]


def _layout(convention: str):
    """The layout named ``convention`` (only the layout compares convention names)."""
    if convention not in LAYOUTS:
        raise SpecError(f"unknown convention {convention!r}; known: {', '.join(LAYOUTS)}")
    return LAYOUTS[convention]


def default_scale(convention: str) -> str:
    """mean for the course's columns (1/m in dW, db), sum for CS231n's rows (dout has it)."""
    return "mean" if _layout(convention).columns else "sum"


def layer_backward(A_prev, W=None, b=None, dA=None, *, Z=None, dZ=None, activation: str = "linear",
                   convention: str = "columns", scale: str | None = None) -> LayerResult:
    """The backward pass of one layer (module docstring). Without W and b only the activation's
    part is computed, dZ = dA ⊙ g′(Z) (CS231n's ``relu_backward(dout, x)``: A_prev unused, Z is x).
    """
    if dA is None and dZ is None:
        raise SpecError("give the upstream gradient dA (dout), or dZ itself")
    notes: list[str] = []
    columns = _layout(convention).columns
    x = np.asarray(A_prev if A_prev is not None else Z, dtype=float)
    x_shape = x.shape
    alone = W is None
    if alone:  # the activation alone: Z passes through an identity layer
        if Z is None:
            raise SpecError("the activation's backward needs its cache Z (CS231n's x)")
        Zm = np.asarray(Z, dtype=float)
        Zm = Zm.reshape(Zm.shape[0], -1) if not columns else Zm
        n = Zm.shape[0] if columns else Zm.shape[1]
        x, W, b, Z = Zm, np.eye(n), np.zeros((n, 1) if columns else (1, n)), Zm
        notes.append("no W, b: the activation's backward only, dZ = dA ⊙ g′(Z)")
        x_shape = x.shape
    W = np.asarray(W, dtype=float)
    if not columns and x.ndim > 2:  # CS231n: x of shape (N, d1, ..., dk) is N×D
        x = x.reshape(x.shape[0], -1)
        notes.append(f"x of shape {x_shape} read as {x.shape[0]}×{x.shape[1]} (CS231n's reshape); "
                     "dx comes back in x's shape")
    b_arr = np.asarray(b, dtype=float)
    if b_arr.ndim == 1:
        notes.append(f"b of shape ({b_arr.size},) read as {'a column' if columns else 'a row'}; "
                     "db comes back 1-D")
    n_out = W.shape[0] if columns else W.shape[1]
    n_in = W.shape[1] if columns else W.shape[0]
    net = Network(layers=[n_in, n_out], activations=[activation], loss=None,
                  convention=convention, scale=scale or default_scale(convention))
    values: dict = {"X": x, "W1": W, "b1": b_arr}
    for name, v in (("Z1", Z), ("dA1", dA), ("dZ1", dZ)):
        if v is not None:
            values[name] = np.asarray(v, dtype=float)
    w = worked_example(net, values)
    if alone:
        w = replace(w, steps=tuple(s for s in w.steps if s.key[0] not in ("dW", "db", "dA")
                                   or s.given))
    out = {}
    for name, key in OUTPUTS.items():
        try:
            out[name] = w.value(key)
        except KeyError:
            continue
    if "dA_prev" in out and out["dA_prev"].shape != x_shape and out["dA_prev"].size == np.prod(x_shape):
        out["dA_prev"] = out["dA_prev"].reshape(x_shape)
    if "db" in out and b_arr.ndim == 1:
        out["db"] = out["db"].reshape(-1)
    return LayerResult(replace(w, notes=(*w.notes, *notes)), out, tuple(notes))
