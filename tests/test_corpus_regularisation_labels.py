"""Every label of the regularisation corpus (tests/data/corpus/regularisation/), checked by numbers.

Issue 11 asks for real student formulas with L2 regularisation, dropout and batch normalisation.
This verifier shares nothing with `derive` (it imports neither `derive` nor the other test
helpers). For each item it builds random small instances of the network the item describes
(its own forward pass: dense layers, the L2 penalty in the item's form, inverted dropout with
fixed 0/1 masks, training-mode batch normalisation over the batch), gets every true quantity with
`autograd`, runs the item and compares: a "correct" label must match to 1e-6 relative to the norm
on every instance, a "wrong" one must differ by more than 1e-3 on every instance, or fail the way
its `error` / `shape_error` fields say. Layer sizes and the example count are distinct, so that a
transpose or a sum over the wrong axis cannot hide behind broadcasting.

Code items (formulas, blocks, functions) run the corpus's verbatim text (public code kept as test
data, not user input, in a namespace built here); it is not committed (see
tests/data/corpus/README.md), and without it those tests skip. LaTeX items are checked from the
committed index alone, through a hand-written numpy translation per item (LATEX below).

Quantities are named in the course's notation whatever the item's convention (README.md there):
W[l], b[l], Z[l] (the affine output), A[l] (the layer's output, after the dropout mask), G[l]
(the activation before the mask), D[l] (the 0/1 mask), Dp[l] = D[l]/keep_prob (CS231n's stored
mask), gamma[l], beta[l], mu[l], var[l], Zn[l] (normalised), Zt[l] = gamma*Zn + beta, and their
gradients: dW[l], db[l], dgamma[l], dbeta[l] are gradients of the whole cost J; dZ[l], dA[l],
dG[l], dZt[l], dZn[l], dvar[l], dmu[l] are m * dJ/d(.) where the network's `scale` is "dW" (the
course: per-example gradients stacked, the 1/m taken in dW and db) and dJ/d(.) where it is "dZ"
(CS231n: dout already divided by N). dvar and dmu are the batch-norm paper's partials: dvar with
Z - mu held fixed, dmu through both Z - mu and var.
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

CORPUS = Path(__file__).parent / "data" / "corpus" / "regularisation"
SEEDS = (0, 1)
MATCH = 1e-6  # a correct item agrees to this relative error
DIFFER = 1e-3  # a wrong item is off by more than this, on every instance
MARGIN = 1e-2  # relu inputs are kept at least this far from 0


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


INDEX = _read(CORPUS / "index.jsonl")
TEXT_PATH = CORPUS / "text.jsonl"
TEXT = {row["id"]: row["text"] for row in _read(TEXT_PATH)} if TEXT_PATH.exists() else {}
ITEMS = [{**item, "text": TEXT.get(item["id"])} for item in INDEX]
CODE = [item for item in ITEMS if item["kind"] != "latex"]
LATEX_ITEMS = [item for item in ITEMS if item["kind"] == "latex"]
needs_text = pytest.mark.skipif(
    not TEXT, reason="the corpus's verbatim code is not in this checkout (tests/data/corpus/README.md)"
)

KINDS = {"formula", "block", "function", "latex"}
DIALECTS = {"course_indexed", "course_unindexed", "cs231n", "ngml", "bound", "latex_dls", "latex_bn"}
MISTAKES = {
    "l2_without_1/m",
    "l2_half_kept",
    "np_sum_W_in_dW",
    "mask_not_applied",
    "not_divided_by_keep_prob",
    "mask_on_dZ",
    "dgamma_dbeta_divided_by_m",
    "bn_sum_wrong_axis",
    "other",
}
FORMS = {"course": lambda m: 1.0 / (2 * m), "half": lambda m: 0.5, "plain": lambda m: 1.0}


# --------------------------------------------------------------------------------------------
# The network, written again here and differentiated by autograd


def _act(name, axis):
    if name == "sigmoid":
        return lambda z: 1 / (1 + anp.exp(-z))
    if name == "tanh":
        return anp.tanh
    if name == "relu":
        return lambda z: anp.maximum(z, 0.0)
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
        self.rows = net["convention"] == "rows"
        self.n = net["sizes"]
        self.L = len(self.n) - 1
        self.m = net["m"]
        self.axis = 0 if self.rows else 1  # the examples' axis
        drop = net.get("dropout") or {}
        self.kp = drop.get("keep_prob")
        self.drop_layers = set(drop.get("layers", []))
        bn = net.get("batchnorm") or {}
        self.bn_layers = set(bn.get("layers", []))
        self.eps = bn.get("eps", 1e-5)
        reg = net.get("regularization") or {}
        self.lam = reg.get("strength", 0.0)
        self.reg_layers = set(reg.get("layers", range(1, self.L + 1)))
        self.reg_c = FORMS[reg.get("form", "course")](self.m)
        rng = np.random.default_rng(seed)
        for _ in range(200):
            self._sample(rng)
            if self._off_kinks():
                break
        else:  # pragma: no cover - the sizes here make this practically impossible
            raise AssertionError("could not sample an instance away from the kinks")
        self._truth()

    def _shape(self, n):
        return (self.m, n) if self.rows else (n, self.m)

    def _vec(self, n):  # b, gamma, beta
        return (n,) if self.rows else (n, 1)

    def _sample(self, rng):
        n, L = self.n, self.L
        P = {}
        for l in range(1, L + 1):
            shape = (n[l - 1], n[l]) if self.rows else (n[l], n[l - 1])
            P[f"W{l}"] = rng.normal(0.0, 1.0, shape) / np.sqrt(n[l - 1]) * 1.3
            P[f"b{l}"] = rng.normal(0.0, 0.3, self._vec(n[l]))
            if l in self.bn_layers:
                P[f"gamma{l}"] = rng.uniform(0.5, 1.5, self._vec(n[l]))
                P[f"beta{l}"] = rng.normal(0.0, 0.4, self._vec(n[l]))
        self.P = P
        self.X = rng.normal(0.0, 1.0, self._shape(n[0]))
        self.D = {l: (rng.random(self._shape(n[l])) < self.kp).astype(float) for l in self.drop_layers}
        out = self._shape(n[L])
        loss = self.net["loss"]
        self.y = None
        if loss == "bce":
            self.Y = (rng.random(out) < 0.5).astype(float)
        elif loss == "mse_half":
            self.Y = rng.random(out)
        else:  # ce: one label per example
            self.y = rng.integers(0, n[L], self.m)
            hot = np.zeros((self.m, n[L]))
            hot[np.arange(self.m), self.y] = 1.0
            self.Y = hot if self.rows else hot.T

    def _lin(self, W, A, b):
        return anp.dot(A, W) + b if self.rows else anp.dot(W, A) + b

    def _forward(self, P, E):
        acts, ax = self.net["activations"], self.axis
        A = {0: self.X + E["A0"]}
        S = {}
        for l in range(1, self.L + 1):
            Z = self._lin(P[f"W{l}"], A[l - 1], P[f"b{l}"]) + E[f"Z{l}"]
            pre = Z
            if l in self.bn_layers:
                mu = anp.mean(Z, axis=ax, keepdims=True) + E[f"mu{l}"]
                xmu = Z - mu
                var = anp.mean(xmu**2, axis=ax, keepdims=True) + E[f"var{l}"]
                Zn = xmu / anp.sqrt(var + self.eps)
                pre = P[f"gamma{l}"] * Zn + P[f"beta{l}"] + E[f"Zt{l}"]
                S[l] = {"mu": mu, "xmu": xmu, "var": var, "Zn": Zn}
            G = _act(acts[l - 1], 1 if self.rows else 0)(pre) + E[f"G{l}"]
            a = G * self.D[l] / self.kp if l in self.drop_layers else G
            A[l] = a + E[f"A{l}"]
            S.setdefault(l, {}).update({"Z": Z, "pre": pre, "G": G})
        return S, A

    def _data(self, P, E):
        _, A = self._forward(P, E)
        AL, Y = A[self.L], self.Y
        loss = self.net["loss"]
        if loss == "bce":
            total = -anp.sum(Y * anp.log(AL) + (1 - Y) * anp.log(1 - AL))
        elif loss == "ce":
            total = -anp.sum(Y * anp.log(AL))
        else:  # mse_half
            total = 0.5 * anp.sum((AL - Y) ** 2)
        return total / self.m

    def _penalty(self, P):
        total = 0.0
        for l in sorted(self.reg_layers):
            total = total + anp.sum(P[f"W{l}"] ** 2)
        return self.lam * self.reg_c * total

    def _cost(self, P, E):
        return self._data(P, E) + self._penalty(P)

    def _zeros(self):
        E = {"A0": np.zeros_like(self.X)}
        for l in range(1, self.L + 1):
            for key in ("Z", "Zt", "G", "A"):
                E[f"{key}{l}"] = np.zeros(self._shape(self.n[l]))
            stat = (1, self.n[l]) if self.rows else (self.n[l], 1)
            E[f"mu{l}"] = np.zeros(stat)
            E[f"var{l}"] = np.zeros(stat)
        return E

    def _off_kinks(self):
        S, _ = self._forward(self.P, self._zeros())
        for l in range(1, self.L + 1):
            if self.net["activations"][l - 1] == "relu" and np.min(np.abs(S[l]["pre"])) < MARGIN:
                return False
        return True

    def _truth(self):
        E = self._zeros()
        S, A = self._forward(self.P, E)
        gP, gE = grad(self._cost, argnum=(0, 1))(self.P, E)
        gData = grad(self._data, argnum=0)(self.P, E)
        gPen = grad(self._penalty)(self.P)
        s = self.m if self.net["scale"] == "dW" else 1
        stat = (lambda v: v.reshape(-1)) if self.rows else (lambda v: v)
        Q = {"X": self.X, "Y": self.Y, "y": self.y, "m": self.m, "keep_prob": self.kp, "lambda": self.lam,
             "eps": self.eps, "loss": float(self._cost(self.P, E)), "dataloss": float(self._data(self.P, E)),
             "penalty": float(self._penalty(self.P))}
        acts = self.net["activations"]
        for l in range(1, self.L + 1):
            W, b = self.P[f"W{l}"], self.P[f"b{l}"]
            Q.update({f"W[{l}]": W, f"b[{l}]": b, f"Z[{l}]": S[l]["Z"], f"G[{l}]": S[l]["G"],
                      f"dW[{l}]": gP[f"W{l}"], f"dWdata[{l}]": gData[f"W{l}"], f"db[{l}]": gP[f"b{l}"],
                      f"dWpen[{l}]": gPen[f"W{l}"], f"dZ[{l}]": s * gE[f"Z{l}"], f"dG[{l}]": s * gE[f"G{l}"]})
            if acts[l - 1] != "softmax":
                g = _act(acts[l - 1], 0)
                Q[f"gp[{l}]"] = grad(lambda z, g=g: anp.sum(g(z)))(S[l]["pre"])
            if l in self.drop_layers:
                Q[f"D[{l}]"] = self.D[l]
                Q[f"Dp[{l}]"] = self.D[l] / self.kp
            if l in self.bn_layers:
                gamma, st = self.P[f"gamma{l}"], S[l]
                std = np.sqrt(st["var"] + self.eps)
                Q.update({f"gamma[{l}]": gamma, f"beta[{l}]": self.P[f"beta{l}"], f"mu[{l}]": stat(st["mu"]),
                          f"var[{l}]": stat(st["var"]), f"xmu[{l}]": st["xmu"], f"Zn[{l}]": st["Zn"],
                          f"Zt[{l}]": S[l]["pre"], f"std[{l}]": stat(std), f"istd[{l}]": stat(1 / std),
                          f"dgamma[{l}]": gP[f"gamma{l}"], f"dbeta[{l}]": gP[f"beta{l}"],
                          f"dZt[{l}]": s * gE[f"Zt{l}"], f"dZn[{l}]": gamma * s * gE[f"Zt{l}"],
                          f"dvar[{l}]": stat(s * gE[f"var{l}"]), f"dmu[{l}]": stat(s * gE[f"mu{l}"]),
                          f"dstd[{l}]": stat(s * gE[f"var{l}"] * 2 * std)})
            if self.rows:  # Theta = [bias row; W] (Hands-On ML, Ng's Theta transposed)
                Q[f"Theta[{l}]"] = np.vstack([b[None, :], W])
                Q[f"dTheta[{l}]"] = np.vstack([gP[f"b{l}"][None, :], gP[f"W{l}"]])
                Q[f"dThetadata[{l}]"] = np.vstack([gP[f"b{l}"][None, :], gData[f"W{l}"]])
        for l in range(0, self.L + 1):
            Q[f"A[{l}]"] = A[l]
            Q[f"dA[{l}]"] = s * gE[f"A{l}"]
        self.Q = Q

    def ref(self, name):
        value = self.Q[name]
        return value.copy() if isinstance(value, np.ndarray) else value


# --------------------------------------------------------------------------------------------
# Values beyond single quantities, and helpers a snippet calls (correct implementations)


def special(inst, spec):
    kind, _, arg = spec.partition(":")
    q, L = inst.ref, inst.L
    if kind == "int":
        return int(arg)
    if kind == "params":
        return {f"{p}{l}": q(f"{p}[{l}]") for l in range(1, L + 1) for p in ("W", "b")}
    if kind == "gradsdata":  # a CS231n grads dict holding the data part of the gradient
        out = {f"W{l}": q(f"dWdata[{l}]") for l in range(1, L + 1)}
        out.update({f"b{l}": q(f"db[{l}]") for l in range(1, L + 1)})
        return out
    if kind == "self_cs231n":
        return types.SimpleNamespace(params=special(inst, "params"), reg=inst.lam, num_layers=L)
    if kind == "self_welch":  # Neural Networks Demystified's network object after forward()

        def sigmoid_prime(z):
            return np.exp(-z) / ((1 + np.exp(-z)) ** 2)

        return types.SimpleNamespace(W1=q("W[1]"), W2=q("W[2]"), z2=q("Z[1]"), a2=q("A[1]"), z3=q("Z[2]"),
                                     yHat=q("A[2]"), Lambda=inst.lam, sigmoidPrime=sigmoid_prime)
    if kind == "cache_dropout":  # (Z1, D1, A1, W1, b1, Z2, D2, A2, W2, b2, Z3, A3, W3, b3)
        out = []
        for l in range(1, L + 1):
            out.append(q(f"Z[{l}]"))
            if l in inst.drop_layers:
                out.append(q(f"D[{l}]"))
            out += [q(f"A[{l}]"), q(f"W[{l}]"), q(f"b[{l}]")]
        return tuple(out)
    if kind == "layer_cache":  # the course's ((A_prev, W, b), Z)
        l = int(arg)
        return (q(f"A[{l - 1}]"), q(f"W[{l}]"), q(f"b[{l}]")), q(f"Z[{l}]")
    if kind == "caches":
        return [special(inst, f"layer_cache:{l}") for l in range(1, L + 1)]
    if kind == "bncache_reddit":  # gamma, beta, x_hat, x, sample_mean, sample_var, eps, N, D
        return (q("gamma[1]"), q("beta[1]"), q("Zn[1]"), q("Z[1]"), q("mu[1]"), q("var[1]"), inst.eps, inst.m,
                inst.n[1])
    raise ValueError(f"unknown special {spec}")


HELPERS = {
    "compute_cost": (  # the course's reg_utils.compute_cost
        "def compute_cost(a3, Y):\n    m = Y.shape[1]\n"
        "    return -np.sum(Y * np.log(a3) + (1 - Y) * np.log(1 - a3)) / m\n"
    ),
    "relu_backward": "def relu_backward(dA, cache):\n    return dA * (cache > 0)\n",
    "sigmoid_backward": (
        "def sigmoid_backward(dA, cache):\n    s = 1 / (1 + np.exp(-cache))\n    return dA * s * (1 - s)\n"
    ),
    "linear_activation_backward": (
        "def linear_activation_backward(dA, cache, activation):\n    (A_prev, W, b), Z = cache\n"
        "    dZ = relu_backward(dA, Z) if activation == 'relu' else sigmoid_backward(dA, Z)\n"
        "    m = A_prev.shape[1]\n"
        "    return W.T @ dZ, dZ @ A_prev.T / m, dZ.sum(axis=1, keepdims=True) / m\n"
    ),
}


def namespace(inst, item):
    ns = {"np": np, "__builtins__": __builtins__}
    for name in item.get("helpers", []):
        exec(HELPERS[name], ns)  # noqa: S102 - our own helper source
    for name, spec in item.get("names", {}).items():
        known = spec in inst.Q
        ns[name] = inst.ref(spec) if known else special(inst, spec)
    ns["_q"] = inst.ref
    ns["_s"] = lambda spec: special(inst, spec)
    return ns


# --------------------------------------------------------------------------------------------
# Running an item and judging one value


def source(item):
    """The item's code, dedented. A block whose first line is flush left and the rest indented (a
    page that lost the first line's indentation) has the rest dedented on its own."""
    text = item["text"]
    lines = text.split("\n")
    if item["kind"] == "block" and len(lines) > 1 and lines[0] == lines[0].lstrip():
        return lines[0] + "\n" + textwrap.dedent("\n".join(lines[1:]))
    return textwrap.dedent(text)


