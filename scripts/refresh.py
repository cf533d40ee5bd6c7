"""Refresh the customer health scores: dbt build -> quality gate -> publish -> summary.

This is the entry point orchestrators call (`make refresh` runs it). Exit codes:
0 published; 1 dbt build failed; 2 quality gate failed; 3 another refresh holds the lock;
4 bad input (missing data folder or files, bad arguments). On any failure the relations
published in schema `health` are left exactly as they were.
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
    EXIT_BAD_INPUT,
    EXIT_BUILD_FAILED,
    EXIT_GATE_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    PROJECT_DIR,
    PipelinePaths,
    exit_process,
    missing_raw_files,
    scoring_config_version,
)
from publish import CheckCounts, PublishRecord, publish, reset_working_history
from quality_gate import run_quality_gate
from run_lock import RefreshLockedError, refresh_lock
from summary_report import build_summary

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
    parser.add_argument(
        "--db-path", help="DuckDB file (default: $HEALTH_DB_PATH or customer_health.duckdb)"
    )
    parser.add_argument(
        "--raw-data-dir",
        help="folder with the raw CSV files (default: $HEALTH_RAW_DATA_DIR or data/ravenstack)",
    )
    parser.add_argument(
        "--target-path",
        default=str(PROJECT_DIR / "target"),
        help="dbt target folder (compiled SQL, run results); default: target/",
    )
    parser.add_argument("--quiet", action="store_true", help="do not print the score summary")
    return parser.parse_args(argv)


def refresh(args: argparse.Namespace) -> int:
    dbt_vars: dict[str, object] = {}
    if args.as_of_date:
        dbt_vars["as_of_date"] = args.as_of_date.isoformat()
    return run_pipeline(args, dbt_vars, kind="refresh")


def run_pipeline(args: argparse.Namespace, dbt_vars: dict[str, object], kind: str) -> int:
    """Check inputs, take the lock, then build, gate and publish (kind: refresh or backfill)."""
    paths = PipelinePaths.resolve(db_path=args.db_path, raw_data_dir=args.raw_data_dir)
    if not paths.raw_data_dir.is_dir():
        log.error("raw data folder does not exist: %s", paths.raw_data_dir)
        return EXIT_BAD_INPUT
    missing = missing_raw_files(paths.raw_data_dir)
    if missing:
        log.error(
            "raw data folder %s lacks: %s", paths.raw_data_dir,
            ", ".join(missing),
        )
        return EXIT_BAD_INPUT
    run_id = uuid.uuid4().hex[:12]
    config_version = scoring_config_version()
    log.info("refresh %s: database %s, raw data %s", run_id, paths.db_path, paths.raw_data_dir)
    try:
        with refresh_lock(paths.db_path):
            dbt_vars = {**dbt_vars, "scoring_config_version": config_version}
            return run_locked(args, paths, run_id, config_version, dbt_vars, kind)
    except RefreshLockedError as error:
        log.error("%s", error)
        return EXIT_LOCKED


def run_locked(
    args: argparse.Namespace,
    paths: PipelinePaths,
    run_id: str,
    config_version: str,
    dbt_vars: dict[str, object],
    kind: str,
) -> int:
    timings: dict[str, float] = {}
    reset_working_history(paths.db_path)
    started = time.perf_counter()
    build = run_dbt_build(paths, dbt_vars, Path(args.target_path))
    timings["dbt_build_seconds"] = round(time.perf_counter() - started, 2)
    if not build.succeeded:
        log.error("dbt build failed; nothing was published. Failing steps:")
        for line in build.failures or [build.output_tail]:
            log.error("  %s", line)
        return EXIT_BUILD_FAILED

    started = time.perf_counter()
    gate = run_quality_gate(paths.db_path, run_id)
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
    publish(paths.db_path, record)
    timings["publish_seconds"] = round(time.perf_counter() - started, 2)
    log.info("refresh %s published (timings: %s)", run_id, timings)
    if not args.quiet and kind == "refresh":
        print(build_summary(paths.db_path))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return refresh(parse_args(argv))


if __name__ == "__main__":
    exit_process(main())
