"""The gated run: check inputs, take the lock, dbt build -> quality gate -> publish.

The build reads the published history (schema `health`) for every date it does not score and
writes only candidates (schema `marts`); the publish then replaces the scored dates in the
published history (and, on a refresh, the current scores). Nothing outside dbt changes what dbt
built, so a plain `dbt build` of a date gives the rows a refresh of it publishes.

On any failure the relations published in schema `health` are left exactly as they were. Each
step raises a typed error (customer_health.errors) that the command line turns into its exit code;
the run's `RunSummary` is filled as it goes, so a failed run is recorded as fully as a published
one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from customer_health.dbt_project import (
    ParseContext,
    missing_raw_files,
    parse_for_build,
    project_facts,
)
from customer_health.engines.warehouse import connect, working_database
from customer_health.errors import BadInputError, BuildFailedError, GateFailedError
from customer_health.gate.run import GateResult, read_candidate_facts, run_quality_gate
from customer_health.pipeline.dbt import run_dbt_build
from customer_health.pipeline.interrupts import raise_if_stopped
from customer_health.pipeline.lock import pipeline_lock
from customer_health.pipeline.publish import (
    CANDIDATE_SCORES,
    CheckCounts,
    PublishRecord,
    changed_rows,
    logged_dates,
    publish,
)
from customer_health.pipeline.run_summary import RunSummary
from customer_health.pipeline.served_file import prepare_working_database, serve
from customer_health.pipeline.worklists import worklist_sizes
from customer_health.scoring_config import scoring_config_version
from customer_health.settings import (
    DEFAULT_TARGET,
    PROJECT_DIR,
    PUBLISHED_SCORES,
    PipelinePaths,
    deployment,
    raw_data_format,
)

log = logging.getLogger(__name__)

DEFAULT_TARGET_PATH = PROJECT_DIR / "target"
# The dbt var every score row is stamped with (dbt_project.yml defaults it to 'unversioned').
SCORING_CONFIG_VERSION_VAR = "scoring_config_version"
# The dbt var that runs the staged usage's column tests on every row instead of the rows a run
# loaded (models/staging/product_usage/_product_usage__models.yml).
CHECK_EVERY_ROW_VAR = "check_every_usage_row"


@dataclass(frozen=True)
class RunOptions:
    """Where a run reads and writes: engine, DuckDB file, raw data, dbt target folder."""

    target: str = DEFAULT_TARGET
    db_path: Path | None = None
    raw_data_dir: Path | None = None
    target_path: Path = field(default=DEFAULT_TARGET_PATH)
    show_progress: bool = True
    # A refresh scored as of a date older than the published current scores replaces them only
    # when this is set (it is still gated, drift included).
    replace_current: bool = False
    # Test every staged usage row, not only those this run loaded (CHECK_EVERY_ROW_VAR).
    check_every_row: bool = False

    def paths(self) -> PipelinePaths:
        paths = PipelinePaths.resolve(
            db_path=str(self.db_path) if self.db_path else None,
            raw_data_dir=str(self.raw_data_dir) if self.raw_data_dir else None,
            target=self.target,
        )
        if paths.target != "duckdb":
            return paths
        return replace(paths, working_db_path=working_database(paths.db_path))


def refresh(options: RunOptions, summary: RunSummary, as_of_date: date | None = None) -> None:
    """Score one as-of date (default: the latest date in the data) and publish current scores
    and history."""
    dbt_vars: dict[str, object] = {}
    if as_of_date:
        dbt_vars["as_of_date"] = as_of_date.isoformat()
        summary.set_dates([as_of_date])
    run_pipeline(options, summary, dbt_vars, kind="refresh")


def backfill(options: RunOptions, summary: RunSummary, dates: list[date]) -> None:
    """Score several past as-of dates in one build and publish their history only."""
    if not dates:
        raise BadInputError("no as-of dates to backfill in the range given")
    summary.set_dates(dates)
    log.info("backfilling %s as-of dates: %s .. %s", len(dates), dates[0], dates[-1])
    dbt_vars: dict[str, object] = {"as_of_dates": [day.isoformat() for day in dates]}
    run_pipeline(options, summary, dbt_vars, kind="backfill")


def run_pipeline(
    options: RunOptions, summary: RunSummary, dbt_vars: dict[str, object], kind: str
) -> None:
    """Check inputs, take the lock, then build, gate and publish (kind: refresh or backfill)."""
    paths = options.paths()
    if options.check_every_row:
        dbt_vars = {**dbt_vars, CHECK_EVERY_ROW_VAR: True}
    with prepared_build(options, dbt_vars) as build_vars:
        if kind == "refresh" and "as_of_date" in dbt_vars and not options.replace_current:
            refuse_stepping_back(paths, date.fromisoformat(str(dbt_vars["as_of_date"])))
        log.info("%s %s on %s", kind, summary.run_id, describe_target(paths))
        config_version = str(build_vars[SCORING_CONFIG_VERSION_VAR])
        with summary.timed("dbt_build"):
            build = run_dbt_build(paths, build_vars, options.target_path, options.show_progress)
        if not build.succeeded:
            nodes = [line for line in build.failures if not line.startswith(" ")]
            summary.failing_dbt_nodes = nodes
            detail = "\n".join(f"  {line}" for line in build.failures or [build.output_tail])
            raise BuildFailedError(
                f"dbt build failed; nothing was published. Failing steps:\n{detail}", nodes
            )
        gate_and_publish(options, summary, paths, config_version, kind)


@contextmanager
def prepared_build(
    options: RunOptions, dbt_vars: Mapping[str, object] | None = None
) -> Iterator[dict[str, object]]:
    """Hold the refresh lock and prepare a `dbt build` as every run of the pipeline does: check
    the raw inputs; yield the vars the build must get (the deployment's, dbt_vars, and the
    scoring-config version, so no score is stamped 'unversioned'). The build reads the published
    history itself.

    For orchestrators that run `dbt build` themselves (dagster-dbt), around their build too.
    """
    paths = options.paths()
    run_vars = {**deployment().dbt_vars, **(dbt_vars or {})}
    config_version = scoring_config_version(run_vars)
    build_vars = {**run_vars, SCORING_CONFIG_VERSION_VAR: config_version}
    with pipeline_lock(paths.target, paths.lock_anchor):
        parse_context = ParseContext(build_vars, paths.dbt_env())
        parse_for_build(options.target_path, paths.target, parse_context)
        check_inputs(paths, options.target_path)
        yield build_vars


def gate_and_publish(
    options: RunOptions,
    summary: RunSummary,
    paths: PipelinePaths,
    config_version: str,
    kind: str,
) -> None:
    """Audit the built candidate and publish it when the gate passes."""
    if kind == "refresh" and not options.replace_current:
        refuse_stepping_back(paths)
    gate = audit(options, summary, paths)
    record = PublishRecord(
        run_id=summary.run_id,
        scoring_config_version=config_version,
        checks=CheckCounts(passed=gate.passed_count, failed=gate.failed_count, warned=gate.warned),
        timings=summary.timings,
        kind=kind,
    )
    raise_if_stopped()
    with summary.timed("publish"), connect(paths.target, paths.build_db_path) as warehouse:
        summary.accounts_scored = publish(warehouse, record)
        summary.published = True
        summary.set_dates(logged_dates(warehouse, summary.run_id))
        if paths.target == "duckdb":
            serve(warehouse, paths.db_path, summary.run_id, changed_rows(kind))
        served_file = str(paths.db_path) if paths.target == "duckdb" else None
        summary.worklists = [size.as_record(served_file) for size in worklist_sizes(warehouse)]
    log.info("%s %s published (timings: %s)", kind, summary.run_id, summary.timings)


def refuse_stepping_back(paths: PipelinePaths, as_of_date: date | None = None) -> None:
    """Raise BadInputError when scores as of `as_of_date` (default: the built scores' date) are
    older than the published current scores: a refresh never replaces newer scores unless asked
    to (RunOptions.replace_current)."""
    if paths.target == "duckdb" and not paths.build_db_path.exists():
        return  # a first run: nothing is published
    facts = read_candidate_facts(
        paths.target, paths.build_db_path, None if as_of_date else CANDIDATE_SCORES,
        PUBLISHED_SCORES,
    )
    scored = as_of_date or facts.as_of_date
    published = facts.published_as_of_date
    if scored and published and scored < published:
        raise BadInputError(
            f"the scores are as of {scored}, older than the published current scores (as of "
            f"{published}); nothing was published. To add that date to the history only: "
            f"health backfill --from {scored} --to {scored} --step week; to replace the current "
            "scores with it (still gated): health refresh --replace-current"
        )


def audit(options: RunOptions, summary: RunSummary, paths: PipelinePaths) -> GateResult:
    """Run the quality gate on the built candidate; raise GateFailedError when it blocks."""
    with summary.timed("quality_gate"):
        gate = run_quality_gate(
            paths.target, paths.build_db_path, summary.run_id, target_path=options.target_path
        )
    checks = summary.checks
    checks.passed, checks.failed, checks.warned = gate.passed_count, gate.failed_count, gate.warned
    checks.failing, checks.warning = list(gate.failing_checks), list(gate.warning_checks)
    if not gate.passed:
        raise GateFailedError(f"quality gate failed; nothing was published.\n{gate.report}")
    if gate.warned:
        log.warning("quality gate passed with warnings:\n%s", gate.report)
    return gate


def gate_only(options: RunOptions, summary: RunSummary) -> None:
    """Audit what dbt last built on the target, publishing nothing (for orchestrators that run
    dbt themselves)."""
    audit(options, summary, options.paths())


def publish_built(options: RunOptions, summary: RunSummary) -> None:
    """Audit and publish what dbt last built on the target, under the refresh lock."""
    paths = options.paths()
    project_facts(options.target_path, paths.target)  # what it publishes: this build's manifest
    with pipeline_lock(paths.target, paths.lock_anchor):
        gate_and_publish(options, summary, paths, scoring_config_version(), kind="refresh")


def describe_target(paths: PipelinePaths) -> str:
    if paths.target == "duckdb":
        return (
            f"duckdb (served file {paths.db_path}, working file {paths.build_db_path}, "
            f"raw data {paths.raw_data_dir})"
        )
    schemas = sorted({table.schema for table in project_facts().raw_tables})
    return f"{paths.target} (raw tables in schema {', '.join(schemas)})"


def check_inputs(paths: PipelinePaths, target_path: Path) -> None:
    """Raise BadInputError when the raw data the dbt sources declare cannot be read (files on
    DuckDB, loaded tables elsewhere), InfrastructureError (via WarehouseError) when the warehouse
    cannot be opened for writing: held by another process, unreadable or not a database at all.
    Both before dbt runs, so that neither ends as a dbt failure."""
    tables = project_facts(target_path, paths.target).raw_tables
    if paths.target == "duckdb":
        prepare_working_database(paths)
        if not paths.raw_data_dir.is_dir():
            raise BadInputError(f"raw data folder does not exist: {paths.raw_data_dir}")
        missing = missing_raw_files(tables, paths.raw_data_dir, raw_data_format())
        if missing:
            raise BadInputError(f"raw data folder {paths.raw_data_dir} lacks: {', '.join(missing)}")
        return
    with connect(paths.target) as warehouse:
        missing = [
            f"{table.schema}.{table.identifier}" for table in tables
            if not warehouse.relation_exists(table.schema, table.identifier)
        ]
    if missing:
        raise BadInputError(
            f"{paths.target} lacks the raw tables {', '.join(missing)} "
            f"(load the raw files with `health load --target {paths.target}`)"
        )