def _last_target(code):
    stmt = ast.parse(code).body[-1]
    target = stmt.targets[-1] if isinstance(stmt, ast.Assign) else stmt.target
    return ast.unparse(target)


def run_code(inst, item):
    ns = namespace(inst, item)
    code = source(item)
    exec(compile(code, item["id"], "exec"), ns)  # noqa: S102 - corpus test data
    if item["kind"] != "function":
        expr = item.get("result") or _last_target(code)
        return {item["target"]: eval(expr, ns)}  # noqa: S307 - corpus test data
    if item.get("setup"):
        exec(item["setup"], ns)  # noqa: S102 - our own annotation
    value = eval(item["call"], ns)  # noqa: S307 - corpus test data
    out = {}
    _collect(item["returns"], value, out)
    return out


def _collect(spec, value, out):
    if isinstance(spec, str):
        out[spec] = value
    elif isinstance(spec, list):
        assert isinstance(value, (tuple, list)) and len(value) == len(spec)
        for sub, val in zip(spec, value, strict=True):
            _collect(sub, val, out)
    else:
        for key, sub in spec.items():
            _collect(sub, value[key], out)


def relative_error(got, want):
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-12))


def judge(inst, target, got):
    """'match', 'differ', 'shape' (another shape than the true one), or 'close' (in between)."""
    want = inst.ref(target)
    if got is None or np.shape(got) != np.shape(want):
        return "shape", None
    err = relative_error(got, want)
    if err < MATCH:
        return "match", err
    if err > DIFFER:
        return "differ", err
    return "close", err


