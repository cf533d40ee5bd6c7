"""The report's sections, each built from the frames of ReportData into plain values the template
shows: headline facts, plots (inline SVG), tables and notes in words. A section whose data is not
published says what to run instead."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from customer_health.report import plots
from customer_health.report.data import LastPublish, ReportData


@dataclass
class Fact:
    label: str
    value: str
    hint: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[str]]
    numeric: tuple[int, ...] = ()  # right-aligned column positions
    pills: int | None = None  # position of a status column shown in its colour
    colours: dict[str, str] = field(default_factory=dict)  # status -> plot colour


@dataclass
class Section:
    key: str  # the HTML id
    title: str
    intro: str
    facts: list[Fact] = field(default_factory=list)
    plots: list[tuple[str, str, str]] = field(default_factory=list)  # (name, caption, SVG)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what to know first, highlighted
    paragraphs: list[str] = field(default_factory=list)  # plain remarks, after the plots


# How the backtest's verdict begins when the score predicts churn (evaluation/backtest.py).
PREDICTS = "The score predicts "

# ----------------------------------------------------------------------------- formatting


def number(value: object, digits: int = 1) -> str:
    """A number as people read it: thousands separated, `digits` decimals, n/a when missing."""
    if value is None or pd.isna(value):
        return "n/a"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def short(value: float) -> str:
    """At most one decimal, without a trailing .0 (3, 2.5, -100)."""
    return f"{value:,.1f}".removesuffix(".0")


def metric_value(value: object, unit: str | None) -> str:
    """A metric's value with its unit from the metric catalogue (flags as yes / no)."""
    if value is None or pd.isna(value):
        return "n/a"
    if unit == "flag":
        return "yes" if float(value) else "no"
    return short(float(value)) + (f" {unit}" if unit else "")


def words(value: str) -> str:
    """A status or other code as words (at_risk -> at risk)."""
    return value.replace("_", " ")


def share(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100 * part / whole:.0f} %"


def day(value: object) -> str:
    return "n/a" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


# ----------------------------------------------------------------------------- orders, colours


def best_first(mix: pd.DataFrame, column: str) -> list[str]:
    """The values of `column` (grade or status) from the best mean score to the worst: the
    order the seeds give them, read from the data."""
    means = mix.groupby(column)[["score_sum", "accounts"]].sum()
    means = (means["score_sum"] / means["accounts"]).sort_values(ascending=False)
    return [str(value) for value in means.index]


def status_colours(mix: pd.DataFrame) -> dict[str, str]:
    """Status -> plot colour, from the status_colour the scores carry."""
    pairs = mix.drop_duplicates("status").set_index("status")["status_colour"]
    return {str(status): plots.shade(colour) for status, colour in pairs.items()}


# ----------------------------------------------------------------------------- sections


def headline(data: ReportData, statuses: list[str]) -> list[Fact]:
    """The numbers first: how many accounts, how they stand, money at risk, what changed, and
    whether the data and the score can be trusted."""
    facts = []
    if data.scores is not None and len(data.scores):
        scores = data.scores
        facts.append(Fact("Accounts scored", number(len(scores)),
                          f"as of {day(scores['as_of_date'].max())}"))
        counts = scores["status"].value_counts()
        for status in statuses:
            count = int(counts.get(status, 0))
            facts.append(Fact(words(status).capitalize(), number(count),
                              f"{share(count, len(scores))} of accounts"))
        facts.append(Fact("Average score", number(scores["health_score"].mean()), "out of 100"))
    if data.at_risk is not None:
        facts.append(Fact("Annual revenue on the worklist",
                          number(data.at_risk["arr_at_risk"].sum(), 0),
                          worklist_size(data.at_risk)))
    if data.changes is not None and len(data.changes):
        facts.append(Fact("Newly at risk", number(int(data.changes["is_newly_at_risk"].sum())),
                          "healthy on the previous date, not now"))
    if data.quarantine is not None:
        facts.append(Fact("Raw rows set aside", number(int(data.quarantine["quarantined_rows"]
                                                           .sum())), "quarantined, see below"))
    if data.last_publish is not None:
        facts.append(gate_fact(data.last_publish))
    if data.backtest is not None:
        predicts = str(data.backtest["metrics"]["verdict"]).startswith(PREDICTS)
        facts.append(Fact("Can the score rank outreach?", "Yes" if predicts else "Not yet",
                          "the latest backtest's verdict, under Churn by grade"))
    return facts


def gate_fact(last: LastPublish) -> Fact:
    warnings = f"{last.checks_warned} warning{'s' if last.checks_warned != 1 else ''}"
    return Fact("Last quality gate", "failed" if last.checks_failed else "passed",
                f"{warnings}; {last.kind} {last.published_at} UTC")


