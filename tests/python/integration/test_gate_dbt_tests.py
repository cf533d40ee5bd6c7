"""The rules the gate no longer checks are dbt tests, and they fail on a build that breaks them
(gx/README.md maps each former gate check to its dbt test): `dbt test` on a tampered copy of the
published sample."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
from helpers.project import REPO_DIR, clean_env

TAMPERING = (
    # a score disappears: an active account is left unscored
    "delete from marts.customer_health_scores where account_id = "
    "(select min(account_id) from marts.customer_health_scores)",
    # a score graded above what it reaches (A needs 80), and no longer what its components add to
    "update marts.customer_health_scores set grade = 'A', health_score = health_score - 5 "
    "where account_id = (select max(account_id) from marts.customer_health_scores "
    "where health_score < 60)",
    # a negative count reaches staging (which quarantines them)
    "update staging.base_crm__accounts set initial_seats = -1 where account_id = "
    "(select min(account_id) from staging.stg_crm__accounts)",
    # every ticket gone from staging
    "update staging.base_support__support_tickets set quarantine_reason = 'tampered'",
)
EXPECTED_FAILURES = {
    "assert_every_active_account_is_scored",
    "assert_scores_reach_their_grade",
    "assert_components_explain_every_score",
    "in_range_stg_crm__accounts_initial_seats__1e12__0",
    "not_empty_stg_support__tickets_",
}
SELECTION = (
    "assert_every_active_account_is_scored assert_scores_reach_their_grade "
    "assert_components_explain_every_score test_name:in_range,stg_crm__accounts "
    "test_name:not_empty,stg_support__tickets"
)


def test_the_dbt_tests_that_replaced_gate_checks_fail_on_a_tampered_build(
    baseline_copy: Path, tmp_path: Path
) -> None:
    with duckdb.connect(str(baseline_copy)) as connection:
        for statement in TAMPERING:
            connection.execute(statement)
    target_path = tmp_path / "target"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target-path", str(target_path),
         "--log-path", str(tmp_path / "logs"), "--select", *SELECTION.split()],
        env=clean_env({"HEALTH_DB_PATH": str(baseline_copy),
                       "HEALTH_WORKING_DB_PATH": str(baseline_copy)}),
        capture_output=True, text=True, check=False, cwd=REPO_DIR, timeout=600,
    )
    assert completed.returncode == 1, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    failed = {
        result["unique_id"].split(".")[2]
        for result in results
        if result["status"] in ("fail", "error", "warn")
    }
    missing = {
        expected for expected in EXPECTED_FAILURES
        if not any(name.startswith(expected) for name in failed)
    }
    assert not missing, f"these dbt tests did not fail: {sorted(missing)}; failed: {failed}"
