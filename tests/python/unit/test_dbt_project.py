"""Reading the project's declarations from dbt's manifest: raw tables, published models, when the
manifest must be parsed again, and the published-relation lists publish.py reads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from customer_health import dbt_project
from customer_health.dbt_project import (
    ProjectFacts,
    PublishedRelations,
    RawTable,
    manifest_is_fresh,
    missing_raw_files,
)
from customer_health.errors import BadInputError

PROJECT = "customer_health"


def source(
    source_name: str, name: str, identifier: str | None, columns: dict, raw: bool = True
) -> dict:
    return {
        "resource_type": "source", "package_name": PROJECT, "source_name": source_name,
        "name": name, "identifier": identifier, "schema": "raw", "columns": columns,
        "meta": {"raw": True} if raw else {},
    }


def column(name: str, meta: dict[str, Any], in_config: bool = True) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "data_type": "varchar", "description": f"{name}."}
    if in_config:
        entry["config"] = {"meta": meta, "tags": []}
    else:
        entry["meta"] = meta
    return entry


def model(name: str, meta: dict[str, Any], materialized: str = "table",
          package: str = PROJECT) -> dict[str, Any]:
    return {
        "resource_type": "model", "package_name": package, "name": name, "schema": "marts",
        "config": {"meta": meta, "materialized": materialized},
    }


def manifest(*entries: dict[str, Any]) -> dict[str, Any]:
    def uid(entry: dict[str, Any]) -> str:
        return f"{entry['resource_type']}.{entry['package_name']}.{entry['name']}"

    return {
        "metadata": {"project_name": PROJECT, "adapter_type": "duckdb"},
        "sources": {uid(e): e for e in entries if e["resource_type"] == "source"},
        "nodes": {uid(e): e for e in entries if e["resource_type"] != "source"},
    }


SAMPLE = manifest(
    source("crm", "accounts", "crm_export_accounts", {
        "account_id": column("account_id", {"required": True, "key": True}),
        "churn_flag": column("churn_flag", {}),
        "seats": column("seats", {"required": True}, in_config=False),
    }),
    source("billing", "subscriptions", None, {}),
    {**source("crm", "from_a_package", None, {}), "package_name": "other"},
    source("health", "customer_health_score_history", None, {}, raw=False),
    model("scores", {"published": "current"}),
    model("history", {"published": "history"}, materialized="incremental"),
    model("latest_changes", {"published": "history"}),
    model("int_points", {}),
    model("package_mart", {"published": "current"}, package="other"),
)


def test_raw_tables_come_from_the_project_sources_with_their_columns() -> None:
    tables = ProjectFacts.from_manifest(SAMPLE).raw_tables

    assert [(t.source_name, t.name, t.identifier, t.schema) for t in tables] == [
        ("billing", "subscriptions", "subscriptions", "raw"),  # identifier defaults to the name
        ("crm", "accounts", "crm_export_accounts", "raw"),
    ]
    accounts = tables[1]
    assert accounts.required_columns == ["account_id", "seats"]
    assert [c.name for c in accounts.columns if c.key] == ["account_id"]
    assert accounts.columns[0].data_type == "varchar"


def test_published_models_by_kind() -> None:
    facts = ProjectFacts.from_manifest(SAMPLE)

    assert facts.relations("current") == (("marts", "scores"),)
    assert facts.relations("history") == (("marts", "history"), ("marts", "latest_changes"))
    assert facts.relations("current", "history")[0] == ("marts", "scores")


def test_an_unknown_publication_kind_is_refused() -> None:
    with pytest.raises(BadInputError, match="published must be one of current, history"):
        ProjectFacts.from_manifest(manifest(model("scores", {"published": "yes"})))


def test_raw_files_are_named_by_the_identifier(tmp_path: Path) -> None:
    table = RawTable("crm", "accounts", "crm_export_accounts", "raw")
    (tmp_path / "crm_export_accounts.csv").write_text("account_id\n")
    (tmp_path / "crm_export_accounts").mkdir()

    assert table.location(tmp_path, "csv") == tmp_path / "crm_export_accounts.csv"
    assert missing_raw_files([table], tmp_path, "csv") == []
    # A Parquet folder counts only with a file in it.
    assert missing_raw_files([table], tmp_path, "parquet") == ["crm_export_accounts/*.parquet"]
    (tmp_path / "crm_export_accounts" / "part-0.parquet").write_bytes(b"")
    assert missing_raw_files([table], tmp_path, "parquet") == []
    renamed = RawTable("crm", "accounts", "accounts_v2", "raw")
    assert missing_raw_files([renamed], tmp_path, "csv") == ["accounts_v2.csv"]


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    """A project folder with the files dbt parses, and a manifest written after them."""
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\nmodel-paths: [models]\n")
    (project / "models" / "m.sql").write_text("select 1")
    (project / "profiles.yml").write_text(
        "customer_health:\n  outputs:\n    local: {type: duckdb, path: x.duckdb}\n"
    )
    target = project / "target"
    target.mkdir()
    (target / "manifest.json").write_text(json.dumps({"metadata": {"adapter_type": "duckdb"}}))
    return project


def touch_later(path: Path, than: Path) -> None:
    later = than.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))


def test_a_manifest_is_fresh_until_a_project_file_changes(small_project: Path) -> None:
    manifest_path = small_project / "target" / "manifest.json"

    assert manifest_is_fresh(manifest_path, "duckdb", small_project)
    assert not manifest_is_fresh(manifest_path, "postgres", small_project)  # another adapter
    assert not manifest_is_fresh(small_project / "target" / "none.json", "duckdb", small_project)
    touch_later(small_project / "models" / "m.sql", than=manifest_path)
    assert not manifest_is_fresh(manifest_path, "duckdb", small_project)


def test_a_stale_manifest_is_parsed_again_and_a_fresh_one_is_not(
    small_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    monkeypatch.setattr(
        dbt_project, "parse_project", lambda path, target, project_dir: parses.append(target)
    )
    target_path = small_project / "target"

    dbt_project.load_manifest(target_path, "local", small_project)
    assert parses == []
    touch_later(small_project / "dbt_project.yml", than=target_path / "manifest.json")
    dbt_project.load_manifest(target_path, "local", small_project)
    assert parses == ["local"]


def test_the_adapter_of_a_target_comes_from_the_profile(small_project: Path) -> None:
    assert dbt_project.adapter_type("local", small_project) == "duckdb"
    with pytest.raises(BadInputError, match="no target 'prod'"):
        dbt_project.adapter_type("prod", small_project)


def test_published_relations_read_the_manifest_only_when_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    current, history = PublishedRelations("current"), PublishedRelations("history")
    loads: list[int] = []

    def facts() -> ProjectFacts:
        loads.append(1)
        return ProjectFacts.from_manifest(SAMPLE)

    monkeypatch.setattr(dbt_project, "project_facts", facts)
    assert loads == []
    # publish.py uses them as tuples: membership, concatenation either way, iteration.
    assert ("marts", "scores") in current
    assert () + history == tuple(history)  # noqa: RUF005 (as publish.py concatenates)
    assert current + history == (
        ("marts", "scores"), ("marts", "history"), ("marts", "latest_changes")
    )
    assert [name for _, name in history] == ["history", "latest_changes"]
    assert history[-1] == ("marts", "latest_changes")
    assert loads
