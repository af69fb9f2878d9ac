"""The proof cache (derive/engine/proof_cache.py) never changes a result: proven with and without
it, every formula's verdicts, entries, methods and errors are the same; a corrupt or foreign entry
is proven again; two processes writing at once leave whole entries; --no-cache proves afresh."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main
from derive.core import expr as E
from derive.engine import proof_cache
from derive.engine.backward import derive as run
from derive.engine.proof import prove
from derive.network.spec import Network

NETWORKS = {
    "dense": Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce"),
    "l2": Network(layers=[3, 4, 2], activations=["tanh", "softmax"], loss="ce", l2=0.1),
    "dropout": Network(layers=[3, 4, 4, 1], activations=["relu", "tanh", "sigmoid"], loss="bce",
                       keep_prob=0.8),
    "batchnorm": Network(layers=[2, 3, 1], activations=["relu", "sigmoid"], loss="bce", batchnorm=[1]),
    "generic": Network(depth=3),
}


def _result(proof) -> dict:
    """Everything a proof says but when its results were found."""
    data = proof.to_dict()
    data.pop("cached")
    for f in data["formulas"]:
        f.pop("cached")
    return data


def _entries(folder: Path) -> list[Path]:
    return sorted((folder / f"proofs-v{proof_cache.FORMAT}").glob("*.json"))


@pytest.mark.parametrize("name", NETWORKS)
def test_cached_proofs_equal_fresh_ones(name, tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    d = run(NETWORKS[name], prove=False)
    fresh = prove(d, cache=False)
    assert not _entries(tmp_path)  # cache=False neither reads nor writes
    first = prove(d)  # an empty cache: proven, then stored
    assert first.cached == (0, None) and _entries(tmp_path)
    warm = prove(d)  # every formula from the cache
    assert warm.cached[0] == len(d.formulas) and warm.cached[1] is not None
    assert _result(fresh) == _result(first) == _result(warm)
    assert warm.passed and all(f.cached for f in warm.formulas)


def test_a_network_sharing_problems_reuses_them(tmp_path, monkeypatch):
    # depth 6 tanh poses every problem of depth 8 (layers named relative to the formula's)
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    prove(run(Network(layers=[3] * 7 + [1], activations=["tanh"] * 6 + ["sigmoid"], loss="bce"),
              prove=False))
    deeper = run(Network(layers=[3] * 9 + [1], activations=["tanh"] * 8 + ["sigmoid"], loss="bce"),
                 prove=False)
    shared = prove(deeper)
    assert shared.cached[0] == len(deeper.formulas)
    assert _result(shared) == _result(prove(deeper, cache=False))


def test_a_wrong_formula_never_borrows_a_cached_proof(tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    d = run(NETWORKS["dense"], prove=False)
    assert prove(d).passed
    wrong = tuple(f if f.name != "dW[1]" else type(f)(f.layer, f.target, E.Scale(2, f.expr), f.kind,
                                                      f.local) for f in d.formulas)
    p = prove(type(d)(d.network, wrong, d.steps, d.notes))
    bad = next(f for f in p.formulas if f.name == "dW[1]")
    assert bad.cached is None and bad.elementwise == "failed" and not bad.fd_passed
    assert all(f.cached for f in p.formulas if f.name != "dW[1]")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "version", "catalogue", "key", "field"])
def test_a_corrupt_or_foreign_entry_is_proven_again(damage, tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    d = run(NETWORKS["dense"], prove=False)
    fresh = prove(d)
    for path in _entries(tmp_path):
        text = path.read_text(encoding="utf-8")
        entry = json.loads(text)
        if damage == "truncate":
            path.write_text(text[: len(text) // 2], encoding="utf-8")
            continue
        if damage == "garbage":
            path.write_bytes(b"\xff\x00 not json")
            continue
        if damage == "version":
            entry["version"] = "0.0.0-other"
        elif damage == "catalogue":
            entry["catalogue"] = "0" * 64
        elif damage == "key":  # a file under the wrong name (a collision, a hand edit)
            entry["key"] = entry["key"] + " "
        elif damage == "field":  # a result that lost a field or holds a wrong type
            entry["result"].pop("method", None)
            entry["result"]["text"] = 3
            entry["result"]["fd_error"] = "small"
        path.write_text(json.dumps(entry), encoding="utf-8")
    again = prove(d)
    assert again.cached == (0, None)  # nothing taken from the damaged entries
    assert _result(again) == _result(fresh)
    warm = prove(d)  # and they were replaced by good ones
    assert warm.cached[0] == len(d.formulas) and _result(warm) == _result(fresh)


_WRITER = """
import sys
from derive.engine.backward import derive
from derive.engine.proof import prove
from derive.network.spec import Network
net = Network(layers=[3, 4, 4, 1], activations=["relu", "tanh", "sigmoid"], loss="bce", l2=0.1)
p = prove(derive(net, prove=False))
print(p.passed, p.max_fd_error)
"""


def test_two_processes_writing_at_once_leave_whole_entries(tmp_path):
    env = {**os.environ, "DERIVE_CACHE_DIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0] and outs[0][0].startswith("True")
    entries = _entries(tmp_path)
    assert entries and not list((tmp_path / f"proofs-v{proof_cache.FORMAT}").glob(".tmp-*"))
    for path in entries:  # every file a whole entry
        assert set(json.loads(path.read_text(encoding="utf-8"))) >= {"key", "version", "result"}
    net = Network(layers=[3, 4, 4, 1], activations=["relu", "tanh", "sigmoid"], loss="bce", l2=0.1)
    d = run(net, prove=False)
    os.environ["DERIVE_CACHE_DIR"] = str(tmp_path)  # restored by conftest's monkeypatch
    warm = prove(d)
    assert warm.cached[0] == len(d.formulas)
    assert _result(warm) == _result(prove(d, cache=False))
    assert outs[0][0].split() == ["True", repr(warm.max_fd_error)]


def test_the_outputs_say_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    base = ["backward", "--layers", "3,3,1", "--act", "relu,sigmoid", "--loss", "bce"]
    assert main(base) == 0
    assert "cached" not in capsys.readouterr().out  # the first run proves
    for fmt, needle in [("text", "; proven (cached, 20"), ("markdown", "; proven (cached, 20"),
                        ("latex", "% proof: all proven: element-wise")]:
        assert main([*base, "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert needle in out and "proven (cached, 20" in out, fmt
    assert main([*base, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["proof"]["cached"]["formulas"] == 8
    assert all(f["cached"].startswith("20") for f in data["proof"]["formulas"])
    assert main([*base, "--no-cache", "--format", "json"]) == 0  # proven afresh
    data = json.loads(capsys.readouterr().out)
    assert data["proof"]["cached"] is None and data["proof"]["passed"] is True
    assert all(f["cached"] is None for f in data["proof"]["formulas"])
    assert proof_cache.enabled()  # --no-cache ends with its command


def test_the_page_and_the_handout_say_cached_too(tmp_path, monkeypatch):
    from derive.handout.document import handout
    from derive.web.html import derivation_html

    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    net = Network(layers=[3, 3, 1], activations=["relu", "sigmoid"], loss="bce")
    first = run(net)
    assert "cached" not in derivation_html(first)
    again = run(net)
    assert "; proven (cached, 20" in derivation_html(again)
    tex = handout(net, sections=("verification",)).tex
    assert "Result: all proven; proven (cached, 20" in tex


def test_no_cache_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path))
    assert main(["--no-cache", "backward", "--layers", "2,2,1"]) == 0
    monkeypatch.setenv("DERIVE_NO_CACHE", "1")
    assert main(["backward", "--layers", "2,3,1"]) == 0
    assert "cached" not in capsys.readouterr().out
    assert not _entries(tmp_path)


def test_the_cache_is_bounded(tmp_path):
    cache = proof_cache.Cache(tmp_path)
    for i in range(30):
        cache.put(["test", i], {"i": i})
        os.utime(cache._path(cache.key_text(["test", i])), (1000 + i, 1000 + i))
    assert cache.prune(limit=20) == 30 - 18  # down to 90% of the bound, the oldest first
    kept = {json.loads(p.read_text(encoding="utf-8"))["result"]["i"] for p in tmp_path.glob("*.json")}
    assert kept == set(range(12, 30))
    assert cache.get(["test", 29]) is not None and cache.get(["test", 0]) is None
    stale, fresh = tmp_path / ".tmp-stale.json", tmp_path / ".tmp-live.json"  # a killed writer's
    stale.write_text("{", encoding="utf-8")
    fresh.write_text("{", encoding="utf-8")
    os.utime(stale, (1000, 1000))
    cache.prune(limit=20)
    assert not stale.exists() and fresh.exists()  # a live writer's file stays


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(blocker))  # mkdir fails under a file
    d = run(NETWORKS["dense"], prove=False)
    assert _result(prove(d)) == _result(prove(d, cache=False))


def test_tests_never_write_the_users_cache(monkeypatch):
    monkeypatch.delenv("DERIVE_CACHE_DIR")
    assert os.environ.get("PYTEST_CURRENT_TEST")
    assert proof_cache.directory() is None and proof_cache.open_cache() is None
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    if sys.platform.startswith("linux"):
        assert proof_cache.directory() == Path("/somewhere/cache/derive/proofs-v1")
