"""The history extract: relations copied from a target into a local DuckDB file equal the source.

The copy is exercised through the engine-neutral path (`copy_relations` with a Warehouse as the
source) with a DuckDB file as the source, so it runs everywhere; values are compared row for row,
bit for bit (floats by their hex form, so NaN, infinities and -0.0 count), with column names and
types. The backtest and the calibration must give the same report on an extract as on the file.
The same is checked against PostgreSQL (a database created and dropped by the test, on the
session's scratch cluster).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from helpers.history import GeneratedHistory, build_generated_history

from customer_health.engines import warehouse
from customer_health.errors import InfrastructureError
from customer_health.evaluation import backtest
from customer_health.evaluation import calibration as calibrate_weights
from customer_health.evaluation import history as history_extract
from customer_health.evaluation.data import (
    CHURN_EVENTS,
    COMPONENT_HISTORY,
    FEATURE_USAGE,
    HISTORY,
    open_history,
)
from customer_health.evaluation.history import MissingRelationsError, copy_relations, duckdb_type
from customer_health.evaluation.options import BacktestOptions, CalibrationOptions

TYPED = "health.typed_values"
EVENTS = "staging.events"
EVENTS_VIEW = "staging.events_view"
EMPTY = "health.empty_table"
RELATIONS = (TYPED, EVENTS, EVENTS_VIEW, EMPTY)
# What the backtest reads in events mode (the generated history has churn events and usage).
EVENTS_MODE_RELATIONS = (HISTORY, CHURN_EVENTS, FEATURE_USAGE)
# What the backtest reads in events mode: the history, its labels and the (optional) component
# history, for what each family adds.
BACKTEST_RELATIONS = (*EVENTS_MODE_RELATIONS, COMPONENT_HISTORY)

TYPED_DDL = (
    "t varchar, d date, x double, f float, i bigint, n integer, s smallint, b boolean, "
    "m decimal(18,3), ts timestamp"
)
TYPED_ROWS = [
    "('a', date '2024-01-31', 0.1, 1.5, 9223372036854775807, 2147483647, 32767, true, "
    "123456789012345.678, timestamp '2024-01-31 12:34:56.789012')",
    "('', date '0001-01-01', 'nan', 'inf', -9223372036854775808, -2147483648, -32768, false, "
    "-0.001, timestamp '1970-01-01 00:00:00')",
    "('it''s \"quoted\"\nnew line, ünïcode ✓', date '9999-12-31', '-inf', -0.0, 0, 0, 0, null, "
    "0, null)",
    "('b', date '2024-02-29', -0.0, 3.4e38, 1, 1, 1, true, 999999999999999.999, null)",
    "('c', date '2000-01-01', 5e-324, 1e-45, -1, -1, -1, false, -999999999999999.999, null)",
    "('d', null, 1.7976931348623157e308, null, null, null, null, null, null, null)",
    "(null, null, null, null, null, null, null, null, null, null)",
]


def make_source(path: Path) -> Path:
    """A DuckDB file with every column type the extract maps, odd values, a view, an empty table."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema health; create schema staging")
        con.execute(f"create table {TYPED} ({TYPED_DDL})")
        con.execute(f"insert into {TYPED} values {', '.join(TYPED_ROWS)}")
        con.execute(f"create table {EVENTS} as select 'A-' || (i % 97) as account_id, "
                    "date '2023-01-01' + cast(i % 700 as integer) as churn_date, "
                    "cast(i * 0.37 as double) as amount from range(2500) as r(i)")
        con.execute(f"create view {EVENTS_VIEW} as select * from {EVENTS} where amount < 300")
        con.execute(f"create table {EMPTY} (a varchar, d date)")
    return path


@pytest.fixture
def source_db(tmp_path: Path) -> Path:
    return make_source(tmp_path / "source.duckdb")


def extract_from_duckdb(source_db: Path, relations: tuple[str, ...] = RELATIONS,
                        batch_rows: int = 1000) -> duckdb.DuckDBPyConnection:
    """An in-memory extract copied from source_db through the engine-neutral path."""
    dest = duckdb.connect()
    with warehouse.connect("duckdb", source_db, read_only=True) as source:
        copy_relations(source, dest, relations, batch_rows)
    return dest


