"""Every label of the real-code corpus (tests/data/corpus/code/*.jsonl), checked by numbers.

This verifier shares nothing with `derive` (it imports neither `derive` nor the other test
helpers). For each item it builds random small instances of the network the item describes, gets
the true gradients of the cost with the `autograd` package, runs the item's code (public code kept
as test data, run in a namespace built here) and compares: a "correct" label must match to 1e-6
relative to the norm, a "wrong" one must differ by more than 1e-3 on every instance, or fail the
way its `error` / `shape_error` fields say. Sizes are distinct so that a transpose cannot hide.

Quantities are named as in the course, whatever the item's convention: X, Y, y (integer labels),
W[l], b[l], Z[l], A[l] (A[0] = X), D[l] (dropout masks), dW[l], db[l], dZ[l], dA[l], loss.
dW[l] and db[l] are gradients of the whole cost J (with its regularisation); dZ[l] and dA[l] are
m * dJ/dZ[l] where the network's `scale` is "dW" (the course: per-example gradients stacked, the
1/m taken in dW and db) and dJ/dZ[l] where it is "dZ" (CS231n: dscores already divided by N).
A reference may end in .T (transpose), .ravel (flattened) or .scalar (a float), and start with -.
"""

from __future__ import annotations

import ast
import json
import textwrap
import types
from pathlib import Path

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

CORPUS = Path(__file__).parent / "data" / "corpus" / "code"
SEEDS = (0, 1)
MATCH = 1e-6  # a correct item agrees to this relative error
DIFFER = 1e-3  # a wrong item is off by more than this, on every instance
MARGIN = 1e-2  # instances keep every kink (relu at 0, hinge margin at 0) at least this far


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _load(name):
    """The committed index (source, label, network, names: our own annotations) joined with the
    verbatim code, which is kept out of the repository (it is other people's code: see
    tests/data/corpus/README.md) and present only where the corpus was collected."""
    items = _read(CORPUS / f"{name}.index.jsonl")
    text = CORPUS / f"{name}.text.jsonl"
    if not text.exists():
        pytest.skip("the corpus's verbatim code is not in this checkout (tests/data/corpus/README.md)",
                    allow_module_level=True)
    verbatim = {item["id"]: item for item in _read(text)}
    return [{**item, **verbatim[item["id"]]} for item in items]


FORMULAS = _load("formulas")
FUNCTIONS = _load("functions")


# --------------------------------------------------------------------------------------------
# The network, written again here and differentiated by autograd


def _act(name, axis):
    if name == "sigmoid":
        return lambda z: 1 / (1 + anp.exp(-z))
    if name == "tanh":
        return anp.tanh
    if name == "relu":
        return lambda z: anp.maximum(z, 0.0)
    if name == "identity":
        return lambda z: z
    if name == "softmax":

        def softmax(z):
            e = anp.exp(z - anp.max(z, axis=axis, keepdims=True))
            return e / anp.sum(e, axis=axis, keepdims=True)

        return softmax
    raise ValueError(f"unknown activation {name}")


