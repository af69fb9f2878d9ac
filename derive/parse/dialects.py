"""Dialects: the names other courses and books give the network's quantities, as one table.

Each dialect's vocabulary is data: an identifier (or a list or dict entry such as
``nabla_w[-l]``, ``grads['W1']``) mapped to a quantity in the course's notation, read through the
same bindings as ``names=`` (:mod:`derive.parse.bindings`), plus the dialect's conventions (rows,
where the 1/m sits, one example). A dialect may have several readings of its names (CS231n's
``x, dout, dx`` in ``affine_backward`` and in ``relu_backward``); the checker reads a formula under
each and says which one it used.

>>> d = DIALECTS["cs231n"]
>>> [r.name for r in d.readings], d.scale, d.convention
(['affine_backward', 'relu_backward', 'batchnorm_backward'], 'dZ', 'rows')
>>> entry("nabla_w[-l]"), entry("activations[-l-1]"), entry("zs[-1]"), entry("grads['b2']")
('dW[l]', 'A[l-1]', 'Z[L]', 'db[2]')
>>> entry("change_w['W3']"), entry("params['A3']"), entry("stuff['W3']")
('dW[3]', 'A[3]', None)
>>> detect("dx = dout.dot(w.T)", 2), detect("dw = 1/m * np.dot(X, (A - Y).T)", 1)
('cs231n', 'logreg')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from derive.parse.names import resolve_ident


@dataclass(frozen=True)
class Reading:
    """One reading of a dialect's names: identifier -> quantity (a binding's value)."""

    name: str
    names: Mapping[str, str]


@dataclass(frozen=True)
class Dialect:
    key: str
    title: str
    readings: tuple[Reading, ...]
    marks: frozenset[str] = frozenset()  # identifiers that, written, say "this dialect"
    convention: str | None = None  # the layout its code uses ("rows": examples as rows)
    scale: str | None = None  # where its 1/m sits (derive.network.spec.SCALES)
    one_example: bool = False  # its formulas are for one example (m = 1)
    notes: tuple[str, ...] = ()
    shared: Mapping[str, str] = field(default_factory=dict)  # names every reading has


_CS231N_SHARED = {
    "scores": "Z[L]", "dscores": "dZ[L]", "probs": "A[L]", "N": "m", "num_train": "m",
    "h1": "A[1]", "hidden_layer": "A[1]", "a1": "A[1]", "dhidden": "dA[1]", "y": "Y", "X": "X",
}
DIALECTS: dict[str, Dialect] = {d.key: d for d in (
    Dialect("course", "the course (Deep Learning Specialization)",
            (Reading("course", {"cache[0]": "A_prev", "cache[1]": "W", "cache[2]": "b"}),)),
    Dialect("single_example", "one example in lower case (m = 1)",
            (Reading("single_example", {}),), one_example=True),
    Dialect(
        "cs231n", "CS231n",
        (Reading("affine_backward", {
            "x": "A[l-1]", "w": "W[l]", "b": "b[l]", "out": "Z[l]", "dout": "dZ[l]",
            "dx": "dA[l-1]", "dw": "dW[l]", "db": "db[l]"}),
         Reading("relu_backward", {"x": "Z[l]", "out": "A[l]", "dout": "dA[l]", "dx": "dZ[l]"}),
         # batchnorm_backward (assignment 2) on a layer with batch norm: dout is dZ̃[l], x Z[l]
         Reading("batchnorm_backward", {"x": "Z[l]", "out": "Ztilde[l]", "dout": "dZtilde[l]",
                                        "dx": "dZ[l]"})),
        marks=frozenset({"dout", "dx", "dscores", "scores", "probs", "num_train",
                         "hidden_layer", "dhidden", "grads", "self.params"}),
        convention="rows", scale="dZ",
        notes=("cs231n: the 1/N is inside dscores (scale dZ)",),
        shared=_CS231N_SHARED),
    Dialect(
        "nielsen", "Nielsen's network.py",
        (Reading("network.py", {"x": "X", "y": "Y"}),),
        marks=frozenset({"nabla_w", "nabla_b", "nabla_W", "activations", "zs", "self.weights",
                         "self.biases", "self.cost_derivative", "self.cost.delta"}),
        one_example=True,
        notes=("nielsen: backprop(x, y) is one example (m = 1); its l counts layers from the "
               "output (nabla_w[-l] is dW[L-l+1]), read here as the course's layer l",)),
    Dialect(
        "logreg", "logistic regression (w a column)",
        (Reading("logreg", {"w": "W[1].T", "dw": "dW[1].T", "dz": "dZ[1]", "dZ": "dZ[1]",
                            "A": "A[1]", "Z": "Z[1]", "b": "b[1]", "db": "db[1]"}),),
        notes=("logreg: w read as a column, W[1]ᵀ (z = wᵀx + b)",)),
)}

# Lists indexed by layer (Nielsen's): the quantity, and the layer of index 0 (activations[0] is
# X = A[0]; weights[0] is W[1]). A negative index counts from the output: [-1] is layer L, and
# Nielsen's [-l+k] is the course's layer l+k (his l counts from the output). The one table: the
# formula reader and the code reader (derive.code) both read it.
LISTS = {"nabla_w": ("dW", 1), "nabla_b": ("db", 1), "nabla_W": ("dW", 1), "nabla_B": ("db", 1),
         "activations": ("A", 0), "zs": ("Z", 1), "self.weights": ("W", 1),
         "self.biases": ("b", 1), "weights": ("W", 1), "biases": ("b", 1)}
# Dicts keyed by a name. One that holds gradients, named so (grads, gradients, dparams,
# derivatives, change_w, d...), maps a parameter's key to its gradient: grads['W1'] and
# change_w['W3'] are dW[1] and dW[3]; in one that holds values (params, parameters, cache) the
# key names the quantity itself: params['A3'] is A[3].
GRADIENT_DICTS = re.compile(r"(?i)^(grads?|gradients?|dparams|derivatives|change_w|d\w*)$")
VALUE_DICTS = ("params", "self.params", "parameters", "self.parameters", "cache")


def holds_gradients(base: str) -> bool | None:
    """Whether the dict ``base`` holds gradients (True), values (False), or is not known (None)."""
    if base in VALUE_DICTS:
        return False
    return True if GRADIENT_DICTS.match(base) else None


# Nielsen's functions: network.py's quadratic cost_derivative(a, y) is a - y; network2.py's
# (self.cost).delta(z, a, y) is its cost class's delta, read per the network's loss
# (derive.parse.walker.Walker.cost_delta: cross-entropy a - y, quadratic (a - y) ⊙ σ′(z))
FUNCS = {"self.cost_derivative": "np.subtract", "self.cost.delta": "_nd"}
COST_DELTA = re.compile(r"\(\s*self\.cost\s*\)\s*\.\s*delta|self\.cost\.delta")
# A list or dict entry read as one name: name[0], name[-l+1], name['W1'], and name[k], name[i+1]
# (a loop's index: no dialect reads it, a binding may: --bind "self.weights[k]=W[3]")
COMPOUND = re.compile(
    r"(self\.[A-Za-z_]\w*|[A-Za-z_]\w*)\s*\[\s*(?:'(\w+)'|\"(\w+)\"|"
    r"(-?\s*(?:\d+|[A-Za-z_]\w*(?:\s*[-+]\s*\d+)?)))\s*\]")
_SELF = re.compile(r"self\.[A-Za-z_]\w*")


def entry(written: str) -> str | None:
    """The quantity a list or dict entry names (``nabla_w[-l]`` -> ``dW[l]``), or None."""
    mt = COMPOUND.fullmatch(written)
    if not mt:
        return None
    base, key = mt.group(1), mt.group(2) or mt.group(3)
    if key is not None:
        gradients = holds_gradients(base)
        if gradients is None:
            return None
        name = resolve_ident(key)
        if name is None or name.kind != "sym" or name.layer is None or name.layer[0] != "num":
            return None
        q = name.base if name.base.startswith("d") or not gradients else "d" + name.base
        return f"{q}[{name.layer[1]}]"
    if base not in LISTS:
        return None
    q, origin = LISTS[base]
    index = re.sub(r"\s", "", mt.group(4))
    if index.lstrip("-").isdigit():
        k = int(index)
        if k >= 0:
            return f"{q}[{k + origin}]" if k + origin > 0 or q == "A" else None
        return f"{q}[L{k + 1:+d}]" if k != -1 else f"{q}[L]"
    if not re.fullmatch(r"-l([-+]\d+)?", index):
        return None  # activations[l]: Nielsen's l is only written negated; [k]: a loop's index
    off = index[2:]
    return f"{q}[l{off}]" if off else f"{q}[l]"


def compounds(text: str) -> list[tuple[int, int, str]]:
    """The list and dict entries (and ``self.`` names) of ``text``: (start, end, key)."""
    out = []
    for mt in COMPOUND.finditer(text):
        out.append((mt.start(), mt.end(), re.sub(r"\s", "", mt.group())))
    out += [(mt.start(), mt.end(), "self.cost.delta") for mt in COST_DELTA.finditer(text)]
    taken = [(a, b) for a, b, _ in out]
    for mt in _SELF.finditer(text):
        if (mt.group() in FUNCS or mt.group() == "self.reg") \
                and not any(a <= mt.start() < b for a, b in taken):
            out.append((mt.start(), mt.end(), mt.group()))
    return sorted(out)


def identifiers(text: str) -> list[str]:
    """The identifiers and entries a formula writes (for recognising its dialect)."""
    keys = [k for _, _, k in compounds(text)]
    keys += [re.sub(r"\[.*", "", k) for k in keys]
    return keys + re.findall(r"(?<![\w.])[A-Za-z_]\w*", text)


# logistic regression's z = wᵀx written in LaTeX: a lower-case w transposed (w^T, w^\top)
_COLUMN_W = re.compile(r"(?<![\\A-Za-z])w\s*\^\s*\{?\s*(?:T(?![A-Za-z])|\\top|\\intercal)")


def detect(text: str, depth: int | None, bound: object = ()) -> str | None:
    """The dialect a formula's names say (None: the course's own names, or nothing known);
    names in ``bound`` (the user's bindings) say nothing."""
    ids = set(identifiers(text)) - {k for _, _, k in compounds(text) if entry(k) is None}
    ids -= set(bound)  # type: ignore[call-overload]
    if ids & DIALECTS["nielsen"].marks:
        return "nielsen"
    if ids & DIALECTS["cs231n"].marks:
        return "cs231n"
    if {"w", "dw"} & ids and "X" in ids and depth in (1, None):
        return "logreg"
    if depth == 1 and _COLUMN_W.search(text):  # LaTeX's φ(w^T x_i): w is a column
        return "logreg"
    return None


def bindings_for(dialect: Dialect, reading: Reading, text: str,
                 side: str) -> dict[str, str]:
    """Every name the dialect gives ``text`` on one side of '=' ("lhs" or "rhs")."""
    names: dict[str, str] = {**dialect.shared, **reading.names}
    for _, _, key in compounds(text):
        q = entry(key)
        if q is not None:
            names[key] = q
    if dialect.key == "nielsen":
        generic = any(re.search(r"\[-?l\b|\[l[-+]", k) for _, _, k in compounds(text))
        left = text.split("=", 1)[0].strip()
        here = "dZ[l]" if generic else "dZ[L]"
        # delta = f(delta): the right side's delta is the layer above's (the loop's last one)
        names["delta"] = "dZ[l+1]" if side == "rhs" and left == "delta" else here
    return names


__all__ = ["DIALECTS", "Dialect", "Reading", "bindings_for", "compounds", "detect", "entry",
           "identifiers"]
