"""Checking a student's worked numbers: right or wrong at the precision written, the first wrong
step, whether a later slip follows from an earlier one, and mislabelled steps.

A written number is right when the true value rounds to it at the digits written (|s − v| ≤ half
a unit in the last written place: ``0,999`` allows 0.0005, ``-3,7e-7`` allows 5e-9), or, when a
``tolerance`` is given, when |s − v| ≤ tolerance·|v|. A wrong step is recomputed from the
student's OWN earlier values with the engine's expressions for that step (every form the
derivation holds: dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1]) and dZ[1] = dA[1] ⊙ relu′(Z[1])); if that
reproduces it, the step "follows from" the earlier slips it used, or, when those earlier values
were all right at their own precision, from rounding carried too early ("carried_rounding").

>>> from derive.network.spec import Network
>>> from derive.numbers.worked import worked_example
>>> from derive.numbers.inputs import Entry, to_matrix
>>> net = Network(layers=[1, 1], activations=["linear"], loss="mse")
>>> w = worked_example(net, {"X": [[2.0]], "Y": [[1.0]], "W1": [[1.0]], "b1": [[0.0]]})
>>> e = lambda name, key, v: Entry((name,), (key,), to_matrix(v, name))
>>> r = check_student(w, [e("z1", ("Z", 1), "3"), e("dZ1", ("dZ", 1), "4")])
>>> r.first_wrong_step, r.step("dZ1").cause, r.step("dZ1").because
('Z[1]', 'follows_from_earlier', ('Z[1]',))
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from derive.errors import DeriveError
from derive.numbers.causes import likely_cause
from derive.numbers.given import resolve_given
from derive.numbers.inputs import Entry, Matrix
from derive.numbers.worked import Worked, evaluate_step, substitute_gp

TINY = 1e-12
#: a likely cause may match within this relative tolerance: the student computed it from their
#: own rounded values, a suggestion, not a verdict
CAUSE_TOLERANCE = 5e-3


@dataclass(frozen=True)
class StepCheck:
    """One step of the student's solution against the truth."""

    name: str
    key: tuple
    formula: str
    value: np.ndarray
    student: Matrix | None
    written_as: str | None
    status: str  # right, wrong, wrong_shape, mislabelled, not_given, given (a cache value)
    cause: str | None = None  # new_slip, follows_from_earlier, carried_rounding
    because: tuple[str, ...] = ()  # the earlier wrong steps it follows from
    wrong_entries: tuple[tuple[int, int], ...] = ()
    new_slip_entries: tuple[tuple[int, int], ...] = ()
    recomputed: np.ndarray | None = None  # from the student's own earlier values
    message: str = ""
    mistake: str | None = None  # a new slip's likely cause: a mistake code of derive check
    likely: str = ""  # "your dZ[1] equals W[2]ᵀ dZ[2] ⊙ A[1]: the activation itself ..."

    @property
    def ok(self) -> bool:
        return self.status in ("right", "not_given", "given")


@dataclass(frozen=True)
class Mislabel:
    """Numbers written under one name that are another step's (e.g. db[1] written as ∂L/∂Z[2])."""

    written: str
    labelled_as: str
    looks_like: str
    message: str


@dataclass(frozen=True)
class StudentReport:
    worked: Worked
    steps: tuple[StepCheck, ...]
    mislabelled: tuple[Mislabel, ...]
    tolerance: float | None
    notes: tuple[str, ...] = field(default=())

    @property
    def first_wrong_step(self) -> str | None:
        return next((s.name for s in self.steps if not s.ok), None)

    @property
    def all_right(self) -> bool:
        return all(s.ok for s in self.steps) and not self.mislabelled

    def step(self, name) -> StepCheck:
        key = self.worked.step(name).key
        return next(s for s in self.steps if s.key == key)


def entry_matches(student: Matrix, truth: np.ndarray, tol: float | None) -> np.ndarray:
    """Per entry: does the written number round to ``truth`` (or lie within tol·|truth|)?"""
    out = np.zeros(truth.shape, dtype=bool)
    for i, row in enumerate(student.rows):
        for j, x in enumerate(row):
            v = float(truth[i, j])
            if not math.isfinite(v):  # an overflowed recomputation matches no written number
                continue
            diff = abs(x.value - v)
            allowed = (x.ulp / 2) * (1 + 1e-9) if x.ulp is not None else 1e-9 * abs(v)
            ok = diff <= allowed + TINY * abs(v)
            if tol:
                ok = ok or diff <= tol * abs(v)
            out[i, j] = ok
    return out


