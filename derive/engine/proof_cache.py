"""The proof cache: each local proof problem's result, kept on disk between runs.

A proof is the expensive part of a cold run (SymPy's ``simplify`` on every entry of every local
problem). Its result depends only on the problem, which :mod:`derive.engine.proof` writes in a
canonical form (layers named relative to the formula's, activations by catalogue name, shapes at
the instance's sizes); that form, the tool's version, a hash of the catalogue files (``rules/``)
and a hash of the source files the proof runs through are the entry's key. An entry holds both
proofs (the element-wise verdict, its entries and method, the finite-difference error) and the
date it was proven.

Where: ``$DERIVE_CACHE_DIR`` if set, else the platform's user cache directory
(``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%``
on Windows), in ``derive/proofs-v1``. ``$DERIVE_NO_CACHE`` (any value but ``""`` or ``0``) or
``--no-cache`` on the command line proves afresh: nothing is read or written. Under pytest
(``$PYTEST_CURRENT_TEST`` set) without ``$DERIVE_CACHE_DIR`` the cache is off, so a test run never
writes the user's real cache (tests/conftest.py points ``$DERIVE_CACHE_DIR`` at a temporary
folder for every test).

Safety: one JSON file per entry, named by the SHA-256 of its key, written to a temporary file in
the same folder and moved into place with :func:`os.replace` (atomic on POSIX and Windows), so
two processes proving at once each leave a whole entry and a reader never sees half of one. An
entry that does not parse, lacks a field, has another key (a hash collision, a hand-edited file),
another version or another catalogue or source hash is ignored and proven again (and replaced).
A cache that cannot be read or written (read-only, full disk) is skipped silently: the cache
only ever saves time, it never decides a verdict.

Size: at most :data:`MAX_ENTRIES` entries (each well under 2 KB: about 10 MB). When a write takes
the count past it, the oldest entries (by modification time; a hit does not refresh it) are
removed down to 90% of the bound.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

# json, hashlib, tempfile and datetime are imported where used: derive.cli imports this module
# for --no-cache, and every command's start pays for what is imported here (tempfile alone
# imports random and shutil)

FORMAT = 1  # the entry format; a change of it is a change of the folder
MAX_ENTRIES = 5000
SUFFIX = ".json"

_disabled = False  # set by the command line's --no-cache (derive.cli)


def disable(off: bool = True) -> bool:
    """Prove afresh (``--no-cache``) until ``disable(False)``; returns the previous setting."""
    global _disabled
    previous, _disabled = _disabled, off
    return previous


def enabled() -> bool:
    if _disabled:
        return False
    flag = os.environ.get("DERIVE_NO_CACHE", "")
    return flag in ("", "0")


def directory() -> Path | None:
    """Where entries live, or None when the cache is off (see the module's docstring)."""
    given = os.environ.get("DERIVE_CACHE_DIR")
    if given:
        root = Path(given)
    elif os.environ.get("PYTEST_CURRENT_TEST"):
        return None
    else:
        root = _user_cache_dir() / "derive"
    return root / f"proofs-v{FORMAT}"


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


@functools.cache
def catalogue_hash() -> str:
    """SHA-256 of the catalogue files the rules are read from (rules/*.toml)."""
    import hashlib

    from derive.catalogue.rules import rules_dir

    h = hashlib.sha256()
    for path in sorted(rules_dir().glob("*.toml")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


#: the packages a proof's result depends on (the problems, the forward maps, the evaluators)
_SOURCES = ("engine", "core", "layers", "network", "catalogue")


@functools.cache
def source_hash() -> str:
    """SHA-256 of the source files a proof runs through: an edited checkout (same version
    number) does not reuse the proofs of the code before the edit."""
    import hashlib

    package = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for sub in _SOURCES:
        for path in sorted((package / sub).glob("*.py")):
            h.update(f"{sub}/{path.name}".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _version() -> str:
    from derive import __version__

    return __version__


class Cache:
    """One cache folder; :meth:`get` and :meth:`put` by canonical key (a JSON-able value)."""

    def __init__(self, root: Path):
        self.root = root
        self._stamp = {"version": _version(), "catalogue": catalogue_hash(), "source": source_hash()}

    @staticmethod
    def key_text(key) -> str:
        import json

        return json.dumps(key, ensure_ascii=False, separators=(",", ":"))

    def _path(self, text: str) -> Path:
        import hashlib

        digest = hashlib.sha256(text.encode()).hexdigest()
        return self.root / f"{digest}{SUFFIX}"

    def get(self, key) -> dict | None:
        """The entry's result, or None (missing, corrupt, truncated or foreign)."""
        import json

        text = self.key_text(key)
        try:
            raw = self._path(text).read_bytes()
            entry = json.loads(raw)
        except (OSError, ValueError):  # absent, unreadable, not JSON (truncated), bad UTF-8
            return None
        if not isinstance(entry, dict) or entry.get("key") != text:
            return None
        if any(entry.get(k) != v for k, v in self._stamp.items()):
            return None
        result, date = entry.get("result"), entry.get("date")
        if not isinstance(result, dict) or not isinstance(date, str):
            return None
        return {**result, "date": date}

    def put(self, key, result: dict) -> None:
        """Store ``result`` under ``key`` atomically; any OS error leaves the cache as it was."""
        import datetime as _dt
        import json
        import tempfile

        text = self.key_text(key)
        date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        entry = {"key": text, **self._stamp, "date": date, "result": result}
        path = self._path(text)
        tmp = None
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=SUFFIX)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False)
            os.replace(tmp, path)
            tmp = None
        except OSError:
            return
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def prune(self, limit: int = MAX_ENTRIES) -> int:
        """Remove the oldest entries when there are more than ``limit``, down to 90% of it;
        returns how many were removed."""
        try:
            found = list(os.scandir(self.root))
        except OSError:
            return 0
        _remove_stale_temporaries(found)
        names = [e for e in found if e.name.endswith(SUFFIX) and not e.name.startswith(".")]
        if len(names) <= limit:
            return 0
        dated = []
        for e in names:
            try:
                dated.append((e.stat().st_mtime, e.path))
            except OSError:
                continue
        dated.sort()
        removed = 0
        for _, path in dated[: len(dated) - int(limit * 0.9)]:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
        return removed


def _remove_stale_temporaries(found, age: float = 3600.0) -> None:
    """Temporary files a killed writer left (older than an hour: no live writer takes that)."""
    import time

    now = time.time()
    for e in found:
        if e.name.startswith(".tmp-"):
            try:
                if now - e.stat().st_mtime > age:
                    os.unlink(e.path)
            except OSError:
                pass


def open_cache(use: bool | None = None) -> Cache | None:
    """The cache to use, or None: ``use`` False proves afresh; None follows :func:`enabled`."""
    if use is False or (use is None and not enabled()):
        return None
    root = directory()
    return None if root is None else Cache(root)
