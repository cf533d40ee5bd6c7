"""Quality gate between dbt build and publish (write-audit-publish).

dbt has built the candidate marts; before scripts/publish.py copies them to schema `health`, the
Great Expectations suites in gx/ validate, inside DuckDB and read-only:
  * inputs    - the staging relations (keys, amounts, dates, freshness, quarantine share, schema);
  * candidate - marts.customer_health_scores and its components (one row per active account,
                score range, grade/status consistency, coverage, weights, spread);
  * drift     - the candidate against the last published run (skipped when there is none).
Thresholds and severities come from gx/gate_config.yml. The gate passes when no *blocking*
expectation fails; failed *warning* expectations are reported and counted. The gate never
raises: when it cannot run (bad config, gx/ out of date, database locked) it fails with a reason.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from gx_config import DEFAULT_CONFIG_PATH, GateConfig, GateConfigError, load_gate_config
from gx_report import Outcome, Verdict, format_report, format_rows, verdict

log = logging.getLogger(__name__)

# GX names the folder of each stored validation result (and its Data Docs page) by run time.
RUN_TIME_FOLDER = re.compile(r"^\d{8}T\d{6}\.\d+Z$")


@dataclass(frozen=True)
class GateResult:
    passed: bool
    passed_count: int
    failed_count: int
    warned: int
    report: str


class GateError(RuntimeError):
    """The gate could not validate the candidate (which therefore must not be published)."""


@dataclass(frozen=True)
class CandidateFacts:
    """What the gate reads from the database before validating."""

    as_of_date: date | None
    published_as_of_date: date | None  # None: nothing published yet

    @property
    def has_published_baseline(self) -> bool:
        return self.published_as_of_date is not None


@dataclass
class GateRun:
    outcomes: list[Outcome]
    notes: list[str]
    data_docs: str | None


def run_quality_gate(
    db_path: Path,
    run_id: str,
    *,
    config_path: Path = DEFAULT_CONFIG_PATH,
    run_date: date | None = None,
    check_drift: bool = True,
) -> GateResult:
    """Validate the candidate build in db_path; never raises.

    run_date: the day the gate runs (default: today, UTC), for the "not in the future" checks.
    check_drift: compare with the last published run when there is one (the drift stage).
    """
    started = time.perf_counter()
    run_date = run_date or datetime.now(UTC).date()
    try:
        config = load_gate_config(config_path)
        gate_run = _validate(Path(db_path), run_id, config, run_date, check_drift)
    except (GateError, GateConfigError) as error:
        return _could_not_run(str(error))
    except Exception as error:  # a bug in the gate must stop the publish, not crash refresh
        log.exception("the quality gate crashed")
        return _could_not_run(f"the gate crashed: {type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    gate_run.notes.append(f"gate runtime {seconds:.1f} s (run {run_id})")
    if gate_run.data_docs:
        gate_run.notes.append(f"Data Docs: {gate_run.data_docs}")
    result = verdict(gate_run.outcomes)
    report = format_report(result, gate_run.notes)
    log.info(
        "quality gate %s in %.1f s: %s passed, %s blocking failure(s), %s warning(s); "
        "Data Docs: %s",
        "passed" if result.ok else "FAILED", seconds, result.passed,
        len(result.blocking_failures), len(result.warnings), gate_run.data_docs or "not written",
    )
    return _gate_result(result, report)


def _could_not_run(reason: str) -> GateResult:
    report = f"quality gate could not run, so it FAILED: {reason}"
    return GateResult(passed=False, passed_count=0, failed_count=1, warned=0, report=report)


def _gate_result(result: Verdict, report: str) -> GateResult:
    return GateResult(
        passed=result.ok,
        passed_count=result.passed,
        failed_count=len(result.blocking_failures),
        warned=len(result.warnings),
        report=report,
    )


def _validate(
    db_path: Path, run_id: str, config: GateConfig, run_date: date, check_drift: bool
) -> GateRun:
    facts = read_candidate_facts(db_path, config)
    notes = []
    as_of_date = facts.as_of_date
    if as_of_date is None:
        as_of_date = run_date
        notes.append(f"no scores to read an as-of date from; date checks use {run_date}")
    else:
        notes.append(f"as-of date {as_of_date}, run date {run_date}")
    with_drift, reason = _drift_decision(facts, check_drift, config.drift.published_scores)
    if reason:
        notes.append(f"drift checks skipped: {reason}")
    gate_run = _run_checkpoints(config, db_path, run_id, as_of_date, run_date, with_drift)
    _sample_failing_sql_checks(db_path, gate_run.outcomes, config.example_rows)
    gate_run.notes[:0] = notes
    return gate_run


def _drift_decision(
    facts: CandidateFacts, requested: bool, published: str
) -> tuple[bool, str | None]:
    """Whether to run the drift stage, and if not, why."""
    if not requested:
        return False, "not requested"
    if facts.published_as_of_date is None:
        return False, f"nothing published yet ({published})"
    if facts.as_of_date is not None and facts.published_as_of_date > facts.as_of_date:
        return False, (
            f"the published run (as of {facts.published_as_of_date}) is newer than the "
            f"candidate (as of {facts.as_of_date}), as in a backfill"
        )
    return True, None


def read_candidate_facts(db_path: Path, config: GateConfig) -> CandidateFacts:
    """The candidate's and the published run's as-of dates (read-only)."""
    if not db_path.is_file():
        raise GateError(f"database {db_path} does not exist")
    schema, table = config.drift.published_scores.split(".", 1)
    try:
        with duckdb.connect(str(db_path), read_only=True) as connection:
            candidate = connection.execute(
                f"select max(as_of_date) from {config.candidate.scores}"
            ).fetchone()
            published = None
            if connection.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchone()[0]:
                published = connection.execute(
                    f"select max(as_of_date) from {config.drift.published_scores}"
                ).fetchone()
    except duckdb.Error as error:
        hint = " (another process has the file open?)" if "lock" in str(error).lower() else ""
        raise GateError(f"cannot read the candidate in {db_path}{hint}: {error}") from error
    return CandidateFacts(
        as_of_date=candidate[0] if candidate else None,
        published_as_of_date=published[0] if published else None,
    )


def _run_checkpoints(
    config: GateConfig,
    db_path: Path,
    run_id: str,
    as_of_date: date,
    run_date: date,
    with_drift: bool,
) -> GateRun:
    """Run the GX checkpoints (GX is imported here: it costs seconds to import)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import gx_duckdb
    import gx_suites
    from gx_checks import expectation_parameters
    from gx_report import outcomes_from_suite_result

    context = gx_suites.get_file_context(config.path.parent)
    stale = gx_suites.stale_objects(context, config)
    if stale:
        raise GateError(
            f"gx/ is out of date with {config.path} ({', '.join(stale[:5])}"
            f"{', ...' if len(stale) > 5 else ''}): run `.venv/bin/python scripts/gx_suites.py` "
            "and commit gx/"
        )
    if not gx_duckdb.persisted_connection_enabled():
        raise GateError("the GX DuckDB workaround is not active (see scripts/gx_duckdb.py)")
    names = [gx_suites.GATE_CHECKPOINT] + ([gx_suites.DRIFT_CHECKPOINT] if with_drift else [])
    checkpoints = [context.checkpoints.get(name) for name in names]
    relations = {
        plan.name: plan.relation
        for plans in gx_suites.checkpoint_plans(config).values()
        for plan in plans
    }
    parameters = expectation_parameters(config, as_of_date, run_date)
    results = []
    with gx_duckdb.database_url_env(db_path):
        try:
            for checkpoint in checkpoints:
                run = _run_identifier(run_id)
                results.append(checkpoint.run(expectation_parameters=parameters, run_id=run))
        except Exception as error:
            raise GateError(f"Great Expectations could not validate: {error}") from error
        finally:
            gx_duckdb.close_execution_engines(context, checkpoints)
    outcomes = [
        outcome
        for result in results
        for suite_result in result.run_results.values()
        for outcome in outcomes_from_suite_result(
            suite_result, relations[suite_result.suite_name], config.example_rows
        )
    ]
    docs = _build_data_docs(context, [key for result in results for key in result.run_results])
    try:
        prune_old_runs(config.path.parent / "uncommitted", keep_runs=config.keep_runs)
    except OSError as error:
        log.warning("could not prune old validation results: %s", error)
    return GateRun(outcomes=outcomes, notes=[], data_docs=docs)


