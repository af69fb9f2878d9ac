"""``derive variants --check``: does a rubric grade what it says, on every student's network?

For each student's variant, each formula question's key (the engine's formula, printed as text,
LaTeX and numpy) is graded against the question: it must get full marks. Then, for each mistake
code the question names (in ``partial`` or ``feedback``), the key is mutated to make that mistake
and graded: it must keep the points the rubric says (``partial[code]``, 0 for a code named only
in ``feedback``).

The mutations are the checker's own: the edit rules of the mistake catalogue
(:data:`derive.check.diagnose.single_edits`, from :mod:`derive.check.mistakes`). Those rules
*repair* a formula with their code's mistake, so run on a correct formula a rule makes the
mistake it undoes: dropping a transpose (the repair of ``extra_transpose``) makes a
``missing_transpose``, swapping two factors makes a ``wrong_order``. :data:`MADE_BY` says which
entry's rules make each code; the first edit of those rules that changes the key's value is the
mutated key; ``activation_instead_of_derivative``, which the catalogue only repairs, is made by
:data:`INVERSES` (g′(Z[l]) → A[l]). A code nothing makes or that cannot occur in the question's
formula (no 1/m in dZ) is reported as *not tested*, never as passed.

A mismatch says what a student who makes that mistake really gets: a missing transpose in
W[2]ᵀ dZ[2] is a shape error on most networks, worth 0 points whatever ``partial`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

#: mistake code -> the catalogue entries whose repair rules, run on a correct formula, make it
MADE_BY: dict[str, tuple[str, ...]] = {
    "wrong_order": ("wrong_order",),
    "missing_transpose": ("extra_transpose",),
    "extra_transpose": ("missing_transpose",),
    "missing_scale": ("extra_scale",),
    "extra_scale": ("missing_scale",),
    "matmul_instead_of_elementwise": ("elementwise_instead_of_matmul",),
    "elementwise_instead_of_matmul": ("matmul_instead_of_elementwise",),
    "wrong_layer_index": ("wrong_layer_index",),
    "wrong_activation_derivative": ("wrong_activation_derivative",),
    "missing_sum": ("other",),
    "other": ("missing_sum",),
    "wrong_sum_axis": ("wrong_sum_axis",),
    "sign_error": ("sign_error",),
}


@dataclass(frozen=True)
class Line:
    """One graded item of the self-test: the key itself (``code`` None) or a mutated key."""

    student: str
    question: str
    code: str | None
    answer: str | None
    expected: float | None  # the points the rubric says; None: not tested
    got: float | None
    status: str | None = None
    mistakes: tuple[str, ...] = ()
    why: str = ""

    @property
    def ok(self) -> bool | None:
        """True: as the rubric says; False: a mismatch; None: not tested."""
        return None if self.expected is None else self.got == self.expected

    def text(self) -> str:
        what = "key" if self.code is None else self.code
        head = f"{self.student} {self.question} {what}:"
        if self.expected is None:
            return f"{head} not tested ({self.why})"
        verdict = "ok" if self.ok else "MISMATCH"
        codes = f", mistakes {', '.join(self.mistakes)}" if self.mistakes else ""
        says = f"the rubric says {self.expected:g}" if self.code is not None else \
            f"full marks are {self.expected:g}"
        return (f"{head} {verdict}: {self.answer} gets {self.got:g} ({self.status}{codes}); "
                f"{says}")

    def to_dict(self) -> dict:
        return {"student": self.student, "question": self.question, "code": self.code,
                "answer": self.answer, "expected": self.expected, "got": self.got,
                "status": self.status, "mistakes": list(self.mistakes), "ok": self.ok,
                "why": self.why}


def self_test(rubric, student: str, answers: dict) -> list[Line]:
    """Every line of the self-test for one student: ``rubric`` has the student's network,
    ``answers`` the derivation's formula per question id (:func:`derive.grade.sheets.answers_of`)."""
    from derive.grade.score import grade_formula

    net = rubric.network
    out: list[Line] = []
    for q in rubric.questions:
        f = answers.get(q.id)
        if f is None:
            continue
        for form in dict.fromkeys((f.text, f.latex, f.code)):
            g = grade_formula(q, form, net)
            out.append(Line(student, q.id, None, form, q.points, g.points, g.status, g.mistakes))
        for code in dict.fromkeys((*q.partial, *q.feedback)):
            made, why = mutated(code, f, net)
            if made is None:
                out.append(Line(student, q.id, code, None, None, None, why=why))
                continue
            g = grade_formula(q, made, net)
            if g.mistakes and code not in g.mistakes and g.status != "shape_error":
                # the rule made another mistake (an extra m where no 1/m was to lose): the code
                # is not tested by it; a shape error is what a student who made it really gets
                out.append(Line(student, q.id, code, made, None, None, g.status, g.mistakes,
                                why=f"the key mutated for {code} reads as "
                                    f"{', '.join(g.mistakes)}: {f.text} has nothing that makes "
                                    f"{code}"))
                continue
            out.append(Line(student, q.id, code, made, q.kept(code), g.points, g.status,
                            g.mistakes))
    return out


def mutated(code: str, f, net) -> tuple[str | None, str]:
    """The key ``f`` with the mistake ``code`` made by the catalogue's rules, as text
    (``target = ...``), and the rule's code; else None and the reason none is made."""
    from derive.check.checker import square
    from derive.check.diagnose import apply, single_edits
    from derive.check.edits import Context
    from derive.check.raw import build, to_raw
    from derive.errors import DeriveError
    from derive.network.symbols import SymbolTable

    makers = MADE_BY.get(code, ())
    if not makers and code not in INVERSES:
        return None, f"no rule of the checker's catalogue makes {code} from a correct formula"
    tree = to_raw(f.expr)
    ctx = Context(net, f.kind, f.layer)
    table = SymbolTable(square(net))  # a tree whose shapes clash still prints
    candidates = ([(t, code) for t in INVERSES[code](tree)] if code in INVERSES else
                  [(apply(tree, e), e.code) for e in single_edits(tree, ctx) if e.code in makers])
    for t, made in candidates:
        if t == tree or ctx.ratio(t) == 1:  # the same value: no mistake made
            continue
        try:
            rhs = build(t, table).to_text()
        except (DeriveError, KeyError, TypeError, ValueError):
            continue
        return f"{f.text.split(' = ')[0]} = {rhs}", made
    return None, f"the key {f.text} has nothing that makes {code}"


def _activation_for_derivative(tree):
    """Each g[l]′(Z[l]) of ``tree`` replaced, one at a time, by A[l]: the mistake
    ``activation_instead_of_derivative``, which the catalogue only repairs (A[l] → g[l]′(Z[l]))."""
    from derive.check.raw import Raw
    from derive.core import expr as E

    if tree.kind is E.Deriv:
        yield Raw(E.Sym, ("A", tree.get("layer")))
        return
    for i, kid in enumerate(tree.kids):
        if isinstance(kid, Raw):
            for t in _activation_for_derivative(kid):
                yield tree.with_kid(i, t)


#: mistake code -> a maker of its own, for the codes whose catalogue rule has no inverse there
INVERSES = {"activation_instead_of_derivative": _activation_for_derivative}
