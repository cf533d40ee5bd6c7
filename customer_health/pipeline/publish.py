"""Publish built marts to schema `health` and log it.

A build writes candidates in schema `marts`; BI reads schema `health`. A publish changes:

- current relations (CURRENT_MODELS, published by a refresh only): replaced whole, by the
  candidate's latest as-of date;
- history relations (HISTORY_MODELS, published by refreshes and backfills): the published history
  is the source of truth, which the history models read (dbt source `health`). A build writes
  only some dates of it, and a publish replaces only those (`REPLACED_ROWS`): the dates the build
  scored in score and component history; those and every later date in the change relations (a
  rescored date is the previous date of the next one, whose comparison changes with it).
  `newly_at_risk_accounts`, the latest date's list, is replaced whole. A column added to a history
  model is added to its published relation, null on earlier dates.

Nothing dbt manages is changed here, so a plain `dbt build` gives the rows a refresh publishes.

DuckDB: one transaction in the working database (customer_health/pipeline/served_file.py then
writes the file BI reads). History dates are deleted and inserted, whole relations dropped and
created, publish-log rows appended; either all of it happens or nothing does. The current scores
and components are views of the current date of the published history (CURRENT_VIEWS_OF_HISTORY)
rather than a second copy of those rows.

Spark has no multi-table transaction, and overwriting a date's partition of a plain Parquet table
deletes its files before writing the new ones, with no way back. So PostgreSQL and Spark keep
versions in schema `health_versions` behind views in `health`, and a publish first writes, while
`health` still shows the previous publish:

- a current relation: its own version `<relation>__<run id>`, the candidate whole;
- a dated history relation (REPLACED_ROWS): a partition of `<relation>__parts` holding only the
  rows the build wrote, and the dates each partition shows after this publish
  (customer_health/pipeline/history_parts.py); the history already published is not copied.

Only when all are written are the views in `health` switched to them (one transaction on
PostgreSQL, one statement each on Spark), then the publish-log rows appended. A failure before
the switch leaves `health` untouched; each view switches atomically; the versions of the last
PUBLISHES_KEPT publishes are kept (for readers mid-query, and to roll back). The publish log is
append-only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from customer_health.dbt_project import CURRENT_MODELS, HISTORY_MODELS
from customer_health.engines.warehouse import Warehouse
from customer_health.pipeline.history_parts import (
    LiveParts,
    drop_unshown_parts,
    live_parts,
    record_live_parts,
    view_query,
    whole_version_tables,
    write_part,
)
from customer_health.settings import (
    PUBLISH_LOG_TABLE,
    PUBLISHED_SCHEMA,
    PUBLISHED_VERSIONS_SCHEMA,
    PUBLISHES_KEPT,
    SCORES_MODEL,
)

log = logging.getLogger(__name__)

CANDIDATE_SCORES = f"marts.{SCORES_MODEL}"
# The as-of dates the build scored (the dbt model int_as_of_dates).
SCORED_DATES = "intermediate.int_as_of_dates"
# The published rows a publish replaces in a history relation: the dates its model holds (the
# change models: from first_rescored_date() on, macros/history_since_previous_date.sql).
# Relations not listed are replaced whole.
ON_SCORED_DATES = f"as_of_date in (select as_of_date from {SCORED_DATES})"
FROM_FIRST_SCORED_DATE = f"as_of_date >= (select min(as_of_date) from {SCORED_DATES})"
REPLACED_ROWS = {
    "customer_health_score_history": ON_SCORED_DATES,
    "customer_health_score_component_history": ON_SCORED_DATES,
    "customer_health_score_changes": FROM_FIRST_SCORED_DATE,
    "customer_health_score_change_attribution": FROM_FIRST_SCORED_DATE,
}
# Current relations that are one date of a history relation: the history model selects the
# current model's rows unchanged (models/marts/history/). On DuckDB they are published as views of
# the current date of the published history rather than as a second copy of its rows (15 rows
# per account for the components); a backfill that rescores that date first turns them into
# tables of what they showed (freeze_current_views), so it leaves the current scores alone.
CURRENT_VIEWS_OF_HISTORY = {
    "customer_health_scores": "customer_health_score_history",
    "customer_health_score_components": "customer_health_score_component_history",
}
# Engines whose `health` relations are views over versioned tables in `health_versions`
# (DuckDB keeps its versions as whole served files: customer_health/pipeline/served_file.py).
VERSIONED_ENGINES = ("postgres", "spark")


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
    timings: dict[str, object] = field(default_factory=dict)
    # "refresh" publishes current scores (latest as-of date built) and history;
    # "backfill" publishes history only, leaving the current scores alone; "rollback" restores
    # a kept publish (timings hold its run id as restored_run_id).
    kind: str = "refresh"
    # Publishes kept for rollback, the current one included.
    keep: int = PUBLISHES_KEPT


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


def candidate_query(schema: str, model: str) -> str:
    """The candidate rows a relation gets: a current relation's latest as-of date (all of the
    undated quarantine), every row of a history relation."""
    source = f"{schema}.{model}"
    latest_only = (schema, model) in CURRENT_MODELS and model != "quarantined_source_rows"
    where = f" where as_of_date = (select max(as_of_date) from {source})" if latest_only else ""
    return f"select * from {source}{where}"


def published_relations(kind: str) -> tuple[tuple[str, str], ...]:
    """(schema, model) of the candidates a publish of this kind publishes: a refresh's current
    relations and history, a backfill's history."""
    return tuple((CURRENT_MODELS if kind == "refresh" else ()) + HISTORY_MODELS)