class Instance:
    """One random instance of an item's network and every true quantity of it."""

    def __init__(self, net, seed):
        self.net = net
        self.conv = net.get("convention", "columns")
        self.n = net["sizes"]
        self.L = len(self.n) - 1
        self.m = 1 if self.conv == "1d" else net["m"]
        self.bias = net.get("bias", True)
        self.kp = (net.get("dropout") or {}).get("keep_prob")
        reg = net.get("regularization") or {}
        self.lam = reg.get("strength", 0.0)
        self.reg_factor = reg.get("factor", 0.5) / (self.m if reg.get("per_m") else 1)
        rng = np.random.default_rng(seed)
        for _ in range(200):
            self._sample(rng)
            if self._off_kinks():
                break
        else:  # pragma: no cover - the sizes here make this practically impossible
            raise AssertionError("could not sample an instance away from the kinks")
        self._truth()

    # the forward map, in three layouts ----------------------------------------------------
    def _lin(self, W, A, b):
        Z = anp.dot(A, W) if self.conv == "rows" else anp.dot(W, A)
        return Z + b if self.bias else Z

    def _axis(self):
        return 1 if self.conv == "rows" else 0

    def _shape(self, n):
        return {"columns": (n, self.m), "rows": (self.m, n), "1d": (n,)}[self.conv]

    def _sample(self, rng):
        n, L = self.n, self.L
        self.P = {}
        for l in range(1, L + 1):
            shape = (n[l - 1], n[l]) if self.conv == "rows" else (n[l], n[l - 1])
            self.P[f"W{l}"] = rng.normal(0.0, 1.0, shape) / np.sqrt(n[l - 1]) * 1.2
            bshape = (n[l], 1) if self.conv == "columns" else (n[l],)
            self.P[f"b{l}"] = rng.normal(0.0, 0.3, bshape)
        self.X = rng.normal(0.0, 1.0, self._shape(n[0]))
        self.D = {}
        for l in (self.net.get("dropout") or {}).get("layers", []):
            self.D[l] = (rng.random(self._shape(n[l])) < self.kp).astype(float)
        loss = self.net["loss"]
        out = self._shape(n[L])
        if loss == "bce":
            self.Y = (rng.random(out) < 0.5).astype(float)
            self.y = None
        elif loss in ("mse_half", "sse", "mse_units"):
            self.Y = rng.random(out)
            self.y = None
        else:  # ce, svm: one label per example
            count = self.m
            self.y = rng.integers(0, n[L], count)
            hot = np.zeros((count, n[L]))
            hot[np.arange(count), self.y] = 1.0
            self.Y = {"rows": hot, "columns": hot.T, "1d": hot[0]}[self.conv]

    def _forward(self, P, E):
        """Z and A of every layer; E holds perturbations added to Z[l] and A[l]."""
        L, acts = self.L, self.net["activations"]
        A = {0: self.X + E["A0"]}
        Z = {}
        for l in range(1, L + 1):
            Z[l] = self._lin(P[f"W{l}"], A[l - 1], P[f"b{l}"]) + E[f"Z{l}"]
            a = _act(acts[l - 1], self._axis())(Z[l])
            if l in self.D:
                a = a * self.D[l] / self.kp
            A[l] = a + E[f"A{l}"]
        return Z, A

    def _data(self, P, E):
        """The data term: the per-example losses summed, divided by m unless scale is 'sum'."""
        Z, A = self._forward(P, E)
        AL, ZL, Y = A[self.L], Z[self.L], self.Y
        loss = self.net["loss"]
        if loss == "bce":
            total = -anp.sum(Y * anp.log(AL) + (1 - Y) * anp.log(1 - AL))
        elif loss == "ce":
            total = -anp.sum(Y * anp.log(AL))
        elif loss == "mse_half":
            total = 0.5 * anp.sum((AL - Y) ** 2)
        elif loss == "sse":
            total = anp.sum((AL - Y) ** 2)
        elif loss == "mse_units":  # the mean over the output units of (a - y)^2
            total = anp.sum((AL - Y) ** 2) / self.n[self.L]
        elif loss == "svm":
            S = ZL if self.conv == "rows" else ZL.T
            correct = anp.sum(S * self._hot_rows(), axis=1, keepdims=True)
            margins = anp.maximum(0.0, S - correct + 1.0) * (1 - self._hot_rows())
            total = anp.sum(margins)
        else:
            raise ValueError(loss)
        return total if self.net.get("scale", "dW") == "sum" else total / self.m

    def _cost(self, P, E):
        penalty = 0.0
        for l in range(1, self.L + 1):
            penalty = penalty + anp.sum(P[f"W{l}"] ** 2)
        return self._data(P, E) + self.lam * self.reg_factor * penalty

    def _hot_rows(self):
        return self.Y if self.conv == "rows" else np.atleast_2d(self.Y.T)

    def _off_kinks(self):
        E = self._zero_perturbations()
        Z, _ = self._forward(self.P, E)
        acts = self.net["activations"]
        for l in range(1, self.L + 1):
            if acts[l - 1] == "relu" and np.min(np.abs(Z[l])) < MARGIN:
                return False
        if self.net["loss"] == "svm":
            S = Z[self.L] if self.conv == "rows" else Z[self.L].T
            correct = np.sum(S * self._hot_rows(), axis=1, keepdims=True)
            gap = np.abs(S - correct + 1.0) + self._hot_rows()
            if np.min(gap) < MARGIN:
                return False
        return True

    def _zero_perturbations(self):
        E = {"A0": np.zeros_like(self.X)}
        for l in range(1, self.L + 1):
            E[f"Z{l}"] = np.zeros(self._shape(self.n[l]))
            E[f"A{l}"] = np.zeros(self._shape(self.n[l]))
        return E

    def _truth(self):
        E = self._zero_perturbations()
        Z, A = self._forward(self.P, E)
        gP, gE = grad(self._cost, argnum=(0, 1))(self.P, E)
        gData = grad(self._data, argnum=0)(self.P, E)
        scale = self.m if self.net.get("scale", "dW") == "dW" else 1
        Q = {
            "X": self.X,
            "Y": self.Y,
            "y": self.y,
            "m": self.m,
            "keep_prob": self.kp,
            "lambda": self.lam,
            "loss": float(self._cost(self.P, E)),
        }
        acts = self.net["activations"]
        for l in range(1, self.L + 1):
            Q[f"W[{l}]"] = self.P[f"W{l}"]
            Q[f"b[{l}]"] = self.P[f"b{l}"]
            Q[f"Z[{l}]"] = Z[l]
            Q[f"dW[{l}]"] = gP[f"W{l}"]
            Q[f"dWdata[{l}]"] = gData[f"W{l}"]
            Q[f"db[{l}]"] = gP[f"b{l}"]
            Q[f"dZ[{l}]"] = scale * gE[f"Z{l}"]
            if acts[l - 1] != "softmax":  # g'(Z[l]), element-wise
                g = _act(acts[l - 1], 0)
                Q[f"gp[{l}]"] = grad(lambda z, g=g: anp.sum(g(z)))(Z[l])
            if l in self.D:
                Q[f"D[{l}]"] = self.D[l]
        for l in range(0, self.L + 1):
            Q[f"A[{l}]"] = A[l]
            Q[f"dA[{l}]"] = scale * gE[f"A{l}"]
        self.Q = Q

    # references: "W[2]", "dW[1].T", "-dZ[2]", "b[1].scalar" --------------------------------
    def ref(self, text):
        negate = text.startswith("-")
        text = text.lstrip("-")
        suffix = None
        for s in (".T", ".ravel", ".scalar"):
            if text.endswith(s):
                text, suffix = text[: -len(s)], s
        value = self.Q[text]
        if isinstance(value, np.ndarray):
            value = value.copy()
            if suffix == ".T":
                value = value.T
            elif suffix == ".ravel":
                value = value.ravel()
            elif suffix == ".scalar":
                value = float(value.reshape(-1)[0])
        return -value if negate else value


