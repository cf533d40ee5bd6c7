"""Benchmark the pipeline at several sizes, on DuckDB, PostgreSQL and Spark, against a DuckDB floor.

For each number of accounts it generates deterministic raw data as typed Parquet folders
(the generator's parquet format with quirks), holding back the usage and tickets of the last day,
then runs on each target (default duckdb only):

* postgres and spark:
  1. load: `health load --target X` puts the Parquet folders into schema raw (PostgreSQL: a CSV
     copy of each folder, then COPY into text columns; Spark: a table ``using parquet`` over each
     folder);
  2. a full ``dbt build --target X --full-refresh`` (models and tests), scoring the day before;
  3. the quality gate on that target.
  dbt reads the loaded raw tables in full (HEALTH_RAW_DATA_FORMAT=csv for dbt: the file-by-file
  Parquet mode of the usage model needs the ``filename`` column that only DuckDB's read_parquet
  provides).
* duckdb (reads the files directly, so nothing to load):
  1. a full ``dbt build`` into a new DuckDB file, scoring the day before;
  2. the quality gate on that build;
  3. the floor (floor.sql: one hand-written DuckDB script computing the same metric values and
     points from the same files);
  4. lands the held-back day as new files and runs ``dbt build`` again for that day: the
     incremental daily refresh.
  The floor and the incremental refresh are DuckDB only ("n/a" on the other engines).

The other engines run before DuckDB at each size, since DuckDB's last step lands the held-back day
in the raw folders. PostgreSQL: the server the PG* variables point at when one answers, otherwise a
scratch cluster (postgres.py) for the benchmark's duration; every session runs with
max_parallel_workers_per_gather=0 (see DEFAULT_POSTGRES_OPTIONS) plus any options given.
Spark: a local session (the profile's; driver memory from HEALTH_SPARK_DRIVER_MEMORY)
with its own HEALTH_SPARK_DIR per size under the work dir; Spark steps run one after another (its
Derby metastore admits one process at a time). An interrupt (SIGINT, SIGTERM) stops the running
step and still deletes the scratch cluster.

Every step runs as a subprocess (`python -m customer_health ...` for the project's own steps: the
gate and the floor run as hidden `health benchmark` sub-commands), measured by measure.py. Prints a
table (one row per engine and size, see results.py) and writes the results as JSON, after each
engine. This is a benchmark, not a test: nothing here asserts a time; a step that fails is
reported (its log kept) and the benchmark ends with exit 1.
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
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb

from customer_health.benchmark.measure import measure, node_seconds
from customer_health.benchmark.options import BenchmarkOptions
from customer_health.benchmark.postgres import PostgresServer, postgres_server
from customer_health.benchmark.results import SizeResult, format_table, to_json
from customer_health.dbt_project import project_facts
from customer_health.engines.duckdb_paths import read_pattern
from customer_health.engines.warehouse import duckdb_settings, spark_settings
from customer_health.errors import GateFailedError, HealthError
from customer_health.sample_data import generate as gsd
from customer_health.sample_data.options import GeneratorOptions
from customer_health.settings import PROJECT_DIR, PipelinePaths

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


def pipeline_env(options: BenchmarkOptions, db_path: Path, raw_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HEALTH_PROJECT_DIR=str(PROJECT_DIR),
        HEALTH_DB_PATH=str(db_path),
        HEALTH_RAW_DATA_DIR=str(raw_dir),
        HEALTH_RAW_DATA_FORMAT="parquet",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
    )
    limits = {"HEALTH_DUCKDB_MEMORY_LIMIT": options.memory_limit,
              "HEALTH_DUCKDB_THREADS": options.threads}
    env.update({name: str(value) for name, value in limits.items() if value is not None})
    return env


def engine_env(options: BenchmarkOptions, engine: str, size_dir: Path, raw_dir: Path,
               server: PostgresServer | None) -> dict[str, str]:
    """Environment for the postgres and spark steps (dbt reads the loaded tables in full)."""
    env = pipeline_env(options, size_dir / "unused.duckdb", raw_dir)
    env["HEALTH_RAW_DATA_FORMAT"] = "csv"
    env["TMPDIR"] = str(size_dir / "tmp")  # the load's CSV copies of the Parquet folders
    if engine == "postgres" and server is not None:
        env.update(server.env)
        settings = " ".join(f"-c {setting}" for setting in options.postgres_settings)
        env["PGOPTIONS"] = " ".join(filter(None, (os.environ.get("PGOPTIONS", ""), settings)))
    if engine == "spark":
        env["HEALTH_SPARK_DIR"] = str(size_dir / "spark")
        limits = {"HEALTH_SPARK_DRIVER_MEMORY": options.spark_driver_memory,
                  "HEALTH_SPARK_SHUFFLE_PARTITIONS": options.spark_shuffle_partitions}
        env.update({name: str(value) for name, value in limits.items() if value is not None})
    return env


def dbt_build_command(target_path: Path, as_of_date: dt.date, target: str = "duckdb") -> list[str]:
    dbt = Path(sys.executable).parent / "dbt"
    command = [
        str(dbt) if dbt.exists() else "dbt", "build",
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target", target,
        "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
        "--vars", json.dumps({"as_of_date": as_of_date.isoformat()}),
    ]
    # A server database may hold an earlier size's tables: build everything anew.
    return command + (["--full-refresh"] if target == "postgres" else [])


def gate_command(target: str, db_path: Path | None, target_path: Path) -> list[str]:
    """`health benchmark gate`: the quality gate as the benchmark times it (see run_gate)."""
    command = health_command("benchmark", "gate", "--target", target,
                             "--target-path", str(target_path))
    return command + (["--db-path", str(db_path)] if db_path else [])


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


def run_gate(target: str, db_path: Path | None, target_path: Path) -> None:
    """The quality gate on what dbt built, without the drift stage (the benchmark publishes
    nothing, and a server may hold scores published by others); GateFailedError if it fails."""
    from customer_health.gate.run import run_quality_gate  # imports Great Expectations

    paths = PipelinePaths.resolve(db_path=str(db_path) if db_path else None, target=target)
    result = run_quality_gate(paths.target, paths.db_path, "benchmark", check_drift=False,
                              target_path=target_path)
    print(result.report, flush=True)
    if not result.passed:
        raise GateFailedError("quality gate failed")


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


def run_duckdb(data: GeneratedData, options: BenchmarkOptions) -> SizeResult:
    """Full build, gate, floor and the incremental refresh on DuckDB."""
    size_dir, raw_dir, accounts = data.size_dir, data.raw_dir, data.accounts
    db_path, logs = size_dir / "benchmark.duckdb", size_dir / "logs"
    env = pipeline_env(options, db_path, raw_dir)
    day_before = LAST_DAY - dt.timedelta(days=1)
    version = project_version()

    log.info("%d accounts, duckdb: full dbt build as of %s", accounts, day_before)
    full = measure(dbt_build_command(size_dir / "target_full", day_before), env,
                   logs / "full_build.log")
    model_seconds, test_seconds = node_seconds(size_dir / "target_full" / "run_results.json")

    log.info("%d accounts, duckdb: quality gate", accounts)
    gate = measure(gate_command("duckdb", db_path, size_dir / "target_full"), env,
                   logs / "quality_gate.log")

    log.info("%d accounts, duckdb: floor", accounts)
    floor = measure(floor_command(raw_dir, day_before, size_dir / "floor.duckdb", options), env,
                    logs / "floor.log")

    log.info("%d accounts, duckdb: landing %s and refreshing incrementally", accounts, LAST_DAY)
    land_held_back_day(raw_dir)
    incremental = measure(dbt_build_command(size_dir / "target_incremental", LAST_DAY), env,
                          logs / "incremental_build.log")
    return SizeResult(
        accounts=accounts, raw_rows=data.raw_rows, generate_seconds=data.generate_seconds,
        full_build=full, full_build_model_seconds=model_seconds,
        full_build_test_seconds=test_seconds, quality_gate=gate, floor=floor,
        incremental_build=incremental, landed_rows=data.held_back, engine="duckdb",
        project_version=version,
    )


def run_engine(engine: str, data: GeneratedData, options: BenchmarkOptions,
               server: PostgresServer | None) -> SizeResult:
    """Load, full build and gate on postgres or spark."""
    size_dir, accounts = data.size_dir, data.accounts
    logs, target_path = size_dir / "logs" / engine, size_dir / f"target_{engine}"
    env = engine_env(options, engine, size_dir, data.raw_dir, server)
    server_pid = server.postmaster_pid if server and engine == "postgres" else None
    day_before = LAST_DAY - dt.timedelta(days=1)
    (size_dir / "tmp").mkdir(exist_ok=True)
    version = project_version()

    log.info("%d accounts, %s: loading the raw tables", accounts, engine)
    load = measure(load_command(engine, data.raw_dir),
                   {**env, "HEALTH_RAW_DATA_FORMAT": "parquet"}, logs / "load.log", server_pid)
    shutil.rmtree(size_dir / "tmp", ignore_errors=True)

    log.info("%d accounts, %s: full dbt build as of %s", accounts, engine, day_before)
    full = measure(dbt_build_command(target_path, day_before, engine), env,
                   logs / "full_build.log", server_pid)
    model_seconds, test_seconds = node_seconds(target_path / "run_results.json")

    log.info("%d accounts, %s: quality gate", accounts, engine)
    gate = measure(gate_command(engine, None, target_path), env, logs / "quality_gate.log",
                   server_pid)
    return SizeResult(
        accounts=accounts, raw_rows=data.raw_rows, generate_seconds=data.generate_seconds,
        full_build=full, full_build_model_seconds=model_seconds,
        full_build_test_seconds=test_seconds, quality_gate=gate, engine=engine, load=load,
        project_version=version,
    )


def run_size(accounts: int, options: BenchmarkOptions,
             server: PostgresServer | None = None) -> Iterator[SizeResult]:
    """Each engine's result at one size, as soon as it has one."""
    data = generate(accounts, options)
    for engine in options.engine_order:
        if engine == "duckdb":
            yield run_duckdb(data, options)
        else:
            yield run_engine(engine, data, options, server)


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
            for result in run_size(accounts, options, server):
                results.append(result)
                save_results(results, options, postgres)
                print(format_table([result]), flush=True)
    print()
    print(format_table(results))
    if postgres:
        print(f"\nPostgreSQL: {postgres}")
    print(f"\nresults: {options.results_path}", flush=True)
    failed = sorted({f"{r.engine} {r.accounts} {name}" for r in results
                     for name, step in r.steps().items() if step.returncode != 0})
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