def outcomes(item, runner):
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


def check(item, runner):
    expect = "correct" if item["label"] == "correct" else "wrong"
    error = item.get("error")
    for res in outcomes(item, runner):
        if error:
            assert res[0] == "error", f"{item['id']}: expected {error}, ran: {res[1]}"
            assert res[1] == error, f"{item['id']}: expected {error}, got {res[1]}: {res[2]}"
            continue
        assert res[0] == "ok", f"{item['id']}: raised {res[1]}: {res[2]}"
        targets = item["target"] if isinstance(item["target"], list) else [item["target"]]
        if item["kind"] == "latex" and _latex_target_ok(item, res[1]):
            targets = list(res[1])  # a generic layer l, evaluated at the layers LATEX lists
        assert sorted(res[1]) == sorted(targets), f"{item['id']}: returned {sorted(res[1])}"
        verdicts = [verdict for verdict, _ in res[1].values()]
        if expect == "correct":
            assert all(v == "match" for v in verdicts), f"{item['id']}: {res[1]}"
        elif item.get("shape_error"):
            assert "shape" in verdicts, f"{item['id']}: {res[1]}"
        else:
            assert "differ" in verdicts and "close" not in verdicts, f"{item['id']}: {res[1]}"


# --------------------------------------------------------------------------------------------
# LaTeX items: a numpy translation of each formula as written, evaluated on the instance


