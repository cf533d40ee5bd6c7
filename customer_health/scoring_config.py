"""The version of the scoring configuration, stamped on every score row: a short hash of the seeds
and of the resolved values of the vars that change a score (listed by var `scoring_vars` in
dbt_project.yml), so a score can be traced to its rules and a change of rules is flagged."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from customer_health.dbt_project import project_config
from customer_health.deployment import current_deployment
from customer_health.errors import BadInputError
from customer_health.settings import PROJECT_DIR


def scoring_vars(
    dbt_vars: Mapping[str, object] | None = None, project_dir: Path = PROJECT_DIR
) -> dict[str, object]:
    """The scoring vars and their values in a run: its --vars, else dbt_project.yml's."""
    project_vars = project_config(project_dir).get("vars") or {}
    names = project_vars.get("scoring_vars") or []
    undefined = [name for name in names if name not in project_vars]
    if undefined:
        raise BadInputError(
            "var scoring_vars names vars that dbt_project.yml does not define: "
            + ", ".join(undefined)
        )
    resolved = {**project_vars, **(dbt_vars or {})}
    return {name: resolved[name] for name in names}


def scoring_config_version(
    dbt_vars: Mapping[str, object] | None = None, project_dir: Path = PROJECT_DIR
) -> str:
    """Short hash of every seed of the deployment (the active ones, not seeds/proposed/) and the
    scoring vars."""
    seed_dir = current_deployment(project_dir).seeds_dir
    digest = hashlib.sha256()
    for seed in sorted(seed_dir.glob("*.csv")):
        digest.update(seed.name.encode())
        digest.update(seed.read_bytes().replace(b"\r\n", b"\n"))
    digest.update(json.dumps(scoring_vars(dbt_vars, project_dir), sort_keys=True).encode())
    return digest.hexdigest()[:12]
