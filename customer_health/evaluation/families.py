"""What each family of metrics (the metric's category) adds to the score's ranking of churners.

Every evaluated row is re-scored from its component points with the weights it was scored with
(the `weight` column of the component history), once with every family and once without one
family: its metrics are dropped and the remaining weights renormalised per row over the metrics
with points, as the dbt models do (rescoring.rescore). A row whose remaining metrics have no
points has no score without that family: it is dropped from both sides of that family's
comparison and counted. On the rows compared, the AUCs of 100 - score with and without the family
and their difference (with - without: what the family adds) get 95 % CIs from one paired
bootstrap over accounts (statistics.paired_bootstrap_auc: the same resamples for both scores).

Families are the categories the component history holds, whatever they are. A family none of
whose metrics has weight > 0 on the evaluated rows is skipped (noted); with fewer than two
weighted families there is nothing to compare and the summary says so. The all-families score is
also checked against the published health_score (rescoring.reproduction_check).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from customer_health.evaluation.rescoring import reproduction_check, rescore
from customer_health.evaluation.statistics import (
    Interval,
    paired_bootstrap_auc,
    paired_difference,
)

log = logging.getLogger(__name__)

NO_COMPONENTS = "no_component_history"
NO_WEIGHTED_FAMILY = "no_weighted_family"
ONE_FAMILY = "one_family"
COMPARED = "compared"


@dataclass(frozen=True)
class Components:
    """Component history aligned with the evaluated rows (rows x metrics)."""

    metrics: list[str]
    categories: np.ndarray  # the family of each metric
    points: np.ndarray  # NaN = N/A (left out of the score)
    weights: np.ndarray  # 0 where a row has no such metric
    present: np.ndarray  # rows that have component history

    def families(self) -> list[str]:
        return sorted(set(self.categories.tolist()))

    def family_metrics(self, family: str) -> list[str]:
        return [m for m, c in zip(self.metrics, self.categories, strict=True) if c == family]


def align(frame: pd.DataFrame, long: pd.DataFrame) -> Components:
    """Pivot component history (one row per account, as-of date and metric: data.component_points)
    onto the rows of `frame` (account_id, as_of_date), in frame order."""
    keys = pd.MultiIndex.from_frame(frame[["account_id", "as_of_date"]])
    metrics = sorted(long["metric_name"].unique())
    wide = (long.set_index(["account_id", "as_of_date", "metric_name"])[["points", "weight"]]
            .unstack("metric_name").reindex(keys))
    families = long.drop_duplicates("metric_name", keep="last").set_index("metric_name")
    moved = long.groupby("metric_name")["category"].nunique()
    if (moved > 1).any():
        log.warning("metrics with more than one category in the history (the latest is used): "
                    "%s", ", ".join(moved.index[moved > 1]))
    present = keys.isin(pd.MultiIndex.from_frame(long[["account_id", "as_of_date"]]))
    return Components(
        metrics=metrics,
        categories=families.loc[metrics, "category"].astype(str).to_numpy(),
        points=wide["points"].reindex(columns=metrics).to_numpy(float),
        weights=np.nan_to_num(wide["weight"].reindex(columns=metrics).to_numpy(float)),
        present=np.asarray(present, dtype=bool),
    )


def family_verdict(difference: Interval) -> str:
    """A plain-language reading of the difference's CI (with - without)."""
    if difference.lower is None or difference.upper is None:
        return "not estimable: the rows compared need churners and stayers"
    if difference.lower > 0:
        return "adds ranking: the CI excludes zero"
    if difference.upper < 0:
        return "hurts ranking: the score ranks churners better without it (the CI excludes zero)"
    return "no evidence it adds ranking: the CI includes zero"


def score_without(components: Components, family: str) -> tuple[np.ndarray, np.ndarray]:
    """Scores with the metrics of `family` dropped (their weight set to 0, so the other weights
    are renormalised per row over the metrics with points), and the rows left without a score."""
    kept = components.categories != family
    return rescore(components.points, np.where(kept, components.weights, 0.0))