def changed_rows(kind: str) -> dict[str, str | None]:
    """The published relations a publish of this kind changes, each with the condition of the
    rows it replaces (REPLACED_ROWS; None: the whole relation). The publish log gains rows too."""
    return {model: REPLACED_ROWS.get(model) for _, model in published_relations(kind)}


def publish(warehouse: Warehouse, record: PublishRecord) -> int:
    """Publish the candidate (see the module docstring); return how many score rows it built."""
    relations = published_relations(record.kind)
    built = warehouse.query(f"select count(*) from {CANDIDATE_SCORES}")[0][0]
    if warehouse.engine in VERSIONED_ENGINES:
        _publish_versions(warehouse, record, relations)
    else:
        with warehouse.transaction():
            warehouse.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
            if record.kind != "refresh":
                freeze_current_views(warehouse)
            # the current views last: they select from the history published before them
            for schema, model in sorted(
                relations, key=lambda relation: relation[1] in CURRENT_VIEWS_OF_HISTORY
            ):
                _publish_in_place(warehouse, schema, model)
            append_publish_log(warehouse, record)
    log.info("published a %s of %s score rows to schema %s", record.kind, built, PUBLISHED_SCHEMA)
    return built


def _publish_in_place(warehouse: Warehouse, schema: str, model: str) -> None:
    """DuckDB, in the caller's transaction: delete and insert the rows a build rewrote in a
    history relation (adding its new columns first), point a current view at the candidate's
    date, or replace a whole relation."""
    published = f"{PUBLISHED_SCHEMA}.{model}"
    if model in CURRENT_VIEWS_OF_HISTORY:
        drop_relation(warehouse, PUBLISHED_SCHEMA, model)
        query = current_view_query(warehouse, schema, model)
        warehouse.execute(f"create view {published} as {query}")
        return
    replaced = REPLACED_ROWS.get(model)
    if replaced and warehouse.relation_exists(PUBLISHED_SCHEMA, model):
        published_columns = warehouse.column_types(PUBLISHED_SCHEMA, model)
        candidate_columns = warehouse.column_types(schema, model)
        for name, kind in candidate_columns.items():
            if name not in published_columns:
                warehouse.execute(f"alter table {published} add column {name} {kind}")
        names = ", ".join(candidate_columns)
        warehouse.execute(f"delete from {published} where {replaced}")
        warehouse.execute(f"insert into {published} ({names}) select {names} from {schema}.{model}")
        return
    warehouse.execute(f"drop table if exists {published}")
    warehouse.create_table_as(published, candidate_query(schema, model))


