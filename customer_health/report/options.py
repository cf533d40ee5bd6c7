"""Options of the HTML report: which published scores it reads, and where it writes.

Plain data with no analysis imports, so that the command line builds them without loading pandas
or matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from customer_health.evaluation.options import REPORTS_DIR
from customer_health.pipeline.run import DEFAULT_TARGET_PATH
from customer_health.settings import DEFAULT_TARGET

REPORT_FILE = "report.html"


@dataclass(frozen=True, kw_only=True)
class ReportOptions:
    """target / db_path: the published relations to read (as the backtest reads them: the DuckDB
    file read-only, or a temporary extract of PostgreSQL or Spark). out: the folder report.html
    is written to. backtest: the backtest's JSON report whose churn by grade the page shows (a
    missing file is explained on the page). target_path: the dbt target folder whose runs/ hold
    the run summaries, for the names of the last publish's gate warnings. worklist_rows / movers:
    how many at-risk accounts and how many movers each way the page lists."""

    target: str = DEFAULT_TARGET
    db_path: Path | None = None
    out: Path = REPORTS_DIR / "health"
    backtest: Path = REPORTS_DIR / "backtest" / "backtest.json"
    target_path: Path = DEFAULT_TARGET_PATH
    worklist_rows: int = 15
    movers: int = 8

    @property
    def report_path(self) -> Path:
        return self.out / REPORT_FILE
