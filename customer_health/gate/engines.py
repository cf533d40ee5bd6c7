"""The gate's Great Expectations data source on each dbt target: all engine-specific GX code.

    duckdb    GX SQL data source through duckdb-engine, with the workarounds of gx_duckdb.py
              (persisted connection, file opened read-only with the profile's DuckDB settings,
              query assets, engines disposed afterwards).
    postgres  GX PostgreSQL (SQL) data source, `postgresql+psycopg2://` URL built from the dbt
              profile's credentials (libpq PG* variables); sessions are read-only. Table
              assets: GX reads their columns from the catalog. (A query asset made GX run
              `select * from <relation>` to learn its columns, and psycopg2 buffers a whole
              result in the client: 19.6 GB at 1M accounts.)
    spark     GX Spark data source over the process's Spark session (warehouse.spark_session(),
              shared with dbt): one dataframe asset per relation, its batch the dataframe
              `spark_session().table(relation)`.

Every relation gets one asset (named after the relation) with one whole-table batch definition.
No check fetches more than a few rows (suites.RESULT_FORMAT, and SQL checks that aggregate).
A SQL URL is never written to the GX context folder: the data source's connection string is
`${HEALTH_GX_SQL_URL}`, an environment variable set only while the gate validates, and a
password never appears in logs or error messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from customer_health.gate import duckdb_workaround as gx_duckdb
from customer_health.gate.checks import asset_name

DATASOURCE_NAME = "customer_health"
BATCH_DEFINITION_NAME = "all_rows"
SQL_URL_ENV_VAR = "HEALTH_GX_SQL_URL"
SQL_CONNECTION_STRING = "${" + SQL_URL_ENV_VAR + "}"
SQL_ENGINES = ("duckdb", "postgres")
SPARK = "spark"


class EngineError(RuntimeError):
    """GX could not connect to the engine (the message carries no password)."""


@dataclass
class EngineData:
    """The GX data source of one run and, per relation, where its batch comes from."""

    target: str
    datasource: Any
    batch_definitions: dict[str, Any] = field(default_factory=dict)  # relation -> definition
    dataframes: dict[str, Any] = field(default_factory=dict)  # spark: relation -> DataFrame
    secret: str = ""  # the PostgreSQL password, kept out of messages

    def redact(self, text: str) -> str:
        return _redact(text, self.secret)

    def batch_definition(self, relation: str) -> Any:
        return self.batch_definitions[relation]

    def batch_parameters(self, relation: str) -> dict[str, Any] | None:
        """What ValidationDefinition.run needs to build the relation's batch."""
        if self.target != SPARK:
            return None
        if relation not in self.dataframes:
            from customer_health.engines.warehouse import spark_session

            self.dataframes[relation] = spark_session().table(relation)
        return {"dataframe": self.dataframes[relation]}


@contextmanager
def engine_data(
    context: Any, target: str, relations: Iterable[str], db_path: Path | None = None
) -> Iterator[EngineData]:
    """Add the target's data source and assets to the GX context for the block's duration.

    On leaving, SQL engines (and DuckDB's persisted connection) are disposed; the Spark session
    is left running (dbt and publish share it), only the dataframes GX cached are released.
    """
    relations = list(dict.fromkeys(relations))
    if target in SQL_ENGINES:
        with _sql_engine_data(context, target, relations, db_path) as data:
            yield data
    elif target == SPARK:
        data = _spark_engine_data(context, relations)
        try:
            yield data
        finally:
            for dataframe in data.dataframes.values():
                dataframe.unpersist()
    else:
        raise EngineError(f"unknown target {target!r}: choose one of duckdb, postgres, spark")


# -------------------------------------------------------------------------------------- SQL


