"""Options of the backtest and the weight calibration: which history they read, which score rows
they label, and where their reports go.

Plain data with no analysis imports, so that the command line builds them without loading pandas
or numpy (every `health` command imports the command-line modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from customer_health.settings import DEFAULT_TARGET, PROJECT_DIR, deployment

REPORTS_DIR = PROJECT_DIR / "reports"
WEIGHTS_SEED = "segment_weights.csv"
BANDS_SEED = "scoring_bands.csv"
DEFINITIONS_SEED = "metric_definitions.csv"
PROPOSED_FOLDER = "proposed"
# The seeds a proposal holds, in the order they are written and adopted.
PROPOSED_SEEDS = (BANDS_SEED, WEIGHTS_SEED)


def active_weights_seed() -> Path:
    """The weights seed of the deployment scored (the bundled sample's seeds/ by default)."""
    return deployment().seeds_dir / WEIGHTS_SEED


def active_seed(name: str) -> Path:
    """A seed of the deployment scored, by file name."""
    return deployment().seeds_dir / name


def default_proposal() -> Path:
    """Where a proposal goes by default: proposed/ beside the deployment's seeds (not loaded)."""
    return deployment().seeds_dir / PROPOSED_FOLDER / WEIGHTS_SEED

# How fitted coefficients become weights (see logit.raw_weights).
WEIGHT_RULES = ("standardized", "logit")
# Where the churn labels come from (see data.py): auto picks events when the churn-event relation
# exists, else snapshot when the account-outcome relation does.
LABEL_MODES = ("auto", "events", "snapshot")


@dataclass(frozen=True, kw_only=True)
class EvaluationOptions:
    """What both evaluations read and how they label it (see data.py for the labels).

    target: the dbt target to read (duckdb reads the file itself; postgres and spark are copied
    into a temporary local extract). db_path: the DuckDB file, duckdb target only (default
    $HEALTH_DB_PATH or customer_health.duckdb). label_mode: one of LABEL_MODES. date_from /
    date_to: the as-of dates used (snapshot mode: the snapshot is the latest as-of date in that
    range). horizon_days: churn within this many days after the as-of date is the label (events
    mode). observed_through: the last date outcomes are known for (events mode; default: the
    latest churn or usage date in the data). exclude_prior_churners: drop rows of accounts that
    churned on or before their as-of date (events mode). bootstrap / seed: resamples of accounts
    for the confidence intervals.
    """

    target: str = DEFAULT_TARGET
    db_path: Path | None = None
    label_mode: str = LABEL_MODES[0]
    date_from: date | None = None
    date_to: date | None = None
    horizon_days: int = 90
    observed_through: date | None = None
    exclude_prior_churners: bool = False
    bootstrap: int = 1000
    seed: int = 20240101


@dataclass(frozen=True, kw_only=True)
class BacktestOptions(EvaluationOptions):
    """out: the folder backtest.json, backtest.md and the plots are written to."""

    out: Path = REPORTS_DIR / "backtest"


@dataclass(frozen=True, kw_only=True)
class CalibrationOptions(EvaluationOptions):
    """holdout_from: as-of dates on or after it are held out (default: the latest third; with
    a single as-of date, as in snapshot mode, a third of the accounts is held out instead).
    purge_overlap: drop training rows whose label window reaches holdout_from.
    min_positives: churned training rows a segment needs for a fit of its own (else pooled).
    l2: penalty on standardised coefficients. weight_rule: one of WEIGHT_RULES.
    min_band_share / min_band_churned: the least share of a metric's training rows and the
    fewest churned rows a proposed band holds (band_fitting.py). keep_bands: propose weights
    for the active bands only (the proposed bands are the active ones).
    active_weights: the seed compared against (default: the deployment's). proposal: where the
    proposed weights seed goes (default: proposed/ beside it; never over an active seed, over an
    existing proposal only with force); the proposed scoring_bands.csv goes beside it.
    out: the report folder.
    """

    holdout_from: date | None = None
    purge_overlap: bool = False
    min_positives: int = 30
    l2: float = 1.0
    weight_rule: str = WEIGHT_RULES[0]
    min_band_share: float = 0.05
    min_band_churned: int = 20
    keep_bands: bool = False
    active_weights: Path | None = None
    proposal: Path | None = None
    force: bool = False
    out: Path = REPORTS_DIR / "calibration"

    @property
    def active_weights_path(self) -> Path:
        return self.active_weights or active_weights_seed()

    @property
    def proposal_path(self) -> Path:
        return self.proposal or default_proposal()

    @property
    def bands_proposal_path(self) -> Path:
        return self.proposal_path.parent / BANDS_SEED
