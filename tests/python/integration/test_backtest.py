"""Backtest: statistics against hand-computed values, label windows, and the planted signal.

The end-to-end tests run `health backtest` on data generated with planted churn drivers and
backfilled once per session (helpers.history, shared with the calibration and extract tests) and
check that the backtest finds the signal.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest
from helpers.history import GeneratedHistory, backfill, build_generated_history
from helpers.project import SAMPLE_DATA_DIR, output_of, run_health
from scipy import stats

from customer_health.evaluation import backtest
from customer_health.evaluation.data import (
    BacktestInputError,
    LabelWindow,
    build_labelled,
    connect_read_only,
    evaluated_rows,
    label_counts,
    observed_through,
)
from customer_health.evaluation.options import BacktestOptions
from customer_health.evaluation.statistics import (
    RankedRisk,
    auc_mann_whitney,
    bootstrap_auc,
    hanley_mcneil_interval,
    monotonic_check,
    roc_curve,
    top_fraction_lift,
    wilson_interval,
)


@pytest.fixture(scope="session")
def generated_history(tmp_path_factory: pytest.TempPathFactory) -> GeneratedHistory:
    return build_generated_history(tmp_path_factory)


# ----------------------------------------------------------------------------- AUC


def test_auc_matches_hand_computed_pairs() -> None:
    # churners 2, 4 vs stayers 1, 3: pairs (2>1, 2<3, 4>1, 4>3) -> 3 of 4
    assert auc_mann_whitney(np.array([1, 2, 3, 4]), np.array([0, 1, 0, 1])) == 0.75
    # churners 2, 3 vs stayers 1, 2: 1 + 0.5 (tie) + 1 + 1 = 3.5 of 4
    assert auc_mann_whitney(np.array([1, 2, 2, 3]), np.array([0, 1, 0, 1])) == 0.875
    assert auc_mann_whitney(np.array([5, 5, 5]), np.array([1, 0, 0])) == 0.5
    assert math.isnan(auc_mann_whitney(np.array([1, 2]), np.array([0, 0])))


def test_auc_equals_scipy_mann_whitney_and_weights_equal_duplicated_rows() -> None:
    rng = np.random.default_rng(3)
    risk = np.round(rng.normal(size=400), 1)  # plenty of ties
    label = rng.random(400) < 0.3
    u = stats.mannwhitneyu(risk[label], risk[~label]).statistic
    assert auc_mann_whitney(risk, label) == pytest.approx(u / label.sum() / (~label).sum())
    weight = rng.integers(0, 4, 400)
    duplicated = auc_mann_whitney(np.repeat(risk, weight), np.repeat(label, weight))
    assert RankedRisk(risk, label).auc(weight) == pytest.approx(duplicated)


def test_hanley_mcneil_interval_matches_formula() -> None:
    # A = 0.8, 50 + 50: Q1 = 2/3, Q2 = 0.64*2/1.8; var = 4.95111/2500 -> se 0.044502
    interval = hanley_mcneil_interval(0.8, 50, 50)
    assert interval.lower == pytest.approx(0.8 - 1.959964 * 0.044502, abs=1e-5)
    assert interval.upper == pytest.approx(0.8 + 1.959964 * 0.044502, abs=1e-5)


def test_cluster_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(5)
    accounts = np.repeat(np.arange(100), 3)
    label = np.repeat(rng.random(100) < 0.3, 3)
    risk = label * 1.0 + rng.normal(size=300)
    first = bootstrap_auc(risk, label, accounts, n_boot=300, seed=1)
    assert first.lower < first.estimate < first.upper
    assert first == bootstrap_auc(risk, label, accounts, n_boot=300, seed=1)
    separated = bootstrap_auc(label * 1.0, label, accounts, n_boot=50, seed=1)
    assert (separated.estimate, separated.lower, separated.upper) == (1.0, 1.0, 1.0)


def test_roc_curve_runs_from_origin_to_corner_and_its_area_is_the_auc() -> None:
    rng = np.random.default_rng(8)
    risk = np.round(rng.normal(size=300), 1)
    label = rng.random(300) < 0.4
    fpr, tpr, _ = roc_curve(risk, label)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(auc_mann_whitney(risk, label))


# ----------------------------------------------------------------------------- Wilson, lift


def test_wilson_interval_matches_hand_computed_values() -> None:
    five_of_ten = wilson_interval(5, 10)
    assert (five_of_ten.lower, five_of_ten.upper) == (
        pytest.approx(0.236593, abs=1e-6), pytest.approx(0.763407, abs=1e-6))
    none_of_ten = wilson_interval(0, 10)
    assert none_of_ten.lower == 0.0
    assert none_of_ten.upper == pytest.approx(3.841459 / 13.841459, abs=1e-6)  # z^2 / (n + z^2)
    assert wilson_interval(10, 10).upper == pytest.approx(1.0)
    assert wilson_interval(0, 0).estimate is None


def test_top_decile_lift_by_hand() -> None:
    # 20 rows, risk 20..1; the riskiest 2 rows: one churner -> 50 % vs 4 / 20 = 20 % -> 2.5x
    risk = np.arange(20, 0, -1)
    label = np.zeros(20)
    label[[0, 5, 10, 15]] = 1
    lift = top_fraction_lift(risk, label, 0.1)
    assert (lift["rows"], lift["churn_rate_top"], lift["churn_rate_all"]) == (2, 0.5, 0.2)
    assert lift["lift"] == pytest.approx(2.5)
    assert lift["share_of_churners_captured"] == pytest.approx(0.25)


def test_top_decile_shares_ties_at_the_cut() -> None:
    # 10 rows, k = 1; four rows tie at the top, one of them churned -> expected rate 1/4
    risk = np.array([9, 9, 9, 9, 1, 1, 1, 1, 1, 1])
    label = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    lift = top_fraction_lift(risk, label, 0.1)
    assert lift["churn_rate_top"] == pytest.approx(0.25)
    assert lift["lift"] == pytest.approx(0.25 / 0.2)


# ----------------------------------------------------------------------------- monotonicity


def group(name: str, rate: float | None, lower: float = 0.0, upper: float = 1.0) -> dict:
    return {"group": name, "churn_rate": rate, "ci_lower": lower, "ci_upper": upper}


def test_monotonic_check_accepts_rising_and_flat_rates() -> None:
    rising = monotonic_check([group("A", 0.01), group("B", 0.05), group("C", 0.2)])
    assert rising["monotonic"] and rising["strictly_increasing"]
    assert rising["spearman_rho"] == 1.0
    flat = monotonic_check([group("A", 0.05), group("B", 0.05), group("C", 0.1)])
    assert flat["monotonic"] and not flat["strictly_increasing"]


def test_monotonic_check_reports_each_fall_and_whether_cis_separate() -> None:
    check = monotonic_check([
        group("A", 0.30, 0.25, 0.35), group("B", 0.10, 0.08, 0.12),
        group("C", 0.20, 0.1, 0.3), group("D", 0.15, 0.05, 0.4), group("F", None),
    ])
    assert not check["monotonic"]
    assert [(v["from"], v["to"], v["significant"]) for v in check["violations"]] == [
        ("A", "B", True), ("C", "D", False)]
    assert check["order"] == ["A", "B", "C", "D"]  # F has no rows


# ----------------------------------------------------------------------------- label windows


def make_db(path: Path, history: list[tuple], churns: list[tuple], usage_end: str) -> Path:
    """A minimal database with the three relations the backtest reads."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema health; create schema staging")
        con.execute(
            "create table health.customer_health_score_history (account_id varchar, "
            "as_of_date date, health_score double, grade varchar, status varchar, "
            "segment varchar, lifecycle_stage varchar, plan_tier varchar)"
        )
        con.executemany(
            "insert into health.customer_health_score_history values "
            "(?, ?, ?, 'C', 'at_risk', 'adopting', 'adopting', 'Pro')", history
        )
        con.execute("create table staging.stg_crm__churn_events (account_id varchar, "
                    "churn_date date)")
        for churn in churns:
            con.execute("insert into staging.stg_crm__churn_events values (?, ?)", churn)
        con.execute("create table staging.stg_product_usage__feature_usage as "
                    f"select date '{usage_end}' as usage_date")
    return path


