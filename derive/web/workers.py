"""CPU-bound work off the event loop, each request in a worker process, with a hard time limit.

A :class:`Workers` pool keeps ``n`` worker processes, each its own one-process executor. A job
takes an idle worker, runs there, and gives the worker back; when a job outlives its time
limit, its worker is ended (the only way to stop SymPy mid-simplification) and a fresh, warmed
worker takes its place, so one slow request never stalls the others, nor the server. The
workers are started with ``spawn`` (uvicorn's threads and a ``fork`` do not mix) and warmed by
importing the checker, so the first request does not pay for SymPy's import.

>>> import asyncio
>>> async def demo():
...     async with Workers(1, timeout=30) as pool:
...         return await pool.run("derive.web.api:capabilities")
>>> status, value = asyncio.run(demo())
>>> status, sorted(value)
(200, ['pdf', 'plot'])
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


class Timeout(Exception):
    """A job that ran past its time limit (its worker was ended)."""

    def __init__(self, seconds: float):
        super().__init__(f"the computation took longer than {seconds:g} s, the limit "
                         "(web.compute_seconds): try a smaller network or a shorter formula")
        self.seconds = seconds


def call(target: str, *args: Any) -> tuple[int, Any]:
    """(status, value) of ``module:function`` run with ``args``, in a worker: only names and
    plain data cross the process boundary, never code, and errors come back as data (200 and
    the value; 400 or 413 and ``{"error": ...}`` for unusable input; 500 for a bug)."""
    from derive.errors import DeriveError
    from derive.web.api import ApiError

    module, _, name = target.partition(":")
    if not module.startswith("derive."):
        raise ValueError(f"not a derive function: {target}")
    try:
        return 200, getattr(importlib.import_module(module), name)(*args)
    except ApiError as exc:
        return exc.status, exc.to_dict()
    except DeriveError as exc:
        status = 500 if exc.exit_code == 3 else 400
        return status, {"error": str(exc), "status": status}
    except RecursionError:
        return 400, {"error": "the input is nested too deeply to read", "status": 400}
    except MemoryError:
        return 413, {"error": "out of memory: give smaller sizes", "status": 413}
    except Exception as exc:  # noqa: BLE001 - a bug in derive: reported, the server goes on
        return 500, {"error": f"internal error in derive ({type(exc).__name__}: {exc}); this is "
                              "a bug: please report it with the request", "status": 500}


def _warm() -> int:
    """Load what the requests need (SymPy, the checker, the engine, the handout) in a new
    worker."""
    importlib.import_module("derive.cli._batch")
    importlib.import_module("derive.check.checker")
    importlib.import_module("derive.engine.proof")
    importlib.import_module("derive.handout.document")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which ends us
    return os.getpid()


class Workers:
    """``n`` worker processes and a per-job time limit of ``timeout`` seconds."""

    def __init__(self, n: int = 2, timeout: float = 20.0):
        self.n = max(1, n)
        self.timeout = timeout
        self._context = multiprocessing.get_context("spawn")
        self._idle: asyncio.Queue[ProcessPoolExecutor] = asyncio.Queue()
        self._all: set[ProcessPoolExecutor] = set()
        self.replaced = 0  # workers ended for a timeout or a crash, and started anew

    async def __aenter__(self) -> Workers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    async def start(self) -> None:
        await asyncio.gather(*(self._add() for _ in range(self.n)))

    async def _add(self) -> None:
        executor = ProcessPoolExecutor(1, mp_context=self._context)
        self._all.add(executor)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, _warm)
        self._idle.put_nowait(executor)

    async def run(self, target: str, *args: Any) -> tuple[int, Any]:
        """(status, value) of ``target(*args)`` computed in a worker (:func:`call`);
        :class:`Timeout` past the limit (the time counts from the moment a worker takes the
        job, not the wait for one)."""
        executor = await self._idle.get()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, call, target, *args)
        try:
            value = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            await self._replace(executor)
            raise Timeout(self.timeout) from None
        except BrokenProcessPool:  # the worker died (out of memory, a signal): a new one
            await self._replace(executor)
            raise
        except BaseException:
            self._idle.put_nowait(executor)
            raise
        self._idle.put_nowait(executor)
        return value

    async def _replace(self, executor: ProcessPoolExecutor) -> None:
        self.replaced += 1
        self._end(executor)
        await self._add()

    def _end(self, executor: ProcessPoolExecutor) -> None:
        # the executor keeps its processes in a private dict: the one way to end a running job
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(OSError, AttributeError):
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        self._all.discard(executor)

    def pids(self) -> list[int]:
        return sorted(p.pid for e in self._all
                      for p in getattr(e, "_processes", {}).values() if p.pid)

    def close(self) -> None:
        for executor in list(self._all):
            self._end(executor)
