"""`health report`: the published scores as one self-contained HTML page.

The page's modules (pandas, matplotlib, jinja2) are imported only when the command runs, so that
every other command starts quickly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, run_command
from customer_health.cli.options import (
    DEFAULT_TARGET_CHOICE,
    DEFAULT_TARGET_PATH_OPTION,
    DbPath,
    TargetOption,
    TargetPath,
    positive_int,
)
from customer_health.report.options import REPORT_FILE, ReportOptions


@app.command(rich_help_panel="Published scores")
def report(
    target: TargetOption = DEFAULT_TARGET_CHOICE,
    db_path: DbPath = None,
    out: Annotated[
        Path, typer.Option(help=f"Folder to write {REPORT_FILE} to.")
    ] = ReportOptions.out,
    backtest: Annotated[
        Path,
        typer.Option(help="The backtest's backtest.json whose churn by grade the page shows "
                     "(a missing file is explained on the page: `make backtest` writes it)."),
    ] = ReportOptions.backtest,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    worklist_rows: Annotated[
        int, typer.Option(callback=positive_int, help="At-risk accounts listed.")
    ] = ReportOptions.worklist_rows,
    movers: Annotated[
        int, typer.Option(callback=positive_int, help="Movers listed each way (down and up).")
    ] = ReportOptions.movers,
    quiet: Quiet = False,
) -> None:
    """Write one self-contained HTML page of the published scores: headline numbers, score
    distribution, grades and statuses over time, churn by grade from the backtest, the at-risk
    worklist, the biggest movers and data quality (no network needed to view it)."""
    configure_logging(quiet)
    options = ReportOptions(
        target=target.value, db_path=db_path, out=out, backtest=backtest,
        target_path=target_path, worklist_rows=worklist_rows, movers=movers,
    )

    def work() -> None:
        from customer_health.report import render

        render.run(options)

    run_command(work)
