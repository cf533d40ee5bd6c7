"""`health benchmark history-publish`: the made-up relations it publishes are the history it
reports on (the PostgreSQL and Spark partitions themselves: test_publish.py)."""

from __future__ import annotations

from pathlib import Path

from helpers.project import output_of, run_health

from customer_health.benchmark.history_publish import (
    benchmark_warehouse,
    history_dates,
    run_history_publish,
)


def test_history_dates_are_consecutive_month_ends() -> None:
    assert [day.isoformat() for day in history_dates(14)[10:]] == [
        "2023-11-30", "2023-12-31", "2024-01-31", "2024-02-29"
    ]


def test_each_publish_adds_its_dates_to_the_published_history(tmp_path: Path) -> None:
    with benchmark_warehouse("duckdb", tmp_path) as warehouse:
        timings = list(run_history_publish(warehouse, accounts=7, dates=3, daily=2))
        per_date = warehouse.query(
            "select as_of_date, count(*) from health.customer_health_score_component_history "
            "group by as_of_date order by as_of_date"
        )
        current = warehouse.query(
            "select distinct as_of_date from health.customer_health_scores"
        )

    assert [(timing.kind, timing.dates_published_before) for timing in timings] == [
        ("backfill", 0), ("daily", 3), ("daily", 4)
    ]
    assert all(timing.seconds > 0 for timing in timings)
    assert [(day, rows) for day, rows in per_date] == [(day, 7 * 15) for day in history_dates(5)]
    assert current == [(history_dates(5)[-1],)]


def test_the_command_prints_each_publish(tmp_path: Path) -> None:
    completed = run_health("benchmark", [
        "history-publish", "--target", "duckdb", "--accounts", "5", "--dates", "2", "--daily", "1",
        "--work-dir", str(tmp_path),
    ])
    assert completed.returncode == 0, output_of(completed)
    assert "backfill publish over 0 published dates" in completed.stdout
    assert "daily publish over 2 published dates" in completed.stdout
