"""The full array of partial derivatives ∂Y_ij/∂X_kl between two quantities of a network.

A derivative of a matrix with respect to a matrix is a 4-index array: for Z = W A (2×2 by 2×2)
it has 16 entries, ∂Z_ij/∂W_kl = δ_ik A_lj. The vectorized backprop formulas are contractions of
such arrays with the upstream gradient (:mod:`derive.jacobian.steps`). Here every entry comes from
SymPy's ``diff`` of the forward map (built with :func:`derive.network.model.symbol_matrix` and
:func:`derive.network.model.sympy_activation`) on small concrete sizes.

Index convention: ``array[i][j][k][l] = ∂Y_ij/∂X_kl`` (indices from 1 when printed); the text and
LaTeX show block (i, j) as the matrix over (k, l). For the scalar cost J the array is ∂J/∂X_kl.

>>> from derive.network.spec import Network
>>> r = jacobian("Z1", "W1", Network(depth=1))
>>> r.shape, r.nonzero, r.deltas
((2, 2, 2, 2), 8, (('i', 'k'),))
>>> r.entry(1, 2, 1, 1), r.entry(1, 2, 2, 1)
(X_0_1, 0)
>>> print(r.rule.text)
∂Z[1]ᵢⱼ/∂W[1]ₖₗ = δᵢₖ Xₗⱼ
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from derive.catalogue import rules
from derive.core.expr import as_sympy
from derive.errors import ParseError, SpecError
from derive.network.model import symbol_matrix, sympy_activation
from derive.network.spec import Network
from derive.network.symbols import text_name

MAX_ENTRIES = 4096  # entries of the whole array (e.g. 8×8×8×8)
MAX_SIZE = 64  # any one size
MAX_SPAN = 3  # layers a derivative may pass through (entries grow with every layer)
DEFAULT_SIZE = 2
SIMPLIFY_OPS = 80  # entries up to this many operations are simplified for display
SIMPLIFY_ENTRIES = 256

# -- names -------------------------------------------------------------------------------------
_LAYER = r"(?:(?P<a>\d{1,4})|\[(?P<b>\d{1,4})\]|\^\[(?P<c>\d{1,4})\]|\^\{\[(?P<d>\d{1,4})\]\}|" \
         r"\^\{(?P<e>\d{1,4})\}|_(?P<f>\d{1,4})|_\{(?P<g>\d{1,4})\})"
_NAME = re.compile(rf"(?P<base>[WbBZA]){_LAYER}")
_PLAIN = {"X": ("X", None), "J": ("J", None), "cost": ("J", None)}


@dataclass(frozen=True)
class Quantity:
    """A quantity of the network: X, W[l], b[l], Z[l], A[l] (A[0] is X) or the cost J."""

    base: str
    layer: int | None
    written: str = field(default="", compare=False)

    @property
    def text(self) -> str:
        return "J" if self.base == "J" else text_name(self.base, self.layer)

    @property
    def latex(self) -> str:
        from derive.network.symbols import latex_name

        return "J" if self.base == "J" else latex_name(self.base, self.layer)

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.base, self.layer)


def parse_quantity(text: str, net: Network) -> Quantity:
    """Read a name such as ``Z1``, ``Z[1]``, ``W^{[1]}``, ``b_2``, ``A0`` / ``X`` or ``J``.

    A small strict pattern, never ``eval``: anything else is a :class:`ParseError` with a position.

    >>> net = Network(depth=2)
    >>> parse_quantity("W^{[2]}", net).text, parse_quantity("A0", net).text
    ('W[2]', 'X')
    """
    raw = text
    s = text.strip()
    if len(s) > 20:
        raise ParseError("a quantity name is short, like Z1 or W[2]", 20, raw)
    if s in _PLAIN:
        return Quantity(*_PLAIN[s], written=raw)
    hit = _NAME.fullmatch(s)
    if hit is None:
        pos = 0 if not s or s[0] not in "WbBZA" else 1
        offset = len(raw) - len(raw.lstrip())
        raise ParseError(
            f"cannot read {s!r} as a quantity: write X, J, or W, b, Z, A with a layer "
            "(Z1, Z[1], Z^{[1]}, Z_1)", pos + offset, raw)
    base = "b" if hit["base"] == "B" else hit["base"]
    layer = int(next(v for k, v in hit.groupdict().items() if k != "base" and v is not None))
    if base == "A" and layer == 0:
        return Quantity("X", None, written=raw)
    lo = 0 if base == "A" else 1
    if not lo <= layer <= net.L:
        raise SpecError(f"{s}: this network has layers 1 to {net.L}, so {base} takes a layer "
                        f"from {lo} to {net.L}, not {layer}")
    return Quantity(base, layer, written=raw)


# -- sizes -------------------------------------------------------------------------------------
def resolve_sizes(net: Network, sizes: Mapping[str, int] | None = None) -> tuple[Network, int]:
    """The network with every size concrete, and m: ``sizes`` like ``{"n0": 3, "m": 2}`` fills the
    symbolic sizes (default 2 each); a size the spec already fixes must agree.

    >>> resolve_sizes(Network(layers=[3, None]), {"n1": 2})[0].layers
    (3, 2)
    >>> resolve_sizes(Network(depth=1))[1]
    2
    """
    sizes = dict(sizes or {})
    known = {f"n{l}" for l in range(net.L + 1)} | {"m"}
    for key, value in sizes.items():
        if key not in known:
            raise SpecError(f"unknown size {key!r}: this network has "
                            f"{', '.join(sorted(known - {'m'}, key=lambda k: int(k[1:])))} and m")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIZE:
            raise SpecError(f"size {key} = {value!r}: give a whole number from 1 to {MAX_SIZE}")
    filled = []
    for l, given in enumerate(net.layers):  # type: ignore[arg-type]
        want = sizes.get(f"n{l}")
        if given is not None and want is not None and want != given:
            raise SpecError(f"size n{l} = {want} disagrees with the spec's layer size {given}")
        size = given if given is not None else (want if want is not None else DEFAULT_SIZE)
        if given is not None and given > MAX_SIZE:
            raise SpecError(f"layer size n{l} = {given} is too large to show entry by entry "
                            f"(at most {MAX_SIZE}); give smaller --layers or --sizes")
        filled.append(size)
    concrete = Network(tuple(filled), net.activations, net.loss, net.convention, net.scale)
    return concrete, sizes.get("m", DEFAULT_SIZE)


def quantity_shape(net: Network, m: int, q: Quantity) -> tuple[int, ...]:
    """The concrete shape: () for J, else (rows, cols) under the network's convention."""
    if q.base == "J":
        return ()
    from derive.network.symbols import shape_of

    return tuple(int(as_sympy(d).subs(sp.Symbol("m", positive=True, integer=True), m))
                 for d in shape_of(net, q.base, q.layer))


