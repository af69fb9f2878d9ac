"""A class report: what a teacher reads after an assignment (``derive grade --report``).

Per question: how many students got it right (and partly right, wrong, not gradable, missing),
the mistake codes by count, the most common wrong answers written out (each with how many wrote
it and the mistake it shows), and for numbers questions the first wrong steps by count; then a
bar chart (PNG, matplotlib's Agg backend, beside the report) of the share of each status per
question. Markdown, or HTML when the report's name ends in ``.html``.

>>> from derive.grade.score import Grade, QuestionGrade
>>> gs = [Grade(s, s, (QuestionGrade("q1", "q1: dW[1]", 2, p, st, answer=a, mistakes=m),))
...       for s, p, st, a, m in [("a", 2, "correct", "x", ()), ("b", 0, "incorrect", "dW1 = dZ1 X.T",
...       ("missing_scale",)), ("c", 0, "incorrect", "dW1 =  dZ1 X.T", ("missing_scale",))]]
>>> s = summarise(gs)[0]
>>> s.right, s.total, s.codes, s.wrong_forms[0][:2]
(1, 3, [('missing_scale', 2)], ('dW1 = dZ1 X.T', 2))
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from derive.grade.rubric import Rubric
from derive.grade.score import Grade

ORDER = ("correct", "partial", "incorrect", "shape_error", "not_gradable", "missing", "error")
COLOURS = {"correct": "#2e7d32", "partial": "#9ccc65", "incorrect": "#e53935",
           "shape_error": "#fb8c00", "not_gradable": "#8e24aa", "missing": "#bdbdbd",
           "error": "#000000"}
TOP = 5  # wrong forms shown per question


@dataclass
class QuestionSummary:
    """One question over the class: counts by status, mistake codes, wrong forms, first wrong
    steps (numbers questions), and the mean points."""

    id: str
    name: str
    max_points: float
    total: int = 0
    statuses: Counter = field(default_factory=Counter)
    codes: list[tuple[str, int]] = field(default_factory=list)
    wrong_forms: list[tuple[str, int, str]] = field(default_factory=list)  # answer, count, codes
    first_wrong: list[tuple[str, int]] = field(default_factory=list)
    points: float = 0.0

    @property
    def right(self) -> int:
        return self.statuses["correct"]

    @property
    def share_right(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def mean(self) -> float:
        return self.points / self.total if self.total else 0.0


def summarise(grades: list[Grade]) -> list[QuestionSummary]:
    """The per-question summaries of a class's grades, in the rubric's order."""
    out: dict[str, QuestionSummary] = {}
    codes: dict[str, Counter] = {}
    forms: dict[str, Counter] = {}
    form_codes: dict[tuple[str, str], str] = {}
    first: dict[str, Counter] = {}
    for g in grades:
        for q in g.questions:
            s = out.setdefault(q.id, QuestionSummary(q.id, q.name, q.max_points))
            s.total += 1
            s.statuses[q.status] += 1
            s.points += q.points
            codes.setdefault(q.id, Counter()).update(q.mistakes)
            if q.status in ("partial", "incorrect", "shape_error") and q.answer and not q.steps:
                form = " ".join(q.answer.split())
                forms.setdefault(q.id, Counter())[form] += 1
                form_codes[(q.id, form)] = ", ".join(q.mistakes) or "other"
            if q.first_wrong_step:
                first.setdefault(q.id, Counter())[q.first_wrong_step] += 1
    for qid, s in out.items():
        s.codes = codes.get(qid, Counter()).most_common()
        s.wrong_forms = [(f, n, form_codes[(qid, f)])
                         for f, n in forms.get(qid, Counter()).most_common(TOP)]
        s.first_wrong = first.get(qid, Counter()).most_common()
    return list(out.values())


def write_report(rubric: Rubric, grades: list[Grade], path: str | Path) -> Path:
    """Write the report (Markdown, or HTML for ``.html``) and its chart ``<stem>.png`` beside
    it; returns the chart's path."""
    p = Path(path)
    summaries = summarise(grades)
    chart = p.with_suffix(".png")
    bar_chart(summaries, chart, rubric.title or "Class report")
    if p.suffix.lower() in (".html", ".htm"):
        text = render_html(rubric, grades, summaries, chart.name)
    else:
        text = render_markdown(rubric, grades, summaries, chart.name)
    p.write_text(text, encoding="utf-8")
    return chart


