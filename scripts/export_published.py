"""Export the published relations of a target to CSV files, in an engine-neutral form.

One file per relation (`<relation>.csv`), columns in name order, rows sorted, numbers as Python
prints them, dates and timestamps in ISO form: the same published data gives byte-identical files
on every engine, which is how the test suite proves that DuckDB, PostgreSQL and Spark agree.
"""

from __future__ import annotations

import argparse
import csv
import logging
from datetime import date, datetime
from pathlib import Path

from pipeline_config import (
    CURRENT_MODELS,
    DEFAULT_TARGET,
    PUBLISHED_SCHEMA,
    PipelinePaths,
    exit_process,
)
from warehouse import ENGINES, Warehouse, connect

log = logging.getLogger("export_published")

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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=ENGINES, default=DEFAULT_TARGET)
    parser.add_argument("--db-path", help="DuckDB file (duckdb target)")
    parser.add_argument("--out", required=True, help="folder to write the CSV files to")
    parser.add_argument(
        "--relation", action="append", dest="relations",
        help="a relation in schema health (repeatable; default: the current-score relations)",
    )
    args = parser.parse_args(argv)
    paths = PipelinePaths.resolve(db_path=args.db_path, target=args.target)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    relations = args.relations or [model for _, model in CURRENT_MODELS]
    with connect(paths.target, paths.db_path, read_only=True) as warehouse:
        for relation in relations:
            rows = export_relation(warehouse, relation, out)
            log.info("exported %s.%s: %s rows", PUBLISHED_SCHEMA, relation, rows)
    return 0


if __name__ == "__main__":
    exit_process(main())
