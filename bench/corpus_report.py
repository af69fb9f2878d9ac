"""The report of bench/bench_corpus.py: the rates per group under both protocols, why each miss
missed, and the misses (what derive printed may quote the corpus texts: it goes to stdout only).
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections import Counter

WRONG = ("not_equivalent", "shape_error")


def with_retry(result: dict) -> dict:
    """The result under the second protocol: the retry's, where there was one."""
    retry = result.get("retry")
    if retry is None:
        return result
    out = {**result, **{k: v for k, v in retry.items() if k != "bound"}}
    out["cause"], out["detail"] = cause_of(out)
    return out


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


def rates(results: list[dict], by_kind: bool = False) -> dict:
    """group -> counts: items, right, right with the retry (the second protocol: binding the
    names a parse error lists), parse errors, wrong verdicts, not expressible, other (these
    four under the second protocol)."""
    table: dict[str, Counter] = {}
    for first in results:
        r = with_retry(first)
        key = f"{r['corpus']}:{r['group']}" + (f":{r['kind']}" if by_kind else "")
        row = table.setdefault(key, Counter())
        row["items"] += 1
        row["right"] += first["right"]
        row["right_with_retry"] += r["right"]
        if not r["right"]:
            key = {"parse_error": "parse_errors", "correct": "wrong_verdicts",
                   "not_equivalent": "wrong_verdicts", "shape_error": "wrong_verdicts",
                   "not_expressible": "not_expressible", "unsupported": "not_expressible"}
            row[key.get(r["verdict"], "internal")] += 1
    return {k: dict(v) for k, v in sorted(table.items())}


COLUMNS = ("items", "right", "right_with_retry", "parse_errors", "wrong_verdicts",
           "not_expressible", "internal")
PROTOCOLS = (
    "protocol 1: each item alone, with its network and layer (names only for the 'bound' group)",
    "protocol 2: after a parse error that lists unknown names, one retry binding exactly those "
    "names from the item's annotation, where it gives a quantity (the user following the "
    "error's advice, --bind)")


def report(results: list[dict], out=sys.stdout) -> None:
    table = rates(results, by_kind=True)
    width = max([len(k) for k in table] + [5])
    for line in PROTOCOLS:
        print(line, file=out)
    print(f"\n{'group:kind':<{width}}  " + "  ".join(f"{c:>16}" for c in COLUMNS)
          + "   rate 1   rate 2", file=out)
    totals: Counter = Counter()
    for group, row in table.items():
        totals.update(row)
        print(f"{group:<{width}}  " + "  ".join(f"{row.get(c, 0):>16}" for c in COLUMNS)
              + f"  {row['right'] / row['items']:>6.1%}"
              + f"  {row['right_with_retry'] / row['items']:>6.1%}", file=out)
    for corpus in sorted({r["corpus"] for r in results}):
        for kind in sorted({r["kind"] for r in results if r["corpus"] == corpus}):
            sub = [r for r in results if r["corpus"] == corpus and r["kind"] == kind]
            one = sum(r["right"] for r in sub)
            two = sum(with_retry(r)["right"] for r in sub)
            print(f"{corpus} {kind}s: {one}/{len(sub)} right ({one / len(sub):.1%}); with the "
                  f"retry {two}/{len(sub)} ({two / len(sub):.1%})", file=out)
    if results:
        print(f"overall: {totals['right']}/{totals['items']} right "
              f"({totals['right'] / totals['items']:.1%}); with the retry "
              f"{totals['right_with_retry']}/{totals['items']} "
              f"({totals['right_with_retry'] / totals['items']:.1%})", file=out)
    named = [r for r in results if "mistake_named" in r]
    if named:
        hits = sum(r["mistake_named"] for r in named)
        print(f"mistake codes: {hits}/{len(named)} right wrong-verdicts name the labelled mistake",
              file=out)
        for r in named:
            if not r["mistake_named"]:
                print(f"  {r['id']}: wants {r['mistake_wanted']}, derive names "
                      f"{', '.join(r['mistakes']) or 'none'}", file=out)
    retried = [r for r in results if r.get("retry")]
    if retried:
        print(f"\nretried (protocol 2) {len(retried)}, right after binding "
              f"{sum(r['retry']['right'] for r in retried)}:", file=out)
        for r in retried:
            bound = ",".join(f"{k}={v}" for k, v in r["retry"]["bound"].items())
            print(f"  {r['id']}: --bind \"{bound}\" -> {r['retry']['verdict']}"
                  f"{'' if r['retry']['right'] else ' (still a miss)'}", file=out)
    second = [with_retry(r) for r in results]
    misses = [r for r in second if not r["right"]]
    print("\nmisses under protocol 2 (with the retry), by cause (details: the name, command or "
          "mistake codes derive gave):", file=out)
    _causes(misses, out)
    nearest = [{**r["nearest"], "id": r["id"]} for r in misses if r.get("nearest")]
    if nearest:
        print(f"\nthe {len(nearest)} not expressible items on their nearest network:", file=out)
        _causes([n for n in nearest if not n["right"]], out)
        print(f"  {sum(n['right'] for n in nearest):>4}  right there", file=out)
    print("\nmisses under protocol 2 (derive's message, first line):", file=out)
    for r in misses:
        near = r.get("nearest")
        extra = f"  [nearest: {near['verdict']}: {_short(near['message'])}]" if near else ""
        print(f"  {r['id']} ({r['kind']}; {r['expected']}; {r['verdict']}): "
              f"{_short(r['message'])}{extra}", file=out)


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


