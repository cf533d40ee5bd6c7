"""Fixtures shared by the tests (helpers live in the `helpers` package beside this file).

`make pytest` runs the tests in two pytest-xdist workers (`--dist loadscope`): each module is one
unit of work, so its module fixtures are built once, on one worker; the engines module (Spark
most of it, the longest unit) is handed out first. Session fixtures are built per worker, each in
the worker's own temporary folder (its own scratch PostgreSQL cluster on a free port, its own
Spark folder and Derby metastore).
"""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.fingerprint import health_fingerprint
from helpers.project import (
    REPO_DIR,
    SAMPLE_DATA_DIR,
    TERMINAL_SUMMARY,
    clean_env,
    health_command,
    run_refresh,
)
from helpers.shared import build_once

from customer_health.engines.scratch_postgres import scratch_postgres
from customer_health.engines.warehouse import working_database
from customer_health.gate.dbt_manifest import manifest_path, parse_manifest

# A pytest-xdist worker's main module is execnet's (`python -c`: no file, no spec); pyspark, which
# Great Expectations imports, takes such a process for a pyspark doctest run and exits it. Give the
# worker the main module a plain `python -m pytest` has.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _main = sys.modules["__main__"]
    if _main.__spec__ is None and not hasattr(_main, "__file__"):
        _main.__file__ = str(Path(pytest.__file__).with_name("__main__.py"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "matrix: bad-input matrix, refresh subprocesses (minutes; -m 'not matrix')"
    )
    config.addinivalue_line(
        "markers", "engines: the pipeline on PostgreSQL and Spark (minutes; -m 'not engines')"
    )


# The longest unit of work (Spark most of it): handed out first when the tests run in workers.
FIRST_MODULE = Path(__file__).parent / "end_to_end" / "test_engines.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a pytest-xdist worker (`--dist loadscope --no-loadscope-reorder` hands out whole
    modules in collection order), the first module's tests come first; every worker collects the
    same order. A run without workers keeps pytest's order."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: item.path != FIRST_MODULE)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker hands its summary lines to the controller, which prints them."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["terminal_summary"] = list(TERMINAL_SUMMARY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    TERMINAL_SUMMARY.extend(getattr(node, "workeroutput", {}).get("terminal_summary", []))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for line in TERMINAL_SUMMARY:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def postgres_env() -> Iterator[dict[str, str]]:
    """A scratch PostgreSQL cluster for the session; its PG* variables are set in os.environ
    while it runs (the postgres target reads them), and restored afterwards."""
    with scratch_postgres() as env:
        previous = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="session")
def gate_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's dbt manifest (`dbt parse`), for gate runs on databases built elsewhere."""
    folder = tmp_path_factory.mktemp("dbt_parse")
    parse_manifest(folder)
    return manifest_path(folder)


@pytest.fixture(scope="session")
def postgres_build_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The dbt target folder of postgres_build (its manifest.json), not the project's target/."""
    return tmp_path_factory.mktemp("postgres_build_target")


@pytest.fixture(scope="session")
def postgres_build(postgres_env: dict[str, str], postgres_build_target: Path) -> dict[str, str]:
    """A database of its own on the scratch cluster with the sample data loaded and built by dbt
    (nothing published; dbt's files in postgres_build_target); returns the PG* variables that
    reach it."""
    import psycopg2

    env = {**postgres_env, "PGDATABASE": "health_build"}
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("create database health_build")
    admin.close()
    run_env = clean_env(env)
    for command in (
        health_command("load", "--target", "postgres", "--raw-data-dir", str(SAMPLE_DATA_DIR)),
        [str(Path(sys.executable).parent / "dbt"), "build", "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target", "postgres",
         "--target-path", str(postgres_build_target),
         "--log-path", str(postgres_build_target / "logs"), "--quiet"],
    ):
        completed = subprocess.run(
            command, env=run_env, capture_output=True, text=True, check=False, cwd=REPO_DIR
        )
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return env


@dataclass(frozen=True)
class PublishedBaseline:
    """A database into which the sample data was refreshed and published once."""

    db_path: Path  # the served file: schema health
    working_path: Path  # the working database: staging, marts and health
    fingerprint: dict[str, str]


@pytest.fixture(scope="session")
def published_baseline(tmp_path_factory: pytest.TempPathFactory) -> PublishedBaseline:
    """One good refresh of the bundled sample data per test run, shared by the workers (copy the
    file to use it)."""

    def build(folder: Path) -> None:
        db_path = folder / "customer_health.duckdb"
        completed = run_refresh(db_path, SAMPLE_DATA_DIR, folder / "target")
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]

    db_path = build_once(tmp_path_factory, "published_baseline", build) / "customer_health.duckdb"
    return PublishedBaseline(
        db_path=db_path,
        working_path=working_database(db_path),
        fingerprint=health_fingerprint(db_path),
    )


@pytest.fixture
def baseline_copy(published_baseline: PublishedBaseline, tmp_path: Path) -> Path:
    """A private copy of the published baseline's working database (staging, marts, health)."""
    copy = tmp_path / "customer_health.duckdb"
    copy.write_bytes(published_baseline.working_path.read_bytes())
    return copy


@pytest.fixture
def fingerprint_health() -> Callable[[Path], dict[str, str]]:
    return health_fingerprint
