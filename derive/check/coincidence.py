"""Shapes that fit only by coincidence: a formula whose shapes agree on this network because two
of its sizes are equal (or 1) gets a note naming them ("this fits only because n1 = n2"), the
condition under which a reader of other sizes would see a shape error.
"""

from __future__ import annotations

from derive.check import cost_terms
from derive.check import diagnose as D
from derive.core.expr import as_sympy
from derive.errors import DeriveError, ShapeMismatch
from derive.network.spec import dim_symbol
from derive.network.symbols import SymbolTable


def same_shape(a, b) -> bool:
    """Whether two shapes are the same, size by size (SymPy sizes)."""
    return all(bool(as_sympy(x) == as_sympy(y)) for x, y in zip(a, b, strict=True))


def coincidence_notes(raw, net, target) -> list[str]:
    """A note when the formula fits only because two sizes of this network are equal (or 1)."""
    if all(s is None for s in net.layers):
        return []
    free = net.replace(layers=(None,) * (net.L + 1))
    T = SymbolTable(free)
    sizes = {dim_symbol(l): s for l, s in enumerate(net.layers) if s is not None}
    try:
        e = D.build(raw, T)
    except ShapeMismatch as exc:
        if exc.operation == "matrix product":
            pairs = [(exc.left_shape[1], exc.right_shape[0])]
        else:
            pairs = list(zip(exc.left_shape, exc.right_shape, strict=True))
        cond = condition(pairs, sizes, exc.operation != "matrix product")
        return [f"this fits only because {cond} in this network; for other sizes: {exc}"]
    except (DeriveError, KeyError):
        return []
    free_target = target if target.base in cost_terms.KINDS else T[target.base, target.layer]
    if not same_shape(e.shape, free_target.shape):
        cond = condition(list(zip(e.shape, free_target.shape, strict=True)), sizes, False)
        return [f"the right side has the gradient's shape only because {cond} in this network"]
    return []


def condition(pairs, sizes, broadcast: bool) -> str:
    """The equalities of sizes that make ``pairs`` of dimensions agree: "n1 = n2", "n2 = 1"."""
    out = []
    for a, b in pairs:
        if bool(as_sympy(a) == as_sympy(b)):
            continue
        ca, cb = as_sympy(a).subs(sizes), as_sympy(b).subs(sizes)
        if broadcast and ca == 1 and a != 1:
            out.append(f"{a} = 1")
        elif broadcast and cb == 1 and b != 1:
            out.append(f"{b} = 1")
        elif f"{b} = {a}" not in out:
            out.append(f"{a} = {b}")
    return " and ".join(dict.fromkeys(out)) or "two sizes are equal"


__all__ = ["coincidence_notes", "condition", "same_shape"]
