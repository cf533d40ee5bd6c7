"""The `contract` command: the input contract (the raw tables' columns) as a Markdown document."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from customer_health.cli.app import Quiet, app, configure_logging, log, run_command
from customer_health.cli.options import DEFAULT_TARGET_PATH_OPTION, TargetPath
from customer_health.contract import CONTRACT_DOC, write_contract
from customer_health.dbt_project import MANIFEST_FILE, ParseContext, ProjectFacts, parse_project
from customer_health.deployment import current_deployment
from customer_health.settings import DEFAULT_TARGET, PROJECT_DIR


@app.command(rich_help_panel="Pipeline")
def contract(
    out: Annotated[
        Path, typer.Option(help="Markdown file to write (the committed one by default).")
    ] = CONTRACT_DOC,
    target_path: TargetPath = DEFAULT_TARGET_PATH_OPTION,
    quiet: Quiet = False,
) -> None:
    """Write the input contract: per raw table, its file or table name and its columns (type,
    required or not, meaning), from the dbt sources; every optional table included, whether the
    deployment has it or not."""
    configure_logging(quiet)

    def work() -> None:
        deployment = current_deployment(PROJECT_DIR)
        every_table = ParseContext(
            {**deployment.dbt_vars, "absent_raw_tables": []}, {**os.environ, **deployment.env()}
        )
        # a folder of its own: this manifest must not pass for the deployment's
        folder = target_path.resolve() / "contract"
        folder.mkdir(parents=True, exist_ok=True)
        parse_project(folder, DEFAULT_TARGET, PROJECT_DIR, every_table)
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        tables = ProjectFacts.from_manifest(manifest).raw_tables
        log.info("wrote the input contract of %d raw tables to %s",
                 len(tables), write_contract(tables, out))

    run_command(work)