# -- the symbolic forward map -------------------------------------------------------------------
def _code(base: str, layer: int | None) -> str:
    return base if layer is None else f"{base}{layer}"


@dataclass(frozen=True)
class SymbolicModel:
    """Forward values as SymPy matrices; ``leaves`` are the independent symbol matrices (with the
    cut quantity, if any, made independent). Entry symbols are named ``W1_0_1`` (0-based)."""

    net: Network
    m: int
    values: Mapping[tuple[str, int | None], object]
    leaves: Mapping[tuple[str, int | None], sp.Matrix]


def symbolic_model(net: Network, m: int, cut: Quantity | None = None, upto: int | None = None,
                   with_cost: bool = False) -> SymbolicModel:
    """Z[l] = W[l] A[l-1] + b[l] 1ᵀ (rows: A W + 1 b), A[l] = g[l](Z[l]) and J = scale · Σ ℓ on
    symbol matrices; ``cut`` (Z[l] or A[l]) is a fresh symbol matrix instead of its forward value.
    A generic g[l] is the undefined function g{l}; a generic loss is the undefined ℓ(a, y)."""
    cols = net.convention == "columns"
    values: dict = {}
    leaves: dict = {}
    upto = net.L if upto is None or with_cost else upto

    def leaf(base, layer):
        shape = quantity_shape(net, m, Quantity(base, layer))
        mat = symbol_matrix(_code(base, layer), *shape)
        leaves[base, layer] = mat
        values[base, layer] = mat
        return mat

    A = leaf("X", None)
    for l in range(1, upto + 1):
        W, b = leaf("W", l), leaf("b", l)
        if cut is not None and cut.key == ("Z", l):
            Z = leaf("Z", l)
        elif cols:
            Z = W * A + b * sp.ones(1, m)
        else:
            Z = A * W + sp.ones(m, 1) * b
        values["Z", l] = Z
        if cut is not None and cut.key == ("A", l):
            A = leaf("A", l)
        else:
            A = sympy_activation(net, l, Z, generic=False)
        values["A", l] = A
    if with_cost:
        Y = leaf("Y", None)
        loss = net.loss_entry
        ell = sp.Function("ℓ")
        terms = []
        for i, j in itertools.product(range(A.rows), range(A.cols)):
            if loss is None:
                terms.append(ell(A[i, j], Y[i, j]))
            else:
                terms.append(loss.per_unit.subs({rules.a: A[i, j], rules.y: Y[i, j]},
                                                simultaneous=True))
        scale = sp.Rational(1, m) if net.scale == "mean" else sp.Integer(1)
        values["J", None] = scale * sp.Add(*terms)
    return SymbolicModel(net, m, values, leaves)


