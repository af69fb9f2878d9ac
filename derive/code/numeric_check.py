"""Judging a snippet by its numbers (docs/code.md): a unit of the snippet run by derive's own
interpreter (:mod:`.numeric`, never Python) on random instances of the network, each gradient's
value compared with the engine's, and the loss it returns recognised among the catalogue's.

The instances are derive's (:func:`derive.network.model.random_instance`, seeded, sizes
distinct from each other and from m); the true values are the derivation evaluated on them
(:func:`derive.engine.values.gradient_values`), never formulas of this module. The parameters of
the function get values by their role (:mod:`.known`) or by what their name means.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

import numpy as np

from derive import layers
from derive.catalogue import rules
from derive.code import bn_cache
from derive.code.known import KNOWN
from derive.code.numeric import Interpreter
from derive.code.numeric_table import Obj
from derive.engine.backward import derive as derivation_of
from derive.engine.values import forward_env, gradient_values
from derive.network import model
from derive.network.spec import Network

SEEDS = (11, 12)
RTOL, ATOL = 1e-6, 1e-9
LOSS_NAMES = re.compile(r"(?i)^(loss|cost|j|total_loss|loss_value)$")
REG_NAMES = ("reg", "lambd", "lambda_", "lam", "reg_strength", "lmbda", "regularization")
REG_VALUE = 0.37
FORMS = {"course": "(λ/(2m))·Σ‖W‖² (the course's form)", "half": "½·reg·Σ‖W‖² (CS231n's half form)",
         "plain": "reg·Σ‖W‖² (the plain form)"}


@dataclass
class Case:
    """One instance: the network's values, and what the function's parameters are given."""

    net: Network
    env: dict  # (base, layer) -> array: inputs, forward pass and true gradients
    labels: np.ndarray | None
    reg: float | None
    m: int


@dataclass
class Run:
    """The function's result on one instance: its return value and its names at the return."""

    case: Case
    value: object
    names: dict = field(default_factory=dict)
    snapshots: dict = field(default_factory=dict)  # (line, name) -> value after that line


def wants_labels(net: Network, params: list[str], roles: dict) -> bool:
    return "labels" in roles.values() or any(p in ("y", "labels") for p in params) and \
        (net.loss in ("ce", "svm") or not net.layout.columns)


def cases(net: Network, labels: bool, bias: bool, reg: float | None) -> list[Case]:
    """Two seeded instances with distinct numbers of examples (7 and 5, or others not among the
    sizes); the targets one-hot when the code takes class labels; b = 0 without a bias."""
    sizes = set(model.concrete_sizes(net))
    ms = [k for k in (7, 5, 9, 6, 8, 11) if k not in sizes][:2]
    out = []
    for seed, m in zip(SEEDS, ms, strict=True):
        inst = model.random_instance(net, seed=seed, m=m)
        y = None
        if labels:
            rng = np.random.default_rng(seed + 100)
            n_out = inst.sizes[-1]
            y = rng.integers(0, n_out, size=m)
            onehot = np.eye(n_out)[y]
            inst.Y = onehot if not net.layout.columns else onehot.T.copy()
        if not bias:
            for l in range(1, net.L + 1):
                inst.params["b", l] = np.zeros_like(inst.params["b", l])
        out.append(Case(net, forward_env(net, inst), y, reg, m))
    return out


def judged_values(net: Network, case: Case) -> dict:
    """Every true value of ``net`` (its derivation evaluated) on the case's inputs and what its
    layers are given (:func:`derive.layers.given`: W, b, batch norm's γ, β, dropout's masks D,
    held fixed)."""
    given = layers.given()
    inst = model.Instance(model.concrete_sizes(net), case.m, case.env["X", None],
                          case.env["Y", None], {k: v for k, v in case.env.items() if k[0] in given})
    return gradient_values(derivation_of(net, prove=False), inst, forward_env(net, inst))


def _linear_cache(env: dict, l: int) -> tuple:
    return (env["A", l - 1] if l > 1 else env["X", None], env["W", l], env["b", l])


