"""The `health` command's interface: commands, exit codes from typed errors, one-line causes,
and the JSON run summary (no dbt build needed: every case fails before it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from helpers.project import clean_env, run_health

from customer_health.errors import EXIT_CODES, BadInputError, InfrastructureError

COMMANDS = (
    "refresh", "backfill", "gate", "publish", "load", "summary", "export", "check-config",
    "backtest", "calibrate", "adopt-proposal", "report", "generate", "benchmark", "deployment",
    "contract",
)


def last_line(completed: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def assert_clean_failure(completed: subprocess.CompletedProcess[str], code: int) -> None:
    assert completed.returncode == code, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr, completed.stderr[-3000:]
    assert last_line(completed).startswith("error: "), completed.stderr[-3000:]


def test_help_lists_every_command_and_the_exit_codes() -> None:
    completed = run_health("--help")
    assert completed.returncode == 0, completed.stderr
    listed = {line.split()[0] for line in completed.stdout.splitlines() if line.startswith("  ")}
    assert set(COMMANDS) <= listed
    for code in EXIT_CODES:
        assert f"{code} " in " ".join(completed.stdout.split())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    completed = run_health(command, ["--help"])
    assert completed.returncode == 0, completed.stderr
    assert f"Usage: python -m customer_health {command}" in completed.stdout


@pytest.mark.parametrize(
    ("args", "cause"),
    [
        (["refresh", "--as-of-date", "2024-13-01"], "expected a date as YYYY-MM-DD"),
        (["refresh", "--target", "oracle"], "'oracle' is not one of"),
        (["refresh", "--no-such-flag"], "No such option: --no-such-flag"),
        (["backfill", "--from", "2024-03-01"], "Missing option '--to'"),
        (["backfill", "--from", "2024-03-01", "--to", "2024-01-01"], "is after --to"),
        (["backtest", "--from", "2024-02-30"], "expected a date as YYYY-MM-DD, got '2024-02-30'"),
        (["backtest", "--from", "2024-03-01", "--to", "2024-01-01"], "is after --to"),
        (["backtest", "--horizon-days", "0"], "'--horizon-days': must be >= 1, got 0"),
        (["backtest", "--bootstrap", "many"], "'--bootstrap'"),
        (["calibrate", "--holdout-from", "2024-13-01"], "expected a date as YYYY-MM-DD"),
        (["calibrate", "--weight-rule", "other"], "'other' is not one of"),
        (["calibrate", "--l2", "0"], "'--l2': must be a positive number, got 0.0"),
        (["calibrate", "--min-positives", "0"], "'--min-positives': must be >= 1, got 0"),
        (["report", "--worklist-rows", "0"], "'--worklist-rows': must be >= 1, got 0"),
        (["calibrate", "--min-band-share", "0.5"], "must be above 0 and below 0.5, got 0.5"),
    ],
)
def test_bad_arguments_exit_4_with_the_cause_on_one_line(args: list[str], cause: str) -> None:
    completed = run_health(args[0], args[1:])
    assert_clean_failure(completed, BadInputError.exit_code)
    assert cause in last_line(completed)


def test_a_missing_raw_folder_exits_4_and_the_json_summary_records_it(tmp_path: Path) -> None:
    completed = run_health("refresh", [
        "--db-path", str(tmp_path / "scores.duckdb"), "--raw-data-dir", str(tmp_path / "nowhere"),
        "--target-path", str(tmp_path / "target"), "--json",
    ])
    assert_clean_failure(completed, BadInputError.exit_code)
    assert "raw data folder does not exist" in last_line(completed)
    summary = json.loads(completed.stdout)
    assert (summary["status"], summary["exit_code"], summary["published"]) == (
        "bad_input", 4, False,
    )
    assert "raw data folder does not exist" in summary["message"]
    recorded = json.loads((tmp_path / "target" / "runs" / f"{summary['run_id']}.json").read_text())
    assert recorded == summary
    log_lines = (tmp_path / "target" / "runs" / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["run_id"] for line in log_lines] == [summary["run_id"]]


def test_a_database_named_like_the_published_schema_is_bad_input(tmp_path: Path) -> None:
    completed = run_health("refresh", [
        "--db-path", str(tmp_path / "health.duckdb"), "--target-path", str(tmp_path / "t"),
    ])
    assert_clean_failure(completed, BadInputError.exit_code)
    assert "may not be named health.duckdb" in last_line(completed)


def test_a_database_held_by_another_process_is_retryable(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    duckdb.connect(str(db_path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(db_path)!r}); print('ready', flush=True);"
         " time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        completed = run_health("summary", ["--db-path", str(db_path)], env=clean_env())
    finally:
        holder.kill()
        holder.wait()
    assert_clean_failure(completed, InfrastructureError.exit_code)
    assert "another process has the file open?" in last_line(completed)


def test_summary_before_anything_is_published_says_so(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    duckdb.connect(str(db_path)).close()
    completed = run_health("summary", ["--db-path", str(db_path)])
    assert_clean_failure(completed, BadInputError.exit_code)
    assert "nothing is published yet" in last_line(completed)


def test_a_file_that_is_not_a_database_is_an_infrastructure_failure(tmp_path: Path) -> None:
    db_path = tmp_path / "scores.duckdb"
    db_path.write_bytes(b"not a database, e.g. a half-copied restore" * 100)
    completed = run_health("refresh", [
        "--db-path", str(db_path), "--target-path", str(tmp_path / "target"),
    ])
    assert_clean_failure(completed, InfrastructureError.exit_code)
    assert f"cannot open {db_path}" in last_line(completed)


def test_deployment_shows_the_chosen_deployment_and_its_vars() -> None:
    sample = run_health("deployment")
    example = run_health("--deployment", ["deployments/contracts_example", "deployment", "--vars"])

    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("deployment: sample (bundled sample)")
    assert example.returncode == 0, example.stderr
    assert "crm.accounts: customers" in example.stdout


def test_a_missing_deployment_folder_is_bad_input() -> None:
    completed = run_health("--deployment", ["deployments/nowhere", "deployment"])

    assert_clean_failure(completed, BadInputError.exit_code)
    assert "has no deployment.yml" in last_line(completed)
