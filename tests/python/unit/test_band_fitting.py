"""Proposed scoring bands: bands read and applied as the dbt models do, bins turned into bands
(monotone, in the metric's direction, contiguous, open at both ends), band fitting on data with
a planted threshold, and the text `health adopt-proposal` prints."""

from __future__ import annotations

import numpy as np
import pytest

from customer_health.evaluation.band_fitting import (
    ASCENDING,
    DESCENDING,
    EITHER,
    BandFitSettings,
    bins_to_bands,
    churn_trend,
    fit_bands,
    round_cuts,
)
from customer_health.evaluation.bands import (
    Band,
    apply_bands,
    contiguity_problems,
    read_bands,
    write_bands,
)
from customer_health.evaluation.proposal import bands_diff, weight_problems, weights_diff

# Shaped like seeds/scoring_bands.csv: a linear band, open bounds, a segment's own band.
ERRORS = [Band("errors", "*", None, 2, 100, 100, "few"),
          Band("errors", "*", 2, 8, 80, 20, "some"),
          Band("errors", "*", 8, None, 0, 0, "many")]
TRIAL = [Band("trial", "*", 0, 1, 100, 100, "paid"), Band("trial", "*", 1, None, 40, 40, "trial"),
         Band("trial", "onboarding", 1, None, 80, 80, "trial while onboarding")]


def test_bands_apply_as_the_dbt_models_do() -> None:
    values = np.array([-5, 1.99, 2, 5, 7.999, 8, 100, np.nan])
    points = apply_bands(values, np.array(["x"] * len(values)), ERRORS)
    # lower bound inclusive, upper exclusive; linear from 80 at 2 to 20 at 8; open ends
    assert points[:7] == pytest.approx([100, 100, 80, 50, 20.01, 0, 0])
    assert np.isnan(points[7])  # no data and no missing_points: no points
    assert apply_bands(np.array([np.nan]), np.array(["x"]), ERRORS, missing_points=30)[0] == 30


def test_a_segments_own_band_wins_over_the_default_band() -> None:
    values, segments = np.array([1, 1, 0, -1]), np.array(["onboarding", "mature", "onboarding",
                                                          "mature"])
    points = apply_bands(values, segments, TRIAL)
    assert points[:3].tolist() == [80, 40, 100]
    assert np.isnan(points[3])  # below every band: no points, as the left joins give


def test_bands_round_trip_through_the_seed_format(tmp_path) -> None:
    path = tmp_path / "scoring_bands.csv"
    write_bands(path, ERRORS + TRIAL)
    assert read_bands(path) == ERRORS + TRIAL
    assert path.read_text().splitlines()[:2] == [
        "metric_name,segment,lower_bound,upper_bound,points_at_lower,points_at_upper,band_label",
        "errors,*,,2,100,100,few"]


def test_direction_comes_from_the_active_points() -> None:
    assert churn_trend(ERRORS) == ASCENDING  # fewer points as errors rise: churn rises
    assert churn_trend([Band("days", "*", 0, 5, 0, 100, "low"),
                        Band("days", "*", 5, None, 100, 100, "high")]) == DESCENDING
    assert churn_trend([Band("flat", "*", None, None, 50, 50, "all")]) == EITHER
    assert churn_trend([]) == EITHER


@pytest.mark.parametrize("trend", [ASCENDING, DESCENDING])
def test_bins_become_monotone_contiguous_open_bands(trend: str) -> None:
    cuts = [1.0, 2.5, 4.0]
    rows = np.array([400, 300, 200, 100])
    rates = np.array([0.05, 0.10, 0.09, 0.30])  # one blip against the trend
    if trend == DESCENDING:
        rates = rates[::-1]
    bands = bins_to_bands("m", cuts, rates * rows, rows, trend, unit="days")
    assert contiguity_problems(bands) == []
    assert bands[0].lower_bound is None and bands[-1].upper_bound is None
    assert [b.lower_bound for b in bands[1:]] == cuts
    points = [b.points_at_lower for b in bands]
    assert all(b.points_at_lower == b.points_at_upper for b in bands)  # steps
    steps = np.diff(points)
    assert (steps <= 0).all() if trend == ASCENDING else (steps >= 0).all()
    assert min(points) == 0 and max(points) == 100  # least churn 100, most 0
    assert bands[1].band_label in ("1 to under 2.5 days",)