def argument(net: Network, case: Case, param: str, role: str | None, layer: int | None,
             one_d_bias: bool):
    """The value a parameter is given on ``case`` (None when derive has none for it)."""
    env, L = case.env, net.L
    if role == "labels" or role is None and param in ("y", "labels") and case.labels is not None:
        return case.labels
    if param in REG_NAMES or role == "reg":
        return case.reg if case.reg is not None else 0.0
    if role == "caches":
        return [(_linear_cache(env, l), env["Z", l]) for l in range(1, L + 1)]
    if role in ("parameters", "forward"):
        out = {}
        for l in range(1, L + 1):
            keys = ("W", "b") if role == "parameters" else ("Z", "A", "W", "b")
            for k in keys:
                v = env[k, l]
                out[f"{k}{l}"] = v.ravel() if k == "b" and one_d_bias else v
        return out
    if role in ("linear_cache", "activation_cache", "layer_cache") and layer is not None:
        lin = _linear_cache(env, layer)
        return {"linear_cache": lin, "activation_cache": env["Z", layer],
                "layer_cache": (lin, env["Z", layer])}[role]
    text = role or param
    if layer is not None:
        text = text.replace("[l]", f"[{layer}]").replace("[l-1]", f"[{layer - 1}]")
    text = text.replace("[L]", f"[{L}]")
    hit = re.fullmatch(r"(d?[A-Za-z]+)\[(\d+)\](\.T)?", text)
    if hit:
        key = (hit.group(1), int(hit.group(2)))
        if key == ("A", 0):
            key = ("X", None)  # type: ignore[assignment]
        if key in env:
            return env[key].T if hit.group(3) else env[key]
    if text in ("X", "x", "Y"):
        return env[text.upper(), None]
    if layer is not None and text in ("W", "w", "b", "Z", "A", "dZ", "dA", "dout"):
        base = {"w": "W", "dout": "dZ"}.get(text, text)
        return env.get((base, layer))
    if layer is not None and text in ("A_prev", "a_prev", "dA_prev"):
        key = ("dA" if text.startswith("d") else "A", layer - 1)
        return env.get(key) if key[1] > 0 else env["X", None]
    return None


def self_object(net: Network, case: Case) -> Obj:
    params = {}
    for l in range(1, net.L + 1):
        params[f"W{l}"] = case.env["W", l]
        params[f"b{l}"] = case.env["b", l].ravel()
    return Obj({"params": params, "reg": case.reg or 0.0, "num_layers": net.L,
                "weights": [case.env["W", l] for l in range(1, net.L + 1)],
                "biases": [case.env["b", l] for l in range(1, net.L + 1)]})


def run_function(src, fname: str, node: ast.FunctionDef, roles: dict, case: Case,
                 layer: int | None, extra: dict) -> Run:
    """The function run by derive's interpreter on ``case``; a parameter derive has no value
    for is a :class:`~derive.code.numeric_table.CodeFailure` naming it."""
    from derive.code.numeric_table import CodeFailure

    net = case.net
    params = [a.arg for a in node.args.args]
    owner = None
    if params and params[0] == "self":
        owner, params = self_object(net, case), params[1:]
    one_d = owner is not None
    args: list = []
    kwargs: dict = {}
    n_defaults = len(node.args.defaults)
    for i, p in enumerate(params):
        if roles.get(p) == "batchnorm_cache" and layer is not None:
            functions = {n.name: n for n in src.tree.body if isinstance(n, ast.FunctionDef)}
            kwargs[p] = bn_cache_values(src, node, fname, case.env, layer, case.m, extra,
                                         functions)
            continue
        v = argument(net, case, p, roles.get(p), layer, one_d)
        if v is None and i >= len(params) - n_defaults and p not in ("y",):
            continue  # keep its default
        if v is None:
            raise CodeFailure(node.lineno, f"derive has no value for the parameter {p} of "
                                           f"{fname} (give it a known meaning with names=)")
        kwargs[p] = v
    interp = Interpreter(src, extra)
    value = interp.call(fname, args, kwargs, owner=owner)
    return Run(case, value, dict(interp.last_env), interp.snapshots)


