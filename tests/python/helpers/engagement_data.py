"""Generated data with every raw table (the engagement example's deployment): usage, billing and
support beside engagement events and NPS responses, with the generator's dirt, plus rows that
only a point-in-time, type-checking pipeline quarantines. Built once per test run (shared.py)."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest

from helpers.project import REPO_DIR, clean_env, health_command, output_of
from helpers.shared import build_once

EXAMPLE = REPO_DIR / "deployments" / "engagement_example"
ACCOUNTS = 300
EVENTS = "ravenstack_engagement_events.csv"
RESPONSES = "ravenstack_nps_responses.csv"


def append_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """Append rows in the generator's format (CRLF, unquoted)."""
    with path.open(newline="") as handle:
        header = next(csv.reader(handle))
    with path.open("a", newline="") as handle:
        for row in rows:
            handle.write(",".join(row.get(column, "") for column in header) + "\r\n")


def generate(out: Path) -> None:
    """ACCOUNTS generated accounts with engagement, NPS and the generator's dirt; plus an event
    and a response dated after the run (a clock gone wrong), an event of a type its channel does
    not have and a score that is not a whole number."""
    completed = subprocess.run(
        health_command("generate", "--engagement", "--quirks", "--accounts", str(ACCOUNTS),
                       "--out", str(out), "--quiet"),
        env=clean_env(), capture_output=True, text=True, check=False, cwd=REPO_DIR,
    )
    assert completed.returncode == 0, output_of(completed)
    account = next(csv.DictReader((out / "ravenstack_accounts.csv").open()))["account_id"]
    append_rows(out / EVENTS, [
        {"event_id": "E-future", "account_id": account, "occurred_at": "2090-01-01 00:00:00",
         "channel": "web", "event_type": "visited"},
        {"event_id": "E-badtype", "account_id": account, "occurred_at": "2024-06-01 10:00:00",
         "channel": "meeting", "event_type": "clicked"},
    ])
    append_rows(out / RESPONSES, [
        {"response_id": "N-future", "account_id": account, "responded_at": "2090-01-01 00:00:00",
         "nps_score": "10"},
        {"response_id": "N-half", "account_id": account, "responded_at": "2024-06-01 10:00:00",
         "nps_score": "7.5"},
    ])


def engagement_data(factory: pytest.TempPathFactory) -> Path:
    """The run's generated data (tests copy it before changing it)."""
    return build_once(factory, "engagement_data", generate)
