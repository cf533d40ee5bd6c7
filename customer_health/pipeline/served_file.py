"""DuckDB: the file BI reads is never opened for writing.

DuckDB admits one writing process per file, and a reader holding the file blocks a writer. So a
refresh builds, audits and publishes in a private working database (dbt's `duckdb` target path in
profiles.yml), and BI reads the served file (HEALTH_DB_PATH, `--db-path`), which holds only
schema `health`. Each publish writes a new served file beside the old one, syncs it to disk and
renames it over the old one: a reader holding the old file keeps reading a consistent snapshot,
the next connection sees the new run, and a crash at any point leaves one whole file.

After a publish, the new served file is a copy of the old one (a file copy, at disk speed) in
which only what the publish changed is rewritten: the current relations whole, and in the history
relations only the dates the run scored. So a daily refresh does not rewrite years of history.
When the old served file does not hold the run published before this one (a first publish, a
rollback, a served file lost or restored from elsewhere), the new one is written whole from the
working database instead.

Every served file written is also kept, hard-linked, as `<versions folder>/<run id>.duckdb`
(the newest `keep` of them), which is what `health rollback` restores.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from customer_health.engines.warehouse import Warehouse, WarehouseError, connect
from customer_health.errors import BadInputError
from customer_health.settings import (
    PUBLISH_LOG_TABLE,
    PUBLISHED_SCHEMA,
    PUBLISHES_KEPT,
    PipelinePaths,
)

log = logging.getLogger(__name__)

VERSION_SUFFIX = ".duckdb"
PUBLISH_LOG = PUBLISH_LOG_TABLE.split(".")[-1]


def versions_folder(served: Path) -> Path:
    return served.with_name(f".{served.name}.versions")


def version_file(served: Path, run_id: str) -> Path:
    return versions_folder(served) / f"{run_id}{VERSION_SUFFIX}"


def kept_versions(served: Path) -> list[str]:
    """Run ids of the kept served files, newest first."""
    folder = versions_folder(served)
    if not folder.is_dir():
        return []
    files = sorted(folder.glob(f"*{VERSION_SUFFIX}"), key=lambda f: f.stat().st_mtime_ns)
    return [file.name.removesuffix(VERSION_SUFFIX) for file in reversed(files)]


def check_no_foreign_log(served: Path) -> None:
    """Refuse a write-ahead log beside the served file: a publish never writes that file in
    place, so a log there comes from elsewhere (a restore, another tool) and DuckDB would replay
    it into what BI reads."""
    wal = served.with_name(served.name + ".wal")
    if wal.exists():
        raise BadInputError(
            f"unexpected write-ahead log {wal} beside the published database: a refresh never "
            "writes that file in place, so the log comes from another tool or a restore. Move it "
            "away (or, if it belongs to the file, open the file once with DuckDB to replay it), "
            "then rerun"
        )


def prepare_working_database(paths: PipelinePaths) -> None:
    """Before a build: refuse a foreign write-ahead log or an unreadable served file; open the
    working database for writing (held, unreadable or not a database: WarehouseError, exit 5);
    bring its schema `health` in line with the served file: restored from it when the working
    database is new or was lost, or written out again when a previous run published in the
    working database but failed to write the served file."""
    served, working = paths.db_path, paths.build_db_path
    check_no_foreign_log(served)
    served_run = latest_run(served) if served.is_file() else None
    with connect("duckdb", working) as warehouse:
        working_run = _latest_logged_run(warehouse)
        if served_run is not None and working_run is None:
            log.info("working database %s has no published state: restoring it from %s",
                     working, served)
            restore_working_from(warehouse, served, keep_log=False)
        elif working_run is not None and working_run != served_run:
            log.warning("served file %s lacks run %s: writing it again", served, working_run)
            write_served_file(warehouse, served, working_run, PUBLISHES_KEPT)


def latest_run(database: Path) -> str | None:
    """The newest run in a database file's publish log (None: nothing published)."""
    with connect("duckdb", database, read_only=True) as warehouse:
        return _latest_logged_run(warehouse)


def _latest_logged_run(warehouse: Warehouse) -> str | None:
    if not warehouse.relation_exists(PUBLISHED_SCHEMA, "publish_log"):
        return None
    rows = warehouse.query(
        f"select run_id from {PUBLISH_LOG_TABLE} order by published_at desc limit 1"
    )
    return rows[0][0] if rows else None


def serve(
    working: Warehouse, served: Path, run_id: str, changed: Mapping[str, str | None]
) -> None:
    """Write the served file after a publish in the working database (`changed`: the relations
    the publish changed, each with the condition of the rows it replaced, None for the whole
    relation); a failure here is retryable (the next run writes it), and BI keeps the previous
    file meanwhile."""
    try:
        write_served_file(working, served, run_id, PUBLISHES_KEPT, changed)
    except OSError as error:
        raise WarehouseError(
            f"run {run_id} is published in the working database but the served file {served} "
            f"could not be written ({error}); BI still reads the previous run, and the next "
            "refresh writes it"
        ) from error


