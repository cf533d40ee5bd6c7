"""Which deployment a command scores: the bundled sample, or a folder of your own.

A deployment is everything that differs between two companies using the project, kept in one
folder so that a company's configuration never touches the sample's (which `make test` runs):

    deployments/<name>/
        deployment.yml   where the raw data is, and the dbt vars that describe it
        seeds/           the scoring configuration: a full set of the project's seeds
        data/            (optional) the raw files, when they live beside the configuration

$HEALTH_DEPLOYMENT (or `--deployment` on the `health` command) names the folder, inside the project
(absolute, or relative to the working directory or the project); unset, the bundled sample is
scored: the project's own seeds/, the vars in dbt_project.yml and data/ravenstack. dbt reads the
seed folder from $HEALTH_DEPLOYMENT too (`seed-paths` in dbt_project.yml), and every dbt command
`health` runs gets the deployment's vars, so `health refresh`, `health backfill`, `health backtest`
and the gate all see one deployment.
A plain `dbt build` needs both: `HEALTH_DEPLOYMENT=<folder> dbt build --vars "$(health
deployment-vars)"`.

deployment.yml:

    raw_data:
      dir: data          # folder of the raw files, relative to deployment.yml (DuckDB; load)
      format: csv        # csv or parquet
    vars:                # dbt vars: see the deployment vars at the end of `vars:` in
      raw_identifiers:   # dbt_project.yml (raw_identifiers, absent_raw_tables, disabled_metrics,
        crm.accounts: customers  # attribute_columns, attribute_metrics, snapshot_outcome_column)

$HEALTH_RAW_DATA_DIR, $HEALTH_RAW_DATA_FORMAT and `--raw-data-dir` still win over `raw_data`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from customer_health.errors import BadInputError

DEPLOYMENT_ENV = "HEALTH_DEPLOYMENT"
DEPLOYMENT_FILE = "deployment.yml"
SEEDS_FOLDER = "seeds"
SAMPLE_DATA_FOLDER = Path("data") / "ravenstack"
FILE_FORMATS = ("csv", "parquet")
DEPLOYMENT_KEYS = ("raw_data", "vars")
RAW_DATA_KEYS = ("dir", "format")


class DeploymentError(BadInputError):
    """A deployment folder or its deployment.yml cannot be used (bad input, exit 4)."""


@dataclass(frozen=True)
class Deployment:
    """A deployment: its folder (None = the bundled sample), seeds, raw data and dbt vars."""

    name: str
    folder: Path | None
    seeds_dir: Path
    # The folder relative to the project, as dbt gets it: dbt writes each seed's compiled SQL to
    # <target>/run/<project>/<seed path>, which an absolute seed path would make the CSV itself.
    project_folder: str | None
    raw_data_dir: Path
    raw_data_format: str = FILE_FORMATS[0]
    dbt_vars: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_sample(self) -> bool:
        return self.folder is None

    def env(self) -> dict[str, str]:
        """Environment variables dbt reads the deployment from (seed folder, raw file format)."""
        env = {"HEALTH_RAW_DATA_FORMAT": self.raw_data_format}
        if self.project_folder is not None:
            env[DEPLOYMENT_ENV] = self.project_folder
        return env


def sample_deployment(project_dir: Path) -> Deployment:
    return Deployment(
        name="sample",
        folder=None,
        seeds_dir=project_dir / SEEDS_FOLDER,
        project_folder=None,
        raw_data_dir=project_dir / SAMPLE_DATA_FOLDER,
        raw_data_format=os.environ.get("HEALTH_RAW_DATA_FORMAT") or FILE_FORMATS[0],
    )


def current_deployment(project_dir: Path) -> Deployment:
    """The deployment $HEALTH_DEPLOYMENT names, else the bundled sample, of the project in
    project_dir."""
    folder = os.environ.get(DEPLOYMENT_ENV)
    return load_deployment(Path(folder), project_dir) if folder else sample_deployment(project_dir)


def load_deployment(folder: Path, project_dir: Path) -> Deployment:
    """The deployment in `folder`: absolute, else relative to the working directory, else to
    project_dir."""
    if not folder.is_absolute() and not folder.is_dir():
        folder = project_dir / folder
    folder = folder.resolve()
    if not folder.is_relative_to(project_dir.resolve()):
        raise DeploymentError(
            f"deployment folder {folder} is outside the project {project_dir}: keep it inside "
            "(e.g. deployments/<name>/), where dbt can read its seeds"
        )
    config_file = folder / DEPLOYMENT_FILE
    if not config_file.is_file():
        raise DeploymentError(
            f"deployment folder {folder} has no {DEPLOYMENT_FILE} (${DEPLOYMENT_ENV} names a "
            f"folder holding {DEPLOYMENT_FILE} and {SEEDS_FOLDER}/)"
        )
    if not (folder / SEEDS_FOLDER).is_dir():
        raise DeploymentError(
            f"deployment folder {folder} has no {SEEDS_FOLDER}/: copy the project's seeds/ there "
            "and edit them"
        )
    config = _mapping(_read_yaml(config_file), str(config_file), DEPLOYMENT_KEYS)
    raw_data = _mapping(config.get("raw_data") or {}, f"{config_file}: raw_data", RAW_DATA_KEYS)
    dbt_vars = _mapping(
        config.get("vars") or {}, f"{config_file}: vars", project_var_names(project_dir)
    )
    file_format = os.environ.get("HEALTH_RAW_DATA_FORMAT") or raw_data.get("format") or "csv"
    if file_format not in FILE_FORMATS:
        raise DeploymentError(
            f"{config_file}: raw_data.format is {file_format!r}; choose {' or '.join(FILE_FORMATS)}"
        )
    return Deployment(
        name=folder.name,
        folder=folder,
        seeds_dir=folder / SEEDS_FOLDER,
        project_folder=folder.relative_to(project_dir.resolve()).as_posix(),
        raw_data_dir=(folder / str(raw_data.get("dir") or "data")).resolve(),
        raw_data_format=file_format,
        dbt_vars=dbt_vars,
    )


def project_var_names(project_dir: Path) -> tuple[str, ...]:
    """The vars dbt_project.yml defines: a deployment may set those only (a misspelt var would
    otherwise be ignored by dbt without a word)."""
    project = _read_yaml(project_dir / "dbt_project.yml") or {}
    return tuple(project.get("vars") or {})


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise DeploymentError(f"cannot read {path}: {error}") from error


def _mapping(value: Any, where: str, known: tuple[str, ...] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DeploymentError(f"{where} must be a mapping")
    unknown = sorted(set(value) - set(known)) if known is not None else []
    if unknown:
        raise DeploymentError(f"{where}: unknown key(s) {unknown}; known: {list(known or ())}")
    return value
