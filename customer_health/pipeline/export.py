"""Export the published relations of a target to CSV files, in an engine-neutral form.

One file per relation (`<relation>.csv`), columns in name order, rows sorted, numbers as Python
prints them, dates and timestamps in ISO form: the same published data gives byte-identical files
on every engine, which is how the test suite proves that DuckDB, PostgreSQL and Spark agree.
"""

from __future__ import annotations

import csv
import logging
from datetime import date, datetime
from pathlib import Path

from customer_health.engines.warehouse import Warehouse
from customer_health.settings import PUBLISHED_SCHEMA

log = logging.getLogger(__name__)

# Columns that differ between runs by design (each dbt invocation stamps its own id).
RUN_SPECIFIC_COLUMNS = frozenset({"dbt_invocation_id"})


def as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 9))
    return str(value)


def export_relation(warehouse: Warehouse, relation: str, out: Path) -> int:
    """Write schema `health`'s relation to out/<relation>.csv; return the number of rows."""
    columns = sorted(
        column
        for column in warehouse.columns(PUBLISHED_SCHEMA, relation)
        if column not in RUN_SPECIFIC_COLUMNS
    )
    rows = sorted(
        [as_text(value) for value in row]
        for row in warehouse.query(
            f"select {', '.join(columns)} from {PUBLISHED_SCHEMA}.{relation}"
        )
    )
    with (out / f"{relation}.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return len(rows)


def export_relations(warehouse: Warehouse, relations: list[str], out: Path) -> dict[str, int]:
    """Export each relation of schema `health` to out/; return the rows written per relation."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for relation in relations:
        written[relation] = export_relation(warehouse, relation, out)
        log.info("exported %s.%s: %s rows", PUBLISHED_SCHEMA, relation, written[relation])
    return written
