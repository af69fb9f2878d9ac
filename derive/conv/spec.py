"""A convolutional network's spec: conv2d / pool layers, one flatten, a dense head, a loss.

TOML (untrusted: every size is bounded, every error names the layer number and the key)::

    input = [6, 6, 2]          # n_H, n_W, n_C of one example (the course's layout)
    loss = "ce"
    examples = 2               # optional: m for the worked numbers and the proofs
    [[layer]]
    kind = "conv2d"            # filters, size, stride (1), pad (0), activation ("relu")
    filters = 3
    size = 3
    stride = 2
    pad = 1
    [[layer]]
    kind = "pool"              # mode ("max" | "average"), size, stride (size)
    size = 2
    [[layer]]
    kind = "flatten"
    [[layer]]
    kind = "dense"             # units, activation
    units = 3
    activation = "softmax"

Layers are numbered 1..L in the order given; A[0] is the input X (m, n_H, n_W, n_C), layer l's
output A[l]. Convolutional and pooling layers come before the flatten, dense layers after it.

>>> cnn = load_cnn(EXAMPLE)
>>> [(l.number, l.kind, l.out_shape) for l in cnn.layers]
[(1, 'conv2d', (3, 3, 3)), (2, 'pool', (2, 2, 3)), (3, 'flatten', (12,)), (4, 'dense', (3,))]
>>> load_cnn('input = [4, 4, 1]\\n[[layer]]\\nkind = "conv2d"\\nfilters = 2\\nsize = 5\\n')
Traceback (most recent call last):
...
derive.errors.SpecError: spec: layer 1 (conv2d): key 'size': a 5×5 filter does not fit the 4×4 input (padded by 0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from derive.catalogue import rules
from derive.errors import ResourceLimit, SpecError
from derive.limits import Limit, require
from derive.network.textfile import load_toml

#: entries of one example's tensors (every A and Z) plus every parameter: the numbers allocate
#: m times the first; 2 million float64 is 16 MB per example
ENTRIES = Limit("conv.entries", 2_000_000, "entries", "smaller layers in the spec",
                "one example's activations and the parameters of a CNN spec")
#: layers of one CNN spec: the proofs take ~0.8 s per conv layer (20 conv layers: 16 s), so 32
#: layers stay under the 30 s a command may take
LAYERS = Limit("conv.layers", 32, "layers", "fewer [[layer]] tables")
#: one size, filter count, stride or pad in a CNN spec
SIZE = Limit("conv.size", 4096, "units", "smaller sizes in the spec")
#: examples m asked for by a spec's `examples`
EXAMPLES = Limit("conv.examples", 64, "examples", "a smaller examples")

KEYS = {
    "conv2d": ("filters", "size", "stride", "pad", "activation"),
    "pool": ("mode", "size", "stride"),
    "flatten": (),
    "dense": ("units", "activation"),
}
TOP_KEYS = ("input", "layer", "loss", "examples")
MODES = ("max", "average")

EXAMPLE = """\
input = [6, 6, 2]
loss = "ce"
examples = 2
[[layer]]
kind = "conv2d"
filters = 3
size = 3
stride = 2
pad = 1
activation = "relu"
[[layer]]
kind = "pool"
mode = "max"
size = 2
stride = 1
[[layer]]
kind = "flatten"
[[layer]]
kind = "dense"
units = 3
activation = "softmax"
"""


@dataclass(frozen=True)
class CNNLayer:
    """One layer: its number (1..L), kind, settings, and the per-example shapes in and out
    ((n_H, n_W, n_C) before the flatten, (n,) after)."""

    number: int
    kind: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    filters: int = 0
    size: int = 0
    stride: int = 1
    pad: int = 0
    activation: str | None = None
    mode: str = "max"
    units: int = 0

    @property
    def where(self) -> str:
        return f"layer {self.number} ({self.kind})"


@dataclass(frozen=True)
class CNN:
    """A convolutional network: the input's (n_H, n_W, n_C), its layers, the loss, and m."""

    input: tuple[int, int, int]
    layers: tuple[CNNLayer, ...]
    loss: str
    examples: int | None = None

    @property
    def L(self) -> int:
        return len(self.layers)

    def layer(self, l: int) -> CNNLayer:
        return self.layers[l - 1]

    @property
    def flatten_at(self) -> int:
        """The flatten layer's number: the dense head's layer k is layer flatten_at + k."""
        return next(l.number for l in self.layers if l.kind == "flatten")

    def head(self):
        """The dense head as a :class:`derive.network.spec.Network` (its input: the flattened
        A[flatten_at], its layer k the CNN's layer flatten_at + k)."""
        from derive.network.spec import Network
        dense = [l for l in self.layers if l.kind == "dense"]
        return Network(layers=[self.layer(self.flatten_at).out_shape[0], *(l.units for l in dense)],
                       activations=[l.activation for l in dense], loss=self.loss)

    def params(self) -> tuple[tuple[str, int], ...]:
        """The trained quantities, (base, layer): W and b of every conv2d and dense layer."""
        return tuple((base, l.number) for l in self.layers if l.kind in ("conv2d", "dense")
                     for base in ("W", "b"))