def _run_identifier(run_id: str) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))


def _build_data_docs(context: Any, result_ids: list[Any]) -> str | None:
    """Write Data Docs for this run (gx/uncommitted/data_docs); a failure here only warns."""
    try:
        sites = context.build_data_docs(resource_identifiers=result_ids)
    except Exception as error:
        log.warning("Data Docs were not written: %s", error)
        return None
    return next(iter(sites.values()), None)


def prune_old_runs(uncommitted: Path, keep_runs: int) -> int:
    """Delete stored validation results and their Data Docs pages beyond the newest runs.

    Each gate run stores results under one or two run-time folders (gate, drift); keep the
    newest 2 * keep_runs run times. Returns the number of folders removed.
    """
    folders = [
        path
        for root in (uncommitted / "validations", uncommitted / "data_docs")
        if root.is_dir()
        for path in root.rglob("*")
        if path.is_dir() and RUN_TIME_FOLDER.match(path.name)
    ]
    run_times = sorted({folder.name for folder in folders}, reverse=True)
    expired = set(run_times[2 * keep_runs:])
    removed = 0
    for folder in folders:
        if folder.name in expired:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # the run-name folder, once empty
    return removed


def _sample_failing_sql_checks(db_path: Path, outcomes: list[Outcome], limit: int) -> None:
    """A few offending rows for each failed SQL check, queried read-only in DuckDB."""
    from gx_duckdb import relation_query

    failing = [o for o in outcomes if o.query and not o.success and not o.examples]
    if not failing:
        return
    try:
        with duckdb.connect(str(db_path), read_only=True) as connection:
            for outcome in failing:
                query = str(outcome.query).replace(
                    "{batch}", f"({relation_query(outcome.relation)})"
                )
                cursor = connection.execute(f"select * from ({query}) as unexpected limit {limit}")
                columns = [column[0] for column in cursor.description]
                outcome.examples = format_rows(columns, cursor.fetchall())
    except duckdb.Error as error:
        log.warning("could not sample example rows: %s", error)
