"""The rule catalogue: activations, losses and matrix-calculus identities read from ``rules/*.toml``.

The catalogue is trusted project data (never user text); its SymPy-syntax strings are read by a
small ``ast`` reader over a fixed set of functions (no ``eval``, no ``sympify`` of text). Each
registry maps every name and alias to one entry; a duplicate name is an error at load time.

>>> acts = activations()
>>> acts["σ"].name, str(acts["sigmoid"].derivative)
('sigmoid', 'a*(1 - a)')
>>> str(acts["relu"].derivative_at_z)
'Piecewise((1, z > 0), (0, True))'
"""

from __future__ import annotations

import ast
import functools
import operator
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Generic, NotRequired, Protocol, TypedDict, TypeVar

import sympy as sp

from derive.catalogue.statements import Facts, fill
from derive.core.names import z  # an activation is written in z (the core's own symbol)
from derive.errors import SpecError

a, y = sp.symbols("a y", real=True)  # a loss is written in the output a and the target y
#: a loss may also use n, the number of output units n[L] (the mean over units of mse_units), and
#: s = Σₖ yₖ aₖ, the example's target-weighted score (a_y for one-hot targets: the hinge's)
n = sp.Symbol("n", positive=True, integer=True)
s = sp.Symbol("s", real=True)


def rules_dir() -> Path:
    """The folder holding the catalogue: ``derive/_rules`` in a wheel, ``rules/`` in a checkout."""
    package = Path(__file__).resolve().parent.parent  # derive/
    packaged = package / "_rules"
    return packaged if packaged.is_dir() else package.parent / "rules"


class ActivationSource(TypedDict):
    """An activation's catalogue text, parsed on first use (SymPy syntax over z, a, params)."""

    forward: str
    derivative: str
    range: list[str]
    kinks: list[str]
    derivative_bound: str
    params: NotRequired[dict[str, str]]


class LossSource(TypedDict):
    """A loss's catalogue text: ``per_unit`` in a, y (and n), and the ranges of a and y."""

    per_unit: str
    a_range: list[str]
    y_range: list[str]
    targets: NotRequired[str]  # what random targets look like: real, probability, distribution
    kinks: NotRequired[list[str]]  # expressions in a, y, s whose zero is a kink of per_unit
    kink: NotRequired[str]  # the value taken at a kink, in words


@dataclass(frozen=True)
class Activation:
    """One activation function: forward definition, textbook derivative, how to print it.

    The SymPy parts are parsed from the catalogue's text on first use (most runs need two or
    three activations, and parsing all of them costs a cold start ~0.1 s). ``derivative_text``
    and ``derivative_numpy`` are printed as they stand; tests/test_rules.py checks both against
    SymPy's diff of ``forward`` (the numpy one is run), away from kinks and at each kink.
    """

    name: str
    aliases: tuple[str, ...]
    kind: str  # "elementwise" or "softmax"
    text: str
    latex: str
    derivative_text: str
    derivative_numpy: str
    source: ActivationSource = field(compare=False, hash=False, repr=False)

    @property
    def elementwise(self) -> bool:
        return self.kind == "elementwise"

    @functools.cached_property
    def params(self) -> Mapping[str, sp.Expr]:
        return {k: _expr(v) for k, v in self.source.get("params", {}).items()}

    def _parse(self, text: str) -> sp.Expr:
        return _expr(text, {sp.Symbol(k): v for k, v in self.params.items()})

    @functools.cached_property
    def forward(self) -> sp.Expr:
        """g(z); for softmax only a placeholder symbol (it is not element-wise)."""
        return self._parse(self.source["forward"]) if self.elementwise else sp.Symbol("softmax")

    @functools.cached_property
    def derivative(self) -> sp.Expr:
        """The textbook derivative, in z and/or a (a placeholder for softmax)."""
        return self._parse(self.source["derivative"]) if self.elementwise else sp.Symbol("J")

    @functools.cached_property
    def range(self) -> tuple[sp.Expr, sp.Expr]:
        lo, hi = (self._parse(v) for v in self.source["range"])
        return (lo, hi)

    @functools.cached_property
    def kinks(self) -> tuple[sp.Expr, ...]:
        return tuple(self._parse(v) for v in self.source["kinks"])

    @functools.cached_property
    def derivative_bound(self) -> sp.Expr:
        return self._parse(self.source["derivative_bound"])

    @functools.cached_property
    def derivative_at_z(self) -> sp.Expr:
        """The textbook derivative with a = g(z) substituted: a function of z alone."""
        return self.derivative.subs(a, self.forward)

    @functools.cached_property
    def numpy_forward(self) -> Callable:
        return _numpy_function((z,), self.forward)

    @functools.cached_property
    def numpy_derivative(self) -> Callable:
        return _numpy_function((z,), self.derivative_at_z)