# --------------------------------------------------------------------------------------------
# Helpers a snippet calls, written here (correct implementations; the snippet's own defs win)

HELPERS = {
    "xrange": "xrange = range\n",
    "math_exp": "from math import exp\n",
    "sigmoid_prime_of_a": "def sigmoid_prime(z):\n    return z * (1 - z)\n",
    "sigmoid": "def sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n",
    "sigmoid_prime": (
        "def sigmoid_prime(z):\n    s = 1 / (1 + np.exp(-z))\n    return s * (1 - s)\n"
    ),
    "relu_backward": ("def relu_backward(dA, cache):\n    return dA * (cache > 0)\n"),
    "sigmoid_backward": (
        "def sigmoid_backward(dA, cache):\n"
        "    s = 1 / (1 + np.exp(-cache))\n    return dA * s * (1 - s)\n"
    ),
    "linear_backward": (
        "def linear_backward(dZ, cache):\n    A_prev, W, b = cache\n"
        "    m = A_prev.shape[1]\n"
        "    return W.T @ dZ, dZ @ A_prev.T / m, dZ.sum(axis=1, keepdims=True) / m\n"
    ),
    "linear_activation_backward": (
        "def linear_activation_backward(dA, cache, activation):\n"
        "    linear_cache, activation_cache = cache\n"
        "    if activation == 'relu':\n        dZ = relu_backward(dA, activation_cache)\n"
        "    else:\n        dZ = sigmoid_backward(dA, activation_cache)\n"
        "    return linear_backward(dZ, linear_cache)\n"
    ),
    "cs231n_layers": (
        "def affine_forward(x, w, b):\n    out = x.reshape(x.shape[0], -1) @ w + b\n"
        "    return out, (x, w, b)\n"
        "def affine_backward(dout, cache):\n    x, w, b = cache\n"
        "    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, "
        "dout.sum(axis=0)\n"
        "def relu_forward(x):\n    return np.maximum(0, x), x\n"
        "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
        "def affine_relu_forward(x, w, b):\n    a, fc = affine_forward(x, w, b)\n"
        "    out, rc = relu_forward(a)\n    return out, (fc, rc)\n"
        "def affine_relu_backward(dout, cache):\n    fc, rc = cache\n"
        "    return affine_backward(relu_backward(dout, rc), fc)\n"
        "def softmax_loss(x, y):\n    s = x - x.max(axis=1, keepdims=True)\n"
        "    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)\n    N = x.shape[0]\n"
        "    loss = -np.log(p[np.arange(N), y]).sum() / N\n"
        "    dx = p.copy()\n    dx[np.arange(N), y] -= 1\n    return loss, dx / N\n"
    ),
}


