"""One run at a time per county and period: the nightly flow, ``nianbao run`` and the refresh.

PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection kept for the
run. SQLite: an OS file lock (the ``filelock`` library) on ``<database>.<county>-<period>.lock``
beside the database file. Both are released by the operating system or the server if the
process dies, so a crash never leaves the county locked out. The holder's description and
start time are also written to the ``run_locks`` table, only so a waiting run can say who.

A second run waits up to ``wait`` seconds (``$NIANBAO_LOCK_WAIT``, default 600), saying so,
then gives up with :class:`RunLocked`; the command line exits with :data:`EXIT_LOCKED`.
The lock is re-entrant within a process (the refresh takes it, then runs a consolidation).
"""

from __future__ import annotations

import getpass
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import filelock
from sqlalchemy import text

from nianbao.consolidate import local_naive
from nianbao.store import Store, StoreError, notice

EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL: try again later
POLL_SECONDS = 0.25

_held: dict[tuple[str, str], int] = {}
_held_guard = threading.Lock()


class RunLocked(StoreError):
    """Another run of the same county and period holds the lock (Chinese message)."""


def default_wait() -> float:
    try:
        return float(os.environ.get("NIANBAO_LOCK_WAIT", "600"))
    except ValueError:
        return 600.0


def holder_description(purpose: str) -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"{user}@{socket.gethostname()} 的{purpose}（进程 {os.getpid()}）"


def lock_name(county_code: str, period: str) -> str:
    return f"{county_code}-{period}"


@contextmanager
def run_lock(store: Store, county_code: str, period: str, *, purpose: str, wait: float | None = None) -> Iterator[None]:
    """Hold the run lock of ``county_code`` + ``period`` for the block (see the module docstring)."""
    name = lock_name(county_code, period)
    key = (store.engine.url.render_as_string(hide_password=False), name)
    with _held_guard:
        if _held.get(key):
            _held[key] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    wait = default_wait() if wait is None else wait
    holder = holder_description(purpose)
    acquire = _advisory if store.engine.dialect.name == "postgresql" else _file_lock
    with acquire(store, name, wait, holder):
        store.note_lock_holder(name, holder, datetime.now(timezone.utc))
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
            store.clear_lock_holder(name, holder)


def _refuse(store: Store, name: str, wait: float) -> RunLocked:
    found = store.lock_holder(name)
    who, since = found if found else ("另一个进程", None)
    when = f"自 {local_naive(since):%Y-%m-%d %H:%M:%S} 起" if since else ""
    return RunLocked(
        f"{_what(name)}正由{who}{when}运行，已等待 {wait:g} 秒仍未结束，本次未运行。"
        "请等它结束后再试（等待时间可用环境变量 NIANBAO_LOCK_WAIT 设置，单位秒）。"
    )


def _waiting(store: Store, name: str, wait: float) -> None:
    found = store.lock_holder(name)
    who = found[0] if found else "另一个进程"
    notice(f"{_what(name)}正由{who}运行，等待其结束（最多 {wait:g} 秒）……")


def _what(name: str) -> str:
    county, period = name.rsplit("-", 1)
    return f"县代码 {county}、报告期 {period} 的汇总"


@contextmanager
def _file_lock(store: Store, name: str, wait: float, holder: str) -> Iterator[None]:
    database = store.engine.url.database
    if not database or database == ":memory:":
        yield  # an in-memory database is private to this process
        return
    lock = filelock.FileLock(f"{database}.{name}.lock", thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        _waiting(store, name, wait)
        try:
            lock.acquire(timeout=wait, poll_interval=POLL_SECONDS)
        except filelock.Timeout:
            raise _refuse(store, name, wait) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def _advisory(store: Store, name: str, wait: float, holder: str) -> Iterator[None]:
    key = int.from_bytes(hashlib.sha256(f"nianbao-run:{name}".encode()).digest()[:8], "big", signed=True)
    conn = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        def attempt() -> bool:
            return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())

        if not attempt():
            _waiting(store, name, wait)
            deadline = time.monotonic() + wait
            while not attempt():
                if time.monotonic() >= deadline:
                    raise _refuse(store, name, wait)
                time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        conn.close()
