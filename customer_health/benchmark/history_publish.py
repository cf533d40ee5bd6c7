"""The publish step alone, over a long published history, on relations made up for it.

`health benchmark history-publish` writes candidate relations the way dbt leaves them (every
published model; per date one row per account, the component and attribution relations
COMPONENTS per account), publishes a backfill of `dates` month ends, then `daily` refreshes of
one new date each, and reports the seconds of each publish. On
PostgreSQL and Spark a daily publish writes only its date's partitions, so its time should not
grow with the history (customer_health/pipeline/history_parts.py); DuckDB's publish here is the
working database's (the served file is measured by `health benchmark`).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from unittest.mock import patch

from customer_health.benchmark.postgres import database_of_its_own, postgres_server
from customer_health.dbt_project import PUBLISHED_MODELS
from customer_health.engines.warehouse import Warehouse, connect
from customer_health.pipeline.publish import SCORED_DATES, PublishRecord, publish

COMPONENTS = 15


@dataclass(frozen=True)
class PublishTiming:
    kind: str  # "backfill" or "daily"
    dates_published_before: int
    seconds: float


def history_dates(count: int) -> list[date]:
    """`count` month ends, January 2023's first."""
    return [
        date(2023 + (index + 1) // 12, (index + 1) % 12 + 1, 1) - timedelta(days=1)
        for index in range(count)
    ]


def rows_per_account(model: str) -> int:
    return COMPONENTS if model.endswith(("component_history", "change_attribution")) else 1


def make_candidates(warehouse: Warehouse, accounts: int, dates: list[date]) -> None:
    """Every published model's candidate with rows on `dates`, and the scored dates."""
    for schema in ("marts", "intermediate"):
        warehouse.execute(f"create schema if not exists {schema}")
    days = " union all ".join(f"select date '{day.isoformat()}' as as_of_date" for day in dates)
    warehouse.execute(f"drop table if exists {SCORED_DATES}")
    warehouse.create_table_as(SCORED_DATES, days)
    text, number = warehouse.text_type, warehouse.double_type
    for schema, model in PUBLISHED_MODELS:
        ids = _ids(warehouse.engine, accounts * rows_per_account(model))
        warehouse.execute(f"drop table if exists {schema}.{model}")
        warehouse.create_table_as(f"{schema}.{model}", f"""
            select
                cast(concat('A', cast(id as {text})) as {text}) as account_id,
                scored.as_of_date,
                cast(id % 100 as {number}) as health_score,
                cast('a value of the kind the relations hold' as {text}) as detail
            from ({ids}) as ids
            cross join ({days}) as scored""")


@contextmanager
def benchmark_warehouse(target: str, work_dir: Path) -> Iterator[Warehouse]:
    """An empty warehouse: a new DuckDB file or Spark folder in work_dir, or a database of its
    own on the PostgreSQL server of `health benchmark` (a scratch cluster when no PG* variables
    point at one)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    if target == "postgres":
        with postgres_server() as server:
            env = {**server.env, "PGDATABASE": "health_history_publish"}
            with database_of_its_own(env), patch.dict(os.environ, env), connect(target) as opened:
                yield opened
        return
    folder = work_dir / f"history_publish_{target}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    with patch.dict(os.environ, {"HEALTH_SPARK_DIR": str(folder)}), connect(
        target, folder / "working.duckdb"
    ) as opened:
        yield opened


def run_history_publish(
    warehouse: Warehouse, accounts: int, dates: int, daily: int
) -> Iterator[PublishTiming]:
    """Publish a backfill of `dates` month ends, then `daily` one-date refreshes; yield each
    publish's timing as it ends."""
    history = history_dates(dates + daily)
    make_candidates(warehouse, accounts, history[:dates])
    started = time.perf_counter()
    publish(warehouse, PublishRecord("history", "benchmark", kind="backfill"))
    yield PublishTiming("backfill", 0, time.perf_counter() - started)
    for index, day in enumerate(history[dates:]):
        make_candidates(warehouse, accounts, [day])
        started = time.perf_counter()
        publish(warehouse, PublishRecord(f"daily{index}", "benchmark"))
        yield PublishTiming("daily", dates + index, time.perf_counter() - started)


def _ids(engine: str, count: int) -> str:
    """A query of `count` rows with column id 0, 1, ..."""
    if engine == "postgres":
        return f"select id from generate_series(0, {count - 1}) as series (id)"
    if engine == "spark":
        return f"select id from range(0, {count})"
    return f"select range as id from range(0, {count})"