__all__ = ["CAUSES", "COLUMNS", "PROTOCOLS", "WRONG", "cause_of", "rates", "report", "with_retry"]


# -- the second protocol: binding the names an error lists -----------------------------------------
UNKNOWN = re.compile(r"unknown name '([^']*)'|unknown names ([^:]*):")
QUANTITY = re.compile(r"d?[WbZA]\[\d+\](\.T)?|X|Y|m")


def retry_bindings(item: dict, got: dict, caps: dict, network=None) -> dict:
    """After a parse error that lists unknown names, the names to bind on a retry: exactly those
    names, from the item's ``names`` annotation, where it gives a quantity (``A[2]``, ``dZ[1]``,
    ``W[1].T``, X, Y, m) or a formula derive reads over the item's network (``g[2]'(Z[2])``,
    ``sigmoid_prime(Z[1])``: derive reads a binding's formula with its own parser); {} when
    there is nothing to retry (no binding in derive, no such error, no such annotation). For a
    whole function, the names its errors list that its caller fills (the item's ``call``)."""
    if not caps["bind"]:
        return {}
    if item["kind"] == "function":  # the names an error lists that the caller fills
        from bench.corpus_calls import call_names

        listed = [n for m in UNKNOWN.finditer(got.get("message") or "")
                  for n in ([m.group(1)] if m.group(1) else m.group(2).split(","))]
        given = call_names(item)
        return {n.strip(): given[n.strip()] for n in listed if n.strip() in given}
    if item["kind"] != "formula" or got["verdict"] != "parse_error":
        return {}
    match = UNKNOWN.search((got["message"] or "").splitlines()[0] if got["message"] else "")
    if match is None:
        return {}
    listed = [match.group(1)] if match.group(1) else [n.strip() for n in match.group(2).split(",")]
    names = dict(item.get("names") or {})
    left = re.match(r"\s*([A-Za-z_]\w*)\s*[-+]?=", textwrap.dedent(item.get("text") or ""))
    if left and left.group(1) not in names and isinstance(item["target"], str):
        names[left.group(1)] = item["target"]  # the left side names the item's target
    names = {k: _written(v) for k, v in names.items()}
    names.update({n: v for n in listed if (v := entry_value(n, names)) is not None})
    return {n: names[n] for n in listed if isinstance(names.get(n), str) and (
        QUANTITY.fullmatch(names[n].strip()) or is_formula(names[n], network))}


def entry_value(key: str, names: dict) -> str | None:
    """What a list or dict entry an error asks to bind (``Y_oh[i]``, ``self.weights[k]``,
    ``A[k+1]``) holds, from the annotations of its container and its index, as the user who
    wrote the code knows it: ``stack:Y`` is one example of Y; ``list:A`` is a list whose entry i
    is A[i]; ``nielsen:...`` is Nielsen's network, whose ``weights[i]`` is W[i+1]."""
    match = re.fullmatch(r"(\w+)(?:\.(\w+))?\[(\w+)([+-]\d+)?\]", key)
    if match is None:
        return None
    base, attr, index, offset = match.groups()
    held = names.get(base)
    if not isinstance(held, str):
        return None
    if held.startswith("stack:") and attr is None:
        return held.split(":", 1)[1]
    at = names.get(index)
    if not (isinstance(at, str) and at.startswith("int:")):
        return None
    i = int(at.split(":", 1)[1]) + int(offset or 0)
    if held.startswith("list:") and attr is None:
        return f"{held.split(':', 1)[1]}[{i}]"
    if held.startswith("nielsen:") and attr in ("weights", "biases"):
        return f"{'W' if attr == 'weights' else 'b'}[{i + 1}]"
    return None


def _written(value):
    """An annotation as a user writes it: the corpora's ``gp[2]`` (g′ at layer 2, evaluated at
    Z[2]) is ``g[2]'(Z[2])``."""
    match = re.fullmatch(r"\s*gp\[(\d+)\]\s*", value) if isinstance(value, str) else None
    return f"g[{match.group(1)}]'(Z[{match.group(1)}])" if match else value


def is_formula(value: str, network) -> bool:
    """Whether derive reads ``value`` as a formula over ``network`` (a binding it accepts)."""
    if network is None:
        return False
    from derive.errors import DeriveError
    from derive.parse import parse_expression

    try:
        parse_expression(value, network)
    except DeriveError:
        return False
    return True