@pytest.fixture
def window_db(tmp_path: Path) -> Path:
    day = "2024-01-31"  # + 90 days = 2024-04-30
    history = [(a, day, 50.0) for a in ("on_day", "at_end", "after_end", "before", "never")]
    history.append(("never", "2024-03-31", 60.0))  # horizon runs to 2024-06-29: unobserved
    churns = [("on_day", "2024-01-31"), ("at_end", "2024-04-30"), ("after_end", "2024-05-01"),
              ("before", "2024-01-15")]
    return make_db(tmp_path / "w.duckdb", history, churns, usage_end="2024-06-01")


def labels(db_path: Path, exclude_prior: bool = False) -> tuple[dict[str, bool], dict]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        build_labelled(con, LabelWindow(90, date(2024, 6, 1), None, None, exclude_prior))
        rows = evaluated_rows(con)
        counts = label_counts(con)
    return dict(zip(rows["account_id"], rows["churned"], strict=True)), counts


def test_label_window_excludes_the_as_of_date_and_includes_its_last_day(window_db: Path) -> None:
    labelled, counts = labels(window_db)
    assert labelled == {"on_day": False, "at_end": True, "after_end": False, "before": False,
                        "never": False}
    assert counts["dropped_horizon_not_observed"] == 1
    assert counts["rows_with_prior_churn"] == 2  # churned on or before the as-of date
    assert (counts["evaluated_rows"], counts["churned_rows"]) == (5, 1)


