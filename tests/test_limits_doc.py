"""docs/limits.md lists every limit the code declares, with the value the code enforces.

Limits are declared next to the feature they bound (``derive.limits.Limit``); importing every
module of the package collects them all, and the page's table must name each one, with the same
value, unit and flag, and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import derive
from derive.limits import DECLARED

PAGE = Path(__file__).resolve().parent.parent / "docs" / "limits.md"
ROW = re.compile(r"^\|\s*`(?P<name>[a-z_.]+)`\s*\|\s*(?P<value>[\d,]+)\s*\|\s*(?P<unit>[^|]+?)\s*\|"
                 r"\s*(?P<flag>[^|]+?)\s*\|")


def declared() -> dict:
    for module in pkgutil.walk_packages(derive.__path__, "derive."):
        if module.name != "derive.__main__":
            importlib.import_module(module.name)
    return dict(DECLARED)


def documented() -> dict[str, tuple[int, str, str]]:
    rows = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        hit = ROW.match(line)
        if hit:
            assert hit["name"] not in rows, f"{hit['name']} listed twice"
            rows[hit["name"]] = (int(hit["value"].replace(",", "")), hit["unit"],
                                 hit["flag"].strip("`"))
    return rows


def test_every_declared_limit_is_documented_with_its_value():
    code, page = declared(), documented()
    assert code, "no limits declared?"
    assert sorted(page) == sorted(code)
    for name, limit in code.items():
        assert page[name] == (limit.value, limit.unit, limit.flag), name
