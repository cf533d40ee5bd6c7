"""Random draws and ids shared by the generator's tables (generate.py, engagement.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DAYS_PER_MONTH = 30.4375

ID_BITS = 24
ID_MASK = (1 << ID_BITS) - 1
ID_MULTIPLIER = 0x9E3779  # odd, so multiplication mod 2**24 is a bijection
ID_SALTS = {"A": 0x5B3A17, "S": 0x3C9E41, "U": 0x7A1D2F, "T": 0x46B0C9, "C": 0x2F8E63,
           "E": 0x61C4B5, "N": 0x1D7F93, "P": 0x52A6E1}


def weighted_choice(rng: np.random.Generator, options: Sequence[tuple[str, int]], n: int
                    ) -> np.ndarray:
    weights = np.array([w for _, w in options], dtype=np.float64)
    return rng.choice(len(options), size=n, p=weights / weights.sum())


def id_parts(num: np.ndarray, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Split counters into (high block, scrambled low 24 bits); unique counters stay unique."""
    num = num.astype(np.int64)
    low = ((num & ID_MASK) * ID_MULTIPLIER & ID_MASK) ^ ID_SALTS[prefix]
    return num >> ID_BITS, low


def add_id(frame: pd.DataFrame, column: str, num: np.ndarray, prefix: str) -> None:
    high, low = id_parts(num, prefix)
    frame[f"{column}_hi"] = high
    frame[f"{column}_lo"] = low


def segments(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner index and position-within-owner for rows repeated `counts` times per owner."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(len(owner)) - starts[owner]


def ramp_progress(day: np.ndarray, churn_day: np.ndarray, ramp: int) -> np.ndarray:
    """0 before the deterioration ramp (and for non-churners), rising linearly to 1 at churn."""
    progress = (day - (churn_day - ramp)) / ramp
    return np.where(churn_day >= 0, np.clip(progress, 0.0, 1.0), 0.0)


def thinned_days(rng: np.random.Generator, start: np.ndarray, end: np.ndarray,
                 rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson process per owner: uniform days in [start, end] at `rate` per day."""
    length = np.maximum(end - start + 1, 0)
    counts = rng.poisson(rate * length)
    owner, _ = segments(counts)
    day = start[owner] + np.floor(rng.random(len(owner)) * length[owner]).astype(np.int64)
    return owner, day


def few(n: int) -> int:
    return min(n // 2, max(2, n // 1000))
