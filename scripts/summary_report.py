"""A short text summary of the published scores, for people and for logs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

from pipeline_config import PUBLISHED_SCHEMA, PipelinePaths

SCORES = f"{PUBLISHED_SCHEMA}.customer_health_scores"


def build_summary(db_path: Path, at_risk_count: int = 10) -> str:
    """Accounts scored, counts per grade and status, and the most at-risk accounts."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        latest = connection.execute(f"select max(as_of_date) from {SCORES}").fetchone()[0]
        total, low_coverage = connection.execute(
            f"select count(*), count(*) filter (where is_low_coverage) "
            f"from {SCORES} where as_of_date = ?",
            [latest],
        ).fetchone()
        grades = connection.execute(
            f"select grade, count(*) from {SCORES} where as_of_date = ? group by grade "
            "order by grade",
            [latest],
        ).fetchall()
        statuses = connection.execute(
            f"select status, count(*) from {SCORES} where as_of_date = ? group by status "
            "order by status",
            [latest],
        ).fetchall()
        at_risk = connection.execute(
            f"""
            select account_name, account_id, health_score, grade, status,
                   concat_ws('; ', driver_1, driver_2, driver_3)
            from {SCORES}
            where as_of_date = ?
            order by health_score, account_id
            limit ?
            """,
            [latest, at_risk_count],
        ).fetchall()
    lines = [
        f"Customer health scores as of {latest}: {total} accounts scored "
        f"({low_coverage} flagged low-coverage)",
        "By grade:  " + ", ".join(f"{grade} {count}" for grade, count in grades),
        "By status: " + ", ".join(f"{status} {count}" for status, count in statuses),
        f"The {len(at_risk)} most at-risk accounts:",
    ]
    for name, account_id, score, grade, status, drivers in at_risk:
        lines.append(f"  {score:5.1f} {grade} {status:<9} {name} ({account_id})")
        lines.append(f"        {drivers or 'no driver: nothing costs points'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a summary of the published health scores.")
    parser.add_argument(
        "--db-path", help="DuckDB file (default: $HEALTH_DB_PATH or customer_health.duckdb)"
    )
    parser.add_argument("--top", type=int, default=10, help="how many at-risk accounts to list")
    args = parser.parse_args(argv)
    paths = PipelinePaths.resolve(db_path=args.db_path)
    print(build_summary(paths.db_path, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
