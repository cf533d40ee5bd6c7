"""The engagement family (deployments/engagement_example: generated data with engagement events
and NPS responses beside usage, billing and support): dirty rows of the new sources are
quarantined with their reasons, the new metrics and the engagement sub-score are scored (their
dbt unit tests run in the same build), promoters and detractors join the outreach lists, and no
event or response dated after the as-of date changes a score. That the family scores the same on
PostgreSQL and Spark is tested with the engines (test_engines.py), on the same data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from subprocess import CompletedProcess

import duckdb
import pytest
from helpers.engagement_data import EVENTS, EXAMPLE, RESPONSES, engagement_data
from helpers.project import REPO_DIR, clean_env, health_command, output_of, run_health

from customer_health.errors import GateFailedError

ENGAGEMENT_METRICS = {
    "days_since_two_way_engagement", "email_click_through_pct", "meetings_cancelled_pct",
    "engagement_trend_pct", "nps_latest", "nps_average", "nps_net", "detractor_responses",
}
DBT = Path(sys.executable).parent / "dbt"


def refresh(data: Path, folder: Path, *args: str) -> tuple[CompletedProcess[str], Path]:
    db_path = folder / "customer_health.duckdb"
    env = clean_env({"HEALTH_DEPLOYMENT": str(EXAMPLE)})
    completed = run_health(
        "refresh",
        ["--quiet", "--db-path", str(db_path), "--raw-data-dir", str(data),
         "--target-path", str(folder / "target"), *args],
        env=env,
    )
    return completed, db_path


def query(db_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return engagement_data(tmp_path_factory)


@pytest.fixture(scope="module")
def published(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    completed, db_path = refresh(data, tmp_path_factory.mktemp("engagement_example"))
    assert completed.returncode == 0, output_of(completed)
    return db_path


def test_dirty_rows_of_the_new_sources_are_quarantined_with_reasons(published: Path) -> None:
    reasons = dict(query(
        published,
        "select table_name || '.' || quarantine_reason, count(*) "
        "from health.quarantined_source_rows "
        "where table_name in ('engagement_events', 'nps_responses') group by all",
    ))
    for reason in (
        "engagement_events.unknown_channel",  # the generator's fax events
        "engagement_events.implausible_occurred_at",  # its events dated 2199
        "engagement_events.exact_duplicate_row",
        "engagement_events.dated_in_future",  # after the run started, before 2099
        "engagement_events.unknown_event_type",
        "nps_responses.nps_score_out_of_range",  # its scores of 11
        "nps_responses.dated_in_future",
        "nps_responses.invalid_nps_score",  # 7.5 is not a whole number
    ):
        assert reasons.get(reason, 0) >= 1, (reason, reasons)
    assert ("E-future", "dated_in_future") in query(
        published, "select record_key, quarantine_reason from health.quarantined_source_rows"
    )


def test_every_account_gets_the_new_metrics_and_an_engagement_sub_score(published: Path) -> None:
    metrics = {row[0] for row in query(
        published, "select distinct metric_name from health.customer_health_score_components"
    )}
    assert metrics >= ENGAGEMENT_METRICS and len(metrics) == 15 + len(ENGAGEMENT_METRICS)
    accounts, with_engagement_score, weights = query(
        published,
        "select count(*), count(engagement_score), "
        "(select round(sum(weight), 6) from health.customer_health_score_components "
        " where account_id = any_value(s.account_id)) "
        "from health.customer_health_scores as s",
    )[0]
    assert accounts == with_engagement_score > 0
    # every metric scored, so the seed's weights are used as they are (they sum to 1)
    assert weights == 1.0


def test_engagement_unit_tests_pass(data: Path, published: Path) -> None:
    """The dbt unit tests of the engagement and NPS metrics: their models exist only in a
    deployment with both sources, so `make dbt-test` (the sample) cannot run them."""
    vars_text = subprocess.run(
        health_command("deployment", "--vars"), env=clean_env({"HEALTH_DEPLOYMENT": str(EXAMPLE)}),
        capture_output=True, text=True, check=True, cwd=REPO_DIR,
    ).stdout
    target = published.parent / "unit_target"
    completed = subprocess.run(
        [str(DBT), "test", "--select", "test_type:unit", "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target-path", str(target), "--vars", vars_text],
        env=clean_env({
            "HEALTH_DEPLOYMENT": EXAMPLE.relative_to(REPO_DIR).as_posix(),
            "HEALTH_RAW_DATA_DIR": str(data),
            "HEALTH_DB_PATH": str(published),
        }),
        capture_output=True, text=True, check=False, cwd=REPO_DIR,
    )
    assert completed.returncode == 0, output_of(completed)
    statuses = {
        result["unique_id"].rsplit(".", 1)[-1]: result["status"]
        for result in json.loads((target / "run_results.json").read_text())["results"]
    }
    for name in ("engagement_metrics_at_window_edges", "nps_metrics_at_window_edges",
                 "nps_responses_in_window_at_its_edges"):
        assert statuses.get(name) == "pass", (name, statuses.get(name))


def test_promoters_and_falling_usage_detractors_join_the_outreach_lists(
    published: Path,
) -> None:
    promoters = query(
        published,
        "select latest_nps_score, reason from health.promoter_accounts "
        "where latest_nps_score is not null",
    )
    assert promoters and all(score >= 9 for score, _ in promoters)
    assert any('"' in reason for _, reason in promoters), "no comment quoted as a reason"
    detractors = query(
        published,
        "select latest_nps_score, reason from health.at_risk_accounts "
        "where latest_nps_score is not null",
    )
    assert detractors and all(score <= 6 for score, _ in detractors)
    assert all("NPS detractor: " in reason for _, reason in detractors)


def test_no_event_or_response_after_the_as_of_date_changes_a_score(
    data: Path, tmp_path: Path
) -> None:
    """Scored as of mid-2024 on all the data, and on the data cut at that date: the same."""
    as_of = "2024-06-30"
    cut = tmp_path / "cut"
    shutil.copytree(data, cut)
    for name, column in ((EVENTS, "occurred_at"), (RESPONSES, "responded_at")):
        lines = (cut / name).read_bytes().split(b"\r\n")
        header = lines[0].decode().split(",")
        at = header.index(column)
        kept = [lines[0]] + [
            line for line in lines[1:] if line and line.decode().split(",")[at][:10] <= as_of
        ]
        assert len(kept) < len(lines) - 1
        (cut / name).write_bytes(b"\r\n".join(kept) + b"\r\n")
    scores = []
    for folder, raw in (("all", data), ("cut", cut)):
        completed, db_path = refresh(raw, tmp_path / folder, "--as-of-date", as_of)
        assert completed.returncode == 0, output_of(completed)
        scores.append(query(
            db_path,
            "select account_id, metric_name, metric_value, points "
            "from health.customer_health_score_components order by all",
        ))
    assert scores[0] == scores[1] and len(scores[0]) > 0


def test_bad_nps_rows_beyond_the_gate_share_publish_nothing(
    data: Path, published: Path, tmp_path: Path
) -> None:
    """A survey export gone wrong (every tenth score 11): staging quarantines those rows, the
    gate blocks on the quarantined share of nps_responses, exits 2 and publishes nothing."""
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    lines = (bad / RESPONSES).read_bytes().split(b"\r\n")
    at = lines[0].decode().split(",").index("nps_score")
    for index in range(1, len(lines), 10):
        if lines[index]:
            fields = lines[index].decode().split(",")
            fields[at] = "11"
            lines[index] = ",".join(fields).encode()
    (bad / RESPONSES).write_bytes(b"\r\n".join(lines))
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(published, folder / published.name)
    before = (folder / published.name).read_bytes()
    completed, db_path = refresh(bad, folder)
    assert completed.returncode == GateFailedError.exit_code, output_of(completed)
    assert "nps_responses" in output_of(completed)
    assert "quarantined_share" in output_of(completed)
    assert db_path.read_bytes() == before


def test_the_backtest_reports_what_the_engagement_family_adds(data: Path, tmp_path: Path) -> None:
    """Backfilled month ends, backtested: the report has the engagement family's AUC gain, with
    an interval, among the families compared."""
    env = clean_env({"HEALTH_DEPLOYMENT": str(EXAMPLE)})
    db = ["--db-path", str(tmp_path / "customer_health.duckdb")]
    for command, args in (
        ("backfill", [*db, "--raw-data-dir", str(data), "--target-path", str(tmp_path / "t"),
                      "--from", "2024-07-31", "--to", "2024-09-30"]),
        ("backtest", [*db, "--out", str(tmp_path / "report")]),
    ):
        completed = run_health(command, ["--quiet", *args], env=env)
        assert completed.returncode == 0, output_of(completed)
    metrics = json.loads((tmp_path / "report" / "backtest.json").read_text())["metrics"]
    families = {entry["family"]: entry for entry in metrics["family_contribution"]}
    assert {"usage", "billing", "support", "engagement"} <= set(families)
    gain = families["engagement"]["difference"]
    assert gain["lower"] <= gain["estimate"] <= gain["upper"]
    assert set(families["engagement"]["metrics"]) == ENGAGEMENT_METRICS
    assert "What each family adds" in (tmp_path / "report" / "backtest.md").read_text()
