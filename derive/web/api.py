"""The web API's work, as plain functions of a request body (bytes) to the CLI's JSON object.

Each function here is what one ``POST /api/...`` route runs in a worker process
(:mod:`derive.web.workers`); none imports Starlette, so they are tested and timed alone. They
are a thin shell over what the CLI's JSON already uses, so that an answer is the CLI's answer:

* :func:`check`: the body is one line of ``derive check --batch``; the answer is the object the
  batch writes for it (:func:`derive.cli._batch.check_bytes`), byte for byte once dumped;
* :func:`backward`: ``derive backward --json`` (:func:`derive.render.json.to_dict`, proven);
* :func:`numbers`: ``derive numbers FILE.json --json`` (the body is the file);
* :func:`grade`: ``derive grade --format json`` for one submission against a rubric's text;
* :func:`read`: how the checker reads a formula, before checking (the page's live preview);
* :func:`handout` and :func:`stability_plot`: files to download.

Bad input is an :class:`ApiError` (status 400 or 413, a message naming what was wrong); no
user text is ever evaluated: formulas go through derive's own parsers, JSON through ``json``,
TOML through ``tomllib`` (bounded first by :func:`derive.network.textfile.scan`).

>>> check(b'{"equation": "dW1 = 1/m np.dot(dZ1, X.T)"}')["verdict"]
'correct'
>>> read(b'{"equation": "dZ1 = W2.T @ dZ2 * (Z1 > 0)", "layers": [3, 3, 1]}')["text"]
'dZ[1] = W[2]ᵀ dZ[2] ⊙ relu′(Z[1])'
"""

from __future__ import annotations

import json
from typing import Any

from derive.errors import DeriveError
from derive.limits import Limit, require

#: one request body (a batch line is at most check.batch_line; a rubric, a spec or a numbers
#: file at most 1 MiB each): a bigger body is answered 413 before it is read whole
BODY = Limit("web.body_bytes", 2 << 20, "bytes", "a smaller request body", "one request body")
#: one formula typed into the page or posted to /api/check or /api/read
FORMULA = Limit("web.formula_chars", 2000, "characters", "a shorter formula",
                "the formula of one request")
#: the wall-clock time one request may compute; over it the worker is ended, the answer is a
#: timeout (504) and a fresh worker takes its place
SECONDS = Limit("web.compute_seconds", 20, "seconds", "a smaller network or a shorter formula",
                "one request's computation")
#: the handout's and the stability plot's networks (the page's own bounds; the CLI's apply too)
PLOT_DEPTH = Limit("web.plot_depth", 200, "layers", "a smaller depth", "the stability plot")
PLOT_WIDTH = Limit("web.plot_width", 512, "units per layer", "a smaller width",
                   "the stability plot")

#: the network keys a body may carry (a batch line's; ``spec`` is a pasted TOML spec instead)
NETWORK_KEYS = ("layers", "activations", "loss", "scale", "convention", "l2", "l2_form",
                "l2_layers", "keep_prob")