def test_integer_metrics_get_whole_cuts() -> None:
    assert round_cuts(np.array([0.5, 1.5, 1.7]), np.array([0.0, 1, 2, 3])) == [1.0, 2.0]
    assert round_cuts(np.array([0.123456]), np.array([0.1, 0.2])) == [0.1235]


def test_contiguity_problems_are_found() -> None:
    gap = [Band("m", "*", None, 1, 0, 0, "a"), Band("m", "*", 2, None, 0, 0, "b")]
    closed = [Band("m", "*", None, 1, 0, 0, "a"), Band("m", "*", 1, 3, 0, 0, "b")]
    bad_points = [Band("m", "*", None, None, 120, 120, "a")]
    assert any("gap or overlap" in p for p in contiguity_problems(gap))
    assert any("open above" in p for p in contiguity_problems(closed))
    assert any("0-100" in p for p in contiguity_problems(bad_points))
    assert contiguity_problems(ERRORS + TRIAL) == []


def test_fitted_bands_find_a_planted_threshold_and_keep_what_cannot_be_fitted() -> None:
    rng = np.random.default_rng(3)
    errors = rng.uniform(0, 20, 6000)
    churned = rng.random(6000) < np.where(errors >= 10, 0.30, 0.05)  # churn jumps at 10
    errors[rng.random(6000) < 0.1] = np.nan  # no data: left to missing_points
    values = {"errors": errors, "trial": np.full(6000, np.nan)}
    bands, summary = fit_bands(values, churned, ERRORS + TRIAL, BandFitSettings())
    fitted = [b for b in bands if b.metric_name == "errors"]
    assert summary["errors"]["fitted"] and summary["errors"]["churn_trend"] == ASCENDING
    assert contiguity_problems(bands) == []
    cut_points = [b.lower_bound for b in fitted[1:]]
    assert any(9 <= cut <= 11 for cut in cut_points), cut_points  # the planted threshold
    points = apply_bands(np.array([2.0, 18.0]), np.array(["x", "x"]), fitted)
    assert points[0] > points[1] + 50  # below the threshold far more points
    assert [b for b in bands if b.metric_name == "trial"] == TRIAL  # no values: active kept
    assert not summary["trial"]["fitted"]


def test_adoption_text_lists_band_and_weight_changes() -> None:
    proposed = [Band("errors", "*", None, 3, 100, 100, "under 3"),
                Band("errors", "*", 3, 8, 80, 20, "some"),
                Band("errors", "*", 8, None, 0, 0, "many"), *TRIAL]
    lines = bands_diff(ERRORS + TRIAL, proposed)
    assert lines == [
        "errors: 3 -> 3 bands (1 added, 1 removed, 1 changed)",
        '  + * [3, 8) 80-20 points "some"',
        '  - * [2, 8) 80-20 points "some"',
        '  ~ * [-inf, 2) 100 points "few" -> * [-inf, 3) 100 points "under 3"',
    ]
    assert bands_diff(TRIAL, TRIAL) == []
    active = {"smb": {"errors": 0.4, "trial": 0.6}, "ent": {"errors": 0.5, "trial": 0.5}}
    assert weights_diff(active, {"smb": {"errors": 0.7, "trial": 0.3},
                                 "ent": {"errors": 0.5, "trial": 0.5}}) == [
        "smb: errors 0.4 -> 0.7, trial 0.6 -> 0.3"]


def test_a_proposal_is_refused_when_its_weights_would_fail_the_seed_test() -> None:
    """As strict as dbt's weights_sum_to_one on the seed: 1.0005 fails, float noise does not."""
    assert weight_problems({"adopting": {"a": 0.5005, "b": 0.5}}) == [
        "adopting: weights sum to 1.0005, not 1"]
    assert weight_problems({"adopting": {"a": 0.1, "b": 0.2, "c": 0.7}}) == []
