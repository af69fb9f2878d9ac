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
- L2 regularisation matters only to dW (the full gradient), so other targets drop it.
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
``bound`` dialect passes its ``names`` when derive takes bindings.
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
CORPUS = ROOT / "tests" / "data" / "corpus"
BASELINE = Path(__file__).resolve().parent / "corpus_baseline.json"
SOURCES = {  # corpus -> (kind, index file, text file)
    "code": [("formula", "code/formulas.index.jsonl", "code/formulas.text.jsonl"),
             ("function", "code/functions.index.jsonl", "code/functions.text.jsonl")],
    "latex": [("latex", "latex/index.jsonl", "latex/text.jsonl")],
}
LOSSES = {"bce": "bce", "ce": "ce", "mse_half": "half_mse", "half_mse": "half_mse",
          "sse": "mse", "mse": "mse"}
SCALE_DZ = ("dZ", "dz", "output", "in_dZ")  # names a scale "1/m inside dZ[L]" may get in derive
WRONG = ("not_equivalent", "shape_error")


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
                    row.update(corpus=name, kind=kind, text=texts[row["id"]],
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
        "scale_dz": next((s for s in SCALE_DZ if s in spec.SCALES), None),
        "l2": any(n in net_params for n in ("regularization", "regularisation", "l2")),
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
    if reg and not caps["l2"] and any(re.match(r"-?d(W|Theta)\[", t) for t in targets):
        problems.append("L2 regularisation (of dW) is not expressible in derive")
    if net.get("dropout"):
        problems.append("dropout is not expressible in derive")
    if "loss" in targets:
        problems.append("derive checks gradients, not the loss a function computes")
    if problems and not nearest:
        raise NotExpressible("; ".join(problems))
    convention = "columns" if net["convention"] == "1d" else net["convention"]
    network = Network(layers=sizes, activations=acts, loss=loss, convention=convention,
                      scale=scale)
    names = item.get("names") or {}
    layer = layer_of(names)
    if caps["layer"] and layer is not None:
        kwargs["layer"] = layer
    if caps["bind"] and item.get("group") == "bound":
        bound = {k: v for k, v in names.items()
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
            "conditions": list(d.get("conditions") or ()), "notes": d.get("notes") or []}


def _check(item: dict, network, kwargs: dict, caps: dict) -> dict:
    import derive

    text = textwrap.dedent(item["text"]).strip()
    if item["kind"] != "function":
        return _verdict_fields(derive.check(text, network, **kwargs))
    if caps["snippet"]:
        out = getattr(derive, caps["snippet"])(text, network, **kwargs)
    else:
        out = derive.check(None, network, code=text, **kwargs)
    results = list(getattr(out, "results", out))
    return _function_verdict(item, [_verdict_fields(v) for v in results])


def _function_verdict(item: dict, results: list[dict]) -> dict:
    """One verdict for a whole function: right iff every target has its label's verdict."""
    labels = item.get("target_labels") or {}
    fallback = "correct" if item["label"] == "correct" else "wrong"
    by_target = {r["target"]: r for r in results}
    wrong_targets, messages = [], []
    for target in item["target"]:
        if target == "loss":
            continue
        want = labels.get(target, fallback)
        want = "correct" if want == "correct" else "wrong"
        got = by_target.get(target.lstrip("-").split(".")[0])
        verdict = got["verdict"] if got else "missing"
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


# -- why it missed --------------------------------------------------------------------------------
CAUSES = [  # (cause, pattern of the first line of derive's message; group 1 is the detail)
    ("needs a layer index (un-indexed name)", r"^(\w+) needs a layer index"),
    ("unknown name", r"unknown name '([^']*)'"),
    ("unknown name", r"unknown names ([^:]*):"),
    ("LaTeX command not read", r"LaTeX command (\\\w+) is not read"),
    ("more than one '=' (chain or where-clause)", r"more than one '='"),
    ("example index (i)", r"an example index is written"),
    ("∂ read as ∂L/∂Q only", r"∂ is read as"),
    ("comment (#) not read", r"unexpected character '#'"),
    ("unexpected character", r"unexpected character '(.)'"),
    ("operand expected (a += line?)", r"operand was expected after '(.)'"),
    ("expected a character", r"expected '(.)' here"),
    ("unexpected keyword", r"keyword '?(\w+)"),
    ("layer not readable", r"cannot read '([^']*)' as a layer"),
    ("function without its argument", r"a function needs its argument"),
    ("not an equation", r"an equation needs a left side"),
    ("layer not in the network", r"^(\S+) is not in this network"),
    ("attribute not allowed", r"the attribute (\.\w+) is not allowed"),
    ("dA_prev at layer 1 (dX)", r"dA_prev would be dA\[0\]"),
    ("unknown function or method", r"unknown (?:function|method|call) '?([\w.]+)"),
]


def cause_of(result: dict) -> tuple[str, str]:
    """(cause, detail): a short name for why ``result`` missed, ("", "") when it is right."""
    if result["right"]:
        return "", ""
    verdict, first = result["verdict"], (result["message"] or "").splitlines()[0:1]
    message = first[0] if first else ""
    if verdict == "not_expressible":
        return "not expressible: " + re.sub(r" is not .*| \(.*", "", message.split(";")[0]), ""
    if verdict == "unsupported":
        return "no snippet support", ""
    if verdict == "correct":
        return ("conditions not stated" if result.get("expected") == "conditional"
                else "false pass: called correct"), ""
    if verdict in WRONG:
        return f"false alarm: {verdict}", ", ".join(result["mistakes"])
    if verdict == "parse_error":
        for cause, pattern in CAUSES:
            match = re.search(pattern, message)
            if match:
                return f"parse error: {cause}", match.group(1) if match.groups() else ""
        return "parse error: other", message[:60]
    return verdict, message[:60]  # internal_error, crash


# -- all items ---------------------------------------------------------------------------------
def run(items: list[dict], pin_layer: bool = True) -> list[dict]:
    caps = {**capabilities(), **({} if pin_layer else {"layer": False})}
    return [run_item(item, caps) for item in items]


def rates(results: list[dict]) -> dict:
    """group -> counts: items, right, parse errors, wrong verdicts, not expressible, other."""
    table: dict[str, Counter] = {}
    for r in results:
        row = table.setdefault(f"{r['corpus']}:{r['group']}", Counter())
        row["items"] += 1
        row["right"] += r["right"]
        if not r["right"]:
            key = {"parse_error": "parse_errors", "correct": "wrong_verdicts",
                   "not_equivalent": "wrong_verdicts", "shape_error": "wrong_verdicts",
                   "not_expressible": "not_expressible", "unsupported": "not_expressible"}
            row[key.get(r["verdict"], "internal")] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


COLUMNS = ("items", "right", "parse_errors", "wrong_verdicts", "not_expressible", "internal")


def report(results: list[dict], out=sys.stdout) -> None:
    table = rates(results)
    width = max([len(k) for k in table] + [5])
    print(f"{'group':<{width}}  " + "  ".join(f"{c:>15}" for c in COLUMNS) + "     rate", file=out)
    totals: Counter = Counter()
    for group, row in table.items():
        totals.update(row)
        print(f"{group:<{width}}  " + "  ".join(f"{row.get(c, 0):>15}" for c in COLUMNS)
              + f"  {row['right'] / row['items']:>6.1%}", file=out)
    for corpus in sorted({r["corpus"] for r in results}):
        sub = [r for r in results if r["corpus"] == corpus]
        right = sum(r["right"] for r in sub)
        print(f"{corpus}: {right}/{len(sub)} right ({right / len(sub):.1%})", file=out)
    if results:
        print(f"overall: {totals['right']}/{totals['items']} right "
              f"({totals['right'] / totals['items']:.1%})", file=out)
    named = [r for r in results if "mistake_named" in r]
    if named:
        hits = sum(r["mistake_named"] for r in named)
        print(f"mistake codes: {hits}/{len(named)} right wrong-verdicts name the labelled mistake",
              file=out)
        for r in named:
            if not r["mistake_named"]:
                print(f"  {r['id']}: wants {r['mistake_wanted']}, derive names "
                      f"{', '.join(r['mistakes']) or 'none'}", file=out)
    misses = [r for r in results if not r["right"]]
    print("\nmisses by cause (details: the name, command or mistake codes derive gave):", file=out)
    _causes(misses, out)
    nearest = [{**r["nearest"], "id": r["id"]} for r in misses if r.get("nearest")]
    if nearest:
        print(f"\nthe {len(nearest)} not expressible items on their nearest network:", file=out)
        _causes([n for n in nearest if not n["right"]], out)
        print(f"  {sum(n['right'] for n in nearest):>4}  right there", file=out)
    print("\nmisses (derive's message, first line):", file=out)
    for r in misses:
        near = r.get("nearest")
        extra = f"  [nearest: {near['verdict']}: {_short(near['message'])}]" if near else ""
        print(f"  {r['id']} ({r['expected']}; {r['verdict']}): {_short(r['message'])}{extra}",
              file=out)


def _causes(misses: list[dict], out) -> None:
    causes = Counter(r["cause"] for r in misses)
    for cause, n in causes.most_common():
        details = Counter(r["detail"] for r in misses if r["cause"] == cause and r["detail"])
        shown = ", ".join(f"{d} {k}" if k > 1 else d for d, k in details.most_common(8))
        more = "" if len(details) <= 8 else f", … ({len(details) - 8} more)"
        print(f"  {n:>4}  {cause}" + (f"  [{shown}{more}]" if shown else ""), file=out)


def _short(message: str) -> str:
    """The first line of a message, without the list of known names."""
    first = (message or "").splitlines()[0] if message else ""
    return re.sub(r"; known: .*?(?= \(at position|$)", "", first)[:160]


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
    parser.add_argument("--corpus", choices=("code", "latex", "all"), default="all")
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
