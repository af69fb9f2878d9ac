"""The OpenAPI 3.1 document of the JSON API, kept by hand beside the routes (a test compares its
paths and methods with the app's routes, tests/test_web.py).

The answers' schemas are the CLI's JSON, documented in docs/checking.md (a check),
docs/json.md (a derivation), docs/numbers.md and docs/grading.md; here they are named, with
their top-level keys, and the request bodies are described field by field.
"""

from __future__ import annotations

from typing import Any

_NETWORK = {
    "layers": {"description": "sizes n[0..L] (a list, or \"3,3,1\"; null or \"?\" for symbolic)"},
    "activations": {"description": "one activation per layer (\"relu,sigmoid\"; g for generic)"},
    "loss": {"type": "string", "description": "bce, ce, mse, half_mse, ... (omit: generic)"},
    "scale": {"type": "string", "enum": ["mean", "sum", "dZ"]},
    "convention": {"type": "string", "enum": ["columns", "rows"]},
    "l2": {"description": "L2 coefficient of every W[l] (a number, or true for a symbolic λ)"},
    "l2_form": {"type": "string", "enum": ["course", "half", "plain"]},
    "l2_layers": {"description": "the layers whose W is regularised"},
    "keep_prob": {"description": "inverted dropout's keep probability (one, or one per layer)"},
    "spec": {"type": "string", "description": "a TOML spec instead of the keys above"},
}

_CHECK_LINE = {
    "type": "object",
    "description": "one line of `derive check --batch` (docs/checking.md, \"Batch mode\")",
    "properties": {
        "equation": {"type": "string", "maxLength": 2000},
        "code": {"type": "string", "description": "a code snippet instead of an equation"},
        "syntax": {"type": "string", "enum": ["auto", "latex", "text"]},
        "layer": {"type": "integer", "minimum": 1},
        "names": {"type": "object", "additionalProperties": {"type": "string"}},
        "dialect": {"type": "string"},
        "id": {"description": "echoed first in the answer"},
        **_NETWORK,
    },
}

_VERDICT = {
    "type": "object",
    "description": "the object `derive check --batch` writes for the line (docs/checking.md)",
    "properties": {k: {} for k in ("verdict", "target", "mistakes", "message", "expected",
                                   "expected_latex", "fix", "counterexample", "notes", "position",
                                   "syntax", "network", "dialect", "conditions")},
}

_ERROR = {"type": "object", "properties": {"error": {"type": "string"},
                                           "status": {"type": "integer"}}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _post(summary: str, body: dict, answer: dict, media: str = "application/json") -> dict:
    ok = _json(answer) if media == "application/json" else {"content": {media: {}}}
    return {"post": {
        "summary": summary,
        "requestBody": {"required": True, **_json(body)},
        "responses": {
            "200": {"description": "the answer", **ok},
            "400": {"description": "unusable input", **_json(_ERROR)},
            "413": {"description": "over a limit (web.body_bytes, web.formula_chars, ...)",
                    **_json(_ERROR)},
            "504": {"description": "over web.compute_seconds", **_json(_ERROR)},
        },
    }}


def document(version: str) -> dict[str, Any]:
    """The OpenAPI document served at ``/openapi.json``."""
    network = {"type": "object", "properties": _NETWORK}
    return {
        "openapi": "3.1.0",
        "info": {"title": "derive", "version": version,
                 "description": "Derive and check backpropagation formulas: the JSON of the "
                                "`derive` CLI over HTTP, stateless (docs/web.md)."},
        "paths": {
            "/api/check": _post("check a formula: the body is one `derive check --batch` line",
                                _CHECK_LINE, _VERDICT),
            "/api/read": _post("how a formula is read, before it is checked (the preview)",
                               _CHECK_LINE, {"type": "object", "properties": {
                                   k: {} for k in ("read", "target", "target_latex", "rhs_latex",
                                                   "latex", "text", "syntax", "dialect",
                                                   "readings", "notes", "error", "position")}}),
            "/api/backward": _post(
                "`derive backward --json`: every formula, the steps, the proof",
                {**network, "properties": {**_NETWORK, "seed": {"type": "integer"},
                                           "input_gradient": {"type": "boolean"}}},
                {"type": "object", "description": "docs/json.md",
                 "properties": {k: {} for k in ("schema", "network", "conventions", "notes",
                                                "formulas", "steps", "proof")}}),
            "/api/numbers": _post(
                "`derive numbers FILE --json`: the body is the JSON numbers file",
                {"type": "object", "properties": {"network": network, "values": {},
                                                  "student": {}, "tolerance": {}}},
                {"type": "object", "description": "docs/numbers.md"}),
            "/api/grade": _post(
                "`derive grade --format json` for one submission",
                {"type": "object", "required": ["rubric", "submission"],
                 "properties": {"rubric": {"type": "string", "description": "rubric TOML"},
                                "submission": {"description": "answers (object or text)"},
                                "student": {"type": "string"}}},
                {"type": "object", "description": "docs/grading.md"}),
            "/api/handout": _post(
                "a handout of the network to download",
                {**network, "properties": {**_NETWORK, "title": {"type": "string"},
                                           "format": {"enum": ["tex", "md", "pdf"]}}},
                {}, media="application/octet-stream"),
            "/api/stability": _post(
                "the stability plot (PNG) of `derive stability --plot`",
                {"type": "object", "properties": {k: {} for k in (
                    "depth", "width", "activation", "init", "gain", "seed")}},
                {}, media="image/png"),
            "/api/capabilities": {"get": {
                "summary": "what this server can make (pdf, plot)",
                "responses": {"200": {"description": "flags", **_json({"type": "object"})}}}},
            "/openapi.json": {"get": {
                "summary": "this document",
                "responses": {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}}}},
        },
    }
