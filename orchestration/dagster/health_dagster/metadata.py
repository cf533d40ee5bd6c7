"""A run summary as Dagster metadata: the figures to chart and alert on, and the whole summary."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from dagster import MetadataValue

from customer_health.pipeline.run_summary import RunSummary


def summary_metadata(summary: RunSummary) -> dict[str, Any]:
    checks = summary.checks
    metadata: dict[str, Any] = {
        "run_id": summary.run_id,
        "status": summary.status,
        "exit_code": summary.exit_code,
        "as_of_dates": ", ".join(summary.as_of_dates),
        "checks_passed": checks.passed,
        "checks_failed": checks.failed,
        "checks_warned": checks.warned,
        "failing_checks": MetadataValue.json(checks.failing),
        "warning_checks": MetadataValue.json(checks.warning),
        "timings": MetadataValue.json(summary.timings),
        "run_summary": MetadataValue.json(asdict(summary)),
    }
    if summary.accounts_scored is not None:
        metadata["accounts_scored"] = summary.accounts_scored
    return metadata
