"""Files a test run builds once, also when its tests run in several pytest-xdist workers: in the
run's own temporary folder (each worker's folder is inside it), under an exclusive lock, so that
one worker builds them and the others wait and read the result. The tests only read those files
(they copy them to change them)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest


def run_folder(factory: pytest.TempPathFactory) -> Path:
    """The test run's temporary folder, shared by every worker."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The run's folder `name`, after `build(folder)` made it in this worker or another one
    (a failed build leaves no mark: the next caller builds again, and fails the same way)."""
    root = run_folder(factory)
    folder, marker = root / name, root / f"{name}.built"
    with (root / f"{name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not marker.is_file():
                folder.mkdir(exist_ok=True)
                build(folder)
                marker.write_text("ok\n", encoding="utf-8")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return folder
