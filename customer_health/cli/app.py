"""The `health` application and its one error boundary.

Every command runs through `run_command`: expected failures (customer_health.errors) end with
their exit code and the cause as the last line printed, never a traceback; SIGINT and SIGTERM end
with exit 130 and nothing published. Logs and progress go to stderr, so `--json` leaves stdout to
the run summary alone.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from customer_health.errors import (
    EXIT_CODES,
    EXIT_OK,
    HealthError,
    InfrastructureError,
    InterruptedRunError,
)
from customer_health.pipeline.interrupts import raise_if_stopped, request_stop, stop_requested
from customer_health.pipeline.run_summary import RunSummary

EPILOG = "Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items())

app = typer.Typer(
    name="health",
    help="Customer health scores: gated refresh, backfill, backtest and calibration, on DuckDB, "
    "PostgreSQL or Spark.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
stderr = Console(stderr=True, soft_wrap=True)


@app.callback()
def choose_deployment(
    deployment: Annotated[
        Path | None,
        typer.Option(
            envvar="HEALTH_DEPLOYMENT",
            help="Deployment folder (deployment.yml and seeds/) to score; default: the bundled "
            "sample. See `health deployment`.",
        ),
    ] = None,
) -> None:
    """Every command scores one deployment: its folder is handed on to dbt as HEALTH_DEPLOYMENT
    (customer_health/deployment.py)."""
    if deployment is not None:
        os.environ["HEALTH_DEPLOYMENT"] = str(deployment)
log = logging.getLogger("health")

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Warnings and errors only.")]
JsonOutput = Annotated[
    bool, typer.Option("--json", help="Print the run summary as JSON on stdout (logs on stderr).")
]


def configure_logging(quiet: bool) -> None:
    """Readable, timestamped logs on stderr; third-party chatter kept to warnings."""
    for variable in ("DBT_SEND_ANONYMOUS_USAGE_STATS", "GX_ANALYTICS_ENABLED"):
        os.environ.setdefault(variable, "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("great_expectations", "py4j", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _interrupted(signum: int, _frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    request_stop(name)
    raise InterruptedRunError(f"interrupted by {name}; nothing was published")


def as_expected_failure(error: Exception) -> HealthError | None:
    """The expected failure an exception stands for, or None for a bug.

    After a stop request every failure is the interrupt (engine clients turn it into errors of
    their own); file-system errors (disk full, read-only or unreadable files) are infrastructure.
    """
    if stop_requested() and not isinstance(error, InterruptedRunError):
        return InterruptedRunError(f"interrupted ({error}); nothing was published")
    if isinstance(error, HealthError):
        return error
    if isinstance(error, OSError):
        return InfrastructureError(f"{type(error).__name__}: {error}")
    return None


def run_command(
    work: Callable[[], None],
    *,
    summary: RunSummary | None = None,
    target_path: Path | None = None,
    json_output: bool = False,
) -> NoReturn:
    """Run one command's work at the error boundary and exit with its code.

    summary/target_path: a run that keeps a record (refresh, backfill, gate, publish): the
    summary is finished with the outcome, written under target_path, and printed as JSON when
    json_output.
    """
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    failure: HealthError | None = None
    try:
        work()
        if summary is None or not summary.published:
            raise_if_stopped()  # a stop that an engine client swallowed still fails the run
    except Exception as error:
        failure = as_expected_failure(error)
        if failure is None:  # a bug: show its traceback, and still record the run
            log.exception("unexpected error")
            failure = HealthError(f"unexpected error: {type(error).__name__}: {error}")
            failure.status = "error"
    except KeyboardInterrupt:
        failure = InterruptedRunError("interrupted; nothing was published")
    code, message = (failure.exit_code, str(failure)) if failure else (EXIT_OK, "")
    if summary is not None:
        summary.record_outcome(failure)
        if target_path is not None:
            record = summary.write(target_path)
            log.info("run summary: %s", record)
        if json_output:
            print(summary.to_json(), flush=True)
    if message:
        headline, _, details = message.partition("\n")
        if details:
            stderr.print(details, markup=False, highlight=False, soft_wrap=True)
        stderr.print(f"error: {headline}", markup=False, highlight=False, soft_wrap=True)
    exit_now(code)


def exit_now(code: int) -> NoReturn:
    """Flush and exit without interpreter teardown.

    Once Great Expectations has used duckdb's Python bindings, their teardown prints a long,
    harmless "nanobind: leaked ..." report to stderr, which would bury the cause an
    orchestrator shows. Everything is committed and closed before this point.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
