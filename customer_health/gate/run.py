"""Quality gate between dbt build and publish (write-audit-publish).

dbt has built the candidate marts on a target engine (duckdb, postgres or spark) and its tests
passed; before publish copies them to schema `health`, Great Expectations suites built at run
time from gx/gate_config.yml and dbt's manifest validate them on that engine, read-only, with
what dbt tests cannot check:
  * inputs    - the staging relations: quarantined share, dates against the run and as-of
                dates, freshness, columns as documented;
  * candidate - marts.customer_health_scores: coverage share, score spread, as-of date,
                unhealthy share;
  * drift     - every scored date against the published history: the same date where it was
                published, else the nearest published date (skipped when nothing is published).
Thresholds and severities come from gx/gate_config.yml. The gate passes when no *blocking*
expectation fails; failed *warning* expectations are reported and counted. The gate never
raises: when it cannot run (bad config, engine unreachable, database locked) it fails with a
reason. Validation results and Data Docs go to <target path>/gx/<target>/uncommitted.
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

from customer_health.engines.warehouse import ENGINES, WarehouseError, connect
from customer_health.gate.config import (
    DEFAULT_CONFIG_PATH,
    GateConfig,
    GateConfigError,
    load_gate_config,
)
from customer_health.gate.dbt_manifest import (
    DbtManifest,
    ManifestError,
    load_manifest,
    manifest_path,
)
from customer_health.gate.report import Outcome, Verdict, format_report, format_rows, verdict
from customer_health.settings import PROJECT_DIR

log = logging.getLogger(__name__)

# GX names the folder of each stored validation result (and its Data Docs page) by run time.
RUN_TIME_FOLDER = re.compile(r"^\d{8}T\d{6}\.\d+Z$")
DEFAULT_TARGET_PATH = PROJECT_DIR / "target"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    passed_count: int
    failed_count: int
    warned: int
    report: str
    # "<relation>: <check>" of each blocking failure and each warning, for run summaries.
    failing_checks: tuple[str, ...] = ()
    warning_checks: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class GateTarget:
    """The engine to validate on: a dbt target, its DuckDB file (duckdb only), and the dbt
    target folder under which the GX context is kept."""

    name: str
    db_path: Path | None
    target_path: Path


def run_quality_gate(
    target: str,
    db_path: Path | None,
    run_id: str,
    *,
    config_path: Path = DEFAULT_CONFIG_PATH,
    run_date: date | None = None,
    check_drift: bool = True,
    target_path: Path | None = None,
    manifest: Path | None = None,
) -> GateResult:
    """Validate the candidate built on a dbt target; never raises.

    target: the profiles.yml target (duckdb, postgres or spark); db_path: the DuckDB file (used
    for duckdb only). run_date: the day the gate runs (default: today, UTC), for the "not in
    the future" checks. check_drift: compare with the last published run when there is one
    (the drift stage). target_path: the dbt target folder (default: <project>/target); the GX
    context is <target_path>/gx/<target>. manifest: the dbt manifest of the build (default:
    <target_path>/manifest.json), for the relations and columns of the models the config names.
    """
    started = time.perf_counter()
    run_date = run_date or datetime.now(UTC).date()
    try:
        gate_target = _gate_target(target, db_path, target_path)
        config = load_gate_config(config_path)
        dbt_manifest = load_manifest(manifest or manifest_path(gate_target.target_path))
        gate_run = _validate(gate_target, run_id, config, dbt_manifest, run_date, check_drift)
    except (GateError, GateConfigError, ManifestError) as error:
        return _could_not_run(str(error))
    except Exception as error:  # a bug in the gate must stop the publish, not crash refresh
        log.exception("the quality gate crashed")
        return _could_not_run(f"the gate crashed: {type(error).__name__}: {error}")
    seconds = time.perf_counter() - started
    gate_run.notes.append(f"gate runtime {seconds:.1f} s on {target} (run {run_id})")
    if gate_run.data_docs:
        gate_run.notes.append(f"Data Docs: {gate_run.data_docs}")
    result = verdict(gate_run.outcomes)
    report = format_report(result, gate_run.notes)
    log.info(
        "quality gate %s on %s in %.1f s: %s passed, %s blocking failure(s), %s warning(s); "
        "Data Docs: %s",
        "passed" if result.ok else "FAILED", target, seconds, result.passed,
        len(result.blocking_failures), len(result.warnings), gate_run.data_docs or "not written",
    )
    return _gate_result(result, report)


def _gate_target(target: str, db_path: Path | None, target_path: Path | None) -> GateTarget:
    if target not in ENGINES:
        raise GateError(f"unknown target {target!r}: choose one of {', '.join(ENGINES)}")
    if target == "duckdb":
        if db_path is None:
            raise GateError("the duckdb target needs a database path")
        db_path = Path(db_path)
        if not db_path.is_file():
            raise GateError(f"database {db_path} does not exist")
    else:
        db_path = None
    return GateTarget(
        name=target, db_path=db_path, target_path=Path(target_path or DEFAULT_TARGET_PATH)
    )


def _could_not_run(reason: str) -> GateResult:
    report = f"quality gate could not run, so it FAILED: {reason}"
    return GateResult(
        passed=False, passed_count=0, failed_count=1, warned=0, report=report,
        failing_checks=(f"gate could not run: {reason}",),
    )


def _gate_result(result: Verdict, report: str) -> GateResult:
    return GateResult(
        passed=result.ok,
        passed_count=result.passed,
        failed_count=len(result.blocking_failures),
        warned=len(result.warnings),
        report=report,
        failing_checks=tuple(f"{o.relation}: {o.check}" for o in result.blocking_failures),
        warning_checks=tuple(f"{o.relation}: {o.check}" for o in result.warnings),
    )


def _validate(
    target: GateTarget,
    run_id: str,
    config: GateConfig,
    manifest: DbtManifest,
    run_date: date,
    check_drift: bool,
) -> GateRun:
    published = config.published_history_relation(manifest)
    facts = read_candidate_facts(
        target.name, target.db_path, config.scores_relation(manifest), published
    )
    notes = []
    as_of_date = facts.as_of_date
    if as_of_date is None:
        as_of_date = run_date
        notes.append(f"no scores to read an as-of date from; date checks use {run_date}")
    else:
        notes.append(f"as-of date {as_of_date}, run date {run_date}")
    with_drift, reason = _drift_decision(facts, check_drift, published)
    if reason:
        notes.append(f"drift checks skipped: {reason}")
    gate_run = _run_validations(
        config, manifest, target, run_id, as_of_date, run_date, with_drift
    )
    _sample_failing_sql_checks(target, gate_run.outcomes, config.example_rows)
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
    return True, None


def read_candidate_facts(
    target: str, db_path: Path | None, scores: str | None, published_scores: str
) -> CandidateFacts:
    """The candidate's (scores=None: not read) and the published run's latest as-of dates
    (read-only)."""
    schema, table = published_scores.split(".", 1)
    where = f"{db_path}" if target == "duckdb" else f"the {target} target"
    try:
        with connect(target, db_path, read_only=True) as warehouse:
            candidate = scores and warehouse.query(f"select max(as_of_date) from {scores}")
            published = None
            if warehouse.relation_exists(schema, table):
                published = warehouse.query(
                    f"select max(as_of_date) from {published_scores}"
                )
    except WarehouseError as error:
        raise GateError(f"cannot read the candidate: {error}") from error
    except Exception as error:  # the engine's own error type (duckdb, psycopg2, Spark)
        message = " ".join(str(error).split())[:500]
        hint = " (another process has the file open?)" if "lock" in message.lower() else ""
        raise GateError(f"cannot read the candidate in {where}{hint}: {message}") from error
    return CandidateFacts(
        as_of_date=_date(candidate[0][0]) if candidate else None,
        published_as_of_date=_date(published[0][0]) if published else None,
    )


def _date(value: Any) -> date | None:
    if value is None or type(value) is date:
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


def _run_validations(
    config: GateConfig,
    manifest: DbtManifest,
    target: GateTarget,
    run_id: str,
    as_of_date: date,
    run_date: date,
    with_drift: bool,
) -> GateRun:
    """Build the suites in the target's GX context and run them one validation definition at a
    time (GX is imported here: it costs seconds to import)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    from customer_health.gate import engines as gx_engines
    from customer_health.gate import suites as gx_suites
    from customer_health.gate.checks import drift_suites, expectation_parameters, gate_suites
    from customer_health.gate.report import outcomes_from_suite_result

    plans = gate_suites(config, manifest) + (drift_suites(config, manifest) if with_drift else [])
    root = gx_suites.context_dir(target.target_path, target.name)
    try:
        context = gx_suites.run_context(root)
    except Exception as error:
        raise GateError(f"cannot set up the GX context in {root}: {error}") from error
    parameters = expectation_parameters(config, as_of_date, run_date)
    run = _run_identifier(run_id)
    outcomes: list[Outcome] = []
    result_ids: list[Any] = []
    try:
        with gx_engines.engine_data(
            context, target.name, [plan.relation for plan in plans], target.db_path
        ) as data:
            for plan in plans:
                try:
                    definition = gx_suites.add_validation_definition(
                        context, plan, data.batch_definition(plan.relation)
                    )
                    result = definition.run(
                        batch_parameters=data.batch_parameters(plan.relation),
                        expectation_parameters=parameters,
                        result_format=gx_suites.RESULT_FORMAT,
                        run_id=run,
                    )
                except Exception as error:
                    raise GateError(
                        f"Great Expectations could not validate {plan.name}: "
                        f"{data.redact(' '.join(str(error).split())[:500])}"
                    ) from error
                outcomes += outcomes_from_suite_result(
                    result, plan.relation, config.example_rows
                )
                result_ids.append(_result_identifier(result, run))
    except gx_engines.EngineError as error:
        raise GateError(str(error)) from None
    docs = _build_data_docs(context, result_ids)
    try:
        prune_old_runs(root / "uncommitted", keep_runs=config.keep_runs)
    except OSError as error:
        log.warning("could not prune old validation results: %s", error)
    return GateRun(outcomes=outcomes, notes=[], data_docs=docs)


