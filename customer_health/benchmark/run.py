"""Benchmark the pipeline at several sizes, on DuckDB, PostgreSQL and Spark, against a DuckDB floor.

For each number of accounts it generates deterministic raw data as typed Parquet folders
(``generate_sample_data.py --format parquet --quirks``), holding back the usage and tickets of the
last day, then runs on each target (``--targets``, default duckdb only):

* postgres and spark:
  1. load: ``load_raw.py --target X`` puts the Parquet folders into schema raw (PostgreSQL: a CSV
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
  3. the floor (``benchmark_floor.sql``: one hand-written DuckDB script computing the same metric
     values and points from the same files);
  4. lands the held-back day as new files and runs ``dbt build`` again for that day: the
     incremental daily refresh.
  The floor and the incremental refresh are DuckDB only ("n/a" on the other engines).

The other engines run before DuckDB at each size, since DuckDB's last step lands the held-back day
in the raw folders. PostgreSQL: the server the PG* variables point at when one answers, otherwise a
scratch cluster (scripts/scratch_postgres.py) for the benchmark's duration; every session runs
with max_parallel_workers_per_gather=0 (see DEFAULT_POSTGRES_OPTIONS) plus any --postgres-option.
Spark: a local session (the profile's; driver memory from HEALTH_SPARK_DRIVER_MEMORY, default 4g)
with its own HEALTH_SPARK_DIR per size under the work dir; Spark steps run one after another (its
Derby metastore admits one process at a time). A SIGTERM stops the running step and still deletes
the scratch cluster.

Every step runs as a subprocess; wall time and the peak resident memory of its whole process tree
(sampled from /proc, so Linux only) are recorded; for a scratch PostgreSQL cluster the server's
memory (proportional set size of the postmaster and its backends) is added, since the server is
not a child of the step. Prints a table (one row per engine and size) and writes the results as
JSON. This is a benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import inspect
import json
import logging
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from customer_health.cli.arguments import positive_float, positive_int
from customer_health.sample_data import generate as gsd
from customer_health.settings import PROJECT_DIR, RAW_TABLES

LOG = logging.getLogger("benchmark")

ENGINES = ("duckdb", "postgres", "spark")
FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2024, 12, 31)  # held back, then landed for the incremental refresh
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SAMPLE_SECONDS = 0.1
# The defaults of profiles.yml; the floor gets the same, so both run under the same limits.
PROFILE_MEMORY_LIMIT, PROFILE_THREADS = "3GB", 2
PROFILE_SPARK_DRIVER_MEMORY, PROFILE_SPARK_SHUFFLE_PARTITIONS = "4g", "4"
# Every PostgreSQL session of the benchmark runs without parallel query, as the published numbers
# were measured: on 2 cores with 2 dbt threads, parallel workers only compete for the cores. (The
# project's try-cast functions are `parallel unsafe`, so parallel plans would also work.)
DEFAULT_POSTGRES_OPTIONS = ("max_parallel_workers_per_gather=0",)
GATE_COMMAND = "_gate"  # hidden first argument: run the quality gate in this process, then exit
NOT_APPLICABLE = "n/a"


@dataclass
class Measurement:
    """One subprocess: wall seconds, peak resident memory of its process tree, exit code.

    server_peak_mb: the part of peak_rss_mb that a PostgreSQL server outside the process tree
    used (None when no server was sampled). load_average: the machine's 1-minute load average
    when the step ended (the machine may be shared: above the number of cores, the step competed
    for them).
    """

    seconds: float
    peak_rss_mb: float
    returncode: int
    server_peak_mb: float | None = None
    load_average: float | None = None


@dataclass
class SizeResult:
    """One engine at one size. load: postgres and spark only; floor and incremental: duckdb only."""

    accounts: int
    raw_rows: dict[str, int]
    generate_seconds: float
    full_build: Measurement
    full_build_model_seconds: float
    full_build_test_seconds: float
    quality_gate: Measurement
    floor: Measurement | None = None
    incremental_build: Measurement | None = None
    landed_rows: dict[str, int] = field(default_factory=dict)
    engine: str = "duckdb"
    load: Measurement | None = None
    project_version: str = ""  # commit (+changes) when the engine's steps started

    @property
    def build_to_floor(self) -> float | None:
        return self.full_build.seconds / self.floor.seconds if self.floor else None

    @property
    def incremental_share(self) -> float | None:
        if self.incremental_build is None:
            return None
        return self.incremental_build.seconds / self.full_build.seconds

    def steps(self) -> dict[str, Measurement]:
        """The steps that ran, by name."""
        steps = {"load": self.load, "full_build": self.full_build,
                 "quality_gate": self.quality_gate, "floor": self.floor,
                 "incremental_build": self.incremental_build}
        return {name: step for name, step in steps.items() if step is not None}


# ----------------------------------------------------------------------------- measuring


def _process_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    tree, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        tree.append(pid)
        stack.extend(children.get(pid, []))
    return tree


def process_tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of root_pid and all its descendants, from /proc."""
    page_size, total = os.sysconf("SC_PAGE_SIZE"), 0
    for pid in _process_tree(root_pid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_size
        except OSError:
            continue
    return total


def process_tree_pss_bytes(root_pid: int) -> int:
    """Proportional set size of root_pid and its descendants: shared memory (PostgreSQL's shared
    buffers) is split among the processes mapping it instead of counted once per process."""
    total = 0
    for pid in _process_tree(root_pid):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in rollup.splitlines()
                       if line.startswith("Pss:")), 0)
    return total


