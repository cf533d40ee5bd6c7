"""Publish the built marts to schema `health` in one transaction, and log the publish.

Either every published relation is replaced and a publish-log row is appended, or nothing
changes: BI never sees a half-published refresh. The publish log is append-only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline_config import PUBLISH_LOG_TABLE, PUBLISHED_MODELS, PUBLISHED_SCHEMA

log = logging.getLogger(__name__)

PUBLISH_LOG_DDL = f"""
create table if not exists {PUBLISH_LOG_TABLE} (
    run_id varchar not null,
    published_at timestamp not null,
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


def publish(db_path: Path, record: PublishRecord) -> int:
    """Replace the published relations from the marts atomically; return rows published."""
    with duckdb.connect(str(db_path)) as connection:
        connection.execute("begin transaction")
        try:
            connection.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
            for schema, model in PUBLISHED_MODELS:
                connection.execute(
                    f"create or replace table {PUBLISHED_SCHEMA}.{model} as "
                    f"select * from {schema}.{model}"
                )
            connection.execute(PUBLISH_LOG_DDL)
            rows = connection.execute(
                f"""
                insert into {PUBLISH_LOG_TABLE}
                select
                    ?, ?, as_of_date, count(*), ?, ?, ?, ?, ?
                from {PUBLISHED_SCHEMA}.customer_health_scores
                group by as_of_date
                returning accounts_scored
                """,
                [
                    record.run_id,
                    datetime.now(UTC).replace(tzinfo=None),
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
    published = sum(row[0] for row in rows)
    log.info("published %s score rows to schema %s", published, PUBLISHED_SCHEMA)
    return published
