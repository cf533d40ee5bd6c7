"""Dated history relations on PostgreSQL and Spark: a partition per publish, views of the live ones.

A history relation whose publish replaces only some dates (publish.REPLACED_ROWS) is stored in
`health_versions.<relation>__parts`, partitioned by `published_run_id`. A publish adds one
partition holding only the rows its build wrote; no published row is copied or rewritten, so a
publish costs what it scored, not the length of the history. Spark writes the partition as a
folder of its own beside the others; PostgreSQL as a table attached to the partitioned one.

Which partition shows each as-of date (the live parts) is recorded per publish in
`health_versions.history_live_parts`, partitioned by the publish's run id: the previous publish's
live parts without the dates this publish replaces, plus the dates it wrote. The view
`health.<relation>` selects those (partition, date) pairs and no other, so a partition is visible
only once its publish switches the views, and a rollback writes the restored publish's live parts
again under its own run id. Partitions that no kept publish shows are dropped.

Publishes made before this layout kept whole version tables (`<relation>__<run id>`). The first
publish after them has no live parts to start from: it writes the whole published history into
its partition, once, and those publishes can no longer be restored.
"""

from __future__ import annotations

from datetime import date

from customer_health.engines.warehouse import Warehouse
from customer_health.settings import PUBLISHED_VERSIONS_SCHEMA

PARTITION_COLUMN = "published_run_id"
LIVE_PARTS_TABLE = "history_live_parts"
LIVE_PARTS = f"{PUBLISHED_VERSIONS_SCHEMA}.{LIVE_PARTS_TABLE}"
PUBLISH_COLUMN = "run_id"

# As-of date -> run id of the partition that shows it, for one relation.
LiveParts = dict[date, str]


def parts_table(model: str) -> str:
    return f"{PUBLISHED_VERSIONS_SCHEMA}.{model}__parts"


def live_parts(warehouse: Warehouse, run_id: str) -> dict[str, LiveParts]:
    """The live parts of every dated relation as publish `run_id` left them (none before the
    first publish of this layout)."""
    if not warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, LIVE_PARTS_TABLE):
        return {}
    parts: dict[str, LiveParts] = {}
    for model, day, part in warehouse.query(
        f"select relation_name, as_of_date, part_run_id from {LIVE_PARTS} "
        f"where {PUBLISH_COLUMN} = {warehouse.literal(run_id)}"
    ):
        parts.setdefault(model, {})[day] = part
    return parts


def has_live_parts(warehouse: Warehouse, run_id: str) -> bool:
    """Whether publish run_id recorded its live parts (publishes before this layout did not)."""
    return warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, LIVE_PARTS_TABLE) and (
        run_id in warehouse.partition_values(LIVE_PARTS, PUBLISH_COLUMN)
    )


def write_part(
    warehouse: Warehouse,
    model: str,
    rows: str,
    columns: dict[str, str],
    run_id: str,
    kept: LiveParts,
    replaced: str,
) -> LiveParts:
    """Write `rows` (a query with `columns`) as run_id's partition of a dated relation, adding
    the columns its table lacks; return the live parts after it: `kept` (the previous publish's)
    without the dates that match `replaced` (a condition on as_of_date), plus the dates written."""
    table = parts_table(model)
    if not warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, f"{model}__parts"):
        warehouse.create_partitioned_table(table, rows, PARTITION_COLUMN)
    stored = data_columns(warehouse, model)
    for name, kind in columns.items():
        if name not in stored:
            warehouse.add_column(table, name, kind)
            stored[name] = kind
    values = (name if name in columns else f"cast(null as {kind}) as {name}"
              for name, kind in stored.items())
    warehouse.insert_partition(
        table, PARTITION_COLUMN, run_id, f"select {', '.join(values)} from ({rows}) as part_rows"
    )
    written = warehouse.query(
        f"select distinct as_of_date from {table} "
        f"where {PARTITION_COLUMN} = {warehouse.literal(run_id)}"
    )
    dropped = _matching_dates(warehouse, kept, replaced)
    live = {day: part for day, part in kept.items() if day not in dropped}
    return {**live, **{day: run_id for (day,) in written}}


def data_columns(warehouse: Warehouse, model: str) -> dict[str, str]:
    """The relation's columns in its parts table, in order, without the partition column."""
    columns = warehouse.column_types(PUBLISHED_VERSIONS_SCHEMA, f"{model}__parts")
    columns.pop(PARTITION_COLUMN)
    return columns


