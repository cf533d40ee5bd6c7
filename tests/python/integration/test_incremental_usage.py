"""On append-only Parquet folders the usage staging model loads new files incrementally.

Incremental runs must end in exactly the state a --full-refresh build reaches on the same files,
including when a new file repeats usage_ids that were already loaded (the duplicate that wins can
change), when it carries exact copies and invalid rows, and when a subscription whose usage was
loaded is quarantined, or cleared, afterwards (its usage is parent_quarantined, or no longer).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers.project import REPO_DIR, clean_env

from customer_health.sample_data import generate as gsd
from customer_health.sample_data.options import GeneratorOptions

AS_OF_DATE = "2024-12-31"
HOLD_BACK_FROM = dt.date(2024, 12, 20)
USAGE_TABLE = "staging.base_product_usage__feature_usage"
LATE_FILE = "late-corrections.parquet"
COMPARED_RELATIONS = {
    USAGE_TABLE: "* exclude (loaded_at)",
    "intermediate.int_account_metric_points": "*",
    "marts.customer_health_scores": "* exclude (dbt_invocation_id)",
}


def run_dbt(command: str, db_path: Path, raw_dir: Path, target: Path,
            *extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env.update(HEALTH_DB_PATH=str(db_path), HEALTH_WORKING_DB_PATH=str(db_path),
               HEALTH_RAW_DATA_DIR=str(raw_dir),
               HEALTH_RAW_DATA_FORMAT="parquet")
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), command, "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target-path", str(target),
         "--log-path", str(target / "logs"), *extra],
        env=env, capture_output=True, text=True, check=False, timeout=600,
    )


def dbt_build(db_path: Path, raw_dir: Path, target: Path, *extra: str) -> None:
    completed = run_dbt(
        "build", db_path, raw_dir, target, "--exclude-resource-type", "test", "unit_test",
        "--vars", f"{{as_of_date: '{AS_OF_DATE}'}}", *extra,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]


def write_late_corrections(raw_dir: Path, destination: Path) -> None:
    """A late file: re-sent ids with content that ranks first, exact copies, an invalid row."""
    usage = f"read_parquet('{raw_dir}/ravenstack_feature_usage/*.parquet')"
    with duckdb.connect() as con:
        con.execute(f"""
            copy (
                (select * replace ('S-000000' as subscription_id) from {usage}
                 order by usage_id limit 3)
                union all
                (select * from {usage} order by usage_id desc limit 2)
                union all
                (select * replace ('U-late-negative' as usage_id, -5 as usage_count)
                 from {usage} order by usage_id limit 1)
            ) to '{destination}' (format parquet)
        """)


def used_subscriptions(raw_dir: Path, count: int) -> list[str]:
    """The subscriptions with the most usage, other than those of the usage rows that
    write_late_corrections re-sends (whose expected reasons are their own)."""
    usage = f"read_parquet('{raw_dir}/ravenstack_feature_usage/*.parquet')"
    with duckdb.connect() as con:
        rows = con.execute(f"""
            select subscription_id from {usage}
            where subscription_id not in (
                (select subscription_id from {usage} order by usage_id limit 3)
                union all
                (select subscription_id from {usage} order by usage_id desc limit 2)
            )
            group by subscription_id
            order by count(*) desc, subscription_id
            limit {count}
        """).fetchall()
    return [subscription_id for (subscription_id,) in rows]


def resend_subscription(raw_dir: Path, subscription_id: str, start_date: str,
                        end_date: str | None, file_name: str) -> None:
    """A new subscriptions file re-sending one subscription with other dates. An early start
    sorts its raw values first, so this row is the subscription's first: an end before the start
    quarantines the subscription (the earlier rows become duplicates), a clean row clears it."""
    folder = raw_dir / "ravenstack_subscriptions"
    end = f"date '{end_date}'" if end_date else "cast(null as date)"
    with duckdb.connect() as con:
        con.execute(f"""
            copy (
                select * replace (date '{start_date}' as start_date, {end} as end_date)
                from read_parquet('{folder}/part-*.parquet')
                where subscription_id = '{subscription_id}'
            ) to '{folder / file_name}' (format parquet)
        """)


def land(raw_dir: Path) -> None:
    for folder in (raw_dir / gsd.HELD_BACK_DIR).iterdir():
        for part in folder.glob("*.parquet"):
            shutil.move(part, raw_dir / folder.name / f"landed-{part.name}")


def relation_rows(db_path: Path, relation: str, columns: str) -> list[tuple]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return sorted(con.execute(f"select {columns} from {relation}").fetchall(), key=repr)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An incremental history (initial files, then landed ones) and a full refresh of the end."""
    work = tmp_path_factory.mktemp("incremental_usage")
    raw_dir = work / "raw"
    gsd.generate(GeneratorOptions(
        out_dir=raw_dir, accounts=300, start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2024, 12, 31), quirks=True, chunk_accounts=100,
        file_format="parquet", hold_back_from=HOLD_BACK_FROM,
    ))
    incremental_db, full_db = work / "incremental.duckdb", work / "full.duckdb"
    cleared, quarantined_late = used_subscriptions(raw_dir, 2)
    resend_subscription(raw_dir, cleared, "2000-01-01", "1999-01-01", "early-inverted.parquet")
    dbt_build(incremental_db, raw_dir, work / "target_first")
    assert parent_quarantined_usage(incremental_db, cleared) > 0
    write_late_corrections(
        raw_dir, raw_dir / gsd.HELD_BACK_DIR / "ravenstack_feature_usage" / LATE_FILE
    )
    resend_subscription(raw_dir, cleared, "1995-01-01", None, "late-fixed.parquet")
    resend_subscription(raw_dir, quarantined_late, "2000-01-01", "1999-01-01",
                        "late-inverted.parquet")
    land(raw_dir)
    dbt_build(incremental_db, raw_dir, work / "target_incremental")
    dbt_build(full_db, raw_dir, work / "target_full", "--full-refresh")
    return {"incremental": incremental_db, "full": full_db, "work": work, "raw": raw_dir,
            "cleared": cleared, "quarantined_late": quarantined_late}


