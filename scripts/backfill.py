"""Score a range of past as-of dates into the published score history.

Builds every date in one dbt run (the models score several as-of dates at once), runs the same
quality gate, and publishes the history relations (`health.customer_health_score_history`,
changes, attribution, newly at-risk accounts) without touching the current scores. Re-running a
date replaces it. Exit codes as for scripts/refresh.py.
"""

from __future__ import annotations

import argparse
import logging
from datetime import date, timedelta

from pipeline_config import EXIT_BAD_INPUT, exit_process
from refresh import add_target_arguments, run_pipeline

log = logging.getLogger("backfill")


def month_ends(start: date, end: date) -> list[date]:
    """Last day of every month from start's month to end's month, within [start, end]."""
    dates = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        next_month = date(year + month // 12, month % 12 + 1, 1)
        month_end = next_month - timedelta(days=1)
        if start <= month_end <= end:
            dates.append(month_end)
        year, month = next_month.year, next_month.month
    return dates


def as_of_dates(start: date, end: date, step: str) -> list[date]:
    """The as-of dates of a backfill: weekly from start, or month ends."""
    if step == "month":
        return month_ends(start, end)
    return [start + timedelta(days=days) for days in range(0, (end - start).days + 1, 7)]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first date")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last date")
    parser.add_argument(
        "--step", choices=("week", "month"), default="month",
        help="weekly from --start, or every month end (default)",
    )
    add_target_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no summary (a backfill prints none)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)
    dates = as_of_dates(args.start, args.end, args.step)
    if not dates:
        log.error("no %s as-of dates between %s and %s", args.step, args.start, args.end)
        return EXIT_BAD_INPUT
    log.info("backfilling %s as-of dates: %s .. %s", len(dates), dates[0], dates[-1])
    dbt_vars: dict[str, object] = {"as_of_dates": [day.isoformat() for day in dates]}
    return run_pipeline(args, dbt_vars, kind="backfill")


if __name__ == "__main__":
    exit_process(main())
