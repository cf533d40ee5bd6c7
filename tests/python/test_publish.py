"""Publishing replaces every relation in schema health in one transaction and logs it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline_config import PUBLISHED_MODELS
from publish import CheckCounts, PublishRecord, publish


def make_candidate(db_path: Path, scores: list[tuple[str, float]]) -> None:
    """A database holding candidate marts the way dbt leaves them."""
    with duckdb.connect(str(db_path)) as connection:
        for schema, model in PUBLISHED_MODELS:
            connection.execute(f"create schema if not exists {schema}")
            connection.execute(
                f"create or replace table {schema}.{model} "
                "(account_id varchar, as_of_date date, health_score double)"
            )
        connection.executemany(
            "insert into marts.customer_health_scores values (?, date '2024-12-31', ?)", scores
        )


def published_scores(db_path: Path) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "select account_id, health_score from health.customer_health_scores order by 1"
        ).fetchall()


def test_publish_copies_marts_and_appends_to_the_log(tmp_path: Path) -> None:
    db_path = tmp_path / "candidate.duckdb"
    make_candidate(db_path, [("a1", 90.0), ("a2", 40.0)])
    record = PublishRecord("run1", "cfg1", CheckCounts(passed=5, failed=0, warned=1), {"x": 1.0})

    assert publish(db_path, record) == 2
    make_candidate(db_path, [("a1", 10.0)])
    assert publish(db_path, PublishRecord("run2", "cfg2")) == 1

    assert published_scores(db_path) == [("a1", 10.0)]
    with duckdb.connect(str(db_path), read_only=True) as connection:
        log_rows = connection.execute(
            "select run_id, accounts_scored, checks_passed, checks_warned, scoring_config_version "
            "from health.publish_log order by published_at"
        ).fetchall()
    assert log_rows == [("run1", 2, 5, 1, "cfg1"), ("run2", 1, 0, 0, "cfg2")]


def test_a_failing_publish_leaves_the_published_relations_untouched(tmp_path: Path) -> None:
    db_path = tmp_path / "candidate.duckdb"
    make_candidate(db_path, [("a1", 90.0)])
    publish(db_path, PublishRecord("run1", "cfg1"))
    make_candidate(db_path, [("a1", 5.0), ("a2", 6.0)])
    with duckdb.connect(str(db_path)) as connection:
        # The last relation to copy disappears: the publish fails after replacing the first ones.
        connection.execute(f"drop table {'.'.join(PUBLISHED_MODELS[-1])}")

    with pytest.raises(duckdb.CatalogException):
        publish(db_path, PublishRecord("run2", "cfg2"))

    assert published_scores(db_path) == [("a1", 90.0)]
    with duckdb.connect(str(db_path), read_only=True) as connection:
        assert connection.execute("select count(*) from health.publish_log").fetchone() == (1,)
