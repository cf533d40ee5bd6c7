"""The whole job on real files: dbt build -> gate -> publish, and point-in-time correctness."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from helpers.fingerprint import published_values_digest

from customer_health.dbt_project import project_config
from customer_health.engines.warehouse import connect, working_database
from customer_health.pipeline.summary import build_summary
from customer_health.scoring_config import scoring_config_version
from customer_health.settings import PROJECT_DIR, PipelinePaths

SAMPLE_DATA = PROJECT_DIR / "data" / "ravenstack"
# What the bundled sample publishes: per relation, the value columns, the row count and an md5
# of the values. Columns added since that are null in every row of the sample (the engagement
# family's, and the changes since a previous date, which a single refresh has not) are left out
# and checked to be null. Regenerate only for a change meant to alter the sample's published
# values, keeping the file's columns and adding the new ones that hold a value:
#   PYTHONPATH=tests/python python -c "import json, pathlib, duckdb
#   from helpers.fingerprint import published_values_digest as d
#   db = pathlib.Path('<served .duckdb>'); g = pathlib.Path('<this golden file>')
#   old = json.loads(g.read_text()); con = duckdb.connect(str(db), read_only=True)
#   has = lambda t, c: con.execute(f'select count(\"{c}\") from health.\"{t}\"').fetchone()[0]
#   cols = {t: e['columns'] + [c for c in d(db)[t]['columns']
#           if c not in e['columns'] and has(t, c)] for t, e in old.items()}
#   con.close(); g.write_text(json.dumps(d(db, cols), indent=1) + chr(10))"
SAMPLE_GOLDEN = Path(__file__).parents[1] / "golden" / "sample_published_values.json"
DBT = Path(sys.executable).parent / "dbt"


def query(db_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def published_sample(published_baseline) -> tuple[Path, str]:
    """The session's gated refresh of the bundled sample data, and its printed summary."""
    with connect("duckdb", published_baseline.db_path, read_only=True) as warehouse:
        return published_baseline.db_path, build_summary(warehouse)


def test_sample_data_publishes_one_valid_score_per_account(published_sample) -> None:
    db_path, _ = published_sample
    (accounts, distinct_accounts, out_of_range, ungraded) = query(
        db_path,
        "select count(*), count(distinct account_id), "
        "count(*) filter (where health_score not between 0 and 100), "
        "count(*) filter (where grade is null or status is null or status_colour is null) "
        "from health.customer_health_scores",
    )[0]
    assert (accounts, distinct_accounts, out_of_range, ungraded) == (500, 500, 0, 0)
    metrics_per_account = query(
        db_path,
        "select min(n), max(n) from (select count(*) n from health.customer_health_score_components"
        " group by account_id)",
    )[0]
    # every catalogue metric but those of the raw tables the sample does not have
    absent = project_config()["vars"]["absent_raw_tables"]
    with (PROJECT_DIR / "seeds/metric_definitions.csv").open() as catalogue:
        scored = [row for row in csv.DictReader(catalogue) if row["raw_table"] not in absent]
    assert absent and len(scored) == 15
    assert metrics_per_account == (len(scored), len(scored))


def test_sample_publishes_exactly_what_it_published_before(published_sample) -> None:
    """Optional families the sample lacks change nothing it publishes: every value column of
    every relation is byte for byte what the golden file recorded, and the columns added since
    (engagement_score, latest_nps_score, the changes since a previous scored date) are null in
    every row."""
    db_path, _ = published_sample
    golden = json.loads(SAMPLE_GOLDEN.read_text())
    assert published_values_digest(
        db_path, {table: entry["columns"] for table, entry in golden.items()}
    ) == golden
    added = [
        (table, column)
        for table, columns in published_values_digest(db_path).items()
        for column in columns["columns"]
        if table in golden and column not in golden[table]["columns"]
    ]
    assert ("customer_health_scores", "engagement_score") in added
    for table, column in added:
        assert query(db_path, f'select count("{column}") from health."{table}"') == [(0,)], (
            table, column)


