"""Great Expectations on DuckDB: every workaround the gate needs, in one place.

GX 1.24 has no DuckDB data source; the generic SQL data source works through duckdb-engine with
three adjustments, all made here and nowhere else (customer_health.gate.engines applies them):

1. Persisted connection (private GX attribute). GX fetches query results after returning its
   SQLAlchemy connection to the pool; DuckDB drops the pending result on the rollback, so every
   expectation would fail with `MetricResolutionError: list index out of range`. GX keeps one
   persistent connection for the dialects listed in
   `sqlalchemy_execution_engine._PERSISTED_CONNECTION_DIALECTS`; `enable_persisted_connection()`
   adds DuckDB to that tuple. tests/python/integration/test_gx_duckdb.py proves that a failing
   expectation fails and a passing one passes, so a silent all-fail can never pass for a gate.
2. No column reflection on tables. duckdb-engine 0.17 with SQLAlchemy 2.1 cannot reflect columns
   (the PostgreSQL dialect's query needs `pg_catalog.pg_collation`, which DuckDB lacks), and GX's
   fallback then drops the schema name. Assets are therefore *query* assets
   (`select * from <schema>.<relation>`, see `relation_query`): GX runs the query to read its
   column names, and DuckDB streams the result, so no row is fetched
   (tests/python/integration/test_gate_memory.py bounds what the gate fetches).
3. Read-only, and closed afterwards. GX opens the file read-only (`engine_kwargs()`, with the
   dbt profile's DuckDB settings: memory limit, threads) and the gate disposes every engine
   afterwards (`engines.close_sql_engines`), so the publish step (a separate read-write
   duckdb.connect in the same process) can open the file: DuckDB refuses a read-write
   connection while a read-only one to the same file is open in the process.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from great_expectations.execution_engine import sqlalchemy_execution_engine


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


def engine_kwargs(settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """create_engine() arguments: the file read-only, with DuckDB settings (default: the dbt
    profile's `settings` of the duckdb target, e.g. memory_limit and threads)."""
    if settings is None:
        from customer_health.engines.warehouse import target_credentials

        settings = target_credentials("duckdb").settings or {}
    return {"connect_args": {"read_only": True, "config": dict(settings)}}


def relation_query(relation: str) -> str:
    """The query a GX query asset validates for a `schema.relation` (see point 2 above)."""
    return f"select * from {relation}"
