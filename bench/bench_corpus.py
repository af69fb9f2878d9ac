"""``derive check`` on the corpora of real code and LaTeX (issues 12 and 13): how many verdicts
are right, per dialect (code) and notation family (LaTeX), and which items it misses.

    python bench/bench_corpus.py                     # both corpora: rates and misses
    python bench/bench_corpus.py --corpus code --dialect cs231n
    python bench/bench_corpus.py --json              # one JSON object per item (stdout)
    python bench/bench_corpus.py --update-baseline   # rewrite bench/corpus_baseline.json

The corpora (tests/data/corpus/README.md) are an index of our annotations (committed) and the
verbatim texts (``*text.jsonl``, other people's work, never committed). Without the texts this
script says so and exits 0. What it prints may quote the texts (derive's messages name operands
as written); only the baseline is written to the repository, and it holds ids and counts.

Each item goes through the Python API, ``derive.check(text, network)``, with the network built
from the item's ``network`` field:
- sizes and activations; the loss (code's ``mse_half`` is derive's ``half_mse``, ``sse`` its
  ``mse``; LaTeX's ``null`` a generic loss, ``hidden``/``output`` null a generic g);
- the convention (``1d``, one example as a vector, is ``columns`` with m = 1);
- the scale: ``dW`` (the course: 1/m in dW and db) is ``mean``; ``sum`` is ``sum``; one example
  (m = 1) is ``sum`` (the mean over one example); ``dZ`` (CS231n: the 1/N inside dZ[L]) needs a
  scale derive does not have yet;
- L2 regularisation (strength, and the form from its factor: ½ with 1/m the course's, ½ without
  CS231n's half, 1 plain) matters only to dW (the full gradient), so other targets, and dWdata
  (the data term alone), drop it.
An item derive cannot be told about (the dZ scale, L2 on dW, dropout, a loss outside the
catalogue, a ``loss`` target, a whole function while derive reads no snippets) counts as a miss,
"not expressible"; it is still checked on the nearest network it can be told about
(``nearest``), which shows what else would stop it.

Verdicts: ``correct`` must be ``correct``; ``wrong`` must be ``not_equivalent`` or
``shape_error`` (and where the index names a mistake code, whether derive names it is reported
apart); ``correct under an assumption`` (LaTeX README) must be ``correct`` with a non-empty
``conditions`` list, or ``not_equivalent``/``shape_error`` when the assumption contradicts the
network given (``holds_with`` sizes other than the network's). Un-indexed names (``dZ``,
``dout``, ``delta``) are checked at the item's layer when derive takes ``layer=``, and the
``bound`` dialect passes its ``names`` when derive takes bindings. A target that is minus a
gradient (``-dZ[1]``, gradient ascent) is checked as the gradient with its right side negated
(a function's: derive's sign_error alone is right).

Whole functions are checked at the layer of their ``call`` (the quantities and caches it is
handed, when they name one layer) when derive.check_code takes ``layer=``; a result for a
generic target (dW[l], dA[l-1]) is matched at that layer, and a gradient correct on its own
that uses a wrong one (``uses_wrong``) counts as wrong.

Two protocols, two rates: (1) each item alone, as above; (2) after a parse error that lists
unknown names, one retry binding exactly those names from the item's ``names`` annotation (and
its left side to the item's target), where it gives a quantity (``A[2]``, ``dZ[1]``,
``W[1].T``, X, Y, m) or a formula derive reads (``g[2]'(Z[2])``): the user following the
error's advice (``--bind``). The misses are those
of protocol 2 (bench/corpus_report.py prints the table).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is on the path, its package is not
    sys.path.insert(0, str(ROOT))
from bench.corpus_calls import call_names, returns_bound  # noqa: E402
from bench.corpus_report import (  # noqa: E402 - after the path it needs
    WRONG as WRONG,
)
from bench.corpus_report import _short as _short  # noqa: E402
from bench.corpus_report import cause_of as cause_of  # noqa: E402
from bench.corpus_report import rates as rates  # noqa: E402
from bench.corpus_report import report as report  # noqa: E402
from bench.corpus_report import retry_bindings as retry_bindings  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"
BASELINE = Path(__file__).resolve().parent / "corpus_baseline.json"
SOURCES = {  # corpus -> (kind, index file, text file)
    "code": [("formula", "code/formulas.index.jsonl", "code/formulas.text.jsonl"),
             ("function", "code/functions.index.jsonl", "code/functions.text.jsonl")],
    "latex": [("latex", "latex/index.jsonl", "latex/text.jsonl")],
    # issue 11's corpus: each item says its kind (a block of lines is read as code)
    "regularisation": [(None, "regularisation/index.jsonl", "regularisation/text.jsonl")],
}
LOSSES = {"bce": "bce", "ce": "ce", "mse_half": "half_mse", "half_mse": "half_mse",
          "sse": "mse", "mse": "mse"}
SCALE_DZ = ("dZ", "dz", "output", "in_dZ")  # names a scale "1/m inside dZ[L]" may get in derive


class NotExpressible(Exception):
    """The item's network (or target) is one derive cannot be told about yet."""


