"""Checking a student's formula: parse, shapes, value, diagnosis, into a :class:`Verdict`.

1. Parse the equation over the network's symbols (``derive.parse``): a parse error is the verdict
   ``parse_error``, with the position of the problem.
2. Shapes, with symbolic n[l] and m: a clash, or a right side whose shape is not the gradient's,
   is a ``shape_error`` naming the operation, the operands as written and both shapes. A formula
   that fits only because two sizes of this network happen to be equal is flagged in a note.
3. Value: compared with the engine's formula on several random instances with distinct sizes, every
   gradient symbol bound to its value (so ``dZ2`` and its expansion ``A2 - Y`` may be mixed).
   A difference is ``not_equivalent``, with a small counterexample.
4. Diagnosis: the smallest edit of the student's own tree that makes it correct
   (:mod:`derive.check.diagnose`) names the mistakes, one plain sentence each.

Without a network, a generic one (generic g[l] and loss) just deep enough for the layers the
equation names; a generic index l is checked at every concrete layer where it makes sense.

>>> v = check("dZ1 = W2^T dZ2 * g1'(Z1)")
>>> v.verdict, v.exit_code
('correct', 0)
>>> v = check("dZ[1] = dZ[2] W[2]T * g[1]'(Z[1])")
>>> v.verdict, [x.code for x in v.mistakes]
('shape_error', ['wrong_order'])
>>> print(v.message)
matrix product dZ[2] and W[2]T: (n2×m)·(n1×n2) — inner dimensions m and n1 differ
>>> v.expected
'dZ[1] = W[2]ᵀ dZ[2] ⊙ g[1]′(Z[1])'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields, replace

from derive.check import conditions, costs, staged
from derive.check import diagnose as D
from derive.check.augmented import with_data_term
from derive.check.chain import check_chain, left_side
from derive.check.coincidence import coincidence_notes
from derive.check.coincidence import same_shape as _same_shape
from derive.check.dialect import Runner, check_dialect
from derive.check.layers import (
    GENERIC_DEPTH,
    MAX_OFFSET,
    PROBE_DEPTH,
    current_plan,
    generic_network,
    layer_indices,
    layers_to_check,
    one_example,
    one_example_sum,
)
from derive.check.numeric import numbers_for
from derive.check.verdict import SEVERITY, Mistake, Verdict
from derive.core import expr as E
from derive.core.names import m as m_symbol
from derive.engine.backward import Formula
from derive.errors import DeriveError, InternalError, ParseError, ShapeMismatch
from derive.network.spec import Network
from derive.network.symbols import SymbolTable
from derive.parse import LayerOutOfRange


# -- the public entry point ---------------------------------------------------------------------
def check(equation: str, network=None, syntax: str = "auto", *, loss: str | None = None,
          convention: str = "columns", scale: str | None = None, layer: int | None = None,
          names=None, dialect: str | None = None, l2=None, l2_form: str | None = None,
          l2_layers=None, keep_prob=None, batchnorm=None) -> Verdict:
    """Check ``equation`` (e.g. ``"dZ1 = W2^T dZ2 * g1'(Z1)"``) against the derivation of
    ``network``; without one, a generic network (``loss``, ``convention``, ``scale`` apply to it).
    ``layer`` pins the current layer of names without an index (``dW = 1/m dZ A_prev.T``) and a
    generic l; without it they are checked at every layer where they make sense. ``names`` binds
    identifiers to quantities (``{"dL_dh2": "dA[2]"}``) or expressions, ``dialect`` forces a
    course's vocabulary (both as :func:`derive.parse.parse_equation` reads them). ``l2``,
    ``l2_form``, ``l2_layers`` give the generic network an L2 term, ``keep_prob`` dropout and
    ``batchnorm`` batch norm on its layers (as ``Network`` takes them).

    >>> check("dW1 = 1/m np.dot(dZ1, X.T)").verdict
    'correct'
    >>> v = check("dA_prev = np.dot(W.T, dZ)")
    >>> v.verdict, v.target, v.notes[-1]
    ('correct', 'dA[l-1]', 'checked at l = 1, 2, 3, 4')
    """
    if not isinstance(equation, str):
        return _unusable(ParseError("the equation must be a string"), None)
    if layer is not None and (type(layer) is not int or layer < 1):
        return _unusable(ParseError(f"layer must be a layer number (1, 2, ...), not {layer!r}"),
                         None)

    generic = dict(loss=loss, convention=convention, scale=scale, l2=l2, l2_form=l2_form,
                   l2_layers=l2_layers, keep_prob=keep_prob, batchnorm=batchnorm)
    run = Runner(check_with, _unusable, left_side)

    def once(options: dict) -> Verdict:
        def one(text: str, local: Mapping[str, str]) -> Verdict:
            bound = {**(names if isinstance(names, Mapping) else {}), **local} or names
            graph, said = staged.bindings(text, network, layer, bound)
            if graph:  # the staged batch-norm graph's nodes, named but not defined
                bound = {**(bound if isinstance(bound, Mapping) else {}), **graph}
            verdict = check_dialect(text, network, syntax, options, layer, bound, dialect, run)
            return replace(verdict, notes=(*verdict.notes, *said)) if said else verdict

        def whole(text: str) -> Verdict:
            return check_chain(text, one) or one(text, {})

        written = None
        if "frac" in equation:  # \\frac{\\partial}{\\partial Q} applied to a written cost
            from derive.check.written_cost import check_written
            written = check_written(equation, network, whole)
        return conditions.from_notes(written or whole(equation))

    verdict = once(generic)
    if network is None:  # the output activation is not known: the loss's usual one?
        verdict = conditions.paired(verdict, loss, lambda act: once({**generic, "output": act}))
    return verdict


def check_with(parse: Callable, network=None, generic: dict | None = None,
               target_of: Callable | None = None, layer: int | None = None) -> Verdict:
    """The checker over any ``parse(net, layer) -> Equation`` (the tests build trees directly).

    ``parse`` raises ParseError for unreadable input and ShapeMismatch where shapes clash;
    ``target_of(net, layer)`` reads the left side alone (used when no tree can be built at all);
    ``layer`` pins the current layer (names without an index) and a generic l.
    """
    generic = generic or {}
    parse = _memo(_completed(parse))
    try:
        current, unused = current_plan(parse, network, generic_network(generic), layer, square,
                                       _combine)
        plans = current.plans if current else _plan(parse, network, generic, target_of)
        as_given = plans
        plans, single = one_example(parse, plans, square)
    except Exception as exc:  # noqa: BLE001 - a verdict, never a crash, for any input
        return _failed(exc, network)

    def run(plans: list) -> Verdict:
        results = []
        for net, l in plans:
            try:
                results.append((l, _check_one(parse, net, l, target_of)))
            except Exception as exc:  # noqa: BLE001 - a verdict, never a crash, for any input
                results.append((l, _failed(exc, net)))
        return _combine(results) if current is None else current.combine(results)

    verdict = run(plans)
    if single:  # read as one example: is it right with m examples too?
        verdict = conditions.one_example(verdict, lambda: run(as_given))
    extra = tuple(n for n in (single, unused) if n)
    if extra and verdict.verdict not in ("parse_error", "internal_error"):
        verdict = replace(verdict, notes=(*verdict.notes, *extra))
    return verdict


def _failed(exc: Exception, net) -> Verdict:
    """The verdict for an exception: unusable input (a DeriveError of exit code 2) is a
    parse_error; anything else is a bug in derive, the verdict internal_error (exit code 3)."""
    if isinstance(exc, RecursionError):
        exc = ParseError("the formula nests too deeply")
    if isinstance(exc, DeriveError) and exc.exit_code == 2:
        return _unusable(exc, net)
    if not isinstance(exc, InternalError):
        exc = InternalError(f"derive could not check this formula ({type(exc).__name__}: "
                            f"{exc}); this is a bug in derive, please report it")
    return Verdict("internal_error", message=str(exc),
                   network=net.to_dict() if net is not None else None)


def _completed(parse: Callable) -> Callable:
    """``parse`` with the readings that need the network: an in-place update's data term
    (``dW += reg * W``, derive.check.augmented) and one example's sum (``db = dz``)."""
    def completed(net, layer):
        return one_example_sum(with_data_term(parse(net, layer), net), net)

    return completed