def _generic(l_values, fn):
    return lambda inst: {key: value for l in l_values for key, value in fn(inst, l).items()}


def _j_regularized(inst):
    q, m = inst.ref, inst.m
    a, y = q(f"A[{inst.L}]"), q("Y")
    cross = -1 / m * np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
    l2 = 1 / m * inst.lam / 2 * sum(np.sum(q(f"W[{l}]") ** 2) for l in range(1, inst.L + 1))
    return {"loss": cross + l2}


LATEX = {
    # d/dW (1/2 lambda/m W^2) = lambda/m W, at every layer
    "amanchadha-latex-l2-term-gradient": _generic(
        (1, 2, 3), lambda inst, l: {f"dWpen[{l}]": inst.lam / inst.m * inst.ref(f"W[{l}]")}
    ),
    # J_regularized = -1/m sum(y log a + (1-y) log(1-a)) + 1/m lambda/2 sum_l sum_k sum_j W^2
    "amanchadha-latex-j-regularized": _j_regularized,
    # dA^{[l-1]} = W^{[l]T} . dZ^{[l]}, at l = 2, 3 (the masked A[l-1] of the dropout net)
    "dlai-310969-latex-dA-prev": _generic(
        (2, 3), lambda inst, l: {f"dA[{l - 1}]": inst.ref(f"W[{l}]").T @ inst.ref(f"dZ[{l}]")}
    ),
    # dL/dbeta_j = sum_i dy_ij
    "hingma-latex-dbeta": lambda inst: {"dbeta[1]": np.sum(inst.ref("dZt[1]"), axis=0)},
    # dL/dgamma_j = sum_i dy_ij * xhat_ij
    "hingma-latex-dgamma": lambda inst: {"dgamma[1]": np.sum(inst.ref("dZt[1]") * inst.ref("Zn[1]"), axis=0)},
    # dL/dxhat_ij = dy_ij * gamma_j
    "hingma-latex-dxhat": lambda inst: {"dZn[1]": inst.ref("dZt[1]") * inst.ref("gamma[1]")},
}


