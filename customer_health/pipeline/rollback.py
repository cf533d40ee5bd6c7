"""Undo publishes: put a kept earlier publish back in schema `health`, atomically, and log it.

A publish keeps its whole published state for PUBLISHES_KEPT publishes: on DuckDB as a served
file (customer_health/pipeline/served_file.py), on PostgreSQL and Spark as version tables and
history partitions in `health_versions` behind the views of `health`
(customer_health/pipeline/publish.py). A rollback
restores one of them (default: the publish before the current one) and appends a publish-log
row of kind `rollback` whose timings name the restored run (`restored_run_id`).
"""

from __future__ import annotations

import logging

from customer_health.dbt_project import CURRENT_MODELS, HISTORY_MODELS
from customer_health.engines.warehouse import Warehouse, connect
from customer_health.errors import BadInputError
from customer_health.pipeline.history_parts import (
    LiveParts,
    has_live_parts,
    live_parts,
    record_live_parts,
    view_query,
)
from customer_health.pipeline.lock import pipeline_lock
from customer_health.pipeline.publish import (
    REPLACED_ROWS,
    PublishRecord,
    append_publish_log,
    logged_dates,
    published_runs,
    switch_views,
    version_relation,
    version_run_ids,
)
from customer_health.pipeline.run import RunOptions
from customer_health.pipeline.run_summary import RunSummary
from customer_health.pipeline.served_file import (
    kept_versions,
    restore_working_from,
    version_file,
    write_served_file,
)
from customer_health.settings import (
    PUBLISH_LOG_TABLE,
    PUBLISHED_SCORES,
    PUBLISHES_KEPT,
    SCORES_MODEL,
)

log = logging.getLogger(__name__)


def rollback(options: RunOptions, summary: RunSummary, to_run_id: str | None = None) -> None:
    """Restore the publish `to_run_id` (default: the one before the current one)."""
    paths = options.paths()
    with pipeline_lock(paths.target, paths.lock_anchor), connect(
        paths.target, paths.build_db_path
    ) as warehouse:
        runs = published_runs(warehouse)
        if paths.target == "duckdb":
            runs = [run for run in runs if run in set(kept_versions(paths.db_path))]
        restored = choose(runs, to_run_id)
        record = PublishRecord(
            run_id=summary.run_id,
            scoring_config_version=config_version_of(warehouse, restored),
            timings={"restored_run_id": restored},
            kind="rollback",
        )
        if paths.target == "duckdb":
            restore_working_from(
                warehouse, version_file(paths.db_path, restored),
                then=lambda: append_publish_log(warehouse, record, PUBLISHED_SCORES),
            )
            write_served_file(warehouse, paths.db_path, summary.run_id, PUBLISHES_KEPT)
        else:
            versions = versions_at(warehouse, runs, restored)
            parts = restored_live_parts(warehouse, restored)
            record_live_parts(warehouse, summary.run_id, parts)
            views = {model: f"select * from {version_relation(model, run_id)}"
                     for model, run_id in versions.items()}
            views.update({model: view_query(warehouse, model, parts.get(model, {}))
                          for model in REPLACED_ROWS})
            switch_views(warehouse, views, record,
                         version_relation(SCORES_MODEL, versions[SCORES_MODEL]))
        summary.published = True
        summary.set_dates(logged_dates(warehouse, summary.run_id))
    log.info("rolled back to run %s (rollback run %s)", restored, summary.run_id)


def choose(runs: list[str], to_run_id: str | None) -> str:
    """The run to restore: to_run_id if it is kept, else the one before the newest."""
    if to_run_id is None:
        if len(runs) < 2:
            raise BadInputError("nothing to roll back to: fewer than two publishes are kept")
        return runs[1]
    if to_run_id not in runs:
        kept = ", ".join(runs) or "none"
        raise BadInputError(f"run {to_run_id} is not a kept publish (kept, newest first: {kept})")
    return to_run_id


def config_version_of(warehouse: Warehouse, run_id: str) -> str:
    rows = warehouse.query(
        f"select max(scoring_config_version) from {PUBLISH_LOG_TABLE} "
        f"where run_id = {warehouse.literal(run_id)}"
    )
    return str(rows[0][0])


def versions_at(warehouse: Warehouse, runs: list[str], restored: str) -> dict[str, str]:
    """Per relation with whole versions (all but the dated history), the version `health`
    showed right after run `restored`: the newest version written at or before it (a backfill
    writes no current relations)."""
    upto = runs[runs.index(restored):]
    versions = {}
    for _, model in CURRENT_MODELS + HISTORY_MODELS:
        if model in REPLACED_ROWS:
            continue
        existing = version_run_ids(warehouse, model)
        found = next((run for run in upto if run in existing), None)
        if found is None:
            raise BadInputError(
                f"run {restored} cannot be restored: no kept version of {model} at or before it"
            )
        versions[model] = found
    return versions


def restored_live_parts(warehouse: Warehouse, restored: str) -> dict[str, LiveParts]:
    """The dated relations' partitions `health` showed right after run `restored`."""
    if not has_live_parts(warehouse, restored):
        raise BadInputError(
            f"run {restored} cannot be restored: its history was published before history "
            "partitions (or is no longer kept)"
        )
    return live_parts(warehouse, restored)