def render_markdown(rubric: Rubric, grades: list[Grade], summaries, chart: str) -> str:
    n = len(grades)
    scores = [g.score for g in grades]
    lines = [f"# {rubric.title or 'Class report'}", "",
             f"{n} submissions; mean score {_mean(scores):.2f} of {rubric.max_score:g}; "
             f"{sum(1 for g in grades if g.score == g.max_score)} with full marks; "
             f"{sum(1 for g in grades if not g.gradable)} not gradable.", "",
             f"![share of each status per question]({chart})", "",
             "| question | right | partly | wrong | shape error | not gradable | missing | mean points |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        st = s.statuses
        lines.append(f"| {_md(s.name)} | {st['correct']} ({s.share_right:.0%}) | {st['partial']} | "
                     f"{st['incorrect']} | {st['shape_error']} | {st['not_gradable']} | "
                     f"{st['missing']} | {s.mean:.2f} of {s.max_points:g} |")
    for s in summaries:
        lines += ["", f"## {_md(s.name)}", "",
                  f"Right: {s.right} of {s.total} ({s.share_right:.0%}); mean {s.mean:.2f} of "
                  f"{s.max_points:g} points."]
        if s.codes:
            lines += ["", "Mistakes by count:", ""]
            lines += [f"- `{c}`: {k}" for c, k in s.codes]
        if s.wrong_forms:
            lines += ["", "Most common wrong answers:", ""]
            lines += [f"{i}. `{_code(f)}` — {k} student{'s' if k != 1 else ''} ({c})"
                      for i, (f, k, c) in enumerate(s.wrong_forms, start=1)]
        if s.first_wrong:
            lines += ["", "First wrong step:", ""]
            lines += [f"- {step}: {k}" for step, k in s.first_wrong]
    return "\n".join(lines) + "\n"


def render_html(rubric: Rubric, grades: list[Grade], summaries, chart: str) -> str:
    e = html.escape
    title = e(rubric.title or "Class report")
    n = len(grades)
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
             "</head><body>", f"<h1>{title}</h1>",
             f"<p>{n} submissions; mean score {_mean([g.score for g in grades]):.2f} of "
             f"{rubric.max_score:g}.</p>",
             f"<img src=\"{e(chart)}\" alt=\"share of each status per question\">",
             "<table><tr><th>question</th><th>right</th><th>partly</th><th>wrong</th>"
             "<th>shape error</th><th>not gradable</th><th>missing</th><th>mean points</th></tr>"]
    for s in summaries:
        st = s.statuses
        parts.append(f"<tr><td>{e(s.name)}</td><td>{st['correct']} ({s.share_right:.0%})</td>"
                     f"<td>{st['partial']}</td><td>{st['incorrect']}</td>"
                     f"<td>{st['shape_error']}</td><td>{st['not_gradable']}</td>"
                     f"<td>{st['missing']}</td><td>{s.mean:.2f} of {s.max_points:g}</td></tr>")
    parts.append("</table>")
    for s in summaries:
        parts.append(f"<h2>{e(s.name)}</h2><p>Right: {s.right} of {s.total} "
                     f"({s.share_right:.0%}).</p>")
        if s.codes:
            parts.append("<p>Mistakes by count:</p><ul>" + "".join(
                f"<li><code>{e(c)}</code>: {k}</li>" for c, k in s.codes) + "</ul>")
        if s.wrong_forms:
            parts.append("<p>Most common wrong answers:</p><ol>" + "".join(
                f"<li><code>{e(f)}</code> — {k} ({e(c)})</li>" for f, k, c in s.wrong_forms)
                + "</ol>")
        if s.first_wrong:
            parts.append("<p>First wrong step:</p><ul>" + "".join(
                f"<li>{e(step)}: {k}</li>" for step, k in s.first_wrong) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def bar_chart(summaries, path: Path, title: str) -> None:
    """Horizontal stacked bars: per question, the share of the class in each status."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a grading host
    import matplotlib.pyplot as plt

    names = [s.name for s in summaries]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.5 * len(names)), dpi=100)
    try:
        left = [0.0] * len(names)
        for status in ORDER:
            shares = [s.statuses[status] / s.total if s.total else 0.0 for s in summaries]
            if not any(shares):
                continue
            ax.barh(names, shares, left=left, color=COLOURS[status],
                    label=status.replace("_", " "))
            left = [a + b for a, b in zip(left, shares, strict=True)]
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the class")
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.invert_yaxis()  # the first question on top
        ax.set_title(title)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.savefig(path, bbox_inches="tight")
    finally:
        plt.close(fig)


def _mean(xs) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|")
