"""The `health` pipeline as a Dagster resource: where it runs, and its library steps run with
a run summary that is recorded as the command line records it (<target path>/runs/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dagster import Backoff, ConfigurableResource, Failure, RetryPolicy

from customer_health.cli.app import as_expected_failure
from customer_health.errors import HealthError
from customer_health.pipeline.run import DEFAULT_TARGET_PATH, RunOptions
from customer_health.pipeline.run_summary import RunSummary
from customer_health.settings import DEFAULT_TARGET
from health_dagster.metadata import summary_metadata

# Retries for the steps that run the library: only failures marked retryable (the lock is held,
# the engine or machine failed) are retried; the others fail at once (`Failure.allow_retries`).
RETRY_POLICY = RetryPolicy(max_retries=3, delay=300, backoff=Backoff.EXPONENTIAL)

Step = Callable[[RunOptions, RunSummary], None]


@dataclass(frozen=True)
class StepRun:
    summary: RunSummary
    error: HealthError | None


class HealthPipeline(ConfigurableResource):
    """The dbt target (engine) and the dbt target folder the pipeline's steps use (the gate reads
    its manifest.json; run summaries go to its runs/); the DuckDB file and raw data come from
    HEALTH_DB_PATH and HEALTH_RAW_DATA_DIR, as for `health`."""

    target: str = DEFAULT_TARGET
    target_path: str = str(DEFAULT_TARGET_PATH)

    def run_options(self) -> RunOptions:
        return RunOptions(
            target=self.target, target_path=Path(self.target_path).resolve(), show_progress=False
        )

    def run_step(self, step: Step, command: str) -> StepRun:
        """Run a step of customer_health.pipeline.run (gate_only, publish_built) and record its
        summary; its typed failure is returned, not raised."""
        options = self.run_options()
        summary = RunSummary(command=command, target=options.target)
        error: HealthError | None = None
        try:
            step(options, summary)
        except Exception as caught:
            error = as_expected_failure(caught)
            if error is None:  # a bug: Dagster shows its traceback
                raise
        summary.record_outcome(error)
        summary.write(options.target_path)
        return StepRun(summary, error)


def step_failure(run: StepRun) -> Failure:
    """The Dagster failure for a failed step, retried only when its error is retryable."""
    assert run.error is not None
    return Failure(
        description=str(run.error),
        metadata=summary_metadata(run.summary),
        allow_retries=run.error.retryable,
    )


@contextmanager
def failures_for_health_errors() -> Iterator[None]:
    """Turn the pipeline's typed failures raised in the block into Dagster failures."""
    try:
        yield
    except Exception as caught:
        error = as_expected_failure(caught)
        if error is None:  # a bug: Dagster shows its traceback
            raise
        raise Failure(
            description=str(error),
            metadata={"status": error.status, "exit_code": error.exit_code},
            allow_retries=error.retryable,
        ) from caught
