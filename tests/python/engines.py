"""Test helpers: a copy of the project, and runs of the pipeline's entry points against a target
in subprocesses (each Spark run gets its own JVM; the local Derby metastore admits one process at
a time, so Spark runs are never concurrent). The scratch PostgreSQL cluster is in
scripts/scratch_postgres.py (the benchmark uses it too)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = REPO_DIR / "scripts"
PROJECT_COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "target", "logs", "uncommitted", "reports", "*.duckdb", "*.duckdb.wal",
    "*.lock", "__pycache__", ".pytest_cache", ".ruff_cache", "data",
)


def copy_project(destination: Path) -> Path:
    """The project without its virtualenv, data, databases, dbt target and GX run output."""
    shutil.copytree(REPO_DIR, destination, ignore=PROJECT_COPY_IGNORE)
    return destination


def engine_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for an entry-point subprocess: telemetry off, no inherited data paths."""
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("HEALTH_DB_PATH", "HEALTH_RAW_DATA_DIR")
    }
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1", GX_ANALYTICS_ENABLED="False"
    )
    env.update(extra or {})
    return env


def run_script(
    script: str, args: Sequence[str], env: dict[str, str], project_dir: Path = REPO_DIR
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run scripts/<script> of project_dir; return the completed process and its seconds."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, str(project_dir / "scripts" / script), *args],
        env=env, capture_output=True, text=True, check=False, cwd=project_dir,
    )
    return completed, time.perf_counter() - started


def output_of(completed: subprocess.CompletedProcess[str]) -> str:
    return (completed.stdout + completed.stderr)[-6000:]