@dataclass(frozen=True)
class Loss:
    """A per-example loss Σₖ per_unit(aₖ, yₖ); SymPy parts parsed on first use.

    ``per_unit`` may use n, the number of output units (bound to n[L] wherever it is evaluated:
    :meth:`per_unit_at`, :meth:`numpy_terms`, :meth:`sympy_terms`), and s = Σₖ yₖ aₖ, which
    couples the units of an example (the hinge's a_y): then ∂ℓ/∂aⱼ = ∂f/∂a(aⱼ) + yⱼ Σₖ ∂f/∂s(aₖ),
    the multivariable chain rule through s (:attr:`gradient`, :attr:`gradient_s`)."""

    name: str
    aliases: tuple[str, ...]
    title: str
    latex: str
    text: str
    natural_output: str
    assumes: str
    source: LossSource = field(compare=False, hash=False, repr=False)

    @functools.cached_property
    def per_unit(self) -> sp.Expr:
        return _expr(self.source["per_unit"])

    @functools.cached_property
    def a_range(self) -> tuple[sp.Expr, sp.Expr]:
        lo, hi = (_expr(v) for v in self.source["a_range"])
        return (lo, hi)

    @functools.cached_property
    def y_range(self) -> tuple[sp.Expr, sp.Expr]:
        lo, hi = (_expr(v) for v in self.source["y_range"])
        return (lo, hi)

    @property
    def targets(self) -> str:
        """How random targets are drawn: ``real``, ``probability`` (in (0, 1)), ``distribution``
        (each example's sum to 1) or ``one_hot``."""
        return self.source.get("targets", "real")

    @functools.cached_property
    def gradient(self) -> sp.Expr:
        """∂ per_unit / ∂a (s held fixed), by SymPy (unsimplified: the textbook form)."""
        d = sp.diff(self.per_unit, a)
        return tidy(sp.factor(d) if d.is_polynomial(a, y) else d)

    @functools.cached_property
    def gradient_s(self) -> sp.Expr:
        """∂ per_unit / ∂s, by SymPy: 0 unless the loss couples the units through s."""
        return sp.diff(self.per_unit, s)

    @property
    def coupled(self) -> bool:
        """Does the loss couple an example's units through s = Σₖ yₖ aₖ?"""
        return s in self.per_unit.free_symbols

    @functools.cached_property
    def kinks(self) -> tuple[sp.Expr, ...]:
        """Expressions in a, y, s whose zero is a kink (the hinge's margin a − s + 1)."""
        return tuple(_expr(k) for k in self.source.get("kinks", ()))

    @property
    def kink(self) -> str:
        """What the derivative is taken to be at a kink, in words ("" without kinks)."""
        return self.source.get("kink", "")

    def per_unit_at(self, expr: sp.Expr, units) -> sp.Expr:
        """``expr`` (per_unit or a derivative of it) with n bound to ``units`` (n[L]), factored
        again: 2 (a − y)/3, not SymPy's 2a/3 − 2y/3."""
        if n not in expr.free_symbols:
            return expr
        bound = expr.subs(n, units)
        return tidy(sp.factor(bound)) if bound.is_polynomial(a, y) else bound

    @functools.cached_property
    def _numpy(self) -> tuple[Callable, ...]:
        """per_unit, ∂/∂a, ∂/∂s and the kinks as numpy functions of (a, y, s, n)."""
        return tuple(_numpy_function((a, y, s, n), e)
                     for e in (self.per_unit, self.gradient, self.gradient_s, *self.kinks))

    def _numpy_args(self, A, Y, unit_axis: int):
        import numpy  # here, not at the top: see _numpy_function

        A, Y = numpy.asarray(A, dtype=float), numpy.asarray(Y, dtype=float)
        S = numpy.sum(Y * A, axis=unit_axis, keepdims=True)  # each example's Σₖ yₖ aₖ
        return numpy, (A, Y, S, A.shape[unit_axis])

    def numpy_terms(self, A, Y, unit_axis: int):
        """The per-unit terms ℓₖ of every example (A's shape; leading batch axes allowed), with
        n the size of ``unit_axis`` and s each example's Σₖ yₖ aₖ."""
        np_, args = self._numpy_args(A, Y, unit_axis)
        return np_.asarray(self._numpy[0](*args), dtype=float) * np_.ones_like(args[0])

    def numpy_gradient(self, A, Y, unit_axis: int):
        """∂(Σₖ ℓₖ)/∂A of every example, entry by entry (A's shape): ∂f/∂a, plus Y times each
        example's Σₖ ∂f/∂s for a loss coupled through s; n and s bound as in :meth:`numpy_terms`."""
        np_, args = self._numpy_args(A, Y, unit_axis)
        ones = np_.ones_like(args[0])
        out = np_.asarray(self._numpy[1](*args), dtype=float) * ones
        if self.coupled:
            ds = np_.asarray(self._numpy[2](*args), dtype=float) * ones
            out = out + args[1] * np_.sum(ds, axis=unit_axis, keepdims=True)
        return out

    def kink_distance(self, A, Y, unit_axis: int):
        """Each example's smallest |kink| over its units (inf without kinks): how far the
        instance is from a point where the loss has no derivative."""
        np_, args = self._numpy_args(A, Y, unit_axis)
        out = np_.full(np_.sum(args[0], axis=unit_axis, keepdims=True).shape, np_.inf)
        for fn in self._numpy[3:]:
            k = np_.abs(np_.asarray(fn(*args), dtype=float) * np_.ones_like(args[0]))
            out = np_.minimum(out, np_.min(k, axis=unit_axis, keepdims=True))
        return out

    def sympy_terms(self, A: sp.Matrix, Y: sp.Matrix, columns: bool) -> sp.Matrix:
        """The per-unit terms ℓₖ on explicit SymPy matrices (one example per column when
        ``columns``), n bound to the number of units and s to each example's Σₖ yₖ aₖ."""
        per = self.per_unit_at(self.per_unit, A.rows if columns else A.cols)

        def score(i, j):
            if columns:
                return sum(Y[k, j] * A[k, j] for k in range(A.rows))
            return sum(Y[i, k] * A[i, k] for k in range(A.cols))

        scores = {}
        if self.coupled:
            scores = {(i, j): score(i, j) for i in range(A.rows) for j in range(A.cols)}
        return sp.Matrix(A.rows, A.cols, lambda i, j: per.subs(
            {a: A[i, j], y: Y[i, j], s: scores.get((i, j), s)}, simultaneous=True))


