"""The `deployment` command: which deployment the other commands score, and its dbt vars."""

from __future__ import annotations

from typing import Annotated

import typer
import yaml

from customer_health.cli.app import app, run_command
from customer_health.settings import deployment


@app.command("deployment", rich_help_panel="Pipeline")
def deployment_command(
    vars_only: Annotated[
        bool,
        typer.Option(
            "--vars",
            help="Print only the deployment's dbt vars (YAML), for a plain `dbt build --vars`.",
        ),
    ] = False,
) -> None:
    """Show the deployment (--deployment / $HEALTH_DEPLOYMENT, else the bundled sample): its seeds,
    raw data and dbt vars."""

    def work() -> None:
        chosen = deployment()
        dbt_vars = yaml.safe_dump(dict(chosen.dbt_vars), sort_keys=False) if chosen.dbt_vars else ""
        if vars_only:
            print(dbt_vars or "{}")
            return
        print(f"deployment: {chosen.name} ({chosen.folder or 'bundled sample'})")
        print(f"seeds:      {chosen.seeds_dir}")
        print(f"raw data:   {chosen.raw_data_dir} ({chosen.raw_data_format})")
        print("dbt vars:" + ("\n" + _indented(dbt_vars) if dbt_vars else " none (the defaults)"))

    run_command(work)


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
