"""What was published, in a form two runs can be compared by."""

from __future__ import annotations

from pathlib import Path

import duckdb


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


def health_checksums(connection: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """health_fingerprint's cheaper sibling (several times faster), on an open connection, for
    tests that compare many states: per relation in schema `health`, its columns, its row count
    and the sum of DuckDB's 64-bit hashes of its rows."""
    columns = connection.execute(
        "select table_name, string_agg(column_name || ' ' || data_type, ', ' "
        "order by ordinal_position) from information_schema.columns "
        "where table_schema = 'health' group by table_name order by table_name"
    ).fetchall()
    checksums = {}
    for table, names in columns:
        count, total = connection.execute(
            f'select count(*), sum(hash(r)::hugeint) from health."{table}" as r'
        ).fetchone()
        checksums[table] = f"{names} | {count} rows | {total}"
    return checksums


# Columns that name a run or a configuration, not a published value.
RUN_COLUMNS = ("dbt_invocation_id", "scoring_config_version")


def published_values_digest(
    db_path: Path, columns_by_relation: dict[str, list[str]] | None = None
) -> dict[str, dict]:
    """Per scored relation in schema `health` (not the publish log): its value columns (all but
    RUN_COLUMNS, or the ones `columns_by_relation` names), its row count and an
    order-independent md5 of those columns' values, so that a later version of the project can
    prove it publishes the same values for the same input."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        if columns_by_relation is None:
            listed = connection.execute(
                "select table_name, list(column_name order by ordinal_position) "
                "from information_schema.columns where table_schema = 'health' "
                "and table_name <> 'publish_log' group by table_name"
            ).fetchall()
            columns_by_relation = {
                table: [column for column in columns if column not in RUN_COLUMNS]
                for table, columns in listed
            }
        digest = {}
        for table, columns in sorted(columns_by_relation.items()):
            selected = ", ".join(f'"{column}"' for column in columns)
            count, md5 = connection.execute(
                "select count(*), md5(coalesce(string_agg(row_hash, '' order by row_hash), '')) "
                f"from (select md5(cast(row({selected}) as varchar)) as row_hash "
                f'from health."{table}")'
            ).fetchone()
            digest[table] = {"columns": columns, "rows": count, "md5": md5}
    return digest
