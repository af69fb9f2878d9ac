"""``derive check`` on the corpora of real code and LaTeX (issues 12 and 13) never gets worse.

The harness is bench/bench_corpus.py; bench/corpus_baseline.json holds, per dialect or notation
family, how many items derive gets right and the ids of those items (ids and counts only: the
texts are other people's work and never committed). An item the baseline has right that is no
longer right fails the test; improvements move the baseline up
(``python bench/bench_corpus.py --update-baseline``).

The verbatim texts are not in the repository (tests/data/corpus/README.md), so the run against
them skips without them (in CI); the harness's own logic and the baseline's consistency with the
committed index are tested everywhere.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench import bench_corpus as B

TEXTS_MISSING = bool(B.missing_texts())


def _index() -> list[dict]:
    """Every item of both corpora from the committed index alone (no text)."""
    items = []
    for corpus, sources in B.SOURCES.items():
        for kind, index, _ in sources:
            for line in (B.CORPUS / index).read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    row.update(corpus=corpus, kind=kind,
                               group=row.get("dialect") or row.get("family"))
                    items.append(row)
    return items


def _baseline() -> dict:
    return json.loads(B.BASELINE.read_text(encoding="utf-8"))


# -- against the corpus texts (local only) ---------------------------------------------------------
@pytest.mark.skipif(TEXTS_MISSING, reason="the corpus texts are not here (never committed; "
                                          "tests/data/corpus/README.md)")
def test_no_item_that_was_right_goes_wrong():
    results = B.run(B.load_items())
    rates = B.rates(results)
    for group, row in rates.items():  # shown with -rP, -s, or on failure
        print(f"{group}: {row['right']}/{row['items']} right")
    print(f"overall: {sum(r['right'] for r in results)}/{len(results)} right")
    lost = B.regressions(results, _baseline())
    by_id = {r["id"]: r for r in results}
    assert not lost, "right in bench/corpus_baseline.json, not right now:\n" + "\n".join(
        f"  {i}: {by_id[i]['verdict']}: {B._short(by_id[i]['message'])}" for i in lost)
    for group, counts in _baseline()["rates"].items():
        assert rates.get(group, {}).get("right", 0) >= counts["right"], group


# -- everywhere: the baseline and the harness --------------------------------------------------------
def test_the_baseline_holds_ids_and_counts_of_the_index_only():
    baseline, items = _baseline(), _index()
    ids = {i["id"]: i for i in items}
    assert len(ids) == len(items) == 302  # 92 + 35 code, 106 LaTeX, 69 regularisation (READMEs)
    assert set(baseline) == {"about", "rates", "right_ids"}
    assert set(baseline["right_ids"]) <= set(ids)
    right = Counter(f"{ids[i]['corpus']}:{ids[i]['group']}" for i in baseline["right_ids"])
    totals = Counter(f"{i['corpus']}:{i['group']}" for i in items)
    assert set(baseline["rates"]) == set(totals)  # every dialect and family is represented
    for group, counts in baseline["rates"].items():
        assert counts == {"items": totals[group], "right": right[group]}, group


def test_every_item_gets_a_network_or_a_stated_reason():
    caps = B.capabilities()
    reasons = Counter()
    for item in _index():
        try:
            network, kwargs = B.network_for(item, caps)
        except B.NotExpressible as exc:
            reasons[str(exc).split(";")[0]] += 1
            network, kwargs = B.network_for(item, caps, nearest=True)
        assert list(network.layers) == item["network"]["sizes"], item["id"]
        assert network.convention in ("columns", "rows")
        if item["network"].get("m") == 1 and not caps["m"]:
            assert network.scale == "sum", item["id"]  # the mean over one example is the sum
    if not caps["l2"]:  # the course's L2 notebooks (4 dW formulas) have a regularised dW
        assert reasons["L2 regularisation (of dW) is not expressible in derive"] >= 4


def _item(text: str, label, target: str = "dZ[1]", **extra) -> dict:
    """An item written here (the formulas are the course's textbook forms, not corpus text)."""
    network = {"convention": "columns", "m": 5, "scale": "dW", "regularization": None,
               "sizes": [3, 4, 2], "activations": ["tanh", "sigmoid"], "loss": "bce"}
    return {"id": "t", "corpus": "code", "kind": "formula", "group": "course_indexed",
            "text": text, "label": label, "target": target, "network": network, "names": {},
            **extra}


@pytest.mark.parametrize("text, label, right", [
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "correct", True),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "wrong: says so", False),
    ("dZ1 = np.dot(W2.T, dZ2) * A1", "wrong: A1 for g'(Z1)", True),
    ("dZ1 = np.dot(W2.T, dZ2) * A1", "correct", False),
    ("dZ1 = np.dot(W2, dZ2) * (1 - np.power(A1, 2))", "wrong: W2 without its transpose", True),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2)) +", "correct", False),  # a parse error
])
def test_a_verdict_is_right_when_it_agrees_with_the_label(text, label, right):
    result = B.run_item(_item(text, label), B.capabilities())
    assert result["right"] is right, result
    assert (result["cause"] == "") is right


