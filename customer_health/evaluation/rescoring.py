"""Scores re-computed from component points, as the dbt models compute them.

A row's score is sum(w x points) / sum(w) over the metrics that have points (the weights are
renormalised over them), rounded to one decimal like the published health_score. A row none of
whose weighted metrics has points gets no score (NaN, flagged unscorable); each caller decides
what to do with it. The weight calibration looks weights up per segment from a weights seed
(`row_weights`, `score_frame`); the backtest's family contribution uses the weights recorded in
the component history row by row (`rescore`).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# {segment: {metric: weight}}, as in a weights seed.
Weights = dict[str, dict[str, float]]
# A re-computed score matches the published one when it is within this (both have one decimal).
MATCH_TOLERANCE = 0.05


def rescore(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score = sum(w * points) / sum(w) over the metrics with points (the dbt renormalisation),
    rounded to one decimal as published; rows whose weighted metrics are all N/A get NaN.

    `points` and `weights` are rows x metrics (weights already looked up per row). Returns
    (scores, unscorable mask).
    """
    has = ~np.isnan(points)
    scored_weight = np.where(has, weights, 0.0).sum(axis=1)
    total = np.where(has, weights * np.nan_to_num(points), 0.0).sum(axis=1)
    unscorable = scored_weight <= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = np.where(unscorable, np.nan, total / np.where(unscorable, 1, scored_weight))
    return round_half_up(round_half_up(scores, 4), 1), unscorable


def round_half_up(values: np.ndarray, decimals: int) -> np.ndarray:
    """Round like SQL round() on non-negative numbers (half away from zero, not half to even)."""
    scale = 10.0**decimals
    return np.floor(values * scale + 0.5) / scale


def row_weights(frame: pd.DataFrame, weights: Weights, metrics: list[str]) -> np.ndarray:
    """Rows x metrics: each row's weights, looked up by its segment."""
    table = {s: np.array([w.get(m, 0.0) for m in metrics]) for s, w in weights.items()}
    return np.stack([table[s] for s in frame["segment"].astype(str)])


def score_frame(frame: pd.DataFrame, weights: Weights, metrics: list[str]
                ) -> tuple[np.ndarray, int]:
    """Scores re-computed from points; unscorable rows (no weighted metric has points) get 50."""
    scores, unscorable = rescore(frame[metrics].to_numpy(float),
                                 row_weights(frame, weights, metrics))
    return np.where(unscorable, 50.0, scores), int(unscorable.sum())


def reproduction_check(scores: np.ndarray, published: np.ndarray, weights: str) -> dict:
    """Do the re-computed `scores` reproduce the `published` health scores (within rounding)?

    Rows without a re-computed score (NaN) are left out. `weights` names the weights used, for
    the warning logged when fewer than 99 % of the rows match.
    """
    scores, published = np.asarray(scores, dtype=float), np.asarray(published, dtype=float)
    defined = ~np.isnan(scores)
    diff = np.abs(scores[defined] - published[defined])
    matching = int(np.sum(diff <= MATCH_TOLERANCE + 1e-9))
    result = {"rows": int(defined.sum()), "matching_within_0_05": matching,
              "max_abs_difference": round(float(np.nanmax(diff)), 4) if len(diff) else None}
    if matching < 0.99 * result["rows"]:
        log.warning("%s reproduce only %s of %s published scores: the history was not scored "
                    "this way", weights, matching, result["rows"])
    return result
