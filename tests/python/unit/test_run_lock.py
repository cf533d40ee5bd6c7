"""Only one refresh at a time per database, and a dead refresh never leaves the lock held."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from customer_health.pipeline.lock import RefreshLockedError, lock_path_for, refresh_lock


def test_second_lock_on_the_same_database_is_refused_with_the_holder(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    with (
        refresh_lock(db_path),
        pytest.raises(RefreshLockedError, match=r"already running .*pid \d+"),
        refresh_lock(db_path),
    ):
        pass
    with refresh_lock(db_path):  # released after the block
        pass


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time;"
            "from customer_health.pipeline.lock import refresh_lock;"
            f"cm = refresh_lock(__import__('pathlib').Path({str(db_path)!r})); cm.__enter__();"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    with pytest.raises(RefreshLockedError), refresh_lock(db_path):
        pass
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    with refresh_lock(db_path):
        assert lock_path_for(db_path).exists()
