"""The Dagster example (orchestration/dagster): its asset graph, a gated refresh run as Dagster
runs it, and a refresh the gate blocks. Needs dagster and dagster-dbt, which the project's own
environment does not install: `make test-orchestration` runs these in .venv-orchestration."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from helpers.fingerprint import health_fingerprint
from helpers.project import REPO_DIR, SAMPLE_DATA_DIR

from customer_health.scoring_config import scoring_config_version

pytest.importorskip(
    "dagster_dbt", reason="dagster-dbt is not installed here: run `make test-orchestration`"
)

from dagster import AssetKey, Definitions
from dagster_dbt import DbtProject
from health_dagster.definitions import REFRESH_JOB, build_definitions, defs
from health_dagster.published import published_models
from health_dagster.quality_gate import GATE_CHECK

MODELS = published_models()
RUN_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DAGSTER_DISABLE_TELEMETRY": "1",
}


@pytest.fixture(scope="module")
def dbt_target_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dbt target folder holding the project's manifest (`dbt parse`)."""
    target_path = tmp_path_factory.mktemp("dagster") / "target"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "parse", "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target-path", str(target_path), "--quiet"],
        env={**os.environ, **RUN_ENV, "HEALTH_DB_PATH": str(target_path / "parse.duckdb")},
        capture_output=True, text=True, check=False, cwd=REPO_DIR,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return target_path


@pytest.fixture(scope="module")
def definitions(dbt_target_path: Path) -> Definitions:
    """The code location as Dagster loads it (`defs`), on the parsed manifest."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_TARGET_PATH", str(dbt_target_path))
        env.setenv("DBT_TARGET", "duckdb")
        return defs()


def test_every_dbt_model_is_an_asset(definitions: Definitions, dbt_target_path: Path) -> None:
    manifest = json.loads((dbt_target_path / "manifest.json").read_text())
    models = {
        node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    asset_names = {key.path[-1] for key in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert models <= asset_names
    assert {AssetKey(["marts", model]) for model in MODELS} <= set(
        definitions.resolve_asset_graph().get_all_asset_keys()
    )


def test_the_published_relations_are_assets_downstream_of_their_marts(
    definitions: Definitions,
) -> None:
    graph = definitions.resolve_asset_graph()
    for model in MODELS:
        published = graph.get(AssetKey(["health", model]))
        assert published.parent_keys == {AssetKey(["marts", model])}


def test_the_gate_is_a_blocking_check_on_every_published_mart(definitions: Definitions) -> None:
    graph = definitions.resolve_asset_graph()
    gate_checks = {key for key in graph.asset_check_keys if key.name == GATE_CHECK}
    assert {key.asset_key for key in gate_checks} == {
        AssetKey(["marts", model]) for model in MODELS
    }
    assert all(graph.get_check_spec(key).blocking for key in gate_checks)
    dbt_test_checks = graph.asset_check_keys - gate_checks
    assert len(dbt_test_checks) > 100  # dbt's data tests, as dagster-dbt loads them


def test_the_refresh_job_selects_dbt_the_gate_and_the_publish(definitions: Definitions) -> None:
    job = definitions.resolve_job_def(REFRESH_JOB)
    steps = set(job.graph.node_dict)
    assert steps == {"customer_health_dbt", GATE_CHECK, "publish_health"}
    assert definitions.resolve_schedule_def(f"{REFRESH_JOB}_schedule").cron_schedule


@pytest.fixture(scope="module")
def published_run(dbt_target_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[Definitions, Path, pytest.MonkeyPatch]
]:
    """A refresh job run (dbt build -> gate -> publish) on the sample data, in a DuckDB file of
    its own; yields the definitions, the file and the environment it ran in."""
    folder = tmp_path_factory.mktemp("dagster_run")
    project = DbtProject(project_dir=REPO_DIR, target_path=dbt_target_path, target="duckdb")
    definitions = build_definitions(project)
    with pytest.MonkeyPatch.context() as env:
        for key, value in RUN_ENV.items():
            env.setenv(key, value)
        env.setenv("HEALTH_DB_PATH", str(folder / "customer_health.duckdb"))
        env.setenv("HEALTH_RAW_DATA_DIR", str(SAMPLE_DATA_DIR))
        env.setenv("DBT_TARGET_PATH", str(dbt_target_path))  # dagster-dbt's build folders
        result = definitions.resolve_job_def(REFRESH_JOB).execute_in_process(raise_on_error=False)
        assert result.success
        yield definitions, folder / "customer_health.duckdb", env


def test_a_refresh_run_publishes_stamped_scores_with_its_summary(
    published_run: tuple[Definitions, Path, pytest.MonkeyPatch], dbt_target_path: Path
) -> None:
    _, db_path, _ = published_run
    with duckdb.connect(str(db_path), read_only=True) as connection:
        versions = connection.execute(
            "select distinct scoring_config_version from health.customer_health_scores"
        ).fetchall()
        (run_id,) = connection.execute("select distinct run_id from health.publish_log").fetchone()
    assert versions == [(scoring_config_version(),)]
    summary = json.loads((dbt_target_path / "runs" / f"{run_id}.json").read_text())
    assert summary["command"] == "publish" and summary["status"] == "published"
    assert summary["accounts_scored"] > 0 and summary["checks"]["failed"] == 0


def test_a_gate_failure_fails_the_check_and_publishes_nothing(
    published_run: tuple[Definitions, Path, pytest.MonkeyPatch], tmp_path: Path
) -> None:
    definitions, db_path, env = published_run
    before = health_fingerprint(db_path)
    env.setenv("HEALTH_RAW_DATA_DIR", str(sample_with_stale_usage(tmp_path / "raw")))

    result = definitions.resolve_job_def(REFRESH_JOB).execute_in_process(raise_on_error=False)

    gate_results = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
        and event.asset_check_evaluation_data.check_name == GATE_CHECK
    ]
    assert len(gate_results) == len(MODELS) and not any(r.passed for r in gate_results)
    failing = gate_results[0].metadata["failing_checks"].value
    assert any(check.endswith(": freshness") for check in failing)
    assert not result.success
    assert "publish_health" not in {
        event.step_key for event in result.all_events if event.event_type_value == "STEP_SUCCESS"
    }
    assert health_fingerprint(db_path) == before


def sample_with_stale_usage(folder: Path) -> Path:
    """The sample data without product usage after 2024-09-30: dbt builds it, the gate's
    freshness check blocks it (the billing and support data run to the end of 2024)."""
    shutil.copytree(SAMPLE_DATA_DIR, folder)
    usage = folder / "ravenstack_feature_usage.csv"
    with usage.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    with usage.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row for row in rows if row["usage_date"] <= "2024-09-30")
    return folder
