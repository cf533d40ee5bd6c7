"""The one interface the Python steps use to talk to the engine a dbt target points at.

DuckDB (the embedded default), PostgreSQL and Spark (a local session) each get a small class with
the same methods: run a query, run a statement, check a relation, group statements in a
transaction where the engine has one, and load a raw file as an all-text table. Connection
settings are read from the dbt profile (profiles.yml), so they live in one place.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from customer_health.engines.duckdb_paths import read_pattern, write_path
from customer_health.errors import InfrastructureError
from customer_health.settings import PROFILE_NAME, PROJECT_DIR

log = logging.getLogger(__name__)

ENGINES = ("duckdb", "postgres", "spark")


class WarehouseError(InfrastructureError):
    """The engine could not be reached or refused a statement."""


def target_credentials(target: str) -> Any:
    """The rendered credentials of a profiles.yml target (env vars applied, as dbt does).

    Rendered again when the environment has changed since, so an override set in the process
    (HEALTH_DUCKDB_MEMORY_LIMIT, PG*) always takes effect.
    """
    return _rendered_credentials(target, tuple(sorted(os.environ.items())))


@cache
def _rendered_credentials(target: str, environment: tuple[tuple[str, str], ...]) -> Any:
    from argparse import Namespace

    from dbt.config.profile import Profile, read_profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    set_from_args(Namespace(), {})
    profile = Profile.from_raw_profiles(
        read_profile(str(PROJECT_DIR)), PROFILE_NAME, renderer=ProfileRenderer({}),
        target_override=target,
    )
    return profile.credentials


target_credentials.cache_clear = _rendered_credentials.cache_clear  # type: ignore[attr-defined]


def duckdb_settings() -> dict[str, Any]:
    """The DuckDB settings of the profile (memory_limit, threads, ...; env-var overrides applied):
    every DuckDB connection of the project runs under them, as dbt's do."""
    return dict(target_credentials("duckdb").settings or {})


def spark_settings() -> dict[str, Any]:
    """The Spark session settings of the profile (server_side_parameters; env vars applied)."""
    return dict(target_credentials("spark").server_side_parameters or {})


def working_database(served: Path) -> Path:
    """The DuckDB file dbt builds in for a served file: the profile's duckdb path, rendered with
    HEALTH_DB_PATH set to the served file (profiles.yml holds the one rule)."""
    previous = os.environ.get("HEALTH_DB_PATH")
    os.environ["HEALTH_DB_PATH"] = str(served)
    try:
        return Path(target_credentials("duckdb").path).resolve()
    finally:
        if previous is None:
            os.environ.pop("HEALTH_DB_PATH", None)
        else:
            os.environ["HEALTH_DB_PATH"] = previous


