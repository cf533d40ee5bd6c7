"""Publish built marts to schema `health` in one transaction, log it, and keep history honest.

Either every published relation is replaced and publish-log rows are appended, or nothing
changes: BI never sees a half-published refresh. The publish log is append-only.

The score history is an incremental dbt model. Its working copy (schema marts) is reset from the
published copy before every build, so rows from a build that failed its checks, or was killed,
never reach published history.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline_config import (
    CURRENT_MODELS,
    HISTORY_MODELS,
    PUBLISH_LOG_TABLE,
    PUBLISHED_SCHEMA,
    WORKING_HISTORY_MODELS,
)

log = logging.getLogger(__name__)

CANDIDATE_SCORES = "marts.customer_health_scores"

PUBLISH_LOG_DDL = f"""
create table if not exists {PUBLISH_LOG_TABLE} (
    run_id varchar not null,
    published_at timestamp not null,
    publish_kind varchar not null,
    as_of_date date not null,
    accounts_scored bigint not null,
    checks_passed integer not null,
    checks_failed integer not null,
    checks_warned integer not null,
    scoring_config_version varchar not null,
    timings_json varchar not null
)
"""


@dataclass(frozen=True)
class CheckCounts:
    """Quality-gate outcome recorded with a publish."""

    passed: int = 0
    failed: int = 0
    warned: int = 0


@dataclass
class PublishRecord:
    run_id: str
    scoring_config_version: str
    checks: CheckCounts = field(default_factory=CheckCounts)
    timings: dict[str, float] = field(default_factory=dict)
    # "refresh" publishes current scores (latest as-of date built) and history;
    # "backfill" publishes history only, leaving the current scores alone.
    kind: str = "refresh"


def relation_exists(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, name],
    ).fetchone() == (1,)


def copy_statement(schema: str, model: str, latest_only: bool) -> str:
    source = f"{schema}.{model}"
    where = (
        f" where as_of_date = (select max(as_of_date) from {source})"
        if latest_only and model != "quarantined_source_rows"
        else ""
    )
    return f"create or replace table {PUBLISHED_SCHEMA}.{model} as select * from {source}{where}"


def publish(db_path: Path, record: PublishRecord) -> int:
    """Publish the candidate atomically; return how many score rows the run built."""
    models = (CURRENT_MODELS if record.kind == "refresh" else ()) + HISTORY_MODELS
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("begin transaction")
        try:
            connection.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
            for schema, model in models:
                latest_only = (schema, model) in CURRENT_MODELS
                connection.execute(copy_statement(schema, model, latest_only))
            connection.execute(PUBLISH_LOG_DDL)
            rows = connection.execute(
                f"""
                insert into {PUBLISH_LOG_TABLE}
                select ?, ?, ?, as_of_date, count(*), ?, ?, ?, ?, ?
                from {CANDIDATE_SCORES}
                group by as_of_date
                returning accounts_scored
                """,
                [
                    record.run_id,
                    datetime.now(UTC).replace(tzinfo=None),
                    record.kind,
                    record.checks.passed,
                    record.checks.failed,
                    record.checks.warned,
                    record.scoring_config_version,
                    json.dumps(record.timings, sort_keys=True),
                ],
            ).fetchall()
            connection.execute("commit")
        except Exception:
            connection.execute("rollback")
            raise
    built = sum(row[0] for row in rows)
    log.info("published a %s of %s score rows to schema %s", record.kind, built, PUBLISHED_SCHEMA)
    return built


def reset_working_history(db_path: Path) -> None:
    """Make the working history equal to the published history (none if nothing is published)."""
    if not db_path.exists():
        return
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("begin transaction")
        for schema, model in WORKING_HISTORY_MODELS:
            connection.execute(f"create schema if not exists {schema}")
            if relation_exists(connection, PUBLISHED_SCHEMA, model):
                connection.execute(
                    f"create or replace table {schema}.{model} as "
                    f"select * from {PUBLISHED_SCHEMA}.{model}"
                )
            else:
                connection.execute(f"drop table if exists {schema}.{model}")
        connection.execute("commit")