def returned_loss(node: ast.FunctionDef, value) -> tuple[str, float] | None:
    """(name, value) of the loss a function returns: a returned name like ``loss`` or ``cost``
    holding one number."""
    for stmt in ast.walk(node):
        if not isinstance(stmt, ast.Return) or stmt.value is None:
            continue
        elts = stmt.value.elts if isinstance(stmt.value, ast.Tuple) else [stmt.value]
        vals = value if isinstance(value, tuple) and isinstance(stmt.value, ast.Tuple) else \
            (value,)
        if len(vals) != len(elts):
            continue
        for e, v in zip(elts, vals, strict=True):
            if isinstance(e, ast.Name) and LOSS_NAMES.match(e.id) and np.size(v) == 1 and \
                    np.isrealobj(v):
                return e.id, float(np.asarray(v, dtype=float).ravel()[0])
    return None


def last_line(node: ast.FunctionDef, name: str) -> int:
    lines = [n.lineno for n in ast.walk(node) if isinstance(n, ast.Assign | ast.AugAssign) and
             any(isinstance(t, ast.Name) and t.id == name
                 for t in (n.targets if isinstance(n, ast.Assign) else [n.target]))]
    return max(lines, default=node.lineno)


@dataclass(frozen=True)
class Candidate:
    loss: str
    mean: bool
    form: str | None  # None: no penalty

    def network(self, net: Network, reg: float | None) -> Network:
        scale = (net.scale if net.cost_is_mean else "mean") if self.mean else "sum"
        l2 = {"l2": reg, "l2_form": self.form} if self.form and reg else {"l2": None}
        return net.replace(loss=self.loss, scale=scale, **l2)

    def describe(self) -> str:
        title = rules.losses()[self.loss].title
        text = f"{title}, {'mean over N' if self.mean else 'summed over the examples'}"
        return text + (f", + {FORMS[self.form]}" if self.form else "")


def candidates(net: Network, has_reg: bool) -> list[Candidate]:
    names = sorted({e.name for e in rules.losses().values()})
    if net.loss in names:  # the network's own loss first (ties go to it)
        names.remove(net.loss)
        names.insert(0, net.loss)
    forms: list[str | None] = [None, "half", "plain", "course"] if has_reg else [None]
    out = []
    for loss in names:
        for mean in (True, False):
            for form in forms:
                if form == "course" and not mean:
                    continue  # (λ/2)Σ‖W‖² under a sum: the half form
                out.append(Candidate(loss, mean, form))
    return out


def loss_value(cand: Candidate, case: Case) -> float | None:
    try:
        net = cand.network(case.net, case.reg)
        cache = {k: v for k, v in case.env.items() if k[0] in ("A", "Z")}
        cache["A", 0] = case.env["X", None]
        params = {k: v for k, v in case.env.items() if k[0] == "W"}
        total = model.cost(net, cache, case.env["Y", None], params)
        return float(np.asarray(total))
    except Exception:  # noqa: BLE001 - a loss that cannot take these targets is no candidate
        return None


def close(got, expected) -> bool:
    got, expected = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return bool(np.all(np.abs(got - expected) <= RTOL * scale + ATOL))


def recognise(runs: list[tuple[Run, float]]) -> tuple[Candidate | None, Candidate | None, dict]:
    """(the candidate the loss matches on every instance, else None; the nearest; details)."""
    net, has_reg = runs[0][0].case.net, runs[0][0].case.reg is not None
    best, best_err = None, np.inf
    for cand in candidates(net, has_reg):
        errs = []
        for run, got in runs:
            want = loss_value(cand, run.case)
            if want is None:
                break
            errs.append(abs(got - want) / (abs(want) + 1e-12))
            if not close(got, want):
                continue
        if len(errs) != len(runs):
            continue
        if all(close(got, loss_value(cand, run.case)) for run, got in runs):
            return cand, cand, {}
        if max(errs) < best_err:
            best, best_err = cand, max(errs)
    detail = {}
    if best is not None:
        run, got = runs[0]
        detail = {"instance": 0, "index": [], "got": got, "expected": loss_value(best, run.case)}
    return None, best, detail


