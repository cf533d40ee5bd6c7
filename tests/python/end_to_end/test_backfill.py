"""Backfills: date steps, idempotent re-runs, history that leaves current scores alone, and the
published history as the one source of history (a chain of builds, or a plain `dbt build`, agrees
with one build of all dates, or a refresh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from helpers.project import run_health

from customer_health.dbt_project import HISTORY_MODELS
from customer_health.pipeline.backfill import as_of_dates, month_ends
from customer_health.scoring_config import scoring_config_version
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


@pytest.fixture(scope="module")
def october_november(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backfill of 2024-10-31 and 2024-11-30 into an empty warehouse, made once for the module:
    its folder (the served and working files, kept versions, dbt target) is copied by each test
    that starts from it."""
    folder = tmp_path_factory.mktemp("october_november")
    run_backfill(folder / "scores.duckdb", folder / "target", "2024-10-01", "2024-11-30")
    return folder


def test_rerunning_a_backfill_replaces_dates_instead_of_adding_rows(
    october_november: Path, tmp_path: Path
) -> None:
    shutil.copytree(october_november, tmp_path, dirs_exist_ok=True)
    db_path = tmp_path / "scores.duckdb"
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


def dbt_build(db_path: Path, target: Path, dbt_vars: dict[str, object]) -> None:
    """A plain `dbt build` (no gate, no publish), stamped with the scoring configuration's version
    as a refresh stamps it."""
    env = dict(os.environ, HEALTH_DB_PATH=str(db_path), HEALTH_WORKING_DB_PATH=str(db_path),
               HEALTH_RAW_DATA_DIR=str(SAMPLE_DATA),
               DBT_SEND_ANONYMOUS_USAGE_STATS="False")
    dbt_vars = {**dbt_vars, "scoring_config_version": scoring_config_version()}
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), "--target-path", str(target),
         "--exclude-resource-type", "test", "unit_test", "--vars", json.dumps(dbt_vars)],
        env=env, capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:]


def rows(db_path: Path, relation: str, where: str = "") -> list[tuple]:
    """A relation's rows, sorted, without the dbt invocation id (one per build)."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return sorted(connection.execute(
            f"select columns(lambda c: c != 'dbt_invocation_id') from {relation} {where}"
        ).fetchall(), key=repr)


def test_a_chain_of_backfills_publishes_what_one_build_of_all_dates_makes(tmp_path: Path) -> None:
    """Each build reads the rest of history from what is published and writes only its dates,
    yet the published history equals one build of all dates on an empty warehouse. Dec is first
    compared with Oct (Nov missing), then Nov is backfilled between them."""
    db_path = tmp_path / "scores.duckdb"
    run_backfill(db_path, tmp_path / "target", "2024-09-01", "2024-10-31")
    run_backfill(db_path, tmp_path / "target", "2024-12-01", "2024-12-31")
    run_backfill(db_path, tmp_path / "target", "2024-11-01", "2024-11-30")
    all_at_once = tmp_path / "all_at_once.duckdb"
    month_ends_built = month_ends(date(2024, 9, 1), date(2024, 12, 31))
    dbt_build(all_at_once, tmp_path / "target_all", {
        "as_of_dates": [day.isoformat() for day in month_ends_built]
    })
    for _, model in HISTORY_MODELS:
        published = rows(db_path, f"health.{model}")
        assert published, model
        assert published == rows(all_at_once, f"marts.{model}"), model
    changes = rows(db_path, "health.customer_health_score_changes")
    previous = {(row[1], row[2]) for row in changes}
    assert previous == {(date(2024, 10, 31), date(2024, 9, 30)),
                        (date(2024, 11, 30), date(2024, 10, 31)),
                        (date(2024, 12, 31), date(2024, 11, 30))}


def test_a_plain_dbt_build_gives_the_history_rows_a_refresh_publishes(
    october_november: Path, tmp_path: Path
) -> None:
    """After a published backfill, `dbt build` of the next date makes the rows a refresh of that
    date publishes, compared with the published previous date, and changes nothing published."""
    shutil.copytree(october_november, tmp_path, dirs_exist_ok=True)
    backfilled = tmp_path / "scores.duckdb"
    refreshed = tmp_path / "refreshed.duckdb"
    shutil.copyfile(backfilled, refreshed)
    published_before = rows(backfilled, "health.customer_health_score_history")

    dbt_build(backfilled, tmp_path / "target_plain", {"as_of_date": "2024-12-31"})
    result = run_health("refresh", [
        "--as-of-date", "2024-12-31", "--db-path", str(refreshed), "--raw-data-dir",
        str(SAMPLE_DATA), "--target-path", str(tmp_path / "target"), "--quiet",
    ])
    assert result.returncode == 0, result.stderr[-3000:]

    for _, model in HISTORY_MODELS:
        built = rows(backfilled, f"marts.{model}")
        assert built, model
        assert built == rows(refreshed, f"health.{model}", "where as_of_date = '2024-12-31'"), model
    assert rows(backfilled, "health.customer_health_score_history") == published_before
    changes = rows(backfilled, "marts.customer_health_score_changes")
    assert {row[2] for row in changes} == {date(2024, 11, 30)}
