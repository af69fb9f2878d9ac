"""What the corpus's function items tell derive about their caller (bench/bench_corpus.py):
the names a bound function's parameters and return value hold, as a user passes ``names=``."""

from __future__ import annotations

import ast
import textwrap


def call_names(item: dict) -> dict:
    """The names a bound function's caller gives (what the user passes as ``names=``): each
    parameter the item's ``call`` fills with a quantity (``_q('dZ[2]')``), and the function's own
    name bound to what it returns (``{"derivative_w2": "-dW[2]"}``)."""
    if not item.get("text") or not item.get("call"):
        return {}  # the index alone (the verbatim text is local only): nothing to pair
    call = ast.parse(item["call"], mode="eval").body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        return {}
    fname = call.func.id
    fdef = next((n for n in ast.walk(ast.parse(textwrap.dedent(item["text"])))
                 if isinstance(n, ast.FunctionDef) and n.name == fname), None)
    if fdef is None:
        return {}
    names: dict = {}
    for param, arg in zip((a.arg for a in fdef.args.args), call.args, strict=False):
        if isinstance(arg, ast.Call) and getattr(arg.func, "id", "") == "_q" and arg.args \
                and isinstance(arg.args[0], ast.Constant):
            names[param] = arg.args[0].value
    if isinstance(item.get("returns"), str):
        names[fname] = item["returns"]
    return names


def returns_bound(item: dict) -> bool:
    """Whether derive was told what the function returns (then ``-dW[2]`` is already read as
    minus the gradient, and its verdict is about dW[2] itself)."""
    return item.get("kind") == "function" and item.get("group") == "bound" \
        and isinstance(item.get("returns"), str)
