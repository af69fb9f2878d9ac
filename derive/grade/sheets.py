"""A student's question sheet (LaTeX and Markdown) and answer key, from the engine's derivation.

The sheet states the student's network (sizes, activations, loss, the convention) and asks each
formula question of the rubric; the key gives each answer as the engine derived and proved it
(``derive(net)`` proves every formula, element-wise and by finite differences, and raises if a
proof fails), in text, LaTeX and numpy forms, with the proof's figures. Nothing in a key is typed
in: it is the derivation's formula for the question's target.

A sheet must not contain its own answers: :func:`leaks` looks for each answer, in each of its
printed forms with spacing and braces removed, in the sheet; :func:`write_variant` refuses to write
a sheet that shows one. The key's ``key.json`` is a submission (``_student`` and the answers by
question id, docs/grading.md): ``derive grade --student ID key.json`` gives it full marks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from derive.errors import InternalError

if TYPE_CHECKING:
    from derive.engine.backward import Derivation, Formula
    from derive.grade.rubric import Question, Rubric

_KIND = {"dA": "A", "dZ": "Z", "dW": "W", "db": "b"}


@dataclass(frozen=True)
class Variant:
    """One student's files: the sheet in LaTeX and Markdown, the key as a submission (JSON) and
    as Markdown for the teacher."""

    student: str
    network: object
    sheet_tex: str
    sheet_md: str
    key_json: str
    key_md: str
    answers: dict  # question id -> the formula (Formula) it asks for


def answers_of(rubric: Rubric, derivation: Derivation) -> dict[str, Formula]:
    """The derivation's formula for each formula question's target, by question id."""
    out = {}
    for q in rubric.questions:
        if q.kind == "formula" and q.target is not None and q.layer is not None:
            kind = q.target.split("[")[0]
            out[q.id] = derivation.formula(kind, q.layer)
    return out


def make_variant(rubric: Rubric, student: str) -> Variant:
    """The sheet and key of ``student`` for a rubric whose network is already the student's
    (:func:`derive.grade.variants.variant_rubric`); every answer is proven by the engine."""
    from derive.engine.backward import derive

    d = derive(rubric.network)  # proves each formula; ProofFailure if one fails
    answers = answers_of(rubric, d)
    v = Variant(student, rubric.network, sheet_latex(rubric, student), sheet_markdown(rubric, student),
                key_submission(answers, student), key_markdown(rubric, d, answers, student),
                answers)
    for name, text in (("LaTeX", v.sheet_tex), ("Markdown", v.sheet_md)):
        shown = leaks(text, answers.values())
        if shown:
            raise InternalError(f"the {name} sheet of {student} shows its answer {shown[0]}")
    return v


def write_variant(v: Variant, out: Path) -> list[Path]:
    """``out/sheets/ID.tex``, ``out/sheets/ID.md``, ``out/keys/ID.json``, ``out/keys/ID.md``
    (the id is checked already: :func:`derive.grade.variants.check_id`)."""
    files = {out / "sheets" / f"{v.student}.tex": v.sheet_tex,
             out / "sheets" / f"{v.student}.md": v.sheet_md,
             out / "keys" / f"{v.student}.json": v.key_json,
             out / "keys" / f"{v.student}.md": v.key_md}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(text.encode("utf-8"))
        tmp.replace(path)
    return list(files)


# -- the sheet -----------------------------------------------------------------------------------
def _shape(shape) -> str:
    return " \\times ".join(str(d) for d in shape)


def _network_facts(rubric: Rubric) -> tuple[str, list[tuple[str, str]], list[str]]:
    """The network in words, its quantities' shapes (LaTeX name, LaTeX shape), the conventions."""
    from derive.network.symbols import SymbolTable
    from derive.render import convention_lines

    net = rubric.network
    T = SymbolTable(net)
    shapes = [("X", _shape(T["A", 0].shape)), ("Y", _shape(T["A", net.L].shape))]
    for l in range(1, net.L + 1):
        for base in ("W", "b"):
            s = T[base, l]
            shapes.append((s.to_latex(), _shape(s.shape)))
    return net.describe(), shapes, convention_lines(net)


def _asked(q: Question, rubric: Rubric) -> tuple[str, str, str]:
    """(the target in LaTeX, the quantity it differentiates by in LaTeX, the shape)."""
    from derive.network.symbols import SymbolTable

    T = SymbolTable(rubric.network)
    kind = q.target.split("[")[0]  # type: ignore[union-attr]
    t = T[kind, q.layer]
    by = T[_KIND[kind], q.layer]
    return t.to_latex(), by.to_latex(), _shape(t.shape)