# -- the corpora ------------------------------------------------------------------------------
def missing_texts(corpus: str = "all") -> list[Path]:
    """The text files of ``corpus`` that are not here (they are never committed)."""
    names = [s for c, srcs in SOURCES.items() if corpus in (c, "all") for s in srcs]
    return [CORPUS / text for _, _, text in names if not (CORPUS / text).exists()]


def load_items(corpus: str = "all") -> list[dict]:
    """Every item of ``corpus``: its index annotations, its ``kind`` and its ``text``."""
    items = []
    for name, sources in SOURCES.items():
        if corpus not in (name, "all"):
            continue
        for kind, index, text in sources:
            texts = {}
            for line in (CORPUS / text).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    texts[row["id"]] = row.get("text", row.get("latex"))
            for line in (CORPUS / index).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    own = {"block": "function"}.get(row.get("kind"), row.get("kind"))
                    row.update(corpus=name, kind=kind or own, text=texts[row["id"]],
                               group=row.get("dialect") or row.get("family"))
                    items.append(row)
    return items


def expected_of(item: dict) -> str:
    """"correct", "wrong" or "conditional" (LaTeX's correct under an assumption)."""
    label = item["label"]
    verdict = label["verdict"] if isinstance(label, dict) else label
    if verdict == "correct":
        return "correct"
    if verdict.startswith("correct under"):
        return "conditional"
    if verdict.startswith("wrong"):
        return "wrong"
    raise ValueError(f"{item['id']}: unknown label {verdict!r}")


# -- what derive can be told ---------------------------------------------------------------------
def capabilities() -> dict:
    """What this checkout of derive accepts (the bench adapts as derive grows)."""
    import derive
    from derive.catalogue import rules
    from derive.network import spec

    params = inspect.signature(derive.check).parameters
    net_params = inspect.signature(spec.Network.__init__).parameters
    snippet = next((n for n in ("check_code", "check_snippet") if n in dir(derive)), None)
    return {
        "layer": "layer" in params,
        "bind": next((n for n in ("names", "bind", "bindings") if n in params), None),
        "m": "m" in params,
        "code": "code" in params,
        "snippet": snippet,
        "snippet_layer": snippet is not None
        and "layer" in inspect.signature(getattr(derive, snippet)).parameters,
        "scale_dz": next((s for s in SCALE_DZ if s in spec.SCALES), None),
        "l2": any(n in net_params for n in ("regularization", "regularisation", "l2")),
        "dropout": "keep_prob" in net_params,
        "batchnorm": "batchnorm" in net_params,
        "losses": {e.name for e in rules.losses().values()},
    }


def layer_of(names: dict) -> int | None:
    """The layer an item's un-indexed names are at (what ``layer=`` pins), from the ``names``
    annotation: the index of a name without digits that holds one of the layer's own quantities
    (``dZ`` → dZ[2], ``w`` → W[2], ``A`` → A[2]: layer 2), else one more than a previous
    layer's (``A_prev`` → A[1]: layer 2). None when every name carries its index."""
    own, previous = [], []
    for key, value in names.items():
        match = re.fullmatch(r"-?(d?)([A-Za-z]+)\[(\d+)\]", value) if isinstance(value, str) else None
        if match is None or re.search(r"\d", key) or key in ("X", "Y", "m"):
            continue
        quantity, layer = match.group(1) + match.group(2), int(match.group(3))
        if quantity in ("W", "b", "Z", "dZ", "dW", "db") and "prev" not in key:
            own.append(layer)
        elif quantity in ("A", "dA") and key in ("A", "dA", "AL", "dAL"):
            own.append(layer)  # the course's A and dA are the layer's own, A[l] and dA[l]
        elif quantity in ("A", "dA") and "prev" in key:
            previous.append(layer + 1)
    found = own or previous
    return Counter(found).most_common(1)[0][0] if found else None