def run_latex(inst, item):
    return LATEX[item["id"]](inst)


def _latex_target_ok(item, values):
    """Every evaluated key is the target, or the target's generic layer (l, l-1) made concrete."""
    target = item["target"]
    if "[l" not in target:
        return set(values) == {target}
    stem = target.split("[")[0]
    return bool(values) and all(key.startswith(stem + "[") and key[len(stem) + 1:-1].isdigit() for key in values)


# --------------------------------------------------------------------------------------------
# The tests

FIELDS = {"id", "source", "kind", "dialect", "network", "target", "label", "mistake", "names", "notes"}


def test_the_corpus_is_as_large_as_the_issue_asks():
    assert len(INDEX) >= 40
    ids = [item["id"] for item in INDEX]
    assert len(ids) == len(set(ids))
    for item in INDEX:
        assert FIELDS <= set(item), item["id"]
        assert item["kind"] in KINDS, item["id"]
        assert item["dialect"] in DIALECTS, item["id"]
        net = item["network"]
        assert len(set(net["sizes"][1:])) == len(net["sizes"]) - 1 or net["sizes"][-1] == 1, item["id"]
        assert net["m"] not in net["sizes"], item["id"]
        if item["label"] == "correct":
            assert item["mistake"] is None, item["id"]
        else:
            assert item["label"].startswith("wrong: "), item["id"]
            assert item["mistake"] in MISTAKES, item["id"]
    terms = {"regularization", "dropout", "batchnorm"}
    assert all(any(item["network"][t] for item in INDEX) for t in terms)
    assert sum(item["label"] != "correct" for item in INDEX) >= 10