def sheet_markdown(rubric: Rubric, student: str) -> str:
    from derive.handout.doc import md_text

    describe, shapes, conventions = _network_facts(rubric)
    title = rubric.title or "Backpropagation"
    lines = [f"# {md_text(title)}: questions for {md_text(student)}", "",
             f"Your network: {md_text(describe)}.", "",
             "Shapes: " + ", ".join(f"${n}$ is ${s}$" for n, s in shapes) + ".", ""]
    lines += [f"- {md_text(c)}" for c in conventions]
    lines += ["", "## Questions", ""]
    for i, q in enumerate(rubric.questions, 1):
        t, by, shape = _asked(q, rubric)
        name = md_text(q.title) + ": " if q.title else ""
        lines.append(f"{i}. **{md_text(q.id)}** ({q.points:g} points). {name}Write ${t}$, the "
                     f"gradient with respect to ${by}$ (a ${shape}$ matrix), in terms of the "
                     "network's quantities.")
    lines += ["", "## Handing in", "",
              "A JSON file of your answers by question id, with your id under `_student`:", "",
              "```json", _example(rubric, student), "```", ""]
    return "\n".join(lines)


def sheet_latex(rubric: Rubric, student: str) -> str:
    from derive.handout.doc import PREAMBLE, tex_text

    describe, shapes, conventions = _network_facts(rubric)
    title = rubric.title or "Backpropagation"
    parts = [PREAMBLE + "\\begin{document}",
             rf"{{\centering{{\LARGE\bfseries {tex_text(title)}\par}}\vspace{{0.6ex}}"
             rf"{{\small questions for {tex_text(student)}\par}}}}", "",
             rf"Your network: {tex_text(describe)}.", "",
             "Shapes: " + ", ".join(f"${n}$ is ${s}$" for n, s in shapes) + ".", "",
             "\\begin{itemize}"]
    parts += [rf"\item {tex_text(c)}" for c in conventions]
    parts += ["\\end{itemize}", "", "\\section*{Questions}", "\\begin{enumerate}"]
    for q in rubric.questions:
        t, by, shape = _asked(q, rubric)
        name = tex_text(q.title) + ": " if q.title else ""
        parts.append(rf"\item \textbf{{{tex_text(q.id)}}} ({q.points:g} points). {name}Write "
                     rf"${t}$, the gradient with respect to ${by}$ (a ${shape}$ matrix), in terms "
                     r"of the network's quantities.\par\vspace{2.5cm}")
    parts += ["\\end{enumerate}", "", "\\section*{Handing in}",
              r"A JSON file of your answers by question id, with your id under \texttt{\_student}:",
              "\\begin{verbatim}", _example(rubric, student), "\\end{verbatim}",
              "\\end{document}", ""]
    doc = "\n".join(parts)
    return "".join(ch if ch.isascii() else "?" for ch in doc)


def _example(rubric: Rubric, student: str) -> str:
    ids = [q.id for q in rubric.questions]
    return json.dumps({"_student": student, **{i: "..." for i in ids}}, ensure_ascii=True)


# -- the key --------------------------------------------------------------------------------------
def key_submission(answers: dict, student: str) -> str:
    """The key as a submission: ``{"_student": ID, "q1": "dW[1] = (1/m) dZ[1] Xᵀ", ...}``."""
    data = {"_student": student, **{qid: f.text for qid, f in answers.items()}}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def key_markdown(rubric: Rubric, d: Derivation, answers: dict, student: str) -> str:
    from derive.handout.doc import md_text

    proofs = {(p.kind, p.layer): p for p in d.proof.formulas} if d.proof else {}
    lines = [f"# Answer key for {md_text(student)}", "",
             f"Network: {md_text(rubric.network.describe())}.", "",
             "Each answer is the engine's derivation for this network, proven element-wise "
             "(SymPy, exact) and by central finite differences.", ""]
    for q in rubric.questions:
        f = answers[q.id]
        p = proofs.get((f.kind, f.layer))
        proof = (f"element-wise {p.elementwise}, finite-difference error {p.fd_error:.1e}"
                 if p else "not proven")
        lines += [f"## {md_text(q.id)} ({q.points:g} points)", "", f"$${f.latex}$$", "",
                  f"- text: `{f.text}`", f"- numpy: `{f.code}`", f"- proof: {proof}"]
        credit = ", ".join(f"`{c}` keeps {v:g}" for c, v in q.partial.items())
        if credit:
            lines.append(f"- partial credit: {credit}")
        lines.append("")
    return "\n".join(lines)


# -- the leak test -----------------------------------------------------------------------------------
def _norm(s: str) -> str:
    """Spacing, braces and sizing commands removed: forms that differ only in typesetting agree."""
    s = re.sub(r"\\(left|right|big|Big|,|;|!|quad)(?![a-zA-Z])", "", s)
    return re.sub(r"[\s{}]", "", s)


def answer_forms(f: Formula) -> list[str]:
    """An answer's right side as text, LaTeX and numpy, normalised (:func:`_norm`)."""
    from derive.core.printing import to_code, to_latex, to_text

    return [n for n in (_norm(p(f.expr)) for p in (to_text, to_latex, to_code)) if len(n) > 2]


def leaks(sheet: str, answers) -> list[str]:
    """The answers (``target = ...`` as text) some form of which appears in ``sheet``."""
    text = _norm(sheet)
    return [f.text for f in answers if any(form in text for form in answer_forms(f))]
