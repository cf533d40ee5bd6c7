"""The benchmark's measuring and bookkeeping (the benchmark itself is run by `make benchmark`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from customer_health.benchmark import run as benchmark


def test_measure_sees_the_memory_of_child_processes(tmp_path: Path) -> None:
    # the grandchild holds 300 MB for a second; its parent is a small Python process
    grandchild = "b = bytearray(300 * 2**20); import time; time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    measured = benchmark.measure([sys.executable, "-c", parent], dict(os.environ),
                                 tmp_path / "log.txt")
    assert measured.returncode == 0
    assert measured.peak_rss_mb >= 300
    assert measured.seconds >= 1.5


def test_measure_reports_a_failing_command(tmp_path: Path) -> None:
    measured = benchmark.measure([sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                                 dict(os.environ), tmp_path / "log.txt")
    assert measured.returncode == 3
    assert "boom" in (tmp_path / "log.txt").read_text()


def test_land_held_back_day_moves_every_held_back_file(tmp_path: Path) -> None:
    for folder in ("held_back/ravenstack_feature_usage", "ravenstack_feature_usage"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "held_back/ravenstack_feature_usage/part-00000.parquet").write_text("x")
    (tmp_path / "held_back/ravenstack_feature_usage/part-00001.parquet").write_text("y")
    assert benchmark.land_held_back_day(tmp_path) == 2
    landed = sorted(p.name for p in (tmp_path / "ravenstack_feature_usage").iterdir())
    assert landed == ["landed-2024-12-31-part-00000.parquet",
                      "landed-2024-12-31-part-00001.parquet"]
    assert not list((tmp_path / "held_back").rglob("*.parquet"))


def test_node_seconds_splits_models_from_tests(tmp_path: Path) -> None:
    results = [{"unique_id": "model.p.a", "execution_time": 2.0},
               {"unique_id": "seed.p.s", "execution_time": 0.5},
               {"unique_id": "test.p.t", "execution_time": 1.0},
               {"unique_id": "unit_test.p.u", "execution_time": 0.25}]
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps({"results": results}))
    assert benchmark.node_seconds(path) == (2.5, 1.25)


def test_table_and_json_carry_the_ratios() -> None:
    def run(seconds: float) -> benchmark.Measurement:
        return benchmark.Measurement(seconds, 100.0, 0)

    result = benchmark.SizeResult(
        accounts=1000, raw_rows={"feature_usage": 50_000}, generate_seconds=1.0,
        full_build=run(30.0), full_build_model_seconds=20.0, full_build_test_seconds=8.0,
        quality_gate=run(5.0), floor=run(10.0), incremental_build=run(6.0),
    )
    table = benchmark.format_table([result])
    assert "3.00x" in table and "20%" in table and "50,000" in table
    settings = benchmark.Settings(Path("/tmp"), 17.0, "3GB", 2, 7)
    size = benchmark.to_json([result], settings)["sizes"][0]
    assert size["build_to_floor"] == 3.0 and size["incremental_share"] == 0.2


def test_engines_table_marks_duckdb_only_steps_and_orders_rows_by_size_then_engine() -> None:
    def run(seconds: float, mb: float = 100.0) -> benchmark.Measurement:
        return benchmark.Measurement(seconds, mb, 0)

    def result(engine: str, accounts: int, **steps: benchmark.Measurement) -> benchmark.SizeResult:
        return benchmark.SizeResult(
            accounts=accounts, raw_rows={"feature_usage": 40_000}, generate_seconds=1.0,
            full_build=run(20.0), full_build_model_seconds=15.0, full_build_test_seconds=5.0,
            quality_gate=run(4.0), engine=engine, **steps,
        )

    results = [
        result("spark", 1000, load=run(30.0, 4321.0)),
        result("postgres", 2000, load=run(7.0)),
        result("duckdb", 2000, floor=run(10.0), incremental_build=run(5.0)),
        result("postgres", 1000, load=run(6.0)),
    ]
    lines = benchmark.format_table(results).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]
    assert [(r["engine"], r["accounts"]) for r in rows] == [
        ("postgres", "1,000"), ("spark", "1,000"), ("duckdb", "2,000"), ("postgres", "2,000")]
    spark, duckdb = rows[1], rows[2]
    assert (spark["load s"], spark["load MB"]) == ("30.0", "4,321")
    assert {spark[c] for c in ("floor s", "floor MB", "build/floor", "incremental s",
                               "incr MB", "incr/full")} == {"n/a"}
    assert (duckdb["load s"], duckdb["build/floor"], duckdb["incr/full"]) == ("n/a", "2.00x", "25%")
    sizes = benchmark.to_json(results, benchmark.Settings(Path("/tmp"), 17.0, "3GB", 2, 7))["sizes"]
    assert [s["engine"] for s in sizes] == ["postgres", "spark", "duckdb", "postgres"]
    assert sizes[1]["build_to_floor"] is None and sizes[2]["incremental_share"] == 0.25


def test_targets_default_to_duckdb_and_duckdb_runs_last() -> None:
    default = benchmark.settings_from(benchmark.build_parser().parse_args([]))
    assert default.targets == ("duckdb",)
    chosen = benchmark.settings_from(benchmark.build_parser().parse_args(
        ["--targets", "duckdb", "spark", "postgres", "spark", "--accounts", "10", "20",
         "--postgres-option", "work_mem=64MB"]))
    # DuckDB's incremental step lands the held-back day in the raw folders the others load from
    assert chosen.targets == ("spark", "postgres", "duckdb")
    # no parallel query (the try-cast functions), then the options given
    assert chosen.postgres_options == ("max_parallel_workers_per_gather=0", "work_mem=64MB")
    for bad in (["--targets", "oracle"], ["--postgres-option", "work_mem"]):
        with pytest.raises(SystemExit):
            benchmark.build_parser().parse_args(bad)


def test_engine_env_reads_loaded_tables_in_full_with_a_spark_dir_per_size(tmp_path: Path) -> None:
    settings = benchmark.Settings(tmp_path, 17.0, "3GB", 2, 7, targets=("spark", "postgres"),
                                  postgres_options=("work_mem=64MB", "jit=off"))
    server = benchmark.PostgresServer({"PGHOST": "localhost", "PGPORT": "5999"}, "scratch")
    size_dir = tmp_path / "accounts_10"
    spark = benchmark.engine_env(settings, "spark", size_dir, tmp_path / "raw", None)
    assert spark["HEALTH_SPARK_DIR"] == str(size_dir / "spark")
    assert spark["HEALTH_RAW_DATA_FORMAT"] == "csv"
    postgres = benchmark.engine_env(settings, "postgres", size_dir, tmp_path / "raw", server)
    assert postgres["PGPORT"] == "5999"
    assert postgres["PGOPTIONS"].endswith("-c work_mem=64MB -c jit=off")
    assert "--full-refresh" in benchmark.dbt_build_command(tmp_path, benchmark.LAST_DAY,
                                                           "postgres")
    assert "--full-refresh" not in benchmark.dbt_build_command(tmp_path, benchmark.LAST_DAY)
