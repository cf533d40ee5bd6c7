"""Publish built marts to schema `health`, log it, and keep history honest.

DuckDB and PostgreSQL: one transaction (both have transactional DDL). Either every published
relation is replaced and publish-log rows are appended, or nothing changes: BI never sees a
half-published refresh. Spark has no multi-table transaction: each publish first writes its own
copy of every relation into schema `health_versions` (`<relation>__<run id>`); only when all are
written are the views in `health` switched to them, one statement each, then the publish-log
rows appended. A failure before the switch leaves `health` untouched; each view switches
atomically; the previous version is kept (for readers mid-query, and to roll back). The publish
log is append-only.

The score history is an incremental dbt model. Its working copy (schema marts) is reset from the
published copy before every build, so rows from a build that failed its checks, or was killed,
never reach published history.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from customer_health.dbt_project import CURRENT_MODELS, HISTORY_MODELS, WORKING_HISTORY_MODELS
from customer_health.engines.warehouse import Warehouse
from customer_health.settings import (
    PUBLISH_LOG_TABLE,
    PUBLISHED_SCHEMA,
    PUBLISHED_VERSIONS_SCHEMA,
)

log = logging.getLogger(__name__)

CANDIDATE_SCORES = "marts.customer_health_scores"
# Partition column of the history tables on Spark (dbt's insert_overwrite replaces by date).
HISTORY_PARTITION = "as_of_date"
# Published versions kept per relation on Spark: the current one and the one before it.
VERSIONS_KEPT = 2


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


def publish_log_ddl(warehouse: Warehouse) -> str:
    """The append-only publish log (Spark's Parquet tables take no NOT NULL constraints)."""
    text, timestamp = warehouse.text_type, warehouse.timestamp_type
    spark = warehouse.engine == "spark"
    required = "" if spark else " not null"
    columns = [
        ("run_id", text), ("published_at", timestamp), ("publish_kind", text),
        ("as_of_date", "date"), ("accounts_scored", "bigint"), ("checks_passed", "integer"),
        ("checks_failed", "integer"), ("checks_warned", "integer"),
        ("scoring_config_version", text), ("timings_json", text),
    ]
    column_list = ", ".join(f"{name} {kind}{required}" for name, kind in columns)
    using = " using parquet" if spark else ""
    return f"create table if not exists {PUBLISH_LOG_TABLE} ({column_list}){using}"


def candidate_query(schema: str, model: str, latest_only: bool) -> str:
    source = f"{schema}.{model}"
    where = (
        f" where as_of_date = (select max(as_of_date) from {source})"
        if latest_only and model != "quarantined_source_rows"
        else ""
    )
    return f"select * from {source}{where}"


def publish(warehouse: Warehouse, record: PublishRecord) -> int:
    """Publish the candidate (see the module docstring); return how many score rows it built."""
    models = [
        (schema, model, (schema, model) in CURRENT_MODELS)
        for schema, model in (CURRENT_MODELS if record.kind == "refresh" else ()) + HISTORY_MODELS
    ]
    built = warehouse.query(f"select count(*) from {CANDIDATE_SCORES}")[0][0]
    if warehouse.engine == "spark":
        _publish_versions(warehouse, record, models)
    else:
        with warehouse.transaction():
            warehouse.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
            for schema, model, latest_only in models:
                warehouse.execute(f"drop table if exists {PUBLISHED_SCHEMA}.{model}")
                warehouse.create_table_as(
                    f"{PUBLISHED_SCHEMA}.{model}", candidate_query(schema, model, latest_only)
                )
            _append_publish_log(warehouse, record)
    log.info("published a %s of %s score rows to schema %s", record.kind, built, PUBLISHED_SCHEMA)
    return built


def _publish_versions(
    warehouse: Warehouse, record: PublishRecord, models: list[tuple[str, str, bool]]
) -> None:
    """Spark: write this run's versions, switch the views to them, log, drop old versions."""
    for schema in (PUBLISHED_SCHEMA, PUBLISHED_VERSIONS_SCHEMA):
        warehouse.execute(f"create schema if not exists {schema}")
    for schema, model, latest_only in models:
        warehouse.create_table_as(
            version_relation(model, record.run_id), candidate_query(schema, model, latest_only)
        )
    for _, model, _ in models:
        warehouse.execute(
            f"create or replace view {PUBLISHED_SCHEMA}.{model} as "
            f"select * from {version_relation(model, record.run_id)}"
        )
    _append_publish_log(warehouse, record)
    for _, model, _ in models:
        for old in old_versions(warehouse, model):
            warehouse.execute(f"drop table if exists {PUBLISHED_VERSIONS_SCHEMA}.{old}")


def version_relation(model: str, run_id: str) -> str:
    return f"{PUBLISHED_VERSIONS_SCHEMA}.{model}__{run_id}"


def old_versions(warehouse: Warehouse, model: str) -> list[str]:
    """A relation's version tables to drop: all but its newest VERSIONS_KEPT published ones
    (a backfill versions only the history, so each relation counts its own), and any left by a
    publish that failed before it was logged."""
    newest_first = [
        row[0]
        for row in warehouse.query(
            f"select run_id from {PUBLISH_LOG_TABLE} "
            "group by run_id order by max(published_at) desc"
        )
    ]
    prefix = f"{model}__"
    existing = {
        row[1][len(prefix):]
        for row in warehouse.query(f"show tables in {PUBLISHED_VERSIONS_SCHEMA}")
        if row[1].startswith(prefix)
    }
    kept = [run_id for run_id in newest_first if run_id in existing][:VERSIONS_KEPT]
    return [f"{prefix}{run_id}" for run_id in sorted(existing - set(kept))]


def _append_publish_log(warehouse: Warehouse, record: PublishRecord) -> None:
    warehouse.execute(publish_log_ddl(warehouse))
    values = [
        record.run_id,
        datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
        record.kind,
    ]
    run_id, published_at, kind = (warehouse.literal(value) for value in values)
    warehouse.execute(
        f"""
        insert into {PUBLISH_LOG_TABLE}
        select
            {run_id}, cast({published_at} as {warehouse.timestamp_type}), {kind}, as_of_date,
            count(*), {record.checks.passed}, {record.checks.failed}, {record.checks.warned},
            {warehouse.literal(record.scoring_config_version)},
            {warehouse.literal(json.dumps(record.timings, sort_keys=True))}
        from {CANDIDATE_SCORES}
        group by as_of_date
        """
    )


def logged_dates(warehouse: Warehouse, run_id: str) -> list[date]:
    """The as-of dates the publish log holds for a run."""
    rows = warehouse.query(
        f"select distinct as_of_date from {PUBLISH_LOG_TABLE} "
        f"where run_id = {warehouse.literal(run_id)} order by as_of_date"
    )
    return [row[0] for row in rows]


def reset_working_history(warehouse: Warehouse) -> None:
    """Make the working history equal to the published history (none if nothing is published)."""
    with warehouse.transaction():
        for schema, model in WORKING_HISTORY_MODELS:
            warehouse.execute(f"create schema if not exists {schema}")
            warehouse.execute(f"drop table if exists {schema}.{model}")
            if warehouse.relation_exists(PUBLISHED_SCHEMA, model):
                warehouse.create_table_as(
                    f"{schema}.{model}",
                    f"select * from {PUBLISHED_SCHEMA}.{model}",
                    partition_by=HISTORY_PARTITION,
                )