def _run_identifier(run_id: str) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=run_id, run_time=datetime.now(UTC))


def _result_identifier(result: Any, run: Any) -> Any:
    """The key under which ValidationDefinition.run stored a result (for its Data Docs page)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
        run_id=run,
        batch_identifier=result.batch_id,
    )


def _build_data_docs(context: Any, result_ids: list[Any]) -> str | None:
    """Write Data Docs for this run (<context>/uncommitted/data_docs); a failure only warns."""
    try:
        sites = context.build_data_docs(resource_identifiers=result_ids)
    except Exception as error:
        log.warning("Data Docs were not written: %s", error)
        return None
    return next(iter(sites.values()), None)


def prune_old_runs(uncommitted: Path, keep_runs: int) -> int:
    """Delete stored validation results and their Data Docs pages beyond the newest runs.

    All results of one gate run share its run time (one folder per suite); keep the newest
    keep_runs run times. Returns the number of folders removed.
    """
    folders = [
        path
        for root in (uncommitted / "validations", uncommitted / "data_docs")
        if root.is_dir()
        for path in root.rglob("*")
        if path.is_dir() and RUN_TIME_FOLDER.match(path.name)
    ]
    run_times = sorted({folder.name for folder in folders}, reverse=True)
    expired = set(run_times[keep_runs:])
    removed = 0
    for folder in folders:
        if folder.name in expired:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # the run-name folder, once empty
    return removed


def _sample_failing_sql_checks(target: GateTarget, outcomes: list[Outcome], limit: int) -> None:
    """A few offending rows for each failed SQL check, queried read-only on the engine."""
    failing = [o for o in outcomes if o.query and not o.success and not o.examples]
    if not failing:
        return
    try:
        with connect(target.name, target.db_path, read_only=True) as warehouse:
            for outcome in failing:
                query = str(outcome.query).replace("{batch}", outcome.relation)
                try:
                    columns, rows = warehouse.query_with_columns(
                        f"select * from ({query}) as unexpected limit {limit}"
                    )
                except Exception as error:
                    log.warning("could not sample example rows for %s: %s", outcome.check, error)
                    continue
                outcome.examples = format_rows(columns, rows)
    except Exception as error:
        log.warning("could not sample example rows: %s", error)
