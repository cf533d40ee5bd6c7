"""A short text summary of the published scores, for people and for logs."""

from __future__ import annotations

import argparse
import sys

from pipeline_config import DEFAULT_TARGET, PUBLISHED_SCHEMA, PipelinePaths
from warehouse import ENGINES, Warehouse, connect

SCORES = f"{PUBLISHED_SCHEMA}.customer_health_scores"


def build_summary(warehouse: Warehouse, at_risk_count: int = 10) -> str:
    """Accounts scored, counts per grade and status, and the most at-risk accounts."""
    latest = warehouse.query(f"select max(as_of_date) from {SCORES}")[0][0]
    on_latest = f"from {SCORES} where as_of_date = date '{latest.isoformat()}'"
    total, low_coverage = warehouse.query(
        f"select count(*), count(case when is_low_coverage then 1 end) {on_latest}"
    )[0]
    grades = warehouse.query(f"select grade, count(*) {on_latest} group by grade order by grade")
    statuses = warehouse.query(
        f"select status, count(*) {on_latest} group by status order by status"
    )
    at_risk = warehouse.query(
        f"""
        select account_name, account_id, health_score, grade, status,
               concat_ws('; ', driver_1, driver_2, driver_3)
        {on_latest}
        order by health_score, account_id
        limit {int(at_risk_count)}
        """
    )
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
    parser.add_argument("--target", choices=ENGINES, default=DEFAULT_TARGET)
    parser.add_argument(
        "--db-path", help="DuckDB file (default: $HEALTH_DB_PATH or customer_health.duckdb)"
    )
    parser.add_argument("--top", type=int, default=10, help="how many at-risk accounts to list")
    args = parser.parse_args(argv)
    paths = PipelinePaths.resolve(db_path=args.db_path, target=args.target)
    with connect(paths.target, paths.db_path, read_only=True) as warehouse:
        print(build_summary(warehouse, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
