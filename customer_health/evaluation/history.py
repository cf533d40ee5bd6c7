"""Copy relations from any dbt target into a temporary local DuckDB database (an "extract").

The backtest and the weight calibration do their analysis in DuckDB SQL. On the duckdb target they
read the DuckDB file directly (read-only, no copy). On PostgreSQL and Spark, `open_extract()`
copies the relations they read into a temporary DuckDB file, under the same schema.table names and
with the same column types, and the analysis runs on that unchanged. The file is deleted on exit.

One copy path serves every engine (`copy_relation`): the source's column types are mapped to
DuckDB types (`duckdb_type`), the table is created in the extract with them, and the rows are
streamed in batches (DuckDB: its result cursor; PostgreSQL: a server-side cursor, all relations in
one read-only repeatable-read snapshot; Spark on a non-local master: partition by partition),
each batch turned into typed column arrays and inserted with one INSERT ... SELECT. A local Spark
session instead writes the relation as Parquet to a temporary folder, which DuckDB reads (rows
through Python are slow on Spark). Dates stay dates, doubles doubles (NaN and infinities too),
decimals keep precision and scale, NULLs stay NULL. A source type without a DuckDB counterpart
(arrays, intervals, ...) is copied as its text, with a warning.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from customer_health.engines import warehouse
from customer_health.engines.duckdb_paths import read_pattern
from customer_health.settings import PipelinePaths

log = logging.getLogger(__name__)

BATCH_ROWS = 100_000
BATCH_VIEW = "history_extract_batch"


class ExtractError(RuntimeError):
    """The source cannot be read or lacks a relation."""


class MissingRelationsError(ExtractError):
    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__(f"missing relations: {', '.join(missing)}")
        self.missing = list(missing)


@dataclass(frozen=True)
class Column:
    name: str
    source_type: str
    duckdb_type: str
    kind: str  # how batch values become an array: see ARRAY_BUILDERS


@dataclass
class Extract:
    """An open extract: the DuckDB connection and what was copied into it."""

    connection: duckdb.DuckDBPyConnection
    rows: dict[str, int]
    seconds: float


# ----------------------------------------------------------------------------- types

# Source type name (lower case, parameters removed) -> DuckDB type, per engine. DuckDB's own
# type names are used as they are (DECIMAL(p,s) keeps its parameters).
POSTGRES_TYPES = {
    "text": "VARCHAR", "character varying": "VARCHAR", "character": "VARCHAR", "name": "VARCHAR",
    "date": "DATE",
    "double precision": "DOUBLE", "real": "FLOAT",
    "bigint": "BIGINT", "integer": "INTEGER", "smallint": "SMALLINT",
    "numeric": "DOUBLE",  # without precision: no exact DuckDB counterpart (warned about)
    "boolean": "BOOLEAN",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMPTZ",
}
SPARK_TYPES = {
    "string": "VARCHAR", "varchar": "VARCHAR", "char": "VARCHAR",
    "date": "DATE",
    "double": "DOUBLE", "float": "FLOAT",
    "bigint": "BIGINT", "int": "INTEGER", "smallint": "SMALLINT", "tinyint": "TINYINT",
    "boolean": "BOOLEAN",
    # Spark timestamps arrive as UTC wall-clock time (Parquet), or as the session time zone's
    # (rows through Python). None of the relations the backtest reads has one.
    "timestamp": "TIMESTAMP", "timestamp_ntz": "TIMESTAMP",
}
DECIMAL = re.compile(r"^(?:decimal|numeric)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$", re.IGNORECASE)
MAX_DECIMAL_PRECISION = 38

KINDS = {
    "VARCHAR": "text", "DATE": "date", "DOUBLE": "float", "FLOAT": "float",
    "BIGINT": "integer", "INTEGER": "integer", "SMALLINT": "integer", "TINYINT": "integer",
    "BOOLEAN": "boolean", "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "as_text",
    "TIMESTAMP WITH TIME ZONE": "as_text",
}


def duckdb_type(engine: str, source_type: str) -> str | None:
    """The DuckDB type for a column type of `engine`, or None when there is none."""
    name = source_type.strip()
    decimal = DECIMAL.match(name)
    if decimal:
        precision, scale = int(decimal[1]), int(decimal[2])
        return f"DECIMAL({precision},{scale})" if precision <= MAX_DECIMAL_PRECISION else None
    if engine == "duckdb":
        return name.upper() if name.upper() in KINDS else None
    base = re.sub(r"\s*\(.*\)$", "", name).lower()
    table = POSTGRES_TYPES if engine == "postgres" else SPARK_TYPES
    return table.get(base)


def make_column(engine: str, name: str, source_type: str) -> Column:
    mapped = duckdb_type(engine, source_type)
    if mapped is None:
        log.warning("column %s: %s type %s has no DuckDB counterpart; copied as text",
                    name, engine, source_type)
        return Column(name, source_type, "VARCHAR", "as_text")
    if engine == "postgres" and source_type.strip().lower() == "numeric":
        log.warning("column %s: numeric without precision copied as DOUBLE (not exact)", name)
    kind = "decimal" if mapped.startswith("DECIMAL") else KINDS[mapped]
    return Column(name, source_type, mapped, kind)


# ----------------------------------------------------------------------------- sources


def split_relation(relation: str) -> tuple[str, str]:
    schema, _, name = relation.partition(".")
    if not schema or not name or "." in name:
        raise ValueError(f"expected schema.table, got {relation!r}")
    return schema, name


def quote(identifier: str, engine: str = "duckdb") -> str:
    if engine == "spark":
        return "`" + identifier.replace("`", "``") + "`"
    return '"' + identifier.replace('"', '""') + '"'


def source_columns(source: warehouse.Warehouse, schema: str, name: str) -> list[Column]:
    """The relation's columns in order, with their types mapped to DuckDB."""
    if source.engine == "spark":
        fields = source.session.table(f"{quote(schema, 'spark')}.{quote(name, 'spark')}").schema
        pairs = [(field.name, field.dataType.simpleString()) for field in fields.fields]
    else:
        if source.engine == "postgres":
            sql = ("select column_name, case when data_type = 'numeric' and numeric_precision "
                   "is not null then format('numeric(%%s,%%s)', numeric_precision, "
                   "numeric_scale) else data_type end from information_schema.columns "
                   "where table_schema = %s and table_name = %s order by ordinal_position")
        else:
            sql = ("select column_name, data_type from information_schema.columns "
                   "where table_schema = ? and table_name = ? order by ordinal_position")
        with _cursor(source) as cursor:
            cursor.execute(sql, (schema, name))
            pairs = cursor.fetchall()
    if not pairs:
        raise MissingRelationsError([f"{schema}.{name}"])
    return [make_column(source.engine, column, kind) for column, kind in pairs]


