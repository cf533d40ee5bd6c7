"""The `benchmark` command: the gated refresh's time and memory at several sizes, on each engine,
against a hand-written DuckDB floor; `benchmark floor` runs the floor alone.

The benchmark runs each step as a subprocess (`health refresh`, `health load`, `health benchmark
floor`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from customer_health.benchmark.options import DEFAULT_SIZES, BenchmarkOptions
from customer_health.cli.app import Quiet, app, configure_logging, run_command
from customer_health.cli.options import (
    Target,
    date_option,
    positive_int,
)
from customer_health.engines.warehouse import ENGINES

benchmark_app = typer.Typer(rich_markup_mode=None)
HISTORY_PUBLISH_TARGET = Target("postgres")
app.add_typer(benchmark_app, name="benchmark", rich_help_panel="Sample data and benchmark")

MemoryLimit = Annotated[
    str | None,
    typer.Option(
        envvar="HEALTH_DUCKDB_MEMORY_LIMIT",
        help="DuckDB memory_limit for dbt and the floor (default: the profile's).",
    ),
]
Threads = Annotated[
    int | None,
    typer.Option(
        envvar="HEALTH_DUCKDB_THREADS",
        callback=positive_int,
        help="DuckDB threads for dbt and the floor (default: the profile's).",
    ),
]


def positive_sizes(values: list[int] | None) -> list[int] | None:
    for value in values or []:
        positive_int(value)
    return values


def postgres_settings(values: list[str] | None) -> list[str] | None:
    """name=value without spaces, as PGOPTIONS passes it to every session."""
    for text in values or []:
        name, equals, value = text.partition("=")
        if not equals or not name.strip() or not value.strip() or " " in text:
            raise typer.BadParameter(f"expected name=value without spaces, got {text!r}")
    return values


@benchmark_app.callback(invoke_without_command=True)
def benchmark(
    context: typer.Context,
    accounts: Annotated[
        list[int] | None,
        typer.Option(
            metavar="N",
            callback=positive_sizes,
            help="A size to run, in accounts (repeatable; default: "
            f"{' '.join(str(size) for size in DEFAULT_SIZES)}).",
        ),
    ] = None,
    target: Annotated[
        list[Target] | None,
        typer.Option(
            "--target",
            "-t",
            metavar=f"<{'|'.join(ENGINES)}>",
            help="An engine to run on (repeatable; default: duckdb). DuckDB runs last at each "
            "size.",
        ),
    ] = None,
    work_dir: Annotated[
        Path, typer.Option(help="Where the data, databases and logs go.")
    ] = BenchmarkOptions.work_dir,
    usage_rows_per_account_month: Annotated[
        float,
        typer.Option(help="The generator's usage rate; 17 gives about 100 usage rows per account."),
    ] = BenchmarkOptions.usage_rate,
    memory_limit: MemoryLimit = BenchmarkOptions.memory_limit,
    threads: Threads = BenchmarkOptions.threads,
    postgres_option: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=VALUE",
            callback=postgres_settings,
            help="PostgreSQL setting for every session of the benchmark, e.g. work_mem=256MB "
            "(repeatable; after the default max_parallel_workers_per_gather=0, so it can "
            "override it).",
        ),
    ] = None,
    spark_driver_memory: Annotated[
        str | None,
        typer.Option(
            envvar="HEALTH_SPARK_DRIVER_MEMORY",
            help="Spark driver memory (default: the profile's).",
        ),
    ] = BenchmarkOptions.spark_driver_memory,
    spark_shuffle_partitions: Annotated[
        int | None,
        typer.Option(
            envvar="HEALTH_SPARK_SHUFFLE_PARTITIONS",
            callback=positive_int,
            help="spark.sql.shuffle.partitions (default: the profile's).",
        ),
    ] = BenchmarkOptions.spark_shuffle_partitions,
    seed: Annotated[int, typer.Option(help="The generator's seed.")] = BenchmarkOptions.seed,
    results: Annotated[
        Path | None,
        typer.Option(help="JSON results file (default: <work-dir>/benchmark.json)."),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Time and peak memory of the gated refresh at several sizes, per engine, against a
    DuckDB floor.

    Generates data at each size, then times on each engine a full refresh (dbt build, quality
    gate, publish) into a new warehouse, the floor (DuckDB), and, once the held-back last day has
    landed as new files, the daily refresh of that day; prints a table and saves JSON (exit 1 if
    a step failed). About 15 minutes and 13 GB of disk at the default sizes on DuckDB.
    """
    if context.invoked_subcommand is not None:
        return
    configure_logging(quiet)
    options = BenchmarkOptions(
        accounts=tuple(accounts or DEFAULT_SIZES),
        targets=tuple(engine.value for engine in target or ()) or BenchmarkOptions.targets,
        work_dir=work_dir, usage_rate=usage_rows_per_account_month, memory_limit=memory_limit,
        threads=threads, postgres_options=tuple(postgres_option or ()),
        spark_driver_memory=spark_driver_memory,
        spark_shuffle_partitions=spark_shuffle_partitions, seed=seed, results=results,
    )

    def work() -> None:
        from customer_health.benchmark.run import run_benchmark

        run_benchmark(options)

    run_command(work)