def _nielsen_self(inst, cost):
    """A stand-in for Nielsen's Network object: weights, biases, sizes, cost helpers."""
    L = inst.L

    class CrossEntropyCost:
        @staticmethod
        def delta(z, a, y):
            return a - y

    class QuadraticCost:
        @staticmethod
        def delta(z, a, y):
            s = 1 / (1 + np.exp(-z))
            return (a - y) * s * (1 - s)

    obj = types.SimpleNamespace()
    obj.num_layers = L + 1
    obj.sizes = list(inst.n)
    obj.weights = [inst.ref(f"W[{l}]") for l in range(1, L + 1)]
    obj.biases = [inst.ref(f"b[{l}]") for l in range(1, L + 1)]
    obj.cost_derivative = lambda output_activations, y: output_activations - y
    obj.cost = CrossEntropyCost if cost == "ce" else QuadraticCost
    obj.mini_batch_size = inst.m
    return obj


def special(inst, spec):
    """Values beyond single quantities: lists, dicts, caches and objects of the dialects."""
    kind, _, arg = spec.partition(":")
    L = inst.L
    if kind == "int":
        return int(arg)
    if kind == "empty":
        return {}
    if kind == "gradsdata":  # a CS231n grads dict holding the data part of the gradient
        out = {}
        for l in range(1, L + 1):
            out[f"W{l}"] = inst.ref(f"dWdata[{l}]")
            out[f"b{l}"] = inst.ref(f"db[{l}]")
        return out
    if kind == "dWsum":  # X.T.dot(dScores) before the division by N
        return inst.m * inst.ref("dWdata[1]")
    if kind == "casper_self":  # the notebook's sigmoid and softmax methods, as it defines them

        def sigmoid(x, derivative=False):
            if derivative:
                return np.exp(-x) / (np.exp(-x) + 1) ** 2
            return 1 / (1 + np.exp(-x))

        def softmax(x, derivative=False):
            exps = np.exp(x - x.max())
            if derivative:
                return exps / np.sum(exps, axis=0) * (1 - exps / np.sum(exps, axis=0))
            return exps / np.sum(exps, axis=0)

        return types.SimpleNamespace(sigmoid=sigmoid, softmax=softmax)
    if kind == "stack":  # a one-row stack of a 1-d quantity, to be indexed by [0]
        return inst.ref(arg)[None, ...]
    if kind == "params_full":  # {"W1", ..., "A0", "A1", ..., "Z1", ...}
        out = {"A0": inst.ref("A[0]")}
        for l in range(1, L + 1):
            for q in ("W", "Z", "A"):
                out[f"{q}{l}"] = inst.ref(f"{q}[{l}]")
        return out
    if kind == "float":
        return float(arg)
    if kind == "list":  # list:A -> [A[0..L]], list:Z -> [Z[1..L]], list:W, list:b
        start = 0 if arg == "A" else 1
        return [inst.ref(f"{arg}[{l}]") for l in range(start, L + 1)]
    if kind == "zeros":
        return [np.zeros_like(inst.ref(f"{arg}[{l}]")) for l in range(1, L + 1)]
    if kind == "params":  # the course's parameters dict
        out = {}
        for l in range(1, L + 1):
            out[f"W{l}"] = inst.ref(f"W[{l}]")
            out[f"b{l}"] = inst.ref(f"b[{l}]")
        return out
    if kind == "cache_dict":  # planar: {"Z1", "A1", "Z2", "A2"}
        out = {}
        for l in range(1, L + 1):
            out[f"Z{l}"] = inst.ref(f"Z[{l}]")
            out[f"A{l}"] = inst.ref(f"A[{l}]")
        return out
    if kind == "cache_tuple":  # (Z1, A1, W1, b1, Z2, ...) or with D after Z for dropout
        out = []
        for l in range(1, L + 1):
            out.append(inst.ref(f"Z[{l}]"))
            if arg == "dropout" and l in inst.D:
                out.append(inst.ref(f"D[{l}]"))
            out += [inst.ref(f"A[{l}]"), inst.ref(f"W[{l}]"), inst.ref(f"b[{l}]")]
        return tuple(out)
    if kind == "course_caches":  # [((A_prev, W, b), Z) for every layer]
        return [
            (
                (inst.ref(f"A[{l - 1}]"), inst.ref(f"W[{l}]"), inst.ref(f"b[{l}]")),
                inst.ref(f"Z[{l}]"),
            )
            for l in range(1, L + 1)
        ]
    if kind == "layer_cache":  # ((A_prev, W, b), Z) of layer arg
        l = int(arg)
        return (
            (inst.ref(f"A[{l - 1}]"), inst.ref(f"W[{l}]"), inst.ref(f"b[{l}]")),
            inst.ref(f"Z[{l}]"),
        )
    if kind == "linear_cache":
        l = int(arg)
        return (inst.ref(f"A[{l - 1}]"), inst.ref(f"W[{l}]"), inst.ref(f"b[{l}]"))
    if kind == "nielsen":
        return _nielsen_self(inst, arg)
    if kind == "cs231n_net":  # a TwoLayerNet-like self: params dict, reg
        params = {}
        for l in range(1, L + 1):
            params[f"W{l}"] = inst.ref(f"W[{l}]")
            params[f"b{l}"] = inst.ref(f"b[{l}]")
        return types.SimpleNamespace(
            params=params,
            reg=inst.lam,
            num_layers=L,
            dtype=np.float64,
            use_dropout=False,
            normalization=None,
            use_batchnorm=False,
        )
    raise ValueError(f"unknown special {spec}")


