"""The GX-on-DuckDB workaround (customer_health.gate.duckdb_workaround), applied by the gate's
engine module (customer_health.gate.engines): real passes pass, real failures fail, engines are
closed, and the connection has the dbt profile's DuckDB limits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import great_expectations as gx
import great_expectations.expectations as gxe
import pytest
import sqlalchemy as sa

from customer_health.engines.warehouse import target_credentials
from customer_health.gate import duckdb_workaround as gx_duckdb
from customer_health.gate import engines as gx_engines
from customer_health.gate import suites as gx_suites
from customer_health.gate.checks import SuitePlan

RELATION = "demo.numbers"


@pytest.fixture
def numbers_db(tmp_path: Path) -> Path:
    """A DuckDB file with demo.numbers: n = 1..10, label 'n<k>'."""
    path = tmp_path / "numbers.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema demo")
        connection.execute(
            "create table demo.numbers as "
            "select range + 1 as n, 'n' || (range + 1) as label from range(10)"
        )
    return path


@pytest.fixture
def validate(numbers_db: Path) -> Iterator[Any]:
    """Run expectations on demo.numbers the way the gate does: the duckdb data source of
    gx_engines, a suite and a validation definition per call, ValidationDefinition.run."""
    context = gx.get_context(mode="ephemeral")
    with gx_engines.engine_data(context, "duckdb", [RELATION], numbers_db) as data:

        def run(*expectations: Any) -> list[Any]:
            plan = SuitePlan(
                relation=RELATION, stage=f"s{len(context.suites.all())}",
                expectations=tuple(expectations),
            )
            definition = gx_suites.add_validation_definition(
                context, plan, data.batch_definition(RELATION)
            )
            result = definition.run(
                batch_parameters=data.batch_parameters(RELATION), result_format="SUMMARY"
            )
            return list(result.results)

        yield run


def _raised(result: Any) -> bool:
    info = result.exception_info or {}
    if "raised_exception" in info:
        return bool(info["raised_exception"])
    return any(value.get("raised_exception") for value in info.values())


def test_passing_expectations_pass(validate: Any) -> None:
    results = validate(
        gxe.ExpectColumnValuesToBeBetween(column="n", min_value=1, max_value=10),
        gxe.ExpectColumnValuesToBeUnique(column="n"),
        gxe.ExpectColumnValuesToNotBeNull(column="label"),
        gxe.ExpectTableRowCountToBeBetween(min_value=10, max_value=10),
        gxe.ExpectTableColumnsToMatchSet(column_set=["n", "label"], exact_match=True),
        gxe.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where n > 10"),
    )
    assert [result.success for result in results] == [True] * 6
    assert not any(_raised(result) for result in results)


def test_deliberately_failing_expectations_fail_with_the_real_observation(validate: Any) -> None:
    results = validate(
        gxe.ExpectColumnMaxToBeBetween(column="n", max_value=5),
        gxe.ExpectColumnValuesToBeBetween(column="n", max_value=8),
        gxe.ExpectTableColumnsToMatchSet(column_set=["n", "name"], exact_match=True),
        gxe.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where n > 7"),
    )
    by_type = {result.expectation_config.type: result for result in results}
    assert not any(result.success for result in results)
    assert not any(_raised(result) for result in results), "a failure must not be an error"
    assert by_type["expect_column_max_to_be_between"].result["observed_value"] == 10
    column_values = by_type["expect_column_values_to_be_between"].result
    assert column_values["unexpected_count"] == 2
    assert sorted(column_values["partial_unexpected_list"]) == [9, 10]
    assert by_type["unexpected_rows_expectation"].result["observed_value"] == 3


def test_engines_are_closed_so_a_writer_can_open_the_file(numbers_db: Path) -> None:
    context = gx.get_context(mode="ephemeral")
    with gx_engines.engine_data(context, "duckdb", [RELATION], numbers_db) as data:
        batch = data.batch_definition(RELATION).get_batch()
        result = batch.validate(gxe.ExpectColumnValuesToBeUnique(column="n"))
        assert result.success
        engine = data.datasource.get_execution_engine()
        with pytest.raises(sa.exc.DBAPIError, match="read-only"):
            engine.execute_query(sa.text("create table demo.scratch (x integer)"))
        assert os.environ[gx_engines.SQL_URL_ENV_VAR] == gx_duckdb.database_url(numbers_db)
    assert gx_engines.SQL_URL_ENV_VAR not in os.environ
    with duckdb.connect(str(numbers_db)) as writer:
        writer.execute("create table demo.written_after_gx (x integer)")


def test_the_file_context_stores_no_connection_url(numbers_db: Path, tmp_path: Path) -> None:
    context = gx_suites.run_context(tmp_path / "gx")
    with gx_engines.engine_data(context, "duckdb", [RELATION], numbers_db):
        pass
    stored = (tmp_path / "gx" / "great_expectations.yml").read_text()
    assert "${HEALTH_GX_SQL_URL}" in stored
    assert str(numbers_db) not in stored


def test_the_duckdb_settings_come_from_the_dbt_profile() -> None:
    settings = target_credentials("duckdb").settings
    assert settings["memory_limit"] and settings["threads"]
    assert gx_duckdb.engine_kwargs() == {
        "connect_args": {"read_only": True, "config": dict(settings)}
    }
    assert gx_duckdb.engine_kwargs({"memory_limit": "1GB"})["connect_args"]["config"] == {
        "memory_limit": "1GB"
    }


def test_an_override_of_the_profile_s_duckdb_limits_reaches_the_gx_connection(
    numbers_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limits are the profile's (HEALTH_DUCKDB_MEMORY_LIMIT / _THREADS), even when they are
    overridden after the profile was first read in the process."""
    target_credentials("duckdb")  # read once with the defaults
    monkeypatch.setenv("HEALTH_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("HEALTH_DUCKDB_THREADS", "1")
    context = gx.get_context(mode="ephemeral")
    with gx_engines.engine_data(context, "duckdb", [RELATION], numbers_db) as data:
        engine = data.datasource.get_execution_engine()
        limit, threads = engine.execute_query(
            sa.text("select current_setting('memory_limit'), current_setting('threads')")
        ).fetchone()
    assert (limit, int(threads)) == ("953.6 MiB", 1)  # 1GB = 10^9 bytes


def test_enabling_twice_adds_duckdb_once() -> None:
    from great_expectations.execution_engine import sqlalchemy_execution_engine

    gx_duckdb.enable_persisted_connection()
    gx_duckdb.enable_persisted_connection()
    dialects = sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS
    assert sum(1 for dialect in dialects if dialect == "duckdb") == 1
    assert gx_duckdb.persisted_connection_enabled()


def test_without_the_workaround_gx_fails_every_expectation_silently(
    numbers_db: Path, tmp_path: Path
) -> None:
    """Documents the GX bug the workaround exists for. If this starts failing after a GX upgrade,
    GX handles DuckDB itself: drop enable_persisted_connection() (and this test).

    (A script file, not `python -c`: pyspark, imported by GX, exits a process whose main module
    has no file, taking it for a doctest run.)"""
    script = tmp_path / "without_workaround.py"
    script.write_text(textwrap.dedent(
        f"""
        import great_expectations as gx, great_expectations.expectations as gxe
        from customer_health.gate import duckdb_workaround as gx_duckdb
        context = gx.get_context(mode="ephemeral")
        datasource = context.data_sources.add_sql(
            name="db", connection_string=gx_duckdb.database_url({str(numbers_db)!r}),
            kwargs=gx_duckdb.engine_kwargs({{}}),
        )
        batch = datasource.add_query_asset(name="numbers", query="select * from demo.numbers")
        result = batch.add_batch_definition_whole_table("all").get_batch().validate(
            gxe.ExpectColumnValuesToBeBetween(column="n", min_value=1, max_value=10)
        )
        print("SUCCESS" if result.success else "FAILED", str(result.exception_info)[:2000])
        """
    ))
    completed = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith("FAILED"), completed.stdout + completed.stderr[-2000:]
    assert "list index out of range" in completed.stdout
