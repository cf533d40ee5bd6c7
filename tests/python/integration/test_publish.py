"""Publishing changes schema health at once and logs it, on every engine: current relations
replaced whole, history relations only on the dates the build wrote.

DuckDB and PostgreSQL publish in one transaction; Spark writes versioned tables and switches the
views in `health` only after all are written. Either way a publish that fails leaves `health`
and the publish log as they were.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from customer_health.dbt_project import PUBLISHED_MODELS
from customer_health.engines.warehouse import Warehouse, connect
from customer_health.pipeline.history_parts import LIVE_PARTS, PARTITION_COLUMN, parts_table
from customer_health.pipeline.publish import (
    REPLACED_ROWS,
    SCORED_DATES,
    CheckCounts,
    PublishRecord,
    changed_rows,
    publish,
    version_run_ids,
)
from customer_health.pipeline.rollback import rollback
from customer_health.pipeline.run import RunOptions
from customer_health.pipeline.run_summary import RunSummary
from customer_health.pipeline.served_file import write_served_file
from customer_health.settings import PUBLISHED_VERSIONS_SCHEMA

SCHEMAS = ("health", "marts", "intermediate", PUBLISHED_VERSIONS_SCHEMA)
CHANGE_MODELS = ("customer_health_score_changes", "customer_health_score_change_attribution")
DATED_MODELS = tuple(REPLACED_ROWS)
OCT, NOV, DEC = "2024-10-31", "2024-11-30", "2024-12-31"


@pytest.fixture(params=["duckdb", "postgres", "spark"])
def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """An empty database on each engine (PostgreSQL: the session's scratch cluster; Spark: a
    session in this process, with its metastore in a temporary folder)."""
    engine = request.param
    if engine == "postgres":
        request.getfixturevalue("postgres_env")
    if engine == "spark":
        os.environ.setdefault(
            "HEALTH_SPARK_DIR", str(tmp_path_factory.getbasetemp() / "publish_spark")
        )
    with connect(engine, tmp_path / "candidate.duckdb") as opened:
        for schema in SCHEMAS:
            opened.execute(f"drop schema if exists {schema} cascade")
        yield opened


def make_candidate(
    warehouse: Warehouse,
    scores: list[tuple[str, float]],
    dates: tuple[str, ...] = (DEC,),
    later_dates: tuple[str, ...] = (),
    extra_history_column: bool = False,
) -> None:
    """Candidate marts the way dbt leaves them: in every published model the scores as given on
    each scored date (the change models: on the later dates too), and the scored dates.
    extra_history_column: the two history copies have a column more (`note`)."""
    def select(model: str, day: str, account: str, score: float) -> str:
        note = f", cast('new' as {warehouse.text_type}) as note" if (
            extra_history_column and model.endswith("history")
        ) else ""
        return (
            f"select cast({warehouse.literal(account)} as {warehouse.text_type}) as account_id, "
            f"date '{day}' as as_of_date, cast({score} as {warehouse.double_type}) as health_score"
            f"{note}"
        )

    for schema in ("marts", "intermediate"):
        warehouse.execute(f"create schema if not exists {schema}")
    warehouse.execute(f"drop table if exists {SCORED_DATES}")
    warehouse.create_table_as(
        SCORED_DATES, " union all ".join(f"select date '{day}' as as_of_date" for day in dates)
    )
    for schema, model in PUBLISHED_MODELS:
        days = dates + (later_dates if model in CHANGE_MODELS else ())
        warehouse.execute(f"drop table if exists {schema}.{model}")
        warehouse.create_table_as(f"{schema}.{model}", " union all ".join(
            select(model, day, account, score) for day in days for account, score in scores
        ))


def published_scores(warehouse: Warehouse) -> list[tuple]:
    return sorted(
        warehouse.query("select account_id, health_score from health.customer_health_scores")
    )


def published_rows(warehouse: Warehouse, model: str) -> list[tuple]:
    """(as-of date as text, account, score) of a published relation, sorted."""
    return sorted(
        (str(day), account, score) for account, day, score in warehouse.query(
            f"select account_id, as_of_date, health_score from health.{model}"
        )
    )


# On Spark, the end-to-end engine test covers a successful publish (each Spark DDL costs ~1 s).
@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"], indirect=True)
def test_publish_copies_marts_and_appends_to_the_log(warehouse: Warehouse) -> None:
    make_candidate(warehouse, [("a1", 90.0), ("a2", 40.0)])
    record = PublishRecord("run1", "cfg1", CheckCounts(passed=5, failed=0, warned=1), {"x": 1.0})

    assert publish(warehouse, record) == 2
    make_candidate(warehouse, [("a1", 10.0)])
    assert publish(warehouse, PublishRecord("run2", "cfg'2")) == 1

    assert published_scores(warehouse) == [("a1", 10.0)]
    log_rows = warehouse.query(
        "select run_id, accounts_scored, checks_passed, checks_warned, scoring_config_version "
        "from health.publish_log order by published_at"
    )
    assert [tuple(row) for row in log_rows] == [
        ("run1", 2, 5, 1, "cfg1"), ("run2", 1, 0, 0, "cfg'2")
    ]


def test_a_failing_publish_leaves_the_published_relations_untouched(
    warehouse: Warehouse,
) -> None:
    make_candidate(warehouse, [("a1", 90.0)])
    publish(warehouse, PublishRecord("run1", "cfg1"))
    make_candidate(warehouse, [("a1", 5.0), ("a2", 6.0)])
    # The last relation to copy disappears: the publish fails after writing the first ones.
    warehouse.execute(f"drop table {'.'.join(PUBLISHED_MODELS[-1])}")

    with pytest.raises(Exception, match=r"(?i)newly_at_risk_accounts"):
        publish(warehouse, PublishRecord("run2", "cfg2"))

    assert published_scores(warehouse) == [("a1", 90.0)]
    assert published_rows(warehouse, "customer_health_score_history") == [(DEC, "a1", 90.0)]
    assert warehouse.query("select count(*) from health.publish_log")[0][0] == 1


def test_history_is_replaced_only_on_the_dates_a_build_wrote(warehouse: Warehouse) -> None:
    make_candidate(warehouse, [("a1", 1.0)], dates=(OCT, DEC))
    publish(warehouse, PublishRecord("run1", "cfg", kind="backfill"))
    # Nov, scored between them, is Dec's previous date now: the change models hold Dec as well.
    # The history copies gained a column since.
    make_candidate(
        warehouse, [("a1", 2.0)], dates=(NOV,), later_dates=(DEC,), extra_history_column=True
    )
    for run_id in ("run2", "run2_again"):
        publish(warehouse, PublishRecord(run_id, "cfg", kind="backfill", keep=2))

        assert published_rows(warehouse, "customer_health_score_history") == [
            (OCT, "a1", 1.0), (NOV, "a1", 2.0), (DEC, "a1", 1.0)
        ], "only the scored date is replaced, once however often it is published"
        for model in CHANGE_MODELS:
            assert published_rows(warehouse, model) == [
                (OCT, "a1", 1.0), (NOV, "a1", 2.0), (DEC, "a1", 2.0)
            ], f"{model}: replaced from the first scored date on"
        assert published_rows(warehouse, "newly_at_risk_accounts") == [(NOV, "a1", 2.0)], (
            "replaced whole"
        )
    notes = warehouse.query(
        "select as_of_date, note from health.customer_health_score_component_history"
    )
    assert sorted((str(day), note) for day, note in notes) == [
        (OCT, None), (NOV, "new"), (DEC, None)
    ]


@pytest.mark.parametrize("warehouse", ["duckdb", "postgres"], indirect=True)
def test_a_backfill_of_the_current_date_leaves_the_current_scores_alone(
    warehouse: Warehouse,
) -> None:
    """Current scores and components show the last refresh, whatever a backfill rescores (on
    DuckDB they are views of the history, frozen before a backfill replaces their date)."""
    def current() -> list[list[tuple]]:
        return [sorted(warehouse.query(f"select as_of_date, account_id, health_score from {name}"))
                for name in ("health.customer_health_scores",
                             "health.customer_health_score_components")]

    make_candidate(warehouse, [("a1", 90.0), ("a2", 40.0)], dates=(NOV, DEC))
    publish(warehouse, PublishRecord("run1", "cfg"))
    dec = dt.date(2024, 12, 31)
    assert current() == [[(dec, "a1", 90.0), (dec, "a2", 40.0)]] * 2

    make_candidate(warehouse, [("a1", 5.0)], dates=(NOV, DEC))
    publish(warehouse, PublishRecord("run2", "cfg", kind="backfill"))
    assert published_rows(warehouse, "customer_health_score_component_history") == [
        (NOV, "a1", 5.0), (DEC, "a1", 5.0)]
    assert current() == [[(dec, "a1", 90.0), (dec, "a2", 40.0)]] * 2

    make_candidate(warehouse, [("a2", 7.0)], dates=(DEC,))
    publish(warehouse, PublishRecord("run3", "cfg"))
    assert current() == [[(dec, "a2", 7.0)]] * 2


@pytest.mark.parametrize("warehouse", ["postgres", "spark"], indirect=True)
def test_versions_and_history_partitions_of_the_kept_publishes_are_kept(
    warehouse: Warehouse,
) -> None:
    make_candidate(warehouse, [("a1", 90.0)])
    publish(warehouse, PublishRecord("current", "cfg"))
    for run_id in ("backfill1", "backfill2", "backfill3"):
        publish(warehouse, PublishRecord(run_id, "cfg", kind="backfill", keep=2))

    # Backfills version the history only: the current scores keep their one version.
    assert version_run_ids(warehouse, "customer_health_scores") == {"current"}
    for model in DATED_MODELS:
        assert warehouse.partition_values(parts_table(model), PARTITION_COLUMN) == [
            "backfill2", "backfill3"
        ], model
    assert published_scores(warehouse) == [("a1", 90.0)]
    assert published_rows(warehouse, "customer_health_score_history") == [(DEC, "a1", 90.0)]


@pytest.mark.parametrize("warehouse", ["postgres"], indirect=True)
def test_a_history_partition_holds_only_the_rows_its_build_wrote(warehouse: Warehouse) -> None:
    """Nothing published is copied: a backfill of one date adds that date's rows (the change
    relations: from it on), and the views show each date from the newest partition with it."""
    make_candidate(warehouse, [("a1", 1.0), ("a2", 1.0)], dates=(OCT, DEC))
    publish(warehouse, PublishRecord("run1", "cfg", kind="backfill"))
    make_candidate(warehouse, [("a1", 2.0)], dates=(NOV,), later_dates=(DEC,))
    publish(warehouse, PublishRecord("run2", "cfg", kind="backfill"))

    def partition(model: str, run_id: str) -> list[tuple]:
        return sorted((str(day), account) for account, day in warehouse.query(
            f"select account_id, as_of_date from {parts_table(model)} "
            f"where {PARTITION_COLUMN} = '{run_id}'"
        ))

    assert partition("customer_health_score_history", "run2") == [(NOV, "a1")]
    for model in CHANGE_MODELS:
        assert partition(model, "run2") == [(NOV, "a1"), (DEC, "a1")], model
        assert published_rows(warehouse, model) == [
            (OCT, "a1", 1.0), (OCT, "a2", 1.0), (NOV, "a1", 2.0), (DEC, "a1", 2.0)
        ], f"{model}: December from the newest partition, a2's December row with it gone"


@pytest.mark.parametrize("warehouse", ["postgres"], indirect=True)
def test_a_history_without_recorded_partitions_is_carried_over_whole(
    warehouse: Warehouse,
) -> None:
    """Published before history partitions (no live parts recorded): the next publish writes
    the published history with its own dates replaced into its partition, once."""
    make_candidate(warehouse, [("a1", 1.0)], dates=(OCT, NOV))
    publish(warehouse, PublishRecord("before", "cfg", kind="backfill"))
    warehouse.execute(f"drop table {LIVE_PARTS} cascade")
    make_candidate(warehouse, [("a1", 2.0)], dates=(NOV,))
    publish(warehouse, PublishRecord("after", "cfg", kind="backfill"))

    assert published_rows(warehouse, "customer_health_score_history") == [
        (OCT, "a1", 1.0), (NOV, "a1", 2.0)
    ]
    history = parts_table("customer_health_score_history")
    assert warehouse.partition_values(history, PARTITION_COLUMN) == ["after"]
    assert warehouse.query(f"select count(*) from {history}") == [(2,)]


@pytest.mark.parametrize("warehouse", ["postgres", "spark"], indirect=True)
def test_a_rollback_switches_every_relation_back_and_forth(
    warehouse: Warehouse, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """On the engines with versioned tables behind the views of `health` (DuckDB keeps whole
    served files: the concurrent-readers test rolls those back)."""
    make_candidate(warehouse, [("a1", 90.0)], dates=(NOV,))
    publish(warehouse, PublishRecord("first", "cfg1"))
    make_candidate(warehouse, [("a1", 10.0), ("a2", 20.0)], dates=(DEC,))
    publish(warehouse, PublishRecord("second", "cfg2"))
    engine = request.node.callspec.params["warehouse"]
    options = RunOptions(target=engine, target_path=tmp_path / "target")

    rollback(options, RunSummary(command="rollback", target=engine))
    assert published_scores(warehouse) == [("a1", 90.0)]
    assert published_rows(warehouse, "customer_health_score_history") == [(NOV, "a1", 90.0)]
    rollback(options, RunSummary(command="rollback", target=engine), to_run_id="second")
    assert published_scores(warehouse) == [("a1", 10.0), ("a2", 20.0)]
    assert published_rows(warehouse, "customer_health_score_history") == [
        (NOV, "a1", 90.0), (DEC, "a1", 10.0), (DEC, "a2", 20.0)
    ]
    kinds = warehouse.query(
        "select publish_kind, scoring_config_version from health.publish_log "
        "order by published_at"
    )
    assert [tuple(row) for row in kinds] == [
        ("refresh", "cfg1"), ("refresh", "cfg2"), ("rollback", "cfg1"), ("rollback", "cfg2")
    ]


def health_relations(warehouse: Warehouse) -> dict[str, list[tuple]]:
    """Every table and view of a DuckDB database's schema health, rows sorted."""
    names = [*warehouse.tables("health"), *warehouse.views("health")]
    return {name: sorted(warehouse.query(f"select * from health.{name}"), key=repr)
            for name in names}


