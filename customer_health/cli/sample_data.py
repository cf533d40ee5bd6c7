"""The `generate` command: deterministic RavenStack-shaped raw data with planted churn drivers."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, run_command
from customer_health.cli.options import date_option, non_negative_int, positive_float, positive_int
from customer_health.cli.progress import progress
from customer_health.sample_data.options import FILE_FORMATS, GeneratorOptions

FileFormat = Enum("FileFormat", {name: name for name in FILE_FORMATS}, type=str)  # type: ignore[misc]
DEFAULT_FILE_FORMAT = FileFormat(GeneratorOptions.file_format)


@app.command(rich_help_panel="Sample data and benchmark")
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the five raw tables to.")],
    accounts: Annotated[
        int, typer.Option(callback=positive_int, help="Number of accounts.")
    ] = GeneratorOptions.accounts,
    seed: Annotated[
        int,
        typer.Option(callback=non_negative_int, help="Random seed (same seed, same bytes)."),
    ] = GeneratorOptions.seed,
    start_date: Annotated[
        dt.date, date_option("--start-date", help="First day of the data.")
    ] = GeneratorOptions.start_date,
    end_date: Annotated[
        dt.date, date_option("--end-date", help="Last day of the data.")
    ] = GeneratorOptions.end_date,
    usage_rows_per_account_month: Annotated[
        float,
        typer.Option(
            callback=positive_float, help="Usage rows per account-month of a healthy account."
        ),
    ] = GeneratorOptions.usage_rate,
    quirks: Annotated[
        bool,
        typer.Option(
            "--quirks",
            help="Inject RavenStack-like dirt: duplicate usage rows and ids, blanked "
            "satisfaction scores.",
        ),
    ] = False,
    file_format: Annotated[
        FileFormat,
        typer.Option(
            "--format",
            help="csv: ravenstack_<table>.csv files; parquet: typed "
            "ravenstack_<table>/part-NNNNN.parquet folders.",
        ),
    ] = DEFAULT_FILE_FORMAT,
    hold_back_from: Annotated[
        dt.date | None,
        date_option(
            "--hold-back-from",
            help="Parquet only: write usage and tickets dated on or after this day under "
            "<out>/held_back/ (data that lands later).",
        ),
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Generate deterministic raw data shaped like the RavenStack sample, with planted churn
    drivers (a progress bar on stderr unless --quiet)."""
    configure_logging(quiet)

    def work() -> None:
        from customer_health.sample_data.generate import generate as generate_tables

        options = GeneratorOptions(
            out_dir=out, accounts=accounts, seed=seed, start_date=start_date, end_date=end_date,
            usage_rate=usage_rows_per_account_month, quirks=quirks,
            file_format=file_format.value, hold_back_from=hold_back_from,
        )
        with progress("generating", options.accounts, "accounts", quiet) as advance:
            generate_tables(options, on_progress=advance)

    run_command(work)
