"""Publishing replaces every relation in schema health at once and logs it, on every engine.

DuckDB and PostgreSQL publish in one transaction; Spark writes versioned tables and switches the
views in `health` only after all are written. Either way a publish that fails leaves `health`
and the publish log as they were.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_health.dbt_project import PUBLISHED_MODELS
from customer_health.engines.warehouse import Warehouse, connect
from customer_health.pipeline.publish import VERSIONS_KEPT, CheckCounts, PublishRecord, publish
from customer_health.settings import PUBLISHED_VERSIONS_SCHEMA

SCHEMAS = ("health", "marts", PUBLISHED_VERSIONS_SCHEMA)


@pytest.fixture(params=["duckdb", "postgres", "spark"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """An empty database on each engine (PostgreSQL: the session's scratch cluster; Spark: a
    session in this process, with its metastore in a temporary folder)."""
    engine = request.param
    if engine == "postgres":
        request.getfixturevalue("postgres_env")
    if engine == "spark":
        os.environ.setdefault(
            "HEALTH_SPARK_DIR", str(tmp_path_factory.getbasetemp() / "publish_spark")
        )
    with connect(engine, tmp_path / "candidate.duckdb") as opened:
        for schema in SCHEMAS:
            opened.execute(f"drop schema if exists {schema} cascade")
        yield opened


def make_candidate(warehouse: Warehouse, scores: list[tuple[str, float]]) -> None:
    """Candidate marts the way dbt leaves them: every published model, scores as given."""
    columns = (
        f"cast({{}} as {warehouse.text_type}) as account_id, date '2024-12-31' as as_of_date, "
        f"cast({{}} as {warehouse.double_type}) as health_score"
    )
    rows = " union all ".join(
        "select " + columns.format(warehouse.literal(account), score) for account, score in scores
    )
    for schema, model in PUBLISHED_MODELS:
        warehouse.execute(f"create schema if not exists {schema}")
        warehouse.execute(f"drop table if exists {schema}.{model}")
        select = rows if model == "customer_health_scores" else (
            "select " + columns.format("null", "null") + " where 1 = 0"
        )
        warehouse.create_table_as(f"{schema}.{model}", select)


def published_scores(warehouse: Warehouse) -> list[tuple]:
    return sorted(
        warehouse.query("select account_id, health_score from health.customer_health_scores")
    )


# On Spark, the end-to-end engine test covers a successful publish (each Spark DDL costs ~1 s).
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"], indirect=True)
def test_publish_copies_marts_and_appends_to_the_log(warehouse: Warehouse) -> None:
    make_candidate(warehouse, [("a1", 90.0), ("a2", 40.0)])
    record = PublishRecord("run1", "cfg1", CheckCounts(passed=5, failed=0, warned=1), {"x": 1.0})

    assert publish(warehouse, record) == 2
    make_candidate(warehouse, [("a1", 10.0)])
    assert publish(warehouse, PublishRecord("run2", "cfg'2")) == 1

    assert published_scores(warehouse) == [("a1", 10.0)]
    log_rows = warehouse.query(
        "select run_id, accounts_scored, checks_passed, checks_warned, scoring_config_version "
        "from health.publish_log order by published_at"
    )
    assert [tuple(row) for row in log_rows] == [
        ("run1", 2, 5, 1, "cfg1"), ("run2", 1, 0, 0, "cfg'2")
    ]


def test_a_failing_publish_leaves_the_published_relations_untouched(
    warehouse: Warehouse,
) -> None:
    make_candidate(warehouse, [("a1", 90.0)])
    publish(warehouse, PublishRecord("run1", "cfg1"))
    make_candidate(warehouse, [("a1", 5.0), ("a2", 6.0)])
    # The last relation to copy disappears: the publish fails after writing the first ones.
    warehouse.execute(f"drop table {'.'.join(PUBLISHED_MODELS[-1])}")

    with pytest.raises(Exception, match=r"(?i)newly_at_risk_accounts"):
        publish(warehouse, PublishRecord("run2", "cfg2"))

    assert published_scores(warehouse) == [("a1", 90.0)]
    assert warehouse.query("select count(*) from health.publish_log")[0][0] == 1


@pytest.mark.parametrize("warehouse", ["spark"], indirect=True)
def test_spark_keeps_the_newest_versions_of_each_relation(warehouse: Warehouse) -> None:
    make_candidate(warehouse, [("a1", 90.0)])
    publish(warehouse, PublishRecord("current", "cfg"))
    for run_id in ("backfill1", "backfill2", "backfill3"):
        publish(warehouse, PublishRecord(run_id, "cfg", kind="backfill"))

    versions = {row[1] for row in warehouse.query(f"show tables in {PUBLISHED_VERSIONS_SCHEMA}")}
    # Backfills version the history only: the current scores keep their one version.
    assert {name for name in versions if name.startswith("customer_health_scores__")} == {
        "customer_health_scores__current"
    }
    history = {name for name in versions if name.startswith("customer_health_score_history__")}
    assert history == {
        "customer_health_score_history__backfill3", "customer_health_score_history__backfill2"
    }
    assert len(history) == VERSIONS_KEPT
    assert published_scores(warehouse) == [("a1", 90.0)]