def compare(got, expected, transpose_ok: bool = False) -> tuple[str, dict | None, str]:
    """(verdict, counterexample, message) of one value against the true one."""
    got = np.asarray(got, dtype=float) if not isinstance(got, np.ndarray) else got
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        squeezed = tuple(d for d in expected.shape if d != 1)
        if got.ndim == 1 and got.shape == squeezed or got.size == 1 == expected.size:
            got = got.reshape(expected.shape)
        else:
            return "shape_error", None, (f"the value computed is {_shape(got.shape)} but the "
                                         f"gradient is {_shape(expected.shape)}")
    if close(got, expected):
        return "correct", None, ""
    diff = np.abs(got - expected)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))
    return "not_equivalent", {"index": list(idx), "got": float(got[idx]),
                              "expected": float(expected[idx])}, \
        "the shapes fit, but the value the code computes differs from the derivation"


def _shape(shape: tuple) -> str:
    return "×".join(str(d) for d in shape) if shape else "a number"


def known_sources() -> dict:
    from derive.code.source import read_source

    out = {}
    for name, entry in KNOWN.items():
        body = entry.body or entry.numeric
        if body:
            out[name] = read_source(body)
    return out


# -- a batch-norm cache's numbers (here, not in bn_cache: the interpreter imports the reader)
def bn_cache_values(src, node: ast.FunctionDef, fname: str, env: dict, layer: int, m: int, extra: dict,
                    functions: dict):
    """The cache's numbers on one instance: the snippet's forward run by derive's interpreter
    on the layer's Z, γ, β (1-D, as CS231n's) and ε, else each entry by its name."""
    from derive.network.scales import EPS_STANDIN

    gamma, beta = env["gamma", layer].ravel(), env["beta", layer].ravel()
    fwd = bn_cache.forward_name(fname, functions)
    if fwd is not None:
        fdef = functions[fwd]
        kwargs: dict = {}
        for i, a in enumerate(fdef.args.args):
            p = a.arg
            if i == 0:
                kwargs[p] = env["Z", layer]
            elif p in ("gamma", "beta"):
                kwargs[p] = gamma if p == "gamma" else beta
            elif p in ("eps", "epsilon"):
                kwargs[p] = EPS_STANDIN
            elif "param" in p:
                kwargs[p] = {"mode": "train", "eps": EPS_STANDIN}
        out = Interpreter(src, extra).call(fwd, [], kwargs)
        if isinstance(out, tuple) and len(out) >= 2:
            return out[-1]
    z = env["Z", layer]
    mu, var = z.mean(axis=0), z.var(axis=0)
    values = {"Z": z, "Znorm": env["Znorm", layer], "mu": mu, "var": var,
              "var_eps": var + EPS_STANDIN, "gamma": gamma, "beta": beta, "eps": EPS_STANDIN,
              "std": np.sqrt(var + EPS_STANDIN), "inv_std": 1 / np.sqrt(var + EPS_STANDIN),
              "centred": z - mu, "centred_sq": (z - mu) ** 2, "m": m, "units": z.shape[1]}
    names = [t.id for n in ast.walk(node) if isinstance(n, ast.Assign) and
             isinstance(n.value, ast.Name) and n.value.id == "cache" and
             isinstance(n.targets[0], ast.Tuple) for t in n.targets[0].elts
             if isinstance(t, ast.Name)]
    if names:
        return tuple(values.get(bn_cache.meaning(n) or "") for n in names)
    return {k: values[v] for k in bn_cache.BY_NAME if (v := bn_cache.meaning(k))}

__all__ = ["Candidate", "Case", "Run", "cases", "compare", "judged_values", "recognise",
           "returned_loss", "run_function"]
