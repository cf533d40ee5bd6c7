"""Load the raw data files into schema `raw` of a target, as the dbt sources there read them.

PostgreSQL: each CSV file (or Parquet folder) is copied into a table of text columns, one
transaction per table (COPY). Spark: each table is defined over its file or folder (`using csv` /
`using parquet`), read at query time. DuckDB reads the raw files directly, so there is nothing
to load. Teams whose raw tables already live in the warehouse skip this step and point the
sources at them (var `raw_schema`, or `schema` / `identifier` in the sources YAML).
"""

from __future__ import annotations

import argparse
import logging
import time

from pipeline_config import (
    DEFAULT_TARGET,
    EXIT_BAD_INPUT,
    EXIT_OK,
    RAW_SCHEMA,
    RAW_TABLES,
    PipelinePaths,
    exit_process,
    missing_raw_files,
    raw_data_format,
)
from warehouse import ENGINES, WarehouseError, connect

log = logging.getLogger("load_raw")


def load_raw(paths: PipelinePaths, target: str) -> int:
    """Load every raw table; return the exit code."""
    if target == "duckdb":
        log.info("DuckDB reads the raw files in %s directly: nothing to load", paths.raw_data_dir)
        return EXIT_OK
    missing = missing_raw_files(paths.raw_data_dir)
    if not paths.raw_data_dir.is_dir() or missing:
        log.error("raw data folder %s lacks: %s", paths.raw_data_dir, ", ".join(missing) or "all")
        return EXIT_BAD_INPUT
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
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", choices=ENGINES, default=DEFAULT_TARGET)
    parser.add_argument(
        "--raw-data-dir",
        help="folder with the raw files (default: $HEALTH_RAW_DATA_DIR or data/ravenstack)",
    )
    args = parser.parse_args(argv)
    paths = PipelinePaths.resolve(raw_data_dir=args.raw_data_dir)
    try:
        return load_raw(paths, args.target)
    except WarehouseError as error:
        log.error("%s", error)
        return 5


if __name__ == "__main__":
    exit_process(main())