def distribution_section(data: ReportData, statuses: list[str], colours: dict[str, str]
                         ) -> Section:
    section = Section("distribution", "Score distribution",
                      "How the current scores spread from 0 to 100, coloured by status.")
    scores = data.scores
    if scores is None or not len(scores):
        section.notes.append("No current scores are published yet: run `make refresh`.")
        return section
    section.plots.append(("score_histogram", "Accounts per 5-point band of the current score.",
                          plots.score_histogram(scores, statuses, colours)))
    section.facts += [
        Fact("Median score", number(scores["health_score"].median())),
        Fact("Lowest / highest", f"{number(scores['health_score'].min())} / "
                                 f"{number(scores['health_score'].max())}"),
        Fact("Scored on few signals", number(int(scores["is_low_coverage"].sum())),
             "low coverage: never shown as healthy"),
    ]
    return section


def mix_section(data: ReportData, grades: list[str], statuses: list[str],
                colours: dict[str, str]) -> Section:
    mix = data.mix
    dates = mix["as_of_date"].nunique()
    section = Section("mix", "Grades and statuses over time",
                      f"The share of accounts in each grade and each status on every scored "
                      f"date ({dates} date{'s' if dates != 1 else ''} published).")
    for column, order, shades in (
        ("grade", grades, plots.grade_shades(len(grades))),
        ("status", statuses, [colours[s] for s in statuses]),
    ):
        counts = mix.pivot_table(index="as_of_date", columns=column, values="accounts",
                                 aggfunc="sum", fill_value=0).reindex(columns=order, fill_value=0)
        shares = counts.div(counts.sum(axis=1), axis=0)
        section.plots.append((f"{column}_mix", f"Share of accounts per {column}, per date.",
                              plots.mix_over_time(shares, shades, column)))
    if dates == 1:
        section.notes.append("Only one date is published: backfill earlier month ends "
                             "(`make backfill`) to see the trend.")
    return section


def churn_section(backtest: dict | None, backtest_path: Path) -> Section:
    section = Section("churn", "Churn by grade (backtest)",
                      "Did accounts with worse grades actually churn more? From the latest "
                      "backtest of the score history against real churn.")
    if backtest is None:
        section.notes.append(
            f"No backtest report was found at {backtest_path}. Run `make backtest` (or "
            "`health backtest`) after a backfill, then build this page again.")
        return section
    metrics, counts = backtest["metrics"], backtest.get("counts", {})
    outcome = backtest.get("parameters", {}).get("outcome") or "churn"
    groups = metrics["by_grade"]["groups"]
    overall = metrics.get("top_decile", {}).get("churn_rate_all")
    section.notes.append(str(metrics["verdict"]))
    section.plots.append(("churn_by_grade", f"{outcome.capitalize()} per grade, with its 95 % "
                          "interval; the dashed line is every account.",
                          plots.churn_by_grade(groups, overall, outcome)))
    auc = metrics.get("auc", {})
    section.facts += [
        Fact("AUC", number(auc.get("estimate"), 2),
             f"95 % CI {number(auc.get('lower'), 2)}-{number(auc.get('upper'), 2)}; "
             "0.5 = coin flip"),
        Fact("Score rows evaluated", number(counts.get("evaluated_rows")),
             f"{number(counts.get('churned_rows'))} churned"),
        Fact("Backtest run", str(backtest.get("generated_at", "n/a"))[:10],
             f"labels: {outcome}"),
    ]
    section.tables.append(Table(
        ["grade", "score rows", "churned", "churn rate", "95 % interval"],
        [[str(g["group"]), number(g["rows"]), number(g["churners"]), share(g["churn_rate"], 1),
          f"{share(g['ci_lower'], 1)} - {share(g['ci_upper'], 1)}"] for g in groups],
        numeric=(1, 2, 3)))
    return section


def worklist_size(worklist: pd.DataFrame) -> str:
    """"25 accounts on the worklist, of 40 that matched (its capacity)"."""
    matched = int(worklist["accounts_matched"].max()) if len(worklist) else 0
    kept = f"{number(len(worklist))} accounts on the worklist"
    if matched <= len(worklist):
        return kept
    return f"{kept}, of {number(matched)} that matched (its capacity)"


def change_text(score_change: object, is_newly_listed: object) -> str:
    """The score's change since the account's previous date, and whether it is new on the list."""
    if score_change is None or pd.isna(score_change):
        return "first date"
    moved = f"{float(score_change):+.1f}"
    return f"{moved}, new" if is_newly_listed is True or is_newly_listed == 1 else moved


def worklist_section(data: ReportData, rows: int, colours: dict[str, str]) -> Section:
    section = Section("worklist", "At-risk worklist",
                      "Accounts at risk or unhealthy, largest annual revenue first, with what "
                      "pulls each score down. Call them in this order.")
    worklist = data.at_risk
    if worklist is None:
        section.notes.append("The at-risk list is not published yet: run `make refresh`.")
        return section
    if not len(worklist):
        section.notes.append("No account is at risk or unhealthy.")
        return section
    shown = worklist.head(rows)
    section.paragraphs.append(worklist_size(worklist).capitalize() + ".")
    section.tables.append(Table(
        ["#", "account", "segment", "score", "change", "grade", "status",
         "revenue at risk / year", "why"],
        [[number(r.outreach_rank), f"{r.account_name} ({r.account_id})", str(r.segment),
          number(r.health_score), change_text(r.score_change, r.is_newly_listed), str(r.grade),
          str(r.status), number(r.arr_at_risk, 0), str(r.reason)] for r in shown.itertuples()],
        numeric=(0, 3, 7), pills=6, colours=colours))
    if len(worklist) > rows:
        section.notes.append(f"The first {rows} of {len(worklist)} accounts; the full list is "
                             "the relation health.at_risk_accounts.")
    return section