def compare_family(frame: pd.DataFrame, components: Components, family: str,
                   with_scores: np.ndarray, scorable: np.ndarray, n_boot: int, seed: int) -> dict:
    """AUC with every family vs without `family`, on the rows both scores exist for."""
    without_scores, without_unscorable = score_without(components, family)
    compared = scorable & ~without_unscorable
    label = frame["churned"].to_numpy(bool)[compared]
    accounts = frame["account_id"].to_numpy()[compared]
    entry = {
        "family": family,
        "metrics": components.family_metrics(family),
        "rows_compared": int(compared.sum()),
        "rows_dropped_no_points": int((scorable & without_unscorable).sum()),
        "accounts": len(np.unique(accounts)),
        "churned_rows": int(label.sum()),
    }
    if label.all() or not label.any():
        empty = Interval(None, None, None)
        return {**entry, "auc_with": empty.as_dict(), "auc_without": empty.as_dict(),
                "difference": empty.as_dict(), "share_of_resamples_with_better": None,
                "verdict": family_verdict(empty)}
    risks = {"with": 100 - with_scores[compared], "without": 100 - without_scores[compared]}
    intervals, samples = paired_bootstrap_auc(risks, label, accounts, n_boot, seed)
    difference, diff = paired_difference(intervals, samples, "with", "without")
    return {
        **entry,
        "auc_with": intervals["with"].as_dict(),
        "auc_without": intervals["without"].as_dict(),
        "difference": difference.as_dict(),
        "share_of_resamples_with_better": round(float(np.mean(diff > 0)), 4),
        "verdict": family_verdict(difference),
    }


def contribution(frame: pd.DataFrame, components: Components | None, n_boot: int, seed: int
                 ) -> tuple[list[dict], dict]:
    """One comparison per weighted family, and a summary: status (compared, one_family,
    no_weighted_family, no_component_history), a note, families skipped, rows without component
    history or without any score, the reproduction check and the family adding the most."""
    summary: dict = {"status": COMPARED, "note": "", "families": [], "skipped": [],
                     "rows": len(frame), "rows_without_components": len(frame),
                     "rows_unscorable": 0, "reproduction_check": None, "largest_gain": None}
    if components is None or not components.present.any():
        summary.update(status=NO_COMPONENTS, note="not computed: the evaluated rows have no "
                       "component history")
        return [], summary
    with_scores, unscorable = rescore(components.points, components.weights)
    present = components.present
    scorable = present & ~unscorable
    summary.update(
        families=components.families(),
        rows_without_components=int((~present).sum()),
        rows_unscorable=int((present & unscorable).sum()),
        reproduction_check=reproduction_check(with_scores[scorable],
                                              frame["health_score"].to_numpy(float)[scorable],
                                              "the component history's weights"),
    )
    weighted = []
    for family in components.families():
        columns = components.categories == family
        if (components.weights[:, columns] > 0).any():
            weighted.append(family)
        else:
            summary["skipped"].append({"family": family,
                                       "metrics": components.family_metrics(family),
                                       "reason": "every metric has weight 0"})
    if len(weighted) < 2:
        status = ONE_FAMILY if weighted else NO_WEIGHTED_FAMILY
        note = (f"only one family has weight ({weighted[0]}): there is no other family to "
                "compare it with" if weighted else "no family has a metric with weight > 0")
        summary.update(status=status, note=note)
        return [], summary
    entries = [compare_family(frame, components, family, with_scores, scorable, n_boot, seed)
               for family in weighted]
    estimated = [e for e in entries if e["difference"]["estimate"] is not None]
    if estimated:
        summary["largest_gain"] = max(estimated, key=lambda e: e["difference"]["estimate"])[
            "family"]
    summary["note"] = (f"{len(entries)} families compared"
                       + (f", {len(summary['skipped'])} skipped" if summary["skipped"] else ""))
    return entries, summary
