"""Which wrong gradients each gradient of a snippet is computed from (issue 12): judged on its
own, ``dW1 = 1/m * np.dot(dz1, X.T)`` may be right while the value the function returns is
wrong, because its ``dz1`` line is. Each result keeps its own verdict and gains ``uses_wrong``
(the wrong gradients it depends on, directly or through others) and a note saying so.

A gradient depends on another when the expression the symbolic reading gave it names the
other's quantity (a variable holding a gradient stands for that gradient in any other formula:
docs/code.md).
"""

from __future__ import annotations

from dataclasses import replace

from derive.code.result import GradientResult

WRONG = ("not_equivalent", "shape_error")


def mark(results: list[GradientResult], entries: dict) -> list[GradientResult]:
    """``results`` with ``uses_wrong`` and its note filled in (``entries``: the reading's
    gradients by name, each with its quantity and value)."""
    by_quantity = {}
    for r in results:
        e = entries.get(r.name)
        if e is not None and r.target != "loss":
            by_quantity[e.quantity] = r
    direct: dict[str, list[GradientResult]] = {}
    for r in results:
        e = entries.get(r.name)
        expr = getattr(getattr(e, "value", None), "expr", None)
        if expr is None:
            continue
        uses = [by_quantity[s] for s in expr.symbols() if s in by_quantity and
                by_quantity[s].name != r.name and by_quantity[s].line <= r.line]
        direct[r.name] = sorted(uses, key=lambda u: u.line)
    out = []
    for r in results:
        seen: dict[str, GradientResult] = {}
        stack = list(direct.get(r.name, []))
        while stack:
            u = stack.pop()
            if u.name in seen or u.name == r.name:
                continue
            seen[u.name] = u
            stack += direct.get(u.name, [])
        bad = sorted((u for u in seen.values() if u.verdict.verdict in WRONG),
                     key=lambda u: u.line)
        if not bad:
            out.append(r)
            continue
        used = tuple({"name": u.name, "line": u.line, "target": u.target} for u in bad)
        given = ", ".join(sorted({str(u.target) for u in bad}))
        because = ", ".join(f"{u.name} (line {u.line})" for u in bad)
        verb = "is" if len(bad) == 1 else "are"
        head = f"correct given {given}" if r.verdict.verdict == "correct" else \
            f"judged given {given}"
        note = f"{head}; the value returned is wrong because {because} {verb}"
        verdict = replace(r.verdict, notes=(*r.verdict.notes, note))
        out.append(GradientResult(r.line, r.name, verdict, r.function, used))
    return out


__all__ = ["mark"]
