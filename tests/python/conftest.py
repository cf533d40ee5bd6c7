"""Fixtures shared by the tests (helpers live in the `helpers` package beside this file)."""

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

from customer_health.engines.scratch_postgres import scratch_postgres
from customer_health.engines.warehouse import working_database
from customer_health.gate.dbt_manifest import manifest_path, parse_manifest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "matrix: bad-input matrix, refresh subprocesses (minutes; -m 'not matrix')"
    )
    config.addinivalue_line(
        "markers", "engines: the pipeline on PostgreSQL and Spark (minutes; -m 'not engines')"
    )


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
def postgres_build(postgres_env: dict[str, str]) -> dict[str, str]:
    """A database of its own on the scratch cluster with the sample data loaded and built by dbt
    (nothing published); returns the PG* variables that reach it."""
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
         "--profiles-dir", str(REPO_DIR), "--target", "postgres", "--quiet"],
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
    """One good refresh of the bundled sample data per test session (copy the file to use it)."""
    folder = tmp_path_factory.mktemp("published_baseline")
    db_path = folder / "customer_health.duckdb"
    completed = run_refresh(db_path, SAMPLE_DATA_DIR, folder / "target")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
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
