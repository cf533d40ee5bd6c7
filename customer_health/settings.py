"""Where the dbt project is, which engine a run uses, and where it reads and writes.

What the project itself declares (raw tables, published models) is read from dbt: see
customer_health.dbt_project."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from customer_health.deployment import Deployment, current_deployment
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


def deployment() -> Deployment:
    """The deployment a command scores ($HEALTH_DEPLOYMENT, else the bundled sample)."""
    return current_deployment(PROJECT_DIR)

# The profiles.yml profile, and its targets (engines) the pipeline runs on.
PROFILE_NAME = "customer_health"
DEFAULT_TARGET = "duckdb"

# Schema BI reads: copies of the models marked `published` (customer_health.dbt_project).
PUBLISHED_SCHEMA = "health"
# The scores model, and where BI reads the current scores.
SCORES_MODEL = "customer_health_scores"
PUBLISHED_SCORES = f"{PUBLISHED_SCHEMA}.{SCORES_MODEL}"
# Spark has no multi-table transaction: each publish writes tables of its own in this schema, and
# the relations in `health` are views switched to them last (see publish.py).
PUBLISHED_VERSIONS_SCHEMA = "health_versions"
PUBLISH_LOG_TABLE = f"{PUBLISHED_SCHEMA}.publish_log"
# Publishes kept for `health rollback` (the current one included): $HEALTH_PUBLISHES_KEPT, or 7.
PUBLISHES_KEPT = max(2, int(os.environ.get("HEALTH_PUBLISHES_KEPT") or 7))


@dataclass(frozen=True)
class PipelinePaths:
    """Which engine the pipeline runs on, where it reads raw data from and (DuckDB) writes to."""

    db_path: Path
    raw_data_dir: Path
    target: str = DEFAULT_TARGET
    # DuckDB: the private file dbt builds, audits and publishes in; db_path is the served file BI
    # reads (customer_health/pipeline/served_file.py). None elsewhere.
    working_db_path: Path | None = None

    @property
    def build_db_path(self) -> Path:
        """The DuckDB file dbt, the gate and the publish work in."""
        return self.working_db_path or self.db_path

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
            or str(deployment().raw_data_dir)
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
        """Environment for dbt: absolute paths, the deployment, telemetry off."""
        env = dict(os.environ)
        env.update(deployment().env())
        env.update(
            HEALTH_DB_PATH=str(self.db_path),
            HEALTH_RAW_DATA_DIR=str(self.raw_data_dir),
            DBT_SEND_ANONYMOUS_USAGE_STATS="False",
            DO_NOT_TRACK="1",
            GX_ANALYTICS_ENABLED="False",
        )
        return env


def dbt_executable() -> str:
    """The dbt command installed beside this Python, else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def raw_data_format() -> str:
    """csv (default) or parquet: HEALTH_RAW_DATA_FORMAT, else the deployment's, as the dbt sources
    read it."""
    return deployment().raw_data_format
