"""The quality gate as blocking asset checks on the marts it audits before they are published."""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetsDefinition,
    multi_asset_check,
)

from customer_health.errors import GateFailedError
from customer_health.pipeline.run import gate_only
from health_dagster.metadata import summary_metadata
from health_dagster.pipeline import RETRY_POLICY, HealthPipeline, step_failure
from health_dagster.published import mart_key, published_models

GATE_CHECK = "quality_gate"


def build_quality_gate_checks(dbt_assets: AssetsDefinition) -> AssetChecksDefinition:
    specs = [
        AssetCheckSpec(
            GATE_CHECK,
            asset=mart_key(dbt_assets, model),
            blocking=True,
            description="The quality gate (gx/gate_config.yml) passes on what dbt built: inputs, "
            "candidate scores, drift against the published run. One verdict for every mart it "
            "guards; a failure keeps the health.* assets from being published.",
        )
        for model in published_models()
    ]

    @multi_asset_check(specs=specs, name=GATE_CHECK, retry_policy=RETRY_POLICY)
    def quality_gate(health: HealthPipeline) -> Iterator[AssetCheckResult]:
        """`health gate`: audit what dbt last built, publishing nothing."""
        run = health.run_step(gate_only, "gate")
        if run.error is not None and not isinstance(run.error, GateFailedError):
            raise step_failure(run)  # the gate could not be asked (bad input, engine down)
        metadata = summary_metadata(run.summary)
        for spec in specs:
            yield AssetCheckResult(
                asset_key=spec.asset_key,
                check_name=spec.name,
                passed=run.error is None,
                severity=AssetCheckSeverity.ERROR,
                metadata=metadata,
            )

    return quality_gate