@contextmanager
def _cursor(source: warehouse.Warehouse, name: str | None = None) -> Iterator[Any]:
    """A DB-API cursor on a DuckDB or PostgreSQL source (name: server-side, PostgreSQL)."""
    if source.engine == "duckdb":
        cursor = source.connection.cursor()
    elif source.engine == "postgres":
        cursor = source.connection.cursor(name=name) if name else source.connection.cursor()
    else:
        raise ValueError(f"no DB-API cursor on {source.engine}")
    try:
        yield cursor
    finally:
        cursor.close()


def source_batches(source: warehouse.Warehouse, schema: str, name: str, columns: list[Column],
                   batch_rows: int) -> Iterator[list[tuple[Any, ...]]]:
    """The relation's rows, at most batch_rows at a time, columns in `columns` order."""
    select = ", ".join(quote(c.name, source.engine) for c in columns)
    relation = f"{quote(schema, source.engine)}.{quote(name, source.engine)}"
    if source.engine == "spark":
        rows = source.session.sql(f"select {select} from {relation}").toLocalIterator(
            prefetchPartitions=True)
        while batch := [tuple(row) for row in itertools.islice(rows, batch_rows)]:
            yield batch
        return
    cursor_name = f"history_extract_{name}" if source.engine == "postgres" else None
    with _cursor(source, cursor_name) as cursor:
        if cursor_name:
            cursor.itersize = batch_rows
        cursor.execute(f"select {select} from {relation}")
        while batch := cursor.fetchmany(batch_rows):
            yield batch


