"""The project's own declarations, as dbt parses them: the raw tables form a complete input
contract, every mart is published with a contract and described, and what reads the raw tables
or the published marts follows the declarations."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from customer_health.dbt_project import ProjectFacts, load_manifest
from customer_health.errors import BadInputError
from customer_health.pipeline.publish import CURRENT_VIEWS_OF_HISTORY
from customer_health.settings import PROJECT_DIR

Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    """The project parsed by dbt's programmatic runner into a target folder of its own."""
    target_path = tmp_path_factory.mktemp("declarations_target")
    parsed = load_manifest(target_path, "duckdb")
    assert (target_path / "manifest.json").is_file()
    return parsed


def project_models(manifest: Manifest) -> dict[str, dict[str, Any]]:
    return {
        node["name"]: node for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "customer_health"
    }


def test_every_raw_column_is_typed_described_and_each_table_has_one_required_key(
    manifest: Manifest,
) -> None:
    tables = ProjectFacts.from_manifest(manifest).raw_tables

    assert len(tables) == 5
    for table in tables:
        assert table.columns, table.name
        untyped = [c.name for c in table.columns if not c.data_type or not c.description]
        assert untyped == [], f"{table.name}: columns without data_type or description"
        keys = [c for c in table.columns if c.key]
        assert len(keys) == 1 and keys[0].required, table.name


def test_every_mart_is_published_public_contracted_and_described(manifest: Manifest) -> None:
    marts = {
        name: node for name, node in project_models(manifest).items()
        if node["original_file_path"].startswith("models/marts/")
    }
    published = {model.name for model in ProjectFacts.from_manifest(manifest).published_models}

    assert published == set(marts)
    for name, node in marts.items():
        assert node["access"] == "public", name
        assert node["config"]["contract"]["enforced"], name
        assert node["description"].strip(), name
        undescribed = [c for c, entry in node["columns"].items() if not entry["description"]]
        assert undescribed == [], f"{name}: columns without a description"


def test_each_current_view_of_history_is_a_history_model_over_its_current_model(
    manifest: Manifest,
) -> None:
    """DuckDB publishes these current relations as views of one date of their history
    (customer_health/pipeline/publish.py): that is only the same rows if the history model is a
    view of the current model and nothing else."""
    models = project_models(manifest)
    for current, history in CURRENT_VIEWS_OF_HISTORY.items():
        assert models[current]["config"]["meta"]["published"] == "current", current
        assert models[history]["config"]["meta"]["published"] == "history", history
        assert models[history]["config"]["materialized"] == "view", history
        assert models[history]["depends_on"]["nodes"] == [models[current]["unique_id"]], history


def test_the_exposure_reads_exactly_the_published_models(manifest: Manifest) -> None:
    (exposure,) = manifest["exposures"].values()
    published = {
        f"model.customer_health.{model.name}"
        for model in ProjectFacts.from_manifest(manifest).published_models
    }

    assert set(exposure["depends_on"]["nodes"]) == published
    assert exposure["config"]["meta"]["reads_schema"] == "health"


def readers_of(manifest: Manifest, unique_id: str) -> list[str]:
    return [
        node_id for node_id, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and unique_id in node["depends_on"]["nodes"]
    ]


def test_every_raw_table_is_quarantined_and_staged_under_test(manifest: Manifest) -> None:
    """Each source has one base model, which the quarantine mart reads and a staging model
    stages, and that staging model carries the raw_rows_are_staged_or_quarantined test."""
    quarantine = manifest["nodes"]["model.customer_health.quarantined_source_rows"]
    tested = {
        node["attached_node"] for node in manifest["nodes"].values()
        if (node.get("test_metadata") or {}).get("name") == "raw_rows_are_staged_or_quarantined"
    }
    for table in ProjectFacts.from_manifest(manifest).raw_tables:
        source_id = f"source.customer_health.{table.source_name}.{table.name}"
        (base,) = readers_of(manifest, source_id)
        assert base in quarantine["depends_on"]["nodes"], f"{base}: add its depends_on line"
        staging = [node for node in readers_of(manifest, base) if node in tested]
        assert len(staging) == 1, f"{source_id}: no tested staging model"


def test_a_manifest_of_another_adapter_is_parsed_again(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"metadata": {"adapter_type": "postgres"}}')

    assert load_manifest(tmp_path, "duckdb")["metadata"]["adapter_type"] == "duckdb"


def test_a_project_that_does_not_parse_is_bad_input(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copy(PROJECT_DIR / "profiles.yml", project / "profiles.yml")
    (project / "dbt_project.yml").write_text(
        "name: broken\nversion: '1'\nconfig-version: 2\nprofile: customer_health\n"
    )
    (project / "models" / "m.sql").write_text("select {{ ref( }}")

    with pytest.raises(BadInputError, match="does not parse"):
        load_manifest(tmp_path / "target", "duckdb", project)