def l2_of(reg: dict) -> dict:
    """derive's L2 keywords for an item's ``regularization``: the strength, and the form from its
    factor (½ with 1/m: the course's λ/(2m); ½ without: CS231n's half; 1: plain) or its name;
    {} for a form derive does not have (λ/m Σ‖W‖²)."""
    form = reg.get("form") if reg.get("form") in ("course", "half", "plain") else None
    if form is None and isinstance(reg.get("factor"), str):  # LaTeX's "lambda/2", "lambda/(2m)"
        form = {"lambda/2": "half", "lambda/(2m)": "course", "lambda": "plain"}.get(
            reg["factor"].replace(" ", ""))
        if form is not None and reg.get("strength") is None:
            return {"l2": True, "l2_form": form}  # a symbolic λ, as the formulas write it
    if form is None:
        factor, per_m = reg.get("factor"), reg.get("per_m")
        form = {(0.5, True): "course", (0.5, False): "half", (1.0, False): "plain"}.get(
            (factor, bool(per_m)))
    if form is None or reg.get("strength") is None:
        return {}
    out = {"l2": float(reg["strength"]), "l2_form": form}
    if reg.get("layers"):
        out["l2_layers"] = list(reg["layers"])
    return out


def call_layer(item: dict) -> int | None:
    """The layer a whole function was called at, from the item's ``call``: the one layer of the
    quantities it is handed that a layer owns (dZ[2], dA[2], Z[2], W[2], b[2], batch norm's dZt[1], gamma[1]) and of the
    caches (``'linear_cache:2'``); None when they name none, or several."""
    call = item.get("call") or ""
    found = {int(n) for n in re.findall(
        r"_q\(['\"](?:dZt|dZ|dA|Zn|Zt|Z|W|b|gamma|beta)\[(\d+)\]", call)}
    found |= {int(n) for n in re.findall(r"_s\(['\"][\w]+:(\d+)['\"]\)", call)}
    return found.pop() if len(found) == 1 else None