@contextmanager
def snapshot(source: warehouse.Warehouse) -> Iterator[None]:
    """PostgreSQL: read every relation in one read-only repeatable-read transaction."""
    if source.engine != "postgres":
        yield
        return
    connection = source.connection
    connection.autocommit = False
    connection.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        yield
    finally:
        connection.rollback()
        connection.set_session(isolation_level="DEFAULT", readonly="DEFAULT")
        connection.autocommit = True


# ----------------------------------------------------------------------------- batches


def _text(values: Sequence[Any]) -> np.ndarray:
    return np.array(values, dtype=object)


def _as_text(values: Sequence[Any]) -> np.ndarray:
    return np.array([v if v is None or isinstance(v, str) else _text_of(v) for v in values],
                    dtype=object)


def _text_of(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _date(values: Sequence[Any]) -> np.ndarray:
    return np.array(values, dtype="datetime64[D]").astype("datetime64[s]")


def _timestamp(values: Sequence[Any]) -> np.ndarray:
    return np.array(values, dtype="datetime64[us]")


def _float(values: Sequence[Any]) -> Any:
    array = np.array(values, dtype=float)  # None -> NaN
    missing = np.isnan(array)
    if missing.any():
        nulls = np.equal(np.array(values, dtype=object), None)
        if (missing & ~nulls).any():
            # A NaN in the data: DuckDB reads NaN in a float array as NULL, so pass text.
            return np.array([None if v is None else repr(float(v)) for v in values],
                            dtype=object)
    return pd.arrays.FloatingArray(np.where(missing, 0.0, array), missing)


def _integer(values: Sequence[Any]) -> Any:
    return pd.array(values, dtype="Int64")


def _boolean(values: Sequence[Any]) -> Any:
    return pd.array(values, dtype="boolean")


def _decimal(values: Sequence[Any]) -> np.ndarray:
    return np.array([None if v is None else format(v, "f") for v in values], dtype=object)


ARRAY_BUILDERS = {
    "text": _text, "as_text": _as_text, "date": _date, "timestamp": _timestamp,
    "float": _float, "integer": _integer, "boolean": _boolean, "decimal": _decimal,
}


def batch_frame(rows: list[tuple[Any, ...]], columns: list[Column]) -> pd.DataFrame:
    """A batch of rows as a frame of typed columns c0, c1, ... (cast to the final type later)."""
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame({
        f"c{i}": ARRAY_BUILDERS[column.kind](values)
        for i, (column, values) in enumerate(zip(columns, by_column, strict=True))
    })


# ----------------------------------------------------------------------------- copy


def create_table(dest: duckdb.DuckDBPyConnection, schema: str, name: str,
                 columns: list[Column]) -> None:
    definitions = ", ".join(f"{quote(c.name)} {c.duckdb_type}" for c in columns)
    dest.execute(f"create schema if not exists {quote(schema)}")
    dest.execute(f"create or replace table {quote(schema)}.{quote(name)} ({definitions})")


def copy_relation(source: warehouse.Warehouse, dest: duckdb.DuckDBPyConnection, relation: str,
                  batch_rows: int = BATCH_ROWS) -> int:
    """Copy schema.name from `source` (any engine) into the DuckDB `dest`; the rows copied."""
    schema, name = split_relation(relation)
    columns = source_columns(source, schema, name)
    create_table(dest, schema, name, columns)
    if source.engine == "spark" and spark_is_local(source):
        return copy_through_parquet(source, dest, schema, name, columns)
    casts = ", ".join(f"cast(c{i} as {c.duckdb_type})" for i, c in enumerate(columns))
    insert = f"insert into {quote(schema)}.{quote(name)} select {casts} from {BATCH_VIEW}"
    copied = 0
    for rows in source_batches(source, schema, name, columns, batch_rows):
        dest.register(BATCH_VIEW, batch_frame(rows, columns))
        try:
            dest.execute(insert).fetchall()
        finally:
            dest.unregister(BATCH_VIEW)
        copied += len(rows)
    return copied


def spark_is_local(source: warehouse.Warehouse) -> bool:
    """Whether Spark's executors write to this machine's file system (master local[...])."""
    return str(source.session.sparkContext.master).startswith("local")


def copy_through_parquet(source: warehouse.Warehouse, dest: duckdb.DuckDBPyConnection,
                         schema: str, name: str, columns: list[Column]) -> int:
    """Local Spark: write the relation as Parquet to a temporary folder and read that (much
    faster than rows through Python; Parquet keeps dates, doubles and decimals as they are)."""
    select = ", ".join(quote(c.name, "spark") for c in columns)
    relation = f"{quote(schema, 'spark')}.{quote(name, 'spark')}"
    casts = ", ".join(f"cast({quote(c.name)} as {c.duckdb_type})" for c in columns)
    with tempfile.TemporaryDirectory(prefix="health_extract_spark_") as folder:
        out = Path(folder) / "rows"
        source.session.sql(f"select {select} from {relation}").write.parquet(str(out))
        if not any(out.glob("*.parquet")):
            return 0
        ((copied,),) = dest.execute(
            f"insert into {quote(schema)}.{quote(name)} select {casts} "
            f"from read_parquet({read_pattern(out, '*.parquet')})"
        ).fetchall()
    return int(copied)


def copy_relations(source: warehouse.Warehouse, dest: duckdb.DuckDBPyConnection,
                   relations: Sequence[str], batch_rows: int = BATCH_ROWS) -> dict[str, int]:
    """Copy every relation (all or none present: MissingRelationsError lists the absent ones)."""
    missing = [r for r in relations if not source.relation_exists(*split_relation(r))]
    if missing:
        raise MissingRelationsError(missing)
    copied = {}
    with snapshot(source):
        for relation in relations:
            started = time.perf_counter()
            copied[relation] = copy_relation(source, dest, relation, batch_rows)
            log.info("copied %s from %s: %s rows in %.1f s", relation, source.engine,
                     copied[relation], time.perf_counter() - started)
    return copied


def describe_target(target: str) -> str:
    """Where a non-DuckDB target's data comes from, for reports (no secrets)."""
    if target == "postgres":
        credentials = warehouse.target_credentials("postgres")
        return f"postgres {credentials.host}:{credentials.port}/{credentials.database}"
    if target == "spark":
        PipelinePaths.resolve(target=target)  # HEALTH_SPARK_DIR made absolute
        return f"spark (HEALTH_SPARK_DIR={os.environ['HEALTH_SPARK_DIR']})"
    return target


@contextmanager
def open_extract(target: str, relations: Sequence[str], batch_rows: int = BATCH_ROWS,
                 choose: Callable[[Callable[[str], bool]], Sequence[str]] | None = None
                 ) -> Iterator[Extract]:
    """Copy `relations` from a target into a temporary DuckDB file and yield it (deleted after).

    `choose`, when given, is called with a test of whether the source holds a relation
    ("schema.table") and returns further relations to copy (the evaluations pick their label
    relations by what the source holds, and copy only those). The source connection is closed
    once the copy is done. Raises MissingRelationsError when the target lacks a relation and
    warehouse.WarehouseError when it cannot be reached.
    """
    # As the pipeline does: HEALTH_SPARK_DIR made absolute, so Spark finds its metastore.
    PipelinePaths.resolve(target=target)
    with tempfile.TemporaryDirectory(prefix="health_extract_") as folder:
        dest = duckdb.connect(str(Path(folder) / "extract.duckdb"))
        try:
            started = time.perf_counter()
            with warehouse.connect(target) as source:
                wanted = list(relations)
                if choose is not None:
                    missing = [r for r in wanted
                               if not source.relation_exists(*split_relation(r))]
                    if missing:  # before choosing: a missing history is the first thing to say
                        raise MissingRelationsError(missing)
                    extra = choose(lambda r: source.relation_exists(*split_relation(r)))
                    wanted += [r for r in extra if r not in wanted]
                rows = copy_relations(source, dest, wanted, batch_rows)
            yield Extract(dest, rows, round(time.perf_counter() - started, 2))
        finally:
            dest.close()