def check_student(worked: Worked, entries, tolerance: float | None = None) -> StudentReport:
    """The report on ``entries`` (:class:`derive.numbers.inputs.Entry`), see the module docstring."""
    L = worked.network.L
    known = {s.key: s for s in worked.steps}
    entries = [_resolved(e, L) for e in entries]
    notes: list[str] = []
    primary: dict = {}
    leftovers: list[Entry] = []
    usable = 0
    for e in entries:  # an equation's other names (Z_1 = [...] = A_1) stand for the same numbers
        for name, key in zip(e.names[1:], e.keys[1:], strict=True):
            if key in known and key not in {x.keys[0] for x in entries}:
                fitted = e.value.fitted(known[key].value.shape, strict=True)
                if fitted is not None:
                    entries = [*entries, Entry((name,), (key,), e.value, e.line)]
    for e in entries:
        key = e.keys[0]
        if key in worked.given:
            notes.append(f"{e.names[0]} is a given value, not a step: not checked")
            continue
        if key not in known:
            notes.append(f"{e.names[0]!r} is not a step of this network (steps: "
                         + ", ".join(s.code for s in worked.steps) + ")")
            continue
        usable += 1
        if key in primary:
            leftovers.append(e)
        else:
            primary[key] = e
    if entries and not usable:
        raise DeriveError("none of the student's names is a step of this network: "
                          + "; ".join(notes))
    env = dict(worked.given)
    env.update({s.key: s.value for s in worked.steps if s.given})
    taint: dict = {}
    checks: list[StepCheck] = []
    recomputed_all: dict = {}
    gp_given: set[int] = set()  # layers whose g′(Z) the student gave
    for s in worked.steps:
        if s.given:  # a cache value: given, like X and W
            checks.append(StepCheck(s.name, s.key, s.formula_text, s.value, None, None, "given"))
            if s.key in primary:
                notes.append(f"{primary[s.key].names[0]} is a given (cache) value: not checked")
            continue
        cands = _candidates(s, gp_given)
        recs = []
        for c in cands:
            try:
                recs.append((c, evaluate_step(worked.network, s.key, c, env, worked.m,
                                           worked.learning_rate)))
            except (KeyError, ValueError, FloatingPointError):
                continue
        rec = recs[0][1] if recs else s.value
        recomputed_all[s.key] = rec
        e = primary.get(s.key)
        fitted = e.value.fitted(s.value.shape, strict=True) if e is not None else None
        if e is None or fitted is None:
            env[s.key] = rec
            taint[s.key] = _inputs_taint(recs[0][0] if recs else None, taint)
            status = "not_given" if e is None else "wrong_shape"
            msg = "" if e is None else (
                f"{e.names[0]} has {e.value.size} number{'s' if e.value.size != 1 else ''} "
                f"({e.value.shape[0]}×{e.value.shape[1]}); {s.name} is {_shape(s.value)}"
                + _transposed(e.value, s.value))
            if e is not None:
                taint[s.key] = {s.name}
                leftovers.append(e)
            checks.append(StepCheck(s.name, s.key, s.formula_text, s.value, e.value if e else None,
                                    e.names[0] if e else None, status, recomputed=rec, message=msg))
            continue
        if s.key[0] == "gp" and s.key[1] is not None:
            gp_given.add(s.key[1])
        mine = fitted.values()
        env[s.key] = mine
        right = entry_matches(fitted, s.value, tolerance)
        if right.all():
            taint[s.key] = set()
            checks.append(StepCheck(s.name, s.key, s.formula_text, s.value, fitted, e.names[0],
                                    "right", recomputed=rec))
            continue
        wrong = tuple((int(i), int(j)) for i, j in np.argwhere(~right))
        consistent = np.zeros(right.shape, dtype=bool)
        roots: set = set()
        for c, value in recs:
            ok = entry_matches(fitted, value, tolerance)
            if ok[~right].any():
                consistent |= ok
                roots |= _inputs_taint(c, taint)
        new = tuple((i, j) for i, j in wrong if not consistent[i, j])
        if new:
            cause, because = "new_slip", ()
            taint[s.key] = {s.name}
        elif roots:
            cause, because = "follows_from_earlier", tuple(sorted(roots, key=_order(worked)))
            taint[s.key] = set(roots)
        else:
            cause, because = "carried_rounding", ()
            taint[s.key] = {s.name}
        found = None
        if cause == "new_slip":
            found = _likely(worked, s, env, fitted, tolerance)
        checks.append(StepCheck(s.name, s.key, s.formula_text, s.value, fitted, e.names[0], "wrong",
                                cause, because, wrong, new, rec,
                                _message(s.name, cause, because, wrong, new),
                                found[0] if found else None, found[2] if found else ""))
    mislabels = _mislabels(worked, entries, leftovers, primary, recomputed_all, tolerance, L)
    checks = _mark_mislabelled(checks, mislabels)
    return StudentReport(worked, tuple(checks), tuple(mislabels), tolerance, tuple(notes))


def _likely(worked: Worked, s, env: dict, fitted: Matrix, tolerance: float | None):
    """A new slip's likely cause (:func:`derive.numbers.causes.likely_cause`) on the student's
    own earlier values ``env``, matched within :data:`CAUSE_TOLERANCE`."""
    def value(v):
        return evaluate_step(worked.network, s.key, v, env, worked.m, worked.learning_rate)

    def matches(v):
        return entry_matches(fitted, v, max(tolerance or 0, CAUSE_TOLERANCE))

    return likely_cause(s, value, matches)


