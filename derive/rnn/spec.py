"""An RNN spec: the ``[rnn]`` table of a TOML file, checked and bounded before anything is built.

A tanh RNN in the Deep Learning Specialization's course 5 layout (one example per column):
a⟨t⟩ = g(Waa a⟨t−1⟩ + Wax x⟨t⟩ + ba), ŷ⟨t⟩ = softmax(Wya a⟨t⟩ + by), and the cost
J = Σₜ Σᵢ ℓ(ŷ⟨t⟩(i), y⟨t⟩(i)) summed over the steps and the examples (the course's rnn_backward
has no 1/m). Sizes not given are symbols (n_x, n_a, n_y, m); ``steps`` is the T_x the derivation
unrolls.

>>> rnn = load_rnn('[rnn]\\ninput = 3\\nhidden = 5\\noutput = 2\\nsteps = 4\\n')
>>> rnn.describe()
'tanh RNN n_x=3, n_a=5, n_y=2, T_x=4, m=m, output softmax, loss ce (summed over t and examples)'
>>> load_rnn('[rnn]\\nhidden = 0\\n', "net.toml")
Traceback (most recent call last):
...
derive.errors.SpecError: net.toml: [rnn] hidden must be a whole number ≥ 1, not 0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from derive.catalogue import rules
from derive.core.names import m as M
from derive.errors import SpecError
from derive.limits import Limit, require
from derive.network.textfile import load_toml

#: the time steps one derivation unrolls (each step gives six formulas, each proven)
STEPS = Limit("rnn.steps", 1000, "time steps", "steps in the [rnn] table",
              "the time steps an RNN derivation unrolls")
#: the entries of one instance of the spec (x, y, every a⟨t⟩ and ŷ⟨t⟩, the parameters)
ENTRIES = Limit("rnn.entries", 5_000_000, "entries", "smaller sizes in the [rnn] table",
                "the arrays one RNN instance holds (x, y, a, ŷ and the parameters)")

KEYS = ("input", "hidden", "output", "steps", "activation", "output_activation", "loss", "examples")
DEFAULT_STEPS = 4

n_x = sp.Symbol("n_x", positive=True, integer=True)
n_a = sp.Symbol("n_a", positive=True, integer=True)
n_y = sp.Symbol("n_y", positive=True, integer=True)


@dataclass(frozen=True)
class RNN:
    """A checked RNN spec: sizes (None: symbolic), the steps T_x, the catalogue names."""

    input: int | None = None
    hidden: int | None = None
    output: int | None = None
    steps: int = DEFAULT_STEPS
    activation: str = "tanh"
    output_activation: str = "softmax"
    loss: str = "ce"
    examples: int | None = None
    notes: tuple[str, ...] = ()

    @property
    def nx(self) -> sp.Expr:
        return n_x if self.input is None else sp.Integer(self.input)

    @property
    def na(self) -> sp.Expr:
        return n_a if self.hidden is None else sp.Integer(self.hidden)

    @property
    def ny(self) -> sp.Expr:
        return n_y if self.output is None else sp.Integer(self.output)

    @property
    def m(self) -> sp.Expr:
        return M if self.examples is None else sp.Integer(self.examples)

    @property
    def act(self) -> rules.Activation:
        return rules.activations().lookup(self.activation)

    @property
    def out_act(self) -> rules.Activation:
        return rules.activations().lookup(self.output_activation)

    def concrete(self, nx: int = 3, na: int = 2, ny: int = 2, m: int = 2,
                 steps: int | None = None) -> RNN:
        """The same RNN with every size a number (the given ones kept, the others these)."""
        return RNN(self.input or nx, self.hidden or na, self.output or ny,
                   self.steps if steps is None else steps, self.activation,
                   self.output_activation, self.loss, self.examples or m, self.notes)

    def describe(self) -> str:
        return (f"{self.activation} RNN n_x={self.nx}, n_a={self.na}, n_y={self.ny}, "
                f"T_x={self.steps}, m={self.m}, output {self.output_activation}, loss {self.loss} "
                "(summed over t and examples)")


def _size(table: Mapping[str, Any], key: str, where: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: [rnn] {key} must be a whole number ≥ 1, not {value!r}")
    return value


def _name(table: Mapping[str, Any], key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SpecError(f"{where}: [rnn] {key} must be a name (a string), not {value!r}")
    return value


def from_table(table: Mapping[str, Any], where: str = "spec") -> RNN:
    """An :class:`RNN` from a parsed ``[rnn]`` table (a mapping), every key checked."""
    if not isinstance(table, Mapping):
        raise SpecError(f"{where}: [rnn] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SpecError(f"{where}: [rnn] has unknown key {unknown[0]!r}; known: {', '.join(KEYS)}")
    sizes = {k: _size(table, k, where) for k in ("input", "hidden", "output", "steps", "examples")}
    steps = sizes["steps"] or DEFAULT_STEPS
    require(STEPS, steps, f"{where}: [rnn] steps = {steps}")
    notes = () if sizes["steps"] else (f"T_x = {DEFAULT_STEPS}: the spec gives no steps",)
    names = {k: _name(table, k, d, where) for k, d in
             (("activation", "tanh"), ("output_activation", "softmax"), ("loss", "ce"))}
    try:
        act = rules.activations().lookup(names["activation"])
        out = rules.activations().lookup(names["output_activation"])
        loss = rules.losses().lookup(names["loss"])
    except SpecError as err:
        raise SpecError(f"{where}: [rnn] {err}") from None
    if not act.elementwise:
        raise SpecError(f"{where}: [rnn] activation must be element-wise, not {act.name}")
    if (out.name, loss.name) != ("softmax", "ce"):
        raise SpecError(f"{where}: [rnn] output_activation and loss must be softmax and ce (the "
                        f"course's), not {out.name} and {loss.name}")
    rnn = RNN(sizes["input"], sizes["hidden"], sizes["output"], steps, act.name, out.name,
              loss.name, sizes["examples"], notes)
    c = rnn.concrete(1, 1, 1, 1)
    nx, na, ny, m = (int(v) for v in (c.nx, c.na, c.ny, c.m))
    entries = (na * nx + na * na + ny * na + na + ny) + m * steps * (nx + 2 * na + 2 * ny)
    require(ENTRIES, entries, f"{where}: [rnn] an instance of these sizes (x, y, every a⟨t⟩ and "
            "ŷ⟨t⟩, the parameters)")
    return rnn


#: the built-in example (``derive backward --example rnn``; the file examples/rnn.toml)
EXAMPLE = """\
# The course's tanh RNN (Deep Learning Specialization, course 5 week 1), small: docs/rnn.md runs
# every command on it.
[rnn]
input = 3          # n_x
hidden = 5         # n_a
output = 2         # n_y
steps = 4          # T_x
examples = 2       # m
"""


def load_rnn(text: str, where: str = "spec") -> RNN:
    """The RNN of a TOML spec's ``[rnn]`` table (the text is untrusted: bounded and checked)."""
    data = load_toml(text, where)
    if "rnn" not in data:
        raise SpecError(f"{where}: no [rnn] table")
    extra = sorted(set(data) - {"rnn"})
    if extra:
        raise SpecError(f"{where}: an RNN spec has only the [rnn] table, not {extra[0]!r}")
    return from_table(data["rnn"], where)