def write_served_file(
    working: Warehouse,
    served: Path,
    run_id: str,
    keep: int,
    changed: Mapping[str, str | None] | None = None,
) -> None:
    """Put a new served file holding schema `health` of the working database in place
    atomically and keep it as version `run_id`: the old served file copied with only the
    `changed` relations rewritten when it holds the run published before `run_id`, else written
    whole."""
    served.parent.mkdir(parents=True, exist_ok=True)
    next_file = served.with_name(f".{served.name}.next")
    next_file.unlink(missing_ok=True)
    tables = working.tables(PUBLISHED_SCHEMA)
    updated = changed is not None and _holds_previous_run(working, served, run_id)
    if updated:
        shutil.copyfile(served, next_file)
    working.execute(f"attach {working.literal(str(next_file))} as served_next")
    try:
        _drop_views(working, "served_next")
        if updated:
            _rewrite_changed(working, tables, changed or {})
        else:
            working.execute(f"create schema served_next.{PUBLISHED_SCHEMA}")
            for table in tables:
                _copy_whole(working, table)
        _create_views(working, working.views(PUBLISHED_SCHEMA), "served_next")
    finally:
        working.execute("detach served_next")
    _sync(next_file)
    version = version_file(served, run_id)
    version.parent.mkdir(exist_ok=True)
    version.unlink(missing_ok=True)
    os.link(next_file, version)
    os.replace(next_file, served)
    _sync(served.parent)
    for old in kept_versions(served)[keep:]:
        version_file(served, old).unlink(missing_ok=True)
    log.info("served file %s now holds run %s (%s relations, %s)", served, run_id, len(tables),
             "changes rewritten" if updated else "written whole")


def _holds_previous_run(working: Warehouse, served: Path, run_id: str) -> bool:
    """Whether the served file's latest run is the working database's latest before run_id."""
    if not served.is_file():
        return False
    previous = working.query(
        f"select run_id from {PUBLISH_LOG_TABLE} where run_id <> {working.literal(run_id)} "
        "order by published_at desc limit 1"
    )
    return bool(previous) and latest_run(served) == previous[0][0]


def _rewrite_changed(
    working: Warehouse, tables: list[str], changed: Mapping[str, str | None]
) -> None:
    """In the copied served file: replace the changed rows of each changed relation (the whole
    relation when its columns changed), copy relations it lacks, drop those the working database
    no longer has, and replace the publish log."""
    copied = set(working.tables(PUBLISHED_SCHEMA, catalog="served_next"))
    for table in sorted(copied - set(tables)):
        working.execute(f"drop table served_next.{PUBLISHED_SCHEMA}.{table}")
    for table in tables:
        if table in copied and table not in changed and table != PUBLISH_LOG:
            continue
        replaced = changed.get(table)
        same_columns = table in copied and working.column_types(PUBLISHED_SCHEMA, table) == (
            working.column_types(PUBLISHED_SCHEMA, table, catalog="served_next"))
        if replaced is None or not same_columns:
            _copy_whole(working, table)
            continue
        next_table = f"served_next.{PUBLISHED_SCHEMA}.{table}"
        working.execute(f"delete from {next_table} where {replaced}")
        working.execute(
            f"insert into {next_table} select * from {PUBLISHED_SCHEMA}.{table} where {replaced}"
        )


def _drop_views(working: Warehouse, catalog: str | None = None) -> None:
    """Drop the views of schema `health` in the working database or an attached one (none in a
    new one)."""
    prefix = f"{catalog}." if catalog else ""
    for view in working.views(PUBLISHED_SCHEMA, catalog=catalog):
        working.execute(f"drop view {prefix}{PUBLISHED_SCHEMA}.{view}")


def _create_views(working: Warehouse, views: Mapping[str, str], catalog: str) -> None:
    """Create views (name -> statement, as DuckDBWarehouse.views gives them) in a database, over
    its own tables: each statement runs with that database as the current one."""
    if not views:
        return
    current = working.query("select current_database()")[0][0]
    working.execute(f'use "{catalog}"')
    try:
        for statement in views.values():
            working.execute(statement)
    finally:
        working.execute(f'use "{current}"')


def _copy_whole(working: Warehouse, table: str) -> None:
    next_table = f"served_next.{PUBLISHED_SCHEMA}.{table}"
    working.execute(f"drop table if exists {next_table}")
    working.execute(f"create table {next_table} as select * from {PUBLISHED_SCHEMA}.{table}")


def restore_working_from(
    working: Warehouse,
    source: Path,
    keep_log: bool = True,
    then: Callable[[], None] | None = None,
) -> list[str]:
    """Replace the working database's schema `health` by the one in a served file (a kept
    version, or the served file when the working database was lost), in one transaction, with
    `then` (e.g. logging the rollback) inside it. keep_log: keep the working publish log (the full
    record); otherwise take the file's. Returns the tables copied."""
    if not source.is_file():
        raise BadInputError(f"no such published version: {source}")
    working.execute(f"attach {working.literal(str(source))} as restored (read_only)")
    try:
        tables = [
            name for name in working.tables(PUBLISHED_SCHEMA, catalog="restored")
            if name != "publish_log" or not keep_log
        ]
        views = working.views(PUBLISHED_SCHEMA, catalog="restored")
        with working.transaction():
            working.execute(f"create schema if not exists {PUBLISHED_SCHEMA}")
            _drop_views(working)
            for table in tables + list(views):
                working.execute(f"drop table if exists {PUBLISHED_SCHEMA}.{table}")
            for table in tables:
                working.execute(
                    f"create table {PUBLISHED_SCHEMA}.{table} as "
                    f"select * from restored.{PUBLISHED_SCHEMA}.{table}"
                )
            for statement in views.values():
                working.execute(statement)
            if then is not None:
                then()
    finally:
        working.execute("detach restored")
    return tables


def _sync(path: Path) -> None:
    """fsync a file or folder, so a rename never exposes unwritten data after a crash."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise WarehouseError(f"cannot sync {path}: {error}") from error
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
