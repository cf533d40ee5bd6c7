"""What the dbt project declares that the Python steps need, read from dbt's manifest: the raw
tables (the sources, with their columns) and the relations published for BI (the models with
meta `published`: current or history). Each is declared once, in the dbt project.

The manifest is `<target path>/manifest.json`, written by every dbt parse and build. It is used
when it was parsed for the target's adapter and is newer than every file of the project;
otherwise `dbt parse` writes it first (in a child process, see parse_project). The manifest
rather than the YAML: dbt has then applied its own rules (Jinja rendered, dbt_project.yml configs
merged into each node, identifiers defaulted to names), so Python sees what dbt builds.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, overload

import yaml

from customer_health.deployment import DEPLOYMENT_ENV, current_deployment
from customer_health.errors import BadInputError
from customer_health.settings import (
    DEFAULT_TARGET,
    PROFILE_NAME,
    PROJECT_DIR,
    PROJECT_FILE,
    dbt_executable,
)

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
PROFILES_FILE = "profiles.yml"  # beside dbt_project.yml: every dbt call passes --profiles-dir
# Folders of the project's dbt files, and dbt's defaults for them.
PROJECT_PATH_KEYS = {
    "model-paths": ["models"],
    "macro-paths": ["macros"],
    "seed-paths": ["seeds"],
    "test-paths": ["tests"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
}
PUBLISHED_KINDS = ("current", "history")


def project_config(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """dbt_project.yml as written (vars unrendered, as dbt resolves them: literal values)."""
    return yaml.safe_load((project_dir / PROJECT_FILE).read_text(encoding="utf-8")) or {}


# ----------------------------------------------------------------------------- raw tables


@dataclass(frozen=True)
class RawColumn:
    name: str
    data_type: str | None
    description: str
    required: bool = False
    key: bool = False


@dataclass(frozen=True)
class RawTable:
    """A source table: `source_name.name` in dbt, `identifier` in the warehouse and on disk."""

    source_name: str
    name: str
    identifier: str
    schema: str
    columns: tuple[RawColumn, ...] = ()
    description: str = ""
    declared_in: str = ""  # the sources YAML, relative to the project

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def location(self, raw_data_dir: Path, file_format: str) -> Path:
        """Its raw file, `<identifier>.csv`, or folder of `<identifier>/*.parquet` (as the
        external_location in dbt_project.yml reads it on DuckDB)."""
        if file_format == "parquet":
            return raw_data_dir / self.identifier
        return raw_data_dir / f"{self.identifier}.csv"

    def expected_file(self, file_format: str) -> str:
        """What location() must hold, for messages."""
        if file_format == "parquet":
            return f"{self.identifier}/*.parquet"
        return f"{self.identifier}.csv"

    def is_present(self, raw_data_dir: Path, file_format: str) -> bool:
        location = self.location(raw_data_dir, file_format)
        if file_format == "parquet":
            return any(location.glob("*.parquet"))
        return location.is_file()


def _meta(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    return (entry.get("config") or {}).get("meta") or entry.get("meta") or {}


def raw_table(source: Mapping[str, Any]) -> RawTable:
    """A RawTable from a manifest source entry."""
    return RawTable(
        source_name=source["source_name"],
        name=source["name"],
        identifier=source.get("identifier") or source["name"],
        schema=source["schema"],
        description=source.get("description") or "",
        declared_in=source.get("original_file_path") or "",
        columns=tuple(
            RawColumn(
                name=column["name"],
                data_type=column.get("data_type"),
                description=column.get("description") or "",
                required=bool(_meta(column).get("required")),
                key=bool(_meta(column).get("key")),
            )
            for column in source.get("columns", {}).values()
        ),
    )


def missing_raw_files(
    tables: Sequence[RawTable], raw_data_dir: Path, file_format: str
) -> list[str]:
    """The raw files (or Parquet folders with at least one file) that are not there."""
    return [
        table.expected_file(file_format)
        for table in tables
        if not table.is_present(raw_data_dir, file_format)
    ]


# ----------------------------------------------------------------------------- published models


@dataclass(frozen=True)
class PublishedModel:
    """A model copied to schema `health` under its own name; `published` says when."""

    schema: str
    name: str
    published: str

    @property
    def relation(self) -> tuple[str, str]:
        return self.schema, self.name


def published_model(node: Mapping[str, Any]) -> PublishedModel | None:
    """The model's publication, from a manifest node (None when it is not published)."""
    published = _meta(node).get("published")
    if published is None:
        return None
    if published not in PUBLISHED_KINDS:
        raise BadInputError(
            f"model {node['name']}: meta published must be one of {', '.join(PUBLISHED_KINDS)}, "
            f"got {published!r}"
        )
    return PublishedModel(
        schema=node["schema"],
        name=node["name"],
        published=published,
    )


