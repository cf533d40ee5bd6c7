"""Load the raw data files into schema `raw` of a target, as the dbt sources there read them.

PostgreSQL: each CSV file (or Parquet folder) is copied into a table of text columns, one
transaction per table (COPY). Spark: each table is defined over its file or folder (`using csv` /
`using parquet`), read at query time. DuckDB reads the raw files directly, so there is nothing
to load. Teams whose raw tables already live in the warehouse skip this step and point the
sources at them (var `raw_schema`, or `schema` / `identifier` in the sources YAML).
"""

from __future__ import annotations

import logging
import time

from customer_health.engines.warehouse import connect
from customer_health.errors import BadInputError
from customer_health.settings import (
    RAW_SCHEMA,
    RAW_TABLES,
    PipelinePaths,
    missing_raw_files,
    raw_data_format,
)

log = logging.getLogger(__name__)


def load_raw(paths: PipelinePaths) -> None:
    """Load every raw table into the paths' target."""
    target = paths.target
    if target == "duckdb":
        log.info("DuckDB reads the raw files in %s directly: nothing to load", paths.raw_data_dir)
        return
    missing = missing_raw_files(paths.raw_data_dir)
    if not paths.raw_data_dir.is_dir() or missing:
        raise BadInputError(
            f"raw data folder {paths.raw_data_dir} lacks: {', '.join(missing) or 'all'}"
        )
    file_format = raw_data_format()
    with connect(target) as warehouse:
        for table in RAW_TABLES:
            started = time.perf_counter()
            location = paths.raw_data_dir / (f"{table}.csv" if file_format == "csv" else table)
            warehouse.load_raw_file(RAW_SCHEMA, table, location, file_format)
            rows = warehouse.query(f"select count(*) from {RAW_SCHEMA}.{table}")[0][0]
            log.info(
                "loaded %s.%s: %s rows in %.1f s", RAW_SCHEMA, table, rows,
                time.perf_counter() - started,
            )