class Warehouse:
    """A connection to one engine. Use as a context manager; close() releases it."""

    engine: str = ""
    # Type names for tables the Python steps create (the publish log).
    text_type: str = "varchar"
    double_type: str = "double"
    timestamp_type: str = "timestamp"

    def literal(self, value: object) -> str:
        """A SQL literal for a string, number or None (strings: quotes doubled)."""
        if value is None:
            return "null"
        if isinstance(value, bool | int | float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    def create_table_as(self, relation: str, select: str) -> None:
        """Create `relation` from a query."""
        self.execute(f"create table {relation} as {select}")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a query (none for a statement)."""
        return self.query_with_columns(sql)[1]

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a query."""
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        self.query(sql)

    def relation_exists(self, schema: str, name: str) -> bool:
        raise NotImplementedError

    def columns(self, schema: str, name: str) -> list[str]:
        """A relation's column names, in order."""
        return list(self.column_types(schema, name))

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        """A relation's columns, in order, with the engine's names of their types."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements in the block, or none (engines with transactions)."""
        self.execute("begin")
        try:
            yield
        except BaseException:
            self.execute("rollback")
            raise
        self.execute("commit")

    def load_raw_file(self, schema: str, table: str, path: Path, file_format: str) -> None:
        raise NotImplementedError

    # Tables partitioned by a text column, on the engines with versioned publishes (PostgreSQL,
    # Spark): each partition is written once and dropped whole.
    def create_partitioned_table(self, relation: str, like: str, column: str) -> None:
        """Create `relation` with the columns of query `like`, then text column `column`, which
        partitions it."""
        raise NotImplementedError

    def insert_partition(self, relation: str, column: str, value: str, select: str) -> None:
        """Write the rows of `select` (the table's other columns, in order) as the new partition
        `column` = value."""
        raise NotImplementedError

    def partition_values(self, relation: str, column: str) -> list[str]:
        raise NotImplementedError

    def drop_partition(self, relation: str, column: str, value: str) -> None:
        raise NotImplementedError

    def add_column(self, relation: str, name: str, kind: str) -> None:
        self.execute(f"alter table {relation} add column {name} {kind}")

    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"

    def __init__(self, db_path: Path, read_only: bool = False) -> None:
        import duckdb

        try:
            self.connection = duckdb.connect(
                str(db_path), read_only=read_only, config=duckdb_settings()
            )
        except duckdb.Error as error:
            hint = " (another process has the file open?)" if "lock" in str(error).lower() else ""
            raise WarehouseError(f"cannot open {db_path}{hint}: {error}") from error

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        import duckdb

        try:
            cursor = self.connection.execute(sql)
        except (duckdb.IOException, duckdb.OutOfMemoryException) as error:
            raise WarehouseError(f"DuckDB could not complete a statement: {error}") from error
        if not cursor.description:
            return [], []
        return [column[0] for column in cursor.description], cursor.fetchall()

    def relation_exists(self, schema: str, name: str) -> bool:
        return self.connection.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone() == (1,)

    def tables(self, schema: str, catalog: str | None = None) -> list[str]:
        """Base tables of a schema (of an attached database: catalog), by name."""
        return [row[0] for row in self.connection.execute(
            "select table_name from duckdb_tables() "
            "where database_name = coalesce(?, current_database()) and schema_name = ? "
            "order by table_name",
            [catalog, schema],
        ).fetchall()]

    def views(self, schema: str, catalog: str | None = None) -> dict[str, str]:
        """Views of a schema (of an attached database: catalog): name -> the statement that
        creates it, its references unqualified by database (DuckDB stores them so), so that it
        creates the same view of whichever database is the current one when it runs."""
        return dict(self.connection.execute(
            "select view_name, sql from duckdb_views() "
            "where database_name = coalesce(?, current_database()) and schema_name = ? "
            "and not internal order by view_name",
            [catalog, schema],
        ).fetchall())

    def is_view(self, schema: str, name: str) -> bool:
        return name in self.views(schema)

    def column_types(
        self, schema: str, name: str, catalog: str | None = None
    ) -> dict[str, str]:
        """Column names and types of a relation (of an attached database: catalog), in order."""
        return dict(self.connection.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_catalog = coalesce(?, current_database()) and table_schema = ? "
            "and table_name = ? order by ordinal_position",
            [catalog, schema, name],
        ).fetchall())

    def close(self) -> None:
        self.connection.close()


