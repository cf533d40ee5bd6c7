"""Performance floor for the benchmark: one hand-written DuckDB query (floor.sql).

It computes what `int_account_metric_points` holds (metric value and points per account and metric)
for one as-of date straight from the raw Parquet tables, with the windows and thresholds read from
dbt_project.yml, so dbt build times can be compared against it. The result is the table
`floor_metric_points(account_id, metric_name, metric_value, points)`.

    health benchmark floor --raw-data-dir DIR --as-of-date 2024-12-31
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

import duckdb

from customer_health.dbt_project import project_config
from customer_health.deployment import current_deployment
from customer_health.engines.warehouse import duckdb_settings
from customer_health.settings import PROJECT_DIR

SQL_PATH = Path(__file__).resolve().with_name("floor.sql")
RESULT_TABLE = "floor_metric_points"

# dbt vars the floor uses: whole days, numbers, and a list of strings.
DAY_VARS = (
    "usage_window_days", "feature_breadth_window_days", "mrr_change_window_days",
    "downgrade_window_days", "support_window_days", "csat_window_days",
)
NUMBER_VARS = ("csat_min", "csat_max")
LIST_VARS = ("urgent_priorities",)


@dataclass(frozen=True)
class FloorResult:
    seconds: float
    rows: int


def sql_string(text: str) -> str:
    """Text inside a single-quoted SQL literal."""
    return str(text).replace("'", "''")


def project_vars(project_dir: Path, overrides: Mapping[str, object] | None = None) -> dict:
    """The dbt vars the floor needs, from dbt_project.yml (then overrides), as SQL text."""
    values = {**(project_config(project_dir).get("vars") or {}), **(overrides or {})}
    rendered: dict[str, str] = {}
    for name in DAY_VARS:
        rendered[name] = str(int(values[name]))
    for name in NUMBER_VARS:
        number = float(values[name])
        rendered[name] = str(int(number)) if number.is_integer() else repr(number)
    for name in LIST_VARS:
        items = values[name]
        items = [items] if isinstance(items, str) else list(items)
        rendered[name] = ", ".join(f"'{sql_string(item)}'" for item in items)
    return rendered


def default_seeds_dir(project_dir: Path) -> Path:
    """The seeds of the deployment scored (the bundled sample's by default)."""
    return current_deployment(Path(project_dir)).seeds_dir


def render_floor_sql(
    raw_dir: Path | str,
    seeds_dir: Path | str,
    as_of_date: dt.date | str,
    project_dir: Path | str = PROJECT_DIR,
    var_overrides: Mapping[str, object] | None = None,
) -> str:
    """floor.sql with paths, the as-of date and the dbt vars filled in."""
    date = dt.date.fromisoformat(str(as_of_date))
    return Template(SQL_PATH.read_text(encoding="utf-8")).substitute(
        raw_dir=sql_string(Path(raw_dir).resolve().as_posix()),
        seeds_dir=sql_string(Path(seeds_dir).resolve().as_posix()),
        as_of_date=date.isoformat(),
        **project_vars(Path(project_dir), var_overrides),
    )


def run_floor(
    raw_dir: Path | str,
    as_of_date: dt.date | str,
    db_path: Path | str | None = None,
    memory_limit: str | None = None,
    threads: int | None = None,
    project_dir: Path | str = PROJECT_DIR,
    seeds_dir: Path | str | None = None,
    var_overrides: Mapping[str, object] | None = None,
) -> FloorResult:
    """Run the floor query; with db_path the result table stays in that database."""
    sql = render_floor_sql(
        raw_dir,
        seeds_dir or default_seeds_dir(Path(project_dir)),
        as_of_date,
        project_dir,
        var_overrides,
    )
    limits = duckdb_settings()  # the profile's, as dbt runs under them; then the arguments
    limits.update({"memory_limit": memory_limit} if memory_limit else {})
    limits.update({"threads": int(threads)} if threads else {})
    with duckdb.connect(str(db_path) if db_path else ":memory:", config=limits) as connection:
        began = time.perf_counter()
        connection.execute(sql)
        seconds = time.perf_counter() - began
        rows = connection.execute(f"select count(*) from {RESULT_TABLE}").fetchone()[0]
    return FloorResult(seconds=seconds, rows=rows)
