"""Published score history with planted churn drivers, for the evaluation tests.

`build_generated_history` generates data (`health generate`) and backfills ten month ends
(`health backfill`) once per test run, into the run's temp folder (shared by the pytest-xdist
workers); the backtest, the calibration and the extract tests all read that one database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from customer_health.engines.warehouse import working_database
from helpers.project import output_of, run_health
from helpers.shared import build_once

# Generated data: 2,000 accounts, 2023-01-01..2024-12-31 (churn in the last 180 days), ten month
# ends scored. Measured with this seed: AUC 0.673 (95 % CI 0.654-0.693), top-decile lift 1.81,
# churn by grade A 1.5 % .. F 14.5 %; calibration lifts held-out AUC 0.667 -> 0.750.
GENERATED_ACCOUNTS = 2000
GENERATED_SEED = 11
BACKFILL_START, BACKFILL_END = "2024-03-01", "2024-12-31"


@dataclass(frozen=True)
class GeneratedHistory:
    db_path: Path
    raw_dir: Path

    @property
    def working_path(self) -> Path:
        """The working file dbt built in: it holds staging (churn events, usage) beside health."""
        return working_database(self.db_path)


def backfill(raw_dir: Path, folder: Path, start: str, end: str) -> Path:
    """Month ends from start to end scored from raw_dir into folder/history.duckdb."""
    db_path = folder / "history.duckdb"
    done = run_health("backfill", [
        "--from", start, "--to", end, "--step", "month", "--db-path", str(db_path),
        "--raw-data-dir", str(raw_dir), "--target-path", str(folder / "target"), "--quiet",
    ], timeout=900)
    assert done.returncode == 0, output_of(done)
    return db_path


def build_generated_history(factory: pytest.TempPathFactory) -> GeneratedHistory:
    """Generate + backfill once per run; later calls (any module, any worker) reuse the
    database."""

    def build(folder: Path) -> None:
        generated = run_health("generate", [
            "--out", str(folder / "raw"), "--accounts", str(GENERATED_ACCOUNTS),
            "--seed", str(GENERATED_SEED), "--quiet",
        ])
        assert generated.returncode == 0, output_of(generated)
        db_path = backfill(folder / "raw", folder, BACKFILL_START, BACKFILL_END)
        assert db_path == folder / "history.duckdb"

    folder = build_once(factory, "generated_history", build)
    return GeneratedHistory(folder / "history.duckdb", folder / "raw")