@benchmark_app.command()
def floor(
    raw_data_dir: Annotated[
        Path,
        typer.Option(help="Folder of raw Parquet tables (ravenstack_<table>/*.parquet)."),
    ],
    as_of_date: Annotated[dt.date, date_option("--as-of-date", help="The date to score.")],
    db_path: Annotated[
        Path | None,
        typer.Option(help="Keep the result table in this DuckDB file (default: in memory)."),
    ] = None,
    memory_limit: MemoryLimit = BenchmarkOptions.memory_limit,
    threads: Threads = BenchmarkOptions.threads,
) -> None:
    """Run the floor alone: one hand-written DuckDB query computing what dbt's metric points
    hold; print its seconds and rows."""
    configure_logging(quiet=True)

    def work() -> None:
        from customer_health.benchmark.floor import run_floor

        result = run_floor(raw_data_dir, as_of_date, db_path=db_path,
                           memory_limit=memory_limit, threads=threads)
        print(f"seconds: {result.seconds:.3f}")
        print(f"rows: {result.rows}")

    run_command(work)


@benchmark_app.command("history-publish")
def history_publish(
    target: Annotated[
        Target, typer.Option("--target", "-t", help="The engine to publish on.")
    ] = HISTORY_PUBLISH_TARGET,
    accounts: Annotated[
        int, typer.Option(callback=positive_int, help="Accounts per date.")
    ] = 100_000,
    dates: Annotated[
        int, typer.Option(callback=positive_int, help="Month ends the history starts with.")
    ] = 12,
    daily: Annotated[
        int, typer.Option(callback=positive_int, help="One-date refreshes published after it.")
    ] = 2,
    work_dir: Annotated[
        Path, typer.Option(help="Where a DuckDB file or Spark folder goes.")
    ] = BenchmarkOptions.work_dir,
) -> None:
    """Time the publish step alone over a growing history: relations made up the way dbt
    leaves them, a backfill of DATES month ends, then DAILY one-date refreshes; prints each
    publish's seconds (a daily publish should not grow with the history)."""
    configure_logging(quiet=True)

    def work() -> None:
        from customer_health.benchmark.history_publish import (
            benchmark_warehouse,
            run_history_publish,
        )

        with benchmark_warehouse(target.value, work_dir) as warehouse:
            print(f"{target.value}: {accounts:,} accounts per date")
            for timing in run_history_publish(warehouse, accounts, dates, daily):
                print(f"{timing.kind} publish over {timing.dates_published_before} published "
                      f"dates: {timing.seconds:.1f} s", flush=True)

    run_command(work)
