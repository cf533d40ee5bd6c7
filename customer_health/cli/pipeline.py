"""Commands of the gated pipeline: refresh, backfill, gate, publish, load, summary, export."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import JsonOutput, Quiet, app, configure_logging, log, run_command
from customer_health.cli.options import (
    DEFAULT_TARGET_CHOICE,
    DEFAULT_TARGET_PATH_OPTION,
    AsOfDate,
    CheckEveryRow,
    DbPath,
    RawDataDir,
    ReplaceCurrent,
    RequiredFromDate,
    RequiredToDate,
    Target,
    TargetOption,
    TargetPath,
    check_range,
    run_options,
)
from customer_health.dbt_project import CURRENT_MODELS
from customer_health.engines.warehouse import connect
from customer_health.errors import BadInputError
from customer_health.pipeline import run
from customer_health.pipeline.backfill import as_of_dates
from customer_health.pipeline.export import export_relations
from customer_health.pipeline.load import load_raw
from customer_health.pipeline.run_summary import RunSummary
from customer_health.pipeline.summary import build_summary
from customer_health.settings import PUBLISHED_SCHEMA, SCORES_MODEL, PipelinePaths


@app.command(rich_help_panel="Pipeline")
def refresh(
    as_of_date: AsOfDate = None,
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    raw_data_dir: RawDataDir = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
    replace_current: ReplaceCurrent = False,
    check_every_row: CheckEveryRow = False,
) -> None:
    """dbt build -> quality gate -> publish to schema `health`, then print a summary.

    On any failure the published relations are left exactly as they were.
    """
    options = prepare(target, db_path, raw_data_dir, target_path, quiet, json_output)
    options = dataclasses.replace(
        options, replace_current=replace_current, check_every_row=check_every_row
    )

    def work(options: run.RunOptions, summary: RunSummary) -> None:
        run.refresh(options, summary, as_of_date)
        if not (quiet or json_output):
            print_summary(options.paths())

    run_recorded("refresh", options, json_output, work)


@app.command(rich_help_panel="Pipeline")
def backfill(
    date_from: RequiredFromDate,
    date_to: RequiredToDate,
    step: Annotated[
        str, typer.Option(help="Every month end (month) or weekly from --from (week).")
    ] = "month",
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    raw_data_dir: RawDataDir = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Score past as-of dates into the published history (current scores untouched)."""
    check_range(date_from, date_to)
    if step not in ("month", "week"):
        raise typer.BadParameter(f"--step must be month or week, got {step!r}")
    options = prepare(target, db_path, raw_data_dir, target_path, quiet, json_output)

    def work(options: run.RunOptions, summary: RunSummary) -> None:
        run.backfill(options, summary, as_of_dates(date_from, date_to, step))
        for day in summary.as_of_dates:
            log.info("backfilled %s", day)

    run_recorded("backfill", options, json_output, work)


@app.command(rich_help_panel="Pipeline")
def gate(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Run the quality gate on what dbt last built, publishing nothing (exit 2 if it fails)."""
    options = prepare(target, db_path, None, target_path, quiet, json_output)
    run_recorded("gate", options, json_output, run.gate_only)


@app.command(rich_help_panel="Pipeline")
def publish(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
    replace_current: ReplaceCurrent = False,
) -> None:
    """Gate, then publish, what dbt last built (for orchestrators that run dbt build
    themselves, e.g. dagster-dbt)."""
    options = prepare(target, db_path, None, target_path, quiet, json_output)
    options = dataclasses.replace(options, replace_current=replace_current)
    run_recorded("publish", options, json_output, run.publish_built)


@app.command(rich_help_panel="Pipeline")
def rollback(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Run id of a kept publish (default: the previous one)."),
    ] = None,
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
    json_output: JsonOutput = False,
) -> None:
    """Put a kept earlier publish back in schema `health`, atomically (logged in publish_log)."""
    from customer_health.pipeline.rollback import rollback as restore

    options = prepare(target, db_path, None, target_path, quiet, json_output)
    run_recorded("rollback", options, json_output, lambda o, s: restore(o, s, to))


@app.command(rich_help_panel="Pipeline")
def load(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    raw_data_dir: RawDataDir = None,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
) -> None:
    """Load the raw files into the raw tables the dbt sources declare (schema `raw`; nothing to
    do on DuckDB)."""
    configure_logging(quiet)
    paths = PipelinePaths.resolve(raw_data_dir=_text(raw_data_dir), target=target.value)
    run_command(lambda: load_raw(paths, target_path.resolve()))


@app.command(rich_help_panel="Published scores")
def summary(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    top: Annotated[int, typer.Option(min=0, help="How many at-risk accounts to list.")] = 10,
) -> None:
    """Print a summary of the published scores."""
    configure_logging(quiet=True)
    paths = PipelinePaths.resolve(db_path=_text(db_path), target=target.value)
    run_command(lambda: print_summary(paths, top))


@app.command(rich_help_panel="Published scores")
def export(
    out: Annotated[Path, typer.Option(help="Folder to write <relation>.csv files to.")],
    relation: Annotated[
        list[str] | None,
        typer.Option(help="A relation in schema health (repeatable; default: current scores)."),
    ] = None,
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    quiet: Quiet = False,
) -> None:
    """Export published relations to CSV in an engine-neutral form (sorted rows and columns)."""
    configure_logging(quiet)
    paths = PipelinePaths.resolve(db_path=_text(db_path), target=target.value)
    relations = relation or [model for _, model in CURRENT_MODELS]

    def work() -> None:
        with connect(paths.target, paths.db_path, read_only=True) as warehouse:
            export_relations(warehouse, relations, out)

    run_command(work)


@app.command("check-config", rich_help_panel="Pipeline")
def check_config_command(
    config: Annotated[
        Path | None, typer.Option(help="Gate configuration (default: gx/gate_config.yml).")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Validate the quality-gate configuration (exit 4 if it is invalid)."""
    from customer_health.gate.suites import validate_config  # imports Great Expectations

    configure_logging(quiet)
    run_command(lambda: validate_config(config))


def prepare(
    target: Target,
    db_path: Path | None,
    raw_data_dir: Path | None,
    target_path: Path,
    quiet: bool,
    json_output: bool,
) -> run.RunOptions:
    """Logging (quiet under --json, which keeps stdout for the summary) and the run's options."""
    configure_logging(quiet or json_output)
    return run_options(target, db_path, raw_data_dir, target_path, quiet or json_output)


def run_recorded(
    command: str,
    options: run.RunOptions,
    json_output: bool,
    work: Callable[[run.RunOptions, RunSummary], None],
) -> None:
    """Run a gated-pipeline command with a run summary, recorded whatever the outcome."""
    summary = RunSummary(command=command, target=options.target)
    run_command(
        lambda: work(options, summary),
        summary=summary, target_path=options.target_path, json_output=json_output,
    )


def print_summary(paths: PipelinePaths, top: int = 10) -> None:
    with connect(paths.target, paths.db_path, read_only=True) as warehouse:
        if not warehouse.relation_exists(PUBLISHED_SCHEMA, SCORES_MODEL):
            raise BadInputError("nothing is published yet: run `health refresh` first")
        print(build_summary(warehouse, top))


def _text(path: Path | None) -> str | None:
    return str(path) if path else None

