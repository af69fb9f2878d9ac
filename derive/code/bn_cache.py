"""CS231n's batch-norm cache: what each of its entries *is* (docs/code.md, "Batch norm").

A solution's ``batchnorm_backward(dout, cache)`` reads a cache its own ``batchnorm_forward``
built, and solutions store different things under the same name (jariasf's ``var`` is
``x.var(axis=0) + eps``, another's is the variance alone; a ``z`` may be the input or the
normalised value). So, in this order:

1. When the snippet has the forward function that builds the cache (``batchnorm_forward`` for
   ``batchnorm_backward`` and ``batchnorm_backward_alt``), it is read: called with the layer's
   Z[l] (CS231n's x), γ[l], β[l], ε and ``bn_param = {"mode": "train", "eps": ε}``, and the
   cache it returns holds each entry as the forward's own assignment computes it. The numeric
   reading runs the same forward on the instance's numbers.
2. Without it, each entry is read by its name (:data:`BY_NAME`). A name with two meanings in the
   solutions (:data:`AMBIGUOUS`) is read first as the usual one; the checker then tries the
   other (:mod:`.checking`), and says which reading the verdict is under.
"""

from __future__ import annotations

import ast
import itertools
from contextvars import ContextVar
from typing import TYPE_CHECKING

import sympy as sp

from derive.code import values as V
from derive.core import expr as E
from derive.errors import ParseError
from derive.network.symbols import SymbolTable

if TYPE_CHECKING:
    from derive.code.reader import Frame, Reader

# what the names of CS231n solutions' batch-norm caches hold, at layer l (x is Z[l])
BY_NAME = {
    **dict.fromkeys(("x", "X", "z"), "Z"),
    **dict.fromkeys(("x_hat", "xhat", "x_norm", "xnorm", "x_normalized", "xn", "x_normed",
                     "normalized", "z_norm"), "Znorm"),
    **dict.fromkeys(("mu", "mean", "sample_mean", "batch_mean", "x_mean"), "mu"),
    **dict.fromkeys(("var", "sample_var", "variance", "batch_var", "x_var"), "var"),
    "gamma": "gamma", "beta": "beta",
    **dict.fromkeys(("eps", "epsilon"), "eps"),
    **dict.fromkeys(("std", "sqrtvar", "sample_std", "sigma", "sqrt_var", "x_std"), "std"),
    **dict.fromkeys(("ivar", "inv_std", "istd", "inv_var", "invvar", "ivar_", "inv_x_std"),
                    "inv_std"),
    **dict.fromkeys(("xmu", "x_mu", "x_centered", "xc", "x_minus_mean", "xm", "xcentered",
                     "x_mean_0"), "centred"),
    **dict.fromkeys(("x_mean_0_sqr", "sq", "xmu_sq"), "centred_sq"),
    **dict.fromkeys(("N", "batch_size", "num_examples"), "m"),
    "D": "units",  # the layer's n[l] (CS231n's N, D = x.shape)
}
#: the staged batch-norm graph (kratzert's "Understanding the backward pass through Batch
#: Normalization Layer", CS231n solutions): each node a formula line may name without defining
#: it, from its forward definition, in derive's notation at layer {l} (examples on axis {ax}); a
#: d<node> is the gradient with respect to that node: a quantity of the derivation, or the
#: chain rule from the one node the graph feeds it to (sqrtvar -> ivar -> xhat; sq -> var).
#: The partial sums of one path (dxmu1, dxmu2, dx1, dx2) are no node's gradient and are not
#: here: their definition is the line that computes them.
STAGED = {
    **dict.fromkeys(("xmu", "x_mean_0"), "Z{l} - mu{l}"),
    "sq": "(Z{l} - mu{l}) ** 2",
    **dict.fromkeys(("sqrtvar", "x_std"), "np.sqrt(var{l} + eps)"),
    **dict.fromkeys(("ivar", "inv_x_std"), "1 / np.sqrt(var{l} + eps)"),
    "va2": "Z_norm{l}",  # cthorey's: va2 = x̂, va3 = γ ⊙ x̂
    **dict.fromkeys(("gammax", "va3"), "gamma{l} * Z_norm{l}"),
    "batch_size": "m",
    **dict.fromkeys(("dgammax", "dva3"), "dZ_tilde{l}"),  # out = gammax + beta
    "dmean": "dmu{l}",  # the node mean is μ (a bare ``mean`` is numpy's function in text)
    # sqrtvar feeds ivar = 1/sqrtvar: dsqrtvar = −divar / sqrtvar² (from the output's side, so
    # that a line for dvar from it is no circle)
    **dict.fromkeys(("dsqrtvar", "dx_std"),
                    "-np.sum(dZ_norm{l} * (Z{l} - mu{l}), axis={ax}, keepdims=True) / "
                    "(var{l} + eps)"),
    "divar": "np.sum(dZ_norm{l} * (Z{l} - mu{l}), axis={ax}, keepdims=True)",
    "dsq": "np.ones_like(Z{l}) * dvar{l} / m",
    "dxmu": "dZ_norm{l} / np.sqrt(var{l} + eps) + 2 * (Z{l} - mu{l}) * dvar{l} / m",
}
#: names solutions use for two things: the usual reading first
AMBIGUOUS = {"var": ("var", "var_eps"), "z": ("Z", "Znorm")}
SHOWN = {"Z": "Z", "Znorm": "Z_norm", "mu": "μ", "var": "σ²", "var_eps": "σ² + ε",
         "gamma": "γ", "beta": "β", "eps": "ε", "std": "√(σ² + ε)", "inv_std": "1/√(σ² + ε)",
         "centred": "Z − μ", "centred_sq": "(Z − μ)²", "m": "m", "units": "n[l]"}
