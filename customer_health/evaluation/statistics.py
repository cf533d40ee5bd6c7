"""Statistics for the churn backtest and the weight calibration (numpy/scipy only).

Conventions: `risk` is higher for accounts more likely to churn (the backtest uses
100 - health_score), `label` is 1 for a churn inside the horizon. Every AUC is the Mann-Whitney
probability that a random churner has a higher risk than a random stayer, ties counting one half.
Score history repeats an account on every as-of date, so confidence intervals for AUC come from a
bootstrap that resamples accounts (clusters), not rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    estimate: float | None
    lower: float | None
    upper: float | None

    def as_dict(self, digits: int = 4) -> dict[str, float | None]:
        return {
            "estimate": _round(self.estimate, digits),
            "lower": _round(self.lower, digits),
            "upper": _round(self.upper, digits),
        }


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def wilson_interval(successes: int, trials: int, z: float = Z95) -> Interval:
    """Wilson score interval for a binomial proportion (None when there are no trials)."""
    if trials <= 0:
        return Interval(None, None, None)
    p = successes / trials
    denominator = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2))
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


class RankedRisk:
    """Risk values ranked once, so weighted AUCs (for the bootstrap) cost two bincounts each."""

    def __init__(self, risk: np.ndarray, label: np.ndarray) -> None:
        risk = np.asarray(risk, dtype=float)
        if risk.ndim != 1 or risk.shape != np.shape(label):
            raise ValueError("risk and label must be 1-d arrays of the same length")
        if np.isnan(risk).any():
            raise ValueError("risk contains NaN")
        self.label = np.asarray(label, dtype=bool)
        self.values, self.inverse = np.unique(risk, return_inverse=True)

    def auc(self, weight: np.ndarray | None = None) -> float:
        """Weighted Mann-Whitney AUC; NaN when either class has zero weight."""
        w = np.ones(len(self.label)) if weight is None else np.asarray(weight, dtype=float)
        size = len(self.values)
        pos = np.bincount(self.inverse, weights=w * self.label, minlength=size)
        neg = np.bincount(self.inverse, weights=w * ~self.label, minlength=size)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos <= 0 or total_neg <= 0:
            return math.nan
        neg_below = np.cumsum(neg) - neg
        return float(np.sum(pos * (neg_below + 0.5 * neg)) / (total_pos * total_neg))


def auc_mann_whitney(risk: np.ndarray, label: np.ndarray) -> float:
    """AUC = P(risk of a churner > risk of a stayer) + 0.5 P(tie); NaN if a class is empty."""
    return RankedRisk(risk, label).auc()


def hanley_mcneil_interval(auc: float, n_pos: int, n_neg: int, z: float = Z95) -> Interval:
    """Hanley & McNeil (1982) normal interval; assumes independent rows (ignores clustering)."""
    if n_pos == 0 or n_neg == 0 or not math.isfinite(auc):
        return Interval(None, None, None)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    half = z * math.sqrt(max(variance, 0.0))
    return Interval(auc, max(0.0, auc - half), min(1.0, auc + half))


def cluster_resamples(cluster: np.ndarray, n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """Row weights for `n_boot` bootstrap resamples of clusters (accounts), drawn with replacement.

    A row's weight is how many times its cluster was drawn, so every row of an account moves
    together.
    """
    _, index = np.unique(np.asarray(cluster), return_inverse=True)
    n_clusters = int(index.max()) + 1 if len(index) else 0
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        draws = rng.integers(0, n_clusters, size=n_clusters)
        yield np.bincount(draws, minlength=n_clusters)[index]


def percentile_interval(estimate: float, samples: np.ndarray, level: float = 0.95) -> Interval:
    samples = samples[np.isfinite(samples)]
    if not math.isfinite(estimate) or len(samples) == 0:
        return Interval(estimate if math.isfinite(estimate) else None, None, None)
    tail = (1 - level) / 2 * 100
    lower, upper = np.percentile(samples, [tail, 100 - tail])
    return Interval(estimate, float(lower), float(upper))


def bootstrap_auc(
    risk: np.ndarray, label: np.ndarray, cluster: np.ndarray, n_boot: int = 1000, seed: int = 0
) -> Interval:
    """AUC with a 95 % percentile interval from a bootstrap over clusters (accounts)."""
    ranked = RankedRisk(risk, label)
    samples = np.array([ranked.auc(w) for w in cluster_resamples(cluster, n_boot, seed)])
    return percentile_interval(ranked.auc(), samples)


def paired_bootstrap_auc(
    risks: dict[str, np.ndarray],
    label: np.ndarray,
    cluster: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> tuple[dict[str, Interval], np.ndarray]:
    """AUC intervals for several risk columns on the same resamples.

    Returns the intervals and the (n_boot, len(risks)) matrix of resampled AUCs, so that
    differences between columns get a paired interval.
    """
    ranked = {name: RankedRisk(values, label) for name, values in risks.items()}
    samples = np.array([
        [r.auc(w) for r in ranked.values()] for w in cluster_resamples(cluster, n_boot, seed)
    ])
    intervals = {
        name: percentile_interval(r.auc(), samples[:, i])
        for i, (name, r) in enumerate(ranked.items())
    }
    return intervals, samples


def paired_difference(intervals: dict[str, Interval], samples: np.ndarray, first: str,
                      second: str) -> tuple[Interval, np.ndarray]:
    """AUC of `first` minus AUC of `second` with a paired 95 % percentile interval, from the
    output of paired_bootstrap_auc; also returns the resampled differences."""
    names = list(intervals)
    diff = samples[:, names.index(first)] - samples[:, names.index(second)]
    a, b = intervals[first].estimate, intervals[second].estimate
    estimate = math.nan if a is None or b is None else a - b
    return percentile_interval(estimate, diff), diff


def top_fraction_lift(risk: np.ndarray, label: np.ndarray, fraction: float = 0.1) -> dict:
    """Churn rate among the `fraction` riskiest rows against the overall rate.

    Exactly k = round(fraction * n) rows are taken; rows tied with the k-th riskiest row enter
    with an equal share, i.e. the expected rate under a random tie-break.
    """
    risk, label = np.asarray(risk, dtype=float), np.asarray(label, dtype=float)
    n = len(risk)
    k = max(1, round(fraction * n))
    threshold = np.sort(risk)[::-1][k - 1]
    above, tied = risk > threshold, risk == threshold
    share = (k - above.sum()) / tied.sum()
    churners_top = label[above].sum() + share * label[tied].sum()
    rate_all = label.mean() if n else math.nan
    rate_top = churners_top / k
    return {
        "fraction": fraction,
        "rows": int(k),
        "churn_rate_top": float(rate_top),
        "churn_rate_all": float(rate_all),
        "lift": float(rate_top / rate_all) if rate_all > 0 else None,
        "share_of_churners_captured": float(churners_top / label.sum()) if label.sum() else None,
    }


def roc_curve(risk: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct risk threshold, from (0, 0) to (1, 1)."""
    ranked = RankedRisk(risk, label)
    size = len(ranked.values)
    pos = np.bincount(ranked.inverse, weights=ranked.label, minlength=size)[::-1]
    neg = np.bincount(ranked.inverse, weights=~ranked.label, minlength=size)[::-1]
    tpr = np.concatenate([[0.0], np.cumsum(pos) / max(pos.sum(), 1)])
    fpr = np.concatenate([[0.0], np.cumsum(neg) / max(neg.sum(), 1)])
    thresholds = np.concatenate([[np.inf], ranked.values[::-1]])
    return fpr, tpr, thresholds