def _resolved(e: Entry, depth: int) -> Entry:
    """The entry's names read again knowing the network's depth (``AL``, ``dA_prev``, ``dx``)."""
    keys = tuple(resolve_given(n, depth) or k for n, k in zip(e.names, e.keys, strict=True))
    return replace(e, keys=keys) if keys != e.keys else e


def _transposed(mat: Matrix, truth: np.ndarray) -> str:
    """": written transposed" when the numbers, read the other way round, have the step's shape."""
    if mat.shape[::-1] == truth.shape and mat.shape != truth.shape:
        return ": written transposed (rows for columns)"
    return ""


def _candidates(s, gp_given: set):
    exprs = (s.expr, *s.alternatives)
    out = []
    for e in exprs:
        for layer in gp_given:
            e = substitute_gp(e, layer)
        out.append(e)
    return out


def _inputs_taint(expr, taint: dict) -> set:
    if expr is None:
        return set()
    out: set = set()
    for sym in expr.symbols():
        out |= taint.get(sym.key, set())
    return out


def _order(worked: Worked):
    names = [s.name for s in worked.steps]
    return lambda n: names.index(n) if n in names else len(names)


def _shape(v: np.ndarray) -> str:
    return f"{v.shape[0]}×{v.shape[1]}"


def _message(name: str, cause: str, because, wrong=(), new=()) -> str:
    if cause == "new_slip" and len(new) < len(wrong):
        return (f"{name}: {_entries(new)} {'is a new slip' if len(new) == 1 else 'are new slips'} "
                f"(not what the formula gives from your own earlier values); "
                f"{_entries([w for w in wrong if w not in new])} follow from your earlier values")
    if cause == "follows_from_earlier":
        return (f"{name} is wrong, but it is what the formula gives from your own earlier values: "
                f"it follows from the slip at {', '.join(because)}")
    if cause == "carried_rounding":
        return (f"{name} follows from your own earlier values, which were right at the digits you "
                "wrote: you rounded too early; carry more digits through the chain")
    return f"{name} is a new slip: it does not follow from your earlier values"


def _entries(idx) -> str:
    return "entr" + ("y " if len(idx) == 1 else "ies ") + ", ".join(f"({i + 1},{j + 1})" for i, j in idx)


def _mislabels(worked, entries, leftovers, primary, recomputed, tol, L) -> list[Mislabel]:
    out = []
    steps = worked.steps

    given = {k for k in primary}

    def find(mat: Matrix, exclude):
        hits = []
        for t in steps:
            if t.key in exclude:
                continue
            fitted = mat.fitted(t.value.shape, strict=True)
            if fitted is None:
                continue
            if entry_matches(fitted, t.value, tol).all() or entry_matches(
                    fitted, recomputed[t.key], tol).all():
                hits.append(t)
        # several steps can hold the same numbers (dA[1] = dZ[1] = db[1] when relu′ = 1 and m = 1):
        # name one the student has not written yet, the latest in order
        hits.sort(key=lambda t: (t.key in given, -steps.index(t)))
        return hits[0] if hits else None

    for e in leftovers:
        key = e.keys[0]
        if _too_vague(e.value):
            continue
        own = e.value.fitted(worked.step(key).value.shape, strict=True)
        if own is not None and (entry_matches(own, worked.step(key).value, tol).all()
                                or entry_matches(own, recomputed[key], tol).all()):
            continue  # the same step written twice, fitting both times
        hit = find(e.value, {key})
        if hit is not None:
            label = worked.step(key).name
            out.append(Mislabel(e.names[0], label, hit.name,
                                f"the numbers written as {e.names[0]} are {hit.name}'s, not {label}'s"))
    for e in entries:  # an equation naming the same numbers twice: db1 = dL/dz2 = [...]
        if len(e.keys) < 2 or e.keys[0] not in recomputed:
            continue
        first = worked.step(e.keys[0])
        fitted = e.value.fitted(first.value.shape, strict=True)
        if fitted is None:
            continue
        for name, key in zip(e.names[1:], e.keys[1:], strict=True):
            if key not in {s.key for s in steps} or key == first.key:
                continue
            other = worked.step(key)
            f2 = e.value.fitted(other.value.shape, strict=True)
            fits = f2 is not None and (entry_matches(f2, other.value, tol).all()
                                       or entry_matches(f2, recomputed[key], tol).all())
            if not fits:
                out.append(Mislabel(name, other.name, first.name,
                                    f"{e.names[0]} = {name}: these numbers are {first.name}'s; "
                                    f"{other.name} is {_shape(other.value)} and has other values"))
    unique = []
    for x in out:
        if x not in unique:
            unique.append(x)
    return unique


def _too_vague(mat: Matrix) -> bool:
    """One number with one significant digit matches too much to name another step by it."""
    if mat.size > 1:
        return False
    x = mat.entries()[0]
    return x.ulp is not None and x.value != 0 and x.ulp >= abs(x.value) / 10


def _mark_mislabelled(checks, mislabels):
    by_label = {m.labelled_as: m for m in mislabels}
    out = []
    for c in checks:
        m = by_label.get(c.name)
        if m is not None and c.status == "wrong_shape":
            c = replace(c, status="mislabelled", message=m.message)
        out.append(c)
    return out