def _memo(parse: Callable) -> Callable:
    """``parse`` remembering its answers (an Equation, or the error it raised) per (net, layer)."""
    seen: dict = {}

    def memo(net, layer):
        key = (type(net), net, layer)
        if key not in seen:
            try:
                seen[key] = (True, parse(net, layer))
            except DeriveError as exc:
                seen[key] = (False, exc)
        ok, value = seen[key]
        if ok:
            return value
        raise value

    return memo


def _unusable(exc: Exception, net) -> Verdict:
    position = getattr(exc, "position", None)
    message = exc.describe() if isinstance(exc, ParseError) else str(exc)
    return Verdict("parse_error", message=message, position=position,
                   network=net.to_dict() if net is not None else None)


# -- which network(s) and layer(s) ----------------------------------------------------------------
def _plan(parse, network, generic: dict, target_of=None) -> list[tuple[object, int | None]]:
    """(network, layer) pairs to check: one, or one per concrete layer for a generic index l."""
    if network is not None:
        try:
            probe = parse(network, None)
        except ShapeMismatch:
            try:
                probe = parse(square(network), None)
            except ShapeMismatch:  # no tree at all: checked (and reported) as it stands
                return [(network, None)]
        if not _generic_layer(probe):
            return [(network, None)]
        return [(network, l) for l in layers_to_check(parse, network, square)]

    make = generic_network(generic)
    try:
        probe = parse(square(make(PROBE_DEPTH)), None)
    except ShapeMismatch:  # no tree at all: the smallest depth that reads every layer index
        start = _target_layer(target_of, make(PROBE_DEPTH)) + 1
        for depth in range(start, start + 4):
            try:
                parse(make(depth), None)
            except LayerOutOfRange:
                continue
            except DeriveError:
                pass
            return [(make(depth), None)]
        return [(make(start), None)]
    except ParseError as exc:
        try:  # unindexed names (dw = 1/m X dzᵀ): a one-layer network, as in logistic regression
            probe = parse(square(make(1)), None)
        except DeriveError:
            raise exc from None
        return [(make(1), None)]
    if _generic_layer(probe):
        return [(make(GENERIC_DEPTH), l) for l in range(1, GENERIC_DEPTH + 1)]
    here = layer_indices(probe)
    fixed = [a for a in here if a < PROBE_DEPTH - MAX_OFFSET]
    uses_L = len(fixed) < len(here)  # layers near the probe's depth were written as L, L-1, ...
    try:  # read one layer deeper: an index written with L moves, a number (dZ63) does not
        moved = layer_indices(parse(square(make(PROBE_DEPTH + 1)), None))
    except DeriveError:
        moved = []
    if len(moved) == len(here):
        fixed = [a for a, b in zip(here, moved, strict=True) if a == b]
        uses_L = len(fixed) < len(here)
    target_layer = probe.target.layer or 1
    top = max(fixed, default=1)
    if uses_L:
        depth = max(2, top + 1)
    elif any(s.base == "Y" for s in probe.rhs.symbols()):
        depth = max(top, target_layer)  # Y: the student means the output layer
    else:
        depth = max(top, target_layer + 1)
    return [(make(depth), None)]