def _numpy_function(params, expr) -> Callable:
    """``expr`` over numpy: walked into numpy calls where it keeps to the catalogue's functions
    (no ``lambdify``: its code printers cost a cold start ~0.1 s), else lambdified."""
    from derive.core.npform import numpy_function

    fn = numpy_function(params, expr)
    if fn is not None:
        return fn
    # The numpy module object, not "numpy": SymPy then skips `from numpy import *` (~0.2 s cold).
    import numpy

    return sp.lambdify(params, expr, [numpy])


@dataclass(frozen=True)
class Identity:
    """A matrix-calculus identity the engine cites in a step."""

    name: str
    title: str
    convention: str
    index: str
    index_latex: str
    source: str

    def title_for(self, facts: Facts | None = None) -> str:
        """The title for one step (a weight gradient's Z = W A + b says whether there is a b)."""
        return fill(self.title, 0, facts or Facts(), latex=False)

    def index_for(self, layer: int, facts: Facts | None = None) -> str:
        """The element-wise statement at ``layer``, with what the network has there
        (:mod:`derive.catalogue.statements`)."""
        return fill(self.index, layer, facts or Facts(), latex=False)

    def index_latex_for(self, layer: int, facts: Facts | None = None) -> str:
        return fill(self.index_latex, layer, facts or Facts(), latex=True)