def measure(command: Sequence[str], env: dict[str, str], log_file: Path,
            server_pid: int | None = None) -> Measurement:
    """Run command, sampling the memory of its process tree (plus server_pid's) until it exits."""
    peak = server_peak = 0
    done = threading.Event()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal peak, server_peak
            while not done.is_set():
                server = process_tree_pss_bytes(server_pid) if server_pid else 0
                peak = max(peak, process_tree_rss_bytes(process.pid) + server)
                server_peak = max(server_peak, server)
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = process.wait()
        except BaseException:  # interrupted: do not leave the step running
            process.kill()
            process.wait()
            raise
        finally:
            done.set()
        seconds = time.perf_counter() - started
        sampler.join()
    if returncode != 0:
        LOG.error("%s exited with %d; output in %s", command[0], returncode, log_file)
    return Measurement(round(seconds, 2), round(peak / 2**20, 1), returncode,
                       round(server_peak / 2**20, 1) if server_pid else None,
                       round(os.getloadavg()[0], 2))


def node_seconds(run_results: Path) -> tuple[float, float]:
    """Summed execution time of models (and seeds) and of tests in a dbt run_results.json."""
    if not run_results.exists():  # dbt failed before writing it
        return 0.0, 0.0
    results = json.loads(run_results.read_text())["results"]
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith(("test.",
                                                                                   "unit_test.")))
    total = sum(r["execution_time"] for r in results)
    return round(total - tests, 2), round(tests, 2)


# ----------------------------------------------------------------------------- engines


@dataclass(frozen=True)
class PostgresServer:
    """The server the benchmark runs on: PG* variables, a description, and (for a scratch
    cluster on this machine) the postmaster's pid, whose process tree is sampled for memory."""

    env: dict[str, str]
    description: str
    postmaster_pid: int | None = None


