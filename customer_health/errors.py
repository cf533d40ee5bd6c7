"""The failures a run can end in, each with the exit code an orchestrator acts on.

Library code raises these; only the command-line boundary (customer_health.cli) turns them into
an exit code and a one-line cause. 0 means published / done.
"""

from __future__ import annotations


class HealthError(Exception):
    """An expected failure: printed as one line, no traceback."""

    exit_code = 1
    status = "failed"
    # Whether rerunning unchanged may succeed (an orchestrator retries these, and only these).
    retryable = False


class BuildFailedError(HealthError):
    """dbt build failed: a model did not build or a dbt test failed (fix the data or models)."""

    exit_code = 1
    status = "build_failed"

    def __init__(self, message: str, failing_nodes: list[str] | None = None) -> None:
        super().__init__(message)
        self.failing_nodes = failing_nodes or []


class GateFailedError(HealthError):
    """The quality gate blocked the publish (the data is suspect)."""

    exit_code = 2
    status = "gate_failed"


class LockedError(HealthError):
    """Another refresh holds the lock on this warehouse (retry when it has finished)."""

    exit_code = 3
    status = "locked"
    retryable = True


class BadInputError(HealthError):
    """Bad arguments, a missing folder or file, or a bad configuration (fix, then rerun)."""

    exit_code = 4
    status = "bad_input"


class InfrastructureError(HealthError):
    """The engine or the machine failed: unreachable, in use, disk full (retry later)."""

    exit_code = 5
    status = "infrastructure"
    retryable = True


class InterruptedRunError(HealthError):
    """SIGINT or SIGTERM: the run stopped and published nothing."""

    exit_code = 130
    status = "interrupted"
    retryable = True


EXIT_OK = 0

EXIT_CODES = {
    EXIT_OK: "published / done",
    BuildFailedError.exit_code: "dbt build or a dbt test failed",
    GateFailedError.exit_code: "quality gate failed",
    LockedError.exit_code: "another refresh holds the lock",
    BadInputError.exit_code: "bad input or arguments",
    InfrastructureError.exit_code: "infrastructure failure, retryable",
    InterruptedRunError.exit_code: "interrupted, nothing published",
}
