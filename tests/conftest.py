"""Shared test set-up: the proof cache never touches the user's real cache folder.

Every test gets an empty proof cache of its own (``$DERIVE_CACHE_DIR`` pointed at a fresh
temporary folder), so a test sees the cache as a first run does, and two proofs of one network
in one test show the second one cached. ``pytest_configure`` also points it at a session folder
before collection, which covers the doctests under ``derive/`` (this file's fixtures apply to
``tests/`` only) and every subprocess a test starts. Independently of this file,
:mod:`derive.engine.proof_cache` turns the cache off under pytest when ``$DERIVE_CACHE_DIR`` is
unset (``pytest derive/engine/proof.py`` alone does not load this file).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


def pytest_configure(config):
    folder = tempfile.mkdtemp(prefix="derive-test-cache-")  # whatever the caller's was
    os.environ["DERIVE_CACHE_DIR"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(autouse=True)
def _proof_cache_dir(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DERIVE_CACHE_DIR", str(tmp_path_factory.mktemp("proof-cache")))
    monkeypatch.delenv("DERIVE_NO_CACHE", raising=False)
