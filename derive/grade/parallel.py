"""Many checks on several cores: a process pool that keeps each worker's caches warm and the
results in input order.

The checker caches a network's derivation, random instances and gradient values per process
(the first line of a network costs tens of milliseconds, the next ones about one). So the items
are read a window at a time, sorted within the window by a *group key* (the line's network),
cut into chunks of one group each where it can, and each chunk goes to one worker, which checks
its lines one after the other on a warm cache. The results come back by chunk and are written
in the order of the input, a window at a time (so the memory held is one window, whatever the
input's length).

>>> list(ordered_map(abs, [(-3,), (2,), (-1,)], key=lambda item: 0, jobs=1))
[3, 2, 1]
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from derive.limits import Limit

#: parallel worker processes: more than the machine's cores only adds start-up and memory
JOBS = Limit("grade.jobs", 64, "processes", "--jobs", "the worker processes of --jobs")
#: items held in memory at once by a parallel run
WINDOW = 4096
#: items sent to a worker in one go (one group, or the rest of a group)
CHUNK = 64


def default_jobs() -> int:
    """The cores this process may use (``--jobs 0``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _apply(fn: Callable, chunk: list[tuple[int, tuple]]) -> list[tuple[int, object]]:
    """A worker's part: ``fn`` on each item of one chunk, in turn (a top-level function, so
    that the pool can pickle it)."""
    return [(i, fn(*args)) for i, args in chunk]


def ordered_map(fn: Callable, items: Iterable[tuple], key: Callable[[tuple], Hashable],
                jobs: int = 1, window: int = WINDOW, chunk: int = CHUNK) -> Iterator:
    """``fn(*item)`` for every item, in input order; with ``jobs`` > 1 in a process pool, items
    of one ``key`` (a network) grouped per worker. ``fn`` must be picklable (a module-level
    function or a :func:`functools.partial` of one)."""
    if jobs <= 1:
        for args in items:
            yield fn(*args)
        return
    source = iter(items)
    pool = ProcessPoolExecutor(max_workers=jobs)
    try:
        while batch := list(itertools.islice(source, window)):
            results: list = [None] * len(batch)
            futures: list[Future] = [pool.submit(_apply, fn, part)
                                     for part in _chunks(batch, key, chunk)]
            for f in futures:
                for i, r in f.result():
                    results[i] = r
            yield from results
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _chunks(batch: list[tuple], key: Callable[[tuple], Hashable],
            size: int) -> list[list[tuple[int, tuple]]]:
    """The window's items, indexed, grouped by key (first-seen order) and cut into chunks of at
    most ``size`` items of one group each."""
    groups: dict[Hashable, list[tuple[int, tuple]]] = {}
    for i, args in enumerate(batch):
        groups.setdefault(key(args), []).append((i, args))
    out = []
    for members in groups.values():
        out += [members[j:j + size] for j in range(0, len(members), size)]
    return out
