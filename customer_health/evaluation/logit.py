"""L2-regularised logistic regression on metric points, and its conversion into score weights.

Model: P(churn within N days) = sigmoid(b0 + sum_j g_j * z_j [+ segment intercepts]), where
z_j = (points_j - mean_j) / std_j over the rows the model is fitted on. N/A points are imputed
with mean_j (z = 0); mean_j and std_j are taken over the rows where the metric has points.
Metrics that are N/A everywhere or constant get no coefficient. The fit minimises
sum(log-loss) + l2 / 2 * sum(g_j ** 2) (the intercept b0 is not penalised; sklearn's C = 1 / l2),
with scipy's L-BFGS-B and the analytic gradient.

Weights: higher points must mean lower risk, so only metrics with a negative coefficient get
weight. Rule "standardized" (default): w_j proportional to max(0, -g_j) = max(0, -coef_j x
std_j), coef_j being the coefficient per point; i.e. the standardised effect of the metric.
Rule "logit": w_j proportional to max(0, -coef_j) = max(0, -g_j / std_j), which makes the score
(sum w_j points_j) rank rows exactly like the model's linear predictor when no metric is N/A.
Either way the weights are normalised to sum to 1 and rounded to thousandths so they still sum to
exactly 1 (largest remainder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

from customer_health.evaluation.options import WEIGHT_RULES

WEIGHT_DECIMALS = 3


@dataclass
class LogitFit:
    """A fitted model: per-metric coefficients (standardised and per point) and scaling."""

    metrics: list[str]
    coef_standardized: dict[str, float]
    mean: dict[str, float]
    std: dict[str, float]
    na_share: dict[str, float]
    intercept: float
    rows: int
    positives: int
    converged: bool
    extra_coef: dict[str, float] = field(default_factory=dict)

    @property
    def coef_per_point(self) -> dict[str, float]:
        return {m: g / self.std[m] for m, g in self.coef_standardized.items()}

    def linear_predictor(self, points: np.ndarray) -> np.ndarray:
        """b0 + sum g_j z_j for rows of `points` (columns in self.metrics order, NaN = N/A)."""
        z = self.standardize(points)
        g = np.array([self.coef_standardized.get(m, 0.0) for m in self.metrics])
        return self.intercept + z @ g

    def standardize(self, points: np.ndarray) -> np.ndarray:
        means = np.array([self.mean.get(m, 0.0) for m in self.metrics])
        stds = np.array([self.std.get(m, 1.0) for m in self.metrics])
        z = (points - means) / stds
        z[np.isnan(z)] = 0.0
        usable = np.array([m in self.coef_standardized for m in self.metrics])
        return np.where(usable, z, 0.0)


def _column_stats(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std over non-N/A values, and the N/A share, per column."""
    has = ~np.isnan(points)
    counts = has.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, np.nansum(points, axis=0) / np.maximum(counts, 1), np.nan)
        centred = np.where(has, points - means, 0.0)
        stds = np.sqrt((centred**2).sum(axis=0) / np.maximum(counts, 1))
    return means, stds, 1 - counts / max(len(points), 1)


def minimise_penalised_logloss(
    design: np.ndarray, label: np.ndarray, l2: float, penalised: np.ndarray
) -> tuple[np.ndarray, bool]:
    """Coefficients minimising sum(log-loss) + l2/2 * ||beta[penalised]||^2."""
    y = label.astype(float)
    mask = penalised.astype(float)

    def objective(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = design @ beta
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * np.sum(mask * beta**2)
        grad = design.T @ (special.expit(z) - y) + l2 * mask * beta
        return float(loss), grad

    start = np.zeros(design.shape[1])
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                               options={"maxiter": 2000})
    return result.x, bool(result.success)


def fit_logit(
    points: np.ndarray,
    label: np.ndarray,
    metrics: list[str],
    l2: float = 1.0,
    groups: np.ndarray | None = None,
) -> LogitFit:
    """Fit the model on `points` (rows x metrics, NaN = N/A); `groups` adds penalised
    per-group intercepts (the pooled fit passes segments)."""
    means, stds, na_share = _column_stats(points)
    usable = np.isfinite(means) & (stds > 1e-9)
    z = (points[:, usable] - means[usable]) / stds[usable]
    z[np.isnan(z)] = 0.0
    blocks, penalised = [np.ones((len(points), 1)), z], [False] + [True] * int(usable.sum())
    group_names: list[str] = []
    if groups is not None:
        group_names = sorted({str(g) for g in groups})
        blocks.append(np.stack([groups == g for g in group_names], axis=1).astype(float))
        penalised += [True] * len(group_names)
    beta, converged = minimise_penalised_logloss(
        np.hstack(blocks), label, l2, np.array(penalised)
    )
    used = [m for m, ok in zip(metrics, usable, strict=True) if ok]
    n_used = len(used)
    return LogitFit(
        metrics=list(metrics),
        coef_standardized=dict(zip(used, beta[1:1 + n_used].tolist(), strict=True)),
        mean={m: float(v) for m, v in zip(metrics, means, strict=True) if math.isfinite(v)},
        std={m: float(v) for m, v in zip(metrics, stds, strict=True) if v > 1e-9},
        na_share=dict(zip(metrics, na_share.tolist(), strict=True)),
        intercept=float(beta[0]),
        rows=len(points),
        positives=int(np.sum(label)),
        converged=converged,
        extra_coef=dict(zip(group_names, beta[1 + n_used:].tolist(), strict=True)),
    )


def raw_weights(fit: LogitFit, rule: str = "standardized") -> dict[str, float]:
    """Unnormalised weights: max(0, -g_j) ("standardized") or max(0, -g_j / std_j) ("logit")."""
    if rule not in WEIGHT_RULES:
        raise ValueError(f"unknown weight rule {rule!r}; choose one of {WEIGHT_RULES}")
    out = {}
    for metric in fit.metrics:
        g = fit.coef_standardized.get(metric)
        if g is None:
            out[metric] = 0.0
            continue
        effect = g if rule == "standardized" else g / fit.std[metric]
        out[metric] = max(0.0, -effect)
    return out


def normalise_weights(raw: dict[str, float], decimals: int = WEIGHT_DECIMALS
                      ) -> dict[str, float] | None:
    """Weights >= 0 summing to exactly 1 at `decimals` places; None if every weight is 0.

    Rounds by largest remainder: each weight gets floor(share * 10**decimals) units, and the
    units still missing go to the largest remainders (ties: metric order).
    """
    if any(v < 0 or not math.isfinite(v) for v in raw.values()):
        raise ValueError("raw weights must be finite and non-negative")
    total = sum(raw.values())
    if total <= 0:
        return None
    unit = 10**decimals
    shares = {m: v / total * unit for m, v in raw.items()}
    floors = {m: math.floor(s) for m, s in shares.items()}
    missing = unit - sum(floors.values())
    order = sorted(raw, key=lambda m: (-(shares[m] - floors[m]), list(raw).index(m)))
    for metric in order[:missing]:
        floors[metric] += 1
    return {m: floors[m] / unit for m in raw}

