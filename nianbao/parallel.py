"""Both cores for the CPU-bound steps: reading and checking returns, writing receipts.

:class:`Workers` is a small process pool with a *context* (the county config) shipped to each
worker once, not with every item. Work goes in small chunks and comes back in order. Small
jobs (and ``processes=1``) run inline, in this process: the Excel add-in's few new files and
most tests take the same code path without starting anything.

Workers start from a fresh interpreter (``forkserver`` where available, else ``spawn`` as on
Windows), never by forking the caller: the flow's process holds Prefect's threads and a
database engine, neither of which survives a fork. Nothing unpicklable crosses: a ``Store``
never does (the main process stores; workers only read files and write receipts).

As with any use of multiprocessing under spawn or forkserver, a script that runs the pipeline
must keep its top level under ``if __name__ == "__main__":``: each worker imports the main
module. (The ``nianbao`` command, Prefect's flow-run processes, pytest and the Excel add-in do.)
A worker never starts workers of its own.

A worker that dies (a file that crashes the interpreter or exhausts memory) does not end the
run: the pool is restarted, the unfinished items are tried again one at a time, and an item
that kills a worker again is handed to ``lost`` instead, so it becomes a finding on that file.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C")

log = logging.getLogger(__name__)

# Below this many items a job runs inline: a pool costs about half a second to start (an
# interpreter per worker with the reader imported), the work of ~40 returns on one core.
MIN_PARALLEL = 32
CHUNK = 8  # items per task sent to a worker: small, so both workers finish a batch together

_context: Any = None  # in a worker: the context its pool was started with
_in_worker = False  # True in a worker process: work asked of Workers there runs inline, no nested pool


def available_cores() -> int:
    """The cores this process may use (at least one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _init(context: Any) -> None:
    global _context, _in_worker
    _context, _in_worker = context, True


def _call_chunk(fn: Callable[[Any, Any], R], items: Sequence[Any]) -> list[R]:
    return [fn(item, _context) for item in items]


class Workers(Generic[C]):
    """``map(fn, items)`` → ``[fn(item, context) for item in items]`` on ``processes`` processes.

    ``processes``: how many (0 or None: one per core). ``fn`` must be a module-level function
    (it is pickled by name). The pool starts on the first map big enough to pay for it and
    lives until :meth:`close` (or the ``with`` block ends), so a run starts it once.
    """

    def __init__(
        self, processes: int | None = None, context: C = None, *, preload: Sequence[str] = (), min_parallel: int | None = None
    ):
        self.processes = available_cores() if not processes else max(1, processes)
        self.context = context
        self.preload = list(preload)
        self.min_parallel = MIN_PARALLEL if min_parallel is None else min_parallel
        self.started = 0  # pools started: 1 in a normal run, more after a worker died
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Workers[C]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # Prefect shows task inputs: keep it short
        return f"Workers({self.processes})"

    def __getstate__(self) -> dict:  # never ship the pool itself (a task's inputs may be pickled)
        return {**self.__dict__, "_pool": None}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context(_start_method())
            if self.preload and ctx.get_start_method() == "forkserver":
                ctx.set_forkserver_preload(self.preload)
            self._pool = ProcessPoolExecutor(self.processes, mp_context=ctx, initializer=_init, initargs=(self.context,))
            self.started += 1
        return self._pool

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop ``broken`` if it is still the pool (a later job may already have replaced it)."""
        if self._pool is broken:
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T, C], R], items: Sequence[T], lost: Callable[[T, BaseException], R] | None = None) -> list[R]:
        """Results in the order of ``items``. ``lost(item, error)`` stands in for the result of an
        item whose worker died twice (without it, the error is raised)."""
        return self.submit(fn, items, lost).result()

    def submit(self, fn: Callable[[T, C], R], items: Sequence[T], lost: Callable[[T, BaseException], R] | None = None) -> "Pending[R]":
        """Start ``map`` and return at once: the work goes on while the caller does something else
        (stores the previous batch, writes the master workbook). Inline work waits for ``result``."""
        items = list(items)
        if self.processes == 1 or _in_worker or len(items) < max(2, self.min_parallel):
            return Pending(self, fn, [items], None, lost)
        chunks = [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
        pool = self._executor()
        return Pending(self, fn, chunks, (pool, [pool.submit(_call_chunk, fn, chunk) for chunk in chunks]), lost)


class Pending(Generic[R]):
    """Work started by :meth:`Workers.submit`; :meth:`result` waits for it (once)."""

    def __init__(self, workers: Workers, fn: Callable, chunks: list[list], submitted: tuple[ProcessPoolExecutor, list[Future]] | None, lost):
        self._workers, self._fn, self._chunks, self._submitted, self._lost = workers, fn, chunks, submitted, lost

    def __repr__(self) -> str:  # Prefect shows task inputs: keep it short
        return f"Pending({sum(map(len, self._chunks))})" if self._chunks is not None else "Pending(taken)"

    def result(self) -> list[R]:
        """The results, in order. Once: the futures and items are let go, so whoever still holds
        this (Prefect keeps a task's inputs) does not keep a batch of parsed returns alive."""
        if self._chunks is None:
            raise RuntimeError("Pending.result() was already taken")
        workers, fn = self._workers, self._fn
        chunks, submitted = self._chunks, self._submitted
        self._chunks = self._submitted = None
        if submitted is None:
            return [fn(item, workers.context) for chunk in chunks for item in chunk]
        pool, futures = submitted
        out: list[R] = []
        for chunk, future in zip(chunks, futures):
            try:
                out += future.result()
                continue
            except BrokenProcessPool as exc:
                if workers._pool is pool:
                    log.warning("a worker process died (%s); the pool is restarted and its items retried one by one", exc)
                    workers._replace(pool)
            out += [self._one(item) for item in chunk]
        return out

    def _one(self, item: Any) -> R:
        """``item`` alone in a worker: a second death is this item's doing."""
        pool = self._workers._executor()
        try:
            return pool.submit(_call_chunk, self._fn, [item]).result()[0]
        except BrokenProcessPool as exc:
            self._workers._replace(pool)
            if self._lost is None:
                raise
            return self._lost(item, exc)