def namespace(inst, item):
    ns = {"np": np, "__builtins__": __builtins__}
    for name in item.get("helpers", []):
        exec(HELPERS[name], ns)  # noqa: S102 - our own helper source
    for name, spec in item.get("names", {}).items():
        if ":" in spec:
            ns[name] = special(inst, spec)
        else:
            value = inst.ref(spec)
            ns[name] = value.copy() if isinstance(value, np.ndarray) else value
    ns["_q"] = inst.ref
    ns["_s"] = lambda spec: special(inst, spec)

    def make_self(params, *methods, **attrs):
        """An object with a params dict (and attrs) whose methods are the snippet's own defs."""
        obj = types.SimpleNamespace(params=params, **attrs)
        for name in methods:
            setattr(obj, name, types.MethodType(ns[name], obj))
        return obj

    ns["_self_with"] = make_self
    return ns


# --------------------------------------------------------------------------------------------
# Running an item and judging one value


def _assigned(text):
    """The target expression of a one-statement formula: its left-hand side, as code."""
    tree = ast.parse(textwrap.dedent(text))
    stmt = tree.body[-1]
    target = stmt.targets[-1] if isinstance(stmt, ast.Assign) else stmt.target
    return ast.unparse(target)


def run_formula(inst, item):
    ns = namespace(inst, item)
    code = textwrap.dedent(item["text"])
    exec(compile(code, item["id"], "exec"), ns)  # noqa: S102 - corpus test data
    expr = item.get("result") or _assigned(item["text"])
    return {item["target"]: eval(expr, ns)}  # noqa: S307 - corpus test data


def _collect(spec, value, out):
    if spec is None:
        return
    if isinstance(spec, str):
        out[spec] = value
    elif isinstance(spec, list):
        assert isinstance(value, (tuple, list)) and len(value) == len(spec)
        for sub, val in zip(spec, value, strict=True):
            _collect(sub, val, out)
    else:
        for key, sub in spec.items():
            _collect(sub, value[key], out)


def run_function(inst, item):
    ns = namespace(inst, item)
    exec(compile(textwrap.dedent(item["text"]), item["id"], "exec"), ns)  # noqa: S102
    value = eval(item["call"], ns)  # noqa: S307 - corpus test data
    out = {}
    _collect(item["returns"], value, out)
    return out


def relative_error(got, want):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))


def judge(inst, target, got):
    """'match', 'differ', 'shape' (a shape other than the true one), or 'close' (in between)."""
    want = inst.ref(target)
    if np.shape(got) != np.shape(want):
        return "shape", None
    err = relative_error(got, want)
    if err < MATCH:
        return "match", err
    if err > DIFFER:
        return "differ", err
    return "close", err


