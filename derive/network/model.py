"""The forward model of a network, numerically (numpy, batched) and symbolically (SymPy matrices).

This is the network as defined (each layer's own forward definitions, Z = W A + b, A = g(Z) for a
dense layer; J = scale · Σ ℓ): the proofs differentiate it, independently of the backward formulas.

>>> from derive.network.spec import Network
>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> inst = random_instance(net, seed=0)
>>> cache = forward(net, inst.params, inst.X)
>>> cache["A", 2].shape, round(float(cost(net, cache, inst.Y)), 6) > 0
((1, 4), True)
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy as sp

from derive.catalogue import rules
from derive.core import expr as E
from derive.core.evaluation import numpy_softmax, sympy_softmax
from derive.core.expr import as_sympy, evaluate
from derive.errors import DeriveError
from derive.layers.base import Definition
from derive.limits import FLOAT, Limit, require
from derive.network.spec import Network, dim_symbol, factor_at
from derive.network.symbols import SymbolTable

if TYPE_CHECKING:  # numpy is imported where numbers are computed
    import numpy as np


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
    return net.layout.unit_axis


def apply_activation(net: Network, layer: int, Z: np.ndarray) -> np.ndarray:
    import numpy as np
    act = activation_or_standin(net, layer)
    if act.kind == "softmax":
        return numpy_softmax(Z, unit_axis(net))
    return np.asarray(act.numpy_forward(Z), dtype=float) * np.ones_like(Z)


def numpy_backend(net: Network, m: int | None = None, sizes=None) -> E.NumpyBackend:
    """The numpy backend for this network: stand-ins for generic g[l], softmax over its units;
    with ``m``, the number of examples is bound in constants (1/m) and sizes as they are read, so a
    formula is evaluated as it stands (no rebuilt tree); with ``sizes`` (n[0..L], the instance's),
    so are the network's symbolic sizes (the 2/n[L] of mse_units)."""
    if m is None and net.keep_prob_symbolic:  # the forward map's 1/keep_prob at its stand-in
        return _ExamplesBound(standins(net), net.layout.unit_axis, 1, {})
    if m is None:
        return E.NumpyBackend(standins(net), unit_axis=net.layout.unit_axis)
    dims = {} if sizes is None else {dim_symbol(l): int(s) for l, s in enumerate(sizes)}
    return _ExamplesBound(standins(net), net.layout.unit_axis, m, dims)


class _ExamplesBound(E.NumpyBackend):
    def __init__(self, standins_: dict, unit_axis: int, m_value: int, dims: dict):
        super().__init__(standins_, unit_axis=unit_axis)
        self._m = m_value
        self._dims = dims
        self._numbers: dict = {}  # constant -> float (a formula has few distinct constants)

    def number(self, value) -> float:
        try:
            return self._numbers[value]
        except KeyError:
            v = as_sympy(value)
            out = self._numbers[value] = factor_at(v, self._m, self._dims) if v.free_symbols else float(v)
            return out

    def size(self, d) -> int:
        return int(self.number(d))


def sympy_backend(net: Network, generic: bool) -> E.SympyBackend:
    """The SymPy backend for this network (``generic``: an undefined g_l for each layer's own
    element-wise activation), softmax per example."""
    layers = {l: net.activation(l) for l in range(1, net.L + 1)}
    return E.SympyBackend(generic=generic, layers=layers, unit_axis=net.layout.unit_axis)


@functools.lru_cache(maxsize=4096)
def definitions(net: Network, layer: int) -> tuple[Definition, ...]:
    """Layer ``layer``'s forward definitions over the network's symbols (Z[l] = ..., A[l] = ...);
    built once per network and layer (the forward pass runs them many times)."""
    T = SymbolTable(net)
    return net.block(layer).forward(net, layer, lambda base, l=None: T[base, l])


@functools.lru_cache(maxsize=256)
def _fold(net: Network) -> tuple[E.NumpyBackend, tuple[tuple[Definition, ...], ...]]:
    """What a forward pass of ``net`` runs, looked up once per call (gradient checks run
    thousands of passes of one network)."""
    return numpy_backend(net), tuple(definitions(net, l) for l in range(1, net.L + 1))


def forward(net: Network, params: dict, X: np.ndarray, start: int = 1, start_value=None) -> dict:
    """Forward pass: the fold of the layers' own definitions, evaluated with numpy.
    ``params[("W", l)]``, ``params[("b", l)]``; arrays may be batched (..., r, c).

    With ``start=l`` and ``start_value`` given as ``("Z", Zl)`` or ``("A", Al)`` the pass starts
    there (how the proofs perturb an intermediate quantity).
    """
    backend, layers = _fold(net)
    if not net.all_dense:  # batch norm's statistics: the (1/m) of a mean over X's examples
        backend = numpy_backend(net, example_count(net, X))
    env: dict = {("X", None): X, **params}
    cache: dict = {("A", 0): X}
    given = None if start_value is None else (start_value[0], start)
    for layer in range(start, net.L + 1):
        defs = layers[layer - 1]
        if given is not None and layer == start:  # skip what comes before the given quantity
            keys = [sym.key for sym, _ in defs]
            env[given] = cache[given] = start_value[1]
            defs = defs[keys.index(given) + 1:]
        for sym, e in defs:
            env[sym.key] = cache[sym.key] = evaluate(e, env, backend)
    return cache


def cost(net: Network, cache: dict, Y: np.ndarray, params: dict | None = None) -> np.ndarray:
    """J = (1/m) Σ ℓ (scales mean and dZ) or Σ ℓ (scale sum), plus the L2 penalty of ``params``
    (which a network with L2 must give); batched over leading axes."""
    total = loss_cost(net, cache, Y)
    if net.l2 is not None:
        if params is None:
            raise DeriveError("the cost of a network with L2 needs its W[l]: this is a bug in derive")
        total = total + penalty(net, params, example_count(net, Y))
    return total


def penalty(net: Network, params: dict, m_value: int) -> np.ndarray:
    """p Σₗ ‖W[l]‖²_F over the regularised layers (0 without L2; a symbolic λ at its stand-in);
    batched over leading axes of the W[l]."""
    import numpy as np
    if net.l2 is None:
        return np.asarray(0.0)
    p = factor_at(net.l2_penalty, m_value)
    return p * sum((np.sum(np.asarray(params["W", l]) ** 2, axis=(-2, -1))
                    for l in range(1, net.L + 1) if net.regularised(l)), np.asarray(0.0))


def loss_cost(net: Network, cache: dict, Y: np.ndarray) -> np.ndarray:
    """The data part of J: (1/m) Σ ℓ or Σ ℓ, without any penalty."""
    import numpy as np
    A = cache["A", net.L]
    per = loss_or_standin(net).numpy_terms(A, Y, net.layout.unit_axis)
    total = np.sum(per, axis=(-2, -1))
    if net.cost_is_mean:
        total = total / example_count(net, Y)
    return total


def example_count(net: Network, X: np.ndarray) -> int:
    return net.layout.examples(X)


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

#: float64 entries of one random instance (X, Y, every W, b, Z and A): 400 MB, about a fifth of
#: the 2 GB a command may use, since a forward pass over it makes copies of the same size
INSTANCE = Limit("network.instance_entries", 50_000_000, "entries", "--layers (or --m)",
                 "a random instance of the network")
#: the largest seed: numpy takes any whole number ≥ 0; 2**63 − 1 keeps seeds printable, portable
MAX_SEED = 2**63 - 1


def checked_seed(seed) -> int:
    """``seed`` as an int, or a :class:`DeriveError` when it is not a whole number from 0 to
    :data:`MAX_SEED` (numpy's own error for ``-1`` names none of this)."""
    np = sys.modules.get("numpy")  # a numpy integer exists only once numpy is imported
    if np is not None and isinstance(seed, np.integer):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        shown = repr(seed) if not isinstance(seed, int) or seed.bit_length() < 200 else "a huge number"
        raise DeriveError(f"seed must be a whole number ≥ 0 (at most 2**63 − 1), not {shown[:40]}")
    return seed


def instance_entries(sizes, m: int) -> int:
    """The float64 entries :func:`random_instance` allocates for ``sizes`` and ``m`` examples:
    X and Y, and each layer's W (n[l]·n[l-1]), b, Z, A and a dropout mask D (n[l]·m each; an
    upper bound: only a hidden layer with dropout has a mask)."""
    n = [int(s) for s in sizes]
    return n[0] * m + n[-1] * m + sum(n[l] * n[l - 1] + n[l] + 3 * n[l] * m for l in range(1, len(n)))


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
    """A random, well-scaled instance: each layer draws its own parameters (a dense layer keeps
    every pre-activation at least ``margin`` from a kink, so central differences do not straddle
    one; a hidden layer with dropout also draws its 0/1 mask D[l], kept in ``params`` beside W
    and b, a constant the forward pass reads and nothing differentiates), then the layer's
    definitions give the next layer's input. An instance over
    :data:`INSTANCE` entries is refused before anything is drawn."""
    import numpy as np
    seed = checked_seed(seed)
    m = int(m) if isinstance(m, np.integer) else m
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise DeriveError(f"the number of examples m must be a whole number ≥ 1, not {m!r}"[:120])
    n = concrete_sizes(net, sizes)
    entries = instance_entries(n, m)
    require(INSTANCE, entries, f"a random instance of sizes {_sizes_text(n)} with m = {m} "
                               f"({entries * FLOAT / 2**30:.1f} GiB)")
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=net.layout.batch(n[0], m))
    backend = numpy_backend(net, m if not net.all_dense else None)
    params: dict = {}
    env: dict = {("X", None): X}
    A = X
    for l in range(1, net.L + 1):
        drawn = net.block(l).init(net, l, rng, n, A, margin)
        params.update(drawn)
        env.update(drawn)
        for sym, e in definitions(net, l):
            env[sym.key] = evaluate(e, env, backend)
        A = env["A", l]
    Y = random_targets(net, rng, n[-1], m)
    if net.loss_entry is not None and net.loss_entry.kinks:
        Y = _targets_off_kinks(net, rng, A, Y, margin)
    return Instance(n, m, X, Y, params)


