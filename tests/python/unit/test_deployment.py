"""A deployment folder gives dbt its seeds and vars and the pipeline its raw data; mistakes in
deployment.yml are refused with the file and the key named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from customer_health.dbt_project import (
    PARSE_SIGNATURE_FILE,
    ParseContext,
    parsed_for_deployment,
)
from customer_health.deployment import DeploymentError, current_deployment, load_deployment
from customer_health.scoring_config import scoring_config_version
from customer_health.settings import PROJECT_DIR

EXAMPLE = PROJECT_DIR / "deployments" / "contracts_example"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder (dbt_project.yml and the sample's seeds) to put deployments in."""
    shutil.copy(PROJECT_DIR / "dbt_project.yml", tmp_path / "dbt_project.yml")
    shutil.copytree(PROJECT_DIR / "seeds", tmp_path / "seeds")
    return tmp_path


def write_deployment(folder: Path, config: object) -> Path:
    (folder / "seeds").mkdir(parents=True, exist_ok=True)
    (folder / "deployment.yml").write_text(yaml.safe_dump(config))
    return folder


def test_without_a_deployment_the_bundled_sample_is_scored(monkeypatch) -> None:
    monkeypatch.delenv("HEALTH_DEPLOYMENT", raising=False)
    monkeypatch.delenv("HEALTH_RAW_DATA_FORMAT", raising=False)
    sample = current_deployment(PROJECT_DIR)

    assert sample.is_sample
    assert sample.seeds_dir == PROJECT_DIR / "seeds"
    assert sample.raw_data_dir == PROJECT_DIR / "data" / "ravenstack"
    assert dict(sample.dbt_vars) == {}
    assert "HEALTH_DEPLOYMENT" not in sample.env()


def test_the_example_deployment_names_its_seeds_data_and_vars(monkeypatch) -> None:
    monkeypatch.setenv("HEALTH_DEPLOYMENT", "deployments/contracts_example")
    monkeypatch.delenv("HEALTH_RAW_DATA_FORMAT", raising=False)
    example = current_deployment(PROJECT_DIR)

    assert example.folder == EXAMPLE
    assert example.seeds_dir == EXAMPLE / "seeds"
    assert example.raw_data_dir == EXAMPLE / "data"
    assert example.dbt_vars["raw_identifiers"]["crm.accounts"] == "customers"
    # dbt gets it relative: an absolute seed path would make dbt write compiled SQL over the CSVs
    assert example.env() == {
        "HEALTH_RAW_DATA_FORMAT": "csv", "HEALTH_DEPLOYMENT": "deployments/contracts_example",
    }


def test_the_environment_wins_over_the_deployment_for_the_file_format(monkeypatch) -> None:
    monkeypatch.setenv("HEALTH_RAW_DATA_FORMAT", "parquet")

    assert load_deployment(EXAMPLE, PROJECT_DIR).raw_data_format == "parquet"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"vars": {"absent_raw_table": ["x.y"]}}, r"unknown key\(s\) \['absent_raw_table'\]"),
        ({"raw": {"dir": "data"}}, r"unknown key\(s\) \['raw'\]"),
        ({"raw_data": {"format": "xlsx"}}, "raw_data.format is 'xlsx'"),
        ({"vars": ["disabled_metrics"]}, "vars must be a mapping"),
    ],
)
def test_a_mistake_in_deployment_yml_is_refused(
    project: Path, monkeypatch, config: object, message: str
) -> None:
    monkeypatch.delenv("HEALTH_RAW_DATA_FORMAT", raising=False)
    folder = write_deployment(project / "deployments" / "mine", config)

    with pytest.raises(DeploymentError, match=message):
        load_deployment(folder, project)


def test_a_folder_without_deployment_yml_or_seeds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match=r"has no deployment\.yml"):
        load_deployment(tmp_path, tmp_path)
    (tmp_path / "deployment.yml").write_text("vars: {}\n")
    with pytest.raises(DeploymentError, match="has no seeds/"):
        load_deployment(tmp_path, tmp_path)


def test_a_folder_outside_the_project_is_refused(tmp_path: Path) -> None:
    folder = write_deployment(tmp_path / "elsewhere", {})

    with pytest.raises(DeploymentError, match="is outside the project"):
        load_deployment(folder, PROJECT_DIR)


def test_the_scoring_config_version_hashes_the_deployments_seeds(
    project: Path, monkeypatch
) -> None:
    monkeypatch.delenv("HEALTH_DEPLOYMENT", raising=False)
    sample_version = scoring_config_version(project_dir=project)
    folder = write_deployment(project / "deployments" / "copy", {})
    shutil.copytree(project / "seeds", folder / "seeds", dirs_exist_ok=True)
    monkeypatch.setenv("HEALTH_DEPLOYMENT", str(folder))

    assert scoring_config_version(project_dir=project) == sample_version  # same seeds and vars
    bands = folder / "seeds" / "scoring_bands.csv"
    bands.write_text(bands.read_text().replace("low activity", "quiet"))
    assert scoring_config_version(project_dir=project) != sample_version


def test_a_manifest_parsed_for_another_deployment_is_not_reused(
    tmp_path: Path, monkeypatch
) -> None:
    """The raw tables `health load` and the gate read come from the manifest: one parsed for the
    example (other tables) must be parsed again for the sample, and the other way round."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    monkeypatch.delenv("HEALTH_DEPLOYMENT", raising=False)
    assert parsed_for_deployment(tmp_path)  # a plain dbt parse: the sample's

    example = load_deployment(EXAMPLE, PROJECT_DIR)
    signature = ParseContext(example.dbt_vars, example.env()).signature()
    (tmp_path / PARSE_SIGNATURE_FILE).write_text(json.dumps(signature))
    assert not parsed_for_deployment(tmp_path)
    monkeypatch.setenv("HEALTH_DEPLOYMENT", str(EXAMPLE))
    assert parsed_for_deployment(tmp_path)


def test_the_engagement_example_scores_with_the_sample_s_seeds() -> None:
    """deployments/engagement_example proves the shipped engagement defaults: its seed folder
    (a deployment must hold one) is the sample's, file for file."""
    sample = sorted((PROJECT_DIR / "seeds").glob("*.csv"))
    example = PROJECT_DIR / "deployments" / "engagement_example" / "seeds"
    assert sample and sorted(path.name for path in example.glob("*.csv")) == [
        path.name for path in sample
    ]
    for path in sample:
        assert (example / path.name).read_bytes() == path.read_bytes(), path.name
