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

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from derive.catalogue import rules
from derive.core.names import dim_symbol as dim_symbol  # re-exported: n[l], a symbolic size
from derive.core.names import m as m  # re-exported: the number of examples
from derive.core.names import scalar_text
from derive.errors import DeriveError, SpecError
from derive.layers import layer_type
from derive.layers.base import LayerType
from derive.limits import require
from derive.network import batchnorm as bn
from derive.network import dropout, penalty
from derive.network.fields import (  # noqa: F401 - the limits are re-exported
    DEPTH,
    GENERIC,
    LAYER_SIZE,
    MAX_DEPTH,
    MAX_SIZE,
    SPEC_BYTES,
    activation_names,
    check_pairing,
    fmt_sizes,
    parse_size,
    show,
    sizes,
    split_list,
)
from derive.network.layout import LAYOUTS, Layout
from derive.network.scales import SCALE_RULES, SCALES, CostScale
from derive.network.scales import factor_at as factor_at  # re-exported: proofs and values use it
from derive.network.textfile import load_toml, read_bounded

CONVENTIONS = tuple(LAYOUTS)


L2_KEYS = ("l2", "l2_form", "l2_layers")  # a spec's L2 keys (TOML, JSON, Python)
COST_KEYS = (*L2_KEYS, "keep_prob", "batchnorm")  # L2, dropout and batch norm (not a cost term)


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
    l2: sp.Expr | None  # the L2 coefficient: None, a Float (printed as given) or the symbol λ
    l2_form: str  # "course", "half" or "plain" (derive.network.penalty)
    l2_layers: tuple[int, ...] | None  # the layers whose W is regularised (None: all)
    keep_prob: tuple[sp.Expr | None, ...] | None  # per hidden layer (None: no mask); None: no dropout
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
        l2=None,
        l2_form: str | None = None,
        l2_layers: Sequence[int] | str | None = None,
        keep_prob=None,
        batchnorm=None,
    ) -> None:
        self._normalize(layers, activations, loss, convention, scale, depth, kinds, notes)
        normalised = bn.batchnorm_layers(batchnorm, self.depth)  # kind batchnorm on those layers
        if normalised:
            object.__setattr__(self, "kinds", bn.with_batchnorm(self.kinds, normalised))
        lam = penalty.l2_value(l2)
        if lam is None and (l2_form not in (None, "course") or l2_layers is not None):
            raise SpecError("l2_form and l2_layers need l2 (the coefficient λ, or true for a symbolic λ)")
        object.__setattr__(self, "l2", lam)
        object.__setattr__(self, "l2_form", penalty.l2_form(l2_form))
        layers_l2 = penalty.l2_layers(l2_layers, self.depth)
        object.__setattr__(self, "l2_layers", None if layers_l2 == tuple(range(1, self.depth + 1))
                           else layers_l2)
        keep = dropout.keep_probs(keep_prob, self.depth)
        for l, p in enumerate(keep or (), start=1):
            if p is not None and self.kinds[l - 1] not in ("dense", "batchnorm"):
                raise SpecError(f"layer {l} ({self.kinds[l - 1]}): dropout is on dense layers only")
            act = self.activation(l) if p is not None else None
            if act is not None and not act.elementwise:
                raise SpecError(f"layer {l}: dropout after {act.name} (not element-wise) is not "
                                "supported; give that layer keep_prob 1")
        object.__setattr__(self, "keep_prob", keep)

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
        layers = sizes(layers_in)
        acts = activation_names(activations_in)
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1
                                  or depth.bit_length() > 64):
            raise SpecError(f"depth must be a whole number from 1 to {MAX_DEPTH}, not {show(depth)}")
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
                f"{'s' if L != 1 else ''}: give one activation per layer (sizes {fmt_sizes(layers)})"
            )
        if convention not in CONVENTIONS:
            raise SpecError(
                f"unknown convention {convention!r}; known: {', '.join(CONVENTIONS)}"
            )
        if isinstance(scale, str):  # "dz" and "DZ" are scale dZ; "Mean" is mean
            scale = {s.casefold(): s for s in SCALES}.get(scale.strip().casefold(), scale)
        if scale not in SCALES:
            raise SpecError(f"unknown scale {show(scale)}; known: {', '.join(SCALES)}")
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
            check_pairing(loss, acts[-1], notes)
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

    # -- L2 regularisation (derive.network.penalty) --------------------------------------------
    def regularised(self, layer: int) -> bool:
        """Whether the cost penalises ‖W[layer]‖² (b is never regularised)."""
        return self.l2 is not None and (self.l2_layers is None or layer in self.l2_layers)

    @property
    def l2_symbolic(self) -> bool:
        return self.l2 is not None and self.l2.free_symbols != set()

    @property
    def l2_coefficient(self) -> sp.Expr:
        """k in dW[l] = … + k W[l] for a regularised layer: λ/m, λ, reg, 2λ (0 without L2)."""
        if self.l2 is None:
            return sp.Integer(0)
        return penalty.gradient_coefficient(self.l2_form, self.l2, self.cost_is_mean)

    @property
    def l2_penalty(self) -> sp.Expr:
        """p in J = … + p Σₗ ‖W[l]‖²_F: half of :attr:`l2_coefficient`."""
        return self.l2_coefficient / 2

    def l2_statement(self) -> str:
        """The penalty in words, or "" without L2."""
        if self.l2 is None:
            return ""
        which = ("every layer" if self.l2_layers is None else
                 "layer" + ("s " if len(self.l2_layers) > 1 else " ") + ", ".join(map(str, self.l2_layers)))
        return (f"L2: J gains {penalty.penalty_text(self.l2_form, self.l2, self.cost_is_mean, which)}"
                "; b is not regularised")

    def require_no_l2(self, what: str) -> None:
        """Refuse L2 where it is not supported (never a wrong answer)."""
        if self.l2 is not None:
            raise SpecError(f"L2 regularisation is not yet in {what}: drop --l2 (l2 = ...) for it; "
                            "derive backward and derive gradcheck take it")

    # -- dropout (derive.network.dropout) ----------------------------------------------------------
    def dropout(self, layer: int) -> sp.Expr | None:
        """The keep probability of layer ``layer`` (a Float or the symbol keep_prob), or None
        where the layer has no mask (the output layer never has one)."""
        if self.keep_prob is None or not 1 <= layer < self.L:
            return None
        return self.keep_prob[layer - 1]

    @property
    def keep_prob_symbolic(self) -> bool:
        return any(p is not None and p.free_symbols for p in self.keep_prob or ())

    def dropout_statement(self) -> str:
        """Dropout in words, or "" without it."""
        if self.keep_prob is None:
            return ""
        kept = ", ".join(f"layer {l}" + ("" if p.free_symbols else f" (keep_prob = {scalar_text(p)})")
                         for l, p in enumerate(self.keep_prob, start=1) if p is not None)
        return (f"dropout (inverted): A[l] = g(Z[l]) ⊙ D[l] / keep_prob on {kept}; each D[l] is a "
                "fixed 0/1 mask, held fixed: these are the gradients of the sampled network")

    def require_no_dropout(self, what: str) -> None:
        """Refuse dropout where it is not supported (never a wrong answer)."""
        if self.keep_prob is not None:
            raise SpecError(f"dropout is not supported by {what} yet: drop --keep-prob "
                            "(keep_prob = ...) for it; derive backward and derive check take it")

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
                  "convention": self.convention, "scale": self.scale, "kinds": self.kinds,
                  **self._l2_fields(),
                  **({} if self.keep_prob is None else {"keep_prob": self._keep_prob_values()})}
        return Network(**{**fields, **changes})

    def with_sizes(self, sizes: Sequence[int]) -> Network:
        """The same network with every size given (symbolic sizes filled from ``sizes``)."""
        filled = tuple(s if s is not None else int(t) for s, t in zip(self.layers, sizes, strict=True))
        return self.replace(layers=filled)

    def _keep_prob_values(self) -> list:
        return [dropout.value_of(p) for p in self.keep_prob or ()]

    def _l2_fields(self) -> dict:
        if self.l2 is None:
            return {}
        return {"l2": self.l2, "l2_form": self.l2_form, "l2_layers": self.l2_layers}

    def describe(self) -> str:
        acts = ", ".join(a or f"g[{l}]" for l, a in enumerate(self.activations, 1))
        loss = self.loss or "generic ℓ"
        kinds = "" if self.all_dense else f"layers {', '.join(self.kinds)}; "
        l2 = "" if self.l2 is None else f"; L2 {scalar_text(self.l2)} ({self.l2_form})"
        keep = "" if self.keep_prob is None else \
            f"; keep_prob {','.join(str(v) for v in self._keep_prob_values())}"
        return (
            f"{kinds}sizes {fmt_sizes(self.layers)}; activations {acts}; loss {loss}; "
            f"convention {self.convention}; scale {self.scale}{l2}{keep}"
        )

    def to_dict(self) -> dict:
        return {
            "layers": list(self.layers),
            "activations": list(self.activations),
            "loss": self.loss,
            "convention": self.convention,
            "scale": self.scale,
            **({} if self.all_dense else {"batchnorm": bn.normalised(self.kinds)}
               if set(self.kinds) <= {"dense", bn.KIND} else {"kinds": list(self.kinds)}),
            **({} if self.l2 is None else {
                "l2": "λ" if self.l2_symbolic else float(self.l2), "l2_form": self.l2_form,
                "l2_layers": None if self.l2_layers is None else list(self.l2_layers)}),
            **({} if self.keep_prob is None else {"keep_prob": self._keep_prob_values()}),
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
        l2: str | None = None,
        l2_form: str | None = None,
        l2_layers: str | None = None,
        keep_prob: str | None = None,
        batchnorm: str | None = None,
    ) -> Network:
        """From CLI-style strings: ``layers="3,3,1"``, ``activations="relu,sigmoid"``,
        ``l2="0.1"`` (or "λ"), ``l2_layers="1,2"``, ``keep_prob="0.8"`` (or "1,0.8", "keep_prob")."""
        sizes = None
        if layers:
            sizes = [parse_size(tok, i) for i, tok in enumerate(split_list(layers))]
        acts = split_list(activations) if activations else None
        return cls(
            sizes,
            acts,
            loss,
            convention or "columns",
            scale or "mean",
            l2=l2,
            l2_form=l2_form,
            l2_layers=l2_layers,
            keep_prob=keep_prob,
            batchnorm=batchnorm,
        )

    @classmethod
    def from_mapping(cls, data: dict, where: str = "spec") -> Network:
        """From a parsed TOML/JSON table (top level, or under ``[network]``)."""
        if "network" in data and isinstance(data["network"], dict):
            data = data["network"]
        if "layer" in data:
            return cls._from_sequence(data, where)
        known = {"layers", "activations", "loss", "convention", "scale", "depth", *COST_KEYS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(
                f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}"
            )
        layers = data.get("layers")
        if isinstance(layers, str):
            layers = [parse_size(tok, i) for i, tok in enumerate(split_list(layers))]
        acts = data.get("activations")
        if isinstance(acts, str):
            acts = split_list(acts)
        return cls(
            layers=layers,
            activations=acts,
            loss=data.get("loss"),
            convention=data.get("convention", "columns"),
            scale=data.get("scale", "mean"),
            depth=data.get("depth"),
            **{k: data[k] for k in COST_KEYS if k in data},
        )

    @classmethod
    def _from_sequence(cls, data: dict, where: str) -> Network:
        """The sequence form: ``inputs = n0`` and one ``[[layer]]`` table per layer, each with a
        ``kind`` (default "dense") and that kind's keys (dense: ``units``, ``activation``)."""
        known = {"inputs", "layer", "loss", "convention", "scale", *COST_KEYS}
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
            kind = bn.table_kind(kind, table, here)
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
            **{k: data[k] for k in COST_KEYS if k in data},
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


