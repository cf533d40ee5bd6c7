"""Benchmark the pipeline at several sizes against a hand-written DuckDB floor.

For each number of accounts it:

1. generates deterministic raw data as typed Parquet folders (``generate_sample_data.py --format
   parquet --quirks``), holding back the usage and tickets of the last day;
2. runs a full ``dbt build`` (models and tests) into a new DuckDB file, scoring the day before;
3. runs the quality gate on that build;
4. runs the floor (``benchmark_floor.sql``: one hand-written DuckDB script computing the same
   metric values and points from the same files);
5. lands the held-back day as new files and runs ``dbt build`` again for that day: the
   incremental daily refresh.

Every step runs as a subprocess; wall time and the peak resident memory of its whole process tree
(sampled from /proc, so Linux only) are recorded. Prints a table and writes the results as JSON.
This is a benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

import generate_sample_data as gsd
from cli_arguments import positive_float, positive_int
from pipeline_config import PROJECT_DIR, RAW_TABLES

LOG = logging.getLogger("benchmark")

FIRST_DAY = dt.date(2024, 1, 1)
LAST_DAY = dt.date(2024, 12, 31)  # held back, then landed for the incremental refresh
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SAMPLE_SECONDS = 0.1
# The defaults of profiles.yml; the floor gets the same, so both run under the same limits.
PROFILE_MEMORY_LIMIT, PROFILE_THREADS = "3GB", 2
GATE_SNIPPET = (
    "import sys; from pathlib import Path; sys.path.insert(0, {scripts!r}); "
    "from quality_gate import run_quality_gate; "
    "result = run_quality_gate(Path({db!r}), 'benchmark', check_drift=False); "
    "print(result.report); sys.exit(0 if result.passed else 1)"
)


@dataclass
class Measurement:
    """One subprocess: wall seconds, peak resident memory of its process tree, exit code."""

    seconds: float
    peak_rss_mb: float
    returncode: int


@dataclass
class SizeResult:
    accounts: int
    raw_rows: dict[str, int]
    generate_seconds: float
    full_build: Measurement
    full_build_model_seconds: float
    full_build_test_seconds: float
    quality_gate: Measurement
    floor: Measurement
    incremental_build: Measurement
    landed_rows: dict[str, int] = field(default_factory=dict)

    @property
    def build_to_floor(self) -> float:
        return self.full_build.seconds / self.floor.seconds

    @property
    def incremental_share(self) -> float:
        return self.incremental_build.seconds / self.full_build.seconds


# ----------------------------------------------------------------------------- measuring


def process_tree_rss_bytes(root_pid: int) -> int:
    """Resident memory of root_pid and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page_size = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            statm = (entry / "statm").read_text().split()
        except OSError:  # the process ended while we looked
            continue
        pid, ppid = int(entry.name), int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(statm[1]) * page_size
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def measure(command: Sequence[str], env: dict[str, str], log_file: Path) -> Measurement:
    """Run command, sampling the memory of its process tree until it exits."""
    peak = 0
    done = threading.Event()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, process_tree_rss_bytes(process.pid))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    if returncode != 0:
        LOG.error("%s exited with %d; output in %s", command[0], returncode, log_file)
    return Measurement(round(seconds, 2), round(peak / 2**20, 1), returncode)


def node_seconds(run_results: Path) -> tuple[float, float]:
    """Summed execution time of models (and seeds) and of tests in a dbt run_results.json."""
    results = json.loads(run_results.read_text())["results"]
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith(("test.",
                                                                                   "unit_test.")))
    total = sum(r["execution_time"] for r in results)
    return round(total - tests, 2), round(tests, 2)


# ----------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Settings:
    work_dir: Path
    usage_rate: float
    memory_limit: str
    threads: int
    seed: int


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


def dbt_build_command(target_path: Path, as_of_date: dt.date) -> list[str]:
    dbt = Path(sys.executable).parent / "dbt"
    return [
        str(dbt) if dbt.exists() else "dbt", "build",
        "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR),
        "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
        "--vars", json.dumps({"as_of_date": as_of_date.isoformat()}),
    ]


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


