"""The second example (deployments/contracts_example: customers and contracts in one snapshot, no
usage, tickets or churn events; churn as an outcome column) is scored, gated, published,
backtested and calibrated through its configuration alone (its files are found under names of
its own: test_raw_table_rename.py renames one of the sample's), and the sample without its support
desk scores on what is left."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from subprocess import CompletedProcess

import duckdb
import pytest
import yaml
from helpers.project import (
    REPO_DIR,
    SAMPLE_DATA_DIR,
    clean_env,
    copy_project,
    create_postgres_database,
    output_of,
    run_health,
)

from customer_health.dbt_project import project_config

EXAMPLE = REPO_DIR / "deployments" / "contracts_example"
EXAMPLE_METRICS = {
    "tenure_days", "contract_type", "payment_method", "current_mrr", "auto_renew_off",
}
CUSTOMERS = 5000
SNAPSHOT = date(2024, 12, 31)


def run_deployment(
    deployment: Path, command: str, *args: str, project_dir: Path = REPO_DIR
) -> CompletedProcess[str]:
    """`health <command>` on a deployment, as its user runs it."""
    env = clean_env({"HEALTH_DEPLOYMENT": str(deployment)})
    return run_health(command, ["--quiet", *args], env=env, project_dir=project_dir)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example refreshed into a DuckDB file of its own."""
    folder = tmp_path_factory.mktemp("contracts_example")
    db_path = folder / "example.duckdb"
    completed = run_deployment(
        EXAMPLE, "refresh", "--db-path", str(db_path), "--target-path", str(folder / "target")
    )
    assert completed.returncode == 0, output_of(completed)
    return db_path


def query(db_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_every_customer_is_scored_on_the_snapshot_date(published: Path) -> None:
    assert query(
        published,
        "select count(*), min(as_of_date), max(as_of_date), count(distinct segment)"
        " from health.customer_health_scores",
    ) == [(CUSTOMERS, SNAPSHOT, SNAPSHOT, 1)]


def test_only_the_configured_metrics_are_scored(published: Path) -> None:
    metrics = {row[0] for row in query(
        published, "select distinct metric_name from health.customer_health_score_components"
    )}

    assert metrics == EXAMPLE_METRICS
    # no usage or support data: their sub-scores are empty, coverage is full
    assert query(
        published,
        "select count(usage_score), count(support_score), min(weight_coverage)"
        " from health.customer_health_scores",
    ) == [(0, 0, 1.0)]


def test_attribute_metrics_explain_themselves(published: Path) -> None:
    drivers = query(
        published,
        "select driver_text from health.customer_health_score_components"
        " where metric_name = 'contract_type' and band_label = 'month-to-month'"
        " and driver_rank = 1 limit 1",
    )

    assert drivers and drivers[0][0].startswith("Contract: month-to-month, costs ")


def test_month_to_month_short_tenure_customers_score_lowest(published: Path) -> None:
    by_contract = dict(query(
        published,
        """
        select components.band_label, avg(scores.health_score)
        from health.customer_health_scores as scores
        inner join health.customer_health_score_components as components
            using (account_id, as_of_date)
        where components.metric_name = 'contract_type'
        group by components.band_label
        """,
    ))

    assert by_contract["month-to-month"] < by_contract["one-year contract"]
    assert by_contract["one-year contract"] < by_contract["two-year contract"]


def test_the_snapshot_backtest_finds_the_planted_signal(published: Path, tmp_path: Path) -> None:
    completed = run_deployment(
        EXAMPLE, "backtest", "--db-path", str(published), "--out", str(tmp_path)
    )

    assert completed.returncode == 0, output_of(completed)
    report = json.loads((tmp_path / "backtest.json").read_text())
    assert report["parameters"]["label_mode"] == "snapshot"
    assert report["parameters"]["snapshot_date"] == SNAPSHOT.isoformat()
    assert report["metrics"]["auc"]["estimate"] > 0.7
    assert "snapshot" in (tmp_path / "backtest.md").read_text()


def test_calibration_splits_the_snapshots_accounts(published: Path, tmp_path: Path) -> None:
    proposal = tmp_path / "proposed_weights.csv"
    completed = run_deployment(
        EXAMPLE, "calibrate", "--db-path", str(published), "--out", str(tmp_path),
        "--proposal", str(proposal),
    )

    assert completed.returncode == 0, output_of(completed)
    report = (tmp_path / "calibration.md").read_text()
    assert "split by account" in report
    proposed_metrics = {line.split(",")[1] for line in proposal.read_text().splitlines()[1:]}
    assert proposed_metrics == EXAMPLE_METRICS


def test_without_a_support_desk_the_other_metrics_carry_the_score(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    deployment = project / "deployments" / "no_support"
    shutil.copytree(project / "seeds", deployment / "seeds")
    (deployment / "deployment.yml").write_text(yaml.safe_dump(
        {"raw_data": {"dir": str(SAMPLE_DATA_DIR)},
         # the sample's absent tables, and its support desk
         "vars": {"absent_raw_tables": [
             *project_config()["vars"]["absent_raw_tables"], "support.support_tickets",
         ]}}
    ))
    db_path = tmp_path / "no_support.duckdb"

    completed = run_deployment(
        deployment, "refresh", "--db-path", str(db_path), "--target-path", str(tmp_path / "t"),
        project_dir=project,
    )

    assert completed.returncode == 0, output_of(completed)
    categories = {row[0] for row in query(
        db_path, "select distinct category from health.customer_health_score_components"
    )}
    assert categories == {"usage", "billing"}
    # the support and CSAT weights are renormalised over the usage and billing metrics
    assert query(
        db_path,
        """
        select count(*), round(min(total), 9), round(max(total), 9) from (
            select account_id, sum(effective_weight) as total
            from health.customer_health_score_components
            group by account_id
        ) as weights
        """,
    ) == [(500, 1.0, 1.0)]
    assert query(
        db_path,
        "select count(support_score), count(satisfaction_score), max(metrics_expected)"
        " from health.customer_health_scores",
    ) == [(0, 0, 10)]


@pytest.mark.engines
def test_the_example_publishes_the_same_scores_on_postgresql(
    published: Path, postgres_env: dict[str, str], tmp_path: Path
) -> None:
    """Load, refresh and export on PostgreSQL; the export equals DuckDB's, byte for byte."""
    create_postgres_database("contracts_example")
    env = clean_env({**postgres_env, "PGDATABASE": "contracts_example",
                     "HEALTH_DEPLOYMENT": str(EXAMPLE)})
    relations = ["--relation", "customer_health_scores",
                 "--relation", "customer_health_score_components"]
    for command, args in (
        ("load", ["--target", "postgres", "--target-path", str(tmp_path / "target")]),
        ("refresh", ["--target", "postgres", "--target-path", str(tmp_path / "target")]),
        ("export", ["--target", "postgres", *relations, "--out", str(tmp_path / "postgres")]),
    ):
        completed = run_health(command, ["--quiet", *args], env=env)
        assert completed.returncode == 0, output_of(completed)
    completed = run_deployment(
        EXAMPLE, "export", "--db-path", str(published), *relations,
        "--out", str(tmp_path / "duckdb"),
    )
    assert completed.returncode == 0, output_of(completed)

    for name in ("customer_health_scores", "customer_health_score_components"):
        duckdb_rows = (tmp_path / "duckdb" / f"{name}.csv").read_bytes()
        assert duckdb_rows.count(b"\n") > CUSTOMERS
        assert (tmp_path / "postgres" / f"{name}.csv").read_bytes() == duckdb_rows
