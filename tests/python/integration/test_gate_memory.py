"""The gate brings a bounded number of rows into the client, whatever the size of the relations
it validates: every check is computed on the engine (2M-row relations on DuckDB and PostgreSQL).

Before the fix, GX learnt a PostgreSQL query asset's columns by running `select * from
<relation>`, which psycopg2 transfers whole: 19.6 GB at 1M accounts. A check failing on every
row must not fetch those rows either.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from helpers.big_candidate import candidate_statements, counting_client_rows

from customer_health.gate.config import load_gate_config
from customer_health.gate.dbt_manifest import load_manifest
from customer_health.gate.run import run_quality_gate
from customer_health.gate.suites import PARTIAL_UNEXPECTED_COUNT

BIG_ROWS = 2_000_000
RUN_DATE = date(2026, 1, 15)
CONFIG = load_gate_config()


def _statements(manifest_file: Path, absurd_dates: bool = False) -> list[str]:
    return candidate_statements(CONFIG, load_manifest(manifest_file), BIG_ROWS, absurd_dates)


@pytest.mark.parametrize("absurd_dates", [False, True], ids=["passing", "failing_every_row"])
def test_the_gate_fetches_a_few_rows_from_a_big_duckdb_candidate(
    gate_manifest: Path, tmp_path: Path, absurd_dates: bool
) -> None:
    db_path = tmp_path / "big.duckdb"
    with duckdb.connect(str(db_path)) as connection:
        for statement in _statements(gate_manifest, absurd_dates):
            connection.execute(statement)
    with counting_client_rows() as counted:
        result = run_quality_gate(
            "duckdb", db_path, "big", run_date=RUN_DATE, target_path=tmp_path / "target",
            manifest=gate_manifest,
        )
    assert result.passed is not absurd_dates, result.report
    if absurd_dates:
        assert "check dates_not_too_old, column usage_date" in result.report
        assert f"{BIG_ROWS - BIG_ROWS // 1000:,} of" in result.report  # every clean row
    assert counted.statements, "no query was counted: the counting hook is broken"
    rows, statement = counted.largest
    assert rows <= PARTIAL_UNEXPECTED_COUNT, f"{rows:,} rows fetched by: {statement}"


@pytest.fixture
def big_postgres_database(
    postgres_env: dict[str, str], gate_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database of the scratch cluster holding the big candidate; PGDATABASE points at it."""
    import psycopg2

    name = "gate_big_candidate"
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"drop database if exists {name}")
        cursor.execute(f"create database {name}")
    with psycopg2.connect(dbname=name) as connection, connection.cursor() as cursor:
        for statement in _statements(gate_manifest):
            cursor.execute(statement)
    monkeypatch.setenv("PGDATABASE", name)
    try:
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {name} with (force)")
        admin.close()


def test_the_gate_fetches_a_few_rows_from_a_big_postgres_candidate(
    big_postgres_database: str, gate_manifest: Path, tmp_path: Path
) -> None:
    with counting_client_rows() as counted:
        result = run_quality_gate(
            "postgres", None, "big", run_date=RUN_DATE, target_path=tmp_path,
            manifest=gate_manifest,
        )
    assert result.passed, result.report
    assert "drift checks skipped" not in result.report  # the drift SQL ran too
    assert counted.statements, "no query was counted: the counting hook is broken"
    rows, statement = counted.largest
    assert rows <= PARTIAL_UNEXPECTED_COUNT, f"{rows:,} rows fetched by: {statement}"