class PostgresWarehouse(Warehouse):
    engine = "postgres"
    text_type = "text"
    double_type = "double precision"

    def __init__(self) -> None:
        import psycopg2

        credentials = target_credentials("postgres")
        try:
            self.connection = psycopg2.connect(
                host=credentials.host, port=credentials.port, user=credentials.user,
                password=credentials.password, dbname=credentials.database,
                connect_timeout=credentials.connect_timeout, application_name="customer_health",
            )
        except psycopg2.Error as error:
            raise WarehouseError(
                f"cannot connect to PostgreSQL at {credentials.host}:{credentials.port} "
                f"(database {credentials.database}): {str(error).strip()}"
            ) from error
        self.connection.autocommit = True

    def query_with_columns(
        self, sql: str, parameters: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        import psycopg2

        with self.connection.cursor() as cursor:
            try:
                cursor.execute(sql, parameters or None)
            except psycopg2.OperationalError as error:  # disk full, server gone, cancelled
                raise WarehouseError(
                    f"PostgreSQL could not complete a statement: {str(error).strip()}"
                ) from error
            if not cursor.description:
                return [], []
            return [column[0] for column in cursor.description], cursor.fetchall()

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.query_with_columns(sql, parameters)[1]

    def relation_exists(self, schema: str, name: str) -> bool:
        return self.query(
            "select count(*) from information_schema.tables "
            "where table_schema = %s and table_name = %s",
            (schema, name),
        ) == [(1,)]

    def tables(self, schema: str) -> list[str]:
        """Base tables of a schema, by name."""
        return [row[0] for row in self.query(
            "select table_name from information_schema.tables "
            "where table_schema = %s and table_type = 'BASE TABLE' order by table_name",
            (schema,),
        )]

    def is_view(self, schema: str, name: str) -> bool:
        return self.query(
            "select count(*) from information_schema.views "
            "where table_schema = %s and table_name = %s",
            (schema, name),
        ) == [(1,)]

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        return dict(self.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s order by ordinal_position",
            (schema, name),
        ))

    def create_partitioned_table(self, relation: str, like: str, column: str) -> None:
        """Declarative list partitioning; the columns are copied from a temporary view."""
        self.execute(f"create temporary view partitioned_table_columns as {like} limit 0")
        try:
            self.execute(
                f"create table {relation} (like partitioned_table_columns, {column} text) "
                f"partition by list ({column})"
            )
        finally:
            self.execute("drop view partitioned_table_columns")

    def insert_partition(self, relation: str, column: str, value: str, select: str) -> None:
        """The partition is a table of its own, `<relation>__<value>` (names of at most 63
        characters), created from the rows (in bulk, each column cast to the partitioned table's
        exact type) and then attached: attaching takes a lock that readers of the partitioned
        table do not wait for."""
        partition = f"{relation}__{value}"
        casts = [
            f"cast({other} as {kind}) as {other}"
            for other, kind in self.query(
                "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                "where attrelid = %s::regclass and attnum > 0 and not attisdropped "
                "order by attnum",
                (relation,),
            )
            if other != column
        ]
        self.execute(f"drop table if exists {partition}")
        self.execute(
            f"create table {partition} as select {', '.join(casts)}, "
            f"cast({self.literal(value)} as text) as {column} from ({select}) as partition_rows"
        )
        self.execute(f"alter table {relation} attach partition {partition} "
                     f"for values in ({self.literal(value)})")

    def partition_values(self, relation: str, column: str) -> list[str]:
        """Every `<relation>__<value>` table, attached or left behind by a failed write."""
        schema, name = relation.split(".")
        prefix = f"{name}__"
        return [table.removeprefix(prefix) for table in self.tables(schema)
                if table.startswith(prefix)]

    def drop_partition(self, relation: str, column: str, value: str) -> None:
        """Detached concurrently (readers are not blocked), then dropped; a detach that was
        interrupted is finished."""
        partition = f"{relation}__{value}"
        attached = self.query(
            "select inhdetachpending from pg_inherits where inhrelid = to_regclass(%s)",
            (partition,),
        )
        if attached:
            how = "finalize" if attached[0][0] else "concurrently"
            self.execute(f"alter table {relation} detach partition {partition} {how}")
        self.execute(f"drop table if exists {partition}")

    def load_raw_file(self, schema: str, table: str, path: Path, file_format: str) -> None:
        """Replace schema.table with the file's rows, every column as text, in one transaction."""
        with _as_csv(path, file_format) as csv_path:
            self._copy_csv(schema, table, csv_path)

    def _copy_csv(self, schema: str, table: str, path: Path) -> None:
        from psycopg2 import sql

        with path.open(newline="") as handle:
            header = handle.readline().rstrip("\r\n").split(",")
        target = sql.Identifier(schema, table)
        column_list = sql.SQL(", ").join(
            sql.SQL("{} text").format(sql.Identifier(name.strip('"'))) for name in header
        )
        with self.transaction(), self.connection.cursor() as cursor:
            cursor.execute(sql.SQL("create schema if not exists {}").format(
                sql.Identifier(schema)))
            cursor.execute(sql.SQL("drop table if exists {}").format(target))
            cursor.execute(sql.SQL("create table {} ({})").format(target, column_list))
            with path.open("rb") as handle:
                cursor.copy_expert(
                    sql.SQL("copy {} from stdin with (format csv, header true)")
                    .format(target).as_string(self.connection),
                    handle,
                )

    def close(self) -> None:
        self.connection.close()


