"""What each family adds (evaluation/families.py) on small synthetic component histories."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from customer_health.evaluation.backtest import family_contribution
from customer_health.evaluation.backtest_report import family_section
from customer_health.evaluation.families import align, contribution, score_without

DAY = pd.Timestamp("2024-06-30")


def history(rows: list[tuple[str, pd.Timestamp, str, str, float, float]]) -> pd.DataFrame:
    """Component history in the shape of data.component_points."""
    return pd.DataFrame(rows, columns=["account_id", "as_of_date", "metric_name", "category",
                                       "points", "weight"])


def evaluated(keys: list[tuple[str, pd.Timestamp]], churned: list[bool],
              scores: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"account_id": [k[0] for k in keys], "as_of_date": [k[1] for k in keys],
                         "churned": churned, "health_score": scores})


def planted(seed: int = 4, accounts: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three as-of dates per account. Usage points carry the churn signal; billing points are
    pure noise; support has weight 0 everywhere.

    A noise metric also dilutes the score a little (an effect of second order in its weight), so
    billing gets a small weight: over seeds 0-39 its 95 % CI excluded zero 3 times (1 above, 2
    below), about the nominal 5 %; with weight 0.05 it was 8 times, 7 of them below zero.
    """
    rng = np.random.default_rng(seed)
    days = [DAY - pd.DateOffset(months=k) for k in (2, 1, 0)]
    risk = rng.normal(size=accounts)  # an account's latent churn risk
    rows, keys, churned = [], [], []
    for a in range(accounts):
        for day in days:
            account = f"a{a:03d}"
            usage = np.clip(50 - 15 * risk[a] + rng.normal(0, 20, 2), 0, 100).round()
            rows += [(account, day, "logins", "usage", usage[0], 0.4),
                     (account, day, "seats", "usage", usage[1], 0.2),
                     (account, day, "late_invoices", "billing", rng.integers(0, 101), 0.01),
                     (account, day, "tickets", "support", rng.integers(0, 101), 0.0)]
            keys.append((account, day))
            churned.append(bool(rng.random() < 1 / (1 + np.exp(-(risk[a] - 1.5)))))
    long = history(rows)
    frame = evaluated(keys, churned, [0.0] * len(keys))
    return frame, long


def test_dropping_a_family_renormalises_the_remaining_weights() -> None:
    long = history([
        ("a", DAY, "logins", "usage", 80.0, 0.4),
        ("a", DAY, "seats", "usage", np.nan, 0.2),  # N/A: left out of the score
        ("a", DAY, "late_invoices", "billing", 50.0, 0.3),
        ("a", DAY, "tickets", "support", 20.0, 0.1),
    ])
    components = align(evaluated([("a", DAY)], [False], [61.3]), long)
    everything, _ = score_without(components, "none")
    assert everything[0] == 61.3  # (0.4*80 + 0.3*50 + 0.1*20) / 0.8 = 61.25, rounded half up
    without_billing, unscorable = score_without(components, "billing")
    assert without_billing[0] == 68.0  # (0.4*80 + 0.1*20) / 0.5
    without_usage, _ = score_without(components, "usage")
    assert without_usage[0] == 42.5  # (0.3*50 + 0.1*20) / 0.4
    assert not unscorable.any()