class ApiError(Exception):
    """A request that cannot be used: ``status`` (400, 413) and a message for the user."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
        self.message = message

    def to_dict(self) -> dict:
        return {"error": self.message, "status": self.status}


def body_object(body: bytes) -> dict:
    """The body as a JSON object (bounded by :data:`BODY`)."""
    if len(body) > BODY.value:
        raise ApiError(f"the request body is {len(body):,} bytes, over the limit of "
                       f"{BODY.value:,} bytes ({BODY.name})", 413)
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(f"the request body is not a JSON object: {exc}") from None
    if not isinstance(obj, dict):
        raise ApiError("the request body must be a JSON object")
    return obj


def _formula_length(obj: dict) -> None:
    for key in ("equation", "code"):
        text = obj.get(key)
        if isinstance(text, str):
            try:
                require(FORMULA, len(text), f"the {key}")
            except DeriveError as exc:
                raise ApiError(str(exc), 413) from None


def network_of(obj: dict):
    """The Network a body names: a pasted TOML ``spec`` (text), or the batch line's keys; None
    when it names none (the checker's generic network)."""
    from derive.network.spec import Network

    spec = obj.get("spec")
    if spec is not None:
        if any(obj.get(k) is not None for k in NETWORK_KEYS[:2]):
            raise ApiError("give the network either as a TOML 'spec' or by its keys, not both")
        if not isinstance(spec, str):
            raise ApiError("'spec' must be the text of a TOML spec")
        return _spec_network(spec)
    if obj.get("layers") is None and obj.get("activations") is None:
        return None
    fields = {k: obj[k] for k in NETWORK_KEYS if obj.get(k) is not None}
    try:
        return Network.from_mapping(fields, where="the request")
    except DeriveError as exc:
        raise ApiError(str(exc)) from None


def _spec_network(text: str):
    from derive.network.fields import SPEC_BYTES
    from derive.network.spec import Network
    from derive.network.textfile import load_toml

    try:
        require(SPEC_BYTES, len(text.encode("utf-8")), "the spec")
        return Network.from_mapping(load_toml(text, "spec"), where="spec")
    except DeriveError as exc:
        raise ApiError(str(exc)) from None


# -- the routes' work ------------------------------------------------------------------------------
def check(body: bytes) -> dict:
    """``POST /api/check``: the object ``derive check --batch`` writes for this line. A pasted
    ``spec`` (the page's TOML box) is read into the line's keys first."""
    from derive.cli._batch import check_bytes

    obj = body_object(body)
    _formula_length(obj)
    if obj.get("spec") is not None:
        net = network_of(obj)
        line = {k: v for k, v in obj.items() if k != "spec"}
        line.update({k: v for k, v in net.to_dict().items() if k in NETWORK_KEYS})
        body = json.dumps(line).encode("utf-8")
    return check_bytes(body)


def read(body: bytes) -> dict:
    """``POST /api/read``: how the formula of a check's body is read, before it is checked: the
    left side and the right side in LaTeX, the syntax, the dialect, each bound name's meaning
    and the choices the reading made; or where it cannot be read (``error``, ``position``)."""
    from derive.core.printing import to_latex, to_text
    from derive.errors import ParseError, ShapeMismatch
    from derive.parse import parse_equation

    obj = body_object(body)
    _formula_length(obj)
    eq = obj.get("equation")
    if not isinstance(eq, str) or not eq.strip():
        raise ApiError("missing 'equation' (a non-empty string)")
    given = network_of(obj)
    nets = [given] if given is not None else _reading_networks(obj)
    syntax = obj.get("syntax", "auto")
    names = obj.get("names") if isinstance(obj.get("names"), dict) else None
    layer = obj.get("layer") if type(obj.get("layer")) is int else None
    first: dict | None = None
    for net in nets:  # without a network: the first depth at which the formula reads
        try:
            e = parse_equation(eq, net, syntax=syntax, layer=layer, names=names,
                               dialect=obj.get("dialect"))
            break
        except ShapeMismatch as exc:
            failed = {"read": False, "error": str(exc), "position": None, "shape_error": True}
        except ParseError as exc:
            failed = {"read": False, "error": exc.describe(), "position": exc.position,
                      "shape_error": False}
        except DeriveError as exc:
            failed = {"read": False, "error": str(exc), "position": None, "shape_error": False}
        first = first or failed
    else:
        assert first is not None
        return first
    target = to_latex(e.target)
    rhs = to_latex(e.rhs)
    return {"read": True, "target": e.target.text, "target_latex": target, "rhs_latex": rhs,
            "latex": f"{target} = {rhs}", "text": f"{e.target.text} = {to_text(e.rhs)}",
            "syntax": e.syntax, "dialect": e.dialect, "readings": list(e.readings),
            "notes": list(e.notes), "generic_layer": e.generic_layer}


def _reading_networks(obj: dict) -> list:
    """Networks to read a formula over when the body names none, as the checker's generic
    network is chosen: one layer deeper than the formula's highest layer index (dZ[3]: four
    layers), then as deep (A2 − Y: Y is the output's), then two deeper; sizes symbolic, the
    body's loss and convention."""
    import re

    from derive.network.spec import Network

    eq = obj.get("equation") or ""
    top = max((int(n) for n in re.findall(r"(?<![0-9])([0-9]{1,2})(?![0-9.])", eq)), default=1)
    loss = obj.get("loss") if isinstance(obj.get("loss"), str) else None
    given = obj.get("convention")
    convention = given if isinstance(given, str) else "columns"
    depths = dict.fromkeys(min(max(1, d), 12) for d in (top + 1, top, top + 2))
    try:
        return [Network(layers=[None] * (depth + 1), activations=None, loss=loss,
                        convention=convention) for depth in depths]
    except DeriveError as exc:
        raise ApiError(str(exc)) from None


def backward(body: bytes) -> dict:
    """``POST /api/backward``: ``derive backward --json`` for the body's network (``spec`` or
    its keys; the course's 2-layer network when it names none), proven with ``seed``."""
    from dataclasses import replace

    from derive.engine.backward import derive
    from derive.engine.proof import prove
    from derive.render.json import to_dict

    obj = body_object(body)
    net = network_of(obj) or _example()
    seed = obj.get("seed", 0)
    if type(seed) is not int or seed < 0:
        raise ApiError("'seed' must be a whole number, 0 or more")
    d = derive(net, prove=False, input_gradient=bool(obj.get("input_gradient", False)))
    return to_dict(replace(d, proof=prove(d, seed=seed, strict=True)))


def _example():
    from derive.cli.common import example_network

    return example_network()


def numbers(body: bytes) -> dict:
    """``POST /api/numbers``: ``derive numbers FILE --json``, the body being the JSON file
    (``network``, ``values``, optional ``student`` and ``tolerance``)."""
    from derive.network.spec import Network
    from derive.numbers.inputs import parse_mapping_text
    from derive.numbers.render import to_dict
    from derive.numbers.student import check_student
    from derive.numbers.worked import worked_example

    body_object(body)  # size and form first
    inp = parse_mapping_text(body.decode("utf-8"), "the request")
    if inp.network is None:
        raise ApiError("no 'network' in the request (layers, activations, loss, ...)")
    net = Network.from_mapping(inp.network, where="the request")
    w = worked_example(net, inp.values, input_notes=inp.notes)
    report = check_student(w, inp.student, inp.tolerance) if inp.student else None
    return to_dict(w, report)


def grade(body: bytes) -> dict:
    """``POST /api/grade``: ``derive grade --format json`` of one submission: ``rubric`` (the
    rubric's TOML text), ``submission`` (an object of answers, or a JSON or TOML text) and an
    optional ``student`` id."""
    from derive.grade.rubric import RUBRIC_BYTES, rubric_from_mapping
    from derive.grade.score import grade_submission
    from derive.grade.submission import SUBMISSION_BYTES, submission_from_text
    from derive.network.textfile import load_toml

    obj = body_object(body)
    rubric_text, sub, student = obj.get("rubric"), obj.get("submission"), obj.get("student")
    if not isinstance(rubric_text, str):
        raise ApiError("'rubric' must be the text of a rubric (TOML)")
    if isinstance(sub, dict):
        sub = json.dumps(sub)
    if not isinstance(sub, str):
        raise ApiError("'submission' must be an object of answers or a JSON or TOML text")
    if student is not None and not isinstance(student, str):
        raise ApiError("'student' must be a string")
    try:
        require(RUBRIC_BYTES, len(rubric_text.encode("utf-8")), "the rubric")
        require(SUBMISSION_BYTES, len(sub.encode("utf-8")), "the submission")
        rubric = rubric_from_mapping(load_toml(rubric_text, "rubric"), "rubric")
    except DeriveError as exc:
        raise ApiError(str(exc)) from None
    where = f"{student}.json" if student else "submission.json"
    try:  # a rubric with [variants] needs the course secret, which the web page never holds
        return grade_submission(rubric, submission_from_text(sub, where, student)).to_dict()
    except DeriveError as exc:
        raise ApiError(f"{exc} (a rubric with per-student variants is graded by "
                       "`derive grade --secret`, not on the web page)"
                       if rubric.variants is not None else str(exc)) from None


# -- downloads -------------------------------------------------------------------------------------
FORMATS = {"tex": ("application/x-tex", "tex"), "md": ("text/markdown", "md"),
           "pdf": ("application/pdf", "pdf")}


def handout(body: bytes) -> tuple[str, str, bytes]:
    """``POST /api/handout``: (file name, media type, bytes) of the handout of the body's
    network in ``format`` tex, md or pdf (pdf when a TeX engine is installed), with ``title``."""
    from derive.handout.document import compile_tex
    from derive.handout.document import handout as make

    obj = body_object(body)
    fmt = obj.get("format", "tex")
    if fmt not in FORMATS:
        raise ApiError(f"unknown handout format {fmt!r}; known: {', '.join(FORMATS)}")
    title = obj.get("title")
    if title is not None and not isinstance(title, str):
        raise ApiError("'title' must be a string")
    net = network_of(obj) or _example()
    if fmt == "pdf" and not capabilities()["pdf"]:
        raise ApiError("no TeX engine (pdflatex) is installed on the server: download the .tex")
    h = make(net, title=title or None, format="md" if fmt == "md" else "tex")
    data = compile_tex(h.text).pdf if fmt == "pdf" else h.text.encode("utf-8")
    media, ext = FORMATS[fmt]
    return f"handout.{ext}", media, data


def capabilities() -> dict:
    """What this server can make: a PDF (a TeX engine), the stability plot (matplotlib)."""
    import importlib.util

    from derive.handout.document import tex_engine

    try:
        tex = bool(tex_engine())
    except DeriveError:
        tex = False
    return {"pdf": tex, "plot": importlib.util.find_spec("matplotlib") is not None}


def stability_plot(body: bytes) -> tuple[str, str, bytes]:
    """``POST /api/stability``: the PNG of ``derive stability --plot`` for ``depth``, ``width``,
    ``activation``, ``init``, ``gain``, ``seed`` (the CLI's defaults; bounded by
    :data:`PLOT_DEPTH` and :data:`PLOT_WIDTH`)."""
    import os
    import tempfile

    from derive.stability.analyse import SweepResult, analyse
    from derive.stability.render import plot_sweep

    obj = body_object(body)
    args: dict[str, Any] = {"depth": 50, "width": 64, "activation": "tanh", "init": "xavier",
                            "gain": 1.0, "seed": 0}
    for key, default in args.items():
        value = obj.get(key, default)
        if type(value) is not type(default) and not (key == "gain" and type(value) is int):
            raise ApiError(f"'{key}' must be a {type(default).__name__}")
        args[key] = value
    try:
        require(PLOT_DEPTH, args["depth"])
        require(PLOT_WIDTH, args["width"])
        result = analyse(**args)
    except DeriveError as exc:
        raise ApiError(str(exc)) from None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stability.png")
        plot_sweep(SweepResult((result,), (result.depth,)), path)
        with open(path, "rb") as f:
            return "stability.png", "image/png", f.read()