def run_size(accounts: int, settings: Settings) -> SizeResult:
    size_dir = settings.work_dir / f"accounts_{accounts}"
    raw_dir, db_path, logs = size_dir / "raw", size_dir / "benchmark.duckdb", size_dir / "logs"
    shutil.rmtree(size_dir, ignore_errors=True)
    size_dir.mkdir(parents=True)
    env = pipeline_env(settings, db_path, raw_dir)
    day_before = LAST_DAY - dt.timedelta(days=1)

    LOG.info("%d accounts: generating Parquet data in %s", accounts, raw_dir)
    started = time.perf_counter()
    gsd.generate(gsd.Config(
        out_dir=raw_dir, accounts=accounts, seed=settings.seed, start_date=FIRST_DAY,
        end_date=LAST_DAY, usage_rate=settings.usage_rate, quirks=True, file_format="parquet",
        hold_back_from=LAST_DAY,
    ))
    generate_seconds = round(time.perf_counter() - started, 2)
    raw_rows, held_back = count_rows(raw_dir), count_rows(raw_dir, gsd.HELD_BACK_DIR)

    LOG.info("%d accounts: full dbt build as of %s", accounts, day_before)
    full = measure(dbt_build_command(size_dir / "target_full", day_before), env,
                   logs / "full_build.log")
    model_seconds, test_seconds = node_seconds(size_dir / "target_full" / "run_results.json")

    LOG.info("%d accounts: quality gate", accounts)
    gate = measure(
        [sys.executable, "-c", GATE_SNIPPET.format(scripts=str(PROJECT_DIR / "scripts"),
                                                   db=str(db_path))],
        env, logs / "quality_gate.log",
    )

    LOG.info("%d accounts: floor", accounts)
    floor_command = [
        sys.executable, str(PROJECT_DIR / "scripts" / "benchmark_floor.py"),
        "--raw-dir", str(raw_dir), "--as-of-date", day_before.isoformat(),
        "--db-path", str(size_dir / "floor.duckdb"),
        "--memory-limit", settings.memory_limit, "--threads", str(settings.threads),
    ]
    floor = measure(floor_command, env, logs / "floor.log")

    LOG.info("%d accounts: landing %s and refreshing incrementally", accounts, LAST_DAY)
    land_held_back_day(raw_dir)
    incremental = measure(dbt_build_command(size_dir / "target_incremental", LAST_DAY), env,
                          logs / "incremental_build.log")
    return SizeResult(
        accounts=accounts, raw_rows=raw_rows, generate_seconds=generate_seconds,
        full_build=full, full_build_model_seconds=model_seconds,
        full_build_test_seconds=test_seconds, quality_gate=gate, floor=floor,
        incremental_build=incremental, landed_rows=held_back,
    )


# ----------------------------------------------------------------------------- output


def format_table(results: Sequence[SizeResult]) -> str:
    header = ("accounts", "usage rows", "full build s", "peak MB", "floor s", "build/floor",
              "gate s", "incremental s", "incr/full", "usage rows/s")
    rows = [header]
    for r in results:
        rows.append((
            f"{r.accounts:,}", f"{r.raw_rows['feature_usage']:,}", f"{r.full_build.seconds:.1f}",
            f"{max(r.full_build.peak_rss_mb, r.incremental_build.peak_rss_mb):,.0f}",
            f"{r.floor.seconds:.1f}", f"{r.build_to_floor:.2f}x",
            f"{r.quality_gate.seconds:.1f}", f"{r.incremental_build.seconds:.1f}",
            f"{r.incremental_share:.0%}",
            f"{r.raw_rows['feature_usage'] / r.full_build.seconds:,.0f}",
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
    }


def to_json(results: Sequence[SizeResult], settings: Settings) -> dict[str, object]:
    return {
        "machine": machine_description(),
        "settings": {"usage_rows_per_account_month": settings.usage_rate,
                     "memory_limit": settings.memory_limit, "threads": settings.threads,
                     "seed": settings.seed},
        "sizes": [{**asdict(r), "build_to_floor": round(r.build_to_floor, 3),
                   "incremental_share": round(r.incremental_share, 3)} for r in results],
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--seed", type=int, default=7, help="generator seed")
    parser.add_argument("--json", type=Path, default=None,
                        help="results file (default: <work-dir>/benchmark.json)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = Settings(args.work_dir.resolve(), args.usage_rows_per_account_month,
                        args.memory_limit, args.threads, args.seed)
    results = []
    json_path = args.json or settings.work_dir / "benchmark.json"
    for accounts in args.accounts:
        results.append(run_size(accounts, settings))
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(to_json(results, settings), indent=2) + "\n")
        print(format_table(results[-1:]), flush=True)
    print()
    print(format_table(results))
    print(f"\nresults: {json_path}")
    failed = [r.accounts for r in results for m in (r.full_build, r.quality_gate, r.floor,
                                                    r.incremental_build) if m.returncode != 0]
    if failed:
        print(f"some steps failed (see the logs in {settings.work_dir}): {sorted(set(failed))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