def _target_layer(target_of, net) -> int:
    try:
        t = target_of(net, None) if target_of else None
    except DeriveError:
        t = None
    return t.layer if t is not None and t.layer is not None and t.layer < net.L - MAX_OFFSET else 1


def _generic_layer(eq) -> bool:
    return bool(getattr(eq, "generic_layer", False))


def square(net):
    """The same network with every size (and m) equal, so that any student tree can be built:
    the edits of a shape error are then rebuilt over the real network."""
    same = {f.name: getattr(net, f.name) for f in fields(net)
            if f.init and f.name not in ("layers", "depth", "notes")}
    return _Square(depth=net.L, **same)


class _Square(Network):
    """A network whose every dimension is m."""

    def dim(self, layer):
        return m_symbol


# -- one check at one network and layer -----------------------------------------------------------
def _check_one(parse, net, layer, target_of=None) -> Verdict:
    mismatch: ShapeMismatch | str | None = None
    try:
        eq = parse(net, layer)
    except ShapeMismatch as exc:
        mismatch = exc
        try:
            eq = parse(square(net), layer)  # the same tree, without the clash, to diagnose
        except ShapeMismatch:
            return _undiagnosed(exc, net, layer, target_of)
    nums = numbers_for(net)
    T = nums.table
    base, tl = eq.target.base, eq.target.layer
    if base in costs.KINDS:  # cost = ...: the cost, a 1×1 value (derive.check.costs)
        target = eq.target
        formula = Formula(0, target, costs.expression(net, T, base), base)
    else:
        if not base.startswith("d") or tl is None:  # dA, dZ, dW, db; a layer type's own (dG)
            raise ParseError(f"the left side must be a gradient such as dZ[1], dW[2], db[1], "
                             f"dA[1], not {eq.target.written()}")
        try:
            target = T[base, tl]
        except KeyError as exc:
            raise ParseError(str(exc.args[0])) from None
        found = nums.derivation.get(base, tl)
        if found is None:
            raise ParseError(_no_formula(net, base, tl))
        formula = found
    info = dict(target=formula.name, expected=formula.text, expected_latex=formula.latex,
                syntax=getattr(eq, "syntax", None), network=net.to_dict())
    notes = list(getattr(eq, "notes", ()))
    if base in costs.KINDS:
        if mismatch is not None:
            raise mismatch if isinstance(mismatch, ShapeMismatch) else ParseError(str(mismatch))
        return costs.check(eq, net, nums, formula, info, notes)
    ctx = D.Context(net, base, tl)
    raw = D.to_raw(eq.rhs)

    shapes: dict = {}

    def accept(tree) -> bool:
        try:
            shape = D.raw_shape(tree, T, shapes)
            if shape is None or not _same_shape(shape, target.shape):
                return False
        except D.Unknown:
            pass
        except KeyError:
            return False
        try:
            e = D.build(tree, T)
            return _same_shape(e.shape, target.shape) and nums.equal(e, target)
        except (DeriveError, KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            return False

    student = None
    if mismatch is None:
        try:
            student = D.build(raw, T)
        except (DeriveError, KeyError):
            student = eq.rhs
        if not _same_shape(student.shape, target.shape):
            message = (f"the right side is {_fmt(student.shape)} but {formula.name} is "
                       f"{_fmt(target.shape)}")
            mismatch = message
    if mismatch is not None:
        if base == "dW" and net.dim(tl) == 1 and accept(D.Raw(E.Transpose, (raw,))):
            notes.append(f"this is {formula.name}ᵀ: with one output unit, as in logistic "
                         "regression, the course often keeps w as a column (n0×1) and "
                         f"dw = (1/m) X dZᵀ; here W[{tl}] is a row (1×n{tl - 1}), so "
                         f"{formula.text}")
        edits = D.search(raw, ctx, accept)
        return Verdict("shape_error", message=str(mismatch), mistakes=_mistakes(edits, ctx, T),
                       notes=tuple(notes + _generic_notes(net, base, tl)), **info)
    assert student is not None  # built above: the shapes fit
    notes += coincidence_notes(raw, net, target)
    try:
        judgement = nums.judge(student, target, formula.expr)
    except KeyError as exc:
        used = T[exc.args[0]] if exc.args[0][1] is not None else T[exc.args[0][0]]
        raise ParseError(f"the right side uses {used.text}, which is computed from "
                         f"{formula.name}: a formula for {formula.name} cannot use it") from None
    notes += judgement.notes
    if judgement.equal:
        return Verdict("correct", message=f"{formula.name}: correct.", notes=tuple(notes), **info)
    edits = D.search(raw, ctx, accept)
    cex = nums.counterexample(student, target, formula.expr)
    return Verdict("not_equivalent",
                   message="the shapes fit, but the value differs from the derivation",
                   mistakes=_mistakes(edits, ctx, T), counterexample=cex,
                   notes=tuple(notes + _generic_notes(net, base, tl)), **info)


def _undiagnosed(exc: ShapeMismatch, net, layer, target_of) -> Verdict:
    """A shape error whose tree cannot be built even with every size equal: no diagnosis."""
    info: dict = {"network": net.to_dict()}
    try:
        t = target_of(net, layer) if target_of else None
    except DeriveError:
        t = None
    t = t.arg if isinstance(t, E.Transpose) else t  # ∂L/∂w with w = W[1]ᵀ: dW[1]'s formula
    formula = numbers_for(net).derivation.get(t.base, t.layer) \
        if isinstance(t, E.Sym) and t.layer is not None else None
    if formula is not None:
        info.update(target=formula.name, expected=formula.text, expected_latex=formula.latex)
    return Verdict("shape_error", message=str(exc), mistakes=(D.no_edit(),), **info)


def _mistakes(edits, ctx, T) -> tuple[Mistake, ...]:
    return D.describe(edits, ctx, lambda r: _text(r, T, ctx))


def _text(r, T, ctx) -> str:
    for table in (T, _square_table(ctx.net)):
        try:
            return str(D.build(r, table))
        except (DeriveError, KeyError, TypeError):
            continue
    return ""


def _square_table(net):
    return SymbolTable(square(net))


def _fmt(shape) -> str:
    return "×".join(str(d) for d in shape)


def _no_formula(net, base, layer) -> str:
    if base == "dA" and layer == net.L and net.loss is None:
        return (f"dA[{layer}] is the loss's own gradient: with a generic loss it is given, not "
                "derived; give the loss (--loss bce, ce, mse) to check a formula for it")
    return f"derive has no formula for {base}[{layer}] in this network"


def _generic_notes(net, base, layer) -> list[str]:
    notes = []
    if net.loss is None and layer == net.L and base in ("dZ", "dA"):
        notes.append(f"the loss is generic, so dZ[{layer}] = dA[{layer}] ⊙ g[{layer}]′(Z[{layer}]); "
                     "give the loss and the output activation (e.g. --act ...,sigmoid --loss bce) "
                     "to check a simplified form such as A − Y")
    return notes


# -- a generic index l: one verdict from several layers ----------------------------------------------
def _combine(results: list[tuple[int | None, Verdict]], name: str | None = None,
             sampled: bool | None = None) -> Verdict:
    """One verdict from a verdict per layer; ``name`` the gradient as named for every layer,
    ``sampled`` whether the layers are one per kind of neighbourhood (default: fewer than L)."""
    if len(results) == 1 and results[0][0] is None:
        return results[0][1]
    for layer, v in results:  # a bug at one layer is reported as it is
        if v.verdict == "internal_error":
            return Verdict("internal_error", v.target, message=f"at l = {layer}: {v.message}",
                           network=v.network)
    usable = [(l, v) for l, v in results if v.verdict != "parse_error"]
    if not usable:
        return results[0][1]
    layers = [l for l, _ in usable]
    worst_l, worst = max(usable, key=lambda lv: SEVERITY[lv[1].verdict])
    target = name or _generic_target(usable[0][1].target, usable[0][0])
    checked = f"checked at l = {', '.join(map(str, layers))}"
    if sampled is None:
        sampled = len(results) < len((worst.network or {}).get("activations") or ())
    if sampled:
        checked += " (each other layer poses the same problem as one of these)"
    if worst.verdict == "correct":
        notes = (*worst.notes, checked)
        return Verdict("correct", target, message=f"{target}: correct at every layer ({checked})",
                       expected=worst.expected, expected_latex=worst.expected_latex,
                       notes=notes, syntax=worst.syntax, network=worst.network)
    mistakes: list[Mistake] = []
    for _, v in usable:
        for mk in v.mistakes:
            if all(x.code != mk.code for x in mistakes) and v.verdict != "correct":
                mistakes.append(mk)
    fine = [l for l, v in usable if v.verdict == "correct"]
    note = f"{checked}; correct at l = {', '.join(map(str, fine))}" if fine else checked
    return Verdict(worst.verdict, target, tuple(mistakes), f"at l = {worst_l}: {worst.message}",
                   worst.expected, worst.expected_latex, worst.counterexample,
                   (*worst.notes, note), None, worst.syntax, worst.network)


def _generic_target(name: str | None, layer: int | None) -> str | None:
    """``dA[1]`` checked at l = 2 is dA[l-1]: the target's layer relative to l (dX is dA[0])."""
    name = "dA[0]" if name == "dX" else name
    if not name or "[" not in name:
        return name
    base, _, rest = name.partition("[")
    if layer is None or not rest[:-1].isdigit():
        return f"{base}[l]"
    offset = int(rest[:-1]) - layer
    return f"{base}[l{offset:+d}]" if offset else f"{base}[l]"


__all__ = ["Mistake", "Verdict", "check", "check_with", "square"]