def test_a_family_carrying_the_signal_adds_ranking_and_noise_does_not() -> None:
    frame, long = planted()
    components = align(frame, long)
    frame["health_score"], _ = score_without(components, "none")
    entries, summary = contribution(frame, components, n_boot=300, seed=1)
    by_family = {e["family"]: e for e in entries}
    assert set(by_family) == {"usage", "billing"}
    usage, billing = by_family["usage"]["difference"], by_family["billing"]["difference"]
    assert usage["lower"] > 0.05, usage  # without usage only noise is left: AUC near 0.5
    assert by_family["usage"]["auc_without"]["lower"] < 0.5 < by_family["usage"]["auc_without"][
        "upper"]
    assert by_family["usage"]["verdict"].startswith("adds ranking")
    assert billing["lower"] < 0 < billing["upper"], billing
    # Paired resamples: the two AUCs move together, so their difference is far more precise
    # than either AUC (independent resamples would make it about 1.4 times as wide).
    auc_with = by_family["billing"]["auc_with"]
    assert billing["upper"] - billing["lower"] < 0.5 * (auc_with["upper"] - auc_with["lower"])
    assert by_family["billing"]["verdict"].startswith("no evidence")
    assert summary["largest_gain"] == "usage"
    assert summary["skipped"] == [{"family": "support", "metrics": ["tickets"],
                                   "reason": "every metric has weight 0"}]
    repro = summary["reproduction_check"]
    assert repro["matching_within_0_05"] == repro["rows"] == len(frame)
    for entry in entries:
        for key in ("auc_with", "auc_without", "difference"):
            ci = entry[key]
            assert ci["lower"] <= ci["estimate"] <= ci["upper"], (entry["family"], key, ci)


def test_rows_left_without_points_are_counted_and_dropped() -> None:
    frame, long = planted(accounts=200)
    first = frame["account_id"].iloc[0]
    # The first account has no billing data: without usage it has no points left.
    long.loc[(long["account_id"] == first) & (long["category"] == "billing"), "points"] = np.nan
    # The second account has no component history at all on its first date.
    second = frame.iloc[3]
    long = long[~((long["account_id"] == second["account_id"])
                  & (long["as_of_date"] == second["as_of_date"]))]
    # The third account has no points in any weighted metric on its first date.
    third = frame.iloc[6]
    gone = (long["account_id"] == third["account_id"]) & (long["as_of_date"] == third["as_of_date"])
    long.loc[gone & (long["weight"] > 0), "points"] = np.nan
    components = align(frame, long)
    entries, summary = contribution(frame, components, n_boot=50, seed=1)
    by_family = {e["family"]: e for e in entries}
    assert (summary["rows_without_components"], summary["rows_unscorable"]) == (1, 1)
    assert by_family["usage"]["rows_dropped_no_points"] == 3  # the first account's 3 dates
    assert by_family["usage"]["rows_compared"] == len(frame) - 2 - 3
    assert by_family["billing"]["rows_dropped_no_points"] == 0
    assert by_family["billing"]["rows_compared"] == len(frame) - 2


def test_one_weighted_family_is_not_compared_and_the_report_says_so() -> None:
    frame, long = planted(accounts=50)
    long.loc[long["category"] == "billing", "weight"] = 0.0
    entries, summary = contribution(frame, align(frame, long), n_boot=20, seed=1)
    assert entries == []
    assert summary["status"] == "one_family"
    assert [s["family"] for s in summary["skipped"]] == ["billing", "support"]
    section = "\n".join(family_section({"family_contribution": entries,
                                        "family_contribution_summary": summary}))
    assert "## What each family adds" in section
    assert "only one family has weight (usage)" in section
    assert "Skipped: billing (every metric has weight 0)" in section


def test_without_component_history_nothing_is_compared() -> None:
    frame, _ = planted(accounts=20)
    entries, summary = contribution(frame, None, n_boot=20, seed=1)
    assert (entries, summary["status"]) == ([], "no_component_history")


@pytest.mark.parametrize("family", ["usage", "billing"])
def test_markdown_has_one_row_per_family(family: str) -> None:
    frame, long = planted(accounts=100)
    entries, summary = contribution(frame, align(frame, long), n_boot=50, seed=1)
    section = family_section({"family_contribution": entries,
                              "family_contribution_summary": summary})
    assert sum(line.startswith(f"| {family} |") for line in section) == 1


def test_a_component_history_without_weights_is_noted_not_an_error() -> None:
    frame, _ = planted(accounts=20)
    with duckdb.connect() as con:
        con.execute("create schema health")
        con.execute("create table health.customer_health_score_component_history "
                    "(account_id varchar, as_of_date date, metric_name varchar, points double)")
        entries, summary = family_contribution(con, frame, n_boot=20, seed=1)
    assert (entries, summary["status"]) == ([], "no_component_history")
    assert summary["note"] == ("not computed: health.customer_health_score_component_history "
                               "lacks category, weight")
