"""Backfills: date steps, idempotent re-runs, and history that leaves current scores alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
from helpers.project import run_health

from customer_health.pipeline.backfill import as_of_dates, month_ends
from customer_health.settings import PROJECT_DIR

SAMPLE_DATA = PROJECT_DIR / "data" / "ravenstack"


def test_month_ends_cover_the_range_inclusively() -> None:
    assert month_ends(date(2024, 1, 31), date(2024, 3, 31)) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
    ]
    assert month_ends(date(2024, 1, 15), date(2024, 3, 30)) == [
        date(2024, 1, 31),
        date(2024, 2, 29),
    ]
    assert month_ends(date(2023, 12, 1), date(2024, 1, 31)) == [
        date(2023, 12, 31),
        date(2024, 1, 31),
    ]


def test_weekly_steps_start_at_the_first_date() -> None:
    assert as_of_dates(date(2024, 1, 1), date(2024, 1, 20), "week") == [
        date(2024, 1, 1),
        date(2024, 1, 8),
        date(2024, 1, 15),
    ]


def run_backfill(db_path: Path, target: Path, start: str, end: str) -> None:
    result = run_health(
        "backfill",
        ["--from", start, "--to", end, "--db-path", str(db_path),
         "--raw-data-dir", str(SAMPLE_DATA), "--target-path", str(target), "--quiet"],
    )
    assert result.returncode == 0, result.stderr[-3000:]


def history(db_path: Path) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "select * exclude (dbt_invocation_id) from health.customer_health_score_history "
            "order by as_of_date, account_id"
        ).fetchall()


def test_rerunning_a_backfill_replaces_dates_instead_of_adding_rows(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    run_backfill(db_path, tmp_path / "target", "2024-10-01", "2024-11-30")
    first = history(db_path)
    assert {row[1] for row in first} == {date(2024, 10, 31), date(2024, 11, 30)}

    run_backfill(db_path, tmp_path / "target", "2024-11-01", "2024-12-31")
    second = history(db_path)

    assert {row[1] for row in second} == {
        date(2024, 10, 31),
        date(2024, 11, 30),
        date(2024, 12, 31),
    }
    # Dates scored twice hold the same rows once: re-running is idempotent.
    assert [row for row in second if row[1] < date(2024, 12, 1)] == first
    with duckdb.connect(str(db_path), read_only=True) as connection:
        kinds = connection.execute(
            "select publish_kind, count(*) from health.publish_log group by 1"
        ).fetchall()
        current = connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'health' and table_name = 'customer_health_scores'"
        ).fetchone()
        changes = connection.execute(
            "select count(*), count(*) filter (where previous_as_of_date = date '2024-11-30') "
            "from health.customer_health_score_changes where as_of_date = date '2024-12-31'"
        ).fetchone()
    assert kinds == [("backfill", 4)]
    assert current == (0,), "a backfill must not publish current scores"
    # Every account scored on both dates has a change row against the previous date.
    assert changes[0] == changes[1] > 0


CHANGE_MODELS = ("customer_health_score_change_attribution", "customer_health_score_changes")


def change_rows(db_path: Path, schema: str, model: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return sorted(connection.execute(f"select * from {schema}.{model}").fetchall(), key=repr)


def test_incremental_change_models_equal_a_full_recompute(tmp_path: Path) -> None:
    """Change models only recompute the dates a run scores, yet match a rebuild from history:
    Dec is first compared with Oct (Nov missing), then Nov is backfilled between them."""
    db_path = tmp_path / "scores.duckdb"
    run_backfill(db_path, tmp_path / "target", "2024-09-01", "2024-10-31")
    run_backfill(db_path, tmp_path / "target", "2024-12-01", "2024-12-31")
    run_backfill(db_path, tmp_path / "target", "2024-11-01", "2024-11-30")
    recomputed = tmp_path / "recomputed.duckdb"
    shutil.copyfile(db_path, recomputed)
    env = dict(os.environ, HEALTH_DB_PATH=str(recomputed), HEALTH_RAW_DATA_DIR=str(SAMPLE_DATA),
               DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target-path", str(tmp_path / "target_full"),
         "--full-refresh", "--exclude-resource-type", "test", "unit_test",
         "--select", *CHANGE_MODELS],
        env=env, capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]
    for model in CHANGE_MODELS:
        incremental = change_rows(db_path, "health", model)
        assert incremental == change_rows(recomputed, "marts", model), model
    changes = change_rows(db_path, "health", "customer_health_score_changes")
    previous = {(row[1], row[2]) for row in changes}
    assert previous == {(date(2024, 10, 31), date(2024, 9, 30)),
                        (date(2024, 11, 30), date(2024, 10, 31)),
                        (date(2024, 12, 31), date(2024, 11, 30))}
