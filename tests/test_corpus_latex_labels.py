"""Every label of the LaTeX corpus (tests/data/corpus/latex/formulas.jsonl) is checked numerically.

This file shares nothing with `derive`: it does not import it. For each corpus item it holds a hand-written
numpy translation of the formula AS WRITTEN (mistakes included), builds a small random network with the
item's activations, loss, convention, example count and regulariser, computes the true gradients of the
cost with autograd, and asserts the label:

- "correct": every checked link of the formula equals the true quantity (relative error <= 1e-6);
- "wrong": on some seed/layer a link differs clearly (relative error > 1e-3) or its shapes cannot fit;
- "correct under an assumption": it matches under the assumption (label["holds_with"]) and differs when the
  assumption is broken (label["breaks_with"] network, or the alternative reading label["breaks_reading"]).

A failing item means the label is wrong: re-read the source and fix the label, never the check.

Conventions of the targets (README.md of the corpus says the same):
- dW[l], db[l]: ∂J/∂W[l], ∂J/∂b[l] of the network's cost J (its 1/m and regulariser included);
- dZ[l], dA[l]: the per-example gradients ∂ℓ/∂Z[l], ∂ℓ/∂A[l] stacked over the examples (no 1/m);
- dTheta[l]: ∂J/∂[b[l] | W[l]] (bias column first; in the rows convention the bias row on top);
- a suffix ^T transposes; [i,j] / [i] (1-based) picks one entry; l / k is every layer the item lists.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

CORPUS = Path(__file__).parent / "data" / "corpus" / "latex"


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# The committed index holds our annotations (source, meaning, network, label); the verbatim LaTeX and
# its context are other people's text, kept out of the repository and present only where the corpus
# was collected (tests/data/corpus/README.md). The labels are verified from the index alone.
TEXT = {item["id"]: item for item in _read(CORPUS / "text.jsonl")} if (CORPUS / "text.jsonl").exists() else {}
ITEMS = [{**item, **TEXT.get(item["id"], {})} for item in _read(CORPUS / "index.jsonl")]
BY_ID = {item["id"]: item for item in ITEMS}

M_BATCH = 6          # examples in a batch instance (distinct from every layer size used)
LAMBDA = 0.7         # regularisation strength of the instances
SEEDS = (0, 1, 2)
RTOL_SAME = 1e-6     # "matches": ||got - want|| <= RTOL_SAME * ||want||
RTOL_DIFF = 1e-3     # "differs": ||got - want|| > RTOL_DIFF * ||want||
DEFAULTS = {"hidden": "tanh", "output": "sigmoid", "loss": "half_mse"}   # for what a source leaves generic
VERDICTS = {"correct", "wrong", "correct under an assumption"}


class Mismatch(ValueError):
    """The shapes of an element-wise operation do not fit (the formula cannot be evaluated)."""


# ----------------------------------------------------------------------------------------------------
# a reference network, written for this test only

def _act(name: str, z: Any, xp: Any, axis: int) -> Any:
    if name == "sigmoid":
        return 1.0 / (1.0 + xp.exp(-z))
    if name == "tanh":
        return xp.tanh(z)
    if name == "linear":
        return z
    if name == "softmax":
        e = xp.exp(z - xp.max(z, axis=axis, keepdims=True))
        return e / xp.sum(e, axis=axis, keepdims=True)
    raise AssertionError(f"unknown activation {name}")


def _act_prime(name: str, z: np.ndarray) -> np.ndarray:
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "linear":
        return np.ones_like(z)
    raise AssertionError(f"{name} has no element-wise derivative")


class Net:
    """A dense network with the item's settings, its forward pass and its true gradients."""

    def __init__(self, spec: dict[str, Any], seed: int) -> None:
        self.sizes = list(spec["sizes"])
        self.L = len(self.sizes) - 1
        self.hidden = spec["hidden"] or DEFAULTS["hidden"]
        self.output = spec["output"] or DEFAULTS["output"]
        self.loss = spec["loss"] or DEFAULTS["loss"]
        self.mean = spec["scale"] == "mean"
        self.m = 1 if spec["m"] == 1 else M_BATCH
        self.rows = spec["convention"] == "rows"
        bias = spec["bias"]
        self.has_bias = [None] + (list(bias) if isinstance(bias, list) else [bool(bias)] * self.L)
        reg = spec["regularisation"]
        self.reg = 0.0 if reg is None else {"lambda/2": LAMBDA / 2, "lambda/(2m)": LAMBDA / (2 * self.m)}[reg["factor"]]
        rng = np.random.default_rng(seed)
        self.W: list[Any] = [None]
        self.b: list[Any] = [None]
        for l in range(1, self.L + 1):
            n_in, n_out = self.sizes[l - 1], self.sizes[l]
            self.W.append(rng.normal(0.0, 0.9, (n_in, n_out) if self.rows else (n_out, n_in)))
            shape = (1, n_out) if self.rows else (n_out, 1)
            self.b.append(rng.normal(0.0, 0.5, shape) if self.has_bias[l] else np.zeros(shape))
        self.X = self._data(rng.normal(0.0, 1.0, (self.sizes[0], self.m)))
        self.Y = self._data(self._targets(rng))
        self.Z: list[Any] = [None]
        self.A: list[Any] = [self.X]
        for l in range(1, self.L + 1):
            self.Z.append(self.affine(l, self.A[l - 1], self.W[l], self.b[l]))
            self.A.append(self.activate(l, self.Z[l], np))

    # -- layout
    def _data(self, columns: np.ndarray) -> np.ndarray:
        return columns.T.copy() if self.rows else columns

    def _targets(self, rng: np.random.Generator) -> np.ndarray:
        n, m = self.sizes[-1], self.m
        if self.loss == "bce":
            return rng.integers(0, 2, (n, m)).astype(float)
        if self.loss == "ce":
            onehot = np.zeros((n, m))
            onehot[rng.integers(0, n, m), np.arange(m)] = 1.0
            return onehot
        return rng.normal(0.0, 1.0, (n, m))

    def affine(self, l: int, a_prev: Any, W: Any, b: Any) -> Any:
        return a_prev @ W + b if self.rows else W @ a_prev + b

    def act_name(self, l: int) -> str:
        return self.output if l == self.L else self.hidden

    def activate(self, l: int, z: Any, xp: Any) -> Any:
        return _act(self.act_name(l), z, xp, axis=1 if self.rows else 0)

    def loss_sum(self, a: Any, y: Any) -> Any:
        """Σ over the examples of the per-example loss (itself a sum over the output units)."""
        if self.loss == "bce":
            return -anp.sum(y * anp.log(a) + (1.0 - y) * anp.log(1.0 - a))
        if self.loss == "ce":
            return -anp.sum(y * anp.log(a))
        if self.loss == "half_mse":
            return 0.5 * anp.sum((a - y) ** 2)
        if self.loss == "mse":
            return anp.sum((a - y) ** 2)
        raise AssertionError(self.loss)

    # -- the cost and the pieces autograd differentiates
    def run(self, Ws: list[Any], bs: list[Any], X: Any) -> Any:
        a = X
        for l in range(1, self.L + 1):
            a = self.activate(l, self.affine(l, a, Ws[l], bs[l]), anp)
        return a

    def cost(self, Ws: list[Any], bs: list[Any]) -> Any:
        data = self.loss_sum(self.run(Ws, bs, self.X), self.Y)
        penalty = sum(anp.sum(Ws[l] ** 2) for l in range(1, self.L + 1))
        return (data / self.m if self.mean else data) + self.reg * penalty

    def tail_from_A(self, k: int, a: Any) -> Any:
        for l in range(k + 1, self.L + 1):
            a = self.activate(l, self.affine(l, a, self.W[l], self.b[l]), anp)
        return self.loss_sum(a, self.Y)

    # -- true gradients
    def dW(self, l: int) -> np.ndarray:
        return grad(lambda w: self.cost(self.W[:l] + [w] + self.W[l + 1:], self.b))(self.W[l])

    def db(self, l: int) -> np.ndarray:
        return grad(lambda v: self.cost(self.W, self.b[:l] + [v] + self.b[l + 1:]))(self.b[l])

    def dA(self, k: int) -> np.ndarray:
        return grad(lambda a: self.tail_from_A(k, a))(self.A[k])

    def dZ(self, k: int) -> np.ndarray:
        return grad(lambda z: self.tail_from_A(k, self.activate(k, z, anp)))(self.Z[k])

    def example_grad(self, kind: str, l: int, t: int) -> np.ndarray:
        """Gradient of the loss of example t alone (no regulariser) w.r.t. W[l] or b[l]."""
        x = self.X[t:t + 1, :] if self.rows else self.X[:, t:t + 1]
        y = self.Y[t:t + 1, :] if self.rows else self.Y[:, t:t + 1]
        if kind == "W":
            return grad(lambda w: self.loss_sum(self.run(self.W[:l] + [w] + self.W[l + 1:], self.b, x), y))(self.W[l])
        return grad(lambda v: self.loss_sum(self.run(self.W, self.b[:l] + [v] + self.b[l + 1:], x), y))(self.b[l])

    def stack_theta(self, b: np.ndarray, W: np.ndarray) -> np.ndarray:
        return np.vstack([b, W]) if self.rows else np.hstack([b, W])

    def truth(self, target: str, l: int | None) -> np.ndarray:
        match = re.fullmatch(r"(dZ|dA|dW|db|dTheta)\[([^\]]+)\](?:\[(\d+)(?:,(\d+))?\])?(\^T)?", target)
        assert match, f"target {target!r} is not of the form the test reads"
        name, layer, i, j, transpose = match.groups()
        k = _layer(layer, l, self.L)
        value = {"dZ": lambda: self.dZ(k), "dA": lambda: self.dA(k), "dW": lambda: self.dW(k),
                 "db": lambda: self.db(k), "dTheta": lambda: self.stack_theta(self.db(k), self.dW(k))}[name]()
        if i is not None and j is not None:
            value = np.array(value[int(i) - 1, int(j) - 1])
        elif i is not None:
            assert self.m == 1, "a vector entry needs one example"
            value = np.array(value.reshape(-1)[int(i) - 1])
        return value.T if transpose else value