def served_tables(served: Path) -> dict[str, list[tuple]]:
    """Every relation of a served file's schema health (opened on its own), rows sorted."""
    with connect("duckdb", served, read_only=True) as file:
        return health_relations(file)


def publish_and_serve(warehouse: Warehouse, served: Path, record: PublishRecord) -> None:
    publish(warehouse, record)
    write_served_file(warehouse, served, record.run_id, keep=3,
                      changed=changed_rows(record.kind))


@pytest.mark.parametrize("warehouse", ["duckdb"], indirect=True)
def test_the_served_file_rewrites_only_what_a_publish_changed(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    """A publish copies the served file and rewrites only the changed rows of it (a row planted
    in the copy on an unscored date survives), and the result equals the working database's
    schema health; a served file that does not hold the previous run is written whole."""
    served = tmp_path / "served.duckdb"
    make_candidate(warehouse, [("a1", 1.0), ("a2", 3.0)], dates=(OCT, NOV))
    publish_and_serve(warehouse, served, PublishRecord("run1", "cfg", kind="backfill"))
    history = "health.customer_health_score_history"
    with connect("duckdb", served) as file:  # only a copied file keeps this row
        file.execute(f"insert into {history} values ('planted', date '{OCT}', 0.0)")

    # a refresh of Dec, whose change relations replace Dec only; the history gained a column
    make_candidate(warehouse, [("a1", 2.0)], dates=(DEC,), extra_history_column=True)
    publish_and_serve(warehouse, served, PublishRecord("run2", "cfg"))
    with connect("duckdb", served, read_only=True) as file:
        planted = file.query(f"select count(*) from {history} where account_id = 'planted'")
    assert planted == [(0,)], "a relation whose columns changed is written whole"
    with connect("duckdb", served) as file:
        file.execute("insert into health.customer_health_score_changes "
                     f"values ('planted', date '{OCT}', 0.0)")

    make_candidate(warehouse, [("a1", 5.0)], dates=(DEC,), extra_history_column=True)
    publish_and_serve(warehouse, served, PublishRecord("run3", "cfg"))
    kept = served_tables(served)["customer_health_score_changes"]
    assert ("planted", dt.date(2024, 10, 31), 0.0) in kept, "Oct was not rewritten"
    assert [row for row in kept if row[0] != "planted"] == sorted(
        warehouse.query("select * from health.customer_health_score_changes"), key=repr)
    working = health_relations(warehouse)
    assert {"customer_health_scores", "customer_health_score_components"} <= set(
        warehouse.views("health")), "the current relations are views of the history"
    written = served_tables(served)
    written["customer_health_score_changes"] = [
        row for row in written["customer_health_score_changes"] if row[0] != "planted"]
    assert written == working
    assert not served.with_name(served.name + ".wal").exists()

    served.unlink()  # lost: the next publish writes it whole from the working database
    make_candidate(warehouse, [("a1", 6.0)], dates=(DEC,), extra_history_column=True)
    publish_and_serve(warehouse, served, PublishRecord("run4", "cfg"))
    assert served_tables(served) == health_relations(warehouse)