def current_view_query(warehouse: Warehouse, schema: str, model: str) -> str:
    """The published history's rows of the candidate's latest as-of date, in the candidate's
    columns (the published history may hold more, and in another order)."""
    latest = warehouse.query(f"select max(as_of_date) from {schema}.{model}")[0][0]
    columns = ", ".join(warehouse.column_types(schema, model))
    history = f"{PUBLISHED_SCHEMA}.{CURRENT_VIEWS_OF_HISTORY[model]}"
    return (f"select {columns} from {history} "
            f"where as_of_date = cast({warehouse.literal(str(latest))} as date)")


def freeze_current_views(warehouse: Warehouse) -> None:
    """DuckDB, before a backfill changes history: turn each current view whose date it rescores
    into a table of the rows it shows, so that the backfill leaves the current scores alone (the
    next refresh points them at its own date again)."""
    for model in CURRENT_VIEWS_OF_HISTORY:
        if not warehouse.is_view(PUBLISHED_SCHEMA, model):
            continue
        published = f"{PUBLISHED_SCHEMA}.{model}"
        rescored = warehouse.query(
            f"select count(*) from {SCORED_DATES} "
            f"where as_of_date = (select max(as_of_date) from {published})"
        )[0][0]
        if not rescored:
            continue
        frozen = f"{model}__frozen"
        warehouse.execute(f"drop table if exists {PUBLISHED_SCHEMA}.{frozen}")
        warehouse.create_table_as(f"{PUBLISHED_SCHEMA}.{frozen}", f"select * from {published}")
        warehouse.execute(f"drop view {published}")
        warehouse.execute(f"alter table {PUBLISHED_SCHEMA}.{frozen} rename to {model}")


def drop_relation(warehouse: Warehouse, schema: str, name: str) -> None:
    """Drop a table or view, if there is one."""
    kind = "view" if warehouse.is_view(schema, name) else "table"
    warehouse.execute(f"drop {kind} if exists {schema}.{name}")


def version_query(warehouse: Warehouse, schema: str, model: str) -> str:
    """A dated relation's published rows outside the replaced ones union all the candidate's,
    by column name (a column only one side has is null on the other's rows): the whole history
    the first publish of the partitioned layout writes."""
    replaced = REPLACED_ROWS[model]
    published = warehouse.column_types(PUBLISHED_SCHEMA, model)
    candidate = warehouse.column_types(schema, model)
    columns = {**published, **candidate}

    def select(relation: str, present: dict[str, str]) -> str:
        values = (
            name if name in present else f"cast(null as {kind}) as {name}"
            for name, kind in columns.items()
        )
        return f"select {', '.join(values)} from {relation}"

    return (
        f"{select(f'{PUBLISHED_SCHEMA}.{model}', published)} where not ({replaced}) "
        f"union all {select(f'{schema}.{model}', candidate)}"
    )


def _publish_versions(
    warehouse: Warehouse, record: PublishRecord, relations: tuple[tuple[str, str], ...]
) -> None:
    """PostgreSQL, Spark: write this run's versions and partitions (while `health` still shows
    the previous publish), switch the views to them and log, then drop what no kept publish
    shows."""
    for schema in (PUBLISHED_SCHEMA, PUBLISHED_VERSIONS_SCHEMA):
        warehouse.execute(f"create schema if not exists {schema}")
    runs = published_runs(warehouse)
    previous = live_parts(warehouse, runs[0]) if runs else {}
    views, parts = {}, {}
    for schema, model in relations:
        if model in REPLACED_ROWS:
            parts[model] = _write_dated_part(
                warehouse, schema, model, record.run_id, previous.get(model)
            )
        else:
            version = version_relation(model, record.run_id)
            warehouse.create_table_as(version, candidate_query(schema, model))
            views[model] = f"select * from {version}"
    record_live_parts(warehouse, record.run_id, parts)
    views.update({model: view_query(warehouse, model, live) for model, live in parts.items()})
    switch_views(warehouse, views, record)
    newest_first = published_runs(warehouse)
    tables = warehouse.tables(PUBLISHED_VERSIONS_SCHEMA)
    for model in sorted(views.keys() - parts.keys()):
        for old in old_versions(model, record.keep, newest_first, tables):
            warehouse.execute(f"drop table if exists {PUBLISHED_VERSIONS_SCHEMA}.{old}")
    drop_unshown_parts(
        warehouse, sorted(parts), newest_first[: record.keep],
        {table for model in parts for table in whole_version_tables(model, tables)},
    )


