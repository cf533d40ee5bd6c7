"""Scoring bands as the dbt models read them (seeds/scoring_bands.csv), and points from them.

A band covers lower_bound <= value < upper_bound (a missing bound is open). Equal points at both
ends make a step; different points with both bounds set run linearly across the band. A band of
the row's segment wins over the '*' band. A value in no band gets no points; a missing value gets
the metric's missing_points (metric_definitions.csv), else no points. `apply_bands` does what
models/intermediate/scoring/int_account_metric_points.sql and macros/value_in_band.sql do;
`rebanded` applies a set of bands to a frame of metric values (component_matrix).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from customer_health.evaluation.data import VALUE_SUFFIX, BacktestInputError
from customer_health.evaluation.options import BANDS_SEED, DEFINITIONS_SEED, active_seed

BAND_COLUMNS = ("metric_name", "segment", "lower_bound", "upper_bound", "points_at_lower",
                "points_at_upper", "band_label")
ANY_SEGMENT = "*"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Band:
    metric_name: str
    segment: str
    lower_bound: float | None
    upper_bound: float | None
    points_at_lower: float
    points_at_upper: float
    band_label: str

    def contains(self, values: np.ndarray) -> np.ndarray:
        inside = ~np.isnan(values)
        if self.lower_bound is not None:
            inside &= values >= self.lower_bound
        if self.upper_bound is not None:
            inside &= values < self.upper_bound
        return inside

    def points(self, values: np.ndarray) -> np.ndarray:
        if (self.points_at_lower == self.points_at_upper or self.lower_bound is None
                or self.upper_bound is None):
            return np.full(len(values), float(self.points_at_lower))
        slope = (self.points_at_upper - self.points_at_lower) / (self.upper_bound
                                                                 - self.lower_bound)
        return self.points_at_lower + (values - self.lower_bound) * slope


def _bound(text: str) -> float | None:
    return None if text.strip() == "" else float(text)


def read_bands(path: Path) -> list[Band]:
    """The bands of a scoring_bands seed, in file order."""
    if not path.is_file():
        raise BacktestInputError(f"bands seed not found: {path}")
    with path.open(newline="") as handle:
        return [Band(row["metric_name"], row["segment"], _bound(row["lower_bound"]),
                     _bound(row["upper_bound"]), float(row["points_at_lower"]),
                     float(row["points_at_upper"]), row["band_label"])
                for row in csv.DictReader(handle)]


def format_number(value: float | None) -> str:
    """A bound or points as a seed writes it: blank for open, no trailing zeros."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.10g}"


