"""Relation and column facts of the dbt project, read from dbt's target/manifest.json.

The gate config names dbt models (`stg_crm__accounts`); where they live
(`staging.stg_crm__accounts`) and which columns they document come from the manifest that
`dbt build` (or `dbt parse`) wrote, so they are stated once, in the dbt project. Column names
only: types are the SQL's job.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from customer_health.dbt_project import parse_project
from customer_health.errors import BadInputError
from customer_health.settings import DEFAULT_TARGET

MANIFEST_FILE = "manifest.json"
RELATION_TYPES = ("model", "seed", "snapshot")


class ManifestError(BadInputError):
    """The dbt manifest is missing, unreadable, or lacks a model the gate names."""


@dataclass(frozen=True)
class DbtRelation:
    """A dbt model (or seed) as built: `schema.alias`, and the columns its YAML documents."""

    name: str
    relation: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class DbtManifest:
    path: Path
    relations: Mapping[str, DbtRelation]  # by model name
    # Models the deployment switched off (e.g. those of an absent optional raw table).
    disabled: frozenset[str] = frozenset()

    def is_disabled(self, name: str) -> bool:
        """Whether model `name` exists but is switched off (a model unknown to dbt is not)."""
        return name in self.disabled and name not in self.relations

    def model(self, name: str) -> DbtRelation:
        try:
            return self.relations[name]
        except KeyError:
            raise ManifestError(f"{self.path} has no model named {name!r}") from None


def manifest_path(target_path: Path) -> Path:
    return Path(target_path) / MANIFEST_FILE


def load_manifest(path: Path) -> DbtManifest:
    """The project's models and seeds from a dbt manifest."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(
            f"no dbt manifest at {path}: run `dbt build` (or `dbt parse`) with that target path"
        ) from None
    except (OSError, ValueError) as error:
        raise ManifestError(f"cannot read the dbt manifest {path}: {error}") from error
    project = raw.get("metadata", {}).get("project_name")
    relations = {
        node["name"]: DbtRelation(
            name=node["name"],
            relation=f"{node['schema']}.{node.get('alias') or node['name']}",
            columns=tuple(node.get("columns") or {}),
        )
        for node in raw.get("nodes", {}).values()
        if node.get("resource_type") in RELATION_TYPES and node.get("package_name") == project
    }
    disabled = frozenset(
        node["name"]
        for nodes in (raw.get("disabled") or {}).values()
        for node in nodes
        if node.get("resource_type") in RELATION_TYPES and node.get("package_name") == project
    )
    return DbtManifest(path=Path(path), relations=relations, disabled=disabled)


def parse_manifest(target_path: Path) -> DbtManifest:
    """Parse the project into target_path (`dbt parse` of the deployment scored: no database)
    and read its manifest."""
    try:
        parse_project(Path(target_path), DEFAULT_TARGET)
    except BadInputError as error:
        raise ManifestError(str(error)) from error
    return load_manifest(manifest_path(target_path))


@contextmanager
def parsed_manifest() -> Iterator[DbtManifest]:
    """The project's manifest, parsed afresh in a temporary folder (for checks without a build)."""
    with tempfile.TemporaryDirectory(prefix="health_manifest_") as folder:
        yield parse_manifest(Path(folder))