def _write_dated_part(
    warehouse: Warehouse, schema: str, model: str, run_id: str, kept: LiveParts | None
) -> LiveParts:
    """Write the candidate's rows of a dated relation as this run's partition; return the live
    parts after it. Without live parts from the previous publish, a published relation is
    written whole (the first publish of the partitioned layout)."""
    candidate = warehouse.column_types(schema, model)
    if kept is None and warehouse.relation_exists(PUBLISHED_SCHEMA, model):
        columns = {**warehouse.column_types(PUBLISHED_SCHEMA, model), **candidate}
        return write_part(warehouse, model, version_query(warehouse, schema, model), columns,
                          run_id, {}, REPLACED_ROWS[model])
    return write_part(warehouse, model, candidate_query(schema, model), candidate, run_id,
                      kept or {}, REPLACED_ROWS[model])


def switch_views(
    warehouse: Warehouse,
    views: dict[str, str],
    record: PublishRecord,
    scores: str = CANDIDATE_SCORES,
) -> None:
    """Point each view `health.<model>` at its query (a version, or the live partitions) and
    log the publish: in one transaction on PostgreSQL (readers see all switches or none), one
    view at a time on Spark. A relation still published as a table (before versions) becomes a
    view."""
    with warehouse.transaction():
        for model, query in views.items():
            published = f"{PUBLISHED_SCHEMA}.{model}"
            if warehouse.is_view(PUBLISHED_SCHEMA, model):
                # PostgreSQL cannot `create or replace` a view whose columns changed.
                if warehouse.engine == "postgres":
                    warehouse.execute(f"drop view {published}")
            elif warehouse.relation_exists(PUBLISHED_SCHEMA, model):
                warehouse.execute(f"drop table {published}")
            warehouse.execute(f"create or replace view {published} as {query}")
        append_publish_log(warehouse, record, scores)


def version_relation(model: str, run_id: str) -> str:
    return f"{PUBLISHED_VERSIONS_SCHEMA}.{model}__{run_id}"


def old_versions(
    model: str, keep: int, newest_first: list[str], tables: list[str]
) -> list[str]:
    """A current relation's version tables to drop, of the `tables` of `health_versions`: all
    but its newest `keep` published ones (`newest_first`: the publish log's runs; a backfill
    versions only the history, so each relation counts its own), and any left by a publish that
    failed before it was logged."""
    existing = run_ids_of_versions(model, tables)
    kept = [run_id for run_id in newest_first if run_id in existing][:keep]
    return [f"{model}__{run_id}" for run_id in sorted(existing - set(kept))]


def published_runs(warehouse: Warehouse) -> list[str]:
    """Run ids in the publish log, newest first (none before the first publish)."""
    if not warehouse.relation_exists(PUBLISHED_SCHEMA, "publish_log"):
        return []
    return [row[0] for row in warehouse.query(
        f"select run_id from {PUBLISH_LOG_TABLE} group by run_id order by max(published_at) desc"
    )]


def version_run_ids(warehouse: Warehouse, model: str) -> set[str]:
    """Run ids of the versions of a relation that exist in schema `health_versions`."""
    return run_ids_of_versions(model, warehouse.tables(PUBLISHED_VERSIONS_SCHEMA))


def run_ids_of_versions(model: str, tables: list[str]) -> set[str]:
    """Run ids of the version tables of a relation (`<model>__<run id>`) among `tables`."""
    prefix = f"{model}__"
    return {name[len(prefix):] for name in tables if name.startswith(prefix)}


def append_publish_log(
    warehouse: Warehouse, record: PublishRecord, scores: str = CANDIDATE_SCORES
) -> None:
    """One row per as-of date of `scores` (the candidate, or on a rollback the restored scores)."""
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
        from {scores}
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
