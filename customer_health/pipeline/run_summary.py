"""The machine-readable record of one run, published or not.

Every refresh, backfill, gate and publish fills one `RunSummary`; the command line prints it as
JSON on stdout with `--json` and always writes it to `<target path>/runs/<run id>.json` and
appends it to `<target path>/runs/runs.jsonl`, so failed runs are on record as well as publishes.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from customer_health.errors import EXIT_OK, HealthError

RUNS_FOLDER = "runs"
RUN_LOG_FILE = "runs.jsonl"


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class CheckSummary:
    passed: int = 0
    failed: int = 0
    warned: int = 0
    failing: list[str] = field(default_factory=list)
    warning: list[str] = field(default_factory=list)


@dataclass
class RunSummary:
    command: str
    target: str
    run_id: str = field(default_factory=new_run_id)
    status: str = "running"
    exit_code: int | None = None
    message: str = ""
    published: bool = False
    as_of_dates: list[str] = field(default_factory=list)
    accounts_scored: int | None = None
    checks: CheckSummary = field(default_factory=CheckSummary)
    failing_dbt_nodes: list[str] = field(default_factory=list)
    # Per published outreach worklist: relation, served file (DuckDB), rows on it, accounts that
    # matched, and how many the capacity left out (customer_health/pipeline/worklists.py).
    worklists: list[dict[str, object]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started_at: str = field(default_factory=_now)
    finished_at: str | None = None

    def timed(self, step: str) -> _StepTimer:
        """`with summary.timed("dbt_build"):` records the step's seconds, even when it fails."""
        return _StepTimer(self, step)

    def set_dates(self, dates: list[date]) -> None:
        self.as_of_dates = [day.isoformat() for day in dates]

    def finish(self, status: str, exit_code: int, message: str = "") -> None:
        self.status, self.exit_code, self.message = status, exit_code, message
        self.finished_at = _now()

    def record_outcome(self, error: HealthError | None) -> None:
        """Finish with how the run ended: published (or succeeded, when it publishes nothing),
        else the failure's status, exit code and first line."""
        if error is None:
            self.finish("published" if self.published else "succeeded", EXIT_OK)
        else:
            self.finish(error.status, error.exit_code, next(iter(str(error).splitlines()), ""))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def write(self, target_path: Path) -> Path:
        """Write runs/<run id>.json and append a line to runs/runs.jsonl; return the file."""
        folder = target_path / RUNS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.run_id}.json"
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        with (folder / RUN_LOG_FILE).open("a", encoding="utf-8") as log:
            log.write(json.dumps(asdict(self), default=str) + "\n")
        return path


class _StepTimer:
    def __init__(self, summary: RunSummary, step: str) -> None:
        self.summary, self.step = summary, step

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        seconds = round(time.perf_counter() - self.started, 2)
        self.summary.timings[f"{self.step}_seconds"] = seconds
