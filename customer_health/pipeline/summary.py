"""A short text summary of the published scores, for people and for logs."""

from __future__ import annotations

from customer_health.engines.warehouse import Warehouse
from customer_health.pipeline.worklists import worklist_sizes
from customer_health.settings import PUBLISHED_SCORES as SCORES


def build_summary(warehouse: Warehouse, at_risk_count: int = 10) -> str:
    """Accounts scored, counts per grade and status, the most at-risk accounts, and the
    outreach worklists: rows on each and matches beyond its capacity."""
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
    lines.append("Outreach worklists (var outreach_capacity):")
    lines.extend(f"  {size.describe()}" for size in worklist_sizes(warehouse))
    return "\n".join(lines)
