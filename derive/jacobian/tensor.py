"""The full array of partial derivatives ∂Y_ij/∂X_kl between two quantities of a network.

A derivative of a matrix with respect to a matrix is a 4-index array: for Z = W A (2×2 by 2×2)
it has 16 entries, ∂Z_ij/∂W_kl = δ_ik A_lj. The vectorized backprop formulas are contractions of
such arrays with the upstream gradient (:mod:`derive.jacobian.steps`). Here every entry comes from
SymPy's ``diff`` of the forward map (:func:`derive.jacobian.quantities.symbolic_model`) on small
concrete sizes; the result (:class:`derive.jacobian.render.JacobianResult`) prints itself.

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

import inspect
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from derive.errors import SpecError
from derive.jacobian.cost import require_work
from derive.jacobian.forms import ClosedForm, closed_form
from derive.jacobian.quantities import (
    Quantity,
    SymbolicModel,
    cells,
    code,
    nested,
    parse_quantity,
    quantity_shape,
    resolve_sizes,
    symbolic_model,
)
from derive.jacobian.render import JacobianResult
from derive.network.model import symbol_matrix
from derive.network.spec import Network

# the names the Jacobian API has always offered from here
__all__ = ["ClosedForm", "JacobianResult", "Quantity", "SymbolicModel", "jacobian",
           "parse_quantity", "quantity_shape", "resolve_sizes", "symbolic_model"]

MAX_SPAN = 3  # layers a derivative may pass through (entries grow with every layer)
SIMPLIFY_OPS = 80  # entries up to this many operations are simplified for display
SIMPLIFY_ENTRIES = 256
#: Python calls one display simplification may make. sp.simplify of a 40-80 operation entry took
#: 3-50 s when it did not shorten it (gelu, swish, a relu before sigmoid and bce: 3-11 million
#: calls) and at most 2 s, under 0.6 million calls, when it did (softmax with ce, sigmoid)
SIMPLIFY_CALLS = 1_000_000
#: ... and all the simplifications of one array together (about 5-10 s); past it, none is shown
SIMPLIFY_TOTAL = 2_500_000


def jacobian(of: str | Quantity, wrt: str | Quantity, net: Network,
             sizes: Mapping[str, int] | None = None) -> JacobianResult:
    """Every entry ∂of_ij/∂wrt_kl by SymPy's ``diff``, on concrete sizes (symbolic ones filled from
    ``sizes``, default 2), with the zero pattern, its Kronecker deltas and (for the layer's own
    maps) a closed form checked against every entry.

    >>> r = jacobian("A1", "Z1", Network(activations=["tanh"]))
    >>> r.deltas, r.entry(2, 1, 2, 1)
    ((('i', 'k'), ('j', 'l')), 1 - tanh(Z1_1_0)**2)
    """
    net.require_no_l2("derive jacobian")
    net.require_no_dropout("derive jacobian")
    cnet, m = resolve_sizes(net, sizes)
    of_q = of if isinstance(of, Quantity) else parse_quantity(of, cnet)
    wrt_q = wrt if isinstance(wrt, Quantity) else parse_quantity(wrt, cnet)
    if wrt_q.base == "J":
        raise SpecError("J is the cost, a scalar output: differentiate J with respect to a "
                        "quantity (derive jacobian J W1), not the other way round")
    of_shape = quantity_shape(cnet, m, of_q)
    wrt_shape = quantity_shape(cnet, m, wrt_q)
    cut = wrt_q if wrt_q.base in ("Z", "A") else None
    upto = _layer_of(of_q, cnet)
    span = upto - _layer_of(wrt_q, cnet)
    if span > MAX_SPAN:
        raise SpecError(
            f"∂{of_q.text}/∂{wrt_q.text} passes through {span} layers; entry by entry this is "
            f"shown for at most {MAX_SPAN}: pick quantities closer together")
    require_work(of_q, wrt_q, cnet, m)  # the entries and SymPy's work, before anything is built
    model = symbolic_model(cnet, m, cut=cut, upto=max(upto, 0), with_cost=of_q.base == "J")
    if wrt_q.key not in model.leaves:  # wrt lies downstream of of (e.g. ∂Z1/∂W2): all zero
        model = symbolic_model(cnet, m, cut=cut, upto=cnet.L, with_cost=of_q.base == "J")
    Y = model.values[of_q.key]
    Xs = model.leaves[wrt_q.key]
    outs = [Y] if of_q.base == "J" else [Y[i, j] for i, j in cells(of_shape)]
    flat = [sp.diff(y, Xs[k, l]) for y in outs for k, l in cells(wrt_shape)]
    array = sp.ImmutableDenseNDimArray(flat, of_shape + wrt_shape)
    display = sp.ImmutableDenseNDimArray(_abbreviate(flat, model, of_q), array.shape)
    zero = nested([e == 0 for e in flat], array.shape)
    deltas = _deltas(array)
    rule = closed_form(of_q, wrt_q, model, array)
    return JacobianResult(of_q, wrt_q, cnet, m, array, display, zero, deltas, rule, model)


def _layer_of(q: Quantity, net: Network) -> int:
    if q.base == "J":
        return net.L
    if q.base == "X":
        return 0
    assert q.layer is not None, q  # every quantity but X and J has a layer
    return q.layer


def _abbreviate(flat: list[sp.Expr], model: SymbolicModel, of: Quantity) -> list[sp.Expr]:
    """Replace forward expressions by the names of the quantities (deepest first; never ``of``
    itself, nor a softmax output), then simplify small entries. Both are equalities, so the
    display is the same function as the array."""
    net, m = model.net, model.m
    reps: list[tuple[sp.Expr, sp.Symbol]] = []
    for l in range(net.L, 0, -1):
        for base in ("A", "Z"):
            value = model.values.get((base, l))
            act = net.activation(l)
            if value is None or (base, l) in model.leaves or (base, l) == of.key:
                continue
            if base == "A" and act is not None and not act.elementwise:
                continue
            names = symbol_matrix(code(base, l), *quantity_shape(net, m, Quantity(base, l)))
            for i, j in cells((value.rows, value.cols)):
                if not value[i, j].is_Symbol:
                    reps.append((value[i, j], names[i, j]))
    shown = [_substituted(e, reps) if e != 0 and reps else e for e in flat]
    if len(flat) > SIMPLIFY_ENTRIES:
        return shown
    budget = Budget(SIMPLIFY_TOTAL)
    out: list[sp.Expr] = []
    for e in shown:
        if e != 0 and not e.is_Atom and sp.count_ops(e) <= SIMPLIFY_OPS:
            tidy = _simplified(e, budget)
            if budget.spent:  # every entry as it is, rather than some simplified and some not
                return shown
            if tidy is not None and sp.count_ops(tidy) < 0.6 * sp.count_ops(e):  # clearly shorter
                e = tidy
        out.append(e)
    return out


def _substituted(e: sp.Expr, reps: list[tuple[sp.Expr, sp.Symbol]]) -> sp.Expr:
    """``e.subs(reps)``: the pairs in order, one at a time, as ``subs`` takes a list, but a pair
    whose expression has a free symbol that ``e`` (as substituted so far) lacks is skipped: it
    cannot occur in ``e`` in any form (SymPy matches subexpressions of ``e``, exactly or as part
    of a sum, product or power, and their free symbols are among ``e``'s), so ``subs`` would
    return ``e`` unchanged after a walk over all of it. An entry of ∂Z[1]/∂W[1] is one symbol:
    without the test it was walked once per forward name, 64 times at sizes 8."""
    for old, new in reps:
        if old.free_symbols <= e.free_symbols:
            e = e.subs(old, new)
    return e


_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


class _OverBudget(BaseException):  # not an Exception: SymPy's own ``except Exception`` lets it by
    pass


@dataclass
class Budget:
    """Python calls left for the display simplifications of one array (:data:`SIMPLIFY_TOTAL`);
    ``spent`` once they ran out."""

    calls: int
    spent: bool = False


def _simplified(e: sp.Expr, budget: Budget) -> sp.Expr | None:
    """``sp.simplify(e)``, or None when it makes more than :data:`SIMPLIFY_CALLS` Python calls or
    more than the ``budget`` left (then ``budget.spent``). Calls are counted by a profile hook, so
    the cut falls at the same place on a slow machine as on a fast one; an entry not simplified
    is shown as it is, which is the same function."""
    allowed = min(SIMPLIFY_CALLS, budget.calls)
    calls = 0

    def count(frame: types.FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1
            # raised once, and never in a generator's frame, where a close() would swallow it
            if calls > allowed and not frame.f_code.co_flags & _RESUMABLE:
                sys.setprofile(None)
                raise _OverBudget
    previous = sys.getprofile()
    sys.setprofile(count)
    try:
        return sp.simplify(e)
    except _OverBudget:
        budget.spent = allowed < SIMPLIFY_CALLS
        return None
    finally:
        sys.setprofile(previous)
        budget.calls -= min(calls, budget.calls)


INDEX_NAMES = ("i", "j", "k", "l")


def _deltas(array: sp.NDimArray) -> tuple[tuple[str, str], ...]:
    """Pairs (p, q), p an index of ``of`` and q of ``wrt``, with every nonzero entry at p = q."""
    shape = tuple(array.shape)
    if len(shape) != 4:
        return ()
    nonzero = [idx for idx in cells(shape) if array[idx] != 0]
    if not nonzero:
        return ()
    found: list[tuple[str, str]] = []
    for p in (0, 1):
        for q in (2, 3):
            if shape[p] == shape[q] and shape[p] > 1 and all(idx[p] == idx[q] for idx in nonzero):
                found.append((INDEX_NAMES[p], INDEX_NAMES[q]))
    return tuple(found)