def outcomes(item, runner):
    """Per seed: ('error', exception class name) or ('ok', {target: (verdict, err)})."""
    results = []
    for seed in SEEDS:
        inst = Instance(item["network"], seed)
        try:
            values = runner(inst, item)
        except Exception as exc:  # noqa: BLE001 - the failure itself is what we judge
            results.append(("error", type(exc).__name__, str(exc)))
            continue
        results.append(("ok", {t: judge(inst, t, v) for t, v in values.items()}))
    return results


def _expect_label(item, target):
    labels = item.get("target_labels") or {}
    label = labels.get(target, item["label"])
    return "correct" if label == "correct" else "wrong"


def check(item, runner):
    results = outcomes(item, runner)
    error = item.get("error")
    for res in results:
        if error:
            assert res[0] == "error", f"{item['id']}: expected {error}, ran: {res[1]}"
            assert res[1] == error, f"{item['id']}: expected {error}, got {res[1]}: {res[2]}"
            continue
        assert res[0] == "ok", f"{item['id']}: raised {res[1]}: {res[2]}"
        verdicts = res[1]
        targets = item["target"] if isinstance(item["target"], list) else [item["target"]]
        assert set(verdicts) == set(targets), f"{item['id']}: returned {sorted(verdicts)}"
        for target, (verdict, err) in verdicts.items():
            expect = _expect_label(item, target)
            shape_target = item.get("shape_error") and expect == "wrong"
            if expect == "correct":
                assert verdict == "match", f"{item['id']} {target}: {verdict} ({err})"
            elif shape_target:
                assert verdict == "shape", f"{item['id']} {target}: {verdict} ({err})"
            else:
                assert verdict == "differ", f"{item['id']} {target}: {verdict} ({err})"


# --------------------------------------------------------------------------------------------
# The tests

FIELDS = {"id", "source", "dialect", "text", "network", "target", "label", "notes"}
DIALECTS = {
    "course_indexed",
    "course_unindexed",
    "cs231n",
    "nielsen",
    "logreg",
    "single_example",
    "bound",
}


def test_the_corpus_is_as_large_as_the_issue_asks():
    assert len(FORMULAS) >= 80
    assert len(FUNCTIONS) >= 20
    ids = [item["id"] for item in FORMULAS + FUNCTIONS]
    assert len(ids) == len(set(ids))
    for item in FORMULAS + FUNCTIONS:
        assert FIELDS <= set(item), item["id"]
        assert item["dialect"] in DIALECTS, item["id"]
        assert item["label"] == "correct" or item["label"].startswith("wrong: "), item["id"]
    dialects = {item["dialect"] for item in FORMULAS + FUNCTIONS}
    assert DIALECTS - {"bound"} <= dialects
    wrong = sum(item["label"] != "correct" for item in FORMULAS + FUNCTIONS)
    assert 0.25 <= wrong / len(FORMULAS + FUNCTIONS) <= 0.45


def test_every_formula_is_one_assignment():
    for item in FORMULAS:
        tree = ast.parse(textwrap.dedent(item["text"]))
        assert len(tree.body) == 1, item["id"]
        assert isinstance(tree.body[0], (ast.Assign, ast.AugAssign)), item["id"]
        assert isinstance(item["target"], str), item["id"]


def test_every_function_defines_what_it_calls():
    for item in FUNCTIONS:
        tree = ast.parse(textwrap.dedent(item["text"]))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        called = ast.parse(item["call"], mode="eval").body
        assert isinstance(called, ast.Call), item["id"]
        assert ast.unparse(called.func) in defined, item["id"]
        assert isinstance(item["target"], list), item["id"]


@pytest.mark.parametrize("item", FORMULAS, ids=[item["id"] for item in FORMULAS])
def test_formula_label(item):
    check(item, run_formula)


@pytest.mark.parametrize("item", FUNCTIONS, ids=[item["id"] for item in FUNCTIONS])
def test_function_label(item):
    check(item, run_function)


def test_a_planted_mistake_is_caught_by_the_verifier():
    """The verifier itself can fail: a correct item given a wrong label must not pass."""
    item = next(i for i in FORMULAS if i["label"] == "correct" and not i.get("error"))
    relabelled = dict(item, label="wrong: planted by this test")
    with pytest.raises(AssertionError):
        check(relabelled, run_formula)
    wrong = next(
        i
        for i in FORMULAS
        if i["label"] != "correct" and not i.get("error") and not i.get("shape_error")
    )
    with pytest.raises(AssertionError):
        check(dict(wrong, label="correct"), run_formula)