def tidy(expr: sp.Expr) -> sp.Expr:
    """Put an expression in the order a student writes it: 2 (a − y), not −2 (−a + y).

    The result is built unevaluated; print it with ``order="none"``.

    >>> sp.sstr(tidy(sp.factor(2*a - 2*y)), order="none")
    '2*(a - y)'
    """
    if isinstance(expr, sp.Mul):
        coeff, rest = expr.as_coeff_Mul()
        if coeff < 0 and isinstance(rest, sp.Add):
            return sp.Mul(-coeff, _order_terms(-rest), evaluate=False)
        sums = [f for f in sp.Mul.make_args(rest) if isinstance(f, sp.Add)]
        if coeff < 0 and len(sums) == 1:  # −2 (y − a)/n: the sign goes into the one sum
            others = [f for f in sp.Mul.make_args(rest) if f is not sums[0]]
            return sp.Mul(-coeff, *others, _order_terms(-sums[0]), evaluate=False)
        return sp.Mul(*[tidy(f) for f in expr.args], evaluate=False)
    if isinstance(expr, sp.Add):
        return _order_terms(expr)
    return expr


def _order_terms(expr: sp.Expr) -> sp.Expr:
    terms = sp.Add.make_args(sp.expand(expr) if expr.is_polynomial() else expr)
    ordered = sorted(
        terms, key=lambda t: (t.could_extract_minus_sign(), not t.has(a), sp.default_sort_key(t))
    )
    return sp.Add(*[tidy(t) for t in ordered], evaluate=False)


_NAMES = {"z": z, "a": a, "y": y, "n": n, "s": s, "pi": sp.pi, "oo": sp.oo, "E": sp.E, "True": sp.true}
_FUNCTIONS = {"exp": sp.exp, "log": sp.log, "tanh": sp.tanh, "cosh": sp.cosh, "sinh": sp.sinh,
              "sqrt": sp.sqrt, "Abs": sp.Abs, "Max": sp.Max, "Min": sp.Min,
              "Piecewise": sp.Piecewise, "Heaviside": sp.Heaviside}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_COMPARE = {ast.Gt: sp.Gt, ast.Lt: sp.Lt, ast.GtE: sp.Ge, ast.LtE: sp.Le}


def _expr(text: str, params: Mapping[str, sp.Expr] | None = None) -> sp.Expr:
    """A catalogue expression (SymPy syntax) as a SymPy expression, exactly (decimals become
    rationals). A small reader over Python's ``ast`` rather than ``sympify``: the catalogue needs
    a dozen functions, and SymPy's string parser costs a cold start 60 ms.

    >>> _expr("Piecewise((1, z > 0), (alpha, True))", {"alpha": sp.Rational(1, 100)})
    Piecewise((1, z > 0), (1/100, True))
    """
    names = {**_NAMES, **{str(k): sp.sympify(v, strict=True) for k, v in (params or {}).items()}}

    def build(node):
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return sp.true if node.value else sp.false
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return sp.Integer(node.value) if isinstance(node.value, int) else sp.Rational(repr(node.value))
        if isinstance(node, ast.Name):
            return names[node.id] if node.id in names else sp.Symbol(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = build(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Tuple):
            return tuple(build(e) for e in node.elts)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
            return _COMPARE[type(node.ops[0])](build(node.left), build(node.comparators[0]))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _FUNCTIONS and not node.keywords):
            return _FUNCTIONS[node.func.id](*[build(arg) for arg in node.args])
        raise SpecError(f"rule catalogue: cannot read {ast.unparse(node)!r} in {text!r}")

    return build(ast.parse(text.strip(), mode="eval"))