def network_for(item: dict, caps: dict, nearest: bool = False):
    """(Network, check keyword arguments) for ``item``; NotExpressible unless ``nearest``."""
    from derive.network.spec import Network

    net = item["network"]
    problems = []
    sizes = list(net["sizes"])
    if "activations" in net:
        acts = list(net["activations"])
    else:  # LaTeX: one hidden activation and one output activation, null for a generic g
        acts = [net.get("hidden")] * (len(sizes) - 2) + [net.get("output")]
    loss = net.get("loss")
    if loss is not None:
        name = LOSSES.get(loss, loss)
        if name not in caps["losses"]:
            problems.append(f"the loss {loss} is not in derive's catalogue")
            name = None
        loss = name
    m = net.get("m")
    one_example = m == 1 or net["convention"] == "1d"
    scale = {"dW": "mean", "mean": "mean", "sum": "sum"}.get(net["scale"], "sum")
    if net["scale"] == "dZ":
        if caps["scale_dz"] is None:
            problems.append("the scale dZ (1/m inside dZ[L], CS231n's) is not a derive scale")
        scale = caps["scale_dz"] or "sum"  # nearest: dW = Aᵀ dZ without a 1/m, as in CS231n
    kwargs: dict = {}
    if one_example:
        if caps["m"]:
            kwargs["m"] = 1
        else:
            scale = "sum"  # the mean over one example is the sum
    targets = item["target"] if isinstance(item["target"], list) else [item["target"]]
    reg = net.get("regularization") or net.get("regularisation")
    full = any(re.match(r"-?d(W|Theta)\[", t) or t in ("loss", "penalty", "J")
               for t in targets)  # not dWdata: the data term
    l2 = l2_of(reg) if reg and caps["l2"] and full else {}
    if reg and not l2 and full:
        problems.append("L2 regularisation (of dW) is not expressible in derive")
    drop = net.get("dropout")
    keep: dict = {}
    if drop and caps.get("dropout"):  # inverted dropout: one keep_prob per hidden layer, 1 elsewhere
        layers = drop.get("layers") or range(1, len(sizes) - 1)
        keep = {"keep_prob": [drop["keep_prob"] if l in layers else 1
                              for l in range(1, len(sizes) - 1)]}
    elif drop:
        problems.append("dropout is not expressible in derive")
    bn = net.get("batchnorm")
    norm: dict = {}
    if bn and caps.get("batchnorm"):  # training-mode batch normalisation on the listed layers
        norm = {"batchnorm": list(bn.get("layers") or range(1, len(sizes)))}
    elif bn:
        problems.append("batch normalisation is not expressible in derive")
    if "loss" in targets and not caps["snippet"]:
        problems.append("derive checks gradients, not the loss a function computes")
    if problems and not nearest:
        raise NotExpressible("; ".join(problems))
    convention = "columns" if net["convention"] == "1d" else net["convention"]
    network = Network(layers=sizes, activations=acts, loss=loss, convention=convention,
                      scale=scale, **l2, **keep, **norm)
    names = item.get("names") or {}
    layer = layer_of(names)
    nielsen_l = names.get("l") if item.get("group") == "nielsen" else None
    if isinstance(nielsen_l, str) and nielsen_l.startswith("int:"):
        # Nielsen's loop variable l counts layers from the output: his l is the course's L-l+1
        layer = len(sizes) - int(nielsen_l.split(":", 1)[1])
    if item.get("kind") == "function":
        layer = call_layer(item) if caps["snippet_layer"] else None
    if caps["layer"] and layer is not None:
        kwargs["layer"] = layer
    if caps["bind"] and item.get("kind") == "function" and item.get("group") == "bound":
        kwargs[caps["bind"]] = call_names(item)
    elif caps["bind"] and item.get("group") == "bound":
        from bench.corpus_report import _written

        bound = {k: _written(v) for k, v in names.items()
                 if isinstance(v, str) and re.match(r"-?d?[A-Za-z]+\[", v)}
        left = re.match(r"\s*([A-Za-z_]\w*)\s*\+?=", textwrap.dedent(item.get("text") or ""))
        target = item["target"]  # the gradient the left side names, when the index omits it
        if left and left.group(1) not in names and isinstance(target, str) \
                and re.fullmatch(r"d?[A-Za-z]+\[\d+\](\.T)?", target):
            bound[left.group(1)] = target
        kwargs[caps["bind"]] = bound
    return network, kwargs


# -- one item ------------------------------------------------------------------------------------
def _verdict_fields(v) -> dict:
    d = v.to_dict()
    return {"verdict": d["verdict"], "message": d["message"], "target": d.get("target"),
            "mistakes": [m["code"] for m in d["mistakes"]],
            "conditions": list(d.get("conditions") or ()), "notes": d.get("notes") or [],
            "uses_wrong": list(d.get("uses_wrong") or ()), "name": d.get("name")}


def _check(item: dict, network, kwargs: dict, caps: dict) -> dict:
    import derive

    text = textwrap.dedent(item["text"]).strip()
    if item["kind"] != "function":
        return _verdict_fields(derive.check(negated(text, item["target"]), network, **kwargs))
    if caps["snippet"]:
        out = getattr(derive, caps["snippet"])(text, network, **kwargs)
    else:
        out = derive.check(None, network, code=text, **kwargs)
    results = list(getattr(out, "results", out))
    return _function_verdict(item, [_verdict_fields(v) for v in results], kwargs.get("layer"))


def negated(text: str, target) -> str:
    """A formula whose target is minus a gradient (``-dZ[1]``: gradient ascent) checked as the
    gradient: its right side negated, ``G = -(...)``."""
    if not (isinstance(target, str) and target.startswith("-")) or "=" not in text:
        return text
    head, sep, rhs = text.partition("=")
    return f"{head}{sep} -({rhs.split('#')[0].strip()})"


def concrete(target: str | None, layer: int | None) -> str | None:
    """A generic target as checked at ``layer``: dW[l] at 2 is dW[2], dA[l-1] is dA[1]."""
    match = re.fullmatch(r"(\w+)\[l([+-]\d+)?\]", target or "")
    if match is None or layer is None:
        return target
    return f"{match.group(1)}[{layer + int(match.group(2) or 0)}]"


#: batch norm's names as derive prints them and as the index spells them
BATCHNORM_SPELLING = (("γ", "gamma"), ("β", "beta"), ("σ²", "var"), ("Z_norm", "Zn"), ("Z̃", "Zt"))


