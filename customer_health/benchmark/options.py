"""What the benchmark runs (sizes, engines) and under which limits (see run.py).

Plain data with no heavy imports, so that the command line builds it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from customer_health.settings import PROJECT_DIR

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
# Every PostgreSQL session of the benchmark runs without parallel query, as the published numbers
# were measured: on 2 cores with 2 dbt threads, parallel workers only compete for the cores. (The
# project's try-cast functions are `parallel unsafe`, so parallel plans would also work.)
DEFAULT_POSTGRES_OPTIONS = ("max_parallel_workers_per_gather=0",)


@dataclass(frozen=True, kw_only=True)
class BenchmarkOptions:
    """Sizes and engines to run, where the data goes, and the limits the engines run under.

    accounts: the sizes, in order. targets: the engines (duplicates and order do not matter:
    see `engine_order`). work_dir: data, databases and logs. usage_rate: the generator's usage
    rows per account-month (17 gives about 100 usage rows per account). memory_limit, threads:
    DuckDB's, for dbt and the floor. postgres_options: name=value settings for every PostgreSQL
    session, after DEFAULT_POSTGRES_OPTIONS (so they can override it). spark_driver_memory,
    spark_shuffle_partitions: the Spark session's. The engine limits left None are the profile's
    (profiles.yml, its env vars applied), read when the benchmark starts (run.with_profile_limits),
    so dbt and the floor run under the same ones. seed: the generator's. results: the JSON results
    file (default <work_dir>/benchmark.json).
    """

    accounts: tuple[int, ...] = DEFAULT_SIZES
    targets: tuple[str, ...] = ("duckdb",)
    work_dir: Path = PROJECT_DIR / "target" / "benchmark"
    usage_rate: float = 17.0
    memory_limit: str | None = None
    threads: int | None = None
    postgres_options: tuple[str, ...] = ()
    spark_driver_memory: str | None = None
    spark_shuffle_partitions: int | None = None
    seed: int = 7
    results: Path | None = None

    @property
    def engine_order(self) -> tuple[str, ...]:
        """The targets of one size in run order, duplicates dropped: the server engines first,
        DuckDB last (each engine's full refresh, then each one's daily refresh, in this order)."""
        unique = list(dict.fromkeys(self.targets))
        return tuple([t for t in unique if t != "duckdb"] + [t for t in unique if t == "duckdb"])

    @property
    def postgres_settings(self) -> tuple[str, ...]:
        """Every PostgreSQL session's settings: the defaults, then the options given."""
        return DEFAULT_POSTGRES_OPTIONS + self.postgres_options

    @property
    def results_path(self) -> Path:
        return self.results or self.work_dir / "benchmark.json"
