"""The publish as the assets BI reads: schema `health`, downstream of the marts."""

from collections.abc import Iterator

from dagster import AssetsDefinition, AssetSpec, MaterializeResult, multi_asset

from customer_health.pipeline.run import publish_built
from customer_health.settings import PUBLISHED_SCHEMA
from health_dagster.metadata import summary_metadata
from health_dagster.pipeline import RETRY_POLICY, HealthPipeline, step_failure
from health_dagster.published import mart_key, published_key, published_models


def build_publish_assets(dbt_assets: AssetsDefinition) -> AssetsDefinition:
    specs = [
        AssetSpec(
            published_key(model),
            deps=[mart_key(dbt_assets, model)],
            group_name=PUBLISHED_SCHEMA,
            kinds={"python"},
            description=f"{PUBLISHED_SCHEMA}.{model}: the audited copy of the dbt model "
            f"{model} that BI reads, replaced only by a publish whose quality gate passed.",
        )
        for model in published_models()
    ]

    @multi_asset(specs=specs, name=f"publish_{PUBLISHED_SCHEMA}", retry_policy=RETRY_POLICY)
    def publish(health: HealthPipeline) -> Iterator[MaterializeResult]:
        """`health publish`: under the refresh lock, gate what dbt last built again (another
        build may have run since the checks) and publish it; on any failure nothing changes."""
        run = health.run_step(publish_built, "publish")
        if run.error is not None:
            raise step_failure(run)
        metadata = summary_metadata(run.summary)
        for spec in specs:
            yield MaterializeResult(asset_key=spec.key, metadata=metadata)

    return publish