def record_live_parts(warehouse: Warehouse, run_id: str, parts: dict[str, LiveParts]) -> None:
    """Write the live parts of publish run_id (read only once its publish is logged)."""
    rows = [
        (warehouse.literal(model), _date(day), warehouse.literal(part))
        for model, live in sorted(parts.items()) for day, part in sorted(live.items())
    ]
    text = warehouse.text_type
    select = (
        f"select cast(relation_name as {text}) as relation_name, "
        f"cast(as_of_date as date) as as_of_date, cast(part_run_id as {text}) as part_run_id "
        f"from {_values(rows or [('null', 'null', 'null')])} "
        f"as live_parts (relation_name, as_of_date, part_run_id)"
        + ("" if rows else " where 1 = 0")
    )
    if not warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, LIVE_PARTS_TABLE):
        warehouse.create_partitioned_table(LIVE_PARTS, select, PUBLISH_COLUMN)
    warehouse.insert_partition(LIVE_PARTS, PUBLISH_COLUMN, run_id, select)


def view_query(warehouse: Warehouse, model: str, live: LiveParts) -> str:
    """The rows of `health.<model>`: of each partition, the dates it shows."""
    dates_by_part: dict[str, list[str]] = {}
    for day, part in sorted(live.items()):
        dates_by_part.setdefault(part, []).append(_date(day))
    shown = " or ".join(
        f"({PARTITION_COLUMN} = {warehouse.literal(part)} and as_of_date in ({', '.join(days)}))"
        for part, days in dates_by_part.items()
    )
    # The list of partitions alone lets both engines skip every other partition.
    parts = ", ".join(warehouse.literal(part) for part in dates_by_part)
    condition = f"{PARTITION_COLUMN} in ({parts}) and ({shown})" if shown else "1 = 0"
    columns = ", ".join(data_columns(warehouse, model))
    return f"select {columns} from {parts_table(model)} where {condition}"


def drop_unshown_parts(
    warehouse: Warehouse, models: list[str], kept_runs: list[str], whole_versions: set[str]
) -> None:
    """Drop the partitions no kept publish shows, the live parts of publishes no longer kept,
    and `whole_versions` (the version tables of a dated relation from before this layout)."""
    kept = [live_parts(warehouse, run_id) for run_id in kept_runs]
    for model in models:
        shown = {part for parts in kept for part in parts.get(model, {}).values()}
        if warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, f"{model}__parts"):
            table = parts_table(model)
            for part in warehouse.partition_values(table, PARTITION_COLUMN):
                if part not in shown:
                    warehouse.drop_partition(table, PARTITION_COLUMN, part)
    for relation in sorted(whole_versions):
        warehouse.execute(f"drop table if exists {PUBLISHED_VERSIONS_SCHEMA}.{relation}")
    if warehouse.relation_exists(PUBLISHED_VERSIONS_SCHEMA, LIVE_PARTS_TABLE):
        for run_id in warehouse.partition_values(LIVE_PARTS, PUBLISH_COLUMN):
            if run_id not in kept_runs:
                warehouse.drop_partition(LIVE_PARTS, PUBLISH_COLUMN, run_id)


def whole_version_tables(model: str, tables: list[str]) -> list[str]:
    """Of the `tables` of `health_versions`, the version tables of a dated relation from before
    this layout (`<relation>__<run id>`)."""
    prefix, parts = f"{model}__", f"{model}__parts"
    return [name for name in tables if name.startswith(prefix) and not name.startswith(parts)]


def _matching_dates(warehouse: Warehouse, live: LiveParts, condition: str) -> set[date]:
    """The dates of `live` that match a condition on as_of_date."""
    if not live:
        return set()
    days = _values([(_date(day),) for day in live])
    return {row[0] for row in warehouse.query(
        f"select as_of_date from {days} as live_dates (as_of_date) where {condition}"
    )}


def _values(rows: list[tuple[str, ...]]) -> str:
    """A table of SQL literals, rows in parentheses (both engines read `(values ...) as t (c)`)."""
    return "(values " + ", ".join(f"({', '.join(row)})" for row in rows) + ")"


def _date(day: date) -> str:
    return f"date '{day.isoformat()}'"
