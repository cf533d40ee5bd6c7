"""Label modes of the backtest and the calibration: dated churn events, or one snapshot with an
outcome column (`staging.stg_crm__account_outcomes`), for deployments without churn events or
usage.

The fixtures are small DuckDB files built here, as a deployment's warehouse would hold them:
score history and component history for three month ends, an outcome per account (some unknown,
some accounts without one) whose churn is planted on a metric of the latest month end, and
optionally churn events and usage.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from helpers.project import output_of, run_health

from customer_health.engines import warehouse
from customer_health.evaluation import backtest
from customer_health.evaluation import calibration as calibrate_weights
from customer_health.evaluation import history as history_extract
from customer_health.evaluation.data import (
    ACCOUNT_OUTCOMES,
    CHURN_EVENTS,
    COMPONENT_HISTORY,
    FEATURE_USAGE,
    HISTORY,
    BacktestInputError,
    choose_labels,
    connect_read_only,
    observed_through,
)
from customer_health.evaluation.options import BacktestOptions, CalibrationOptions

DATES = (date(2024, 10, 31), date(2024, 11, 30), date(2024, 12, 31))
SNAPSHOT = DATES[-1]
ACCOUNTS = 900
# Active weights of the fixture: the planted metric `protective` has little of the weight.
WEIGHTS = {"smb": {"protective": 0.3, "noise": 0.7},
           "enterprise": {"protective": 0.4, "noise": 0.6}}
# Each metric in a family of its own.
CATEGORIES = {"protective": "usage", "noise": "support"}


def grade(score: float) -> str:
    return ("A" if score >= 80 else "B" if score >= 65 else "C" if score >= 50
            else "D" if score >= 35 else "F")


def status(score: float) -> str:
    return "healthy" if score >= 70 else "at_risk" if score >= 40 else "unhealthy"


def make_history_db(path: Path, *, outcomes: bool = True, churn_events: bool = False,
                    usage: bool = False, seed: int = 7) -> dict[str, int]:
    """Score and component history for DATES; churn after SNAPSHOT planted on `protective`
    points of SNAPSHOT (earlier dates: independent points, no signal). Returns how many outcomes
    are null and how many accounts have no outcome row."""
    rng = np.random.default_rng(seed)
    history, components, outcome_rows = [], [], []
    unknown = {"null": 0, "missing": 0}
    for i in range(ACCOUNTS):
        account = f"acc_{i:04d}"
        segment = "smb" if i % 3 else "enterprise"
        for day in DATES:
            points = {m: float(rng.integers(0, 101)) for m in ("protective", "noise")}
            score = round(sum(WEIGHTS[segment][m] * p for m, p in points.items()), 1)
            history.append((account, day, score, grade(score), status(score), segment,
                            "adopting", "Pro"))
            components += [(account, day, m, CATEGORIES[m], p, p, WEIGHTS[segment][m])
                           for m, p in points.items()]  # metric value = points
        churn_p = 1 / (1 + np.exp(1.2 + 0.06 * (points["protective"] - 50)))
        churned = bool(rng.random() < churn_p)
        draw = rng.random()
        if draw < 0.05:
            outcome_rows.append((account, None))
            unknown["null"] += 1
        elif draw < 0.08:
            unknown["missing"] += 1
        else:
            outcome_rows.append((account, churned))
    with duckdb.connect(str(path)) as con:
        con.execute("create schema health; create schema staging")
        con.execute(f"create table {HISTORY} (account_id varchar, as_of_date date, "
                    "health_score double, grade varchar, status varchar, segment varchar, "
                    "lifecycle_stage varchar, plan_tier varchar)")
        insert(con, HISTORY, history)
        con.execute(f"create table {COMPONENT_HISTORY} (account_id varchar, as_of_date date, "
                    "metric_name varchar, category varchar, metric_value double, "
                    "points double, weight double)")
        insert(con, COMPONENT_HISTORY, components)
        if outcomes:
            con.execute(f"create table {ACCOUNT_OUTCOMES} (account_id varchar, "
                        "has_churned boolean)")
            insert(con, ACCOUNT_OUTCOMES, outcome_rows)
        if churn_events:
            con.execute(f"create table {CHURN_EVENTS} (account_id varchar, churn_date date)")
            insert(con, CHURN_EVENTS,
                   [(a, date(2024, 12, 15)) for a, c in outcome_rows[:200] if c])
        if usage:
            con.execute(f"create table {FEATURE_USAGE} as select date '2025-03-31' as usage_date")
    return unknown


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Rows into an existing table, through a frame (much faster than executemany)."""
    con.register("rows_frame", pd.DataFrame(rows, dtype=object))
    con.execute(f"insert into {table} select * from rows_frame")
    con.unregister("rows_frame")


