"""Propose scoring bands per metric by monotone optimal binning of metric value against churn.

For each metric with values in the training rows, `optbinning.OptimalBinning` cuts the values
into bins whose churn rate moves in one direction only: the direction of the active bands (their
points falling as the value rises means churn rising with it), or the better of both when the
active bands are flat. Every bin holds at least `min_share` of the rows and `min_churned`
churned rows, and neighbouring bins' churn rates differ significantly (`max_pvalue`: fewer,
meaningful bands rather than noise). Each bin becomes a step band ('*' segment, lower bound
inclusive, first band open below, last open above, as the dbt models read them) whose points are
the bin's churn log-odds scaled onto 0-100 across the metric's bins: the bin with the least
churn gets 100, the most 0.
Missing values keep the metric's missing_points (metric_definitions.csv is not proposed).

A metric keeps its active bands when it has too few values, no churn contrast, or binning finds
no cut (one bin); `fit_bands` says why per metric. optbinning is imported only here (slow).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from customer_health.evaluation.bands import ANY_SEGMENT, Band, bands_by_metric, format_number

log = logging.getLogger(__name__)

ASCENDING, DESCENDING, EITHER = "ascending", "descending", "auto_asc_desc"
# Fewer training rows with a value than this: the metric keeps its active bands.
MIN_VALUES = 200
# Significant digits a fitted cut is rounded to (the rates are computed after rounding).
CUT_DIGITS = 4


@dataclass(frozen=True)
class BandFitSettings:
    min_share: float = 0.05  # rows per band, share of the metric's training rows with a value
    min_churned: int = 20  # churned training rows per band
    max_bins: int = 8
    max_pvalue: float | None = 0.05  # neighbouring bands' churn rates differ at this level


def churn_trend(bands: list[Band]) -> str:
    """Direction of churn as the value rises, read from the active '*' bands of one metric:
    points falling with the value -> churn ascending; rising -> descending; flat -> either."""
    ordered = sorted((b for b in bands if b.segment == ANY_SEGMENT),
                     key=lambda b: -math.inf if b.lower_bound is None else b.lower_bound)
    if not ordered:
        return EITHER
    first, last = ordered[0].points_at_lower, ordered[-1].points_at_upper
    if last < first:
        return ASCENDING
    return DESCENDING if last > first else EITHER


def round_cuts(cuts: np.ndarray, values: np.ndarray) -> list[float]:
    """Readable cuts: whole numbers for integer-valued metrics (a cut at 1.5 becomes 2, the same
    split), else CUT_DIGITS significant digits; duplicates dropped."""
    if np.all(values == np.round(values)):
        rounded = np.ceil(cuts)
    else:
        rounded = np.array([float(f"{c:.{CUT_DIGITS}g}") for c in cuts])
    return sorted(set(rounded.tolist()))


def log_odds(churned: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Smoothed churn log-odds per bin (half a row added to each class: no infinities)."""
    return np.log((churned + 0.5) / (rows - churned + 0.5))


def bins_to_bands(metric: str, cuts: list[float], churned: np.ndarray, rows: np.ndarray,
                  trend: str, unit: str = "") -> list[Band]:
    """Step bands from cuts and the churned / all rows per bin (len(cuts) + 1 bins): points
    100 x (max - log-odds) / (max - min), kept monotone in the direction of `trend` (ascending
    churn: points never rise with the value)."""
    odds = log_odds(churned.astype(float), rows.astype(float))
    spread = odds.max() - odds.min()
    points = np.full(len(odds), 100.0) if spread == 0 else 100 * (odds.max() - odds) / spread
    if trend == EITHER:
        trend = ASCENDING if points[-1] <= points[0] else DESCENDING
    points = (np.minimum.accumulate(points) if trend == ASCENDING
              else np.maximum.accumulate(points))
    lowers, uppers = [None, *cuts], [*cuts, None]
    return [Band(metric, ANY_SEGMENT, low, high, round(float(p), 1), round(float(p), 1),
                 band_label(low, high, unit))
            for low, high, p in zip(lowers, uppers, points, strict=True)]


def band_label(lower: float | None, upper: float | None, unit: str) -> str:
    unit = f" {unit}" if unit and unit != "flag" else ""
    if lower is None:
        return f"under {format_number(upper)}{unit}"
    if upper is None:
        return f"{format_number(lower)}{unit} or more"
    return f"{format_number(lower)} to under {format_number(upper)}{unit}"


def bin_counts(values: np.ndarray, label: np.ndarray, cuts: list[float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Churned and all rows per bin (lower bound inclusive, as the bands read them)."""
    index = np.searchsorted(np.asarray(cuts), values, side="right")
    rows = np.bincount(index, minlength=len(cuts) + 1)
    churned = np.bincount(index, weights=label.astype(float), minlength=len(cuts) + 1)
    return churned, rows


def fit_metric(metric: str, values: np.ndarray, label: np.ndarray, trend: str,
               settings: BandFitSettings, unit: str = "") -> tuple[list[Band] | None, str]:
    """Bands for one metric from its training values (NaN dropped) and labels, or None and why."""
    from optbinning import OptimalBinning  # slow import: only when bands are fitted

    has = ~np.isnan(values)
    values, label = values[has], label[has]
    if len(values) < MIN_VALUES or np.unique(values).size < 2:
        return None, f"too few values ({len(values)} rows, {np.unique(values).size} distinct)"
    if label.all() or not label.any():
        return None, "no churn contrast among the rows with a value"
    binning = OptimalBinning(name=metric, dtype="numerical", solver="cp", monotonic_trend=trend,
                             min_bin_size=settings.min_share,
                             min_bin_n_event=settings.min_churned,
                             max_n_bins=settings.max_bins, max_pvalue=settings.max_pvalue)
    binning.fit(values, label.astype(int))
    if binning.status not in ("OPTIMAL", "FEASIBLE"):
        return None, f"binning status {binning.status}"
    cuts = round_cuts(np.asarray(binning.splits, dtype=float), values)
    if not cuts:
        return None, f"no monotone ({trend}) cut with enough rows per band"
    churned, rows = bin_counts(values, label, cuts)
    return bins_to_bands(metric, cuts, churned, rows, trend, unit), (
        f"{len(cuts) + 1} bands, churn {trend}")


def fit_bands(values: dict[str, np.ndarray], label: np.ndarray, active: list[Band],
              settings: BandFitSettings, units: dict[str, str] | None = None
              ) -> tuple[list[Band], dict[str, dict]]:
    """The proposed bands (the active file with each fitted metric's bands replaced in place)
    and, per metric of `values`, what was done and why."""
    by_metric = bands_by_metric(active)
    fitted: dict[str, list[Band]] = {}
    summary: dict[str, dict] = {}
    for metric, metric_values in values.items():
        trend = churn_trend(by_metric.get(metric, []))
        bands, reason = fit_metric(metric, np.asarray(metric_values, dtype=float), label, trend,
                                   settings, (units or {}).get(metric, ""))
        summary[metric] = {"fitted": bands is not None, "churn_trend": trend, "note": reason}
        if bands is not None:
            fitted[metric] = bands
            summary[metric]["bands"] = len(bands)
        log.info("bands of %s: %s", metric, reason if bands else f"active kept: {reason}")
    proposed: list[Band] = []
    for metric, bands in by_metric.items():
        proposed += fitted.pop(metric, bands)
    for bands in fitted.values():  # metrics the active file had no bands for
        proposed += bands
    return proposed, summary