def _layer(token: str, l: int | None, L: int) -> int:
    token = token.replace("k", "l")
    if token.isdigit():
        return int(token)
    if token == "L":
        return L
    if token.startswith("L"):
        return L + int(token[1:])
    assert l is not None and token.startswith("l"), token
    return l + (int(token[1:]) if len(token) > 1 else 0)


# ----------------------------------------------------------------------------------------------------
# what a translation may use

class Ctx:
    """The instance's quantities (numpy) and the true values of the symbols a formula takes as given."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.L, self.m, self.rows = net.L, net.m, net.rows
        self.X, self.Y, self.W, self.b, self.Z, self.A = net.X, net.Y, net.W, net.b, net.Z, net.A
        self.lam = LAMBDA
        self._dZ: dict[int, np.ndarray] = {}
        self._dA: dict[int, np.ndarray] = {}

    def n(self, l: int) -> int:
        return self.net.sizes[l]

    def dZ(self, l: int) -> np.ndarray:
        if l not in self._dZ:
            self._dZ[l] = self.net.dZ(l)
        return self._dZ[l]

    def dA(self, l: int) -> np.ndarray:
        if l not in self._dA:
            self._dA[l] = self.net.dA(l)
        return self._dA[l]

    def gp(self, l: int) -> np.ndarray:
        """g[l]′(Z[l]), element-wise."""
        return _act_prime(self.net.act_name(l), self.Z[l])

    def sig(self, z: Any) -> Any:
        return 1.0 / (1.0 + np.exp(-z))

    def theta(self, l: int) -> np.ndarray:
        """Ng's Θ^{(l)} = [b | W] (bias first)."""
        return self.net.stack_theta(self.b[l], self.W[l])

    def aug(self, a: np.ndarray) -> np.ndarray:
        """a with the bias unit a_0 = 1 prepended (a row of ones; a column in the rows convention)."""
        return np.hstack([np.ones((a.shape[0], 1)), a]) if self.rows else np.vstack([np.ones((1, a.shape[1])), a])

    def col(self, M: np.ndarray, t: int) -> np.ndarray:
        return M[t:t + 1, :].T if self.rows else M[:, t:t + 1]

    def example_grad(self, kind: str, l: int, t: int) -> np.ndarray:
        return self.net.example_grad(kind, l, t)