def write_weights(path: Path) -> Path:
    lines = ["segment,metric_name,weight"] + [
        f"{segment},{metric},{weight}" for segment, by_metric in WEIGHTS.items()
        for metric, weight in by_metric.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def snapshot_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """Outcomes only: no churn events, no usage (a deployment configured without them)."""
    path = tmp_path_factory.mktemp("snapshot") / "snapshot.duckdb"
    return path, make_history_db(path)


# ----------------------------------------------------------------------------- mode choice


def exists_among(*present: str):
    return lambda relation: relation in present


def test_label_mode_is_chosen_by_the_relations_present() -> None:
    both = exists_among(CHURN_EVENTS, FEATURE_USAGE, ACCOUNT_OUTCOMES)
    assert choose_labels("auto", both, "db").mode == "events"
    assert choose_labels("auto", both, "db").relations == (CHURN_EVENTS, FEATURE_USAGE)
    assert choose_labels("snapshot", both, "db").relations == (ACCOUNT_OUTCOMES,)
    only_outcomes = choose_labels("auto", exists_among(ACCOUNT_OUTCOMES), "db")
    assert (only_outcomes.mode, only_outcomes.relations) == ("snapshot", (ACCOUNT_OUTCOMES,))
    no_usage = choose_labels("events", exists_among(CHURN_EVENTS), "db")
    assert (no_usage.relations, no_usage.has_usage) == ((CHURN_EVENTS,), False)


def test_missing_label_relations_are_bad_input_that_names_them() -> None:
    with pytest.raises(BacktestInputError, match=rf"db has no churn labels: neither {CHURN_EVENTS}"
                       rf" .* nor {ACCOUNT_OUTCOMES}"):
        choose_labels("auto", exists_among(FEATURE_USAGE), "db")
    with pytest.raises(BacktestInputError,
                       match=rf"^--label-mode snapshot needs {ACCOUNT_OUTCOMES} .* which db lacks"):
        choose_labels("snapshot", exists_among(CHURN_EVENTS, FEATURE_USAGE), "db")
    with pytest.raises(BacktestInputError, match=r"use --label-mode snapshot"):
        choose_labels("events", exists_among(ACCOUNT_OUTCOMES), "db")


# ----------------------------------------------------------------------------- backtest


@pytest.fixture(scope="module")
def snapshot_report(snapshot_db: tuple[Path, dict[str, int]],
                    tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path, _ = snapshot_db
    out = tmp_path_factory.mktemp("snapshot_backtest")
    return out, backtest.run(BacktestOptions(db_path=path, out=out, bootstrap=200))


def test_snapshot_backtest_finds_the_planted_signal(snapshot_report: tuple[Path, dict]) -> None:
    _, report = snapshot_report
    auc = report["metrics"]["auc"]
    assert auc["estimate"] > 0.6 and auc["lower"] > 0.5, auc
    assert report["metrics"]["top_decile"]["lift"] > 1.2
    assert report["metrics"]["verdict"].startswith("The score predicts churn after the snapshot")
    assert report["metrics"]["sensitivity"] is None  # no prior churners without events
    # The planted metric's family adds ranking; the heavily weighted noise costs ranking.
    families = {e["family"]: e for e in report["metrics"]["family_contribution"]}
    assert families["usage"]["difference"]["lower"] > 0, families["usage"]
    assert families["support"]["difference"]["upper"] < 0, families["support"]
    assert families["support"]["verdict"].startswith("hurts ranking")


def test_snapshot_backtest_evaluates_the_latest_date_and_counts_unknown_outcomes(
    snapshot_db: tuple[Path, dict[str, int]], snapshot_report: tuple[Path, dict],
) -> None:
    _, unknown = snapshot_db
    _, report = snapshot_report
    counts, parameters = report["counts"], report["parameters"]
    assert (parameters["label_mode"], parameters["snapshot_date"]) == ("snapshot", "2024-12-31")
    assert parameters["label_mode_rule"].startswith("automatic")
    assert parameters["horizon_days"] is None and parameters["observed_through"] is None
    assert counts["history_rows"] == ACCOUNTS  # one as-of date
    assert (counts["outcome_null"], counts["outcome_row_missing"]) == (
        unknown["null"], unknown["missing"])
    assert counts["dropped_outcome_unknown"] == unknown["null"] + unknown["missing"]
    assert counts["evaluated_rows"] == ACCOUNTS - counts["dropped_outcome_unknown"]
    assert counts["as_of_dates_evaluated"] == 1
    assert counts["first_as_of_date"] == counts["last_as_of_date"] == "2024-12-31"
    assert [d["as_of_date"] for d in report["metrics"]["by_as_of_date"]] == ["2024-12-31"]


def test_snapshot_report_says_which_labels_it_used(snapshot_report: tuple[Path, dict]) -> None:
    out, report = snapshot_report
    markdown = (out / "backtest.md").read_text()
    assert markdown.startswith("# Churn backtest: health score vs churn after the snapshot")
    assert "Labels: snapshot outcome column (1 as-of date, 2024-12-31)" in markdown
    dropped = report["counts"]["dropped_outcome_unknown"]
    assert f"{dropped} of {ACCOUNTS} score rows were dropped because their outcome is unknown" \
        in markdown
    assert "sensitivity" not in markdown and "90 days" not in markdown
    assert json.loads((out / "backtest.json").read_text())["parameters"]["labels"] == (
        "snapshot outcome column (1 as-of date, 2024-12-31)")


def test_to_picks_an_earlier_snapshot(snapshot_db: tuple[Path, dict[str, int]],
                                      tmp_path: Path) -> None:
    path, _ = snapshot_db
    report = backtest.run(BacktestOptions(db_path=path, date_to=date(2024, 12, 1),
                                          out=tmp_path, bootstrap=20))
    assert report["parameters"]["snapshot_date"] == "2024-11-30"
    assert report["parameters"]["snapshot_date_source"] == "latest as-of date on or before --to"
    assert report["metrics"]["auc"]["estimate"] < 0.6  # the signal is planted on 2024-12-31


def test_forced_snapshot_without_outcomes_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "events.duckdb"
    make_history_db(path, outcomes=False, churn_events=True, usage=True)
    done = run_health("backtest", ["--db-path", str(path), "--label-mode", "snapshot",
                                   "--out", str(tmp_path / "r")])
    assert done.returncode == 4, output_of(done)
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: --label-mode snapshot needs {ACCOUNT_OUTCOMES} (has_churned per account), "
        f"which {path.resolve()} lacks: set the deployment's snapshot_outcome_column and "
        "refresh, or use --label-mode events")
    assert not (tmp_path / "r").exists()


def test_forced_snapshot_uses_outcomes_when_churn_events_exist_too(tmp_path: Path) -> None:
    path = tmp_path / "both.duckdb"
    make_history_db(path, churn_events=True, usage=True)
    auto = backtest.run(BacktestOptions(db_path=path, out=tmp_path / "auto", bootstrap=20))
    assert auto["parameters"]["label_mode"] == "events"
    forced = backtest.run(BacktestOptions(db_path=path, label_mode="snapshot",
                                          out=tmp_path / "forced", bootstrap=20))
    assert forced["parameters"]["label_mode"] == "snapshot"
    assert forced["parameters"]["label_mode_rule"] == "--label-mode snapshot"


# ----------------------------------------------------------------------------- events, no usage


def test_events_mode_without_usage_ends_observation_at_churn_or_as_of_date(
    tmp_path: Path,
) -> None:
    path = tmp_path / "no_usage.duckdb"
    make_history_db(path, outcomes=False, churn_events=True, usage=False)
    with connect_read_only(path) as con:
        assert observed_through(con) == SNAPSHOT  # churns end 2024-12-15, history 2024-12-31
    report = backtest.run(BacktestOptions(db_path=path, horizon_days=30, out=tmp_path / "r",
                                          bootstrap=20))
    parameters, counts = report["parameters"], report["counts"]
    assert parameters["label_mode"] == "events"
    assert parameters["label_relations"] == [CHURN_EVENTS]
    assert parameters["observed_through"] == "2024-12-31"
    assert parameters["observed_through_source"] == (
        f"latest churn or as-of date (no {FEATURE_USAGE})")
    # 2024-12-31 + 30 days runs past the end of observation
    assert (counts["first_as_of_date"], counts["last_as_of_date"]) == ("2024-10-31",
                                                                         "2024-11-30")
    assert "Labels: churn events within 30 days" in (tmp_path / "r" / "backtest.md").read_text()


# ----------------------------------------------------------------------------- calibration


@pytest.fixture(scope="module")
def snapshot_calibration(snapshot_db: tuple[Path, dict[str, int]],
                         tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path, _ = snapshot_db
    out = tmp_path_factory.mktemp("snapshot_calibration")
    report = calibrate_weights.run(CalibrationOptions(
        db_path=path, active_weights=write_weights(out / "active.csv"),
        proposal=out / "proposal.csv", out=out, bootstrap=100,
    ))
    return out, report


def test_snapshot_calibration_splits_accounts(snapshot_calibration: tuple[Path, dict]) -> None:
    _, report = snapshot_calibration
    split = report["split"]
    assert (split["by"], split["holdout_from"], split["accounts_in_both"]) == ("account", None, 0)
    assert split["train"]["as_of_dates"] == split["holdout"]["as_of_dates"] == ["2024-12-31"]
    held = split["holdout"]["accounts"] / (split["holdout"]["accounts"]
                                           + split["train"]["accounts"])
    assert 0.28 < held < 0.39  # a third, by hash
    assert report["parameters"]["label_mode"] == "snapshot"
    assert report["reproduction_check"]["matching_within_0_05"] == (
        report["reproduction_check"]["rows"])


def test_snapshot_calibration_weights_the_planted_metric(
    snapshot_calibration: tuple[Path, dict],
) -> None:
    _, report = snapshot_calibration
    for weights in report["weights"].values():
        assert weights["protective"]["weights_only"] > 0.8, weights
        assert weights["protective"]["proposed"] > 2 * weights["noise"]["proposed"], weights
    held = report["evaluation"]["holdout"]["auc"]
    assert held["bands_and_weights"]["estimate"] > held["active"]["estimate"]


def test_snapshot_calibration_report_says_it_split_accounts(
    snapshot_calibration: tuple[Path, dict],
) -> None:
    out, _ = snapshot_calibration
    markdown = (out / "calibration.md").read_text()
    assert markdown.startswith("# Calibration of bands and weights: churn after the snapshot")
    assert "Labels: snapshot outcome column (1 as-of date, 2024-12-31)" in markdown
    assert ("- Split by account (snapshot mode: one as-of date; about 33% of the accounts held "
            "out, chosen by sha256 of account_id" in markdown)
    assert "On held-out accounts (" in markdown and "Account split (one as-of date)" in markdown


def test_account_split_is_fixed_by_the_account_id() -> None:
    assert calibrate_weights.account_bucket("acc_0001") == calibrate_weights.account_bucket(
        "acc_0001")
    buckets = [calibrate_weights.account_bucket(f"a{i}") for i in range(3000)]
    assert all(0 <= b < 1 for b in buckets)
    assert 0.3 < np.mean(np.array(buckets) < calibrate_weights.HOLDOUT_ACCOUNT_SHARE) < 0.37


def test_snapshot_calibration_refuses_a_holdout_date(snapshot_db: tuple[Path, dict[str, int]],
                                                     tmp_path: Path) -> None:
    path, _ = snapshot_db
    with pytest.raises(BacktestInputError, match="snapshot mode evaluates one as-of date"):
        calibrate_weights.run(CalibrationOptions(
            db_path=path, active_weights=write_weights(tmp_path / "active.csv"),
            holdout_from=date(2024, 12, 1), proposal=tmp_path / "p.csv", out=tmp_path / "r",
        ))
    assert not (tmp_path / "p.csv").exists()


# ----------------------------------------------------------------------------- extract


def test_snapshot_extract_copies_only_the_snapshot_relations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--target postgres with a DuckDB file standing in for the warehouse: only the chosen
    mode's relations are copied, and the report equals the one read from the file."""
    path = tmp_path / "both.duckdb"
    make_history_db(path, churn_events=True, usage=True)

    def connect(target: str, db_path: Path | None = None, read_only: bool = False
                ) -> warehouse.Warehouse:
        return warehouse.DuckDBWarehouse(path, read_only=True)

    monkeypatch.setattr(history_extract.warehouse, "connect", connect)
    monkeypatch.setattr(history_extract, "describe_target", lambda target: "stand-in")
    extracted = backtest.run(BacktestOptions(target="postgres", label_mode="snapshot",
                                             out=tmp_path / "e", bootstrap=50))
    direct = backtest.run(BacktestOptions(db_path=path, label_mode="snapshot",
                                          out=tmp_path / "d", bootstrap=50))
    # The component history (optional, for what each family adds) is copied too.
    assert set(extracted["parameters"]["extract"]["rows"]) == {
        HISTORY, ACCOUNT_OUTCOMES, COMPONENT_HISTORY}
    assert (extracted["counts"], extracted["metrics"]) == (direct["counts"], direct["metrics"])
    events = backtest.run(BacktestOptions(target="postgres", out=tmp_path / "ev", bootstrap=20))
    assert set(events["parameters"]["extract"]["rows"]) == {
        HISTORY, CHURN_EVENTS, FEATURE_USAGE, COMPONENT_HISTORY}
    calibration = calibrate_weights.run(CalibrationOptions(
        target="postgres", label_mode="snapshot",
        active_weights=write_weights(tmp_path / "active.csv"), proposal=tmp_path / "p.csv",
        out=tmp_path / "c", bootstrap=20,
    ))
    assert set(calibration["parameters"]["extract"]["rows"]) == {
        HISTORY, COMPONENT_HISTORY, ACCOUNT_OUTCOMES}
