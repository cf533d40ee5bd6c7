"""A large synthetic candidate for the gate, and a count of the rows the gate's queries bring
into the client: the evidence that no check fetches a relation.

The relations are the ones the gate reads (names and documented columns from the dbt manifest):
base_* tables, stg_* views over them (as dbt builds them), the scores, their history, and a
published copy of the history for the drift stage. The usage source and the scores get `big_rows`
rows, the other sources a thousand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from customer_health.gate.checks import present_sources
from customer_health.gate.config import GateConfig
from customer_health.gate.dbt_manifest import DbtManifest

SMALL_ROWS = 1_000
BIG_SOURCE = "feature_usage"
AS_OF_DATE = "2024-12-31"


def _rows(count: int) -> str:
    return f"generate_series(0, {count - 1}) as numbers(g)"


def candidate_statements(
    config: GateConfig, manifest: DbtManifest, big_rows: int, absurd_dates: bool = False
) -> list[str]:
    """SQL (DuckDB and PostgreSQL alike) creating every relation the gate validates.

    absurd_dates: the big source's dates fall in the 82 years from 1900-01-01, so its
    dates_not_too_old check fails on every row, with 30,000 distinct values.
    """
    statements = [
        f"create schema if not exists {schema}" for schema in ("staging", "marts", "health")
    ]
    for source in present_sources(config, manifest):
        rows = big_rows if source.name == BIG_SOURCE else SMALL_ROWS
        staged = manifest.model(source.staged)
        dates = set(source.dates) | {source.freshness_column} - {None}
        date_value = (
            "date '1900-01-01' + cast(g % 30000 as integer)"
            if absurd_dates and source.name == BIG_SOURCE
            else f"date '{AS_OF_DATE}' - cast(1 + g % 365 as integer)"
        )
        columns = ", ".join(
            f"{date_value if column in dates else 'cast(g as varchar)'} as {column}"
            for column in staged.columns
        )
        base = manifest.model(source.base).relation
        statements += [
            f"create table {base} as select {columns}, "
            f"case when g % 1000 = 0 then 'bad_row' end as quarantine_reason from {_rows(rows)}",
            f"create view {staged.relation} as select {', '.join(staged.columns)} "
            f"from {base} where quarantine_reason is null",
        ]
    scores = config.scores_relation(manifest)
    statements += [
        f"create table {scores} as select 'A-' || cast(g as varchar) as account_id, "
        f"date '{AS_OF_DATE}' as as_of_date, cast(g % 1000 as double precision) / 10 "
        "as health_score, case when g % 4 = 0 then 'unhealthy' else 'healthy' end as status, "
        f"g % 50 = 0 as is_low_coverage from {_rows(big_rows)}",
        f"create view {config.history_relation(manifest)} as select * from {scores}",
        f"create view {config.published_history_relation(manifest)} as select * from {scores}",
    ]
    return statements


@dataclass
class ClientRows:
    """Rows each SQL statement brought into the client, largest first."""

    statements: list[tuple[int, str]] = field(default_factory=list)

    def record(self, rows: int, statement: str) -> None:
        self.statements.append((rows, " ".join(statement.split())[:200]))

    @property
    def largest(self) -> tuple[int, str]:
        return max(self.statements, default=(0, ""))


@contextmanager
def counting_client_rows() -> Iterator[ClientRows]:
    """Count the rows every SQLAlchemy engine's queries bring into this process.

    psycopg2 transfers a whole result when the query runs (its cursor's rowcount); DuckDB
    streams it, so what counts there is what is fetched (duckdb-engine's cursor wrapper).
    """
    import duckdb_engine
    import sqlalchemy as sa

    counted = ClientRows()

    def after_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if cursor.description is not None and (cursor.rowcount or 0) > 0:
            counted.record(cursor.rowcount, statement)

    wrapper = duckdb_engine.CursorWrapper
    originals: dict[str, Callable[..., object] | None] = {
        name: wrapper.__dict__.get(name) for name in ("fetchall", "fetchmany", "fetchone")
    }

    def counting(name: str) -> Callable[..., object]:
        def fetch(self, *args: object) -> object:
            rows = getattr(self._CursorWrapper__c, name)(*args)
            size = len(rows) if isinstance(rows, list) else int(rows is not None)
            counted.record(size, f"duckdb {name}")
            return rows

        return fetch

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", after_execute)
    for name in originals:
        setattr(wrapper, name, counting(name))
    try:
        yield counted
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", after_execute)
        for name, original in originals.items():
            if original is None:
                delattr(wrapper, name)
            else:
                setattr(wrapper, name, original)
