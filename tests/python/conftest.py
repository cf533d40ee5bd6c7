import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

# Make the stand-alone scripts in <repo>/scripts importable as modules (e.g. generate_sample_data).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from scratch_postgres import scratch_postgres

REPO_DIR = Path(__file__).resolve().parents[2]
SAMPLE_DATA_DIR = REPO_DIR / "data" / "ravenstack"


# Lines the bad-input matrix adds (its timings), printed in pytest's terminal summary.
TERMINAL_SUMMARY: list[str] = []


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


def refresh_env() -> dict[str, str]:
    """Environment for a refresh subprocess: paths only from its flags, telemetry off."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HEALTH_DB_PATH", "HEALTH_RAW_DATA_DIR")
    }
    env.update(
        DBT_SEND_ANONYMOUS_USAGE_STATS="False", DO_NOT_TRACK="1", GX_ANALYTICS_ENABLED="False"
    )
    return env


def refresh_command(
    db_path: Path,
    raw_data_dir: Path,
    target_path: Path,
    extra: Sequence[str] = (),
    project_dir: Path = REPO_DIR,
) -> list[str]:
    """scripts/refresh.py of project_dir with its own database, data and dbt target folder."""
    return [
        sys.executable,
        str(project_dir / "scripts" / "refresh.py"),
        "--db-path", str(db_path),
        "--raw-data-dir", str(raw_data_dir),
        "--target-path", str(target_path),
        "--quiet",
        *extra,
    ]


def run_refresh(
    db_path: Path,
    raw_data_dir: Path,
    target_path: Path,
    extra: Sequence[str] = (),
    project_dir: Path = REPO_DIR,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        refresh_command(db_path, raw_data_dir, target_path, extra, project_dir),
        env=refresh_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def health_fingerprint(db_path: Path) -> dict[str, str]:
    """Per relation in schema `health`: its columns and an order-independent hash of its rows."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'health' order by table_name"
            ).fetchall()
        ]
        fingerprint = {}
        for table in tables:
            columns = connection.execute(
                "select string_agg(column_name || ' ' || data_type, ', ' order by ordinal_position)"
                " from information_schema.columns where table_schema = 'health' and table_name = ?",
                [table],
            ).fetchone()[0]
            rows = connection.execute(
                "select count(*), md5(coalesce(string_agg(row_hash, '' order by row_hash), '')) "
                f'from (select md5(cast(r as varchar)) as row_hash from health."{table}" as r)'
            ).fetchone()
            fingerprint[table] = f"{columns} | {rows[0]} rows | {rows[1]}"
    return fingerprint


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
    run_env = {**refresh_env(), **env}
    for command in (
        [sys.executable, str(REPO_DIR / "scripts" / "load_raw.py"), "--target", "postgres",
         "--raw-data-dir", str(SAMPLE_DATA_DIR)],
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

    db_path: Path
    fingerprint: dict[str, str]


@pytest.fixture(scope="session")
def published_baseline(tmp_path_factory: pytest.TempPathFactory) -> PublishedBaseline:
    """One good refresh of the bundled sample data per test session (copy the file to use it)."""
    folder = tmp_path_factory.mktemp("published_baseline")
    db_path = folder / "customer_health.duckdb"
    completed = run_refresh(db_path, SAMPLE_DATA_DIR, folder / "target")
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    return PublishedBaseline(db_path=db_path, fingerprint=health_fingerprint(db_path))


@pytest.fixture
def baseline_copy(published_baseline: PublishedBaseline, tmp_path: Path) -> Path:
    """A private copy of the published baseline database."""
    copy = tmp_path / "customer_health.duckdb"
    copy.write_bytes(published_baseline.db_path.read_bytes())
    return copy


@pytest.fixture
def fingerprint_health() -> Callable[[Path], dict[str, str]]:
    return health_fingerprint