def test_worklists_are_capped_and_the_run_summary_counts_what_the_cap_left_out(
    published_sample,
) -> None:
    """At-risk accounts are capped per segment (var outreach_capacity); the rows beyond the cap
    are counted on the list, in the printed summary and in the run's JSON record."""
    db_path, stdout = published_sample
    project_vars = project_config()["vars"]
    capacity = project_vars["outreach_capacity"]["at_risk_accounts"]
    assert capacity["per"] == "segment"
    per_segment = query(
        db_path,
        "select segment, count(*) from health.customer_health_scores "
        "where status <> 'healthy' group by segment",
    )
    matched = sum(count for _, count in per_segment)
    listed = sum(min(count, capacity["top"]) for _, count in per_segment)
    assert 0 < listed < matched
    assert query(
        db_path,
        "select count(*), min(accounts_matched), max(accounts_matched), "
        "count(distinct outreach_rank), max(outreach_rank), max(capacity_rank) "
        "from health.at_risk_accounts",
    ) == [(listed, matched, matched, listed, listed, capacity["top"])]
    # within a segment, no account left out has more revenue at risk than one kept
    assert query(
        db_path,
        "select count(*) from health.customer_health_scores as scores "
        "inner join (select segment, min(arr_at_risk) as lowest from health.at_risk_accounts "
        "group by segment) as kept on scores.segment = kept.segment "
        f"where scores.status <> 'healthy' and scores.mrr_amount * {project_vars['arr_months']} "
        "> kept.lowest "
        "and scores.account_id not in (select account_id from health.at_risk_accounts)",
    ) == [(0,)]
    line = f"health.at_risk_accounts: {listed} listed, {matched - listed} more matched beyond"
    assert line in stdout
    runs = db_path.parent / "target" / "runs" / "runs.jsonl"
    record = json.loads(runs.read_text().splitlines()[-1])
    assert {
        "relation": "health.at_risk_accounts", "served_file": str(db_path), "rows": listed,
        "matched": matched, "beyond_capacity": matched - listed,
    } in record["worklists"]
    assert {entry["relation"] for entry in record["worklists"]} == {
        "health.at_risk_accounts", "health.newly_at_risk_accounts", "health.promoter_accounts",
        "health.upsell_candidates",
    }


def test_every_dropped_raw_row_is_in_the_quarantine(published_sample) -> None:
    db_path, _ = published_sample
    reasons = query(
        db_path,
        "select table_name, quarantine_reason, count(*) from health.quarantined_source_rows "
        "group by all order by all",
    )
    # The sample data repeats 21 usage ids on rows with different content.
    assert reasons == [("feature_usage", "duplicate_usage_id", 21)]


def test_publish_log_records_run_and_scoring_config_version(published_sample) -> None:
    db_path, _ = published_sample
    log_rows = query(
        db_path,
        "select as_of_date, accounts_scored, scoring_config_version from health.publish_log",
    )
    assert [(str(d), n, v) for d, n, v in log_rows] == [
        ("2024-12-31", 500, scoring_config_version())
    ]
    stamped = query(
        db_path, "select distinct scoring_config_version from health.customer_health_scores"
    )
    assert stamped == [(scoring_config_version(),)]


def test_summary_lists_grades_statuses_and_ten_most_at_risk(published_sample) -> None:
    _, stdout = published_sample
    assert "500 accounts scored" in stdout
    assert "By grade:" in stdout and "By status:" in stdout
    lowest = query(
        published_sample[0],
        "select account_id from health.customer_health_scores order by health_score, account_id "
        "limit 10",
    )
    positions = [stdout.index(f"({account_id})") for (account_id,) in lowest]
    assert positions == sorted(positions)