def _function_verdict(item: dict, results: list[dict], layer: int | None = None) -> dict:
    """One verdict for a whole function: right iff every target has its label's verdict; a
    gradient correct on its own but computed from a wrong one (``uses_wrong``) is wrong."""
    labels = item.get("target_labels") or {}
    fallback = "correct" if item["label"] == "correct" else "wrong"
    for r in results:
        if r["verdict"] == "correct" and r.get("uses_wrong"):
            r["verdict"] = "not_equivalent"
            r["message"] = "uses a wrong gradient: " + ", ".join(
                str(u.get("target") or u.get("name")) for u in r["uses_wrong"])
    by_target: dict = {}
    for r in results:  # the first result of a target: the code's own, before any copy of it
        name = "dA[0]" if r["target"] == "dX" else r["target"]  # the index's name for dX
        for printed, spelled in BATCHNORM_SPELLING if name else ():  # derive prints dγ[1];
            name = name.replace(printed, spelled)  # the index writes dgamma[1]
        by_target.setdefault(concrete(name, layer), r)
    # the index's ``returns`` maps the code's own keys onto what they hold (Kulbear's grads["dA1"]
    # holds dA[0]): a target derive named otherwise is found by its key
    keys = item.get("returns") if isinstance(item.get("returns"), dict) else {}
    by_key = {keys[k]: r for r in results
              for k in [re.sub(r"^\w+\[['\"](\w+)['\"]\]$", r"\1", r.get("name") or "")]
              if k in keys}
    wrong_targets, messages = [], []
    for target in item["target"] if isinstance(item["target"], list) else [item["target"]]:
        if target == "loss" and "loss" not in by_target:
            continue  # a derive that does not recognise losses is not judged on them
        want = labels.get(target, fallback)
        want = "correct" if want == "correct" else "wrong"
        got = by_target.get(target.lstrip("-").split(".")[0]) or by_key.get(target)
        verdict = got["verdict"] if got else "missing"
        if target.startswith("-") and got and not returns_bound(item):
            # minus the gradient (ascent), unbound: the sign alone differs
            verdict = "correct" if verdict in WRONG and got["mistakes"] == ["sign_error"] else \
                "not_equivalent" if verdict == "correct" else verdict
        if (want == "correct") != (verdict == "correct") or verdict not in ("correct", *WRONG):
            wrong_targets.append(target)
            messages.append(f"{target}: {verdict}: {got['message'] if got else 'no result'}")
    verdicts = [r["verdict"] for r in results]
    worst = max(verdicts, key=lambda s: ("correct", *WRONG, "parse_error").index(s)
                if s in ("correct", *WRONG, "parse_error") else 9, default="missing")
    return {"verdict": "correct" if not wrong_targets and fallback == "correct" else worst,
            "message": "; ".join(messages), "target": [r["target"] for r in results],
            "mistakes": sorted({m for r in results for m in r["mistakes"]}), "conditions": [],
            "notes": [], "wrong_targets": wrong_targets}


def is_right(item: dict, got: dict) -> bool:
    """Whether derive's verdict agrees with the label (docstring at the top)."""
    want, verdict = expected_of(item), got["verdict"]
    if "wrong_targets" in got:
        return not got["wrong_targets"]
    if want == "correct":
        return verdict == "correct"
    if want == "wrong":
        return verdict in WRONG
    holds = item["label"].get("holds_with") or {}
    contradicts = "sizes" in holds and holds["sizes"] != item["network"]["sizes"]
    if contradicts:
        return verdict in WRONG
    return verdict == "correct" and bool(got["conditions"])


