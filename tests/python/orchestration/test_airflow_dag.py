"""The Airflow example (orchestration/airflow/customer_health_refresh.py).

Everywhere: the exit codes the DAG fails without retry are exactly the `health` command's
non-retryable ones (read from the DAG file's syntax tree, so Airflow need not be installed).
With Airflow (`make test-orchestration`): the DAG loads, and a stand-in `health` that prints a
summary and exits with a given code is retried or not as intended: each code on the operator
itself, and one code of each outcome (published, not retryable) through Airflow's own task
runner (`dag.test()`, with a scratch metadata database), which turns the exceptions into task
states. A retryable code through the task runner is not run: `dag.test()` waits out the retry
delay.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.project import REPO_DIR

from customer_health.errors import HealthError

DAG_FILE = REPO_DIR / "orchestration" / "airflow" / "customer_health_refresh.py"
DAG_ID = "customer_health_refresh"
STAND_IN_HEALTH = """#!/bin/sh
echo "a log line on stderr" >&2
printf '{\\n  "status": "stand-in",\\n  "exit_code": %s\\n}\\n' "$STAND_IN_EXIT_CODE"
exit "$STAND_IN_EXIT_CODE"
"""


def dag_constant(name: str) -> Any:
    for node in ast.parse(DAG_FILE.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{DAG_FILE.name} defines no {name}")


def error_classes(base: type[HealthError] = HealthError) -> list[type[HealthError]]:
    return [base, *(cls for sub in base.__subclasses__() for cls in error_classes(sub))]


def test_the_dag_fails_without_retry_exactly_on_the_non_retryable_exit_codes() -> None:
    no_retry = {cls.exit_code for cls in error_classes() if not cls.retryable}
    retry = {cls.exit_code for cls in error_classes() if cls.retryable}
    assert set(dag_constant("NO_RETRY_EXIT_CODES")) == no_retry == {1, 2, 4}
    assert not retry & no_retry


requires_airflow = pytest.mark.skipif(
    importlib.util.find_spec("airflow") is None,
    reason="apache-airflow is not installed here: run `make test-orchestration`",
)


@pytest.fixture(scope="module")
def airflow_dag(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The DAG as Airflow loads it, with a scratch AIRFLOW_HOME whose metadata database holds it
    (set before Airflow is first imported: it reads its configuration then)."""
    home = tmp_path_factory.mktemp("airflow_home")
    settings = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    with pytest.MonkeyPatch.context() as env:
        for key, value in settings.items():
            env.setenv(key, value)
        airflow = str(Path(sys.executable).parent / "airflow")
        for command in (["db", "migrate"], ["dags", "reserialize"]):
            completed = subprocess.run(
                [airflow, *command], capture_output=True, text=True, check=False
            )
            assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
        from airflow.models import DagBag

        bag = DagBag(dag_folder=str(DAG_FILE.parent))
        assert not bag.import_errors
        yield bag.dags[DAG_ID]


@pytest.fixture
def stand_in_health(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "health"
    script.write_text(STAND_IN_HEALTH, encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("HEALTH_COMMAND", str(script))
    return script


@requires_airflow
def test_the_dag_refreshes_daily_with_retries(airflow_dag: Any) -> None:
    from airflow.providers.standard.operators.bash import BashOperator

    (task,) = airflow_dag.tasks
    assert isinstance(task, BashOperator) and task.retries >= 1
    assert airflow_dag.schedule == "@daily"
    assert not airflow_dag.catchup and airflow_dag.max_active_runs == 1


@requires_airflow
@pytest.mark.parametrize("exit_code", [1, 2, 3, 4, 5, 130])
def test_the_operator_retries_only_retryable_exit_codes(
    airflow_dag: Any, stand_in_health: Path, monkeypatch: pytest.MonkeyPatch, exit_code: int
) -> None:
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    monkeypatch.setenv("STAND_IN_EXIT_CODE", str(exit_code))
    with pytest.raises(AirflowException) as raised:
        airflow_dag.get_task("refresh").execute({})
    not_retried = isinstance(raised.value, AirflowFailException)
    assert not_retried == (exit_code in (1, 2, 4))


@requires_airflow
def test_the_operator_returns_the_run_summary(
    airflow_dag: Any, stand_in_health: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAND_IN_EXIT_CODE", "0")
    summary = airflow_dag.get_task("refresh").execute({})
    assert summary == {"status": "stand-in", "exit_code": 0}


@requires_airflow
@pytest.mark.parametrize(("exit_code", "state"), [(0, "success"), (2, "failed")])
def test_the_task_runner_publishes_or_fails_at_once(
    airflow_dag: Any,
    stand_in_health: Path,
    monkeypatch: pytest.MonkeyPatch,
    exit_code: int,
    state: str,
) -> None:
    monkeypatch.setenv("STAND_IN_EXIT_CODE", str(exit_code))
    run = airflow_dag.test()
    (instance,) = run.get_task_instances()
    assert (instance.state, instance.try_number) == (state, 1)
    assert instance.max_tries >= 1  # failed with retries left: not retried


def test_the_dag_imports_nothing_of_the_project() -> None:
    """The DAG only calls `health` ($HEALTH_COMMAND, else on PATH), so Airflow can live in an
    environment of its own."""
    tree = ast.parse(DAG_FILE.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "customer_health" for name in imported)