def normalised(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with floats as their exact hex form (NaN == NaN, -0.0 != 0.0)."""
    return [tuple(v.hex() if isinstance(v, float) else v for v in row) for row in rows]


def column_types(con: duckdb.DuckDBPyConnection, catalog: str, relation: str
                 ) -> list[tuple[str, str]]:
    schema, name = relation.split(".")
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? "
        "order by ordinal_position", [catalog, schema, name]
    ).fetchall()


def mismatches(dest: duckdb.DuckDBPyConnection, source_db: Path, relations: tuple[str, ...]
               ) -> dict[str, str]:
    """What differs between the extract and the source file, per relation (empty: nothing)."""
    dest.execute(f"attach '{source_db}' as src (read_only)")
    found = {}
    try:
        for relation in relations:
            expected_types = column_types(dest, "src", relation)
            actual_types = column_types(dest, "memory", relation)
            if actual_types != expected_types:
                found[relation] = f"types {actual_types} != {expected_types}"
                continue
            expected = normalised(dest.execute(f"select * from src.{relation} order by all")
                                  .fetchall())
            actual = normalised(dest.execute(f"select * from memory.{relation} order by all")
                                .fetchall())
            if actual != expected:
                diff = [(a, e) for a, e in zip(actual, expected, strict=False) if a != e][:3]
                found[relation] = f"{len(actual)} rows vs {len(expected)}; first: {diff}"
    finally:
        dest.execute("detach src")
    return found


# ----------------------------------------------------------------------------- copy


@pytest.mark.parametrize("batch_rows", [2, 100_000])
def test_extract_equals_the_source_row_for_row(source_db: Path, batch_rows: int) -> None:
    dest = extract_from_duckdb(source_db, batch_rows=batch_rows)
    counts = {r: dest.execute(f"select count(*) from {r}").fetchall()[0][0] for r in RELATIONS}
    assert counts == {TYPED: 7, EVENTS: 2500, EVENTS_VIEW: 811, EMPTY: 0}
    assert mismatches(dest, source_db, RELATIONS) == {}
    typed = dict(column_types(dest, "memory", TYPED))
    assert (typed["d"], typed["x"], typed["m"]) == ("DATE", "DOUBLE", "DECIMAL(18,3)")
    # NULL and NaN stay apart; exact decimals and the oddest values survive.
    nan_rows, null_rows, decimal = dest.execute(
        f"select count(*) filter (where isnan(x)), count(*) filter (where x is null), "
        f"max(m) from {TYPED}").fetchall()[0]
    assert (nan_rows, null_rows, decimal) == (1, 1, Decimal("999999999999999.999"))
    assert dest.execute(f"select min(d), max(d) from {TYPED}").fetchall() == [
        (date(1, 1, 1), date(9999, 12, 31))]
    (text,) = dest.execute(f"select t from {TYPED} where t like 'it%'").fetchall()[0]
    assert text == "it's \"quoted\"\nnew line, ünïcode ✓"


def test_the_comparison_catches_a_changed_value_or_type(source_db: Path) -> None:
    """The equality check above can fail: one changed date, one NaN made NULL, one narrowed type."""
    dest = extract_from_duckdb(source_db)
    dest.execute(f"update {TYPED} set d = d + 1 where t = 'a'")
    dest.execute(f"update {EVENTS} set amount = 'nan' where amount = 0")
    dest.execute(f"alter table {EMPTY} alter d type varchar")
    found = mismatches(dest, source_db, RELATIONS)
    assert set(found) == {TYPED, EVENTS, EMPTY}, found
    dest = extract_from_duckdb(source_db)
    dest.execute(f"update {TYPED} set x = null where isnan(x)")
    assert set(mismatches(dest, source_db, (TYPED,))) == {TYPED}


def test_missing_relations_are_listed_and_nothing_is_copied(source_db: Path) -> None:
    dest = duckdb.connect()
    with (warehouse.connect("duckdb", source_db, read_only=True) as source,
          pytest.raises(MissingRelationsError) as raised):
        copy_relations(source, dest, (TYPED, "health.nope", "nowhere.nothing"))
    assert raised.value.missing == ["health.nope", "nowhere.nothing"]
    assert dest.execute("select count(*) from information_schema.tables").fetchall() == [(0,)]


def test_a_type_without_duckdb_counterpart_is_copied_as_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "list.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema health; create table health.lists as "
                    "select 1 as id, ['x', 'y'] as tags union all select 2, null")
    with caplog.at_level(logging.WARNING, logger="history_extract"):
        dest = extract_from_duckdb(path, ("health.lists",))
    assert column_types(dest, "memory", "health.lists") == [("id", "INTEGER"), ("tags", "VARCHAR")]
    assert dest.execute("select id, tags is null from health.lists order by id").fetchall() == [
        (1, False), (2, True)]
    assert "tags" in caplog.text and "copied as text" in caplog.text


@pytest.mark.parametrize(("engine", "source_type", "expected"), [
    ("postgres", "text", "VARCHAR"), ("postgres", "character varying", "VARCHAR"),
    ("postgres", "date", "DATE"), ("postgres", "double precision", "DOUBLE"),
    ("postgres", "real", "FLOAT"), ("postgres", "bigint", "BIGINT"),
    ("postgres", "integer", "INTEGER"), ("postgres", "boolean", "BOOLEAN"),
    ("postgres", "numeric(18,3)", "DECIMAL(18,3)"), ("postgres", "numeric", "DOUBLE"),
    ("postgres", "numeric(60,2)", None), ("postgres", "ARRAY", None),
    ("postgres", "timestamp without time zone", "TIMESTAMP"),
    ("postgres", "timestamp with time zone", "TIMESTAMPTZ"),
    ("spark", "string", "VARCHAR"), ("spark", "varchar(20)", "VARCHAR"), ("spark", "date", "DATE"),
    ("spark", "double", "DOUBLE"), ("spark", "float", "FLOAT"), ("spark", "bigint", "BIGINT"),
    ("spark", "int", "INTEGER"), ("spark", "boolean", "BOOLEAN"),
    ("spark", "decimal(10,2)", "DECIMAL(10,2)"), ("spark", "array<string>", None),
    ("duckdb", "DOUBLE", "DOUBLE"), ("duckdb", "DECIMAL(18,3)", "DECIMAL(18,3)"),
    ("duckdb", "VARCHAR[]", None),
])
def test_source_types_map_to_duckdb_types(engine: str, source_type: str,
                                          expected: str | None) -> None:
    assert duckdb_type(engine, source_type) == expected


# ----------------------------------------------------------------------------- backtest


def test_the_duckdb_target_reads_the_file_itself(source_db: Path, tmp_path: Path) -> None:
    with open_history("duckdb", source_db, (TYPED,)) as history:
        assert history.extract == {} and history.db_path == source_db.resolve()
        with pytest.raises(duckdb.Error, match="read-only"):
            history.connection.execute("create table health.written (a integer)")


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> GeneratedHistory:
    return build_generated_history(tmp_path_factory)


@pytest.fixture
def postgres_is_the_file(history: GeneratedHistory, monkeypatch: pytest.MonkeyPatch) -> None:
    """--target postgres, with the generated history file standing in for the PostgreSQL
    warehouse: the backtest and the calibration then run their extract path without a
    server."""
    def connect(target: str, db_path: Path | None = None, read_only: bool = False
                ) -> warehouse.Warehouse:
        assert target == "postgres" and db_path is None
        return warehouse.DuckDBWarehouse(history.working_path, read_only=True)

    monkeypatch.setattr(history_extract.warehouse, "connect", connect)
    monkeypatch.setattr(history_extract, "describe_target", lambda target: "stand-in")


def run_backtest(out: Path, **source: object) -> dict:
    """The backtest on a source (target=..., db_path=...), as written to out/backtest.json."""
    backtest.run(BacktestOptions(**source, out=out, bootstrap=100))
    return json.loads((out / "backtest.json").read_text())


@pytest.mark.usefixtures("postgres_is_the_file")
def test_backtest_on_an_extract_equals_the_backtest_on_the_file(
    history: GeneratedHistory, tmp_path: Path,
) -> None:
    direct = run_backtest(tmp_path / "direct", db_path=history.db_path)
    extracted = run_backtest(tmp_path / "extract", target="postgres")
    assert extracted["counts"] == direct["counts"]
    assert extracted["metrics"] == direct["metrics"]
    assert direct["parameters"]["target"] == "duckdb" and "extract" not in direct["parameters"]
    copied = extracted["parameters"]["extract"]["rows"]
    assert set(copied) == set(BACKTEST_RELATIONS)
    with duckdb.connect(str(history.working_path), read_only=True) as con:
        assert copied == {r: con.execute(f"select count(*) from {r}").fetchall()[0][0]
                          for r in BACKTEST_RELATIONS}


@pytest.mark.usefixtures("postgres_is_the_file")
def test_calibration_on_an_extract_equals_the_calibration_on_the_file(
    history: GeneratedHistory, tmp_path: Path,
) -> None:
    reports = {}
    for name, source in (("direct", {"db_path": history.db_path}),
                         ("extract", {"target": "postgres"})):
        out = tmp_path / name
        calibrate_weights.run(CalibrationOptions(**source, out=out, bootstrap=100,
                                                 proposal=out / "proposal.csv"))
        reports[name] = (json.loads((out / "calibration.json").read_text()),
                         (out / "proposal.csv").read_text())
    (direct, direct_weights), (extracted, extracted_weights) = reports["direct"], reports["extract"]
    assert extracted_weights == direct_weights
    for key in ("split", "weights", "fits", "evaluation", "reproduction_check"):
        assert extracted[key] == direct[key], key
    assert COMPONENT_HISTORY in extracted["parameters"]["extract"]["rows"]


def test_an_unreachable_target_is_an_infrastructure_error(monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    def refuse(target: str, db_path: Path | None = None, read_only: bool = False) -> None:
        raise warehouse.WarehouseError("cannot connect to PostgreSQL at nowhere:1")

    monkeypatch.setattr(history_extract.warehouse, "connect", refuse)
    monkeypatch.setattr(history_extract, "describe_target", lambda target: "stand-in")
    with pytest.raises(InfrastructureError,
                       match=r"^cannot read from .*: cannot connect to PostgreSQL at nowhere:1$"):
        backtest.run(BacktestOptions(target="postgres", out=tmp_path))
    assert not (tmp_path / "backtest.json").exists()


# ----------------------------------------------------------------------------- PostgreSQL

PG_TYPED_DDL = (
    "t text, d date, x double precision, f real, i bigint, n integer, s smallint, b boolean, "
    "m numeric(18,3), ts timestamp, u numeric"
)
PG_TYPED_ROWS = [
    "('a', '2024-01-31', 0.1, 1.5, 9223372036854775807, 2147483647, 32767, true, "
    "123456789012345.678, '2024-01-31 12:34:56.789012', 1.25)",
    "('', '0001-01-01', 'NaN', 'Infinity', -9223372036854775808, -2147483648, -32768, false, "
    "-0.001, '1970-01-01 00:00:00', 'NaN')",
    "(E'it''s \"quoted\"\\nnew line, ünïcode ✓', '9999-12-31', '-Infinity', '-0', 0, 0, 0, "
    "null, 0, null, null)",
    "('b', '2024-02-29', '-0', 3.4e38, 1, 1, 1, true, 999999999999999.999, null, -7)",
    "('c', '2000-01-01', 5e-324, 1e-45, -1, -1, -1, false, -999999999999999.999, null, 0)",
    "(null, null, null, null, null, null, null, null, null, null, null)",
]
PG_EXPECTED_TYPES = [
    ("t", "VARCHAR"), ("d", "DATE"), ("x", "DOUBLE"), ("f", "FLOAT"), ("i", "BIGINT"),
    ("n", "INTEGER"), ("s", "SMALLINT"), ("b", "BOOLEAN"), ("m", "DECIMAL(18,3)"),
    ("ts", "TIMESTAMP"), ("u", "DOUBLE"),
]
DUCKDB_TO_POSTGRES = {
    "VARCHAR": "text", "DATE": "date", "DOUBLE": "double precision", "BIGINT": "bigint",
    "INTEGER": "integer", "BOOLEAN": "boolean", "TIMESTAMP": "timestamp",
}


@pytest.fixture
def postgres_database(
    monkeypatch: pytest.MonkeyPatch, postgres_env: dict[str, str]
) -> Iterator[Any]:
    """A scratch database on the session's scratch PostgreSQL cluster (dropped afterwards);
    PGDATABASE points at it meanwhile."""
    import psycopg2

    admin = psycopg2.connect(dbname="postgres", connect_timeout=3)
    admin.autocommit = True
    name = f"health_extract_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f"create database {name}")
    monkeypatch.setenv("PGDATABASE", name)
    warehouse.target_credentials.cache_clear()
    connection = psycopg2.connect(dbname=name)
    connection.autocommit = True
    try:
        yield connection
    finally:
        connection.close()
        warehouse.target_credentials.cache_clear()
        with admin.cursor() as cursor:
            cursor.execute(f"drop database if exists {name} with (force)")
        admin.close()


def test_postgres_extract_equals_the_source_row_for_row(postgres_database: Any) -> None:
    with postgres_database.cursor() as cursor:
        cursor.execute("create schema health")
        cursor.execute(f"create table {TYPED} ({PG_TYPED_DDL})")
        cursor.execute(f"insert into {TYPED} values {', '.join(PG_TYPED_ROWS)}")
        cursor.execute(f"select * from {TYPED}")
        source_rows = cursor.fetchall()
    dest = duckdb.connect()
    with warehouse.connect("postgres") as source:
        assert copy_relations(source, dest, (TYPED,), batch_rows=2) == {TYPED: 6}
    assert column_types(dest, "memory", TYPED) == PG_EXPECTED_TYPES
    extracted = dest.execute(f"select * from {TYPED}").fetchall()

    def key(row: tuple[Any, ...]) -> str:
        return repr(row[0])

    def as_copied(index: int, value: Any) -> Any:
        if value is None:
            return None
        if index == 3:  # real: what psycopg2 parsed, rounded to single precision as stored
            return float(np.float32(value))
        return float(value) if index == 10 else value  # numeric without precision -> DOUBLE

    expected = [tuple(as_copied(i, v) for i, v in enumerate(row))
                for row in sorted(source_rows, key=key)]
    assert normalised(sorted(extracted, key=key)) == normalised(expected)
    assert math.isnan(dest.execute(f"select x from {TYPED} where t = ''").fetchall()[0][0])


def load_into_postgres(connection: Any, db_path: Path, relations: tuple[str, ...]) -> None:
    """Copy relations of a DuckDB file into PostgreSQL tables of the matching types."""
    with (duckdb.connect(str(db_path), read_only=True) as con, connection.cursor() as cursor,
          tempfile.TemporaryDirectory() as folder):
        for relation in relations:
            schema = relation.split(".")[0]
            columns = ", ".join(f'"{column}" {DUCKDB_TO_POSTGRES[kind]}'
                                for column, kind in column_types(con, db_path.stem, relation))
            cursor.execute(f"create schema if not exists {schema}")
            cursor.execute(f"create table {relation} ({columns})")
            csv_path = Path(folder) / f"{relation}.csv"
            con.execute(f"copy (select * from {relation}) to '{csv_path}' (header false)")
            with csv_path.open("rb") as handle:
                cursor.copy_expert(f"copy {relation} from stdin with (format csv)", handle)


def test_backtest_on_postgres_equals_the_backtest_on_the_file(
    postgres_database: Any, history: GeneratedHistory, tmp_path: Path,
) -> None:
    load_into_postgres(postgres_database, history.working_path, BACKTEST_RELATIONS)
    direct = run_backtest(tmp_path / "direct", db_path=history.db_path)
    on_postgres = run_backtest(tmp_path / "extract", target="postgres")
    assert on_postgres["counts"] == direct["counts"]
    assert on_postgres["metrics"] == direct["metrics"]
    assert on_postgres["parameters"]["source"].startswith("postgres ")