def test_prior_churners_can_be_excluded(window_db: Path) -> None:
    labelled, counts = labels(window_db, exclude_prior=True)
    assert set(labelled) == {"at_end", "after_end", "never"}
    assert counts["evaluated_rows"] == 3


def test_observation_end_is_the_latest_churn_or_usage_date(tmp_path: Path) -> None:
    db_path = make_db(tmp_path / "o.duckdb", [("a", "2024-01-31", 50.0)],
                      [("a", "2024-07-02")], usage_end="2024-06-01")
    with connect_read_only(db_path) as con:
        assert observed_through(con) == date(2024, 7, 2)


def test_a_missing_database_is_bad_input(tmp_path: Path) -> None:
    done = run_health("backtest", ["--db-path", str(tmp_path / "missing.duckdb"),
                                   "--out", str(tmp_path / "r")])
    assert done.returncode == 4, output_of(done)
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: database file not found: {(tmp_path / 'missing.duckdb').resolve()}")
    assert not (tmp_path / "r").exists()


def test_history_without_churners_is_bad_input(tmp_path: Path) -> None:
    db_path = make_db(tmp_path / "n.duckdb", [("a", "2024-01-31", 50.0),
                                              ("b", "2024-01-31", 70.0)], [], "2024-12-31")
    options = BacktestOptions(db_path=db_path, out=tmp_path / "r")
    with pytest.raises(BacktestInputError, match=r"nothing to evaluate: 2 rows .* 0 of them"):
        backtest.run(options)
    assert not (tmp_path / "r" / "backtest.json").exists()


