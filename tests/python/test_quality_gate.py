"""The quality gate on a published sample database, tampered with in place (no dbt run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

import gx_suites
from gx_checks import drift_suites, expectation_parameters, gate_suites
from gx_config import DEFAULT_CONFIG_PATH, GX_DIR, load_gate_config
from quality_gate import prune_old_runs, run_quality_gate

RUN_DATE = date(2026, 1, 15)  # a fixed "today" after the sample data (which ends 2024-12-31)
CONFIG = load_gate_config()
GATE_EXPECTATIONS = sum(len(plan.expectations) for plan in gate_suites(CONFIG))
DRIFT_EXPECTATIONS = sum(len(plan.expectations) for plan in drift_suites(CONFIG))


def execute(db_path: Path, *statements: str) -> None:
    with duckdb.connect(str(db_path)) as connection:
        for statement in statements:
            connection.execute(statement)


def test_the_published_sample_passes_quickly_and_leaves_the_file_writable(
    baseline_copy: Path,
) -> None:
    started = time.perf_counter()
    result = run_quality_gate(baseline_copy, "sample", run_date=RUN_DATE)
    seconds = time.perf_counter() - started
    assert result.passed, result.report
    assert (result.passed_count, result.failed_count, result.warned) == (
        GATE_EXPECTATIONS + DRIFT_EXPECTATIONS, 0, 0,
    )
    docs = re.search(r"Data Docs: file://(\S+)", result.report)
    assert docs and Path(docs.group(1)).is_file()
    assert seconds < 60, f"the gate took {seconds:.1f} s"
    execute(baseline_copy, "create table main.publish_can_write (x integer)")


def test_a_blocking_failure_names_suite_check_column_and_examples(baseline_copy: Path) -> None:
    execute(
        baseline_copy,
        "update marts.customer_health_scores set health_score = 150 where account_id in "
        "(select account_id from marts.customer_health_scores order by account_id limit 3)",
    )
    result = run_quality_gate(baseline_copy, "out_of_range", run_date=RUN_DATE)
    assert not result.passed
    assert result.failed_count >= 1
    report = result.report
    assert (
        "[BLOCKING] suite customer_health_scores.candidate, check score_in_range, "
        "column health_score" in report
    )
    assert "3 of 500 rows unexpected" in report
    assert "150.0 (x3)" in report
    # The SQL checks show offending rows too (a 150 is graded A, whatever it was before).
    assert "check every_score_explained" in report
    assert "health_score=150.0" in report


def test_a_warning_is_counted_and_does_not_block(baseline_copy: Path) -> None:
    execute(
        baseline_copy,
        "update staging.base_product_usage__feature_usage set usage_date = date '2025-01-02' "
        "where usage_id = (select min(usage_id) from staging.stg_product_usage__feature_usage)",
    )
    result = run_quality_gate(baseline_copy, "after_as_of", run_date=RUN_DATE)
    assert result.passed, result.report
    assert (result.failed_count, result.warned) == (0, 1)
    assert (
        "[WARNING] suite stg_product_usage__feature_usage.inputs, check dates_after_as_of, "
        "column usage_date" in result.report
    )
    assert "2025-01-02" in result.report


def test_drift_is_skipped_until_something_is_published(baseline_copy: Path) -> None:
    execute(baseline_copy, "drop schema health cascade")
    result = run_quality_gate(baseline_copy, "first_run", run_date=RUN_DATE)
    assert result.passed, result.report
    assert result.passed_count == GATE_EXPECTATIONS
    assert "drift checks skipped: nothing published yet" in result.report


def test_drift_is_skipped_when_the_published_run_is_newer_as_in_a_backfill(
    baseline_copy: Path,
) -> None:
    execute(baseline_copy, "update health.customer_health_scores set as_of_date = '2025-06-30'")
    result = run_quality_gate(baseline_copy, "backfill", run_date=RUN_DATE)
    assert result.passed, result.report
    assert result.passed_count == GATE_EXPECTATIONS
    assert "is newer than the candidate (as of 2024-12-31), as in a backfill" in result.report


def test_drift_against_the_published_run_blocks(baseline_copy: Path) -> None:
    execute(
        baseline_copy,
        "update health.customer_health_scores set health_score = least(health_score + 15, 100)",
    )
    result = run_quality_gate(baseline_copy, "drifted", run_date=RUN_DATE)
    assert not result.passed
    assert result.failed_count == 1, result.report
    assert "suite customer_health_scores.drift, check mean_score_change" in result.report
    assert "published_mean_score=" in result.report


def test_gx_out_of_date_with_the_config_fails_the_gate(
    baseline_copy: Path, tmp_path: Path
) -> None:
    gx_copy = tmp_path / "gx"
    shutil.copytree(GX_DIR, gx_copy, ignore=shutil.ignore_patterns("uncommitted"))
    config = gx_copy / "gate_config.yml"
    config.write_text(config.read_text().replace("max_change: 10", "max_change: 12"))
    result = run_quality_gate(
        baseline_copy, "stale", config_path=config, run_date=RUN_DATE
    )
    assert not result.passed
    assert "out of date" in result.report
    assert "suite customer_health_scores.drift" in result.report
    assert "scripts/gx_suites.py" in result.report


def test_an_invalid_config_fails_the_gate_with_its_reason(
    baseline_copy: Path, tmp_path: Path
) -> None:
    config = tmp_path / "gate_config.yml"
    config.write_text(
        DEFAULT_CONFIG_PATH.read_text().replace("severity: warning", "severity: fatal", 1)
    )
    result = run_quality_gate(baseline_copy, "bad_config", config_path=config)
    assert not result.passed
    assert "severity must be one of" in result.report


def test_a_missing_database_fails_the_gate(tmp_path: Path) -> None:
    result = run_quality_gate(tmp_path / "nothing.duckdb", "missing")
    assert not result.passed
    assert "does not exist" in result.report


def test_a_database_held_by_another_process_fails_with_a_clear_reason(
    baseline_copy: Path,
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
        result = run_quality_gate(baseline_copy, "locked", run_date=RUN_DATE)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not result.passed
    assert "another process has the file open?" in result.report


def test_committed_gx_objects_match_the_gate_config() -> None:
    context = gx_suites.get_file_context(GX_DIR)
    assert gx_suites.stale_objects(context, CONFIG) == []


def test_suites_are_named_asset_dot_stage_and_tag_every_expectation() -> None:
    for plan in gate_suites(CONFIG) + drift_suites(CONFIG):
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
            folder = uncommitted / root / "suite" / "inputs" / f"run{index}" / run_time
            folder.mkdir(parents=True)
            (folder / "result.json").write_text("{}")
    assert prune_old_runs(uncommitted, keep_runs=1) == 6
    remaining = sorted(path.name for path in uncommitted.rglob("2026*") if path.is_dir())
    assert remaining == sorted(["20260103T000000.000000Z", "20260104T000000.000000Z"] * 2)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("max_share: 0.02", "max_share:", "quarantined_share lacks ['max_share']"),
        ("  score_spread:", "  score_sprad:", "unknown check(s) ['score_sprad']"),
    ],
)
def test_config_errors_name_the_setting(tmp_path: Path, old: str, new: str, message: str) -> None:
    from gx_config import GateConfigError

    config = tmp_path / "gate_config.yml"
    config.write_text(DEFAULT_CONFIG_PATH.read_text().replace(old, new, 1))
    with pytest.raises(GateConfigError, match=re.escape(message)):
        load_gate_config(config)
