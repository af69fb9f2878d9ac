"""The forward model of a network, numerically (numpy, batched) and symbolically (SymPy matrices).

This is the network as defined (Z = W A + b, A = g(Z), J = scale · Σ ℓ): the proofs differentiate
it, independently of the backward formulas.

>>> from derive.network.spec import Network
>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> inst = random_instance(net, seed=0)
>>> cache = forward(net, inst.params, inst.X)
>>> cache["A", 2].shape, round(float(cost(net, cache, inst.Y)), 6) > 0
((1, 4), True)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.catalogue import rules
from derive.network.spec import Network


# -- stand-ins for a generic activation or loss: smooth, non-trivial, different per layer -------
@functools.cache
def standin_activation(layer: int) -> rules.Activation:
    """What a generic g[l] is replaced by for numbers: g(z) = tanh(z) + z/(l + 2)."""
    forward = f"tanh(z) + z/{layer + 2}"
    derivative = sp.sstr(sp.diff(sp.tanh(rules.z) + rules.z / (layer + 2), rules.z))
    return rules.Activation(
        name=f"g{layer}", aliases=(), kind="elementwise", text=f"g[{layer}]",
        latex=f"g^{{[{layer}]}}", derivative_text="", derivative_numpy="",
        source={"forward": forward, "derivative": derivative, "range": ["-oo", "oo"], "kinks": [],
                "derivative_bound": f"1 + 1/{layer + 2}"},
    )


@functools.cache
def standin_loss() -> rules.Loss:
    """What a generic per-example loss ℓ is replaced by for numbers: log cosh(a − y) + (a − y)²/4."""
    return rules.Loss(
        name="ℓ", aliases=(), title="generic loss (numeric stand-in)", latex=r"\ell", text="ℓ",
        natural_output="", assumes="",
        source={"per_unit": "log(cosh(a - y)) + (a - y)**2/4", "a_range": ["-oo", "oo"],
                "y_range": ["-oo", "oo"]},
    )


def activation_or_standin(net: Network, layer: int) -> rules.Activation:
    return net.activation(layer) or standin_activation(layer)


def loss_or_standin(net: Network) -> rules.Loss:
    return net.loss_entry or standin_loss()


def standins(net: Network) -> dict[int, rules.Activation]:
    return {l: standin_activation(l) for l in range(1, net.L + 1) if net.activation(l) is None}


# -- numbers -------------------------------------------------------------------------------------
def unit_axis(net: Network) -> int:
    """The axis that runs over units: rows (-2) in the columns convention, columns (-1) in rows."""
    return -2 if net.convention == "columns" else -1


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def apply_activation(net: Network, layer: int, Z: np.ndarray) -> np.ndarray:
    act = activation_or_standin(net, layer)
    if act.kind == "softmax":
        return softmax(Z, unit_axis(net))
    return np.asarray(act.numpy_forward(Z), dtype=float) * np.ones_like(Z)


def forward(net: Network, params: dict, X: np.ndarray, start: int = 1, start_value=None) -> dict:
    """Forward pass. ``params[("W", l)]``, ``params[("b", l)]``; arrays may be batched (..., r, c).

    With ``start=l`` and ``start_value`` given as ``("Z", Zl)`` or ``("A", Al)`` the pass starts
    there (how the proofs perturb an intermediate quantity).
    """
    cache: dict = {("A", 0): X}
    A = X
    l = start
    if start_value is not None:
        kind, value = start_value
        if kind == "Z":
            cache["Z", l] = value
            A = apply_activation(net, l, value)
            cache["A", l] = A
            l += 1
        else:  # ("A", l): the activation of layer l
            cache["A", l] = value
            A = value
            l += 1
    for layer in range(l, net.L + 1):
        W, b = params["W", layer], params["b", layer]
        Z = (W @ A if net.convention == "columns" else A @ W) + b
        A = apply_activation(net, layer, Z)
        cache["Z", layer], cache["A", layer] = Z, A
    return cache


def cost(net: Network, cache: dict, Y: np.ndarray) -> np.ndarray:
    """J = (1/m) Σ ℓ (scale mean) or Σ ℓ (scale sum); batched over leading axes."""
    A = cache["A", net.L]
    per = np.asarray(loss_or_standin(net).numpy_per_unit(A, Y), dtype=float)
    total = np.sum(per, axis=(-2, -1))
    if net.scale == "mean":
        total = total / example_count(net, Y)
    return total


def example_count(net: Network, X: np.ndarray) -> int:
    return X.shape[-1] if net.convention == "columns" else X.shape[-2]


@dataclass
class Instance:
    """Concrete sizes and values for every input and parameter."""

    sizes: tuple[int, ...]
    m: int
    X: np.ndarray
    Y: np.ndarray
    params: dict

    def env(self) -> dict:
        return {("X", None): self.X, ("Y", None): self.Y, **self.params}


DEFAULT_SIZES = (3, 4, 2, 5, 3, 4, 2, 3)


def concrete_sizes(net: Network, sizes=None) -> tuple[int, ...]:
    """The network's sizes with symbolic ones filled by distinct small numbers (2..5)."""
    fill = sizes or [DEFAULT_SIZES[i % len(DEFAULT_SIZES)] for i in range(net.L + 1)]
    out = []
    for l, s in enumerate(net.layers):
        s = s if s is not None else fill[l]
        act = net.activation(l) if l >= 1 else None
        if act is not None and act.kind == "softmax" and s < 2:
            s = 2
        out.append(int(s))
    return tuple(out)