def monotonic_check(groups: list[dict]) -> dict:
    """Does the churn rate rise (non-strictly) through `groups`, ordered best to worst?

    Each group is {"group", "churn_rate", "ci_lower", "ci_upper"}; groups without rows
    (churn_rate None) are skipped. A step where the rate falls is a violation; it is flagged
    `significant` when the two Wilson intervals do not overlap.
    """
    present = [g for g in groups if g.get("churn_rate") is not None]
    violations = []
    for better, worse in itertools.pairwise(present):
        if worse["churn_rate"] < better["churn_rate"]:
            violations.append({
                "from": better["group"],
                "to": worse["group"],
                "churn_rate_from": better["churn_rate"],
                "churn_rate_to": worse["churn_rate"],
                "significant": worse["ci_upper"] < better["ci_lower"],
            })
    rates = [g["churn_rate"] for g in present]
    return {
        "order": [g["group"] for g in present],
        "monotonic": not violations,
        "strictly_increasing": all(b > a for a, b in itertools.pairwise(rates)),
        "violations": violations,
        "spearman_rho": _spearman(rates),
    }


def _spearman(rates: list[float]) -> float | None:
    """Rank correlation of churn rate with position in the order (1 = perfectly rising)."""
    if len(rates) < 3 or len(set(rates)) == 1:
        return None
    rho = stats.spearmanr(np.arange(len(rates)), rates).statistic
    return round(float(rho), 4)
