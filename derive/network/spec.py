"""The network spec: layer sizes, one activation per layer, a loss, a convention and a scale.

>>> net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
>>> net.depth, net.dim(1), net.activation(2).name, net.loss_entry.name
(2, 3, 'sigmoid', 'bce')
>>> Network(activations=["relu", "sigmoid"]).dims
(n0, n1, n2)
>>> Network(depth=3).activations
(None, None, None)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from derive.catalogue import rules
from derive.core.names import m as m  # re-exported: the number of examples
from derive.errors import DeriveError, SpecError
from derive.layers import layer_type
from derive.layers.base import LayerType
from derive.limits import Limit, require
from derive.network.layout import LAYOUTS, Layout
from derive.network.textfile import MAX_DIGITS, load_toml, read_bounded

CONVENTIONS = tuple(LAYOUTS)


@dataclass(frozen=True)
class CostScale:
    """What a scale means, in one place: whether J is a mean, and where its 1/m is written.

    ``mean`` (the course's): J = (1/m) Σ ℓ, dZ[l] stacks the per-example ∂ℓ/∂Z[l], the 1/m sits in
    dW and db. ``sum``: J = Σ ℓ, no 1/m anywhere. ``dZ`` (CS231n's): J = (1/m) Σ ℓ, the 1/m sits in
    dA[L] and dZ[L], so every dZ[l], dA[l] is the true gradient ∂J/∂Z[l], and dW, db carry none."""

    name: str
    cost_is_mean: bool  # J = (1/m) Σ ℓ (else Σ ℓ)
    in_output: bool  # the mean's 1/m is written in dA[L], dZ[L] (else in dW, db)
    statement: str  # where the 1/m is, in words: every output prints it
    weight_note: str  # the note on a dW, db step
    output_note: str = ""  # the note on the step that puts the 1/m in dA[L] or dZ[L]


SCALE_RULES: dict[str, CostScale] = {
    "mean": CostScale(
        "mean", True, False,
        "cost J = (1/m) Σ over examples of ℓ; dZ[l] and dA[l] are the per-example gradients "
        "∂ℓ/∂Z[l] stacked (so J's gradient is dZ[l]/m); the 1/m sits in dW and db",
        "the 1/m comes from J = (1/m) Σₜ ℓₜ"),
    "sum": CostScale(
        "sum", False, False,
        "cost J = Σ over examples of ℓ (scale sum): no 1/m anywhere; dZ[l] = ∂J/∂Z[l]",
        "scale sum: no 1/m"),
    "dZ": CostScale(
        "dZ", True, True,
        "cost J = (1/m) Σ over examples of ℓ (scale dZ, CS231n's): the 1/m sits in dA[L] and "
        "dZ[L], so every dZ[l] and dA[l] is the true gradient ∂J/∂Z[l], ∂J/∂A[l]; dW and db "
        "carry no 1/m",
        "scale dZ: no 1/m here, it is already in dZ (from dZ[L])",
        "scale dZ: the 1/m of J = (1/m) Σₜ ℓₜ is written here, so this is ∂J/∂·, not ∂ℓ/∂·"),
}
SCALES = tuple(SCALE_RULES)
GENERIC = ("g", "generic", "")  # what a user may write for "no particular activation"

#: layers of one network: `derive backward` on 1000 layers of random sizes and activations,
#: proofs included, takes 7-9 s, and nothing in the derivation is allocated by size
DEPTH = Limit("network.depth", 1000, "layers", "--layers", "the network")
#: units of one layer: the derivation and its proofs never allocate by size (the proofs run at
#: 2-16 units), but the numbers of one 100,000 × 100,000 W would already be 80 GB
LAYER_SIZE = Limit("network.layer_size", 100_000, "units", "--layers")
#: a spec file: a real one is well under 10 kB, and tomllib holds the whole text in memory
SPEC_BYTES = Limit("network.spec_bytes", 1 << 20, "bytes", "a smaller --spec file")
MAX_DEPTH = DEPTH.value
MAX_SIZE = LAYER_SIZE.value



def factor_at(factor: sp.Expr, m_value: int) -> float:
    """A scale factor (1/m, 1) as a float for ``m_value`` examples.

    >>> factor_at(Network(depth=1).cost_factor, 4), factor_at(Network(depth=1, scale="dZ").weight_factor, 4)
    (0.25, 1.0)
    """
    return float(sp.sympify(factor).subs(m, m_value))


@functools.cache
def dim_symbol(layer: int) -> sp.Symbol:
    """The symbolic size n[l] (made once per layer: shapes ask for it thousands of times)."""
    return sp.Symbol(f"n{layer}", positive=True, integer=True)


@dataclass(frozen=True, init=False)
class Network:
    """A network of layers l = 1..L, dense unless ``kinds`` says otherwise:
    Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]).

    ``layers`` are the sizes n[0..L] (an int, or None for a symbolic size); ``activations`` one name
    per layer (None or "g" for a generic activation); ``loss`` a catalogue name or None (a generic
    per-example loss, and the derivation starts at dA[L]). ``depth`` alone gives a generic network.
    ``kinds`` names each layer's type in the registry (:mod:`derive.layers`); None: all dense.
    """

    # The normalized spec: every size (None: symbolic), every activation name (None: generic g[l]),
    # every layer's kind; the constructor takes looser input (lists, None, a depth) and checks it.
    layers: tuple[int | None, ...]
    activations: tuple[str | None, ...]
    loss: str | None
    convention: str
    scale: str
    depth: int
    kinds: tuple[str, ...]
    notes: tuple[str, ...] = field(compare=False)

    def __init__(
        self,
        layers: Sequence[int | None] | None = None,
        activations: Sequence[str | None] | str | None = None,
        loss: str | None = None,
        convention: str = "columns",
        scale: str = "mean",
        depth: int | None = None,
        kinds: Sequence[str] | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        self._normalize(layers, activations, loss, convention, scale, depth, kinds, notes)

    def _normalize(
        self,
        layers_in: Sequence[int | None] | None,
        activations_in: Sequence[str | None] | str | None,
        loss_in: str | None,
        convention: str,
        scale: str,
        depth: int | None,
        kinds_in: Sequence[str] | None,
        notes_in: Sequence[str],
    ) -> None:
        """Check the input and store the normalized fields (a frozen dataclass sets them once)."""
        for given, extra in ((layers_in, 1), (activations_in, 0), (kinds_in, 0)):
            if isinstance(given, Sequence) and not isinstance(given, str):  # before any loop over it
                require(DEPTH, len(given) - extra, "this network")
        layers = _sizes(layers_in)
        acts = _activations(activations_in)
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1
                                  or depth.bit_length() > 64):
            raise SpecError(f"depth must be a whole number from 1 to {MAX_DEPTH}, not {_show(depth)}")
        if depth is not None:
            require(DEPTH, depth, "this network")
        if layers is not None and len(layers) < 2:
            raise SpecError("a network needs at least two sizes (input and output): n0,n1")
        if layers is None:
            L = len(acts) if acts is not None else depth
            if L is None:
                raise SpecError("give the layer sizes (--layers 3,3,1), the activations or a depth")
            layers = (None,) * (L + 1)
        L = len(layers) - 1
        require(DEPTH, L, "this network")
        if depth is not None and depth != L:
            raise SpecError(f"depth {depth} disagrees with the {L} layers the sizes give")
        if acts is None:
            acts = (None,) * L
        if len(acts) != L:
            raise SpecError(
                f"{len(acts)} activation{'s' if len(acts) != 1 else ''} for {L} layer"
                f"{'s' if L != 1 else ''}: give one activation per layer (sizes {_fmt(layers)})"
            )
        if convention not in CONVENTIONS:
            raise SpecError(
                f"unknown convention {convention!r}; known: {', '.join(CONVENTIONS)}"
            )
        if isinstance(scale, str):  # "dz" and "DZ" are scale dZ; "Mean" is mean
            scale = {s.casefold(): s for s in SCALES}.get(scale.strip().casefold(), scale)
        if scale not in SCALES:
            raise SpecError(f"unknown scale {_show(scale)}; known: {', '.join(SCALES)}")
        kinds = ("dense",) * L if kinds_in is None else tuple(kinds_in)
        if len(kinds) != L:
            raise SpecError(f"{len(kinds)} layer kinds for {L} layers: give one kind per layer")
        for kind in kinds:
            layer_type(kind)  # an unknown kind names the known ones
        loss = None
        if loss_in is not None and loss_in.strip().casefold() not in GENERIC:
            loss = rules.losses().lookup(loss_in.strip()).name
        for l, act in enumerate(acts, start=1):
            if act is not None and rules.activations()[act].kind == "softmax" and layers[l] == 1:
                raise SpecError(
                    f"layer {l}: softmax over a 1-unit layer is the constant 1; use sigmoid for "
                    "one output unit, or give the layer more units"
                )
        notes = list(notes_in)
        if loss is not None and acts[-1] is not None:
            _check_pairing(loss, acts[-1], notes)
        for name, value in (("layers", layers), ("activations", acts), ("loss", loss),
                            ("convention", convention), ("scale", scale), ("depth", L),
                            ("kinds", kinds), ("notes", tuple(notes))):
            object.__setattr__(self, name, value)

    # -- views ------------------------------------------------------------------------------
    @property
    def scale_rule(self) -> CostScale:
        """The scale as one object (:data:`SCALE_RULES`): nothing else compares its name."""
        return SCALE_RULES[self.scale]

    @property
    def cost_is_mean(self) -> bool:
        """J = (1/m) Σ ℓ (scales mean and dZ), not Σ ℓ (sum)."""
        return self.scale_rule.cost_is_mean

    @property
    def per_example_dZ(self) -> bool:
        """dZ[l], dA[l] stack the per-example gradients ∂ℓ/∂Z[l] while J is a mean, so
        ∂J/∂Z[l] = dZ[l]/m and the 1/m sits in dW, db (scale mean); else dZ[l] = ∂J/∂Z[l]."""
        return self.cost_is_mean and not self.scale_rule.in_output

    @property
    def cost_factor(self) -> sp.Expr:
        """J = cost_factor · Σₜ ℓₜ: 1/m or 1."""
        return 1 / m if self.cost_is_mean else sp.Integer(1)

    @property
    def weight_factor(self) -> sp.Expr:
        """The factor written in dW[l] and db[l], and ∂J/∂Z[l] = weight_factor · dZ[l]: 1/m
        (scale mean) or 1."""
        return 1 / m if self.per_example_dZ else sp.Integer(1)

    @property
    def output_factor(self) -> sp.Expr:
        """The factor written in dA[L] (and dZ[L]) beside ∂ℓ/∂A[L]: 1/m (scale dZ) or 1.
        ``weight_factor · output_factor == cost_factor``."""
        return 1 / m if self.cost_is_mean and self.scale_rule.in_output else sp.Integer(1)

    @property
    def layout(self) -> Layout:
        """The convention as one object: axes, shapes, the order of products."""
        return LAYOUTS[self.convention]

    @property
    def L(self) -> int:
        return self.depth

    def block(self, layer: int) -> LayerType:
        """The type of layer ``layer`` (1-based): its quantities, forward map and backward rule."""
        return layer_type(self.kinds[layer - 1])

    @property
    def all_dense(self) -> bool:
        return all(k == "dense" for k in self.kinds)

    def dim(self, layer: int) -> sp.Expr:
        """n[layer]: the given size, or the symbol n{layer}."""
        size = self.layers[layer]
        return sp.Integer(size) if size is not None else dim_symbol(layer)

    @property
    def dims(self) -> tuple[sp.Expr, ...]:
        return tuple(self.dim(l) for l in range(self.L + 1))

    def activation(self, layer: int) -> rules.Activation | None:
        """The catalogue entry of layer ``layer`` (1-based), or None for a generic g[layer]."""
        name = self.activations[layer - 1]
        return rules.activations()[name] if name is not None else None

    @property
    def loss_entry(self) -> rules.Loss | None:
        return rules.losses()[self.loss] if self.loss is not None else None

    def replace(self, **changes) -> Network:
        """The same network with some fields changed (``net.replace(layers=...)``), checked anew;
        the notes are derived again, never carried over."""
        fields = {"layers": self.layers, "activations": self.activations, "loss": self.loss,
                  "convention": self.convention, "scale": self.scale, "kinds": self.kinds}
        return Network(**{**fields, **changes})

    def with_sizes(self, sizes: Sequence[int]) -> Network:
        """The same network with every size given (symbolic sizes filled from ``sizes``)."""
        filled = tuple(s if s is not None else int(t) for s, t in zip(self.layers, sizes, strict=True))
        return self.replace(layers=filled)

    def describe(self) -> str:
        acts = ", ".join(a or f"g[{l}]" for l, a in enumerate(self.activations, 1))
        loss = self.loss or "generic ℓ"
        kinds = "" if self.all_dense else f"layers {', '.join(self.kinds)}; "
        return (
            f"{kinds}sizes {_fmt(self.layers)}; activations {acts}; loss {loss}; "
            f"convention {self.convention}; scale {self.scale}"
        )

    def to_dict(self) -> dict:
        return {
            "layers": list(self.layers),
            "activations": list(self.activations),
            "loss": self.loss,
            "convention": self.convention,
            "scale": self.scale,
            **({} if self.all_dense else {"kinds": list(self.kinds)}),
        }

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_strings(
        cls,
        layers: str | None = None,
        activations: str | None = None,
        loss: str | None = None,
        convention: str | None = None,
        scale: str | None = None,
    ) -> Network:
        """From CLI-style strings: ``layers="3,3,1"``, ``activations="relu,sigmoid"``."""
        sizes = None
        if layers:
            sizes = [_parse_size(tok, i) for i, tok in enumerate(_split(layers))]
        acts = _split(activations) if activations else None
        return cls(
            sizes,
            acts,
            loss,
            convention or "columns",
            scale or "mean",
        )

    @classmethod
    def from_mapping(cls, data: dict, where: str = "spec") -> Network:
        """From a parsed TOML/JSON table (top level, or under ``[network]``)."""
        if "network" in data and isinstance(data["network"], dict):
            data = data["network"]
        if "layer" in data:
            return cls._from_sequence(data, where)
        known = {"layers", "activations", "loss", "convention", "scale", "depth"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        layers = data.get("layers")
        if isinstance(layers, str):
            layers = [_parse_size(tok, i) for i, tok in enumerate(_split(layers))]
        acts = data.get("activations")
        if isinstance(acts, str):
            acts = _split(acts)
        return cls(
            layers=layers,
            activations=acts,
            loss=data.get("loss"),
            convention=data.get("convention", "columns"),
            scale=data.get("scale", "mean"),
            depth=data.get("depth"),
        )

    @classmethod
    def _from_sequence(cls, data: dict, where: str) -> Network:
        """The sequence form: ``inputs = n0`` and one ``[[layer]]`` table per layer, each with a
        ``kind`` (default "dense") and that kind's keys (dense: ``units``, ``activation``)."""
        known = {"inputs", "layer", "loss", "convention", "scale"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                f"{where}: unknown key {unknown[0]!r} beside [[layer]] tables; "
                f"known: {', '.join(sorted(known))}"
            )
        tables = data["layer"]
        if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
            raise SpecError(f"{where}: give each layer as a [[layer]] table (kind, units, activation)")
        require(DEPTH, len(tables), f"the network of {where}")
        sizes: list[int | None] = [data.get("inputs")]
        kinds, acts = [], []
        for l, table in enumerate(tables, start=1):
            here = f"{where}: layer {l}"
            kind = table.get("kind", "dense")
            if not isinstance(kind, str):
                raise SpecError(f"{here}: kind is a name such as \"dense\", not {kind!r}")
            block = layer_type(kind)
            extra = sorted(set(table) - {"kind", *block.keys})
            if extra:
                raise SpecError(
                    f"{here} ({kind}): unknown key {extra[0]!r}; known: {', '.join(('kind',) + block.keys)}"
                )
            sizes.append(block.units(table, sizes[-1], here))
            kinds.append(kind)
            acts.append(table.get("activation"))
        return cls(
            layers=tuple(sizes),
            activations=tuple(acts),
            loss=data.get("loss"),
            convention=data.get("convention", "columns"),
            scale=data.get("scale", "mean"),
            kinds=tuple(kinds),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Network:
        """Read a spec file (TOML): at most :data:`SPEC_BYTES`, UTF-8, nested at most
        :data:`derive.network.textfile.NESTING` deep; every error names the file (and the line
        and column where the TOML reader gives one)."""
        p = Path(path)
        text = read_bounded(p, SPEC_BYTES, "spec file")
        data = load_toml(text, str(p))
        try:
            return cls.from_mapping(data, where=str(p))
        except DeriveError as exc:  # every error names the file: "net.toml: layer size n1 is 0: ..."
            if exc.args and isinstance(exc.args[0], str) and not exc.args[0].startswith(str(p)):
                exc.args = (f"{p}: {exc.args[0]}", *exc.args[1:])
            raise


# -- helpers ---------------------------------------------------------------------------------
def _split(text: str) -> list[str]:
    return [tok.strip() for tok in text.split(",")]


def _parse_size(tok: str, index: int) -> int | None:
    tok = tok.strip()
    if tok in ("", "?", f"n{index}", "n"):
        return None
    digits = tok.lstrip("+-").replace("_", "")
    if digits.isdecimal() and len(digits) > MAX_DIGITS:  # int() refuses 4,300 digits: say why first
        raise SpecError(f"layer size {index} has {len(digits):,} digits: at most "
                        f"{LAYER_SIZE.value:,} {LAYER_SIZE.unit} per layer ({LAYER_SIZE.name})")
    try:
        return int(tok)
    except ValueError:
        raise SpecError(
            f"layer size {index} is {_show(tok)}: sizes are whole numbers like 3,3,1"
        ) from None


def _sizes(layers) -> tuple[int | None, ...] | None:
    if layers is None:
        return None
    out: list[int | None] = []
    for i, s in enumerate(layers):
        if s is None or (isinstance(s, str) and s.strip() in ("", "?", f"n{i}")):
            out.append(None)
            continue
        if isinstance(s, bool) or not isinstance(s, int):
            raise SpecError(f"layer size n{i} is {_show(s)}: sizes are whole numbers like 3,3,1")
        if s < 1:
            raise SpecError(f"layer size n{i} is {_show(s)}: every layer needs at least one unit")
        if s.bit_length() > 64:  # too long to print (str() refuses 4,300 digits): named by length
            raise SpecError(f"layer size n{i} has about {int(math.log10(s)) + 1:,} digits: at most "
                            f"{LAYER_SIZE.value:,} {LAYER_SIZE.unit} per layer ({LAYER_SIZE.name})")
        require(LAYER_SIZE, s, f"layer n{i}")
        out.append(s)
    return tuple(out)


def _activations(acts) -> tuple[str | None, ...] | None:
    if acts is None:
        return None
    if isinstance(acts, str):
        acts = _split(acts)
    out: list[str | None] = []
    registry = rules.activations()
    for name in acts:
        if name is None or str(name).strip().casefold() in GENERIC:
            out.append(None)
        else:
            out.append(registry.lookup(str(name).strip()).name)
    return tuple(out)


def _check_pairing(loss: str, act: str, notes: list[str]) -> None:
    entry = rules.losses()[loss]
    activation = rules.activations()[act]
    lo, hi = entry.a_range
    alo, ahi = activation.range
    if bool(alo < lo) or bool(ahi > hi):

        def fmt(v):
            return str(v).replace("oo", "∞")

        raise SpecError(
            f"loss {loss} needs outputs in ({fmt(lo)}, {fmt(hi)}), but {act} on the output layer "
            f"ranges over ({fmt(alo)}, {fmt(ahi)}); use {entry.natural_output} on the output layer"
        )
    if entry.natural_output != act:
        notes.append(
            f"{act} output with {loss} is an unusual pairing (usual: {entry.natural_output}); "
            "the formulas still follow from the general chain rule"
        )


def _show(value, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters (a user's 5,000-digit size is not echoed whole;
    an int too long for ``repr`` is described by its length)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a number of about {int(math.log10(abs(value))) + 1:,} digits"
    text = repr(value)
    return text if len(text) <= width else f"{text[:width]}… ({len(text):,} characters)"


def _fmt(layers) -> str:
    return ",".join("?" if s is None else str(s) for s in layers)