@needs_text
def test_every_index_item_has_its_text():
    assert set(TEXT) == {item["id"] for item in INDEX}


@needs_text
def test_formulas_are_one_assignment_and_blocks_a_few():
    for item in CODE:
        body = ast.parse(source(item)).body
        if item["kind"] == "formula":
            assert len(body) == 1 and isinstance(body[0], (ast.Assign, ast.AugAssign)), item["id"]
        elif item["kind"] == "block":
            assert 2 <= len(body) <= 8, item["id"]
        else:
            defined = {node.name for node in body if isinstance(node, ast.FunctionDef)}
            called = ast.parse(item["call"], mode="eval").body
            assert isinstance(called, ast.Call) and ast.unparse(called.func) in defined, item["id"]


@needs_text
@pytest.mark.parametrize("item", CODE, ids=[item["id"] for item in CODE])
def test_code_label(item):
    check(item, run_code)


@pytest.mark.parametrize("item", LATEX_ITEMS, ids=[item["id"] for item in LATEX_ITEMS])
def test_latex_label(item):
    inst = Instance(item["network"], SEEDS[0])
    assert _latex_target_ok(item, run_latex(inst, item)), item["id"]
    check(item, run_latex)


def test_every_latex_item_has_a_translation():
    assert set(LATEX) == {item["id"] for item in LATEX_ITEMS}


