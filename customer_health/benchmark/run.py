"""Benchmark the gated refresh at several sizes, on DuckDB, PostgreSQL and Spark, against a floor.

For each number of accounts it generates deterministic raw data as typed Parquet folders
(the generator's parquet format with quirks), holding back the usage and tickets of the last day.
Then, on each target (default duckdb only):

1. full refresh: `health refresh` (dbt build -> quality gate -> publish) into a new warehouse,
   scoring the day before the last. PostgreSQL and Spark first load the raw folders
   (`health load`); dbt then reads the loaded tables in full (HEALTH_RAW_DATA_FORMAT=csv for
   dbt: the file-by-file mode of the usage model needs the `filename` column that only DuckDB's
   read_parquet provides). DuckDB reads the files directly, so nothing is loaded.
2. DuckDB only: the floor (floor.sql: one hand-written DuckDB script computing the same metric
   values and points from the same files).

Then the held-back day lands as new files in the raw folders, and on each target:

3. daily refresh: `health refresh` of the last day on the warehouse the full refresh left
   (PostgreSQL and Spark reload the raw folders first, timed as their own step).

The refreshes' phases (dbt build, quality gate, publish) come from their run summaries.
PostgreSQL: the server the PG* variables point at when one answers, otherwise a scratch cluster
(postgres.py) for the benchmark's duration; each size gets a database of its own
(`health_benchmark_<accounts>`: the user needs CREATEDB on a server of one's own), dropped after
it, and every session runs with max_parallel_workers_per_gather=0 (see DEFAULT_POSTGRES_OPTIONS)
plus any options given. Spark: a local session (the profile's; driver memory from
HEALTH_SPARK_DRIVER_MEMORY) with its own HEALTH_SPARK_DIR per size under the work dir; Spark
steps run one after another (its Derby metastore admits one process at a time). An interrupt
(SIGINT, SIGTERM) stops the running step and still deletes the scratch cluster.

Every step runs as a subprocess (`python -m customer_health ...`: refresh, load, and the floor as
`health benchmark floor`), measured by measure.py. Prints a table row (see results.py) and
writes the results as JSON after each engine's full and daily refresh. This is a benchmark,
not a test: nothing here asserts a time; a step that fails is reported (its log kept) and the
benchmark ends with exit 1.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from customer_health.benchmark.measure import Measurement, measure, node_seconds
from customer_health.benchmark.options import BenchmarkOptions
from customer_health.benchmark.postgres import (
    PostgresServer,
    database_of_its_own,
    postgres_server,
)
from customer_health.benchmark.results import Refresh, SizeResult, format_table, to_json
from customer_health.dbt_project import project_facts
from customer_health.engines.duckdb_paths import read_pattern
from customer_health.engines.warehouse import duckdb_settings, spark_settings
from customer_health.errors import HealthError
from customer_health.pipeline.run_summary import RUN_LOG_FILE, RUNS_FOLDER
from customer_health.sample_data import generate as gsd
from customer_health.sample_data.options import GeneratorOptions
from customer_health.settings import PROJECT_DIR

log = logging.getLogger(__name__)

FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2024, 12, 31)  # held back, then landed for the incremental refresh
# What the measured numbers depend on, for project_version: dbt's inputs, the gate and the floor
# (the benchmark's own bookkeeping is left out).
MEASURED_PATHS = (
    "models", "macros", "seeds", "tests/dbt", "dbt_project.yml", "profiles.yml", "gx",
    "customer_health", ":(exclude)customer_health/benchmark/run.py",
    ":(exclude)customer_health/benchmark/measure.py",
    ":(exclude)customer_health/benchmark/results.py",
    ":(exclude)customer_health/benchmark/postgres.py",
    ":(exclude)customer_health/benchmark/options.py",
    ":(exclude)customer_health/cli/benchmark.py",
)


class BenchmarkStepFailedError(HealthError):
    """A step exited non-zero (exit 1); the other steps still ran and their results were kept."""


# ----------------------------------------------------------------------------- commands


def health_command(*args: str) -> list[str]:
    """`health <args>` as this interpreter runs it (a module with a __file__: pyspark takes a
    main module without one for its doctest runner and exits 0 without doing anything)."""
    return [sys.executable, "-m", "customer_health", *args]


def with_profile_limits(options: BenchmarkOptions) -> BenchmarkOptions:
    """The options with every engine limit not given set to the profile's (profiles.yml, its
    env vars applied), so that each step, the floor and the results use the same values."""
    duckdb, spark = duckdb_settings(), spark_settings()
    return replace(
        options,
        memory_limit=options.memory_limit or str(duckdb["memory_limit"]),
        threads=options.threads or int(duckdb["threads"]),
        spark_driver_memory=options.spark_driver_memory or str(spark["spark.driver.memory"]),
        spark_shuffle_partitions=(
            options.spark_shuffle_partitions or int(spark["spark.sql.shuffle.partitions"])
        ),
    )


def engine_env(options: BenchmarkOptions, engine: str, size_dir: Path, raw_dir: Path,
               server: PostgresServer | None = None) -> dict[str, str]:
    """Environment of every step of one engine at one size."""
    env = dict(os.environ)
    env.update(
        HEALTH_PROJECT_DIR=str(PROJECT_DIR),
        HEALTH_DB_PATH=str(size_dir / "served.duckdb"),
        HEALTH_RAW_DATA_DIR=str(raw_dir),
        # dbt on PostgreSQL and Spark reads the loaded tables in full (see the module docstring)
        HEALTH_RAW_DATA_FORMAT="parquet" if engine == "duckdb" else "csv",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
        TMPDIR=str(size_dir / "tmp"),  # the load's CSV copies of the Parquet folders
    )
    limits = {"HEALTH_DUCKDB_MEMORY_LIMIT": options.memory_limit,
              "HEALTH_DUCKDB_THREADS": options.threads}
    if engine == "postgres" and server is not None:
        env.update(server.env)
        env["PGDATABASE"] = size_database(size_dir)
        settings = " ".join(f"-c {setting}" for setting in options.postgres_settings)
        env["PGOPTIONS"] = " ".join(filter(None, (os.environ.get("PGOPTIONS", ""), settings)))
    if engine == "spark":
        env["HEALTH_SPARK_DIR"] = str(size_dir / "spark")
        limits = {"HEALTH_SPARK_DRIVER_MEMORY": options.spark_driver_memory,
                  "HEALTH_SPARK_SHUFFLE_PARTITIONS": options.spark_shuffle_partitions}
    env.update({name: str(value) for name, value in limits.items() if value is not None})
    return env


def size_database(size_dir: Path) -> str:
    """PostgreSQL: the database of one size (`health_benchmark_<accounts>`)."""
    return f"health_benchmark_{size_dir.name.removeprefix('accounts_')}"


def refresh_command(engine: str, as_of_date: dt.date, target_path: Path) -> list[str]:
    """`health refresh` of one date (where it reads and writes: the step's environment)."""
    return health_command("refresh", "--target", engine, "--as-of-date", as_of_date.isoformat(),
                          "--target-path", str(target_path), "--quiet")


def floor_command(raw_dir: Path, as_of_date: dt.date, db_path: Path,
                  options: BenchmarkOptions) -> list[str]:
    """`health benchmark floor` under the limits dbt gets (the profile's unless given)."""
    limits = {"--memory-limit": options.memory_limit, "--threads": options.threads}
    return health_command(
        "benchmark", "floor", "--raw-data-dir", str(raw_dir),
        "--as-of-date", as_of_date.isoformat(), "--db-path", str(db_path),
        *(item for flag, value in limits.items() if value is not None
          for item in (flag, str(value))),
    )


def load_command(engine: str, raw_dir: Path) -> list[str]:
    return health_command("load", "--target", engine, "--raw-data-dir", str(raw_dir))


def run_phases(target_path: Path) -> dict[str, float]:
    """The phases of the last run recorded under a target path (its run summary's timings:
    dbt_build_seconds, quality_gate_seconds, publish_seconds); none if no run was recorded."""
    runs = target_path / RUNS_FOLDER / RUN_LOG_FILE
    if not runs.exists():
        return {}
    last = runs.read_text().strip().splitlines()[-1]
    return {name: float(value) for name, value in json.loads(last)["timings"].items()}


# ----------------------------------------------------------------------------- steps


def land_held_back_day(raw_dir: Path) -> int:
    """Move the held-back files into their table folders, as a new day's files would land."""
    landed = 0
    for folder in sorted((raw_dir / gsd.HELD_BACK_DIR).glob("*")):
        for part in sorted(folder.glob("*.parquet")):
            part.rename(raw_dir / folder.name / f"landed-{LAST_DAY.isoformat()}-{part.name}")
            landed += 1
    return landed


def count_rows(raw_dir: Path, folder: str = "") -> dict[str, int]:
    """Data rows per raw table in the Parquet folders under raw_dir/folder."""
    counts = {}
    with duckdb.connect() as con:
        for table in project_facts().raw_tables:
            files = sorted((raw_dir / folder / table.identifier).glob("*.parquet"))
            pattern = read_pattern(raw_dir / folder / table.identifier, "*.parquet")
            counts[table.name] = con.execute(
                f"select count(*) from read_parquet({pattern})"
            ).fetchone()[0] if files else 0
    return counts


@dataclass(frozen=True)
class GeneratedData:
    accounts: int
    size_dir: Path
    raw_dir: Path
    raw_rows: dict[str, int]
    held_back: dict[str, int]
    generate_seconds: float


def generate(accounts: int, options: BenchmarkOptions) -> GeneratedData:
    size_dir = options.work_dir / f"accounts_{accounts}"
    raw_dir = size_dir / "raw"
    shutil.rmtree(size_dir, ignore_errors=True)
    size_dir.mkdir(parents=True)
    log.info("%d accounts: generating Parquet data in %s", accounts, raw_dir)
    started = time.perf_counter()
    gsd.generate(GeneratorOptions(
        out_dir=raw_dir, accounts=accounts, seed=options.seed, start_date=FIRST_DAY,
        end_date=LAST_DAY, usage_rate=options.usage_rate, quirks=True, file_format="parquet",
        hold_back_from=LAST_DAY,
    ))
    generate_seconds = round(time.perf_counter() - started, 2)
    return GeneratedData(accounts, size_dir, raw_dir, count_rows(raw_dir),
                         count_rows(raw_dir, gsd.HELD_BACK_DIR), generate_seconds)


@dataclass(frozen=True)
class EngineRun:
    """How the steps of one engine at one size run: environment, logs, the sampled server."""

    engine: str
    data: GeneratedData
    env: dict[str, str]
    server_pid: int | None

    def measure(self, step: str, command: list[str],
                env: dict[str, str] | None = None) -> Measurement:
        log.info("%d accounts, %s: %s", self.data.accounts, self.engine, step.replace("_", " "))
        (self.data.size_dir / "tmp").mkdir(exist_ok=True)
        try:
            return measure(command, env or self.env,
                           self.data.size_dir / "logs" / self.engine / f"{step}.log",
                           self.server_pid)
        finally:
            shutil.rmtree(self.data.size_dir / "tmp", ignore_errors=True)

    def load(self, step: str) -> Measurement | None:
        """PostgreSQL and Spark: (re)load the raw folders; DuckDB reads the files (None)."""
        if self.engine == "duckdb":
            return None
        # the load reads the Parquet folders (dbt then reads the loaded tables)
        return self.measure(step, load_command(self.engine, self.data.raw_dir),
                            {**self.env, "HEALTH_RAW_DATA_FORMAT": "parquet"})

    def refresh(self, step: str, as_of_date: dt.date) -> Refresh:
        target_path = self.data.size_dir / f"target_{self.engine}_{step}"
        measured = self.measure(step, refresh_command(self.engine, as_of_date, target_path))
        models, tests = node_seconds(target_path / "run_results.json")
        return Refresh(measured, run_phases(target_path), models, tests)


def full_refresh(run: EngineRun, options: BenchmarkOptions) -> SizeResult:
    """Load (PostgreSQL, Spark), the full refresh of the day before the last into a new
    warehouse, and on DuckDB the floor."""
    data = run.data
    day_before = LAST_DAY - dt.timedelta(days=1)
    version = project_version()
    load = run.load("load")
    refresh = run.refresh("full_refresh", day_before)
    floor = None
    if run.engine == "duckdb":
        floor = run.measure("floor", floor_command(
            data.raw_dir, day_before, data.size_dir / "floor.duckdb", options))
    return SizeResult(
        accounts=data.accounts, raw_rows=data.raw_rows, generate_seconds=data.generate_seconds,
        engine=run.engine, load=load, full_refresh=refresh, floor=floor,
        landed_rows=data.held_back, project_version=version,
    )


def daily_refresh(run: EngineRun, result: SizeResult) -> SizeResult:
    """After the held-back day landed: reload (PostgreSQL, Spark) and refresh the last day."""
    reload = run.load("daily_load")
    return replace(result, daily_load=reload, daily_refresh=run.refresh("daily_refresh", LAST_DAY))


def run_size(accounts: int, options: BenchmarkOptions, server: PostgresServer | None,
             record: Callable[[SizeResult], None]) -> None:
    """Every engine at one size: the full refreshes, then the landed day's daily refreshes;
    `record` gets each engine's result after each of the two."""
    data = generate(accounts, options)
    with contextlib.ExitStack() as warehouses:
        runs = []
        for engine in options.engine_order:
            env = engine_env(options, engine, data.size_dir, data.raw_dir, server)
            if engine == "postgres":
                warehouses.enter_context(database_of_its_own(env))
            server_pid = server.postmaster_pid if server and engine == "postgres" else None
            run = EngineRun(engine, data, env, server_pid)
            runs.append((run, full_refresh(run, options)))
            record(runs[-1][1])
        log.info("%d accounts: landing %s (%s)", accounts, LAST_DAY,
                 ", ".join(f"{rows:,} {name} rows" for name, rows in data.held_back.items()))
        land_held_back_day(data.raw_dir)
        for run, result in runs:
            record(daily_refresh(run, result))


def project_version() -> str:
    """The commit the project is at, with "+changes" when the work tree differs from it in what
    the numbers depend on (dbt and the gate read the work tree, so the numbers belong to it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT_DIR), *args], capture_output=True,
                              text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", *MEASURED_PATHS)
    return commit + ("+changes" if changed else "")


# ----------------------------------------------------------------------------- benchmark


def run_benchmark(options: BenchmarkOptions) -> list[SizeResult]:
    """Every size on every target; print a table row per engine and size as it comes and the
    whole table at the end; save the JSON results after each engine.

    Raises BenchmarkStepFailedError at the end when a step failed.
    """
    options = replace(with_profile_limits(options), work_dir=options.work_dir.resolve())
    results: list[SizeResult] = []
    uses_postgres = "postgres" in options.engine_order
    with postgres_server() if uses_postgres else contextlib.nullcontext() as server:
        postgres = server.description if server else None
        if postgres:
            print(f"PostgreSQL: {postgres}", flush=True)
        for accounts in options.accounts:
            first = len(results)

            def record(result: SizeResult, first: int = first) -> None:
                done = [r for r in results[first:] if r.engine != result.engine]
                results[first:] = [*done, result]
                save_results(results, options, postgres)
                print(format_table([result]), flush=True)

            run_size(accounts, options, server, record)
    print()
    print(format_table(results))
    if postgres:
        print(f"\nPostgreSQL: {postgres}")
    print(f"\nresults: {options.results_path}", flush=True)
    failed = sorted({f"{r.engine} {r.accounts} {name}" for r in results
                     for name, step in r.steps().items() if step.failed})
    if failed:
        raise BenchmarkStepFailedError(
            f"some steps failed (see the logs in {options.work_dir}): {', '.join(failed)}"
        )
    return results


def save_results(results: list[SizeResult], options: BenchmarkOptions,
                 postgres: str | None) -> None:
    path = options.results_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(results, options, postgres), indent=2) + "\n")
