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


def table_order(results: Sequence[SizeResult]) -> list[SizeResult]:
    """Rows by size, then engine (duckdb, postgres, spark)."""
    return sorted(results, key=lambda r: (r.accounts, ENGINES.index(r.engine)))


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


def to_json(results: Sequence[SizeResult], options: BenchmarkOptions,
            postgres: str | None = None) -> dict[str, object]:
    """The results with the machine, the settings they were measured under and the server."""
    def size(r: SizeResult) -> dict[str, object]:
        ratio, share = r.build_to_floor, r.incremental_share
        return {**asdict(r), "build_to_floor": None if ratio is None else round(ratio, 3),
                "incremental_share": None if share is None else round(share, 3)}

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
