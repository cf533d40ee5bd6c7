"""Load the raw data files into the raw tables of a target, as the dbt sources there read them.

PostgreSQL: each CSV file (or Parquet folder) is copied into a table of text columns, one
transaction per table (COPY). Spark: each table is defined over its file or folder (`using csv` /
`using parquet`), read at query time. DuckDB reads the raw files directly, so there is nothing
to load. The tables, their schema (var `raw_schema`) and their file names (`identifier`) are
the dbt sources' (customer_health.dbt_project). Teams whose raw tables already live in the
warehouse skip this step and point the sources at them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from customer_health.dbt_project import missing_raw_files, project_facts
from customer_health.engines.warehouse import connect
from customer_health.errors import BadInputError
from customer_health.settings import PipelinePaths, raw_data_format

log = logging.getLogger(__name__)


def load_raw(paths: PipelinePaths, target_path: Path) -> None:
    """Load every raw table into the paths' target (target_path: where dbt's manifest is)."""
    target = paths.target
    if target == "duckdb":
        log.info("DuckDB reads the raw files in %s directly: nothing to load", paths.raw_data_dir)
        return
    file_format = raw_data_format()
    tables = project_facts(target_path, target).raw_tables
    missing = missing_raw_files(tables, paths.raw_data_dir, file_format)
    if not paths.raw_data_dir.is_dir() or missing:
        raise BadInputError(
            f"raw data folder {paths.raw_data_dir} lacks: {', '.join(missing) or 'all'}"
        )
    with connect(target) as warehouse:
        for table in tables:
            started = time.perf_counter()
            location = table.location(paths.raw_data_dir, file_format)
            warehouse.load_raw_file(table.schema, table.identifier, location, file_format)
            relation = f"{table.schema}.{table.identifier}"
            rows = warehouse.query(f"select count(*) from {relation}")[0][0]
            log.info("loaded %s: %s rows in %.1f s", relation, rows, time.perf_counter() - started)
