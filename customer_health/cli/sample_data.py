"""The `generate` command: deterministic raw data with planted churn drivers, in one of two shapes
(RavenStack tables over a date range, or a contracts snapshot with churn as an outcome column)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, run_command
from customer_health.cli.options import date_option, non_negative_int, positive_float, positive_int
from customer_health.cli.progress import progress
from customer_health.sample_data.options import (
    CONTRACTS_DATA_DIR,
    FILE_FORMATS,
    SHAPES,
    ContractsOptions,
    GeneratorOptions,
)
from customer_health.settings import PROJECT_DIR

FileFormat = Enum("FileFormat", {name: name for name in FILE_FORMATS}, type=str)  # type: ignore[misc]
DEFAULT_FILE_FORMAT = FileFormat(GeneratorOptions.file_format)
Shape = Enum("Shape", {name: name for name in SHAPES}, type=str)  # type: ignore[misc]
DEFAULT_SHAPE = Shape(SHAPES[0])
# Options of the RavenStack shape alone (their parameter names), and of the contracts shape alone.
RAVENSTACK_ONLY = ("start_date", "end_date", "usage_rows_per_account_month", "quirks",
                   "file_format", "hold_back_from", "engagement", "parent_share")
CONTRACTS_ONLY = ("snapshot_date",)


@app.command(rich_help_panel="Sample data and benchmark")
def generate(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write the raw tables to (required for --shape ravenstack; "
            f"--shape contracts defaults to {CONTRACTS_DATA_DIR.as_posix()} in the project).",
            show_default=False,
        ),
    ] = None,
    shape: Annotated[
        Shape,
        typer.Option(
            help="ravenstack: the five RavenStack tables over a date range; contracts: "
            "customers.csv and contracts.csv, a snapshot with churn observed after it.",
        ),
    ] = DEFAULT_SHAPE,
    accounts: Annotated[
        int | None,
        typer.Option(
            callback=positive_int,
            help=f"Number of accounts (customers) [default: {GeneratorOptions.accounts:,}; "
            f"{ContractsOptions.customers:,} with --shape contracts].",
            show_default=False,
        ),
    ] = None,
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
            "satisfaction scores; with --engagement also events of an unknown channel (fax) "
            "or dated in 2199, duplicate events and NPS scores of 11.",
        ),
    ] = False,
    engagement: Annotated[
        bool,
        typer.Option(
            "--engagement",
            help="Also write ravenstack_engagement_events and ravenstack_nps_responses "
            "(email, in-app, web, meeting and community events; NPS survey answers): "
            "engagement fades and NPS falls before churn. The other tables stay the same.",
        ),
    ] = False,
    parent_share: Annotated[
        float,
        typer.Option(
            help="Share of the accounts given a parent account (column parent_account_id of "
            "the accounts; 0 writes no such column): parents are accounts without one, about "
            "three children each, for the parent-account rollup.",
        ),
    ] = GeneratorOptions.parent_share,
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
            help="Parquet only: write usage, tickets, engagement events and NPS responses "
            "dated on or after this day under <out>/held_back/ (data that lands later).",
        ),
    ] = None,
    snapshot_date: Annotated[
        dt.date,
        date_option(
            "--snapshot-date",
            help="--shape contracts: the day of the snapshot (churned = churned within 90 days "
            "after it).",
        ),
    ] = ContractsOptions.snapshot_date,
    quiet: Quiet = False,
) -> None:
    """Generate deterministic raw data with planted churn drivers: shaped like the RavenStack
    sample (with --engagement also engagement events and NPS responses), or a contracts
    snapshot (a progress bar on stderr unless --quiet)."""
    refuse_options_of_the_other_shape(ctx, shape.value)
    configure_logging(quiet)
    if shape.value == "contracts":
        run_command(lambda: generate_contracts(
            out or PROJECT_DIR / CONTRACTS_DATA_DIR, accounts or ContractsOptions.customers,
            seed, snapshot_date, quiet,
        ))
    if out is None:
        ctx.fail("Missing option '--out'.")

    def work() -> None:
        from customer_health.sample_data.generate import generate as generate_tables

        options = GeneratorOptions(
            out_dir=out, accounts=accounts or GeneratorOptions.accounts, seed=seed,
            start_date=start_date, end_date=end_date,
            usage_rate=usage_rows_per_account_month, quirks=quirks,
            file_format=file_format.value, hold_back_from=hold_back_from,
            engagement=engagement, parent_share=parent_share,
        )
        with progress("generating", options.accounts, "accounts", quiet) as advance:
            generate_tables(options, on_progress=advance)

    run_command(work)


def refuse_options_of_the_other_shape(ctx: typer.Context, shape: str) -> None:
    """An option of the other shape, given on the command line, is a usage error (exit 4)."""
    other = RAVENSTACK_ONLY if shape == "contracts" else CONTRACTS_ONLY
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name) if param.name in other else None
        if source is not None and source.name == "COMMANDLINE":
            ctx.fail(f"{param.opts[0]} does not apply to --shape {shape}")


def generate_contracts(out: Path, customers: int, seed: int, snapshot_date: dt.date,
                       quiet: bool) -> None:
    from customer_health.sample_data.contracts import generate as generate_snapshot

    options = ContractsOptions(out_dir=out, customers=customers, seed=seed,
                               snapshot_date=snapshot_date)
    with progress("generating", options.customers, "customers", quiet) as advance:
        generate_snapshot(options, on_progress=advance)
