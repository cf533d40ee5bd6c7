"""Readers never block a refresh, and never see a half-published run.

Eight reader processes query `health.customer_health_scores` in a loop (half keep one connection
open, as a BI tool does; half reconnect for every query) while two refreshes and one rollback
run. Every read must succeed and see rows of exactly one run: one dbt invocation and one as-of
date.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.project import (
    SAMPLE_DATA_DIR,
    clean_env,
    create_postgres_database,
    output_of,
    run_health,
)

READERS = 8
AS_OF_DATES = ("2024-10-31", "2024-12-31")

READER = textwrap.dedent(
    """
    import json, os, sys, time
    engine, location, keep_open, stop_file, out = sys.argv[1:6]
    query = (
        "select count(*), count(distinct as_of_date), count(distinct dbt_invocation_id), "
        "min(as_of_date) from health.customer_health_scores"
    )

    def connect():
        if engine == "duckdb":
            import duckdb
            return duckdb.connect(location, read_only=True)
        import psycopg2
        connection = psycopg2.connect(location)
        connection.autocommit = True
        return connection

    def read(connection):
        if engine == "duckdb":
            return connection.execute(query).fetchone()
        with connection.cursor() as cursor:
            cursor.execute(query)
            return cursor.fetchone()

    reads, errors, mixed, dates = 0, [], [], set()
    connection = connect() if keep_open == "1" else None
    while not os.path.exists(stop_file):
        try:
            if keep_open == "1":
                row = read(connection)
            else:
                fresh = connect()
                row = read(fresh)
                fresh.close()
            reads += 1
            dates.add(str(row[3]))
            time.sleep(0.25)  # a BI tool's pace, not a busy loop starving the refresh
            if row[0] == 0 or row[1] != 1 or row[2] != 1:
                mixed.append(list(map(str, row)))
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}"[:300])
            time.sleep(0.05)
    json.dump({"reads": reads, "errors": errors[:5], "error_count": len(errors),
               "mixed": mixed[:5], "dates": sorted(dates)}, open(out, "w"))
    """
)


def start_readers(engine: str, location: str, work: Path) -> list[tuple[subprocess.Popen, Path]]:
    script = work / "reader.py"
    script.write_text(READER)
    readers = []
    for index in range(READERS):
        out = work / f"reader{index}.json"
        process = subprocess.Popen(
            [sys.executable, str(script), engine, location, str(index % 2), str(work / "stop"),
             str(out)],
            env=clean_env(),
        )
        readers.append((process, out))
    return readers


def stop_readers(readers: list[tuple[subprocess.Popen, Path]], work: Path) -> list[dict]:
    (work / "stop").touch()
    results = []
    for process, out in readers:
        process.wait(timeout=120)
        results.append(json.loads(out.read_text()))
    return results


def refresh_and_roll_back(
    args: list[str], env: dict[str, str], data_args: tuple[str, ...] = (),
    dates: tuple[str, ...] = AS_OF_DATES,
) -> list[str]:
    """A refresh per date, then a rollback to the publish before the last one; returns the run
    ids published."""
    run_ids = []
    for day in dates:
        completed = run_health(
            "refresh", [*args, *data_args, "--as-of-date", day, "--json", "--quiet"], env
        )
        assert completed.returncode == 0, output_of(completed)
        run_ids.append(json.loads(completed.stdout)["run_id"])
    completed = run_health("rollback", [*args, "--json"], env)
    assert completed.returncode == 0, output_of(completed)
    return run_ids


def assert_readers_were_never_blocked(results: list[dict]) -> None:
    assert sum(result["reads"] for result in results) > READERS * 5, results
    for result in results:
        assert result["error_count"] == 0, result["errors"]
        assert result["mixed"] == [], result["mixed"]


def test_duckdb_readers_keep_reading_during_refreshes_and_a_rollback(tmp_path: Path) -> None:
    served = tmp_path / "customer_health.duckdb"
    args = ["--db-path", str(served), "--target-path", str(tmp_path / "target")]
    data_args = ("--raw-data-dir", str(SAMPLE_DATA_DIR))
    first = run_health("refresh", [*args, *data_args, "--as-of-date", "2024-09-30", "--quiet"])
    assert first.returncode == 0, output_of(first)
    readers = start_readers("duckdb", str(served), tmp_path)
    time.sleep(2)
    try:
        refresh_and_roll_back(args, clean_env(), data_args)
    finally:
        results = stop_readers(readers, tmp_path)
    assert_readers_were_never_blocked(results)
    # readers that reconnect (even ones) see the new runs as they are published; readers that
    # hold one connection (odd ones) keep reading the snapshot they opened
    seen = set().union(*(result["dates"] for result in results[0::2]))
    assert {"2024-10-31", "2024-12-31"} <= seen, seen
    for holder in results[1::2]:
        assert holder["dates"] == ["2024-09-30"], holder


@pytest.mark.engines
def test_postgres_readers_keep_reading_during_refreshes_and_a_rollback(
    postgres_env: dict[str, str], tmp_path: Path
) -> None:
    create_postgres_database("readers")
    env = clean_env({**postgres_env, "PGDATABASE": "readers"})
    load = run_health("load", ["--target", "postgres", "--raw-data-dir", str(SAMPLE_DATA_DIR)], env)
    assert load.returncode == 0, output_of(load)
    args = ["--target", "postgres", "--target-path", str(tmp_path / "target")]
    first = run_health("refresh", [*args, "--as-of-date", AS_OF_DATES[-2], "--quiet"], env)
    assert first.returncode == 0, output_of(first)
    location = (
        f"host={postgres_env['PGHOST']} port={postgres_env['PGPORT']} "
        f"user={postgres_env['PGUSER']} dbname=readers"
    )
    readers = start_readers("postgres", location, tmp_path)
    time.sleep(2)
    try:
        # one refresh and a rollback: the DuckDB test above is the load test
        refresh_and_roll_back(args, env, dates=AS_OF_DATES[-1:])
    finally:
        results = stop_readers(readers, tmp_path)
    assert_readers_were_never_blocked(results)