# ----------------------------------------------------------------------------- the project


@dataclass(frozen=True)
class ProjectFacts:
    """The raw tables and published models of one manifest."""

    raw_tables: tuple[RawTable, ...]
    published_models: tuple[PublishedModel, ...]

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> ProjectFacts:
        project = manifest["metadata"]["project_name"]
        sources = sorted(
            (
                s for s in manifest["sources"].values()
                if s["package_name"] == project and (s.get("meta") or {}).get("raw")
            ),
            key=lambda source: (source["source_name"], source["name"]),
        )
        models = [
            node for node in manifest["nodes"].values()
            if node["resource_type"] == "model" and node["package_name"] == project
        ]
        published = (published_model(node) for node in sorted(models, key=lambda n: n["name"]))
        return cls(
            raw_tables=tuple(raw_table(source) for source in sources),
            published_models=tuple(model for model in published if model is not None),
        )

    def relations(self, *published: str) -> tuple[tuple[str, str], ...]:
        """(schema, model) of the models published as `published` (current, history), in that
        order."""
        return tuple(
            model.relation
            for kind in published
            for model in self.published_models
            if model.published == kind
        )


def project_files(project_dir: Path = PROJECT_DIR) -> Iterator[Path]:
    """Every file dbt reads to parse the project."""
    config = project_config(project_dir)
    yield project_dir / PROJECT_FILE
    yield from (path for path in [project_dir / PROFILES_FILE] if path.exists())
    for key, default in PROJECT_PATH_KEYS.items():
        # seed-paths names the deployment's seed folder through an env var dbt renders
        folders = config.get(key) or default
        if key == "seed-paths":
            folders = [current_deployment(project_dir).seeds_dir]
        for folder in folders:
            yield from (path for path in (project_dir / folder).rglob("*") if path.is_file())


def manifest_is_fresh(
    manifest_path: Path, adapter_type: str, project_dir: Path = PROJECT_DIR
) -> bool:
    """Whether the manifest was parsed for this adapter after the last change to the project."""
    if not manifest_path.is_file():
        return False
    written = manifest_path.stat().st_mtime_ns
    if any(path.stat().st_mtime_ns > written for path in project_files(project_dir)):
        return False
    with manifest_path.open(encoding="utf-8") as handle:
        metadata = json.load(handle).get("metadata", {})
    return metadata.get("adapter_type") == adapter_type


# Written beside the manifest by parse_project: the vars and environment it parsed with.
PARSE_SIGNATURE_FILE = "health_parse_signature.json"


@dataclass(frozen=True)
class ParseContext:
    """What a dbt invocation renders the project with: its `--vars` and the environment variables
    the project and profile read (HEALTH_*, PG*). dbt re-parses the whole project when either
    differs from its last parse, so a parse done for a build uses the build's own."""

    dbt_vars: Mapping[str, object]
    env: Mapping[str, str]

    def signature(self) -> dict[str, Any]:
        rendered = {key: value for key, value in self.env.items()
                    if key.startswith(("HEALTH_", "PG"))}
        return {"vars": dict(self.dbt_vars), "env": dict(sorted(rendered.items()))}


def parse_project(
    target_path: Path, target: str, project_dir: Path = PROJECT_DIR,
    context: ParseContext | None = None,
) -> None:
    """`dbt parse` for the target, writing target_path/manifest.json (with the vars and
    environment of `context`, when given, so that a build with the same ones re-uses the parse).

    In a child process, not with dbtRunner in this one: dbt would leave its global state here
    (flags, the adapter, and multiprocessing locks that the command's hard exit then reports as
    leaked semaphores on stderr, after the one-line cause of a failure).
    """
    log.info("parsing the dbt project for %s (manifest in %s)", target, target_path)
    command = [
        dbt_executable(), "parse",
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target", target,
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
        "--quiet",
    ]
    if context is None:
        deployment = current_deployment(project_dir)
        context = ParseContext(deployment.dbt_vars, {**os.environ, **deployment.env()})
    command += ["--vars", json.dumps(dict(context.dbt_vars))]
    completed = subprocess.run(
        command, capture_output=True, text=True, check=False, env=dict(context.env)
    )
    if completed.returncode != 0:
        cause = " ".join((completed.stdout + completed.stderr).split()) or "see the dbt log"
        raise BadInputError(
            f"the dbt project does not parse: {cause[-600:]} ({target_path / 'logs' / 'dbt.log'})"
        )
    signature = json.dumps(context.signature())
    (target_path / PARSE_SIGNATURE_FILE).write_text(signature, encoding="utf-8")


