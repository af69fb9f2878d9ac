"""Variant determinism: the same id and secret give the same network; another secret, over many
ids, gives different ones; no secret is an error."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from derive.errors import UsageError
from derive.grade.variants import draw_variant

RANGES = {"sizes": [[2, 6], [2, 6], [1, 3]], "activations": [["relu", "tanh", "sigmoid"],
          ["sigmoid", "softmax"]], "loss": ["bce", "ce", "mse"]}
IDS = [f"s{i:03d}" for i in range(200)]


def test_same_id_and_secret_same_variant():
    assert [draw_variant(s, "k1", RANGES) for s in IDS] == \
        [draw_variant(s, "k1", RANGES) for s in IDS]


def test_another_secret_changes_most_variants():
    changed = sum(draw_variant(s, "k1", RANGES) != draw_variant(s, "k2", RANGES) for s in IDS)
    assert changed > 180  # a collision of all five fields has probability well under 1/20


def test_draws_stay_in_range_and_cover_it():
    vs = [draw_variant(s, "k1", RANGES) for s in IDS]
    assert {v["layers"][0] for v in vs} == {2, 3, 4, 5, 6}
    assert {v["loss"] for v in vs} == {"bce", "ce", "mse"}
    assert all(1 <= v["layers"][2] <= 3 for v in vs)


def test_draw_is_the_keyed_hash():
    mac = hmac.new(b"k1", b"s007\x00size0", hashlib.sha256).digest()
    assert draw_variant("s007", "k1", RANGES)["layers"][0] == 2 + int.from_bytes(mac, "big") % 5


def test_no_default_secret():
    with pytest.raises(UsageError, match="secret"):
        draw_variant("s001", "", RANGES)