def test_a_named_mistake_is_compared_with_the_label():
    item = _item("dW2 = 1/m * np.dot(dZ2, A1)", "wrong: no transpose", "dW[2]",
                 mistake="missing_transpose")
    result = B.run_item(item, B.capabilities())
    assert result["right"] and result["mistake_wanted"] == "missing_transpose"
    assert result["mistake_named"] is ("missing_transpose" in result["mistakes"])


def test_conditional_labels_need_conditions_or_a_contradiction():
    label = {"verdict": "correct under an assumption", "conditions": ["only when m = 1"],
             "holds_with": {"m": 1}}
    item = _item("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", label)
    assert B.is_right(item, {"verdict": "correct", "conditions": ["only when m = 1"]})
    assert not B.is_right(item, {"verdict": "correct", "conditions": []})
    assert not B.is_right(item, {"verdict": "not_equivalent", "conditions": []})
    sizes = {**label, "holds_with": {"sizes": [1, 1, 1]}}  # the network given has 3, 4, 2
    assert B.is_right({**item, "label": sizes}, {"verdict": "not_equivalent", "conditions": []})
    assert not B.is_right({**item, "label": sizes}, {"verdict": "correct", "conditions": ["x"]})


def test_what_derive_cannot_be_told_is_a_miss_with_its_reason():
    item = _item("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", "correct")
    item["network"] = {**item["network"], "loss": "no_such_loss"}
    result = B.run_item(item, B.capabilities())
    assert result["verdict"] == "not_expressible" and not result["right"]
    assert result["cause"] == "not expressible: the loss no_such_loss"
    assert result["nearest"]["verdict"] == "correct"  # a generic loss: dZ1 does not need it
    assert result["nearest"]["right"]


def test_the_bench_skips_cleanly_without_the_texts(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(B, "CORPUS", tmp_path)
    assert B.main(["--corpus", "latex"]) == 0
    assert capsys.readouterr().out.startswith("skipped: the corpus texts are not here")


@pytest.mark.parametrize("names, layer", [
    ({"dZ": "dZ[2]", "A_prev": "A[1]", "W": "W[2]", "m": "m"}, 2),  # the course's linear_backward
    ({"A_prev": "A[2]", "m": "m"}, 3),  # only the previous layer's activation: one above it
    ({"x": "A[1]", "w": "W[2]", "dout": "dZ[2]"}, 2),  # CS231n's affine_backward at layer 2
    ({"A": "A[1]", "X": "X", "Y": "Y"}, 1),  # logistic regression
    ({"A1": "A[1]", "W2": "W[2]", "X": "X"}, None),  # every name carries its index
])
def test_the_layer_of_un_indexed_names(names, layer):
    assert B.layer_of(names) == layer