#: the forward that builds a backward's cache
FORWARDS = {"batchnorm_backward": "batchnorm_forward",
            "batchnorm_backward_alt": "batchnorm_forward"}
#: the choice among :data:`AMBIGUOUS` readings in force (entry name -> meaning)
READING: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("bn_cache_reading", default=())


def meaning(name: str) -> str | None:
    """What a cache entry of this name holds under the reading in force."""
    return dict(READING.get()).get(name) or BY_NAME.get(name)


def forward_name(backward: str, functions) -> str | None:
    """The snippet's function that builds ``backward``'s cache, or None."""
    name = FORWARDS.get(backward) or backward.replace("backward", "forward")
    return name if name != backward and name in functions else None


def entries_read(node: ast.AST, param: str = "cache") -> list[str]:
    """The cache entries a backward reads: the names it unpacks, the keys it looks up."""
    out: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name) and n.value.id == param \
                and isinstance(n.targets[0], ast.Tuple | ast.List):
            out += [t.id for t in n.targets[0].elts if isinstance(t, ast.Name)]
        if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name) and \
                n.value.id == param and isinstance(n.slice, ast.Constant) and \
                isinstance(n.slice.value, str):
            out.append(n.slice.value)
    return list(dict.fromkeys(out))


def readings(node: ast.AST) -> list[dict[str, str]]:
    """Every reading of the ambiguous entries a backward reads, the usual one first."""
    names = [n for n in entries_read(node) if n in AMBIGUOUS]
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(AMBIGUOUS[n] for n in names))]


def describe(reading: dict[str, str]) -> str:
    return ", ".join(f"cache's {k} as {SHOWN[v]}" for k, v in reading.items())


# -- the symbolic reading ------------------------------------------------------------------------
def _value(table: SymbolTable, layer: int, what: str) -> V.Value:
    from derive.core.names import EPS, m  # ε of the layer's √(σ² + ε); the examples

    if what == "eps":
        return V.Tensor(E.Scalar(EPS))
    if what == "m":
        return V.Tensor(E.Scalar(m))
    if what == "units":
        return V.Tensor(E.Scalar(table.net.dim(layer)))
    if what in ("std", "inv_std", "var_eps"):
        v, e = sp.symbols("v w", real=True)
        form = {"std": sp.sqrt(v + e), "inv_std": 1 / sp.sqrt(v + e), "var_eps": v + e}[what]
        return V.Tensor(E.Pointwise(form, (v, e), (table["var", layer], E.Scalar(EPS)),
                                    broadcast=True))
    if what in ("centred", "centred_sq"):
        z, u = sp.symbols("z u", real=True)
        form = z - u if what == "centred" else (z - u) ** 2
        return V.Tensor(E.Pointwise(form, (z, u), (table["Z", layer], table["mu", layer]),
                                    broadcast=True))
    return V.Tensor(table[what, layer])


