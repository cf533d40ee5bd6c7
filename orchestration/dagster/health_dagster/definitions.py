"""The Dagster definitions of the gated refresh: dbt assets -> quality-gate checks on the marts
-> health.* assets, the job that runs them all (dbt build -> gate -> publish) and its daily
schedule (off until turned on). `defs` is the code location (workspace.yaml beside this
package); it reads the manifest when Dagster loads it."""

from __future__ import annotations

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    definitions,
)
from dagster_dbt import DbtCliResource, DbtProject

from customer_health.pipeline.dbt import dbt_executable
from customer_health.settings import DEFAULT_TARGET
from health_dagster.dbt_build import build_dbt_assets, dbt_project
from health_dagster.pipeline import HealthPipeline
from health_dagster.publish import build_publish_assets
from health_dagster.quality_gate import build_quality_gate_checks

REFRESH_JOB = "health_refresh"
REFRESH_SCHEDULE = "0 6 * * *"


def build_definitions(project: DbtProject) -> Definitions:
    """The gate and the publish use the project's dbt target folder, as `health` does: the gate
    reads the same manifest as the asset graph, and run summaries go to its runs/."""
    dbt_assets = build_dbt_assets(project)
    refresh = define_asset_job(REFRESH_JOB, selection=AssetSelection.all())
    pipeline = HealthPipeline(
        target=project.target or DEFAULT_TARGET,
        target_path=str(project.project_dir / project.target_path),
    )
    return Definitions(
        assets=[dbt_assets, build_publish_assets(dbt_assets)],
        asset_checks=[build_quality_gate_checks(dbt_assets)],
        jobs=[refresh],
        schedules=[
            ScheduleDefinition(
                job=refresh,
                cron_schedule=REFRESH_SCHEDULE,
                default_status=DefaultScheduleStatus.STOPPED,
            )
        ],
        resources={
            "dbt": DbtCliResource(project_dir=project, dbt_executable=dbt_executable()),
            "health": pipeline,
        },
    )


@definitions
def defs() -> Definitions:
    return build_definitions(dbt_project())