def random_instance(
    net: Network, seed: int = 0, m: int = 4, sizes=None, margin: float = 0.05
) -> Instance:
    """A random, well-scaled instance with no pre-activation within ``margin`` of a kink (ReLU
    at 0), so central differences do not straddle one: layer by layer, the units that come too
    close are drawn again (their row of W and their bias), which works at any width."""
    rng = np.random.default_rng(seed)
    n = concrete_sizes(net, sizes)
    cols = net.convention == "columns"
    X = rng.normal(0.0, 1.0, size=(n[0], m) if cols else (m, n[0]))
    params: dict = {}
    A = X
    for l in range(1, net.L + 1):
        shape_w = (n[l], n[l - 1]) if cols else (n[l - 1], n[l])
        shape_b = (n[l], 1) if cols else (1, n[l])
        W = rng.normal(0.0, 1.0 / np.sqrt(n[l - 1]), size=shape_w)
        b = rng.normal(0.0, 0.3, size=shape_b)
        act = net.activation(l)
        kinks = [float(k) for k in act.kinks] if act is not None else []
        for _ in range(200):
            Z = (W @ A if cols else A @ W) + b
            near = np.zeros(n[l], dtype=bool)
            for k in kinks:
                near |= np.any(np.abs(Z - k) < margin, axis=1 if cols else 0)
            if not near.any():
                break
            count = int(near.sum())
            if cols:
                W[near] = rng.normal(0.0, 1.0 / np.sqrt(n[l - 1]), size=(count, n[l - 1]))
                b[near] = rng.normal(0.0, 0.3, size=(count, 1))
            else:
                W[:, near] = rng.normal(0.0, 1.0 / np.sqrt(n[l - 1]), size=(n[l - 1], count))
                b[:, near] = rng.normal(0.0, 0.3, size=(1, count))
        else:
            raise RuntimeError(f"layer {l}: could not draw units away from the activation's kinks")
        params["W", l], params["b", l] = W, b
        A = apply_activation(net, l, Z)
    Y = _random_targets(net, rng, n[-1], m)
    return Instance(n, m, X, Y, params)


def _random_targets(net: Network, rng, n_out: int, m: int) -> np.ndarray:
    shape = (n_out, m) if net.convention == "columns" else (m, n_out)
    loss = net.loss
    if loss == "ce":
        Y = rng.dirichlet(np.ones(n_out), size=m)  # m × n_out, each row sums to 1
        return Y.T.copy() if net.convention == "columns" else Y
    if loss == "bce":
        return rng.uniform(0.05, 0.95, size=shape)
    return rng.normal(0.0, 1.0, size=shape)


# -- symbols -------------------------------------------------------------------------------------
def symbol_matrix(name: str, rows: int, cols: int) -> sp.Matrix:
    """A matrix of real SymPy symbols ``name_i_j``."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}_{j}", real=True))


def sympy_activation(net: Network, layer: int, Z: sp.Matrix, generic: bool) -> sp.Matrix:
    """A = g(Z) on SymPy matrices; ``generic`` (or a generic layer) uses an undefined g_l."""
    act = net.activation(layer)
    if act is not None and act.kind == "softmax":
        return sympy_softmax(Z, columns=net.convention == "columns")
    if act is None or generic:
        return Z.applyfunc(sp.Function(f"g{layer}"))
    return Z.applyfunc(lambda e: act.forward.subs(rules.z, e))


def sympy_softmax(Z: sp.Matrix, columns: bool) -> sp.Matrix:
    if not columns:
        return sympy_softmax(Z.T, True).T
    out = sp.zeros(Z.rows, Z.cols)
    for t in range(Z.cols):
        denom = sum(sp.exp(Z[k, t]) for k in range(Z.rows))
        for i in range(Z.rows):
            out[i, t] = sp.exp(Z[i, t]) / denom
    return out
