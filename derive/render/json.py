"""JSON: the stable machine-readable form of a derivation (documented in docs/json.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from derive.engine.backward import Derivation
from derive.render import convention_lines

SCHEMA_VERSION = 1
Json = str | int | float | bool | None | Sequence["Json"] | Mapping[str, "Json"]


def to_dict(derivation: Derivation) -> dict[str, Json]:
    """The derivation as JSON-ready data (docs/json.md)."""
    net = derivation.network
    proof = derivation.proof
    return {
        "schema": SCHEMA_VERSION,
        "network": net.to_dict(),
        "conventions": convention_lines(net),
        "notes": list(derivation.notes),
        "formulas": [
            {
                "name": f.name,
                "kind": f.kind,
                "layer": f.layer,
                "text": f.text,
                "latex": f.latex,
                "numpy": f.code,
                "shape": [str(d) for d in f.shape],
            }
            for f in derivation.formulas
        ],
        "steps": [
            {
                "layer": s.layer,
                "target": s.target.text,
                "rule": s.rule,
                "title": s.title,
                "index": s.index,
                "index_latex": s.index_latex,
                "result": s.text,
                "result_latex": s.latex,
                "cites": list(s.cites),
                "note": s.note,
            }
            for s in derivation.steps
        ],
        "proof": proof.to_dict() if proof is not None else None,
    }


def render(derivation: Derivation) -> str:
    return json.dumps(to_dict(derivation), ensure_ascii=False, indent=2)