def write_bands(path: Path, bands: list[Band]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(BAND_COLUMNS)
        for band in bands:
            writer.writerow([band.metric_name, band.segment, format_number(band.lower_bound),
                             format_number(band.upper_bound), format_number(band.points_at_lower),
                             format_number(band.points_at_upper), band.band_label])


def read_metric_definitions(path: Path) -> tuple[dict[str, float | None], dict[str, str]]:
    """{metric: missing_points or None} and {metric: unit} from a metric_definitions seed."""
    if not path.is_file():
        raise BacktestInputError(f"metric definitions seed not found: {path}")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return ({row["metric_name"]: _bound(row.get("missing_points") or "") for row in rows},
            {row["metric_name"]: row.get("unit") or "" for row in rows})


def apply_bands(values: np.ndarray, segments: np.ndarray, bands: list[Band],
                missing_points: float | None = None) -> np.ndarray:
    """Points of one metric's values (NaN = no points), row by row as the dbt models give them:
    the band of the row's segment if one contains the value, else the '*' band."""
    values = np.asarray(values, dtype=float)
    segments = np.asarray(segments).astype(str)
    points = np.full(len(values), np.nan)
    matched = np.zeros(len(values), dtype=bool)
    own = [b for b in bands if b.segment != ANY_SEGMENT]
    for band in (*own, *(b for b in bands if b.segment == ANY_SEGMENT)):
        rows = band.contains(values) & ~matched
        if band.segment != ANY_SEGMENT:
            rows &= segments == band.segment
        points[rows] = band.points(values[rows])
        matched |= rows
    if missing_points is not None and not math.isnan(missing_points):
        points[np.isnan(values)] = missing_points
    return points


def bands_by_metric(bands: list[Band]) -> dict[str, list[Band]]:
    out: dict[str, list[Band]] = {}
    for band in bands:
        out.setdefault(band.metric_name, []).append(band)
    return out


def sort_key(band: Band) -> tuple[str, float]:
    return band.segment, -math.inf if band.lower_bound is None else band.lower_bound


def contiguity_problems(bands: list[Band]) -> list[str]:
    """What the seed tests on scoring_bands would reject: per metric and segment, bands sorted
    by lower bound must meet exactly and the last be open; bounds ordered; points in 0-100; a
    linear band needs both bounds."""
    problems = []
    groups: dict[tuple[str, str], list[Band]] = {}
    for band in bands:
        groups.setdefault((band.metric_name, band.segment), []).append(band)
        where = f"{band.metric_name}/{band.segment} from {format_number(band.lower_bound)}"
        if (band.lower_bound is not None and band.upper_bound is not None
                and band.lower_bound >= band.upper_bound):
            problems.append(f"{where}: lower bound not below upper bound")
        if not all(0 <= p <= 100 for p in (band.points_at_lower, band.points_at_upper)):
            problems.append(f"{where}: points outside 0-100")
        if band.points_at_lower != band.points_at_upper and None in (band.lower_bound,
                                                                     band.upper_bound):
            problems.append(f"{where}: a linear band needs both bounds")
    for (metric, segment), group in groups.items():
        group = sorted(group, key=sort_key)
        lowers = [b.lower_bound for b in group]
        if len(set(lowers)) < len(lowers):
            problems.append(f"{metric}/{segment}: two bands start at the same bound")
        for band, following in pairwise(group):
            if band.upper_bound is None or band.upper_bound != following.lower_bound:
                problems.append(f"{metric}/{segment}: gap or overlap after "
                                f"{format_number(band.lower_bound)}")
        if group[-1].upper_bound is not None:
            problems.append(f"{metric}/{segment}: the last band must be open above")
    return problems


@dataclass(frozen=True)
class BandConfig:
    """The active bands and what the metric catalogue says about missing values and units."""

    active: list[Band]
    missing_points: dict[str, float | None]
    units: dict[str, str]

    @classmethod
    def read(cls) -> BandConfig:
        missing, units = read_metric_definitions(active_seed(DEFINITIONS_SEED))
        return cls(read_bands(active_seed(BANDS_SEED)), missing, units)


def rebanded(frame: pd.DataFrame, bands: list[Band], metrics: list[str],
             missing_points: dict[str, float | None]) -> pd.DataFrame:
    """`frame` with each metric's points re-computed from its metric value with `bands`."""
    by_metric = bands_by_metric(bands)
    out = frame.copy()
    segments = frame["segment"].astype(str).to_numpy()
    for metric in metrics:
        out[metric] = apply_bands(frame[f"{metric}{VALUE_SUFFIX}"].to_numpy(float), segments,
                                  by_metric.get(metric, []), missing_points.get(metric))
    return out


def band_reproduction(frame: pd.DataFrame, config: BandConfig, metrics: list[str]) -> dict:
    """Do the active bands, applied in Python, give the points in the history (both N/A, or
    within 0.01)? Checks that re-banding follows the dbt models."""
    again = rebanded(frame, config.active, metrics, config.missing_points)
    before, after = frame[metrics].to_numpy(float), again[metrics].to_numpy(float)
    same = (np.isnan(before) & np.isnan(after)) | (np.abs(before - after) <= 0.01)
    result = {"values": int(same.size), "matching": int(same.sum())}
    if result["matching"] < result["values"]:
        log.warning("the active bands re-compute %s of %s points of the history: it was not "
                    "scored with these bands", result["matching"], result["values"])
    return result


def band_changes(active: list[Band], proposed: list[Band]) -> dict[str, dict]:
    """Per metric: the proposed bands as [lower, upper, points] and the active count."""
    before, after = bands_by_metric(active), bands_by_metric(proposed)
    return {metric: {"active_bands": len(before.get(metric, [])),
                     "proposed": [[b.lower_bound, b.upper_bound, b.points_at_lower]
                                  for b in bands]}
            for metric, bands in after.items() if bands != before.get(metric)}
