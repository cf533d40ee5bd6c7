"""The quality gate on a published sample database, tampered with in place (no dbt run), and on a
PostgreSQL database built by dbt on the session's scratch cluster. Relations and columns come
from the project's dbt manifest (the `gate_manifest` fixture)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import pytest
from helpers.project import health_command

from customer_health.errors import BadInputError
from customer_health.gate import suites as gx_suites
from customer_health.gate.checks import (
    check_batch_aliases,
    drift_suites,
    expectation_parameters,
    gate_suites,
    present_sources,
)
from customer_health.gate.config import (
    DEFAULT_CONFIG_PATH,
    GX_DIR,
    GateConfigError,
    load_gate_config,
)
from customer_health.gate.dbt_manifest import DbtManifest, load_manifest
from customer_health.gate.engines import _redact, postgres_url
from customer_health.gate.run import prune_old_runs, run_quality_gate

RUN_DATE = date(2026, 1, 15)  # a fixed "today" after the sample data (which ends 2024-12-31)
CONFIG = load_gate_config()


@pytest.fixture(scope="module")
def manifest(gate_manifest: Path) -> DbtManifest:
    return load_manifest(gate_manifest)


@pytest.fixture(scope="module")
def gate_expectations(manifest: DbtManifest) -> int:
    return sum(len(plan.expectations) for plan in gate_suites(CONFIG, manifest))


@pytest.fixture(scope="module")
def drift_expectations(manifest: DbtManifest) -> int:
    return sum(len(plan.expectations) for plan in drift_suites(CONFIG, manifest))


def execute(db_path: Path, *statements: str) -> None:
    with duckdb.connect(str(db_path)) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.fixture
def gate(gate_manifest: Path) -> Callable[..., Any]:
    """The gate on a DuckDB file, with its GX context under target_path."""

    def run(db_path: Path, run_id: str, target_path: Path, **kwargs: Any) -> Any:
        kwargs.setdefault("run_date", RUN_DATE)
        kwargs.setdefault("manifest", gate_manifest)
        return run_quality_gate("duckdb", db_path, run_id, target_path=target_path, **kwargs)

    return run


def config_with(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the gate config with text replaced (each replacement must apply)."""
    text = DEFAULT_CONFIG_PATH.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "gate_config.yml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------ DuckDB


def test_the_published_sample_passes_quickly_and_leaves_the_file_writable(
    gate: Any, baseline_copy: Path, tmp_path: Path, gate_expectations: int,
    drift_expectations: int,
) -> None:
    started = time.perf_counter()
    result = gate(baseline_copy, "sample", tmp_path / "target")
    seconds = time.perf_counter() - started
    assert result.passed, result.report
    assert (result.passed_count, result.failed_count, result.warned) == (
        gate_expectations + drift_expectations, 0, 0,
    )
    docs = re.search(r"Data Docs: file://(\S+)", result.report)
    assert docs and Path(docs.group(1)).is_file()
    assert Path(docs.group(1)).is_relative_to(tmp_path / "target" / "gx" / "duckdb")
    assert seconds < 60, f"the gate took {seconds:.1f} s"
    execute(baseline_copy, "create table main.publish_can_write (x integer)")


