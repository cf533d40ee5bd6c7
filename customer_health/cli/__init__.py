"""The `health` command: one entry point for every job the project runs."""

from __future__ import annotations

from typer.exceptions import TyperException

# Importing a module registers its commands; `health --help` lists the pipeline's first.
from customer_health.cli import pipeline  # noqa: F401

# isort: split
from customer_health.cli import (  # noqa: F401
    benchmark,
    contract,
    deployment,
    evaluation,
    report,
    sample_data,
)
from customer_health.cli.app import app, exit_now, stderr
from customer_health.errors import BadInputError, InterruptedRunError


def main() -> None:
    """Entry point: argument errors exit 4 (bad input) with a one-line cause."""
    try:
        app(standalone_mode=False)
    except TyperException as error:  # click's usage errors: bad or missing options, bad values
        context = getattr(error, "ctx", None)
        hint = f"`{context.command_path} --help`" if context else "`health --help`"
        message = " ".join(error.format_message().split())  # type: ignore[attr-defined]
        stderr.print(f"error: {message} (see {hint})", markup=False, highlight=False)
        exit_now(BadInputError.exit_code)
    except KeyboardInterrupt:
        stderr.print("error: interrupted; nothing was published", markup=False)
        exit_now(InterruptedRunError.exit_code)
    exit_now(0)