def _int(value: Any, where: str, key: str, low: int) -> int:
    if value is None:  # the table has no such key (a TOML file has no None to write)
        raise SpecError(f"{where}: key {key!r} is missing: give a whole number ≥ {low}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where}: key {key!r}: {_shown(value)} is not a whole number")
    if value < low:
        raise SpecError(f"{where}: key {key!r}: {value} is below {low}")
    require(SIZE, value, f"{where}: key {key!r}")
    return value


def _shown(value: Any) -> str:
    """A value as the TOML file writes it (true, not Python's True)."""
    return str(value).lower() if isinstance(value, bool) else repr(value)


def _activation(value: Any, where: str, default: str, elementwise: bool) -> str:
    if not isinstance(value if value is not None else default, str):
        raise SpecError(f"{where}: key 'activation': {_shown(value)} is not a name")
    try:
        act = rules.activations().lookup(value if value is not None else default)
    except SpecError as exc:
        raise SpecError(f"{where}: key 'activation': {exc}") from None
    if elementwise and not act.elementwise:
        raise SpecError(f"{where}: key 'activation': {act.name} is not element-wise; a conv2d "
                        "layer takes an element-wise activation")
    return act.name


def _layer(n: int, table: Any, shape: tuple[int, ...], flat: bool) -> CNNLayer:
    if not isinstance(table, Mapping):
        raise SpecError(f"layer {n}: a [[layer]] table is needed, not {table!r}")
    kind = table.get("kind")
    if kind is None:
        raise SpecError(f"layer {n}: key 'kind' is missing: give one of {', '.join(KEYS)}")
    if not isinstance(kind, str) or kind not in KEYS:
        raise SpecError(f"layer {n}: key 'kind': {_shown(kind)} is not one of {', '.join(KEYS)}")
    where = f"layer {n} ({kind})"
    for key in table:
        if key != "kind" and key not in KEYS[kind]:
            raise SpecError(f"{where}: unknown key {key!r}; known: {', '.join(('kind', *KEYS[kind]))}")
    if kind == "dense":
        if not flat:
            before = (f"layer {n - 1}'s output" if n > 1 else "the input") + \
                f" is {'×'.join(map(str, shape))} per example"
            raise SpecError(f"{where}: a dense layer needs a flatten layer before it ({before}; "
                            'add a [[layer]] with kind = "flatten" before it)')
        units = _int(table.get("units"), where, "units", 1)
        act = _activation(table.get("activation"), where, "relu", False)
        return CNNLayer(n, kind, shape, (units,), units=units, activation=act)
    if flat:
        raise SpecError(f"{where}: only dense layers may follow the flatten layer")
    h, w, c = shape
    if kind == "flatten":
        return CNNLayer(n, kind, shape, (h * w * c,))
    if kind == "pool":
        mode = table.get("mode", "max")
        if mode not in MODES:
            raise SpecError(f"{where}: key 'mode': {_shown(mode)} is not one of {', '.join(MODES)}")
        f = _int(table.get("size"), where, "size", 1)
        s = _int(table.get("stride", f), where, "stride", 1)
        if f > h or f > w:
            raise SpecError(f"{where}: key 'size': a {f}×{f} window does not fit the {h}×{w} input")
        return CNNLayer(n, kind, shape, ((h - f) // s + 1, (w - f) // s + 1, c),
                        size=f, stride=s, mode=mode)
    k = _int(table.get("filters"), where, "filters", 1)
    f = _int(table.get("size"), where, "size", 1)
    s = _int(table.get("stride", 1), where, "stride", 1)
    p = _int(table.get("pad", 0), where, "pad", 0)
    if f > h + 2 * p or f > w + 2 * p:
        raise SpecError(f"{where}: key 'size': a {f}×{f} filter does not fit the {h}×{w} input "
                        f"(padded by {p})")
    act = _activation(table.get("activation"), where, "relu", True)
    return CNNLayer(n, kind, shape, ((h + 2 * p - f) // s + 1, (w + 2 * p - f) // s + 1, k),
                    filters=k, size=f, stride=s, pad=p, activation=act)


def _entries(layers: list[CNNLayer], shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= d
    for layer in layers:
        out = 1
        for d in layer.out_shape:
            out *= d
        total += 2 * out  # Z and A
        prev = 1
        for d in layer.in_shape:
            prev *= d
        if layer.kind == "conv2d":
            total += layer.size * layer.size * layer.in_shape[2] * layer.filters + layer.filters
        elif layer.kind == "dense":
            total += prev * layer.units + layer.units
    return total


def cnn_from_mapping(data: Mapping, where: str = "spec") -> CNN:
    """A :class:`CNN` from a TOML-like mapping (errors name ``where``, the layer and the key)."""
    try:
        return _from_mapping(data)
    except SpecError as exc:
        raise SpecError(f"{where}: {exc}") from None
    except ResourceLimit as exc:  # the same error, naming the file first
        exc.args = (f"{where}: {exc.args[0]}", *exc.args[1:])
        raise


def _from_mapping(data: Mapping) -> CNN:
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown key {key!r}; known: {', '.join(TOP_KEYS)}")
    shape = data.get("input")
    if not isinstance(shape, list) or len(shape) != 3:
        raise SpecError("key 'input' is missing: give [n_H, n_W, n_C]" if shape is None else
                        f"key 'input': [n_H, n_W, n_C] is needed, not {_shown(shape)}")
    h, w, c = (_int(v, "input", f"input[{i}]", 1) for i, v in enumerate(shape))
    input_ = (h, w, c)
    tables = data.get("layer")
    if not isinstance(tables, list) or not tables:
        raise SpecError("key 'layer': at least one [[layer]] table is needed")
    require(LAYERS, len(tables), "this spec")
    layers: list[CNNLayer] = []
    current: tuple[int, ...] = input_
    for n, table in enumerate(tables, start=1):
        layer = _layer(n, table, current, flat=len(current) == 1)
        layers.append(layer)
        current = layer.out_shape
        require(ENTRIES, _entries(layers, input_), f"this spec up to {layer.where}")
    if layers[-1].kind != "dense":
        raise SpecError(f"layer {len(layers)} ({layers[-1].kind}): the last layer must be dense "
                        "(flatten, then a dense head that the loss reads)")
    loss = data.get("loss", "ce")
    if not isinstance(loss, str):
        raise SpecError(f"key 'loss': {_shown(loss)} is not a name")
    try:
        loss_name = rules.losses().lookup(loss).name
    except SpecError as exc:
        raise SpecError(f"key 'loss': {exc}") from None
    m = data.get("examples")
    if m is not None:
        if isinstance(m, int) and not isinstance(m, bool):
            require(EXAMPLES, m, "key 'examples'")  # before _int's size limit, which is not its
        m = _int(m, "examples", "examples", 1)
    cnn = CNN(input_, tuple(layers), loss_name, m)
    cnn.head()  # the dense head's own checks (softmax over one unit, the loss's pairing)
    return cnn


def spec_text(input_: tuple[int, int, int] | list[int], layers: list[Mapping[str, Any]],
              loss: str = "ce", examples: int | None = None) -> str:
    """A CNN spec's TOML text from its parts, as a user writes it (``[[layer]]`` tables in order):
    for a spec built in code and then written to a file or read back by :func:`load_cnn`.

    >>> print(spec_text([4, 4, 1], [{"kind": "conv2d", "filters": 2, "size": 3}, {"kind": "flatten"},
    ...                             {"kind": "dense", "units": 1, "activation": "sigmoid"}], loss="bce"))
    input = [4, 4, 1]
    loss = "bce"
    [[layer]]
    kind = "conv2d"
    filters = 2
    size = 3
    [[layer]]
    kind = "flatten"
    [[layer]]
    kind = "dense"
    units = 1
    activation = "sigmoid"
    <BLANKLINE>
    """
    def value(v: Any) -> str:
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return str(int(v))

    lines = [f"input = {value(list(input_))}", f"loss = {value(loss)}"]
    if examples is not None:
        lines.append(f"examples = {int(examples)}")
    for table in layers:
        lines.append("[[layer]]")
        lines.extend(f"{key} = {value(v)}" for key, v in table.items())
    return "\n".join(lines) + "\n"


def load_cnn(text: str | os.PathLike, where: str = "spec") -> CNN:
    """Parse a CNN spec: its TOML ``text`` (see the module's docstring), or a file, given as a
    path (``pathlib.Path``) or as a one-line string ending in ``.toml`` (``load_cnn("cnn.toml")``:
    no TOML text is a bare file name), read bounded as every spec file is; an error names it."""
    if isinstance(text, os.PathLike) or (isinstance(text, str) and text.endswith(".toml")
                                         and "\n" not in text and "=" not in text):
        from derive.network.spec import SPEC_BYTES
        from derive.network.textfile import read_bounded

        path = os.fspath(text)
        return cnn_from_mapping(load_toml(read_bounded(path, SPEC_BYTES, "spec file"), path), path)
    return cnn_from_mapping(load_toml(text, where), where)