def parse_for_build(
    target_path: Path, target: str, context: ParseContext, project_dir: Path = PROJECT_DIR
) -> None:
    """Parse the project as the coming build will (its vars and environment), unless the
    manifest is fresh and was parsed so already: the build then re-uses dbt's parse."""
    manifest_path = target_path / MANIFEST_FILE
    signature_path = target_path / PARSE_SIGNATURE_FILE
    if manifest_is_fresh(manifest_path, adapter_type(target, project_dir), project_dir) and (
        signature_path.is_file()
        and json.loads(signature_path.read_text(encoding="utf-8")) == context.signature()
    ):
        return
    parse_project(target_path, target, project_dir, context)
    _facts_of.cache_clear()


def default_target_path(project_dir: Path = PROJECT_DIR) -> Path:
    """dbt's target folder when none is given: $DBT_TARGET_PATH, else dbt_project.yml's."""
    folder = os.environ.get("DBT_TARGET_PATH") or project_config(project_dir).get("target-path")
    return project_dir / (folder or "target")


def adapter_type(target: str, project_dir: Path = PROJECT_DIR) -> str:
    """The adapter (engine type) of a profiles.yml target."""
    profiles = yaml.safe_load((project_dir / PROFILES_FILE).read_text(encoding="utf-8")) or {}
    outputs = (profiles.get(PROFILE_NAME) or {}).get("outputs") or {}
    if target not in outputs:
        raise BadInputError(f"{PROFILES_FILE} has no target {target!r} in profile {PROFILE_NAME}")
    return str(outputs[target]["type"])


def parsed_for_deployment(target_path: Path, project_dir: Path = PROJECT_DIR) -> bool:
    """Whether the manifest in target_path was parsed for the deployment scored now (its folder
    and vars): another deployment's manifest names other raw tables. A manifest without a
    signature of its own (a plain `dbt parse`, written after the last signature) counts as the
    bundled sample's."""
    deployment = current_deployment(project_dir)
    manifest_path = target_path / MANIFEST_FILE
    signature_path = target_path / PARSE_SIGNATURE_FILE
    if (
        not signature_path.is_file()
        or signature_path.stat().st_mtime_ns < manifest_path.stat().st_mtime_ns
    ):
        return deployment.is_sample
    signature = json.loads(signature_path.read_text(encoding="utf-8")) or {}
    parsed_vars = signature.get("vars") or {}
    parsed_folder = (signature.get("env") or {}).get(DEPLOYMENT_ENV)
    return parsed_folder == deployment.env().get(DEPLOYMENT_ENV) and all(
        parsed_vars.get(name) == value for name, value in deployment.dbt_vars.items()
    )


def load_manifest(
    target_path: Path, target: str = DEFAULT_TARGET, project_dir: Path = PROJECT_DIR
) -> dict[str, Any]:
    """The project's manifest for the target, parsed first when missing, stale, or parsed for
    another deployment."""
    manifest_path = target_path / MANIFEST_FILE
    if not manifest_is_fresh(
        manifest_path, adapter_type(target, project_dir), project_dir
    ) or not parsed_for_deployment(target_path, project_dir):
        parse_project(target_path, target, project_dir)
    with manifest_path.open(encoding="utf-8") as handle:
        return json.load(handle)


# The facts this process loaded last (a run loads them once, from its own target folder).
_last_loaded: list[ProjectFacts] = []


def project_facts(target_path: Path | None = None, target: str | None = None) -> ProjectFacts:
    """The project's facts from the manifest in target_path for target. Without arguments: those
    this process loaded last, else those of the default target folder and target."""
    if target_path is None and target is None and _last_loaded:
        return _last_loaded[0]
    facts = _facts_of((target_path or default_target_path()).resolve(), target or DEFAULT_TARGET)
    _last_loaded[:] = [facts]
    return facts


@cache
def _facts_of(target_path: Path, target: str) -> ProjectFacts:
    return ProjectFacts.from_manifest(load_manifest(target_path, target))


class PublishedRelations(Sequence[tuple[str, str]]):
    """(schema, model) of the models published as `published`, read from the manifest on first
    use (project_facts()), so importing this module parses nothing. A tuple in every other way."""

    def __init__(self, *published: str) -> None:
        self.published = published

    def _relations(self) -> tuple[tuple[str, str], ...]:
        return project_facts().relations(*self.published)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[tuple[str, str], ...]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._relations()[index]

    def __len__(self) -> int:
        return len(self._relations())

    def __add__(self, other: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return self._relations() + tuple(other)

    def __radd__(self, other: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return tuple(other) + self._relations()

    def __repr__(self) -> str:
        return f"PublishedRelations{self.published!r}"


# Relations BI reads: schema `health` holds copies of these dbt models (schema, model).
# Current scores: published by a refresh, for the latest as-of date it built.
CURRENT_MODELS = PublishedRelations("current")
# History and change explanations: the dates refreshes and backfills score.
HISTORY_MODELS = PublishedRelations("history")
PUBLISHED_MODELS = PublishedRelations(*PUBLISHED_KINDS)
