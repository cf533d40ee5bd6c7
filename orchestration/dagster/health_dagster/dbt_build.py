"""The dbt project as Dagster assets (dagster-dbt), built as `health refresh` builds it."""

import json
import os
from collections.abc import Iterator
from typing import Any

from dagster import AssetExecutionContext, AssetsDefinition, Failure
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.errors import DagsterDbtCliRuntimeError

from customer_health.pipeline.run import prepared_build
from customer_health.settings import DEFAULT_TARGET, PROJECT_DIR
from health_dagster.pipeline import RETRY_POLICY, HealthPipeline, failures_for_health_errors


def dbt_target() -> str:
    """The dbt target (engine) to run on: $DBT_TARGET, as dbt reads it, else the default."""
    return os.environ.get("DBT_TARGET", DEFAULT_TARGET)


def dbt_project() -> DbtProject:
    """The project `health` works on ($HEALTH_PROJECT_DIR, ...), its manifest in the dbt target
    folder ($DBT_TARGET_PATH, else target/): `dbt parse` writes it, and so does every build."""
    return DbtProject(
        project_dir=PROJECT_DIR,
        target_path=os.environ.get("DBT_TARGET_PATH", "target"),
        target=dbt_target(),
    )


def build_dbt_assets(project: DbtProject) -> AssetsDefinition:
    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        name="customer_health_dbt",
        retry_policy=RETRY_POLICY,
    )
    def customer_health_dbt(
        context: AssetExecutionContext, dbt: DbtCliResource, health: HealthPipeline
    ) -> Iterator[Any]:
        """`dbt build` under the refresh lock, after the steps that precede every build of the
        pipeline (raw inputs checked), with the vars a refresh passes (the scoring-config
        version). It publishes nothing; its history models read the published history."""
        options = health.run_options()
        with failures_for_health_errors(), prepared_build(options) as dbt_vars:
            # dbt gets the DuckDB file and raw data folder as absolute paths, as `health` gives them
            os.environ.update(options.paths().dbt_env())
            try:
                yield from dbt.cli(
                    ["build", "--vars", json.dumps(dbt_vars)], context=context
                ).stream()
            except DagsterDbtCliRuntimeError as error:  # a model or test failed: fix, not retry
                raise Failure(description=str(error), allow_retries=False) from error

    return customer_health_dbt
