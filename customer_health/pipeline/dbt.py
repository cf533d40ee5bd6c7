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

from customer_health.settings import PROJECT_DIR, PipelinePaths, dbt_executable

log = logging.getLogger(__name__)

FAILED_STATUSES = {"error", "fail", "runtime error"}
# Failing rows shown per failed test in the build report.
EXAMPLE_ROWS = 3
# dbt's per-node lines: "12 of 228 OK created sql table model ..." (and START, PASS, FAIL, ...).
PROGRESS_LINE = re.compile(r"\b\d+ of \d+ (?!START)")


@dataclass(frozen=True)
class BuildResult:
    succeeded: bool
    failures: list[str]
    output_tail: str


def run_dbt_build(
    paths: PipelinePaths,
    dbt_vars: dict[str, object],
    target_path: Path,
    show_progress: bool = True,
) -> BuildResult:
    """Build seeds, models and data tests on the paths' target; nothing is published by dbt
    itself. dbt's unit tests check the SQL, not the data, so they run in `make test` (and any
    plain `dbt build`), not in every refresh, as dbt recommends for production runs."""
    command = [
        "build",
        "--exclude-resource-type", "unit_test",
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
    failures = failed_nodes(target_path / "run_results.json")
    return BuildResult(
        succeeded=False, failures=with_examples(failures, paths), output_tail=tail
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


@dataclass(frozen=True)
class FailedNode:
    """A model or test dbt reported as failed; a failed test keeps its compiled query."""

    unique_id: str
    message: str
    failures: int | None
    compiled_code: str | None

    def describe(self) -> str:
        detail = f" ({self.failures} failing rows)" if self.failures else ""
        return f"{self.unique_id}{detail}: {self.message[:400]}"


def failed_nodes(run_results: Path) -> list[FailedNode]:
    """Every failed model or test in dbt's run_results.json (none if it was not written)."""
    if not run_results.exists():
        return []
    results = json.loads(run_results.read_text()).get("results", [])
    return [
        FailedNode(
            unique_id=result.get("unique_id", "?"),
            message=" ".join(str(result.get("message") or "").split()),
            failures=result.get("failures"),
            compiled_code=result.get("compiled_code"),
        )
        for result in results
        if str(result.get("status")).lower() in FAILED_STATUSES
    ]


def with_examples(nodes: list[FailedNode], paths: PipelinePaths) -> list[str]:
    """One line per failed node, and for a failed test up to EXAMPLE_ROWS of its failing rows,
    so the report names the bad row, not only the test (its `problem` column when it has one)."""
    lines = []
    for node in nodes:
        lines.append(node.describe())
        if node.failures and node.compiled_code and node.unique_id.startswith("test."):
            lines += [f"    e.g. {example}" for example in failing_rows(node.compiled_code, paths)]
    return lines


def failing_rows(compiled_code: str, paths: PipelinePaths) -> list[str]:
    """A few failing rows of a test query, as text; none when they cannot be read."""
    from customer_health.engines.warehouse import connect

    try:
        with connect(paths.target, paths.build_db_path, read_only=True) as warehouse:
            columns, rows = warehouse.query_with_columns(
                f"select * from ({compiled_code}) as failing limit {EXAMPLE_ROWS}"
            )
    except Exception as error:  # examples are a courtesy: they never mask the failure
        log.debug("could not sample failing rows: %s", error)
        return []
    if "problem" in columns:
        return [str(row[columns.index("problem")]) for row in rows]
    return [", ".join(f"{name}={value}" for name, value in zip(columns, row, strict=True))
            for row in rows]