@contextmanager
def _sql_engine_data(
    context: Any, target: str, relations: list[str], db_path: Path | None
) -> Iterator[EngineData]:
    url, kwargs, secret = _sql_connection(target, db_path)
    with _environment(SQL_URL_ENV_VAR, url):
        datasource = None
        try:
            try:
                # PostgreSQL has its own GX data source; DuckDB only the generic SQL one.
                add = (
                    context.data_sources.add_postgres
                    if target == "postgres"
                    else context.data_sources.add_sql
                )
                datasource = add(
                    name=f"{DATASOURCE_NAME}_{target}",
                    connection_string=SQL_CONNECTION_STRING,
                    kwargs=kwargs,
                )
            except Exception as error:
                raise EngineError(
                    f"Great Expectations cannot connect to {target}: "
                    f"{_redact(_message(error), secret)}"
                ) from None
            data = EngineData(target=target, datasource=datasource, secret=secret)
            for relation in relations:
                data.batch_definitions[relation] = _sql_asset(
                    datasource, target, relation
                ).add_batch_definition_whole_table(BATCH_DEFINITION_NAME)
            yield data
        finally:
            if datasource is not None:
                close_sql_engines([datasource])


def _sql_asset(datasource: Any, target: str, relation: str) -> Any:
    """A table asset, except on DuckDB, whose tables GX cannot reflect (duckdb_workaround)."""
    if target == "duckdb":
        return datasource.add_query_asset(
            name=asset_name(relation), query=gx_duckdb.relation_query(relation)
        )
    schema, table = relation.split(".", 1)
    return datasource.add_table_asset(name=asset_name(relation), table_name=table,
                                      schema_name=schema)


def _sql_connection(target: str, db_path: Path | None) -> tuple[str, dict[str, Any], str]:
    """SQLAlchemy URL, create_engine() kwargs and the secret to keep out of messages."""
    if target == "duckdb":
        if db_path is None:
            raise EngineError("the duckdb target needs a database path")
        gx_duckdb.enable_persisted_connection()
        if not gx_duckdb.persisted_connection_enabled():
            raise EngineError("the GX DuckDB workaround is not active (see scripts/gx_duckdb.py)")
        return gx_duckdb.database_url(db_path), gx_duckdb.engine_kwargs(), ""
    from customer_health.engines.warehouse import target_credentials

    credentials = target_credentials("postgres")
    password = credentials.password or ""
    connect_args = {
        "application_name": "customer_health_gate",
        "options": "-c default_transaction_read_only=on",
    }
    if credentials.connect_timeout:
        connect_args["connect_timeout"] = int(credentials.connect_timeout)
    return postgres_url(credentials), {"connect_args": connect_args}, password


def postgres_url(credentials: Any) -> str:
    """`postgresql+psycopg2://` URL of the dbt profile's PostgreSQL credentials (quoted)."""
    user = quote(str(credentials.user or ""), safe="")
    password = str(credentials.password or "")
    login = f"{user}:{quote(password, safe='')}" if password else user
    host = credentials.host or "localhost"
    host = f"[{host}]" if ":" in host else host
    return (
        f"postgresql+psycopg2://{login}@{host}:{int(credentials.port)}/"
        f"{quote(str(credentials.database), safe='')}"
    )


def close_sql_engines(datasources: Iterable[Any]) -> None:
    """Dispose the SQLAlchemy engines (and any persisted connection) of GX SQL data sources.

    The execution engine validates; the plain engine served the connection test that adding a
    data source runs (its pool keeps that connection open until disposed).
    """
    closed: set[int] = set()
    for datasource in datasources:
        for engine, close in (
            (datasource.get_execution_engine(), "close"),
            (datasource.get_engine(), "dispose"),
        ):
            if id(engine) not in closed:
                getattr(engine, close)()
                closed.add(id(engine))


# ------------------------------------------------------------------------------------ Spark


def _spark_engine_data(context: Any, relations: list[str]) -> EngineData:
    from customer_health.engines.warehouse import spark_session

    spark_session()  # GX's Spark execution engine then reuses this session (getOrCreate)
    datasource = context.data_sources.add_spark(name=f"{DATASOURCE_NAME}_{SPARK}")
    data = EngineData(target=SPARK, datasource=datasource)
    for relation in relations:
        asset = datasource.add_dataframe_asset(name=asset_name(relation))
        data.batch_definitions[relation] = asset.add_batch_definition_whole_dataframe(
            BATCH_DEFINITION_NAME
        )
    return data


# ---------------------------------------------------------------------------------- helpers


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _message(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:500]


def _redact(text: str, secret: str) -> str:
    if not secret:
        return text
    for form in {secret, quote(secret, safe="")}:
        text = text.replace(form, "***")
    return text
