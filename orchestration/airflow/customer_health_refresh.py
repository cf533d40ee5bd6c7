"""Daily gated refresh of the customer health scores: `health refresh --json` (dbt build ->
quality gate -> publish to schema `health`), retried only when a retry can help.

The exit code of `health` decides: 0 published; 1 (dbt build or a dbt test failed), 2 (the
quality gate failed) and 4 (bad input) fail the task at once, since a rerun of the same data and
code would fail the same way; any other code, 3 (another refresh holds the lock), 5 (the engine
or machine failed) or 130 (interrupted), fails this try and Airflow retries it. A failed run
publishes nothing. The run summary (JSON) is in the task log, and is the task's XCom value when
the refresh publishes.
"""

import json
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

# Exit codes of `health` that a retry cannot fix (`health --help` lists them all).
NO_RETRY_EXIT_CODES = (1, 2, 4)
# The engine: a target in the project's profiles.yml (duckdb, postgres or spark).
TARGET = "duckdb"
# `health` as the worker finds it: $HEALTH_COMMAND (e.g. the project's .venv/bin/health), else
# on PATH. Its summary is indented JSON on stdout; printed on one line, it is the last line of
# output, which the operator returns (XCom). The exit code is that of `health`.
REFRESH_COMMAND = (
    f'summary="$("${{HEALTH_COMMAND:-health}}" refresh --target {TARGET} --json)"; code=$?; '
    'printf "%s" "$summary" | tr -d "\\n"; echo; exit $code'
)


class HealthCommandOperator(BashOperator):
    """A BashOperator for a `health` command: exit codes in NO_RETRY_EXIT_CODES fail the task
    without retries; any other non-zero code fails the try (retried while retries are left)."""

    def __init__(self, **kwargs):
        super().__init__(
            skip_on_exit_code=NO_RETRY_EXIT_CODES, output_processor=json.loads, **kwargs
        )

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException:  # how BashOperator reports NO_RETRY_EXIT_CODES
            raise AirflowFailException(
                "`health` failed with an exit code a retry cannot fix (1 dbt build failed, "
                "2 quality gate failed, 4 bad input; the log above has the cause): not retried"
            ) from None


with DAG(
    dag_id="customer_health_refresh",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=10),
        "retry_exponential_backoff": True,
    },
    tags=["customer_health"],
    doc_md=__doc__,
) as dag:
    HealthCommandOperator(
        task_id="refresh", bash_command=REFRESH_COMMAND, execution_timeout=timedelta(hours=2)
    )