def parent_quarantined_usage(db_path: Path, subscription_id: str) -> int:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return con.execute(
            f"select count(*) from {USAGE_TABLE} where subscription_id = ? "
            "and quarantine_reason = 'parent_quarantined'", [subscription_id]
        ).fetchone()[0]


def test_loaded_usage_follows_its_subscription_into_and_out_of_quarantine(
    builds: dict[str, Any],
) -> None:
    """Usage loaded before its subscription was quarantined is quarantined with it; usage
    loaded while it was quarantined is back once the subscription is clean."""
    def loaded_usage_reasons(subscription_id: str) -> set[str]:
        with duckdb.connect(str(builds["incremental"]), read_only=True) as con:
            rows = con.execute(
                f"select distinct coalesce(quarantine_reason, 'clean') from {USAGE_TABLE} "
                "where subscription_id = ? and source_file not like '%landed-%'",
                [subscription_id],
            ).fetchall()
        return {reason for (reason,) in rows}

    cleared = loaded_usage_reasons(builds["cleared"])
    assert "clean" in cleared and "parent_quarantined" not in cleared, cleared
    quarantined = loaded_usage_reasons(builds["quarantined_late"])
    assert "parent_quarantined" in quarantined and "clean" not in quarantined, quarantined


def test_second_run_read_only_new_files(builds: dict[str, Any]) -> None:
    compiled = next((builds["work"] / "target_incremental" / "compiled").rglob(
        "base_product_usage__feature_usage.sql")).read_text()
    assert "filename not in (" in compiled and "part-00000.parquet" in compiled


@pytest.mark.parametrize("relation", sorted(COMPARED_RELATIONS))
def test_incremental_equals_full_refresh(builds: dict[str, Any], relation: str) -> None:
    columns = COMPARED_RELATIONS[relation]
    incremental = relation_rows(builds["incremental"], relation, columns)
    full = relation_rows(builds["full"], relation, columns)
    assert len(incremental) == len(full) > 0
    differing = sorted(set(incremental) ^ set(full), key=repr)[:5]
    assert incremental == full, f"{relation} differs, e.g. {differing}"


def test_late_file_changed_winners_and_was_quarantined(builds: dict[str, Any]) -> None:
    """The late file was ranked together with the loaded rows, not just appended."""
    late_ids = (f"(select usage_id from {USAGE_TABLE} where source_file like '%{LATE_FILE}')")
    with duckdb.connect(str(builds["incremental"]), read_only=True) as con:
        reasons = dict(con.execute(
            f"select quarantine_reason, count(*) from {USAGE_TABLE} "
            f"where usage_id in {late_ids} group by all"
        ).fetchall())
        displaced = con.execute(
            f"select count(*) from {USAGE_TABLE} "
            f"where source_file not like '%{LATE_FILE}' and quarantine_reason = "
            "'duplicate_usage_id' and usage_id in "
            f"(select usage_id from {USAGE_TABLE} where subscription_id = 'S-000000')"
        ).fetchone()[0]
    # one copy of each of the 2 re-sent identical rows, the negative row, the 3 displaced rows
    assert reasons == {None: 3 + 2, "exact_duplicate_row": 2, "negative_usage_measure": 1,
                       "duplicate_usage_id": 3}
    # The re-sent ids sort first (by subscription), so they win and the previously loaded rows
    # with those ids become duplicates.
    assert displaced == 3


def test_usage_tests_check_the_loaded_rows_unless_every_row_is_asked_for(
    builds: dict[str, Any],
) -> None:
    """The incremental run's column tests check the rows it loaded: a duplicate planted among
    rows loaded before passes them, and fails them with var check_every_usage_row."""
    planted = builds["work"] / "planted.duckdb"
    shutil.copy(builds["incremental"], planted)
    staged = "staging.stg_product_usage__feature_usage"
    with duckdb.connect(str(planted)) as con:
        newly, landed, total = con.execute(
            f"select count(*) filter (is_newly_loaded), count(*) filter (usage_id in ("
            f"select usage_id from {USAGE_TABLE} where source_file like '%landed-%')), "
            f"count(*) from {staged}"
        ).fetchone()
        assert landed <= newly < total and landed > 0, (landed, newly, total)
        con.execute(
            f"insert into {USAGE_TABLE} select * from {USAGE_TABLE} "
            "where quarantine_reason is null and not usage_id in "
            f"(select usage_id from {staged} where is_newly_loaded) limit 1"
        )
    select = ["--select", f"{staged.split('.')[1]},test_name:unique"]
    scoped = run_dbt("test", planted, builds["raw"], builds["work"] / "target_scoped", *select)
    assert scoped.returncode == 0, scoped.stdout[-3000:]
    every = run_dbt("test", planted, builds["raw"], builds["work"] / "target_every", *select,
                    "--vars", "{check_every_usage_row: true}")
    assert every.returncode != 0 and "unique_stg_product_usage__feature_usage_usage_id" in (
        every.stdout), every.stdout[-3000:]