def reachable_postgres(env: dict[str, str]) -> str | None:
    """The server version when the PG* variables in env point at a server that answers."""
    if not any(env.get(name) for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER")):
        return None
    import psycopg2

    try:
        with psycopg2.connect(
            host=env.get("PGHOST", "localhost"), port=env.get("PGPORT", "5432"),
            user=env.get("PGUSER", "postgres"), password=env.get("PGPASSWORD", ""),
            dbname=env.get("PGDATABASE", "health"), connect_timeout=3,
        ) as connection, connection.cursor() as cursor:
            cursor.execute("show server_version")
            return str(cursor.fetchone()[0])
    except psycopg2.Error as error:
        LOG.warning("the PG* variables point at no server that answers (%s)",
                    str(error).strip().splitlines()[0])
        return None


def find_postmaster(port: str) -> int | None:
    """Pid of the local postmaster started with `-p <port>` (a scratch cluster), if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        port_at = args.index(b"-p") + 1 if b"-p" in args else len(args)
        if args[0].endswith(b"/postgres") and args[port_at:port_at + 1] == [port.encode()]:
            return int(entry.name)
    return None


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server the PG* variables point at if one answers, else a scratch cluster."""
    version = reachable_postgres(dict(os.environ))
    if version:
        env = {name: os.environ[name] for name in
               ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE") if name in os.environ}
        yield PostgresServer(env, f"PostgreSQL {version} from the PG* variables "
                             f"({env.get('PGHOST', 'localhost')}:{env.get('PGPORT', '5432')}/"
                             f"{env.get('PGDATABASE', 'health')}); server memory not sampled")
        return
    from customer_health.engines.scratch_postgres import scratch_postgres

    with scratch_postgres() as env:
        version = reachable_postgres(env) or "?"
        yield PostgresServer(env, f"scratch PostgreSQL {version} cluster on port {env['PGPORT']} "
                             "(started by the benchmark, deleted afterwards)",
                             find_postmaster(env["PGPORT"]))


def run_order(targets: Sequence[str]) -> list[str]:
    """The targets of one size in run order: DuckDB last (its incremental step lands the held-back
    day in the raw folders the other engines load from), duplicates dropped."""
    unique = list(dict.fromkeys(targets))
    return [t for t in unique if t != "duckdb"] + [t for t in unique if t == "duckdb"]


def table_order(results: Sequence[SizeResult]) -> list[SizeResult]:
    """Rows by size, then engine (duckdb, postgres, spark)."""
    return sorted(results, key=lambda r: (r.accounts, ENGINES.index(r.engine)))


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Settings:
    work_dir: Path
    usage_rate: float
    memory_limit: str
    threads: int
    seed: int
    targets: tuple[str, ...] = ("duckdb",)
    postgres_options: tuple[str, ...] = DEFAULT_POSTGRES_OPTIONS  # name=value, every session
    spark_driver_memory: str = PROFILE_SPARK_DRIVER_MEMORY
    spark_shuffle_partitions: str = PROFILE_SPARK_SHUFFLE_PARTITIONS


def pipeline_env(settings: Settings, db_path: Path, raw_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HEALTH_DB_PATH=str(db_path),
        HEALTH_RAW_DATA_DIR=str(raw_dir),
        HEALTH_RAW_DATA_FORMAT="parquet",
        DBT_SEND_ANONYMOUS_USAGE_STATS="False",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="False",
    )
    env.update(HEALTH_DUCKDB_MEMORY_LIMIT=settings.memory_limit,
               HEALTH_DUCKDB_THREADS=str(settings.threads))
    return env


def engine_env(settings: Settings, engine: str, size_dir: Path, raw_dir: Path,
               server: PostgresServer | None) -> dict[str, str]:
    """Environment for the postgres and spark steps (dbt reads the loaded tables in full)."""
    env = pipeline_env(settings, size_dir / "unused.duckdb", raw_dir)
    env["HEALTH_RAW_DATA_FORMAT"] = "csv"
    env["TMPDIR"] = str(size_dir / "tmp")  # load_raw's CSV copies of the Parquet folders
    if engine == "postgres" and server is not None:
        env.update(server.env)
        options = " ".join(f"-c {option}" for option in settings.postgres_options)
        env["PGOPTIONS"] = " ".join(filter(None, (os.environ.get("PGOPTIONS", ""), options)))
    if engine == "spark":
        env.update(HEALTH_SPARK_DIR=str(size_dir / "spark"),
                   HEALTH_SPARK_DRIVER_MEMORY=settings.spark_driver_memory,
                   HEALTH_SPARK_SHUFFLE_PARTITIONS=settings.spark_shuffle_partitions)
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
    """This script in gate mode (a script file, not `python -c`: pyspark takes a main module
    without __file__ for its doctest runner and exits 0 without doing anything)."""
    command = [sys.executable, str(Path(__file__).resolve()), GATE_COMMAND, "--target", target,
               "--target-path", str(target_path)]
    return command + (["--db-path", str(db_path)] if db_path else [])


def run_gate(argv: Sequence[str]) -> int:
    """Gate mode: the quality gate on a target, without drift checks; exit 0 when it passes."""
    parser = argparse.ArgumentParser(prog=f"benchmark.py {GATE_COMMAND}")
    parser.add_argument("--target", choices=ENGINES, required=True)
    parser.add_argument("--target-path", type=Path, required=True)
    parser.add_argument("--db-path", type=Path, default=None)
    args = parser.parse_args(argv)
    from customer_health.gate.run import run_quality_gate

    options: dict[str, object] = {"check_drift": False}
    if "target_path" in inspect.signature(run_quality_gate).parameters:
        options["target_path"] = args.target_path  # keep the GX context in the work dir
    result = run_quality_gate(args.target, args.db_path, "benchmark", **options)
    print(result.report, flush=True)
    return 0 if result.passed else 1


def land_held_back_day(raw_dir: Path) -> int:
    """Move the held-back files into their table folders, as a new day's files would land."""
    landed = 0
    for folder in sorted((raw_dir / gsd.HELD_BACK_DIR).glob("*")):
        for part in sorted(folder.glob("*.parquet")):
            part.rename(raw_dir / folder.name / f"landed-{LAST_DAY.isoformat()}-{part.name}")
            landed += 1
    return landed


def count_rows(raw_dir: Path, folder: str = "") -> dict[str, int]:
    counts = {}
    with duckdb.connect() as con:
        for table in RAW_TABLES:
            files = sorted((raw_dir / folder / table).glob("*.parquet"))
            counts[table.removeprefix("ravenstack_")] = con.execute(
                "select count(*) from read_parquet(?)", [[str(f) for f in files]]
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


def generate(accounts: int, settings: Settings) -> GeneratedData:
    size_dir = settings.work_dir / f"accounts_{accounts}"
    raw_dir = size_dir / "raw"
    shutil.rmtree(size_dir, ignore_errors=True)
    size_dir.mkdir(parents=True)
    LOG.info("%d accounts: generating Parquet data in %s", accounts, raw_dir)
    started = time.perf_counter()
    gsd.generate(gsd.Config(
        out_dir=raw_dir, accounts=accounts, seed=settings.seed, start_date=FIRST_DAY,
        end_date=LAST_DAY, usage_rate=settings.usage_rate, quirks=True, file_format="parquet",
        hold_back_from=LAST_DAY,
    ))
    generate_seconds = round(time.perf_counter() - started, 2)
    return GeneratedData(accounts, size_dir, raw_dir, count_rows(raw_dir),
                         count_rows(raw_dir, gsd.HELD_BACK_DIR), generate_seconds)


def run_duckdb(data: GeneratedData, settings: Settings) -> SizeResult:
    size_dir, raw_dir, accounts = data.size_dir, data.raw_dir, data.accounts
    db_path, logs = size_dir / "benchmark.duckdb", size_dir / "logs"
    env = pipeline_env(settings, db_path, raw_dir)
    day_before = LAST_DAY - dt.timedelta(days=1)
    version = project_version()

    LOG.info("%d accounts, duckdb: full dbt build as of %s", accounts, day_before)
    full = measure(dbt_build_command(size_dir / "target_full", day_before), env,
                   logs / "full_build.log")
    model_seconds, test_seconds = node_seconds(size_dir / "target_full" / "run_results.json")

    LOG.info("%d accounts, duckdb: quality gate", accounts)
    gate = measure(gate_command("duckdb", db_path, size_dir / "target_full"), env,
                   logs / "quality_gate.log")

    LOG.info("%d accounts, duckdb: floor", accounts)
    floor_command = [
        sys.executable, str(PROJECT_DIR / "scripts" / "benchmark_floor.py"),
        "--raw-dir", str(raw_dir), "--as-of-date", day_before.isoformat(),
        "--db-path", str(size_dir / "floor.duckdb"),
        "--memory-limit", settings.memory_limit, "--threads", str(settings.threads),
    ]
    floor = measure(floor_command, env, logs / "floor.log")

    LOG.info("%d accounts, duckdb: landing %s and refreshing incrementally", accounts, LAST_DAY)
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


def run_engine(engine: str, data: GeneratedData, settings: Settings,
               server: PostgresServer | None) -> SizeResult:
    """Load, full build and gate on postgres or spark."""
    size_dir, accounts = data.size_dir, data.accounts
    logs, target_path = size_dir / "logs" / engine, size_dir / f"target_{engine}"
    env = engine_env(settings, engine, size_dir, data.raw_dir, server)
    server_pid = server.postmaster_pid if server and engine == "postgres" else None
    day_before = LAST_DAY - dt.timedelta(days=1)
    (size_dir / "tmp").mkdir(exist_ok=True)
    version = project_version()

    LOG.info("%d accounts, %s: loading the raw tables", accounts, engine)
    load = measure(
        [sys.executable, str(PROJECT_DIR / "scripts" / "load_raw.py"), "--target", engine,
         "--raw-data-dir", str(data.raw_dir)],
        {**env, "HEALTH_RAW_DATA_FORMAT": "parquet"}, logs / "load.log", server_pid,
    )
    shutil.rmtree(size_dir / "tmp", ignore_errors=True)

    LOG.info("%d accounts, %s: full dbt build as of %s", accounts, engine, day_before)
    full = measure(dbt_build_command(target_path, day_before, engine), env,
                   logs / "full_build.log", server_pid)
    model_seconds, test_seconds = node_seconds(target_path / "run_results.json")

    LOG.info("%d accounts, %s: quality gate", accounts, engine)
    gate = measure(gate_command(engine, None, target_path), env, logs / "quality_gate.log",
                   server_pid)
    return SizeResult(
        accounts=accounts, raw_rows=data.raw_rows, generate_seconds=data.generate_seconds,
        full_build=full, full_build_model_seconds=model_seconds,
        full_build_test_seconds=test_seconds, quality_gate=gate, engine=engine, load=load,
        project_version=version,
    )


def run_size(accounts: int, settings: Settings,
             server: PostgresServer | None = None) -> Iterator[SizeResult]:
    """Each engine's result at one size, as soon as it has one."""
    data = generate(accounts, settings)
    for engine in run_order(settings.targets):
        if engine == "duckdb":
            yield run_duckdb(data, settings)
        else:
            yield run_engine(engine, data, settings, server)


# ----------------------------------------------------------------------------- output


def _seconds(step: Measurement | None) -> str:
    return NOT_APPLICABLE if step is None else f"{step.seconds:.1f}"


def _megabytes(step: Measurement | None) -> str:
    return NOT_APPLICABLE if step is None else f"{step.peak_rss_mb:,.0f}"


def _ratio(value: float | None, pattern: str) -> str:
    return NOT_APPLICABLE if value is None else pattern.format(value)


def format_table(results: Sequence[SizeResult]) -> str:
    header = ("engine", "accounts", "usage rows", "load s", "load MB", "full build s", "build MB",
              "gate s", "gate MB", "floor s", "floor MB", "build/floor", "incremental s",
              "incr MB", "incr/full", "usage rows/s")
    rows = [header]
    for r in table_order(results):
        usage_rows = r.raw_rows["feature_usage"]
        rows.append((
            r.engine, f"{r.accounts:,}", f"{usage_rows:,}",
            _seconds(r.load), _megabytes(r.load),
            _seconds(r.full_build), _megabytes(r.full_build),
            _seconds(r.quality_gate), _megabytes(r.quality_gate),
            _seconds(r.floor), _megabytes(r.floor), _ratio(r.build_to_floor, "{:.2f}x"),
            _seconds(r.incremental_build), _megabytes(r.incremental_build),
            _ratio(r.incremental_share, "{:.0%}"),
            f"{usage_rows / r.full_build.seconds:,.0f}",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    return "\n".join(lines)


def machine_description() -> dict[str, object]:
    memory_kb = next(
        (int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("MemTotal:")), 0)
    return {
        "cpus": os.cpu_count(), "memory_gb": round(memory_kb / 2**20, 1),
        "platform": platform.platform(), "python": platform.python_version(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def project_version() -> str:
    """The commit the project is at, with "+changes" when the work tree differs from it (dbt and
    the gate read the work tree, so the numbers belong to it)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(PROJECT_DIR), *args], capture_output=True,
                              text=True, check=False).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "models", "macros",
                  "seeds", "tests/dbt", "dbt_project.yml", "profiles.yml", "gx", "scripts",
                  ":(exclude)scripts/benchmark.py")
    return commit + ("+changes" if changed else "")


def to_json(results: Sequence[SizeResult], settings: Settings,
            postgres: str | None = None) -> dict[str, object]:
    def size(r: SizeResult) -> dict[str, object]:
        ratio, share = r.build_to_floor, r.incremental_share
        return {**asdict(r), "build_to_floor": None if ratio is None else round(ratio, 3),
                "incremental_share": None if share is None else round(share, 3)}

    return {
        "machine": machine_description(),
        "settings": {"targets": list(settings.targets),
                     "usage_rows_per_account_month": settings.usage_rate,
                     "memory_limit": settings.memory_limit, "threads": settings.threads,
                     "seed": settings.seed, "postgres_options": list(settings.postgres_options),
                     "spark_driver_memory": settings.spark_driver_memory,
                     "spark_shuffle_partitions": settings.spark_shuffle_partitions},
        "postgres_server": postgres,
        "sizes": [size(r) for r in table_order(results)],
    }


def postgres_option(text: str) -> str:
    name, equals, value = text.partition("=")
    if not equals or not name.strip() or not value.strip() or " " in text:
        raise argparse.ArgumentTypeError(f"expected name=value without spaces, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", nargs="+", choices=ENGINES, default=["duckdb"],
                        help="engines to run on (default: duckdb)")
    parser.add_argument("--accounts", type=positive_int, nargs="+", default=list(DEFAULT_SIZES),
                        help="sizes to run (default: 10000 100000 1000000)")
    parser.add_argument("--work-dir", type=Path, default=PROJECT_DIR / "target" / "benchmark",
                        help="where data, databases and logs go (default: target/benchmark)")
    parser.add_argument("--usage-rows-per-account-month", type=positive_float, default=17.0,
                        help="generator usage rate; 17 gives about 100 usage rows per account")
    parser.add_argument("--memory-limit",
                        default=os.environ.get("HEALTH_DUCKDB_MEMORY_LIMIT", PROFILE_MEMORY_LIMIT),
                        help="DuckDB memory_limit for dbt and the floor (default: the profile's)")
    parser.add_argument("--threads", type=positive_int,
                        default=int(os.environ.get("HEALTH_DUCKDB_THREADS", PROFILE_THREADS)),
                        help="DuckDB threads for dbt and the floor (default: the profile's)")
    parser.add_argument("--postgres-option", type=postgres_option, action="append", default=[],
                        dest="postgres_options", metavar="NAME=VALUE",
                        help="PostgreSQL setting for every session of the benchmark (PGOPTIONS), "
                             "e.g. work_mem=256MB; repeatable; added after the default "
                             f"{' '.join(DEFAULT_POSTGRES_OPTIONS)}, so it can override it")
    parser.add_argument("--spark-driver-memory",
                        default=os.environ.get("HEALTH_SPARK_DRIVER_MEMORY",
                                               PROFILE_SPARK_DRIVER_MEMORY),
                        help="Spark driver memory (default: the profile's, 4g)")
    parser.add_argument("--spark-shuffle-partitions",
                        default=os.environ.get("HEALTH_SPARK_SHUFFLE_PARTITIONS",
                                               PROFILE_SPARK_SHUFFLE_PARTITIONS),
                        help="spark.sql.shuffle.partitions (default: the profile's, 4)")
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default: <work-dir>/benchmark.json)")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        args.work_dir.resolve(), args.usage_rows_per_account_month, args.memory_limit,
        args.threads, args.seed, targets=tuple(run_order(args.targets)),
        postgres_options=DEFAULT_POSTGRES_OPTIONS + tuple(args.postgres_options),
        spark_driver_memory=args.spark_driver_memory,
        spark_shuffle_partitions=str(args.spark_shuffle_partitions),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv[:1] == [GATE_COMMAND]:
        return run_gate(argv[1:])
    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    # SIGTERM unwinds like Ctrl-C, so that the running step is stopped and a scratch PostgreSQL
    # cluster deleted.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    json_path = args.json or settings.work_dir / "benchmark.json"
    results: list[SizeResult] = []
    uses_postgres = "postgres" in settings.targets
    with postgres_server() if uses_postgres else contextlib.nullcontext() as server:
        postgres = server.description if server else None
        if postgres:
            print(f"PostgreSQL: {postgres}", flush=True)
        for accounts in args.accounts:
            for result in run_size(accounts, settings, server):  # saved engine by engine
                results.append(result)
                json_path.parent.mkdir(parents=True, exist_ok=True)
                json_path.write_text(
                    json.dumps(to_json(results, settings, postgres), indent=2) + "\n")
                print(format_table([result]), flush=True)
    print()
    print(format_table(results))
    if postgres:
        print(f"\nPostgreSQL: {postgres}")
    print(f"\nresults: {json_path}")
    failed = sorted({f"{r.engine} {r.accounts} {name}" for r in results
                     for name, step in r.steps().items() if step.returncode != 0})
    if failed:
        print(f"some steps failed (see the logs in {settings.work_dir}): {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