# -- the Jacobian ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClosedForm:
    """A closed form of every entry (text, LaTeX), checked against all entries of the array."""

    text: str
    latex: str
    why: str


@dataclass(frozen=True)
class JacobianResult:
    """∂of/∂wrt on concrete sizes. ``array[i][j][k][l] = ∂of_ij/∂wrt_kl`` (a sympy.Array; for J,
    ``array[k][l]``); ``zero_pattern`` has the same shape, True where the entry is identically 0;
    ``deltas`` the index pairs (p, q) with every nonzero entry on p = q (a factor δ_pq);
    ``display`` the entries with forward quantities abbreviated (Z[l]ᵢⱼ for its expression)."""

    of: Quantity
    wrt: Quantity
    network: Network
    m: int
    array: sp.Array
    display: sp.Array
    zero_pattern: tuple
    deltas: tuple[tuple[str, str], ...]
    rule: ClosedForm | None
    model: SymbolicModel = field(repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.array.shape)

    @property
    def of_shape(self) -> tuple[int, ...]:
        return self.shape[:-2]

    @property
    def wrt_shape(self) -> tuple[int, ...]:
        return self.shape[-2:]

    @property
    def size(self) -> int:
        return len(self.array)

    @property
    def nonzero(self) -> int:
        return sum(1 for e in sp.flatten(self.array) if e != 0)

    def entry(self, *index: int) -> sp.Expr:
        """The entry at 1-based indices (i, j, k, l), as printed."""
        return self.array[tuple(i - 1 for i in index)]

    def at(self, values: Mapping, standins: Mapping | None = None):
        """The array as numbers (numpy float64) at ``values[(base, layer)] = ndarray`` for every
        leaf (X, Y, W, b and the cut quantity); generic g{l} / ℓ replaced by ``standins``."""
        from derive.jacobian.render import numeric

        return numeric(self, values, standins)

    def to_text(self) -> str:
        from derive.jacobian.render import result_text

        return result_text(self)

    def to_latex(self) -> str:
        from derive.jacobian.render import result_latex

        return result_latex(self)

    def to_dict(self) -> dict:
        from derive.jacobian.render import result_dict

        return result_dict(self)


