"""Where the dbt project is, which engine a run uses, and where it reads and writes."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from customer_health.errors import BadInputError

PROJECT_FILE = "dbt_project.yml"


def find_project_dir() -> Path:
    """The dbt project a command works on: $HEALTH_PROJECT_DIR, else the nearest folder at or
    above the working directory holding dbt_project.yml (as dbt finds it), else the checkout
    this package was installed from."""
    if os.environ.get("HEALTH_PROJECT_DIR"):
        return Path(os.environ["HEALTH_PROJECT_DIR"]).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return Path(__file__).resolve().parent.parent


PROJECT_DIR = find_project_dir()
# The profiles.yml profile, and its targets (engines) the pipeline runs on.
PROFILE_NAME = "customer_health"
DEFAULT_TARGET = "duckdb"

# Relations BI reads: schema `health` holds copies of these dbt models (schema.model).
# Current scores: published by a refresh, for the latest as-of date it built.
CURRENT_MODELS: tuple[tuple[str, str], ...] = (
    ("marts", "customer_health_scores"),
    ("marts", "customer_health_score_components"),
    ("marts", "quarantined_source_rows"),
    ("marts", "at_risk_accounts"),
    ("marts", "promoter_accounts"),
    ("marts", "upsell_candidates"),
)
# History and change explanations: published by refreshes and backfills alike.
HISTORY_MODELS: tuple[tuple[str, str], ...] = (
    ("marts", "customer_health_score_history"),
    ("marts", "customer_health_score_component_history"),
    ("marts", "customer_health_score_changes"),
    ("marts", "customer_health_score_change_attribution"),
    ("marts", "newly_at_risk_accounts"),
)
PUBLISHED_MODELS = CURRENT_MODELS + HISTORY_MODELS
PUBLISHED_SCHEMA = "health"
# Spark has no multi-table transaction: each publish writes tables of its own in this schema, and
# the relations in `health` are views switched to them last (see publish.py).
PUBLISHED_VERSIONS_SCHEMA = "health_versions"
PUBLISH_LOG_TABLE = f"{PUBLISHED_SCHEMA}.publish_log"

# Schema of the raw tables on PostgreSQL and Spark (the dbt var raw_schema; `load_raw.py` fills it).
RAW_SCHEMA = "raw"
RAW_TABLES = (
    "ravenstack_accounts",
    "ravenstack_subscriptions",
    "ravenstack_feature_usage",
    "ravenstack_support_tickets",
    "ravenstack_churn_events",
)


@dataclass(frozen=True)
class PipelinePaths:
    """Which engine the pipeline runs on, where it reads raw data from and (DuckDB) writes to."""

    db_path: Path
    raw_data_dir: Path
    target: str = DEFAULT_TARGET

    @classmethod
    def resolve(
        cls,
        db_path: str | None = None,
        raw_data_dir: str | None = None,
        target: str = DEFAULT_TARGET,
    ) -> PipelinePaths:
        """Arguments win over env vars (HEALTH_DB_PATH, HEALTH_RAW_DATA_DIR), then defaults.

        Also fixes HEALTH_SPARK_DIR (Spark's warehouse and metastore) to an absolute folder, so
        that dbt and the Python steps find the same one whatever folder they run from.
        """
        default_db = str(PROJECT_DIR / "customer_health.duckdb")
        db = db_path or os.environ.get("HEALTH_DB_PATH") or default_db
        raw = (
            raw_data_dir
            or os.environ.get("HEALTH_RAW_DATA_DIR")
            or str(PROJECT_DIR / "data" / "ravenstack")
        )
        os.environ["HEALTH_SPARK_DIR"] = str(
            Path(os.environ.get("HEALTH_SPARK_DIR") or PROJECT_DIR / "target" / "spark").resolve()
        )
        paths = cls(db_path=Path(db).resolve(), raw_data_dir=Path(raw).resolve(), target=target)
        if target == "duckdb" and paths.db_path.stem == PUBLISHED_SCHEMA:
            raise BadInputError(
                f"the DuckDB file may not be named {paths.db_path.name}: DuckDB names the catalog "
                f"after the file, and a catalog '{PUBLISHED_SCHEMA}' would make "
                f"'{PUBLISHED_SCHEMA}.<table>' ambiguous for BI tools"
            )
        return paths

    @property
    def lock_anchor(self) -> Path:
        """The file a local refresh lock is named after (the DuckDB file, or Spark's folder)."""
        if self.target == "spark":
            return Path(os.environ["HEALTH_SPARK_DIR"]) / "warehouse"
        return self.db_path

    def dbt_env(self) -> dict[str, str]:
        """Environment for dbt: absolute paths, telemetry off."""
        env = dict(os.environ)
        env.update(
            HEALTH_DB_PATH=str(self.db_path),
            HEALTH_RAW_DATA_DIR=str(self.raw_data_dir),
            DBT_SEND_ANONYMOUS_USAGE_STATS="False",
            DO_NOT_TRACK="1",
            GX_ANALYTICS_ENABLED="False",
        )
        return env


def raw_data_format() -> str:
    """csv (default) or parquet, from HEALTH_RAW_DATA_FORMAT, as the dbt sources read it."""
    return os.environ.get("HEALTH_RAW_DATA_FORMAT", "csv")


def missing_raw_files(raw_data_dir: Path) -> list[str]:
    """Expected raw CSV files, or Parquet folders with at least one file, that are not there."""
    if raw_data_format() == "parquet":
        return [
            f"{name}/*.parquet"
            for name in RAW_TABLES
            if not any((raw_data_dir / name).glob("*.parquet"))
        ]
    return [f"{name}.csv" for name in RAW_TABLES if not (raw_data_dir / f"{name}.csv").is_file()]


def scoring_config_version() -> str:
    """Short hash of every scoring-configuration seed, so a score can be traced to its rules."""
    digest = hashlib.sha256()
    for seed in sorted((PROJECT_DIR / "seeds").glob("*.csv")):
        digest.update(seed.name.encode())
        digest.update(seed.read_bytes().replace(b"\r\n", b"\n"))
    return digest.hexdigest()[:12]
