"""The as-of dates of a backfill (`health backfill`, run by customer_health.pipeline.run).

A backfill builds every date in one dbt run (the models score several as-of dates at once), runs
the same quality gate, and publishes the history relations without touching the current scores.
Re-running a date replaces it.
"""

from __future__ import annotations

from datetime import date, timedelta


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