def _load(filename: str) -> list[dict]:
    path = rules_dir() / filename
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    (entries,) = data.values()
    return entries


class _Named(Protocol):
    @property
    def name(self) -> str: ...


Entry = TypeVar("Entry", bound=_Named)


def _registry(entries: Iterable[Entry], where: str) -> Mapping[str, Entry]:
    table: dict[str, Entry] = {}
    for entry in entries:
        for key in (entry.name, *getattr(entry, "aliases", ())):
            folded = key.casefold()
            if folded in table and table[folded] is not entry:
                raise SpecError(f"{where}: the name {key!r} is used twice in the catalogue")
            table[folded] = entry
    return MappingProxyType(table)


class _Registry(Mapping[str, Entry], Generic[Entry]):
    """Case-insensitive lookup by name or alias; iteration gives each entry's canonical name."""

    def __init__(self, entries: Iterable[Entry], kind: str):
        entries = list(entries)
        self._entries = {e.name: e for e in entries}
        self._table = _registry(entries, kind)
        self.kind = kind

    def __getitem__(self, key: str) -> Entry:
        return self._table[key.casefold()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.casefold() in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> Entry:
        """Like ``self[key]`` but a miss is a SpecError that lists the known choices."""
        try:
            return self[key]
        except KeyError:
            choices = ", ".join(self._entries)
            raise SpecError(f"unknown {self.kind} {key!r}; known: {choices}") from None


@functools.cache
def activations() -> _Registry[Activation]:
    """The activation registry, loaded once (names now, SymPy parts on first use)."""
    out = [
        Activation(
            name=e["name"],
            aliases=tuple(e.get("aliases", ())),
            kind=e.get("kind", "elementwise"),
            text=e["text"],
            latex=e["latex"],
            derivative_text=e["derivative_text"],
            derivative_numpy=e["derivative_numpy"],
            source=ActivationSource(
                forward=e["forward"], derivative=e["derivative"], range=e["range"],
                kinks=e["kinks"], derivative_bound=e["derivative_bound"],
                params=e.get("params", {}),
            ),
        )
        for e in _load("activations.toml")
    ]
    return _Registry(out, "activation")


@functools.cache
def losses() -> _Registry[Loss]:
    """The loss registry, loaded once (names now, SymPy parts on first use)."""
    out = [
        Loss(
            name=e["name"],
            aliases=tuple(e.get("aliases", ())),
            title=e["title"],
            latex=e["latex"],
            text=e["text"],
            natural_output=e["natural_output"],
            assumes=e.get("assumes", ""),
            source=LossSource(per_unit=e["per_unit"], a_range=e["a_range"], y_range=e["y_range"],
                              targets=e.get("targets", "real"), kinks=e.get("kinks", []),
                              kink=e.get("kink", "")),
        )
        for e in _load("losses.toml")
    ]
    return _Registry(out, "loss")


@functools.cache
def identities() -> _Registry[Identity]:
    """The identity registry, loaded once."""
    out = [
        Identity(
            name=e["name"],
            title=e["title"],
            convention=e["convention"],
            index=e["index"],
            index_latex=e["index_latex"],
            source=e["source"],
        )
        for e in (*_load("identities.toml"), *_load("rnn.toml"))
    ]
    return _Registry(out, "identity")