def run_item(item: dict, caps: dict) -> dict:
    """derive's verdict on ``item`` and whether it is right; never raises."""
    result = {"id": item["id"], "corpus": item["corpus"], "kind": item["kind"],
              "group": item["group"], "expected": expected_of(item), "target": item["target"]}
    started = time.perf_counter()
    try:
        if item["kind"] == "function" and not (caps["code"] or caps["snippet"]):
            result.update(verdict="unsupported", message="not yet supported: whole snippets",
                          mistakes=[], conditions=[], right=False)
            try:  # what else it would need
                network_for(item, caps)
            except NotExpressible as exc:
                result["message"] += f"; also: {exc}"
        else:
            _run(item, caps, result)
    except Exception as exc:  # noqa: BLE001 - the bench reports a crash as a miss, and goes on
        result.update(verdict="crash", message=f"{type(exc).__name__}: {exc}", mistakes=[],
                      conditions=[], right=False)
    result["seconds"] = round(time.perf_counter() - started, 3)
    wanted = item.get("mistake")
    if result["expected"] == "wrong" and wanted and wanted != "other" and result["right"]:
        result["mistake_wanted"] = wanted
        result["mistake_named"] = wanted in result["mistakes"]
    result["cause"], result["detail"] = cause_of(result)
    near = result.get("nearest")
    if near is not None:
        near["right"] = is_right(item, near) and near["verdict"] != "unsupported"
        near["cause"], near["detail"] = cause_of({**near, "expected": result["expected"]})
    return result


def _run(item: dict, caps: dict, result: dict) -> None:
    """derive's verdict into ``result``, or not_expressible and the nearest network's verdict."""
    try:
        network, kwargs = network_for(item, caps)
    except NotExpressible as exc:
        network, kwargs = network_for(item, caps, nearest=True)
        result.update(verdict="not_expressible", message=str(exc), mistakes=[], conditions=[],
                      right=False)
        result["nearest"] = _check(item, network, kwargs, caps)
    else:
        got = _check(item, network, kwargs, caps)
        result.update(got, right=is_right(item, got))
        bound = retry_bindings(item, got, caps, network)
        if bound:  # the user follows the error's advice (--bind): the second protocol
            again = _check(item, network, {**kwargs, caps["bind"]: {
                **kwargs.get(caps["bind"], {}), **bound}}, caps)
            result["retry"] = {**again, "bound": bound, "right": is_right(item, again)}


# -- all items ---------------------------------------------------------------------------------
def run(items: list[dict], pin_layer: bool = True) -> list[dict]:
    caps = {**capabilities(), **({} if pin_layer else {"layer": False})}
    return [run_item(item, caps) for item in items]


# -- the baseline -------------------------------------------------------------------------------
def baseline_of(results: list[dict]) -> dict:
    """Our data only: per-group counts and the ids of the items derive gets right."""
    return {"about": "derive check on tests/data/corpus (bench/bench_corpus.py): per-group "
                     "right counts and the ids of the items currently right; ids and counts only",
            "rates": {g: {"items": r["items"], "right": r["right"]}
                      for g, r in rates(results).items()},
            "right_ids": sorted(r["id"] for r in results if r["right"])}


def regressions(results: list[dict], baseline: dict) -> list[str]:
    """Ids the baseline has right that are not right now (items no longer present count)."""
    right = {r["id"] for r in results if r["right"]}
    present = {r["id"] for r in results}
    return sorted(i for i in baseline["right_ids"] if i in present and i not in right)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=(*SOURCES, "all"), default="all")
    parser.add_argument("--dialect", help="only this dialect or notation family")
    parser.add_argument("--id", help="only the items whose id contains this")
    parser.add_argument("--json", action="store_true", help="per-item results as JSON Lines")
    parser.add_argument("--no-layer", action="store_true",
                        help="do not pin un-indexed names to the item's layer (derive's layer=)")
    parser.add_argument("--update-baseline", action="store_true",
                        help=f"rewrite {BASELINE.relative_to(ROOT)} (needs every item)")
    args = parser.parse_args(argv)
    missing = missing_texts(args.corpus)
    if missing:
        print("skipped: the corpus texts are not here (never committed; see "
              "tests/data/corpus/README.md): " + ", ".join(str(p.relative_to(CORPUS)) for p in missing))
        return 0
    items = load_items(args.corpus)
    if args.dialect:
        items = [i for i in items if i["group"] == args.dialect]
    if args.id:
        items = [i for i in items if args.id in i["id"]]
    if args.update_baseline and (args.dialect or args.id or args.corpus != "all" or args.no_layer):
        parser.error("--update-baseline runs every item of both corpora")
    started = time.perf_counter()
    results = run(items, pin_layer=not args.no_layer)
    if args.json:
        for r in results:
            print(json.dumps(r, ensure_ascii=False))
    else:
        report(results)
        print(f"\n{len(results)} items in {time.perf_counter() - started:.1f} s")
    if args.update_baseline:
        BASELINE.write_text(json.dumps(baseline_of(results), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {BASELINE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