def movers_section(data: ReportData, movers: int) -> Section:
    section = Section("movers", "Biggest movers since the previous date",
                      "The accounts whose score moved most since their previous scored date, "
                      "and the metrics that moved them (points each metric added or took away).")
    changes = data.changes
    if changes is None:
        section.notes.append("Score changes are not published yet: run `make refresh`.")
        return section
    if not len(changes):
        section.notes.append(
            f"No account has a previous scored date before {day(data.latest_date)}, so there is "
            "nothing to compare with: backfill earlier dates (`make backfill`).")
        return section
    trend = changes["trend"].value_counts()
    section.facts += [Fact(name.capitalize(), number(int(trend.get(name, 0))), "accounts")
                      for name in ("declining", "stable", "improving")]
    falls = changes.loc[changes["score_change"] < 0].nsmallest(movers, "score_change")
    rises = changes.loc[changes["score_change"] > 0].nlargest(movers, "score_change")
    picked = pd.concat([falls, rises]).sort_values("score_change")
    if not len(picked):
        section.paragraphs.append("No score moved since the previous date.")
        return section
    labels = [f"{r.account_name} ({r.account_id})" for r in picked.itertuples()]
    section.plots.append(("movers", f"The {movers} largest falls and rises of the score.",
                          plots.horizontal_changes(labels, picked["score_change"],
                                                   "score change (points)", "movers")))
    section.tables.append(Table(
        ["account", "previous date", "score", "change", "status", "moved by"],
        [[label, day(r.previous_as_of_date),
          f"{number(r.previous_health_score)} → {number(r.health_score)}",
          f"{r.score_change:+.1f}", f"{words(r.previous_status)} → {words(r.status)}",
          str(r.change_explanation or "")]
         for label, r in zip(labels, picked.itertuples(), strict=True)],
        numeric=(3,)))
    if bool(changes["is_scoring_config_changed"].any()):
        section.notes.append("The scoring configuration changed between the two dates for some "
                             "accounts: part of their change is the rules', not the customer's.")
    if data.metric_moves is not None and len(data.metric_moves):
        section.plots.append(("gains_and_losses", "What moved the whole book: per metric, the "
                              "points it added to and took from every account's score.",
                              plots.gains_and_losses(data.metric_moves)))
    return section


def quality_section(data: ReportData) -> Section:
    section = Section("quality", "Data quality",
                      "Raw rows the pipeline could not use (kept aside with the reason, never "
                      "dropped silently), and what the quality gate said about the last publish.")
    last = data.last_publish
    if last is not None:
        dates = ", ".join(last.as_of_dates[-3:]) + (" …" if len(last.as_of_dates) > 3 else "")
        section.facts += [gate_fact(last),
                          Fact("Checks passed", number(last.checks_passed),
                               f"run {last.run_id}, as of {dates}")]
        if last.warning_names:
            section.tables.append(Table(["gate warning (relation: check)"],
                                        [[name] for name in last.warning_names]))
        elif last.checks_warned and last.warning_names is None:
            section.notes.append(f"The gate warned {last.checks_warned} time(s); the run summary "
                                 f"of run {last.run_id} that names the checks was not found.")
        elif not last.checks_warned:
            section.paragraphs.append("The last quality gate raised no warning.")
    else:
        section.notes.append("No publish is logged yet (health.publish_log).")
    quarantine = data.quarantine
    if quarantine is None:
        section.notes.append("The quarantine is not published yet: run `make refresh`.")
    elif not len(quarantine):
        section.paragraphs.append("No raw row was quarantined.")
    else:
        section.plots.append(("quarantine", "Raw rows quarantined, per table and reason.",
                              plots.quarantine_bars(quarantine)))
        section.tables.append(Table(
            ["table", "reason", "rows"],
            [[str(r.table_name), str(r.quarantine_reason), number(r.quarantined_rows)]
             for r in quarantine.itertuples()], numeric=(2,)))
    return section


def build_sections(data: ReportData, backtest_path: Path, worklist_rows: int, movers: int
                   ) -> tuple[list[Fact], list[Section]]:
    """The headline facts and every section, in the page's order."""
    grades, statuses = best_first(data.mix, "grade"), best_first(data.mix, "status")
    colours = status_colours(data.mix)
    return headline(data, statuses), [
        distribution_section(data, statuses, colours),
        worklist_section(data, worklist_rows, colours),
        movers_section(data, movers),
        mix_section(data, grades, statuses, colours),
        churn_section(data.backtest, backtest_path),
        quality_section(data),
    ]
