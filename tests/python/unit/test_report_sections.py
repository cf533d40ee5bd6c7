"""The HTML report's sections, each drawn from a few rows: what they show, what they say when
their relation is not published (or the backtest has not run), and a page that loads nothing from
outside itself."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from customer_health.report.data import LastPublish, ReportData, read_report_data
from customer_health.report.options import ReportOptions
from customer_health.report.render import render_page, render_report
from customer_health.report.sections import (
    best_first,
    build_sections,
    churn_section,
    distribution_section,
    headline,
    metric_value,
    movers_section,
    quality_section,
    status_colours,
    worklist_section,
)

LATEST, PREVIOUS = dt.date(2024, 12, 31), dt.date(2024, 11, 30)
STATUSES = ["healthy", "at_risk", "unhealthy"]
COLOURS = {"healthy": "#3a8d4f", "at_risk": "#e7a321", "unhealthy": "#c8453b"}


def scores() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4"],
        "as_of_date": pd.to_datetime([LATEST] * 4),
        "health_score": [91.0, 72.5, 48.0, 20.0],
        "grade": ["A", "B", "D", "F"],
        "status": ["healthy", "healthy", "at_risk", "unhealthy"],
        "status_colour": ["green", "green", "amber", "red"],
        "is_low_coverage": [False, False, True, False],
    })


def mix() -> pd.DataFrame:
    rows = [(day, g, s, c, 1, score) for day in (PREVIOUS, LATEST)
            for g, s, c, score in (("A", "healthy", "green", 90.0), ("C", "at_risk", "amber", 55.0),
                                   ("F", "unhealthy", "red", 20.0))]
    frame = pd.DataFrame(rows, columns=["as_of_date", "grade", "status", "status_colour",
                                        "accounts", "score_sum"])
    return frame.assign(as_of_date=pd.to_datetime(frame["as_of_date"]))


def worklist() -> pd.DataFrame:
    return pd.DataFrame({
        "outreach_rank": [1, 2, 3], "account_name": ["Big", "Mid", "Small"],
        "account_id": ["a4", "a3", "a5"], "segment": ["mature_enterprise"] * 3,
        "health_score": [20.0, 48.0, 60.0], "grade": ["F", "D", "C"],
        "status": ["unhealthy", "at_risk", "at_risk"], "arr_at_risk": [120000.0, 60000.0, 1200.0],
        "reason": ["Score 20.0 (F): Active days: no activity in 30 days, costs 20 points <b>",
                   "Score 48.0 (D): ...", "Score 60.0 (C): ..."],
        "score_change": [-31.5, None, 2.0], "is_newly_listed": [True, None, False],
        "accounts_matched": [5, 5, 5],
    })


def changes() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": ["a1", "a2", "a3"], "account_name": ["Up", "Flat", "Down"],
        "segment": ["adopting"] * 3, "previous_as_of_date": pd.to_datetime([PREVIOUS] * 3),
        "previous_health_score": [70.0, 72.5, 80.0], "health_score": [91.0, 72.5, 48.0],
        "score_change": [21.0, 0.0, -32.0], "trend": ["improving", "stable", "declining"],
        "previous_status": ["healthy", "healthy", "healthy"],
        "status": ["healthy", "healthy", "at_risk"], "is_newly_at_risk": [False, False, True],
        "is_scoring_config_changed": [False, False, False],
        "change_explanation": ["Usage trend n/a -> 12.5 % (+21.0)", "",
                               "Active days 5 days -> 1 day (-20.0), Renewal yes -> no (-12.0)"],
    })


def report_data(**overrides: object) -> ReportData:
    fields: dict[str, object] = {
        "source": "test", "latest_date": LATEST, "scores": scores(), "mix": mix(),
        "at_risk": worklist(), "changes": changes(),
        "metric_moves": pd.DataFrame({"display_name": ["Active days", "Usage trend"],
                                      "points_gained": [0.0, 21.0],
                                      "points_lost": [-20.0, 0.0], "net_points": [-20.0, 21.0]}),
        "quarantine": pd.DataFrame({"table_name": ["feature_usage", "accounts"],
                                    "quarantine_reason": ["duplicate_usage_id", "missing_key"],
                                    "quarantined_rows": [21, 2]}),
        "last_publish": LastPublish("r1", "refresh", "2024-12-31 06:00:00", ["2024-12-31"],
                                    34, 0, 1, ["staging.stg_usage: future_dates"]),
        "backtest": None,
    }
    return ReportData(**{**fields, **overrides})  # type: ignore[arg-type]


def backtest_report() -> dict:
    groups = [{"group": g, "rows": 100, "churners": k, "churn_rate": k / 100,
               "ci_lower": max(k - 5, 0) / 100, "ci_upper": (k + 5) / 100}
              for g, k in (("A", 5), ("B", 9), ("C", 14))]
    return {"generated_at": "2024-12-31T06:00:00+00:00",
            "parameters": {"outcome": "churn within 90 days"},
            "counts": {"evaluated_rows": 300, "churned_rows": 28},
            "metrics": {"verdict": "The score predicts churn within 90 days: rank outreach.",
                        "auc": {"estimate": 0.71, "lower": 0.66, "upper": 0.76},
                        "top_decile": {"churn_rate_all": 0.0933},
                        "by_grade": {"groups": groups}}}


def test_grades_and_statuses_are_ordered_by_their_mean_score_and_coloured_by_the_data() -> None:
    assert best_first(mix(), "grade") == ["A", "C", "F"]
    assert best_first(mix(), "status") == STATUSES
    assert status_colours(mix()) == COLOURS


def test_metric_values_carry_their_unit_and_flags_read_as_words() -> None:
    assert metric_value(5.0, "days") == "5 days"
    assert metric_value(12.345, "%") == "12.3 %"
    assert metric_value(1.0, "flag") == "yes"
    assert metric_value(None, "days") == "n/a"


def test_headline_counts_accounts_per_status_and_revenue_at_risk() -> None:
    facts = {fact.label: fact for fact in headline(report_data(), STATUSES)}
    assert facts["Accounts scored"].value == "4"
    assert (facts["Healthy"].value, facts["At risk"].value, facts["Unhealthy"].value) == (
        "2", "1", "1")
    assert facts["Healthy"].hint == "50 % of accounts"
    assert facts["Annual revenue on the worklist"].value == "181,200"
    assert facts["Annual revenue on the worklist"].hint == (
        "3 accounts on the worklist, of 5 that matched (its capacity)")
    assert facts["Newly at risk"].value == "1"
    assert facts["Raw rows set aside"].value == "23"
    assert facts["Last quality gate"].value == "passed"
    assert facts["Last quality gate"].hint.startswith("1 warning;")


@pytest.mark.parametrize(("auc", "answer"), [
    ({"estimate": 0.74, "lower": 0.71, "upper": 0.77}, "Yes"),
    ({"estimate": 0.52, "lower": 0.48, "upper": 0.56}, "Not yet"),
])
def test_the_headline_answers_with_the_backtest_verdict(auc: dict, answer: str) -> None:
    from customer_health.evaluation.backtest import verdict

    report = backtest_report()
    report["metrics"]["verdict"] = verdict(auc, {"lift": 2.0}, {"monotonic": True},
                                           "churn within 90 days")
    facts = {f.label: f.value for f in headline(report_data(backtest=report), STATUSES)}
    assert facts["Can the score rank outreach?"] == answer


def test_the_distribution_is_a_histogram_of_the_current_scores() -> None:
    section = distribution_section(report_data(), STATUSES, COLOURS)
    assert [name for name, _, _ in section.plots] == ["score_histogram"]
    assert section.plots[0][2].startswith("<svg")
    facts = {fact.label: fact.value for fact in section.facts}
    assert facts["Median score"] == "60.2"
    assert facts["Scored on few signals"] == "1"


def test_a_missing_backtest_file_says_how_to_produce_it() -> None:
    section = churn_section(None, Path("reports/backtest/backtest.json"))
    assert not section.plots and not section.tables
    (note,) = section.notes
    assert "reports/backtest/backtest.json" in note and "`make backtest`" in note


def test_churn_by_grade_comes_from_the_backtest_report() -> None:
    section = churn_section(backtest_report(), Path("unused"))
    assert [name for name, _, _ in section.plots] == ["churn_by_grade"]
    assert section.notes == ["The score predicts churn within 90 days: rank outreach."]
    assert [row[0] for row in section.tables[0].rows] == ["A", "B", "C"]
    assert section.tables[0].rows[2][3:] == ["14 %", "9 % - 19 %"]


def test_the_worklist_keeps_the_outreach_order_and_says_when_it_is_cut() -> None:
    section = worklist_section(report_data(), 2, COLOURS)
    (table,) = section.tables
    assert [row[1] for row in table.rows] == ["Big (a4)", "Mid (a3)"]
    assert table.rows[0][7] == "120,000"
    assert [row[4] for row in table.rows] == ["-31.5, new", "first date"]
    assert section.paragraphs == [
        "3 accounts on the worklist, of 5 that matched (its capacity)."]
    assert section.notes == ["The first 2 of 3 accounts; the full list is the relation "
                             "health.at_risk_accounts."]
    assert not worklist_section(report_data(at_risk=worklist().head(0)), 2, COLOURS).tables


def test_movers_show_the_metrics_that_moved_them_and_leave_out_the_unmoved() -> None:
    section = movers_section(report_data(), 5)
    assert [name for name, _, _ in section.plots] == ["movers", "gains_and_losses"]
    rows = section.tables[0].rows
    assert [row[0] for row in rows] == ["Down (a3)", "Up (a1)"]
    assert rows[0][2:5] == ["80.0 → 48.0", "-32.0", "healthy → at risk"]
    assert rows[0][5] == "Active days 5 days -> 1 day (-20.0), Renewal yes -> no (-12.0)"
    assert rows[1][5] == "Usage trend n/a -> 12.5 % (+21.0)"
    assert {fact.label: fact.value for fact in section.facts} == {
        "Declining": "1", "Stable": "1", "Improving": "1"}


def test_only_falls_count_as_falls_and_only_rises_as_rises() -> None:
    falling = changes().assign(score_change=[-1.0, -2.0, -32.0])
    rows = movers_section(report_data(changes=falling), 1).tables[0].rows
    assert [row[0] for row in rows] == ["Down (a3)"]
    unmoved = movers_section(report_data(changes=changes().assign(score_change=0.0)), 5)
    assert not unmoved.plots and unmoved.paragraphs == ["No score moved since the previous date."]


def test_movers_on_the_first_scored_date_say_there_is_nothing_to_compare() -> None:
    section = movers_section(report_data(changes=changes().head(0)), 5)
    assert not section.plots and not section.tables
    assert "nothing to compare with" in section.notes[0] and "make backfill" in section.notes[0]


def test_data_quality_names_the_gate_warnings_and_counts_quarantined_rows() -> None:
    section = quality_section(report_data())
    assert [name for name, _, _ in section.plots] == ["quarantine"]
    warnings, quarantine = section.tables
    assert warnings.rows == [["staging.stg_usage: future_dates"]]
    assert quarantine.rows[0] == ["feature_usage", "duplicate_usage_id", "21"]
    unnamed = LastPublish("r2", "refresh", "2024-12-31 06:00:00", ["2024-12-31"], 34, 0, 2, None)
    assert "run summary of run r2" in quality_section(report_data(last_publish=unnamed)).notes[0]


def test_sections_of_unpublished_relations_say_what_to_run() -> None:
    data = report_data(scores=None, at_risk=None, changes=None,
                       metric_moves=None, quarantine=None, last_publish=None)
    _, sections = build_sections(data, Path("absent.json"), 10, 5)
    notes = {section.key: " ".join(section.notes) for section in sections}
    for key in ("distribution", "worklist", "movers", "quality"):
        assert "make refresh" in notes[key], key
    assert [s.key for s in sections if s.plots] == ["mix"]


def test_the_page_escapes_text_inlines_its_plots_and_loads_nothing() -> None:
    facts, sections = build_sections(report_data(backtest=backtest_report()),
                                     Path("absent.json"), 10, 5)
    page = render_page(facts, sections, as_of_date="2024-12-31", source="test",
                       generated_at="now")
    assert "costs 20 points &lt;b&gt;" in page and "<script" not in page
    plots = re.findall(r'<figure class="plot" data-plot="([a-z_]+)"><svg', page)
    assert plots == ["score_histogram", "movers", "gains_and_losses", "grade_mix", "status_mix",
                     "churn_by_grade", "quarantine"]
    assert "default-src 'none'" in page
    assert not re.search(r'(?:src|href)="(?!#|data:)', page)
    for section in sections:
        assert f'<section id="{section.key}">' in page


def test_a_history_without_current_relations_still_makes_a_page(tmp_path: Path) -> None:
    """After a backfill alone only the history is published: the page shows its mix and says
    what the rest needs (read through the evaluations' read path, here a DuckDB file)."""
    db_path = tmp_path / "scores.duckdb"
    with duckdb.connect(str(db_path)) as con:
        con.execute("create schema health")
        con.execute("create table health.customer_health_score_history as select * from "
                    "(values ('a1', date '2024-11-30', 90.0, 'A', 'healthy', 'green'), "
                    "('a1', date '2024-12-31', 40.0, 'D', 'unhealthy', 'red')) "
                    "as t(account_id, as_of_date, health_score, grade, status, status_colour)")
    options = ReportOptions(db_path=db_path, backtest=tmp_path / "absent.json",
                            target_path=tmp_path)
    data = read_report_data(options)
    assert data.latest_date == LATEST and data.scores is None and data.at_risk is None
    assert data.mix["accounts"].tolist() == [1, 1]
    page = render_report(data, options)
    assert page.count('<figure class="plot"') == 2
    assert "No current scores are published yet" in page


@pytest.mark.parametrize("text", ["{", "[1, 2"])
def test_a_backtest_file_that_is_not_json_is_bad_input(tmp_path: Path, text: str) -> None:
    from customer_health.errors import BadInputError
    from customer_health.report.data import read_backtest

    path = tmp_path / "backtest.json"
    path.write_text(text)
    with pytest.raises(BadInputError, match="is not a backtest report"):
        read_backtest(path)


def test_commands_in_notes_show_as_code_and_the_rest_is_escaped() -> None:
    from customer_health.report.render import with_code

    assert str(with_code("run `make backtest` <now>")) == (
        "run <code>make backtest</code> &lt;now&gt;")