def _targets_off_kinks(net: Network, rng: np.random.Generator, A: np.ndarray, Y: np.ndarray,
                       margin: float) -> np.ndarray:
    """Targets redrawn, example by example, until the loss's kinks (the hinge's margins
    aₖ − a_y + 1) are all at least ``margin`` from 0, so central differences do not straddle
    one; the margin halves after every 50 draws (a wide output may have no label that clears
    0.05, and any nonzero margin is off the kink)."""
    import numpy as np
    loss, axis = net.loss_entry, net.layout.unit_axis
    if loss is None:
        return Y
    examples = net.layout.example_axis  # the axis that runs over examples
    for attempt in range(400):
        near = loss.kink_distance(A, Y, axis) < margin / 2 ** (attempt // 50)
        bad = np.flatnonzero(near)
        if bad.size == 0:
            return Y
        fresh = random_targets(net, rng, int(np.shape(A)[axis]), int(np.shape(A)[examples]))
        index: list = [slice(None)] * Y.ndim
        index[examples] = bad
        Y[tuple(index)] = fresh[tuple(index)]
    raise DeriveError(f"could not draw targets with every margin of {net.loss} away from its kink; "
                      "try another seed")


def _sizes_text(n) -> str:
    text = ",".join(str(s) for s in n)
    return text if len(text) <= 60 else f"{text[:57]}..."


def random_targets(net: Network, rng: np.random.Generator, n_out: int, m: int) -> np.ndarray:
    """Targets in the loss's own domain (its catalogue ``targets``): a distribution per example
    (Dirichlet: ce), one-hot labels, probabilities in (0.05, 0.95) (bce), else normal."""
    import numpy as np
    shape = net.layout.batch(n_out, m)
    kind = net.loss_entry.targets if net.loss_entry is not None else "real"
    if kind in ("distribution", "one_hot"):
        if kind == "distribution":
            Y = rng.dirichlet(np.ones(n_out), size=m)  # m × n_out, each row sums to 1
        else:
            Y = np.eye(n_out)[rng.integers(0, n_out, size=m)]  # m × n_out, one 1 per row
        return Y.T.copy() if net.layout.columns else Y
    if kind == "probability":
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
        return sympy_softmax(Z, columns=net.layout.columns)
    if act is None or generic:
        return Z.applyfunc(sp.Function(f"g{layer}"))
    return Z.applyfunc(lambda e: act.forward.subs(rules.z, e))
