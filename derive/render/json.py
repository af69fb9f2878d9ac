"""JSON: the stable machine-readable form of a derivation (documented in docs/json.md)."""

from __future__ import annotations

import json

from derive.render import convention_lines

SCHEMA_VERSION = 1


def to_dict(derivation) -> dict:
    net = derivation.network
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
        "proof": derivation.proof.to_dict() if derivation.proof is not None else None,
    }


def render(derivation) -> str:
    return json.dumps(to_dict(derivation), ensure_ascii=False, indent=2)
