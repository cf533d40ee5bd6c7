"""Markdown and PNG plots for the churn backtest (backtest.py, `health backtest`).

Plots need matplotlib; without it the report is written without them (and says so).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

log = logging.getLogger("backtest")

PLOT_FILES = {
    "churn_by_grade": "churn_by_grade.png",
    "roc_curve": "roc_curve.png",
    "score_distribution": "score_distribution.png",
}


def write_plots(frame: pd.DataFrame, report: dict, out: Path) -> dict[str, str]:
    """Write the three PNGs into `out`; return {plot: file name} ({} without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: the report has no plots")
        return {}
    metrics = report["metrics"]
    outcome = outcome_text(report["parameters"])
    for name, draw in (("churn_by_grade", _grade_plot), ("roc_curve", _roc_plot),
                       ("score_distribution", _distribution_plot)):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        draw(ax, frame, metrics, outcome)
        fig.tight_layout()
        fig.savefig(out / PLOT_FILES[name])
        plt.close(fig)
    return dict(PLOT_FILES)


def outcome_text(parameters: dict) -> str:
    """What a positive label means ("churn within 90 days", "churn after the snapshot")."""
    return parameters.get("outcome") or f"churn within {parameters['horizon_days']} days"


def _grade_plot(ax, frame: pd.DataFrame, metrics: dict, outcome: str) -> None:
    groups = metrics["by_grade"]["groups"]
    names = [str(g["group"]) for g in groups]
    rates = np.array([g["churn_rate"] for g in groups]) * 100
    lower = rates - np.array([g["ci_lower"] for g in groups]) * 100
    upper = np.array([g["ci_upper"] for g in groups]) * 100 - rates
    ax.bar(names, rates, color="#7a9cc6", yerr=[lower, upper], capsize=5)
    overall = metrics["top_decile"]["churn_rate_all"] * 100
    ax.axhline(overall, color="grey", linestyle="--", linewidth=1, label="all rows")
    for x, g in enumerate(groups):
        ax.annotate(f"n={g['rows']}", (x, 0), xytext=(0, 3), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.set_xlabel("grade (best to worst)")
    ax.set_ylabel(f"{outcome} (%)")
    ax.set_title("Churn rate by grade, Wilson 95 % CI")
    ax.legend()


def _roc_plot(ax, frame: pd.DataFrame, metrics: dict, outcome: str) -> None:
    auc = metrics["auc"]
    ax.plot(metrics["roc"]["fpr"], metrics["roc"]["tpr"], color="#c0504d",
            label=f"score: AUC {auc['estimate']:.3f} ({auc['lower']:.3f}-{auc['upper']:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="coin flip")
    ax.set_xlabel("false-positive rate (stayers flagged)")
    ax.set_ylabel("true-positive rate (churners flagged)")
    ax.set_title(f"ROC: 100 - score vs {outcome}")
    ax.set_aspect("equal")
    ax.legend(loc="lower right")


def _distribution_plot(ax, frame: pd.DataFrame, metrics: dict, outcome: str) -> None:
    bins = np.arange(0, 105, 5)
    churned = frame["churned"].to_numpy(bool)
    scores = frame["health_score"].to_numpy(float)
    ax.hist(scores[~churned], bins=bins, density=True, alpha=0.55, color="#4f81bd",
            label=f"stayers (n={int((~churned).sum())})")
    ax.hist(scores[churned], bins=bins, density=True, alpha=0.55, color="#c0504d",
            label=f"churners (n={int(churned.sum())})")
    ax.set_xlabel("health score")
    ax.set_ylabel("density")
    ax.set_title("Score distribution: churners vs stayers")
    ax.legend()


# ----------------------------------------------------------------------------- markdown


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def rate_table(groups: list[dict], label: str, with_auc: bool = False) -> list[str]:
    head = f"| {label} | rows | accounts | churned | churn rate | 95 % CI | mean score |"
    rule = "|---|---:|---:|---:|---:|---|---:|"
    if with_auc:
        head, rule = head + " AUC |", rule + "---:|"
    lines = [head, rule]
    for g in groups:
        line = (f"| {g['group']} | {g['rows']} | {g.get('accounts', '')} | {g['churners']} | "
                f"{_pct(g['churn_rate'])} | {_pct(g['ci_lower'])} - {_pct(g['ci_upper'])} | "
                f"{g.get('mean_score', '')} |")
        lines.append(line + (f" {_num(g.get('auc'))} |" if with_auc else ""))
    return lines


def _monotonic_text(check: dict, what: str) -> str:
    if check["monotonic"]:
        strict = "strictly " if check["strictly_increasing"] else ""
        return f"Churn rises {strict}monotonically by {what} ({' -> '.join(check['order'])})."
    falls = "; ".join(
        f"{v['from']} {_pct(v['churn_rate_from'])} -> {v['to']} {_pct(v['churn_rate_to'])}"
        f"{' (CIs do not overlap)' if v['significant'] else ' (within the CIs)'}"
        for v in check["violations"]
    )
    return f"Churn is **not** monotonic by {what}: it falls at {falls}."


GLOSSARY = [
    "Glossary:",
    "- **AUC**: the chance that an account that churned has a lower score than one that stayed "
    "(0.5 = a coin flip, 1 = a perfect ranking).",
    "- **95 % CI**: the range the measure lies in with 95 % confidence, given this much data; an "
    "interval wholly above 0.5 is evidence that the score ranks churners, not luck.",
    "- **Top-decile lift**: how many times the overall churn rate the riskiest 10 % of scores "
    "churned at (1x = no better than picking accounts at random).",
    "- **Churn by grade**: the share of each grade's accounts that churned; a score to act on has "
    "it rise with every worse grade.",
]


def _headline(report: dict) -> list[str]:
    m, c = report["metrics"], report["counts"]
    auc, hm, top = m["auc"], m["auc_hanley_mcneil"], m["top_decile"]
    sens = m["sensitivity"]
    lift = "n/a" if top["lift"] is None else f"{top['lift']:.2f}x"
    captured = top["share_of_churners_captured"]
    churned = ("churned after the snapshot" if report["parameters"].get("label_mode") == "snapshot"
               else "churned within horizon")
    sensitivity = ([] if sens is None else [
        f"| sensitivity: AUC on `{sens['population']}` rows ({sens['rows']}) | "
        f"{_num(sens['auc'])} |",
    ])
    return [
        "| measure | value |",
        "|---|---|",
        f"| rows evaluated (accounts) | {c['evaluated_rows']} ({c['evaluated_accounts']}) |",
        f"| {churned}: rows (accounts) | {c['churned_rows']} "
        f"({c['churned_accounts']}) |",
        f"| overall churn rate | {_pct(top['churn_rate_all'])} |",
        f"| AUC of 100 - score | **{_num(auc['estimate'])}** (95 % CI {_num(auc['lower'])} - "
        f"{_num(auc['upper'])}, bootstrap over accounts) |",
        f"| AUC CI assuming independent rows (Hanley-McNeil) | {_num(hm['lower'])} - "
        f"{_num(hm['upper'])} |",
        f"| top-decile lift | {lift}: riskiest {top['rows']} rows churned at "
        f"{_pct(top['churn_rate_top'])}, {_pct(captured)} of churners |",
        f"| mean score, churners / stayers | {m['mean_score_churners']} / "
        f"{m['mean_score_stayers']} |",
        *sensitivity,
    ]


def source_text(parameters: dict) -> str:
    """Where the history was read from: the DuckDB file, or the target an extract came from."""
    target = parameters.get("target", "duckdb")
    if target == "duckdb":
        return f"Database: `{parameters['db_path']}`"
    rows = sum(parameters.get("extract", {}).get("rows", {}).values())
    return (f"Source: `{parameters['source']}` (target {target}; {rows} rows copied into a "
            "local DuckDB extract)")


def labels_text(parameters: dict) -> str:
    """The label line both reports carry: "Labels: <mode description> (<how it was chosen>)"."""
    labels = parameters.get("labels") or f"churn events within {parameters['horizon_days']} days"
    rule = parameters.get("label_mode_rule")
    return f"Labels: {labels}" + (f" ({rule})" if rule else "")


def _counts_section(report: dict) -> list[str]:
    p, c = report["parameters"], report["counts"]
    if p.get("label_mode") == "snapshot":
        return [
            f"- {source_text(p)}; snapshot: **{p['snapshot_date']}** "
            f"({p['snapshot_date_source']}); the other as-of dates are not evaluated.",
            "- Label: the account's `has_churned` (it churned after the snapshot, as observed "
            "later); horizon and observation end do not apply.",
            f"- {c['dropped_outcome_unknown']} of {c['history_rows']} score rows were dropped "
            f"because their outcome is unknown ({c['outcome_null']} with has_churned null, "
            f"{c['outcome_row_missing']} without an outcome row).",
        ]
    prior = ("dropped" if p["exclude_prior_churners"] else "kept (use --exclude-prior-churners "
             "to drop them)")
    return [
        f"- {source_text(p)}; as-of dates in range: {c['as_of_dates_in_range']}, "
        f"evaluated: {c['as_of_dates_evaluated']} ({c['first_as_of_date']} .. "
        f"{c['last_as_of_date']}).",
        f"- Label: churn event with as_of_date < churn_date <= as_of_date + "
        f"{p['horizon_days']} days.",
        f"- Outcomes known through **{p['observed_through']}** ({p['observed_through_source']}); "
        f"{c['dropped_horizon_not_observed']} of {c['history_rows']} score rows were dropped "
        "because their horizon runs past it.",
        f"- {c['rows_with_prior_churn']} observed rows belong to accounts with a churn event on "
        f"or before the as-of date: {prior}.",
    ]


def _ci(interval: dict, signed: bool = False) -> str:
    """"0.673 (0.654-0.693)"; signed: "+0.052 (+0.040 to +0.064)"."""
    if interval["estimate"] is None:
        return "n/a"
    number = "{:+.3f}" if signed else "{:.3f}"
    if interval["lower"] is None:
        return number.format(interval["estimate"])
    joint = " to " if signed else "-"
    return (f"{number.format(interval['estimate'])} ({number.format(interval['lower'])}"
            f"{joint}{number.format(interval['upper'])})")


def family_section(metrics: dict) -> list[str]:
    """"What each family adds": AUC with every family vs without one, per family."""
    entries, summary = metrics["family_contribution"], metrics["family_contribution_summary"]
    lines = [
        "## What each family adds",
        "",
        "In plain words: how much better the score ranks churners because a family of metrics "
        "is in it, i.e. the AUC of the score with every family minus the AUC of the same score "
        "without that family (its weight shared out over the other metrics, as the scoring "
        "does), on the same rows.",
        "",
    ]
    if not entries:
        lines.append(f"Not compared: {summary['note']}.")
    else:
        lines += [
            "| family | metrics | rows compared | AUC with (95 % CI) | AUC without (95 % CI) | "
            "difference (95 % CI) | verdict |",
            "|---|---|---:|---:|---:|---:|---|",
            *(f"| {e['family']} | {', '.join(e['metrics'])} | {e['rows_compared']} | "
              f"{_ci(e['auc_with'])} | {_ci(e['auc_without'])} | "
              f"{_ci(e['difference'], signed=True)} | {e['verdict']} |" for e in entries),
            "",
            "- Scores are re-computed from the component points with the weights each row was "
            "scored with; CIs come from a paired bootstrap over accounts (the same resamples "
            "for both scores).",
        ]
        dropped = [f"{e['family']} {e['rows_dropped_no_points']}" for e in entries
                   if e["rows_dropped_no_points"]]
        if dropped:
            lines.append("- Rows with no points left once the family is dropped are left out "
                         f"of both sides of its comparison: {', '.join(dropped)}.")
    notes = [f"- Skipped: {s['family']} ({s['reason']})." for s in summary["skipped"]]
    if summary["rows_without_components"] and summary["status"] != "no_component_history":
        notes.append(f"- {summary['rows_without_components']} evaluated rows have no component "
                     "history and are left out.")
    if summary["rows_unscorable"]:
        notes.append(f"- {summary['rows_unscorable']} rows have no points in any weighted "
                     "metric (no re-computed score) and are left out.")
    repro = summary["reproduction_check"]
    if repro is not None:
        notes.append(f"- Consistency: the score re-computed with every family matches the "
                     f"published health_score within 0.05 on {repro['matching_within_0_05']} of "
                     f"{repro['rows']} rows (largest difference {repro['max_abs_difference']}).")
    return lines + ([""] if notes and not entries else []) + notes


def _plot(report: dict, name: str, alt: str) -> list[str]:
    if name not in report.get("plots", {}):
        return ["*(plot not drawn: matplotlib is not installed)*"]
    return [f"![{alt}]({report['plots'][name]})"]


def render_markdown(report: dict) -> str:
    m, p = report["metrics"], report["parameters"]
    snapshot = p.get("label_mode") == "snapshot"
    dates = [{**d, "group": d["as_of_date"]} for d in m["by_as_of_date"]]
    by_date_note = (["Snapshot mode: one as-of date, so there is no change over time to show.", ""]
                    if snapshot else [])
    repeated = ("each account has one row (one as-of date)" if snapshot
                else "an account appears on every as-of date")
    wilson = ("- Churn-rate CIs (Wilson) treat rows as independent." if snapshot else
              "- Churn-rate CIs (Wilson) treat rows as independent; the same account on several "
              "dates makes them somewhat too narrow.")
    lines = [
        f"# Churn backtest: health score vs {outcome_text(p)}",
        "",
        f"{labels_text(p)}.",
        "",
        f"**Verdict.** {m['verdict']}",
        "",
        *_headline(report),
        "",
        *GLOSSARY,
        "",
        "## Data",
        "",
        *_counts_section(report),
        "",
        "## Churn rate by grade",
        "",
        *rate_table(m["by_grade"]["groups"], "grade"),
        "",
        _monotonic_text(m["by_grade"]["monotonic_check"], "grade"),
        "",
        *_plot(report, "churn_by_grade", "churn rate by grade"),
        "",
        "## Churn rate by status",
        "",
        *rate_table(m["by_status"]["groups"], "status"),
        "",
        _monotonic_text(m["by_status"]["monotonic_check"], "status"),
        "",
        "## Churn rate and AUC by segment",
        "",
        *rate_table(m["by_segment"], "segment", with_auc=True),
        "",
        "## By as-of date",
        "",
        *by_date_note,
        *rate_table(dates, "as-of date", with_auc=True),
        "",
        *family_section(m),
        "",
        "## ROC curve and score distributions",
        "",
        *_plot(report, "roc_curve", "ROC curve"),
        "",
        *_plot(report, "score_distribution", "score distribution of churners and stayers"),
        "",
        "## Method and caveats",
        "",
        "- AUC is the Mann-Whitney probability that a churner's row has a lower score than a "
        f"stayer's (ties count half). Its CI resamples accounts ({repeated}); the Hanley-McNeil "
        "interval (for comparison) treats rows as independent.",
        wilson,
        "- Top-decile lift: churn rate of the 10 % of rows with the lowest scores (ties at the "
        "cut shared) divided by the overall rate.",
        "- Rows are scores as published; "
        + ("the outcome column only labels them." if snapshot
           else "churn events are never a score input."),
        "",
    ]
    return "\n".join(lines)