class SparkWarehouse(Warehouse):
    """A local Spark session, configured exactly as dbt-spark's `method: session` builds it.

    The session lives as long as the process (dbt runs in the same process on Spark, so both use
    one JVM and one Derby metastore, which allows a single process).
    """

    engine = "spark"
    text_type = "string"

    def __init__(self) -> None:
        self.session = spark_session()

    def literal(self, value: object) -> str:
        """Spark SQL reads backslash escapes inside string literals: escape them too."""
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return super().literal(value)

    def create_table_as(self, relation: str, select: str) -> None:
        self.execute(f"create table {relation} using parquet as {select}")

    def query_with_columns(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        frame = self.session.sql(sql)
        return list(frame.columns), [tuple(row) for row in frame.collect()]

    def relation_exists(self, schema: str, name: str) -> bool:
        return bool(self.session.catalog.databaseExists(schema)) and bool(
            self.session.catalog.tableExists(f"{schema}.{name}")
        )

    def is_view(self, schema: str, name: str) -> bool:
        return self.relation_exists(schema, name) and (
            self.session.catalog.getTable(f"{schema}.{name}").tableType == "VIEW"
        )

    def tables(self, schema: str) -> list[str]:
        """Tables and views of a schema (none when it does not exist), by name."""
        if not self.session.catalog.databaseExists(schema):
            return []
        return sorted(
            row[1] for row in self.query(f"show tables in {schema}") if not row[2]
        )

    def column_types(self, schema: str, name: str) -> dict[str, str]:
        fields = self.session.table(f"{schema}.{name}").schema.fields
        return {field.name: field.dataType.simpleString() for field in fields}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Spark has no multi-statement transactions: statements apply one by one."""
        yield

    def create_partitioned_table(self, relation: str, like: str, column: str) -> None:
        self.execute(
            f"create table {relation} using parquet partitioned by ({column}) as "
            f"select *, cast(null as string) as {column} from ({like}) as model limit 0"
        )

    def insert_partition(self, relation: str, column: str, value: str, select: str) -> None:
        """A static partition: its own folder, written beside the others (none is touched)."""
        self.execute(
            f"insert into {relation} partition ({column} = {self.literal(value)}) {select}"
        )

    def partition_values(self, relation: str, column: str) -> list[str]:
        prefix = f"{column}="
        return [row[0].removeprefix(prefix) for row in self.query(f"show partitions {relation}")]

    def drop_partition(self, relation: str, column: str, value: str) -> None:
        self.execute(
            f"alter table {relation} drop if exists partition ({column} = {self.literal(value)})"
        )

    def add_column(self, relation: str, name: str, kind: str) -> None:
        self.execute(f"alter table {relation} add columns ({name} {kind})")

    def load_raw_file(self, schema: str, table: str, path: Path, file_format: str) -> None:
        """(Re)define schema.table over the file or folder: CSV as text columns, or Parquet."""
        options = f"path {self.literal(str(path))}"
        if file_format == "csv":
            options += ", header 'true', multiLine 'true', escape '\"', mode 'PERMISSIVE'"
        self.execute(f"create schema if not exists {schema}")
        self.execute(f"drop table if exists {schema}.{table}")
        self.execute(
            f"create table {schema}.{table} using {file_format} options ({options})"
        )


@cache
def spark_session() -> Any:
    """The process's Spark session, with the profile's server_side_parameters."""
    logging.getLogger("py4j").setLevel(logging.WARNING)  # one line per closed socket otherwise
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("customer_health").enableHiveSupport()
    for key, value in spark_settings().items():
        builder = builder.config(key, str(value))
    try:
        session = builder.getOrCreate()
    except Exception as error:  # no Java, no memory, metastore held by another process, ...
        raise WarehouseError(
            f"cannot start the local Spark session: {str(error).strip().splitlines()[0]} "
            "(is Java 17 installed, and is no other process using HEALTH_SPARK_DIR?)"
        ) from error
    # dbt-spark asks for the session on every query, and Spark warns each time that it exists.
    session.sparkContext.setLogLevel("ERROR")
    return session


@contextmanager
def _as_csv(path: Path, file_format: str) -> Iterator[Path]:
    """The raw file as CSV (PostgreSQL's COPY reads CSV): a CSV file as it is, a Parquet folder as
    a temporary CSV copy, deleted afterwards."""
    if file_format == "csv":
        yield path
        return
    import shutil
    import tempfile

    import duckdb

    folder = Path(tempfile.mkdtemp(prefix="health_load_"))
    try:
        out = folder / f"{path.name}.csv"
        duckdb.sql(
            f"copy (select * from read_parquet({read_pattern(path, '*.parquet')}, "
            f"union_by_name = true)) to {write_path(out)} (header true)"
        )
        yield out
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def connect(target: str, db_path: Path | None = None, read_only: bool = False) -> Warehouse:
    """A Warehouse for a profiles.yml target: duckdb (db_path), postgres or spark."""
    if target == "duckdb":
        if db_path is None:
            raise ValueError("the duckdb target needs a database path")
        return DuckDBWarehouse(db_path, read_only=read_only)
    if target == "postgres":
        return PostgresWarehouse()
    if target == "spark":
        return SparkWarehouse()
    raise ValueError(f"unknown target {target!r}: choose one of {', '.join(ENGINES)}")