def jacobian(of: str | Quantity, wrt: str | Quantity, net: Network,
             sizes: Mapping[str, int] | None = None) -> JacobianResult:
    """Every entry ∂of_ij/∂wrt_kl by SymPy's ``diff``, on concrete sizes (symbolic ones filled from
    ``sizes``, default 2), with the zero pattern, its Kronecker deltas and (for the layer's own
    maps) a closed form checked against every entry.

    >>> r = jacobian("A1", "Z1", Network(activations=["tanh"]))
    >>> r.deltas, r.entry(2, 1, 2, 1)
    ((('i', 'k'), ('j', 'l')), 1 - tanh(Z1_1_0)**2)
    """
    cnet, m = resolve_sizes(net, sizes)
    of_q = of if isinstance(of, Quantity) else parse_quantity(of, cnet)
    wrt_q = wrt if isinstance(wrt, Quantity) else parse_quantity(wrt, cnet)
    if wrt_q.base == "J":
        raise SpecError("J is the cost, a scalar output: differentiate J with respect to a "
                        "quantity (derive jacobian J W1), not the other way round")
    of_shape = quantity_shape(cnet, m, of_q)
    wrt_shape = quantity_shape(cnet, m, wrt_q)
    count = _prod(of_shape) * _prod(wrt_shape)
    if count > MAX_ENTRIES:
        raise SpecError(
            f"∂{of_q.text}/∂{wrt_q.text} has {_fmt(of_shape + wrt_shape)} = {count} entries; "
            f"at most "
            f"{MAX_ENTRIES} are shown: choose smaller --sizes (e.g. n0=2,n1=2,m=2)")
    cut = wrt_q if wrt_q.base in ("Z", "A") else None
    upto = _layer_of(of_q, cnet)
    span = upto - _layer_of(wrt_q, cnet)
    if span > MAX_SPAN:
        raise SpecError(
            f"∂{of_q.text}/∂{wrt_q.text} passes through {span} layers; entry by entry this is "
            f"shown for at most {MAX_SPAN}: pick quantities closer together")
    model = symbolic_model(cnet, m, cut=cut, upto=max(upto, 0), with_cost=of_q.base == "J")
    if wrt_q.key not in model.leaves:  # wrt lies downstream of of (e.g. ∂Z1/∂W2): all zero
        model = symbolic_model(cnet, m, cut=cut, upto=cnet.L, with_cost=of_q.base == "J")
    Y = model.values[of_q.key]
    Xs = model.leaves[wrt_q.key]
    outs = [Y] if of_q.base == "J" else [Y[i, j] for i, j in _cells(of_shape)]
    flat = [sp.diff(y, Xs[k, l]) for y in outs for k, l in _cells(wrt_shape)]
    array = sp.ImmutableDenseNDimArray(flat, of_shape + wrt_shape)
    display = sp.ImmutableDenseNDimArray(_abbreviate(flat, model, of_q), array.shape)
    zero = _nested([e == 0 for e in flat], array.shape)
    deltas = _deltas(array)
    from derive.jacobian.forms import closed_form

    rule = closed_form(of_q, wrt_q, model, array)
    return JacobianResult(of_q, wrt_q, cnet, m, array, display, zero, deltas, rule, model)


def _layer_of(q: Quantity, net: Network) -> int:
    if q.base == "J":
        return net.L
    if q.base == "X":
        return 0
    return q.layer  # type: ignore[return-value]


def _abbreviate(flat: list[sp.Expr], model: SymbolicModel, of: Quantity) -> list[sp.Expr]:
    """Replace forward expressions by the names of the quantities (deepest first; never ``of``
    itself, nor a softmax output), then simplify small entries. Both are equalities, so the
    display is the same function as the array."""
    net, m = model.net, model.m
    reps = []
    for l in range(net.L, 0, -1):
        for base in ("A", "Z"):
            value = model.values.get((base, l))
            act = net.activation(l)
            if value is None or (base, l) in model.leaves or (base, l) == of.key:
                continue
            if base == "A" and act is not None and not act.elementwise:
                continue
            names = symbol_matrix(_code(base, l), *quantity_shape(net, m, Quantity(base, l)))
            for i, j in _cells((value.rows, value.cols)):
                if not value[i, j].is_Symbol:
                    reps.append((value[i, j], names[i, j]))
    out = []
    small = len(flat) <= SIMPLIFY_ENTRIES
    for e in flat:
        if e != 0 and reps:
            e = e.subs(reps)
        if small and e != 0 and not e.is_Atom and sp.count_ops(e) <= SIMPLIFY_OPS:
            tidy = sp.simplify(e)
            if sp.count_ops(tidy) < 0.6 * sp.count_ops(e):  # only when clearly shorter
                e = tidy
        out.append(e)
    return out


INDEX_NAMES = ("i", "j", "k", "l")


def _deltas(array: sp.Array) -> tuple[tuple[str, str], ...]:
    """Pairs (p, q), p an index of ``of`` and q of ``wrt``, with every nonzero entry at p = q."""
    shape = tuple(array.shape)
    if len(shape) != 4:
        return ()
    nonzero = [idx for idx in itertools.product(*map(range, shape)) if array[idx] != 0]
    if not nonzero:
        return ()
    found = []
    for p in (0, 1):
        for q in (2, 3):
            if shape[p] == shape[q] and shape[p] > 1 and all(idx[p] == idx[q] for idx in nonzero):
                found.append((INDEX_NAMES[p], INDEX_NAMES[q]))
    return tuple(found)


def _cells(shape: tuple[int, ...]):
    return itertools.product(*map(range, shape))


def _prod(shape) -> int:
    out = 1
    for d in shape:
        out *= d
    return out


def _nested(flat: list, shape: tuple[int, ...]):
    if not shape:
        return flat[0]
    step = len(flat) // shape[0]
    return tuple(_nested(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0]))


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape)
