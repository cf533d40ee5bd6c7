"""The `contract` command: the input contract (the raw tables' columns) as a Markdown document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, log, run_command
from customer_health.cli.options import DEFAULT_TARGET_PATH_OPTION, TargetPath
from customer_health.contract import CONTRACT_DOC, write_contract
from customer_health.dbt_project import project_facts
from customer_health.settings import DEFAULT_TARGET


@app.command(rich_help_panel="Pipeline")
def contract(
    out: Annotated[
        Path, typer.Option(help="Markdown file to write (the committed one by default).")
    ] = CONTRACT_DOC,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
) -> None:
    """Write the input contract: per raw table, its file or table name and its columns (type,
    required or not, meaning), from the dbt sources."""
    configure_logging(quiet)

    def work() -> None:
        tables = project_facts(target_path.resolve(), DEFAULT_TARGET).raw_tables
        log.info("wrote the input contract of %d raw tables to %s",
                 len(tables), write_contract(tables, out))

    run_command(work)
