"""Option types shared by every command, so each flag has one name, one parser, one help text.

Bad values raise `typer.BadParameter`, which the entry point turns into exit 4 (bad input)
with a one-line message.
"""

from __future__ import annotations

import datetime as dt
import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from customer_health.engines.warehouse import ENGINES
from customer_health.pipeline.run import DEFAULT_TARGET_PATH, RunOptions
from customer_health.settings import DEFAULT_TARGET

Target = Enum("Target", {name: name for name in ENGINES}, type=str)  # type: ignore[misc]


def iso_date(text: str | dt.date | None) -> dt.date | None:
    if text is None or isinstance(text, dt.date):  # None, or a default that is a date already
        return text
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def positive_int(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"must be >= 1, got {value}")
    return value


def non_negative_int(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise typer.BadParameter(f"must be >= 0, got {value}")
    return value


def positive_float(value: float | None) -> float | None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def date_option(*names: str, help: str) -> object:
    """A YYYY-MM-DD option; a bad date is a one-line usage error (exit 4)."""
    return typer.Option(*names, metavar="YYYY-MM-DD", parser=iso_date, help=help)


TargetOption = Annotated[
    Target, typer.Option("--target", "-t", help="dbt target (engine) in profiles.yml.")
]
DbPath = Annotated[
    Path | None,
    typer.Option(
        "--db-path",
        help="DuckDB file, duckdb target only (default: $HEALTH_DB_PATH or "
        "customer_health.duckdb).",
    ),
]
RawDataDir = Annotated[
    Path | None,
    typer.Option(
        "--raw-data-dir",
        help="Folder of raw files (default: $HEALTH_RAW_DATA_DIR or data/ravenstack).",
    ),
]
TargetPath = Annotated[
    Path,
    typer.Option("--target-path", help="dbt target folder (compiled SQL, run results, runs/)."),
]
AsOfDate = Annotated[
    dt.date | None,
    date_option("--as-of-date", help="Score this date (default: the latest date in the data)."),
]
FromDate = Annotated[dt.date | None, date_option("--from", help="First as-of date.")]
ToDate = Annotated[dt.date | None, date_option("--to", help="Last as-of date.")]
RequiredFromDate = Annotated[dt.date, date_option("--from", help="First as-of date.")]
RequiredToDate = Annotated[dt.date, date_option("--to", help="Last as-of date.")]
ReplaceCurrent = Annotated[
    bool,
    typer.Option(
        "--replace-current",
        help="Let scores older than the published current scores replace them (still gated; "
        "without it such a run is refused with exit 4).",
    ),
]
CheckEveryRow = Annotated[
    bool,
    typer.Option(
        "--check-every-row",
        help="Run the staged usage's column tests (uniqueness, nulls, references) on every row, "
        "not only on the rows this run loaded: a periodic full check of incremental loads.",
    ),
]

DEFAULT_TARGET_CHOICE = Target(DEFAULT_TARGET)
DEFAULT_TARGET_PATH_OPTION = DEFAULT_TARGET_PATH


def run_options(
    target: Target,
    db_path: Path | None,
    raw_data_dir: Path | None,
    target_path: Path,
    quiet: bool,
) -> RunOptions:
    return RunOptions(
        target=target.value,
        db_path=db_path,
        raw_data_dir=raw_data_dir,
        target_path=target_path.resolve(),
        show_progress=not quiet,
    )


def check_range(date_from: dt.date | None, date_to: dt.date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise typer.BadParameter(f"--from {date_from} is after --to {date_to}")
