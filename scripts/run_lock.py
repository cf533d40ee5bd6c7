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


class RefreshLockedError(RuntimeError):
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
