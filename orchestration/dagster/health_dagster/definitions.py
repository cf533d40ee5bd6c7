"""The Dagster definitions of the gated refresh: dbt assets -> quality-gate checks on the marts
-> health.* assets, the job that runs them all (dbt build -> gate -> publish) and its daily
schedule (off until turned on). `defs` is the code location (workspace.yaml beside this
package); it reads the manifest when Dagster loads it."""

from __future__ import annotations

from pathlib import Path

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
from customer_health.pipeline.run import DEFAULT_TARGET_PATH
from customer_health.settings import DEFAULT_TARGET
from health_dagster.dbt_build import build_dbt_assets, dbt_project
from health_dagster.pipeline import HealthPipeline
from health_dagster.publish import build_publish_assets
from health_dagster.quality_gate import build_quality_gate_checks

REFRESH_JOB = "health_refresh"
REFRESH_SCHEDULE = "0 6 * * *"


def build_definitions(project: DbtProject, target_path: Path = DEFAULT_TARGET_PATH) -> Definitions:
    """target_path: where run summaries (runs/) and the gate's GX context go, as for `health`."""
    dbt_assets = build_dbt_assets(project)
    refresh = define_asset_job(REFRESH_JOB, selection=AssetSelection.all())
    pipeline = HealthPipeline(target=project.target or DEFAULT_TARGET, target_path=str(target_path))
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
