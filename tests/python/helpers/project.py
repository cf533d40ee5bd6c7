"""Shared test helpers: the project, a copy of it, clean environments, and runs of the `health`
command in subprocesses (each Spark run gets its own JVM; the local Derby metastore admits one
process at a time, so Spark runs are never concurrent)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[3]
SAMPLE_DATA_DIR = REPO_DIR / "data" / "ravenstack"
PROJECT_COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "target", "logs", "uncommitted", "reports", "*.duckdb", "*.duckdb.wal",
    "*.lock", "__pycache__", ".pytest_cache", ".ruff_cache", "data", "*.egg-info",
)
# Lines tests add to pytest's terminal summary (e.g. the bad-input matrix's timings).
TERMINAL_SUMMARY: list[str] = []


def copy_project(destination: Path) -> Path:
    """The project without its virtualenv, data, databases, dbt target and GX run output."""
    shutil.copytree(REPO_DIR, destination, ignore=PROJECT_COPY_IGNORE)
    return destination


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a `health` subprocess: telemetry off, no inherited data paths or
    deployment (the tests score the bundled sample unless they say otherwise)."""
    env = {
        key: value for key, value in os.environ.items()
        if key not in (
            "HEALTH_DB_PATH", "HEALTH_RAW_DATA_DIR", "HEALTH_PROJECT_DIR", "HEALTH_DEPLOYMENT"
        )
    }
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1", GX_ANALYTICS_ENABLED="False"
    )
    env.update(extra or {})
    return env


def health_command(command: str, *args: str) -> list[str]:
    """`health <command> <args>` as this interpreter runs it."""
    return [sys.executable, "-m", "customer_health", command, *args]


def run_health(
    command: str,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    project_dir: Path = REPO_DIR,
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run `health <command>` on the dbt project in project_dir."""
    return subprocess.run(
        health_command(command, *args),
        env={**(env or clean_env()), "HEALTH_PROJECT_DIR": str(project_dir)},
        capture_output=True, text=True, check=False, cwd=project_dir, timeout=timeout,
    )


def run_timed(
    command: str, args: Sequence[str], env: dict[str, str], project_dir: Path = REPO_DIR
) -> tuple[subprocess.CompletedProcess[str], float]:
    """run_health, and its seconds."""
    started = time.perf_counter()
    completed = run_health(command, args, env, project_dir)
    return completed, time.perf_counter() - started


def refresh_args(
    db_path: Path, raw_data_dir: Path, target_path: Path, extra: Sequence[str] = ()
) -> list[str]:
    """`health refresh` arguments for a run with its own database, data and target folder."""
    return [
        "--db-path", str(db_path),
        "--raw-data-dir", str(raw_data_dir),
        "--target-path", str(target_path),
        "--quiet",
        *extra,
    ]


def run_refresh(
    db_path: Path,
    raw_data_dir: Path,
    target_path: Path,
    extra: Sequence[str] = (),
    project_dir: Path = REPO_DIR,
) -> subprocess.CompletedProcess[str]:
    return run_health(
        "refresh", refresh_args(db_path, raw_data_dir, target_path, extra),
        project_dir=project_dir, timeout=900,
    )


def output_of(completed: subprocess.CompletedProcess[str]) -> str:
    return (completed.stdout + completed.stderr)[-6000:]


def wait_for_process_group_to_end(group: int) -> None:
    """After SIGKILL of a refresh run in its own process group: its dbt child holds the
    database until it is gone too."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"process group {group} is still alive after SIGKILL")


def create_postgres_database(name: str) -> None:
    """A database of the test's own on the scratch cluster (the PG* variables in os.environ)."""
    import psycopg2

    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name}")
    admin.close()