def test_the_oracle_agrees_with_finite_differences():
    """The reference forward pass and its autograd gradients, checked against central differences."""
    for item in (next(i for i in INDEX if i["network"][t]) for t in ("regularization", "dropout", "batchnorm")):
        inst = Instance(item["network"], 3)
        E = inst._zeros()
        for l in range(1, inst.L + 1):
            W = inst.P[f"W{l}"]
            numeric = np.zeros_like(W)
            for idx in np.ndindex(W.shape):
                for sign in (1, -1):
                    P = {k: v.copy() for k, v in inst.P.items()}
                    P[f"W{l}"][idx] += sign * 1e-6
                    numeric[idx] += sign * inst._cost(P, E) / 2e-6
            assert relative_error(inst.ref(f"dW[{l}]"), numeric) < 1e-6, (item["id"], l)


def test_a_planted_mistake_is_caught_by_the_verifier():
    """The verifier itself can fail: a correct item relabelled wrong, or a wrong one relabelled
    correct, must not pass (LaTeX items, so that this runs without the verbatim text)."""
    item = LATEX_ITEMS[0]
    with pytest.raises(AssertionError):
        check(dict(item, label="wrong: planted by this test"), run_latex)
    planted = dict(item, id="planted")
    LATEX["planted"] = lambda inst: {k: 1.01 * v for k, v in LATEX[item["id"]](inst).items()}
    try:
        with pytest.raises(AssertionError):
            check(planted, run_latex)
    finally:
        del LATEX["planted"]


@needs_text
@pytest.mark.parametrize("item", CODE, ids=[item["id"] for item in CODE])
def test_relabelling_a_code_item_fails(item):
    """Every label is decided by the numbers: the opposite label must fail."""
    if item["label"] == "correct":
        flipped = dict(item, label="wrong: planted by this test", mistake="other")
    else:
        flipped = dict(item, label="correct", mistake=None, error=None, shape_error=None)
    with pytest.raises(AssertionError):
        check(flipped, run_code)
