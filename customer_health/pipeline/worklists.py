"""How full each published outreach worklist is: rows on it and matches its capacity left out.

A worklist is a published relation with an `accounts_matched` column (macro capped_worklist in
the dbt project): each row carries the number of accounts that met the list's conditions on its
as-of date before var `outreach_capacity` capped the list. Reading the published relations
rather than a list of names keeps the worklists named in one place, the dbt project.
"""

from __future__ import annotations

from dataclasses import dataclass

from customer_health.dbt_project import PUBLISHED_MODELS
from customer_health.engines.warehouse import Warehouse
from customer_health.settings import PUBLISHED_SCHEMA

MATCHED_COLUMN = "accounts_matched"


@dataclass(frozen=True)
class WorklistSize:
    """One published worklist: where it is, the rows on it, and how many more matched."""

    relation: str
    rows: int
    matched: int

    @property
    def beyond_capacity(self) -> int:
        return self.matched - self.rows

    def as_record(self, served_file: str | None = None) -> dict[str, object]:
        """For the run summary: `served_file` is the DuckDB file BI reads it from (None on a
        server engine, where BI reads the relation itself)."""
        return {"relation": self.relation, "served_file": served_file, "rows": self.rows,
                "matched": self.matched, "beyond_capacity": self.beyond_capacity}

    def describe(self) -> str:
        return (f"{self.relation}: {self.rows} listed, {self.beyond_capacity} more matched "
                "beyond capacity")


def worklist_sizes(warehouse: Warehouse) -> list[WorklistSize]:
    """Every published worklist's size, summed over its as-of dates, in relation-name order."""
    sizes = []
    for model in sorted({model for _, model in PUBLISHED_MODELS}):
        if not warehouse.relation_exists(PUBLISHED_SCHEMA, model):
            continue
        if MATCHED_COLUMN not in warehouse.columns(PUBLISHED_SCHEMA, model):
            continue
        relation = f"{PUBLISHED_SCHEMA}.{model}"
        rows, matched = warehouse.query(
            f"select coalesce(sum(listed), 0), coalesce(sum(matched), 0) from ("
            f"select count(*) as listed, max({MATCHED_COLUMN}) as matched "
            f"from {relation} group by as_of_date) as per_date"
        )[0]
        sizes.append(WorklistSize(relation, int(rows), int(matched)))
    return sizes
