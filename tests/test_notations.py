"""`derive notations` (issue 13, item 7): every family's example is read and correct, the page
docs/notations.md is the command's output, and the families come from the parsers' tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from derive.check.checker import check
from derive.cli import main
from derive.network.spec import Network
from derive.parse.latex_layers import NOTES
from derive.parse.latex_names import TEXTBOOK
from derive.parse.latex_notations import NETS, families, render
from derive.parse.latex_tokens import GREEK

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [(f.name, e) for f in families() for e in f.examples]


@pytest.mark.parametrize("family,example", EXAMPLES, ids=[f"{n}:{e.formula[:30]}"
                                                           for n, e in EXAMPLES])
def test_every_example_is_read_and_correct(family, example):
    v = check(example.formula, Network(**NETS[example.net]), layer=example.layer)
    assert v.verdict == "correct", (family, example.formula, v.message)


def test_the_page_is_the_commands_output(capsys):
    assert main(["notations"]) == 0
    out = capsys.readouterr().out
    assert out == render()
    assert (ROOT / "docs" / "notations.md").read_text(encoding="utf-8") == out, (
        "docs/notations.md is stale: run `derive notations > docs/notations.md`")


def test_the_families_come_from_the_parsers_tables(capsys):
    page = render()
    for key in (*GREEK, *TEXTBOOK):
        assert f"`\\{key}`" in page or f"`{key}`" in page, key
    assert all(note in page for note in NOTES.values())
    assert main(["notations", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["name"] for f in data["families"]] == [f.name for f in families()]
    assert {d["key"] for d in data["dialects"]} >= {"course", "cs231n", "nielsen"}
