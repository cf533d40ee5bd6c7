"""Refresh the customer health scores: dbt build -> quality gate -> publish -> summary.

This is the entry point orchestrators call (`make refresh` runs it). Exit codes:
0 published; 1 dbt build failed; 2 quality gate failed; 3 another refresh holds the lock;
4 bad input (missing data folder or files, bad arguments); 5 the engine could not be reached
(retry later). On any failure the relations published in schema `health` are left exactly as
they were. `--target` picks the engine (duckdb, postgres, spark) from profiles.yml.
"""

from __future__ import annotations

import argparse
import logging
import time
import uuid
from datetime import date
from pathlib import Path

from dbt_build import run_dbt_build
from pipeline_config import (
    DEFAULT_TARGET,
    EXIT_BAD_INPUT,
    EXIT_BUILD_FAILED,
    EXIT_GATE_FAILED,
    EXIT_INFRASTRUCTURE,
    EXIT_LOCKED,
    EXIT_OK,
    PROJECT_DIR,
    RAW_SCHEMA,
    RAW_TABLES,
    PipelinePaths,
    exit_process,
    missing_raw_files,
    scoring_config_version,
)
from publish import CheckCounts, PublishRecord, publish, reset_working_history
from quality_gate import run_quality_gate
from run_lock import RefreshLockedError, pipeline_lock
from summary_report import build_summary
from warehouse import ENGINES, WarehouseError, connect

log = logging.getLogger("refresh")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--as-of-date",
        type=date.fromisoformat,
        help="score this date (YYYY-MM-DD); default: the latest date in the data",
    )
    add_target_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="do not print the score summary")
    return parser.parse_args(argv)


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a run reads and writes: engine, DuckDB file, raw data, dbt target folder."""
    parser.add_argument(
        "--target", choices=ENGINES, default=DEFAULT_TARGET,
        help="dbt target (engine) in profiles.yml (default: duckdb)",
    )
    parser.add_argument(
        "--db-path",
        help="DuckDB file, duckdb target only (default: $HEALTH_DB_PATH or customer_health.duckdb)",
    )
    parser.add_argument(
        "--raw-data-dir",
        help="folder with the raw files the duckdb target reads "
        "(default: $HEALTH_RAW_DATA_DIR or data/ravenstack)",
    )
    parser.add_argument(
        "--target-path",
        default=str(PROJECT_DIR / "target"),
        help="dbt target folder (compiled SQL, run results); default: target/",
    )


def refresh(args: argparse.Namespace) -> int:
    dbt_vars: dict[str, object] = {}
    if args.as_of_date:
        dbt_vars["as_of_date"] = args.as_of_date.isoformat()
    return run_pipeline(args, dbt_vars, kind="refresh")


def run_pipeline(args: argparse.Namespace, dbt_vars: dict[str, object], kind: str) -> int:
    """Check inputs, take the lock, then build, gate and publish (kind: refresh or backfill)."""
    paths = PipelinePaths.resolve(
        db_path=args.db_path, raw_data_dir=args.raw_data_dir, target=args.target
    )
    run_id = uuid.uuid4().hex[:12]
    config_version = scoring_config_version()
    try:
        with pipeline_lock(paths.target, paths.lock_anchor):
            problem = missing_inputs(paths)
            if problem:
                log.error("%s", problem)
                return EXIT_BAD_INPUT
            log.info("%s %s on %s", kind, run_id, describe_target(paths))
            dbt_vars = {**dbt_vars, "scoring_config_version": config_version}
            return run_locked(args, paths, run_id, config_version, dbt_vars, kind)
    except RefreshLockedError as error:
        log.error("%s", error)
        return EXIT_LOCKED
    except WarehouseError as error:
        log.error("%s; nothing was published", error)
        return EXIT_INFRASTRUCTURE


def describe_target(paths: PipelinePaths) -> str:
    if paths.target == "duckdb":
        return f"duckdb (database {paths.db_path}, raw data {paths.raw_data_dir})"
    return f"{paths.target} (raw tables in schema {RAW_SCHEMA})"


def missing_inputs(paths: PipelinePaths) -> str | None:
    """Why the raw data cannot be read, or None: files on DuckDB, loaded tables elsewhere."""
    if paths.target == "duckdb":
        if not paths.raw_data_dir.is_dir():
            return f"raw data folder does not exist: {paths.raw_data_dir}"
        missing = missing_raw_files(paths.raw_data_dir)
        if missing:
            return f"raw data folder {paths.raw_data_dir} lacks: {', '.join(missing)}"
        return None
    with connect(paths.target) as warehouse:
        missing = [t for t in RAW_TABLES if not warehouse.relation_exists(RAW_SCHEMA, t)]
    if missing:
        return (
            f"schema {RAW_SCHEMA} on {paths.target} lacks: {', '.join(missing)} "
            f"(load the raw files with `make load TARGET={paths.target}`)"
        )
    return None


def run_locked(
    args: argparse.Namespace,
    paths: PipelinePaths,
    run_id: str,
    config_version: str,
    dbt_vars: dict[str, object],
    kind: str,
) -> int:
    timings: dict[str, float] = {}
    with connect(paths.target, paths.db_path) as warehouse:
        reset_working_history(warehouse)
    started = time.perf_counter()
    build = run_dbt_build(paths, dbt_vars, Path(args.target_path))
    timings["dbt_build_seconds"] = round(time.perf_counter() - started, 2)
    if not build.succeeded:
        log.error("dbt build failed; nothing was published. Failing steps:")
        for line in build.failures or [build.output_tail]:
            log.error("  %s", line)
        return EXIT_BUILD_FAILED

    started = time.perf_counter()
    gate = run_quality_gate(
        paths.target, paths.db_path, run_id, target_path=Path(args.target_path)
    )
    timings["quality_gate_seconds"] = round(time.perf_counter() - started, 2)
    if not gate.passed:
        log.error("quality gate failed; nothing was published.\n%s", gate.report)
        return EXIT_GATE_FAILED
    if gate.warned:
        log.warning("quality gate passed with warnings:\n%s", gate.report)

    started = time.perf_counter()
    record = PublishRecord(
        run_id=run_id,
        scoring_config_version=config_version,
        checks=CheckCounts(passed=gate.passed_count, failed=gate.failed_count, warned=gate.warned),
        timings=timings,
        kind=kind,
    )
    with connect(paths.target, paths.db_path) as warehouse:
        publish(warehouse, record)
        timings["publish_seconds"] = round(time.perf_counter() - started, 2)
        log.info("%s %s published (timings: %s)", kind, run_id, timings)
        if not args.quiet and kind == "refresh":
            print(build_summary(warehouse))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return refresh(parse_args(argv))


if __name__ == "__main__":
    exit_process(main())
