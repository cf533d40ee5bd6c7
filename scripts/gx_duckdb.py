"""Great Expectations on DuckDB: every workaround the gate needs, in one place.

GX 1.24 has no DuckDB data source; the generic SQL data source works through duckdb-engine with
three adjustments, all made here and nowhere else:

1. Persisted connection (private GX attribute). GX fetches query results after returning its
   SQLAlchemy connection to the pool; DuckDB drops the pending result on the rollback, so every
   expectation would fail with `MetricResolutionError: list index out of range`. GX keeps one
   persistent connection for the dialects listed in
   `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`; `enable_persisted_connection()`
   adds DuckDB to that tuple. tests/python/test_gx_duckdb.py proves that a deliberately failing
   expectation fails and a passing one passes, so a silent all-fail can never pass for a gate.
2. No column reflection on tables. duckdb-engine 0.17 with SQLAlchemy 2.1 cannot reflect columns
   (the PostgreSQL dialect's query needs `pg_catalog.pg_collation`, which DuckDB lacks), and GX's
   fallback then drops the schema name. Assets are therefore *query* assets
   (`select * from <schema>.<relation>`, see `relation_query`), for which GX reads the column
   names from the query itself. Column types are checked with SQL on information_schema instead.
3. Read-only, and closed afterwards. GX opens the file read-only (`ENGINE_KWARGS`) and
   `close_execution_engines()` disposes every engine, so the publish step (a separate
   read-write duckdb.connect in the same process) can open the file: DuckDB refuses a
   read-write connection while a read-only one to the same file is open in the process.

The connection string is not stored in gx/: the data source reads it from the environment
variable named by `URL_ENV_VAR`, set by `database_url_env()` for the duration of a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from great_expectations.execution_engine import sqlalchemy_execution_engine

URL_ENV_VAR = "HEALTH_GX_DUCKDB_URL"
# The data source's connection string in gx/great_expectations.yml (GX substitutes the variable).
CONNECTION_STRING = "${" + URL_ENV_VAR + "}"
# Passed by GX to SQLAlchemy's create_engine(): open the DuckDB file read-only, with the same
# DuckDB memory limit and threads as the dbt profile's defaults.
ENGINE_KWARGS: dict[str, Any] = {
    "connect_args": {"read_only": True, "config": {"memory_limit": "3GB", "threads": 2}}
}


class _DuckDBDialect(Enum):
    """Stands in for the GXSqlDialect member GX lacks; compares equal to the name 'duckdb'."""

    DUCKDB = "duckdb"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other.lower() == self.value
        return getattr(other, "value", None) == self.value

    def __hash__(self) -> int:
        return hash(self.value)


def enable_persisted_connection() -> None:
    """Make GX keep one connection open for DuckDB (idempotent)."""
    dialects = sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS
    if "duckdb" not in dialects:
        sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS = (
            *dialects,
            _DuckDBDialect.DUCKDB,
        )


def persisted_connection_enabled() -> bool:
    return "duckdb" in sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS


def database_url(db_path: Path) -> str:
    """SQLAlchemy URL of a DuckDB file (absolute path, as duckdb-engine expects)."""
    return f"duckdb:///{Path(db_path).resolve()}"


@contextmanager
def database_url_env(db_path: Path) -> Iterator[None]:
    """Point the GX data source at db_path while the block runs."""
    previous = os.environ.get(URL_ENV_VAR)
    os.environ[URL_ENV_VAR] = database_url(db_path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(URL_ENV_VAR, None)
        else:
            os.environ[URL_ENV_VAR] = previous


def relation_query(relation: str) -> str:
    """The query a GX query asset validates for a `schema.relation` (see point 2 above)."""
    return f"select * from {relation}"


def close_execution_engines(
    context: Any, checkpoints: Iterable[Any] = (), datasources: Iterable[Any] = ()
) -> None:
    """Dispose the SQLAlchemy engine (and its persisted connection) of every data source.

    Data sources created in the same session as the validation are separate objects from the
    ones the context lists, so also close those of the checkpoints' validation definitions and
    any passed in `datasources`.
    """
    datasources = [*context.data_sources.all().values(), *datasources]
    for checkpoint in checkpoints:
        for definition in checkpoint.validation_definitions:
            datasources.append(definition.data.data_asset.datasource)
    closed: set[int] = set()
    for datasource in datasources:
        # The execution engine validates; the plain engine served the connection test that
        # adding a data source runs (its pool keeps that connection open until disposed).
        for engine, close in (
            (datasource.get_execution_engine(), "close"),
            (datasource.get_engine(), "dispose"),
        ):
            if id(engine) not in closed:
                getattr(engine, close)()
                closed.add(id(engine))
