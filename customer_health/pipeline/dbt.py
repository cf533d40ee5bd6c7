"""Run `dbt build` and turn its results into a readable failure report.

On DuckDB and PostgreSQL dbt runs in a subprocess whose node lines (`12 of 228 OK ...`) are shown
as progress on stderr; on Spark it runs in this process (see `_run_in_process`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from customer_health.settings import PROJECT_DIR, PipelinePaths

log = logging.getLogger(__name__)

FAILED_STATUSES = {"error", "fail", "runtime error"}
# dbt's per-node lines: "12 of 228 OK created sql table model ..." (and START, PASS, FAIL, ...).
PROGRESS_LINE = re.compile(r"\b\d+ of \d+ (?!START)")


@dataclass(frozen=True)
class BuildResult:
    succeeded: bool
    failures: list[str]
    output_tail: str


def dbt_executable() -> str:
    candidate = Path(sys.executable).parent / "dbt"
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt_build(
    paths: PipelinePaths,
    dbt_vars: dict[str, object],
    target_path: Path,
    show_progress: bool = True,
) -> BuildResult:
    """Build seeds, models and tests on the paths' target; nothing is published by dbt itself."""
    command = [
        "build",
        "--project-dir", str(PROJECT_DIR),
        "--profiles-dir", str(PROJECT_DIR),
        "--target", paths.target,
        "--target-path", str(target_path),
        "--log-path", str(target_path / "logs"),
        "--vars", json.dumps(dbt_vars),
    ]
    log.info("running dbt build on %s (target path %s)", paths.target, target_path)
    if paths.target == "spark":
        succeeded, tail = _run_in_process(command, paths, show_progress)
    else:
        succeeded, tail = _run_subprocess(command, paths, show_progress)
    if succeeded:
        return BuildResult(succeeded=True, failures=[], output_tail=tail)
    return BuildResult(
        succeeded=False, failures=failed_nodes(target_path / "run_results.json"), output_tail=tail
    )


def _run_subprocess(
    command: list[str], paths: PipelinePaths, show_progress: bool
) -> tuple[bool, str]:
    """dbt in a child process; its node lines go to stderr as they come when show_progress."""
    lines: list[str] = []
    with subprocess.Popen(
        [dbt_executable(), *command],
        env=paths.dbt_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if show_progress and PROGRESS_LINE.search(line):
                print(line.rstrip("\n"), file=sys.stderr, flush=True)
    return process.returncode == 0, "\n".join(lines[-25:])


def _run_in_process(
    command: list[str], paths: PipelinePaths, show_progress: bool
) -> tuple[bool, str]:
    """dbt in this process: on Spark it then shares the process's session (one JVM, and the
    local Derby metastore admits a single process)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(paths.dbt_env())
    result = dbtRunner().invoke([*command] if show_progress else [*command, "--quiet"])
    error = f"{type(result.exception).__name__}: {result.exception}" if result.exception else ""
    return bool(result.success), error


def failed_nodes(run_results: Path) -> list[str]:
    """One line per failed model or test, from dbt's run_results.json (empty if none written)."""
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text()).get("results", [])
    lines = []
    for result in results:
        if str(result.get("status")).lower() not in FAILED_STATUSES:
            continue
        node = result.get("unique_id", "?")
        message = " ".join(str(result.get("message") or "").split())
        failures = result.get("failures")
        detail = f" ({failures} failing rows)" if failures else ""
        lines.append(f"{node}{detail}: {message[:400]}")
    return lines