def had(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise product; the shapes must be equal (no broadcasting hides a mistake)."""
    if np.shape(a) != np.shape(b):
        raise Mismatch(f"⊙ of {np.shape(a)} and {np.shape(b)}")
    return np.asarray(a) * np.asarray(b)


def ediv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.shape(a) != np.shape(b):
        raise Mismatch(f"⊘ of {np.shape(a)} and {np.shape(b)}")
    return np.asarray(a) / np.asarray(b)


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.shape(a) != np.shape(b):
        raise Mismatch(f"− of {np.shape(a)} and {np.shape(b)}")
    return np.asarray(a) - np.asarray(b)


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.shape(a) != np.shape(b):
        raise Mismatch(f"+ of {np.shape(a)} and {np.shape(b)}")
    return np.asarray(a) + np.asarray(b)


def mm(*factors: np.ndarray) -> np.ndarray:
    """Matrix product left to right; numpy raises ValueError when the inner sizes differ."""
    out = factors[0]
    for f in factors[1:]:
        out = np.matmul(out, f)
    return out


def diag(v: np.ndarray) -> np.ndarray:
    assert v.ndim == 2 and v.shape[1] == 1
    return np.diag(v[:, 0])


def entries(rows: int, cols: int, f: Callable[[int, int], float]) -> np.ndarray:
    return np.array([[f(i, j) for j in range(cols)] for i in range(rows)], dtype=float)


def vector(n: int, f: Callable[[int], float]) -> np.ndarray:
    return np.array([[f(i)] for i in range(n)], dtype=float)


def e(M: np.ndarray, i: int) -> float:
    """Entry i (0-based) of a one-example vector, whatever the convention."""
    return float(M.reshape(-1)[i])


class Links(list):
    """The checked links of a chained equality, in order."""


# ----------------------------------------------------------------------------------------------------
# translations, keyed by item id.  layers: the values of l (or k) a generic item is checked at.

Translation = Callable[[Ctx, Any], Any]
FORMULAS: dict[str, tuple[Translation, Callable[[int], list[int]] | None]] = {}
ALTERNATIVE: dict[str, Translation] = {}
HIDDEN = lambda L: list(range(1, L))          # noqa: E731  layers with a layer above
ALL = lambda L: list(range(1, L + 1))         # noqa: E731


def formula(item_id: str, layers: Callable[[int], list[int]] | None = None) -> Callable[[Translation], Translation]:
    def register(fn: Translation) -> Translation:
        assert item_id not in FORMULAS, item_id
        FORMULAS[item_id] = (fn, layers)
        return fn
    return register


def alternative(item_id: str) -> Callable[[Translation], Translation]:
    def register(fn: Translation) -> Translation:
        ALTERNATIVE[item_id] = fn
        return fn
    return register


# --- Nielsen's four equations and their reproductions -----------------------------------------------

@formula("ezalos-bp1")
def _(c, l):
    return had(c.dA(c.L), c.gp(c.L))


@formula("ezalos-bp1-index")
def _(c, l):
    return vector(c.n(c.L), lambda j: e(c.dA(c.L), j) * e(c.gp(c.L), j))


@formula("ezalos-grad-quadratic")
def _(c, l):
    return sub(c.A[c.L], c.Y)


@formula("ezalos-bp2", HIDDEN)
def _(c, l):
    return had(mm(c.W[l + 1].T, c.dZ(l + 1)), c.gp(l))


@formula("ezalos-bp3", ALL)
def _(c, l):
    return vector(c.n(l), lambda j: e(c.dZ(l), j))


@formula("ezalos-bp4", ALL)
def _(c, l):
    return entries(c.n(l), c.n(l - 1), lambda j, k: e(c.A[l - 1], k) * e(c.dZ(l), j))


@formula("ezalos-delta-is-dA", ALL)
def _(c, l):
    return c.dA(l)


@formula("nndl-bp1-diag")
def _(c, l):
    return mm(diag(c.gp(c.L)), c.dA(c.L))


@formula("nndl-bp2-diag", HIDDEN)
def _(c, l):
    return mm(diag(c.gp(l)), c.W[l + 1].T, c.dZ(l + 1))


@formula("nndl-unrolled", HIDDEN)
def _(c, l):
    M = diag(c.gp(l))
    for k in range(l + 1, c.L + 1):
        M = mm(M, c.W[k].T, diag(c.gp(k)))
    return mm(M, c.dA(c.L))


@formula("nndl-linear-bp1")
def _(c, l):
    return c.dA(c.L)


@formula("blackkeys-bp1-quadratic")
def _(c, l):
    return had(2 * sub(c.A[c.L], c.Y), c.gp(c.L))


@formula("blackkeys-index-typo")
def _(c, l):
    # the right side's i is free: the formula claims ∂C/∂a_k = 2(a_i − y_i) for every i; one link per i
    n = c.n(c.L)
    return Links([vector(n, lambda k, i=i: 2 * (e(c.A[c.L], i) - e(c.Y, i))) for i in range(n)])


@formula("blackkeys-bp2-index", HIDDEN)
def _(c, l):
    return vector(c.n(l), lambda k: sum(e(c.dZ(l + 1), i) * c.W[l + 1][i, k] * e(c.gp(l), k)
                                        for i in range(c.n(l + 1))))


@formula("blackkeys-bp4-chained", ALL)
def _(c, l):
    chain = entries(c.n(l), c.n(l - 1), lambda j, k: e(c.dZ(l), j) * e(c.A[l - 1], k))
    delta_a = entries(c.n(l), c.n(l - 1), lambda j, k: e(c.dZ(l), j) * e(c.A[l - 1], k))
    return Links([chain, delta_a])


@formula("blackkeys-mean", ALL)
def _(c, l):
    return sum(c.example_grad("W", l, x) for x in range(c.m)) / c.m


@formula("dsse11743-student")
def _(c, l):
    a1_1 = e(c.X, 0)
    return np.array(a1_1 * ((e(c.A[2], 0) - e(c.Y, 0)) * e(c.gp(2), 0)) * e(c.gp(1), 0))


@formula("dsse11743-delta2")
def _(c, l):
    return np.array(e(c.dZ(2), 0) * e(c.gp(1), 0))


@formula("dsse11743-delta3")
def _(c, l):
    return np.array((e(c.A[2], 0) - e(c.Y, 0)) * e(c.gp(2), 0))


@formula("dsse11743-direct")
def _(c, l):
    a2, y = c.A[1][:, 0], e(c.Y, 0)

    def cost_written_out(w11: Any) -> Any:
        z = w11 * a2[0] + c.W[2][0, 1] * a2[1] + c.W[2][0, 2] * a2[2]
        return 0.5 * (1.0 / (1.0 + anp.exp(-z)) - y) ** 2

    return Links([np.array(grad(cost_written_out)(c.W[2][0, 0])),
                  np.array(a2[0] * (e(c.A[2], 0) - y) * e(c.gp(2), 0))])


@formula("dsse11743-answer")
def _(c, l):
    return np.array(e(c.A[1], 0) * (e(c.A[2], 0) - e(c.Y, 0)) * e(c.gp(2), 0))


@formula("dudung-b4-chain", HIDDEN)
def _(c, l):
    n_up = c.n(l + 1)
    dz_dz = lambda k, j: c.W[l + 1][k, j] * e(c.gp(l), j)  # noqa: E731  (B3)
    chain = vector(c.n(l), lambda j: sum(e(c.dZ(l + 1), k) * dz_dz(k, j) for k in range(n_up)))
    swapped = vector(c.n(l), lambda j: sum(dz_dz(k, j) * e(c.dZ(l + 1), k) for k in range(n_up)))
    bracket = vector(c.n(l), lambda j: sum((c.W[l + 1][k, j] * e(c.gp(l), j)) * e(c.dZ(l + 1), k) for k in range(n_up)))
    flat = vector(c.n(l), lambda j: sum(c.W[l + 1][k, j] * e(c.gp(l), j) * e(c.dZ(l + 1), k) for k in range(n_up)))
    vec = had(mm(c.W[l + 1].T, c.dZ(l + 1)), c.gp(l))
    return Links([chain, swapped, bracket, flat, vec])


@formula("dudung-b5-chain")
def _(c, l):
    L = c.L
    entrywise = vector(c.n(L), lambda j: e(c.dA(L), j) * e(c.gp(L), j))
    return Links([entrywise, had(c.dA(L), c.gp(L)),
                  vector(c.n(L), lambda j: (e(c.A[L], j) - e(c.Y, j)) * e(c.gp(L), j)),
                  had(sub(c.A[L], c.Y), c.gp(L))])


# --- one neuron per layer ------------------------------------------------------------------------------

@formula("behnam-scalar-dw")
def _(c, l):
    return had(had(2 * sub(c.A[2], c.Y), c.gp(2)), c.A[1])


@formula("behnam-scalar-slip")
def _(c, l):
    return had(had(2 * sub(c.A[2], c.Y), c.gp(2)), c.W[2])


@formula("behnam-mean")
def _(c, l):
    return sum(c.example_grad("W", c.L, k) for k in range(0, c.m)) / c.m


@formula("behnam-delta-index")
def _(c, l):
    L = c.L
    return Links([vector(c.n(L), lambda j: e(c.gp(L), j) * e(c.dA(L), j)),
                  vector(c.n(L), lambda j: 2 * (e(c.A[L], j) - e(c.Y, j)) * e(c.gp(L), j))])


@formula("behnam-dw-index")
def _(c, l):
    L, rows, cols = c.L, c.n(c.L), c.n(c.L - 1)
    factors = entries(rows, cols, lambda j, k: e(c.A[L - 1], k) * e(c.gp(L), j) * e(c.dA(L), j))
    value = entries(rows, cols, lambda j, k: 2 * (e(c.A[L], j) - e(c.Y, j)) * e(c.gp(L), j) * e(c.A[L - 1], k))
    delta_a = entries(rows, cols, lambda j, k: e(c.dZ(L), j) * e(c.A[L - 1], k))
    return Links([factors, value, delta_a])


@formula("behnam-bold-vector")
def _(c, l):
    L = c.L
    products = vector(c.n(L), lambda j: e(c.gp(L), j) * e(c.dA(L), j))
    expanded = vector(c.n(L), lambda j: 2 * (e(c.A[L], j) - e(c.Y, j)) * e(c.gp(L), j))
    return Links([products, expanded, had(2 * sub(c.A[L], c.Y), c.gp(L))])


@formula("techqa4158072-out")
def _(c, l):
    return Links([had(had(c.A[1], c.gp(2)), c.dA(2)), had(had(c.A[1], c.gp(2)), 2 * sub(c.A[2], c.Y))])


@formula("techqa4158072-hidden")
def _(c, l):
    factors = c.A[0] * c.gp(1) * c.W[2] * c.gp(2) * c.dA(2)
    sigma_prime = lambda z: c.sig(z) * (1 - c.sig(z))  # noqa: E731
    written = c.A[0] * c.gp(1) * sigma_prime(c.W[2] * c.A[1]) * c.W[2]
    return Links([factors, written])


@formula("so53287032-scalar")
def _(c, l):
    L = c.L
    factors = mm(c.A[L - 2], c.gp(L - 1), c.dA(L - 1))
    written = mm(c.A[L - 2], c.gp(L - 1), c.W[L], c.gp(L), sub(c.A[L], c.Y))
    return Links([factors, written])


# --- UFLDL / CS229 parenthesised layers -------------------------------------------------------------

@formula("ufldl-mean-W", ALL)
def _(c, l):
    return add(sum(c.example_grad("W", l, i) for i in range(c.m)) / c.m, c.lam * c.W[l])


@formula("ufldl-mean-b", ALL)
def _(c, l):
    return sum(c.example_grad("b", l, i) for i in range(c.m)) / c.m


@formula("ufldl-index-typo", ALL)
def _(c, l):
    return entries(c.n(l), c.n(l - 1), lambda i, j: e(c.A[l - 1], i) * e(c.dZ(l), i))


@formula("ufldl-output-delta")
def _(c, l):
    L, y = c.L, c.Y[:, 0]
    act = c.net.act_name(L)
    written = grad(lambda z: 0.5 * anp.sum((y - _act(act, z, anp, 0)) ** 2))(c.Z[L][:, 0])
    value = vector(c.n(L), lambda i: -(e(c.Y, i) - e(c.A[L], i)) * e(c.gp(L), i))
    return Links([written.reshape(-1, 1), value])


@formula("ufldl-sum-limit", HIDDEN)
def _(c, l):
    # derive layer l is UFLDL layer l + 1; s_{l+1} (UFLDL) = n(l), so the sum runs over n(l) + 1 units of layer l + 1
    def delta(i: int) -> float:
        return sum(c.W[l + 1][j, i] * e(c.dZ(l + 1), j) for j in range(c.n(l) + 1)) * e(c.gp(l), i)

    return vector(c.n(l), delta)


@formula("ufldl-index-W", ALL)
def _(c, l):
    return entries(c.n(l), c.n(l - 1), lambda i, j: e(c.A[l - 1], j) * e(c.dZ(l), i))


@formula("ufldl-index-b", ALL)
def _(c, l):
    return vector(c.n(l), lambda i: e(c.dZ(l), i))


@formula("ufldl-vector-delta", HIDDEN)
def _(c, l):
    return had(mm(c.W[l + 1].T, c.dZ(l + 1)), c.gp(l))


@formula("ufldl-nabla-W", ALL)
def _(c, l):
    return mm(c.dZ(l), c.A[l - 1].T)


@formula("surafel-bold")
def _(c, l):
    return had(mm(c.W[2].T, c.dZ(2)), had(c.A[1], 1 - c.A[1]))


# --- Ng's Machine Learning course -----------------------------------------------------------------

def _ng_accumulate(c: Ctx, l: int) -> np.ndarray:
    """Δ^{(l)} after the loop over the training set: Σ_t δ^{(l+1)(t)} (a^{(l)(t)})^T with a_0 = 1."""
    a = c.aug(c.A[l - 1])
    delta = np.zeros((c.n(l), c.n(l - 1) + 1))
    for t in range(c.m):
        delta = delta + mm(c.col(c.dZ(l), t), c.col(a, t).T)
    return delta


@formula("ngml-delta4")
def _(c, l):
    return sub(c.A[3], c.Y)


@formula("ngml-delta3")
def _(c, l):
    return had(mm(c.theta(3).T, c.dZ(3))[1:], c.gp(2))


@alternative("ngml-delta3")
def _(c, l):
    return had(mm(c.theta(3).T, c.dZ(3)), c.gp(2))


@formula("ngml-delta2")
def _(c, l):
    return had(mm(c.theta(2).T, c.dZ(2))[1:], c.gp(1))


@alternative("ngml-delta2")
def _(c, l):
    return had(mm(c.theta(2).T, c.dZ(2)), c.gp(1))


@formula("ngml-grad-entry", ALL)
def _(c, l):
    a = c.aug(c.A[l - 1])
    return entries(c.n(l), c.n(l - 1) + 1, lambda i, j: e(a, j) * e(c.dZ(l), i))


@formula("ngml-D-reg", ALL)
def _(c, l):
    D = _ng_accumulate(c, l) / c.m
    return add(D[:, 1:], c.lam * c.theta(l)[:, 1:])


@formula("ngml-D-bias", ALL)
def _(c, l):
    return (_ng_accumulate(c, l) / c.m)[:, :1]


@formula("cv403921-xor")
def _(c, l):
    a = c.aug(c.A[1])
    return had(had(mm(c.theta(2).T, c.dZ(2)), a), 1 - a)[1:]


@alternative("cv403921-xor")
def _(c, l):
    a = c.A[1]
    return had(had(mm(c.theta(2).T, c.dZ(2)), a), 1 - a)


# --- Deep Learning Specialization -----------------------------------------------------------------

@formula("dls-dw-no-transpose", ALL)
def _(c, l):
    return mm(c.dZ(l), c.A[l - 1])


@formula("dls-da-one", ALL)
def _(c, l):
    return mm(c.W[l].T, c.dZ(l))


@formula("dls-dz-cdot", HIDDEN)
def _(c, l):
    return had(mm(c.W[l + 1].T, c.dZ(l + 1)), c.gp(l))


@alternative("dls-dz-cdot")
def _(c, l):
    return mm(c.W[l + 1].T, c.dZ(l + 1), c.gp(l))


@formula("dls-dZ", ALL)
def _(c, l):
    return had(c.dA(l), c.gp(l))


@formula("dls-dW", ALL)
def _(c, l):
    return mm(c.dZ(l), c.A[l - 1].T) / c.m


@formula("dls-db-npsum", ALL)
def _(c, l):
    return np.sum(c.dZ(l), axis=1, keepdims=True) / c.m


@formula("dls-dA-dot", ALL)
def _(c, l):
    return mm(c.W[l].T, c.dZ(l))


@formula("dls-dz2-where")
def _(c, l):
    return sub(c.A[2], c.Y)


@formula("dls-dz1-underbrace")
def _(c, l):
    return had(mm(c.W[2].T, c.dZ(2)), c.gp(1))


@formula("dls-dW1-x")
def _(c, l):
    return mm(c.dZ(1), c.X.T) / c.m


@formula("dls-dW2-one")
def _(c, l):
    return mm(c.dZ(2), c.A[1].T)


@formula("dls-dz1-one")
def _(c, l):
    return had(mm(c.W[2].T, c.dZ(2)), c.gp(1))


@formula("cx-da-bce")
def _(c, l):
    A = c.A[c.L]
    return add(-ediv(c.Y, A), ediv(1 - c.Y, 1 - A))


@formula("cx-dz-juxtaposition", ALL)
def _(c, l):
    return had(c.dA(l), c.gp(l))


@alternative("cx-dz-juxtaposition")
def _(c, l):
    return mm(c.dA(l), c.gp(l))


@formula("cx-db-sum", ALL)
def _(c, l):
    return np.sum(c.dZ(l), axis=1, keepdims=True) / c.m


@alternative("cx-db-sum")
def _(c, l):
    return np.array([[np.sum(c.dZ(l)) / c.m]])


@formula("cx-da-prev", ALL)
def _(c, l):
    return mm(c.W[l].T, c.dZ(l))


@formula("cx-dLdw-chain", ALL)
def _(c, l):
    return Links([mm(c.dZ(l), c.A[l - 1])])


@formula("cx-dLdb-chain", ALL)
def _(c, l):
    return Links([c.dZ(l) * 1.0, c.dZ(l)])


@formula("cx-dLda-chain", ALL)
def _(c, l):
    return Links([mm(c.dZ(l), c.W[l])])


# --- d2l ------------------------------------------------------------------------------------------

@formula("d2l-W2")
def _(c, l):
    return add(mm(c.dZ(2), c.A[1].T), c.lam * c.W[2])


@formula("d2l-h")
def _(c, l):
    return mm(c.W[2].T, c.dZ(2))


@formula("d2l-z")
def _(c, l):
    return had(c.dA(1), c.gp(1))


@formula("d2l-W1")
def _(c, l):
    return add(mm(c.dZ(1), c.X.T), c.lam * c.W[1])


# --- Goodfellow et al., algorithm 6.4 ---------------------------------------------------------------

@formula("goodfellow-top")
def _(c, l):
    return Links([sub(c.A[c.L], c.Y)])          # ∇_ŷ L for the instance's ½‖ŷ − y‖²


@formula("goodfellow-a", ALL)
def _(c, l):
    return had(c.dA(l), c.gp(l))                 # g = ∇_{h^{(k)}} J before the line


@formula("goodfellow-b", ALL)
def _(c, l):
    return add(c.dZ(l), c.lam * np.zeros_like(c.b[l]))     # Ω = ½ Σ‖W‖²: ∇_b Ω = 0


@formula("goodfellow-W", ALL)
def _(c, l):
    return add(mm(c.dZ(l), c.A[l - 1].T), c.lam * c.W[l])  # ∇_W Ω = W


@formula("goodfellow-h", ALL)
def _(c, l):
    return mm(c.W[l].T, c.dZ(l))


# --- Q&A and tutorials, rows convention unless said -----------------------------------------------

@formula("cv253460-dz2")
def _(c, l):
    return sub(c.A[2], c.Y)


@formula("cv253460-dh")
def _(c, l):
    return mm(c.dZ(2), c.W[2].T)


@formula("cv253460-dW2")
def _(c, l):
    return mm(c.A[1].T, c.dZ(2))


@formula("cv253460-student")
def _(c, l):
    return mm(c.dZ(2), c.A[1].T)


@formula("cv201914-sign")
def _(c, l):
    return sub(c.Y, c.A[2])


@formula("cv201914-W1")
def _(c, l):
    s = c.sig(c.Z[1])
    return Links([mm(sub(c.Y, c.A[2]), c.W[2], s, 1 - s, c.X),
                  mm(sub(c.Y, c.A[2]), c.W[2], c.A[1], 1 - c.A[1], c.X)])


@formula("mse2973577-W3")
def _(c, l):
    return mm(c.aug(c.A[2]).T, sub(c.A[3], c.Y))


@formula("dsse54731-student")
def _(c, l):
    # W_jk * g'(W_ij * x) * x * err, every * a matrix product, left to right
    g_prime = _act_prime(c.net.hidden, mm(c.W[1], c.X))
    return mm(c.W[2], g_prime, c.X, c.dA(2))


@formula("techqa3995866-dCda")
def _(c, l):
    total = 2 * sum(e(c.A[c.L], i) - e(c.Y, i) for i in range(c.n(c.L)))
    return vector(c.n(c.L), lambda i: total)


@formula("techqa3995866-dCdw")
def _(c, l):
    L = c.L

    def value(i: int, j: int) -> float:
        z = lambda k: e(c.Z[L], k)  # noqa: E731
        summed = sum((e(c.A[L], k) - e(c.Y, k)) * np.exp(z(k)) / (1 + np.exp(z(k))) ** 2 for k in range(c.n(L)))
        return 2 * summed * e(c.A[L - 1], j)

    return entries(c.n(L), c.n(L - 1), value)


@formula("compphysics-w-indices", HIDDEN)
def _(c, l):
    w = lambda i, j: c.W[l + 1][j, i]  # noqa: E731  the slide's w_{ij}^{l+1}: i in layer l, j in layer l+1
    return vector(c.n(l), lambda j: sum(e(c.dZ(l + 1), k) * w(k, j) for k in range(c.n(l + 1))) * e(c.gp(l), j))


@formula("jpark-softmax")
def _(c, l):
    L = c.L
    s, y = c.A[L][:, 0], c.Y[:, 0]
    jac = lambda k, i: s[k] * ((1.0 if k == i else 0.0) - s[i])  # noqa: E731
    chain = vector(c.n(L), lambda i: sum((-y[k] / s[k]) * jac(k, i) for k in range(c.n(L))))
    return Links([chain, sub(c.A[L], c.Y)])


@formula("wildml-delta3")
def _(c, l):
    return sub(c.A[2], c.Y)


@formula("wildml-delta2")
def _(c, l):
    return had(1 - np.tanh(c.Z[1]) ** 2, mm(c.dZ(2), c.W[2].T))


@formula("wildml-dW2")
def _(c, l):
    return mm(c.A[1].T, c.dZ(2))


@formula("wildml-db2")
def _(c, l):
    return c.dZ(2)


@formula("wildml-dW1")
def _(c, l):
    return mm(c.X.T, c.dZ(1))


@formula("wildml-db1")
def _(c, l):
    return c.dZ(1)


@formula("wildml-2015-delta3-sign")
def _(c, l):
    return sub(c.Y, c.A[2])


@formula("wildml-2015-delta2-z2")
def _(c, l):
    return had(1 - np.tanh(c.Z[2]) ** 2, mm(c.dZ(2), c.W[2].T))


@formula("welch-dW2")
def _(c, l):
    return mm(c.A[1].T, c.dZ(2))


@formula("welch-delta3-juxtaposition")
def _(c, l):
    return had(-sub(c.Y, c.A[2]), c.gp(2))


@alternative("welch-delta3-juxtaposition")
def _(c, l):
    return mm(-sub(c.Y, c.A[2]), c.gp(2))


def _welch_contract(c: Ctx, coeff: np.ndarray) -> np.ndarray:
    """Σ over examples and outputs of coeff ⊙ ∂ŷ/∂W^{(1)}: the product of (y − ŷ) with the Jacobian."""
    net = c.net
    return grad(lambda w: anp.sum(coeff * net.run(net.W[:1] + [w] + net.W[2:], net.b, net.X)))(c.W[1])


@formula("welch-dW1-sign")
def _(c, l):
    return _welch_contract(c, sub(c.Y, c.A[2]))


@formula("welch-dW1-sign-chain")
def _(c, l):
    return _welch_contract(c, sub(c.Y, c.A[2]))   # ∂ŷ/∂z^{(3)} ∂z^{(3)}/∂W^{(1)} is the same Jacobian


@formula("welch-dW1")
def _(c, l):
    return mm(c.X.T, c.dZ(1))


@formula("welch-delta2-juxtaposition")
def _(c, l):
    return had(mm(c.dZ(2), c.W[2].T), c.gp(1))


@alternative("welch-delta2-juxtaposition")
def _(c, l):
    return mm(c.dZ(2), c.W[2].T, c.gp(1))


# --- per-example sums over n observations (kyleclo) ------------------------------------------------

@formula("kyleclo-logreg-chain")
def _(c, l):
    w_t_x = c.Z[1][0]                       # w^T x_i for every example i
    phi = c.sig(w_t_x)
    y = c.Y[0]
    x = lambda i: c.X[:, i:i + 1]           # noqa: E731
    dl_dphi = -y / phi + (1 - y) / (1 - phi)
    chain = sum(dl_dphi[i] * phi[i] * (1 - phi[i]) * x(i) for i in range(c.m))
    slip = -sum((y[i] / phi[i] + (1 - y[i]) / (1 - phi[i])) * phi[i] * (1 - phi[i]) * x(i) for i in range(c.m))
    expanded = -sum((y[i] * (1 - phi[i]) - (1 - y[i]) * phi[i]) * x(i) for i in range(c.m))
    final = -sum((y[i] - phi[i]) * x(i) for i in range(c.m))
    return Links([chain, slip, expanded, final])


@formula("kyleclo-softmax-sum")
def _(c, l):
    return -sum(mm(c.col(c.X, i), sub(c.col(c.Y, i), c.col(c.A[1], i)).T) for i in range(c.m))


@formula("kyleclo-nn-sum", ALL)
def _(c, l):
    return sum(mm(c.col(c.A[l - 1], i), c.col(c.dZ(l), i).T) for i in range(c.m))


# ----------------------------------------------------------------------------------------------------
# the checks

def _links(value: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in value] if isinstance(value, Links) else [np.asarray(value, dtype=float)]


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    if got.shape != want.shape:
        return float("inf")
    return float(np.linalg.norm(got - want) / max(float(np.linalg.norm(want)), 1e-9))


def _errors(item: dict[str, Any], spec: dict[str, Any], fn: Translation) -> list[float]:
    """The worst relative error over the links, for every seed and checked layer (inf: shapes cannot fit)."""
    _, layers = FORMULAS[item["id"]]
    out = []
    for seed in SEEDS:
        net = Net(spec, seed)
        for l in (layers(net.L) if layers else [None]):
            want = net.truth(item["target"], l)
            try:
                links = _links(fn(Ctx(net), l))
            except (Mismatch, ValueError, IndexError):
                out.append(float("inf"))
                continue
            out.append(max(_relative_error(got, want) for got in links))
    return out


def _merged(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = set(overrides) - set(spec)
    assert not unknown, f"override of unknown network fields {unknown}"
    return {**spec, **overrides}


@pytest.mark.parametrize("item", ITEMS, ids=[item["id"] for item in ITEMS])
def test_label_is_verified_numerically(item: dict[str, Any]) -> None:
    fn, _ = FORMULAS[item["id"]]
    label = item["label"]
    if label["verdict"] == "correct":
        errors = _errors(item, item["network"], fn)
        assert max(errors) <= RTOL_SAME, f"labelled correct but differs: {errors}"
    elif label["verdict"] == "wrong":
        errors = _errors(item, item["network"], fn)
        assert max(errors) > RTOL_DIFF, f"labelled wrong but matches: {errors}"
        ambiguous = [err for err in errors if RTOL_SAME < err <= RTOL_DIFF]
        assert not ambiguous, f"neither equal nor clearly different: {errors}"
    else:
        holds = _merged(item["network"], label["holds_with"])
        errors = _errors(item, holds, fn)
        assert max(errors) <= RTOL_SAME, f"does not hold under its assumption: {errors}"
        broken = []
        if "breaks_with" in label:
            broken = _errors(item, _merged(item["network"], label["breaks_with"]), fn)
        if "breaks_reading" in label:
            broken += _errors(item, holds, ALTERNATIVE[item["id"]])
        assert broken, "a conditional label must say how its assumption is broken"
        assert max(broken) > RTOL_DIFF, f"still matches with the assumption broken: {broken}"


def test_every_item_has_one_translation_and_no_translation_is_orphaned() -> None:
    assert set(FORMULAS) == set(BY_ID)
    assert set(ALTERNATIVE) <= {i for i, item in BY_ID.items() if "breaks_reading" in item["label"]}
    assert {i for i, item in BY_ID.items() if "breaks_reading" in item["label"]} <= set(ALTERNATIVE)


def test_corpus_schema() -> None:
    fields = ["id", "source", "family", "tags", "meaning", "network", "target", "label", "notes"]
    if TEXT:
        fields += ["latex", "context"]
    assert len(ITEMS) >= 60
    assert len(BY_ID) == len(ITEMS), "ids are unique"
    for item in ITEMS:
        assert list(item) == fields, item["id"]
        assert item["meaning"], item["id"]
        if TEXT:
            assert item["latex"].strip() and item["context"].strip(), item["id"]
        source = r"https?://\S+|[\w.-]+/[\w.-]+:[^@]+@[0-9a-f]{40}#L\d+(?:-L\d+)?"
        assert re.fullmatch(source, item["source"]), item["source"]
        assert item["label"]["verdict"] in VERDICTS, item["id"]
        if item["label"]["verdict"] == "wrong":
            assert item["label"]["mistake"].strip(), item["id"]
        if item["label"]["verdict"] == "correct under an assumption":
            assert item["label"]["assumption"].strip() and item["label"]["conditions"], item["id"]
        net = item["network"]
        assert set(net) == {"sizes", "hidden", "output", "loss", "scale", "m", "convention", "bias",
                            "regularisation", "as_written"}, item["id"]
        assert net["m"] in (1, "m") and net["scale"] in ("mean", "sum") and net["convention"] in ("columns", "rows")


def test_the_corpus_has_wrong_and_conditional_items_in_proportion() -> None:
    verdicts = [item["label"]["verdict"] for item in ITEMS]
    assert verdicts.count("wrong") / len(verdicts) >= 0.2
    assert verdicts.count("correct under an assumption") >= 5


REFERENCE_SPECS = [
    {"sizes": [4, 3, 2], "hidden": "tanh", "output": "sigmoid", "loss": "bce", "scale": "mean", "m": "m",
     "convention": "columns", "bias": True, "regularisation": {"kind": "l2", "factor": "lambda/(2m)"},
     "as_written": ""},
    {"sizes": [4, 3, 3], "hidden": "sigmoid", "output": "softmax", "loss": "ce", "scale": "sum", "m": "m",
     "convention": "rows", "bias": [True, False], "regularisation": {"kind": "l2", "factor": "lambda/2"},
     "as_written": ""},
    {"sizes": [2, 3, 1], "hidden": "linear", "output": "linear", "loss": "mse", "scale": "sum", "m": 1,
     "convention": "columns", "bias": True, "regularisation": None, "as_written": ""},
]


def _central_difference(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[idx] = h
        out[idx] = (f(x + step) - f(x - step)) / (2 * h)
    return out


@pytest.mark.parametrize("spec", REFERENCE_SPECS, ids=["columns-bce-mean-reg", "rows-softmax-sum-reg", "linear-one"])
def test_reference_network_gradients_agree_with_central_differences(spec: dict[str, Any]) -> None:
    # the verifier's truth is autograd on its own forward pass; central differences of the same cost check it
    net = Net(spec, seed=5)
    for l in range(1, net.L + 1):
        def cost_w(w: np.ndarray, l: int = l) -> float:
            return float(net.cost(net.W[:l] + [w] + net.W[l + 1:], net.b))

        def cost_b(v: np.ndarray, l: int = l) -> float:
            return float(net.cost(net.W, net.b[:l] + [v] + net.b[l + 1:]))

        def loss_z(z: np.ndarray, l: int = l) -> float:
            return float(net.tail_from_A(l, net.activate(l, z, np)))

        fd_w, fd_b, fd_z = (_central_difference(cost_w, net.W[l]), _central_difference(cost_b, net.b[l]),
                            _central_difference(loss_z, net.Z[l]))
        assert _relative_error(net.dW(l), fd_w) < 1e-6
        if net.has_bias[l]:
            assert _relative_error(net.db(l), fd_b) < 1e-6
        assert _relative_error(net.dZ(l), fd_z) < 1e-6