def test_a_blocking_failure_names_suite_check_column_and_examples(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    execute(
        baseline_copy,
        "update staging.base_crm__accounts set signup_date = date '1900-01-01' where account_id "
        "in (select account_id from staging.stg_crm__accounts order by account_id limit 3)",
    )
    result = gate(baseline_copy, "too_old", tmp_path)
    assert not result.passed
    assert result.failed_count == 1, result.report
    report = result.report
    assert (
        "[BLOCKING] suite stg_crm__accounts.inputs, check dates_not_too_old, "
        "column signup_date" in report
    )
    assert "3 of 500 rows unexpected" in report
    assert "1900-01-01 (x3)" in report


def test_a_warning_is_counted_and_does_not_block(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    execute(
        baseline_copy,
        "update staging.base_product_usage__feature_usage set usage_date = date '2025-01-02' "
        "where usage_id = (select min(usage_id) from staging.stg_product_usage__feature_usage)",
    )
    result = gate(baseline_copy, "after_as_of", tmp_path)
    assert result.passed, result.report
    assert (result.failed_count, result.warned) == (0, 1)
    assert (
        "[WARNING] suite stg_product_usage__feature_usage.inputs, check dates_after_as_of, "
        "column usage_date" in result.report
    )
    assert "2025-01-02" in result.report


def test_drift_is_skipped_until_something_is_published(
    gate: Any, baseline_copy: Path, tmp_path: Path, gate_expectations: int
) -> None:
    execute(baseline_copy, "drop schema health cascade")
    result = gate(baseline_copy, "first_run", tmp_path)
    assert result.passed, result.report
    assert result.passed_count == gate_expectations
    assert "drift checks skipped: nothing published yet" in result.report


def test_an_older_date_is_compared_with_the_nearest_published_date(
    gate: Any, baseline_copy: Path, tmp_path: Path, gate_expectations: int,
    drift_expectations: int,
) -> None:
    """As in a backfill: the candidate (2024-12-31) is older than every published date; it is
    compared with the earliest one after it, and fails on fewer accounts there."""
    execute(baseline_copy, "update health.customer_health_score_history "
                           "set as_of_date = date '2025-06-30'")
    result = gate(baseline_copy, "backfill", tmp_path)
    assert result.passed, result.report
    assert result.passed_count == gate_expectations + drift_expectations
    execute(baseline_copy, "insert into health.customer_health_score_history "
                           "select * from health.customer_health_score_history")
    result = gate(baseline_copy, "backfill_shrunk", tmp_path)
    assert not result.passed
    assert "check row_count_drop" in result.report
    assert "as_of_date=2024-12-31, published_as_of_date=2025-06-30" in result.report


def test_a_rescored_date_is_compared_with_the_same_published_date(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    """The published history holds the candidate's date, changed, and a later date as it is:
    the candidate is compared with its own date, not the latest one."""
    execute(baseline_copy, "insert into health.customer_health_score_history "
                           "select * replace (date '2025-01-31' as as_of_date) "
                           "from health.customer_health_score_history")
    execute(baseline_copy, "update health.customer_health_score_history "
                           "set health_score = least(health_score + 15, 100) "
                           "where as_of_date = date '2024-12-31'")
    result = gate(baseline_copy, "rescored", tmp_path)
    assert not result.passed
    assert result.failed_count == 1, result.report
    assert "as_of_date=2024-12-31, published_as_of_date=2024-12-31" in result.report


def test_drift_is_skipped_when_not_requested(
    gate: Any, baseline_copy: Path, tmp_path: Path, gate_expectations: int
) -> None:
    result = gate(baseline_copy, "no_drift", tmp_path, check_drift=False)
    assert result.passed, result.report
    assert result.passed_count == gate_expectations
    assert "drift checks skipped: not requested" in result.report


def test_drift_against_the_published_run_blocks(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    execute(
        baseline_copy,
        "update health.customer_health_score_history "
        "set health_score = least(health_score + 15, 100)",
    )
    result = gate(baseline_copy, "drifted", tmp_path)
    assert not result.passed
    assert result.failed_count == 1, result.report
    assert "suite customer_health_score_history.drift, check mean_score_change" in result.report
    assert "published_mean_score=" in result.report
    assert re.search(r"mean_score_change=-1\d\.\d\d\b", result.report), result.report


def test_the_config_is_read_at_every_run(gate: Any, baseline_copy: Path, tmp_path: Path) -> None:
    """Suites are built from the config when the gate runs: nothing to regenerate or commit."""
    config = config_with(tmp_path, ("min_stdev: 1.0", "min_stdev: 1000.0"))
    result = gate(baseline_copy, "strict", tmp_path / "target", config_path=config)
    assert not result.passed
    assert result.failed_count == 1, result.report
    assert "check score_spread, column health_score" in result.report
    assert "min_value=1000.0" in result.report


def test_each_run_builds_its_own_suites_in_the_target_folder(
    gate: Any, baseline_copy: Path, tmp_path: Path, manifest: DbtManifest
) -> None:
    target_path = tmp_path / "target"
    context = target_path / "gx" / "duckdb"
    assert gate(baseline_copy, "with_drift", target_path).passed
    definitions = sorted(path.name for path in (context / "validation_definitions").iterdir())
    assert "customer_health_score_history.drift.json" in definitions
    result = gate(baseline_copy, "without_drift", target_path, check_drift=False)
    assert result.passed, result.report
    # The previous run's drift suite is gone: only this run's objects are in the context.
    definitions = sorted(path.name for path in (context / "validation_definitions").iterdir())
    assert definitions == sorted(f"{plan.name}.json" for plan in gate_suites(CONFIG, manifest))
    stored = (context / "great_expectations.yml").read_text()
    assert stored.count("type: sql") == 1
    assert str(baseline_copy) not in stored  # the URL comes from the environment at run time
    results = {path.name for path in (context / "uncommitted" / "validations").rglob("*")}
    assert {"with_drift", "without_drift"} <= results


def test_a_context_left_half_written_by_a_killed_gate_is_set_up_again(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    """GX writes its files in place: a gate killed while it wrote one leaves it empty."""
    target_path = tmp_path / "target"
    context = target_path / "gx" / "duckdb"
    assert gate(baseline_copy, "before_the_kill", target_path).passed
    for name in ("great_expectations.yml", "uncommitted/config_variables.yml"):
        (context / name).write_text("")
    result = gate(baseline_copy, "after_the_kill", target_path)
    assert result.passed, result.report
    results = {path.name for path in (context / "uncommitted" / "validations").rglob("*")}
    assert {"before_the_kill", "after_the_kill"} <= results, "the stored results are kept"


def test_no_generated_gx_objects_are_committed() -> None:
    committed = sorted(path.name for path in GX_DIR.iterdir() if path.name != "uncommitted")
    assert committed == ["README.md", "gate_config.yml"]


def test_an_invalid_config_fails_the_gate_with_its_reason(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    config = config_with(tmp_path, ("severity: warning", "severity: fatal"))
    result = gate(baseline_copy, "bad_config", tmp_path, config_path=config)
    assert not result.passed
    assert "severity must be one of" in result.report


def test_a_missing_database_fails_the_gate(gate: Any, tmp_path: Path) -> None:
    result = gate(tmp_path / "nothing.duckdb", "missing", tmp_path)
    assert not result.passed
    assert "does not exist" in result.report


def test_an_unknown_target_fails_the_gate(tmp_path: Path) -> None:
    result = run_quality_gate("oracle", None, "unknown", target_path=tmp_path)
    assert not result.passed
    assert "unknown target 'oracle'" in result.report


def test_a_database_held_by_another_process_fails_with_a_clear_reason(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import duckdb, sys, time\n"
            f"connection = duckdb.connect({str(baseline_copy)!r})\n"
            "print('ready', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = gate(baseline_copy, "locked", tmp_path)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not result.passed
    assert "another process has the file open?" in result.report


# ----------------------------------------------------------------------- config and suites


def test_the_committed_config_passes_the_lint_check(manifest: DbtManifest) -> None:
    assert gx_suites.check_config(DEFAULT_CONFIG_PATH, manifest) == []
    completed = subprocess.run(
        health_command("check-config"),
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    plans = gx_suites.all_plans(CONFIG, manifest)
    expectations = sum(len(plan.expectations) for plan in plans)
    logged = " ".join(completed.stderr.split())  # log lines are wrapped to the terminal
    assert f"{len(plans)} suites, {expectations} expectations" in logged


def test_the_lint_check_rejects_a_broken_config(tmp_path: Path, manifest: DbtManifest) -> None:
    config = config_with(tmp_path, ("  score_spread:", "  score_sprad:"))
    problems = gx_suites.check_config(config, manifest)
    assert problems and "unknown check(s) ['score_sprad']" in problems[0]
    completed = subprocess.run(
        health_command("check-config", "--config", str(config)),
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert completed.returncode == BadInputError.exit_code, completed.stderr[-2000:]
    assert "score_sprad" in completed.stderr


def test_the_lint_check_rejects_a_model_dbt_does_not_have(
    tmp_path: Path, manifest: DbtManifest
) -> None:
    config = config_with(tmp_path, ("staged: stg_crm__accounts", "staged: stg_crm__acounts"))
    problems = gx_suites.check_config(config, manifest)
    assert problems and "no model named 'stg_crm__acounts'" in problems[0]


def test_the_schema_check_compares_the_columns_the_model_yaml_documents(
    gate: Any, baseline_copy: Path, tmp_path: Path, gate_manifest: Path
) -> None:
    """Column names come from the manifest: a column the YAML does not document fails."""
    manifest = json.loads(gate_manifest.read_text())
    node = manifest["nodes"]["model.customer_health.stg_crm__accounts"]
    del node["columns"]["industry"]
    edited = tmp_path / "manifest.json"
    edited.write_text(json.dumps(manifest))
    result = gate(baseline_copy, "undocumented", tmp_path / "target", manifest=edited)
    assert not result.passed
    assert result.failed_count == 1, result.report
    assert "suite stg_crm__accounts.inputs, check schema" in result.report
    assert "industry" in result.report


def test_without_a_manifest_the_gate_fails_with_its_reason(
    gate: Any, baseline_copy: Path, tmp_path: Path
) -> None:
    result = gate(baseline_copy, "no_manifest", tmp_path, manifest=tmp_path / "manifest.json")
    assert not result.passed
    assert "no dbt manifest at" in result.report


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("select * from {batch} as b cross join other", None),
        ("select * from {batch} where x > 1", None),
        ("select * from {batch} cross join other", "must alias every"),
        ("select * from {batch} as b where x > 1", "drop the alias"),
        ("select * from other", "does not use"),
    ],
)
def test_sql_checks_alias_the_batch_where_gx_does_not(query: str, message: str | None) -> None:
    if message is None:
        check_batch_aliases(query)
    else:
        with pytest.raises(ValueError, match=message):
            check_batch_aliases(query)


def test_suites_are_named_asset_dot_stage_and_tag_every_expectation(
    manifest: DbtManifest,
) -> None:
    for plan in gate_suites(CONFIG, manifest) + drift_suites(CONFIG, manifest):
        assert re.fullmatch(r"[a-z_]+\.(inputs|candidate|drift)", plan.name), plan.name
        for expectation in plan.expectations:
            assert expectation.meta and expectation.meta.get("check"), plan.name
            assert str(getattr(expectation.severity, "value", "")) in ("critical", "warning")


def test_run_time_parameters_follow_the_config() -> None:
    parameters = expectation_parameters(CONFIG, date(2024, 12, 31), RUN_DATE)
    assert parameters["as_of_date"] == "2024-12-31"
    assert parameters["fresh_since__feature_usage"] == "2024-12-24"  # max_age_days: 7
    assert parameters["fresh_since__support_tickets"] == "2024-12-01"  # override: 30 days
    assert parameters["latest_plausible_date__feature_usage"] == "2026-01-16"  # tolerance 1 day
    assert parameters["latest_plausible_as_of_date"] == "2026-01-16"


def test_old_validation_runs_are_pruned(tmp_path: Path) -> None:
    uncommitted = tmp_path / "uncommitted"
    for index in range(5):
        run_time = f"2026010{index}T000000.000000Z"
        for root in ("validations", "data_docs/local_site/validations"):
            for suite in ("stg_a", "stg_b"):
                folder = uncommitted / root / suite / "inputs" / f"run{index}" / run_time
                folder.mkdir(parents=True)
                (folder / "result.json").write_text("{}")
    assert prune_old_runs(uncommitted, keep_runs=2) == 12
    remaining = sorted(path.name for path in uncommitted.rglob("2026*") if path.is_dir())
    assert remaining == sorted(["20260103T000000.000000Z", "20260104T000000.000000Z"] * 4)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_share: 0.02", "max_share:", "quarantined_share lacks ['max_share']"),
        ("  score_spread:", "  score_sprad:", "unknown check(s) ['score_sprad']"),
        ("    dates: [signup_date]", "    dates: [signup_date]\n    key: account_id",
         "sources.accounts: unknown key(s) ['key']"),
        ("  freshness:", "  key_unique:\n    severity: blocking\n  freshness:",
         "unknown check(s) ['key_unique']"),
    ],
)
def test_config_errors_name_the_setting(tmp_path: Path, old: str, new: str, message: str) -> None:
    config = config_with(tmp_path, (old, new))
    with pytest.raises(GateConfigError, match=re.escape(message)):
        load_gate_config(config)


def test_the_postgres_url_quotes_the_password_and_messages_hide_it() -> None:
    import sqlalchemy as sa

    password = "p@ss:w/rd%?#"
    credentials = SimpleNamespace(
        user="gate user", password=password, host="db.example", port=6543, database="health"
    )
    url = postgres_url(credentials)
    parsed = sa.make_url(url)
    assert url.startswith("postgresql+psycopg2://")
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "gate user", password, "db.example", 6543, "health",
    )
    assert password not in _redact(f"failed: {url} / {password}", password)
    no_password = SimpleNamespace(
        user="postgres", password="", host="localhost", port=5432, database="health"
    )
    assert postgres_url(no_password) == "postgresql+psycopg2://postgres@localhost:5432/health"


# ---------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgres_candidate(
    postgres_build: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The sample data built by dbt in a database of the scratch PostgreSQL cluster (nothing
    published). The gate only reads it."""
    from customer_health.engines.warehouse import target_credentials

    for key, value in postgres_build.items():
        monkeypatch.setenv(key, value)
    target_credentials.cache_clear()  # read the PG* variables as they are now
    yield f"{postgres_build['PGHOST']}:{postgres_build['PGPORT']}/{postgres_build['PGDATABASE']}"
    target_credentials.cache_clear()


def test_the_gate_passes_on_the_postgres_build(
    postgres_candidate: str, tmp_path: Path, gate_manifest: Path, gate_expectations: int
) -> None:
    result = run_quality_gate(
        "postgres", None, "pg_sample", run_date=RUN_DATE, check_drift=False,
        target_path=tmp_path, manifest=gate_manifest,
    )
    assert result.passed, result.report
    assert result.failed_count == 0
    assert result.passed_count + result.warned == gate_expectations, result.report
    assert "gate runtime" in result.report and "on postgres" in result.report
    assert (tmp_path / "gx" / "postgres" / "uncommitted" / "validations").is_dir()


@pytest.fixture
def postgres_published(postgres_candidate: str) -> Iterator[None]:
    """The candidate's scores, copied to schema `health` as if published (dropped afterwards)."""
    import psycopg2

    with psycopg2.connect("") as connection, connection.cursor() as cursor:
        cursor.execute("create schema health")
        cursor.execute(
            "create table health.customer_health_score_history as "
            "select * from marts.customer_health_score_history"
        )
    try:
        yield
    finally:
        with psycopg2.connect("") as connection, connection.cursor() as cursor:
            cursor.execute("drop schema health cascade")


def test_violated_checks_block_on_postgres_with_examples(
    postgres_published: None, tmp_path: Path, gate_manifest: Path, gate_expectations: int,
    drift_expectations: int,
) -> None:
    """Thresholds the build cannot meet: a column check, and a drift (SQL) check against a
    published copy of the candidate (so the drift SQL runs on PostgreSQL, read-only)."""
    config = config_with(
        tmp_path,
        ('earliest: "2000-01-01"', 'earliest: "2024-12-30"'),  # dates_not_too_old, all sources
        ("max_change: 10", "max_change: -1"),  # mean_score_change: abs(change) > -1 always
    )
    result = run_quality_gate(
        "postgres", None, "pg_violated", config_path=config, run_date=RUN_DATE,
        target_path=tmp_path / "target", manifest=gate_manifest,
    )
    assert not result.passed
    report = result.report
    too_old = report.count("check dates_not_too_old")
    # every source the sample has (not the optional ones it lacks)
    assert too_old == len(present_sources(CONFIG, load_manifest(gate_manifest))) == 5, report
    assert result.failed_count == too_old + 1, report
    assert (
        "[BLOCKING] suite stg_crm__accounts.inputs, check dates_not_too_old, column signup_date"
        in report
    )
    assert re.search(r"observed: [\d,]+ of [\d,]+ rows unexpected", report), report
    assert (
        "[BLOCKING] suite customer_health_score_history.drift, check mean_score_change" in report
    )
    assert "mean_score_change=0.00" in report  # an example row, queried on PostgreSQL
    assert result.passed_count == (
        gate_expectations + drift_expectations - result.failed_count - result.warned
    )


def test_the_postgres_password_is_not_stored_or_reported(
    postgres_candidate: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    gate_manifest: Path,
) -> None:
    from customer_health.engines.warehouse import target_credentials

    password = "gate-s3cret:/@%"
    monkeypatch.setenv("PGPASSWORD", password)
    target_credentials.cache_clear()
    result = run_quality_gate(
        "postgres", None, "pg_password", run_date=RUN_DATE, check_drift=False,
        target_path=tmp_path, manifest=gate_manifest,
    )
    target_credentials.cache_clear()
    assert password not in result.report
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert password not in path.read_text(errors="ignore"), path
