"""Benchmark results: one row per engine and size, as a Markdown table and as JSON."""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from customer_health.benchmark.measure import Measurement
from customer_health.benchmark.options import BenchmarkOptions
from customer_health.engines.warehouse import ENGINES

NOT_APPLICABLE = "n/a"
# A step that exited non-zero: its time is not a result.
FAILED = "failed"


@dataclass
class Refresh:
    """One `health refresh`, measured: the whole process (wall time, peak memory, exit code), its
    phases from its run summary (dbt_build_seconds, quality_gate_seconds, publish_seconds) and the
    summed node time of the models (and seeds) and of the tests in dbt's run results."""

    measured: Measurement
    phases: dict[str, float] = field(default_factory=dict)
    model_seconds: float = 0.0
    test_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.measured.seconds

    def phase(self, name: str) -> float | None:
        return self.phases.get(f"{name}_seconds")


@dataclass
class SizeResult:
    """One engine at one size: the full refresh into a new warehouse and, after the held-back day
    landed, the daily refresh of that day. load and daily_load: PostgreSQL and Spark only (DuckDB
    reads the files); floor: DuckDB only; daily_refresh: None until it ran."""

    accounts: int
    raw_rows: dict[str, int]
    generate_seconds: float
    full_refresh: Refresh
    floor: Measurement | None = None
    daily_refresh: Refresh | None = None
    landed_rows: dict[str, int] = field(default_factory=dict)
    engine: str = "duckdb"
    load: Measurement | None = None
    daily_load: Measurement | None = None
    project_version: str = ""  # commit (+changes) when the engine's steps started

    @property
    def full_to_floor(self) -> float | None:
        if self.floor is None or self.floor.failed or self.full_refresh.measured.failed:
            return None
        return self.full_refresh.seconds / self.floor.seconds

    @property
    def daily_share(self) -> float | None:
        if self.daily_refresh is None or self.daily_refresh.measured.failed:
            return None
        return self.daily_refresh.seconds / self.full_refresh.seconds

    def steps(self) -> dict[str, Measurement]:
        """The steps that ran, by name."""
        steps = {"load": self.load, "full_refresh": self.full_refresh.measured,
                 "floor": self.floor, "daily_load": self.daily_load,
                 "daily_refresh": self.daily_refresh.measured if self.daily_refresh else None}
        return {name: step for name, step in steps.items() if step is not None}


def table_order(results: Sequence[SizeResult]) -> list[SizeResult]:
    """Rows by size, then engine (duckdb, postgres, spark)."""
    return sorted(results, key=lambda r: (r.accounts, ENGINES.index(r.engine)))


def _seconds(value: Measurement | Refresh | float | None) -> str:
    if value is None:
        return NOT_APPLICABLE
    if isinstance(value, Refresh | Measurement) and _step(value).failed:
        return FAILED
    seconds = value if isinstance(value, float | int) else value.seconds
    return f"{seconds:.1f}"


def _step(value: Measurement | Refresh) -> Measurement:
    return value.measured if isinstance(value, Refresh) else value


def _megabytes(step: Measurement | Refresh | None) -> str:
    return NOT_APPLICABLE if step is None else f"{_step(step).peak_rss_mb:,.0f}"


def _ratio(value: float | None, pattern: str) -> str:
    return NOT_APPLICABLE if value is None else pattern.format(value)


def _phases(refresh: Refresh | None) -> str:
    """dbt build / gate / publish seconds of a refresh."""
    if refresh is None:
        return NOT_APPLICABLE
    return " / ".join(_seconds(refresh.phase(name))
                      for name in ("dbt_build", "quality_gate", "publish"))


def format_table(results: Sequence[SizeResult]) -> str:
    header = ("engine", "accounts", "usage rows", "load s", "full refresh s",
              "build / gate / publish s", "full MB", "floor s", "full/floor", "daily load s",
              "daily refresh s", "daily build / gate / publish s", "daily MB", "daily/full")
    rows = [header]
    for r in table_order(results):
        rows.append((
            r.engine, f"{r.accounts:,}", f"{r.raw_rows['feature_usage']:,}",
            _seconds(r.load), _seconds(r.full_refresh), _phases(r.full_refresh),
            _megabytes(r.full_refresh), _seconds(r.floor), _ratio(r.full_to_floor, "{:.1f}x"),
            _seconds(r.daily_load), _seconds(r.daily_refresh), _phases(r.daily_refresh),
            _megabytes(r.daily_refresh), _ratio(r.daily_share, "{:.0%}"),
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


def to_json(results: Sequence[SizeResult], options: BenchmarkOptions,
            postgres: str | None = None) -> dict[str, object]:
    """The results with the machine, the settings they were measured under and the server."""
    def size(r: SizeResult) -> dict[str, object]:
        ratio, share = r.full_to_floor, r.daily_share
        return {**asdict(r), "full_to_floor": None if ratio is None else round(ratio, 3),
                "daily_share": None if share is None else round(share, 3)}

    return {
        "machine": machine_description(),
        "settings": {"targets": list(options.engine_order),
                     "usage_rows_per_account_month": options.usage_rate,
                     "memory_limit": options.memory_limit, "threads": options.threads,
                     "seed": options.seed, "postgres_options": list(options.postgres_settings),
                     "spark_driver_memory": options.spark_driver_memory,
                     "spark_shuffle_partitions": str(options.spark_shuffle_partitions)},
        "postgres_server": postgres,
        "sizes": [size(r) for r in table_order(results)],
    }