def symbolic(reader: Reader, layer: int, f: Frame) -> V.Value:
    """The batch-norm cache at layer l: read from the snippet's forward when it has one, else
    by the names the backward unpacks (``x, x_hat, mu, var, gamma, beta, eps = cache``) or the
    keys it reads."""
    if reader.net.kinds[layer - 1] != "batchnorm":
        raise ParseError(f"this is a batch-norm layer's backward pass, and layer {layer} has no "
                         "batch norm: give --batchnorm", None, None)
    table = SymbolTable(reader.net)
    fwd = forward_name(f.fname, reader.globals)
    if fwd is not None:
        built = _from_forward(reader, fwd, layer, f, table)
        if built is not None:
            reader.note(f"the cache is what {fwd} stores: each entry read from its assignment "
                        "there")
            return built
        elif not any(n.startswith(f"{fwd}'s line") for n in reader.reading.notes):
            reader.note(f"{fwd} was read, but the cache it returns was not: its entries are "
                        "read by their names")
    names = unpacked(f)
    if names:
        unknown = [n for n in names if meaning(n) is None and n != "_"]
        if unknown:
            raise ParseError(f"the batch-norm cache's {unknown[0]!r} is not a name derive reads "
                             f"(known: {', '.join(sorted(BY_NAME))}); give the forward function "
                             "that builds the cache, and its assignments say what each entry is",
                             None, None)
        items = [_value(table, layer, meaning(n) or "") if meaning(n) else V.Null()
                 for n in names]
        return V.Seq(items, "tuple", f"the batch-norm cache of layer {layer}", layer)
    keys = {k: meaning(k) for k in BY_NAME}
    return V.Mapping({k: _value(table, layer, v) for k, v in keys.items() if v}, None,
                     f"the batch-norm cache of layer {layer}")


def _from_forward(reader: Reader, fwd: str, layer: int, f: Frame,
                  table: SymbolTable) -> V.Value | None:
    from derive.core.names import EPS

    func = reader.globals[fwd]
    fdef = func.node
    assert isinstance(fdef, ast.FunctionDef)
    eps = V.Tensor(E.Scalar(EPS))
    kwargs: dict = {}
    for i, a in enumerate(fdef.args.args):
        p = a.arg
        if i == 0:
            kwargs[p] = V.Tensor(table["Z", layer])
        elif p in ("gamma", "beta"):
            kwargs[p] = V.Tensor(table[p, layer])
        elif p in ("eps", "epsilon"):
            kwargs[p] = eps
        elif "param" in p:
            kwargs[p] = V.Mapping({"mode": V.Str("train"), "eps": eps}, None, p)
    out = reader.inline(f, func, [], kwargs, fdef)
    if isinstance(out, V.Seq) and len(out.items) >= 2 and \
            isinstance(out.items[-1], V.Seq | V.Mapping):
        cache = out.items[-1]
        entries = cache.items if isinstance(cache, V.Seq) else list(cache.items.values())
        broken = next((v for v in entries if isinstance(v, V.Broken)), None)
        if broken is not None:  # a line of the forward derive does not read (x - mu.T of a
            reader.note(f"{fwd}'s line {broken.line} was not read ({str(broken.error).splitlines()[0]}), "
                        "so its cache is read by the entries' names")  # 1-D mean): by name
            return None
        if isinstance(cache, V.Seq):
            cache.layer = layer
        cache.what = f"the batch-norm cache of layer {layer} ({fwd}'s)"
        return cache
    return None


def unpacked(f: Frame, name: str = "cache") -> list[str]:
    """The names a tuple assignment ``(a, b) = name`` of the snippet unpacks, in order."""
    for node in ast.walk(f.source.tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) \
                and node.value.id == name and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Tuple | ast.List):
            return [t.id if isinstance(t, ast.Name) else "" for t in node.targets[0].elts]
    return []


__all__ = ["AMBIGUOUS", "BY_NAME", "FORWARDS", "READING", "STAGED", "describe", "entries_read",
           "forward_name", "meaning", "readings", "symbolic", "unpacked"]