def append_rows(csv_path: Path, rows: list[dict[str, str]]) -> None:
    with csv_path.open(newline="") as handle:
        header = next(csv.reader(handle))
    with csv_path.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\r\n")
        writer.writerows(rows)


def add_future_data(raw_dir: Path, after: str) -> None:
    """Rows dated after `after` that would change scores if they leaked in."""
    accounts = [
        row["account_id"] for row in csv.DictReader((raw_dir / "ravenstack_accounts.csv").open())
    ]
    subscriptions = list(csv.DictReader((raw_dir / "ravenstack_subscriptions.csv").open()))
    future = "2024-07-15"
    assert future > after
    append_rows(
        raw_dir / "ravenstack_feature_usage.csv",
        [
            {
                "usage_id": f"U-future{i}",
                "subscription_id": sub["subscription_id"],
                "usage_date": future,
                "feature_name": "feature_1",
                "usage_count": "500",
                "usage_duration_secs": "60",
                "error_count": "400",
                "is_beta_feature": "False",
            }
            for i, sub in enumerate(subscriptions)
        ],
    )
    append_rows(
        raw_dir / "ravenstack_support_tickets.csv",
        [
            {
                "ticket_id": f"T-future{i}",
                "account_id": account,
                "submitted_at": future,
                "closed_at": f"{future} 05:00:00",
                "resolution_time_hours": "5.0",
                "priority": "urgent",
                "first_response_time_minutes": "179",
                "satisfaction_score": "1.0",
                "escalation_flag": "True",
            }
            for i, account in enumerate(accounts)
        ],
    )
    append_rows(
        raw_dir / "ravenstack_subscriptions.csv",
        [
            {
                "subscription_id": f"S-future{i}",
                "account_id": account,
                "start_date": future,
                "end_date": "",
                "plan_tier": "Basic",
                "seats": "1",
                "mrr_amount": "0",
                "arr_amount": "0",
                "is_trial": "True",
                "upgrade_flag": "False",
                "downgrade_flag": "True",
                "churn_flag": "False",
                "billing_frequency": "monthly",
                "auto_renew_flag": "False",
            }
            for i, account in enumerate(accounts)
        ],
    )


def build_scores(raw_dir: Path, db_path: Path, target: Path, as_of_date: str) -> list[tuple]:
    paths = PipelinePaths.resolve(db_path=str(db_path), raw_data_dir=str(raw_dir))
    result = subprocess.run(
        [
            str(DBT),
            "build",
            "--exclude-resource-type",
            "test",
            "unit_test",
            "--project-dir",
            str(PROJECT_DIR),
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target),
            "--select",
            "+customer_health_score_components",
            "+customer_health_scores",
            "--vars",
            f"{{as_of_date: '{as_of_date}'}}",
        ],
        env=paths.dbt_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    built = working_database(db_path)
    return query(
        built,
        "select * exclude (dbt_invocation_id) from marts.customer_health_scores "
        "order by account_id",
    ) + query(
        built,
        "select * from marts.customer_health_score_components order by account_id, metric_name",
    )


def test_data_dated_after_as_of_date_changes_no_score(tmp_path: Path) -> None:
    raw_dir = tmp_path / "raw"
    shutil.copytree(SAMPLE_DATA, raw_dir)
    as_of_date = "2024-06-30"
    before = build_scores(raw_dir, tmp_path / "before.duckdb", tmp_path / "target", as_of_date)

    add_future_data(raw_dir, after=as_of_date)
    after = build_scores(raw_dir, tmp_path / "after.duckdb", tmp_path / "target", as_of_date)

    # The future rows were loaded (so the comparison is not vacuous) ...
    staged = query(
        working_database(tmp_path / "after.duckdb"),
        "select count(*) from staging.stg_product_usage__feature_usage "
        "where usage_id like 'U-future%'",
    )
    assert staged == [(5000,)]
    # ... and no score, grade, driver or component moved.
    assert len(before) > 500
    assert before == after
