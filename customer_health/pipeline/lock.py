"""One refresh at a time per database: an exclusive, non-blocking file lock.

The lock is held through an open file descriptor (flock), so the operating system releases it when
the process ends, even if it is killed: a crashed refresh never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from customer_health.errors import LockedError


class RefreshLockedError(LockedError):
    """Another refresh holds the lock on this database."""


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".refresh.lock")


@contextmanager
def refresh_lock(db_path: Path) -> Iterator[None]:
    """Hold the refresh lock for db_path, or raise RefreshLockedError naming the holder."""
    path = lock_path_for(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise RefreshLockedError(
                f"another refresh is already running on {db_path} ({holder}); "
                f"wait for it to finish. Lock file: {path}"
            ) from None
        handle.seek(0)
        handle.truncate()
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.write(f"pid {os.getpid()}, started {started}")
        handle.flush()
        yield
    finally:
        handle.close()


# Key of the PostgreSQL advisory lock a refresh holds (any bigint; the same in every run).
POSTGRES_LOCK_KEY = 7_412_963_001


@contextmanager
def pipeline_lock(target: str, anchor: Path) -> Iterator[None]:
    """One refresh at a time per target: a PostgreSQL advisory lock held by the run's own
    session on PostgreSQL (released when the session ends, however it ends), the file lock
    beside `anchor` (the DuckDB file, or Spark's warehouse folder) elsewhere."""
    if target != "postgres":
        with refresh_lock(anchor):
            yield
        return
    from customer_health.engines.warehouse import connect

    with connect("postgres") as warehouse:
        (locked,) = warehouse.query(f"select pg_try_advisory_lock({POSTGRES_LOCK_KEY})")[0]
        if not locked:
            holders = warehouse.query(
                "select string_agg(format('pid %s (%s, since %s)', l.pid, a.application_name, "
                "a.backend_start), ', ') from pg_locks l join pg_stat_activity a using (pid) "
                f"where l.locktype = 'advisory' and l.objid = {POSTGRES_LOCK_KEY % 2**32}"
            )[0][0]
            raise RefreshLockedError(
                "another refresh is already running on this PostgreSQL database "
                f"({holders or 'unknown session'}); wait for it to finish"
            )
        yield
