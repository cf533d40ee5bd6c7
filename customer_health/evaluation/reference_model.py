"""A reference for how well churn can be ranked at all from the same inputs: gradient boosting
(scikit-learn's HistGradientBoostingClassifier, which takes missing values as they are) on the
raw metric values and the segment of the training rows. Its held-out AUC is the yardstick the
rules are measured against: the rules use the same metrics, cut into bands and weighted, so
what the boosted trees rank better is ranking the rules leave on the table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_health.evaluation.data import VALUE_SUFFIX

# Settings of the reference model (fixed, so the yardstick does not move between runs).
REFERENCE_SETTINGS = {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 15,
                      "min_samples_leaf": 50, "l2_regularization": 1.0,
                      "early_stopping": True, "validation_fraction": 0.15,
                      "n_iter_no_change": 20}


def features(frame: pd.DataFrame, metrics: list[str], segments: list[str]) -> np.ndarray:
    """Metric values (NaN kept) and the segment as a category code (last column; a segment
    without training rows is missing)."""
    codes = frame["segment"].astype(str).map({s: i for i, s in enumerate(segments)})
    values = frame[[f"{m}{VALUE_SUFFIX}" for m in metrics]].to_numpy(float)
    return np.column_stack([values, codes.to_numpy(float)])


def reference_risk(train: pd.DataFrame, holdout: pd.DataFrame, metrics: list[str],
                   seed: int) -> tuple[np.ndarray, dict]:
    """Churn probability of the held-out rows from a model fitted on the training rows, and a
    description of the model for the report."""
    from sklearn.ensemble import HistGradientBoostingClassifier  # slow import

    metrics = [m for m in metrics if train[f"{m}{VALUE_SUFFIX}"].notna().any()]  # with data
    segments = sorted(train["segment"].astype(str).unique())
    model = HistGradientBoostingClassifier(
        **REFERENCE_SETTINGS, categorical_features=[len(metrics)], random_state=seed)
    model.fit(features(train, metrics, segments), train["churned"].to_numpy(bool))
    risk = model.predict_proba(features(holdout, metrics, segments))[:, 1]
    return risk, {"model": "HistGradientBoostingClassifier (scikit-learn)",
                  "inputs": "raw metric values (missing kept) and segment",
                  "metrics": len(metrics), "iterations": int(model.n_iter_),
                  **REFERENCE_SETTINGS}