def test_options_label_the_rows_the_command_asks_for(window_db: Path, tmp_path: Path) -> None:
    """horizon, observed-through, date range and prior churners reach the report unchanged."""
    options = BacktestOptions(db_path=window_db, date_from=date(2024, 1, 1),
                              date_to=date(2024, 2, 29), horizon_days=60,
                              observed_through=date(2024, 5, 31), exclude_prior_churners=True,
                              bootstrap=20, seed=3, out=tmp_path / "r")
    with pytest.raises(BacktestInputError, match="60-day horizon"):
        backtest.run(options)  # at_end churns on day 90: no churner within 60 days
    report = backtest.run(replace(options, horizon_days=90))
    parameters = report["parameters"]
    assert (parameters["horizon_days"], parameters["observed_through"]) == (90, "2024-05-31")
    assert parameters["observed_through_source"] == "--observed-through"
    assert (parameters["date_from"], parameters["date_to"]) == ("2024-01-01", "2024-02-29")
    assert (parameters["bootstrap_resamples"], parameters["bootstrap_seed"]) == (20, 3)
    assert report["counts"]["evaluated_rows"] == 3  # on_day and before churned earlier
    assert report["metrics"]["family_contribution"] == []  # no component history here
    assert report["metrics"]["family_contribution_summary"]["status"] == "no_component_history"
    assert json.loads((tmp_path / "r" / "backtest.json").read_text())["counts"] == (
        report["counts"])


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def generated_report(generated_history: GeneratedHistory,
                     tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("backtest_generated")
    done = run_health("backtest", ["--db-path", str(generated_history.db_path),
                                   "--out", str(out), "--bootstrap", "300"])
    assert done.returncode == 0, output_of(done)
    return out, json.loads((out / "backtest.json").read_text())


def test_backtest_finds_the_planted_churn_signal(generated_report: tuple[Path, dict]) -> None:
    _, report = generated_report
    auc = report["metrics"]["auc"]
    assert auc["estimate"] > 0.62, auc  # measured 0.673
    assert auc["lower"] > 0.6, auc  # measured 0.654
    assert report["metrics"]["top_decile"]["lift"] > 1.4  # measured 1.81
    grades = {g["group"]: g["churn_rate"] for g in report["metrics"]["by_grade"]["groups"]}
    assert grades["F"] > 3 * grades["A"]  # measured 14.5 % vs 1.5 %
    statuses = [g["churn_rate"] for g in report["metrics"]["by_status"]["groups"]]
    assert statuses == sorted(statuses)  # healthy < at_risk < unhealthy


def test_backtest_counts_only_rows_with_an_observed_horizon(
    generated_report: tuple[Path, dict],
) -> None:
    _, report = generated_report
    counts = report["counts"]
    assert report["parameters"]["observed_through"] == "2024-12-31"
    assert counts["last_as_of_date"] == "2024-09-30"  # + 90 days <= 2024-12-31
    assert counts["as_of_dates_in_range"] == 10 and counts["as_of_dates_evaluated"] == 7
    assert counts["history_rows"] == (counts["evaluated_rows"]
                                      + counts["dropped_horizon_not_observed"])


def test_backtest_writes_json_markdown_and_plots(generated_report: tuple[Path, dict]) -> None:
    out, _ = generated_report
    markdown = (out / "backtest.md").read_text()
    assert "**Verdict.** The score predicts churn" in markdown
    assert "| A |" in markdown and "Wilson" in markdown
    pytest.importorskip("matplotlib")
    for name in ("churn_by_grade.png", "roc_curve.png", "score_distribution.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in markdown


def test_backtest_reports_what_each_family_adds(
    generated_history: GeneratedHistory, generated_report: tuple[Path, dict],
) -> None:
    out, report = generated_report
    working = generated_history.working_path
    with duckdb.connect(str(working if working.is_file() else generated_history.db_path),
                        read_only=True) as con:
        weighted = {c for (c,) in con.execute(
            "select distinct category from health.customer_health_score_component_history "
            "where weight > 0").fetchall()}
    entries = report["metrics"]["family_contribution"]
    summary = report["metrics"]["family_contribution_summary"]
    # Measured (AUC with - without, 95 % CI): billing +0.029 (+0.021 to +0.037), satisfaction
    # +0.013 (+0.005 to +0.021), support +0.034 (+0.029 to +0.039), usage -0.071 (-0.088 to
    # -0.055): as the calibration finds, the configured usage weights cost ranking here.
    assert len(weighted) >= 2 and summary["status"] == "compared"
    assert sorted(e["family"] for e in entries) == sorted(weighted)  # one entry per family
    for entry in entries:
        for key in ("auc_with", "auc_without", "difference"):
            ci = entry[key]
            assert all(math.isfinite(ci[k]) for k in ("estimate", "lower", "upper")), entry
            assert ci["lower"] <= ci["estimate"] <= ci["upper"], (entry["family"], key, ci)
        assert 0 < entry["rows_compared"] <= report["counts"]["evaluated_rows"]
        assert entry["verdict"]
    # The re-computed all-families score is the published one.
    repro = summary["reproduction_check"]
    assert repro["matching_within_0_05"] == repro["rows"] == report["counts"]["evaluated_rows"]
    markdown = (out / "backtest.md").read_text()
    section = markdown.split("## What each family adds")[1].split("\n## ")[0]
    for family in weighted:
        assert sum(line.startswith(f"| {family} |") for line in section.splitlines()) == 1


def test_date_range_restricts_the_evaluated_as_of_dates(
    generated_history: GeneratedHistory, tmp_path: Path,
) -> None:
    done = run_health("backtest", ["--db-path", str(generated_history.db_path),
                                   "--from", "2024-06-01", "--to", "2024-07-31",
                                   "--bootstrap", "50", "--out", str(tmp_path), "--quiet"])
    assert done.returncode == 0, output_of(done)
    assert done.stderr == ""  # --quiet: no progress logs
    counts = json.loads((tmp_path / "backtest.json").read_text())["counts"]
    assert (counts["first_as_of_date"], counts["last_as_of_date"]) == ("2024-06-30", "2024-07-31")


def test_backtest_runs_on_the_bundled_sample_data(tmp_path_factory: pytest.TempPathFactory
                                                  ) -> None:
    """The sample data has a weak churn signal: only check that the report is produced."""
    folder = tmp_path_factory.mktemp("sample_backfill")
    db_path = backfill(SAMPLE_DATA_DIR, folder, "2024-01-01", "2024-12-31")
    done = run_health("backtest", ["--db-path", str(db_path), "--out", str(folder / "r"),
                                   "--bootstrap", "200"])
    assert done.returncode == 0, output_of(done)
    report = json.loads((folder / "r" / "backtest.json").read_text())
    assert report["counts"]["as_of_dates_in_range"] == 12
    assert 0 <= report["metrics"]["auc"]["lower"] <= report["metrics"]["auc"]["upper"] <= 1
    assert (folder / "r" / "backtest.md").is_file()
