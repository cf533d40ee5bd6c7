"""The benchmark's measuring, bookkeeping and command line (the benchmark itself is run by
`make benchmark`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from helpers.project import output_of, run_health

from customer_health.benchmark import measure, results
from customer_health.benchmark import run as benchmark
from customer_health.benchmark.measure import Measurement
from customer_health.benchmark.options import BenchmarkOptions
from customer_health.benchmark.postgres import PostgresServer
from customer_health.benchmark.results import Refresh, SizeResult


def test_measure_sees_the_memory_of_child_processes(tmp_path: Path) -> None:
    # the grandchild holds 300 MB for a second; its parent is a small Python process
    grandchild = "b = bytearray(300 * 2**20); import time; time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}])"
    measured = measure.measure([sys.executable, "-c", parent], dict(os.environ),
                                 tmp_path / "log.txt")
    assert measured.returncode == 0
    assert measured.peak_rss_mb >= 300
    assert measured.seconds >= 1.5


def test_measure_reports_a_failing_command(tmp_path: Path) -> None:
    measured = measure.measure([sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
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
    assert measure.node_seconds(path) == (2.5, 1.25)


def test_run_phases_reads_the_last_run_summary(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    lines = [{"timings": {"dbt_build_seconds": 9.0}},
             {"timings": {"dbt_build_seconds": 3.5, "quality_gate_seconds": 1.25}}]
    (runs / "runs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert benchmark.run_phases(tmp_path) == {"dbt_build_seconds": 3.5,
                                              "quality_gate_seconds": 1.25}
    assert benchmark.run_phases(tmp_path / "never_ran") == {}


def refresh(seconds: float, mb: float = 100.0, returncode: int = 0) -> Refresh:
    phases = {"dbt_build_seconds": seconds / 2, "quality_gate_seconds": seconds / 4,
              "publish_seconds": seconds / 8}
    return Refresh(Measurement(seconds, mb, returncode), phases, seconds / 3, seconds / 6)


def test_table_and_json_carry_the_ratios_and_phases() -> None:
    result = SizeResult(
        accounts=1000, raw_rows={"feature_usage": 50_000}, generate_seconds=1.0,
        full_refresh=refresh(40.0), floor=Measurement(10.0, 50.0, 0),
        daily_refresh=refresh(8.0),
    )
    table = results.format_table([result])
    assert "4.0x" in table and "20%" in table and "50,000" in table
    assert "20.0 / 10.0 / 5.0" in table and "4.0 / 2.0 / 1.0" in table
    size = results.to_json([result], BenchmarkOptions())["sizes"][0]
    assert size["full_to_floor"] == 4.0 and size["daily_share"] == 0.2
    assert size["full_refresh"]["phases"]["quality_gate_seconds"] == 10.0


def test_a_failed_step_shows_as_failed_not_as_a_time_or_a_ratio() -> None:
    result = SizeResult(
        accounts=1000, raw_rows={"feature_usage": 50_000}, generate_seconds=1.0,
        full_refresh=refresh(40.0), floor=Measurement(10.0, 50.0, 1),
        daily_refresh=refresh(8.0, returncode=2),
    )
    lines = results.format_table([result]).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    row = dict(zip(header, (c.strip() for c in lines[2].strip("|").split("|")), strict=True))
    assert (row["full refresh s"], row["floor s"], row["full/floor"]) == ("40.0", "failed", "n/a")
    assert (row["daily refresh s"], row["daily/full"]) == ("failed", "n/a")
    size = results.to_json([result], BenchmarkOptions())["sizes"][0]
    assert size["full_to_floor"] is None and size["daily_share"] is None


def test_engines_table_marks_duckdb_only_steps_and_orders_rows_by_size_then_engine() -> None:
    def result(engine: str, accounts: int, **steps: object) -> SizeResult:
        return SizeResult(
            accounts=accounts, raw_rows={"feature_usage": 40_000}, generate_seconds=1.0,
            full_refresh=refresh(20.0), engine=engine, **steps,
        )

    rows_given = [
        result("spark", 1000, load=Measurement(30.0, 4321.0, 0), daily_refresh=refresh(10.0)),
        result("postgres", 2000, load=Measurement(7.0, 1.0, 0)),
        result("duckdb", 2000, floor=Measurement(10.0, 1.0, 0), daily_refresh=refresh(5.0)),
        result("postgres", 1000, load=Measurement(6.0, 1.0, 0)),
    ]
    lines = results.format_table(rows_given).splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]
    assert [(r["engine"], r["accounts"]) for r in rows] == [
        ("postgres", "1,000"), ("spark", "1,000"), ("duckdb", "2,000"), ("postgres", "2,000")]
    spark, duckdb, postgres = rows[1], rows[2], rows[3]
    assert (spark["load s"], spark["daily/full"]) == ("30.0", "50%")
    assert {spark[c] for c in ("floor s", "full/floor", "daily load s")} == {"n/a"}
    assert (duckdb["load s"], duckdb["full/floor"], duckdb["daily/full"]) == ("n/a", "2.0x", "25%")
    assert {postgres[c] for c in ("daily refresh s", "daily MB", "daily/full")} == {"n/a"}
    sizes = results.to_json(rows_given, BenchmarkOptions())["sizes"]
    assert [s["engine"] for s in sizes] == ["postgres", "spark", "duckdb", "postgres"]
    assert sizes[1]["full_to_floor"] is None and sizes[2]["daily_share"] == 0.25


def test_targets_default_to_duckdb_and_duckdb_runs_last() -> None:
    assert BenchmarkOptions().engine_order == ("duckdb",)
    chosen = BenchmarkOptions(targets=("duckdb", "spark", "postgres", "spark"),
                              postgres_options=("work_mem=64MB",))
    assert chosen.engine_order == ("spark", "postgres", "duckdb")
    # no parallel query (the try-cast functions), then the options given
    assert chosen.postgres_settings == ("max_parallel_workers_per_gather=0", "work_mem=64MB")
    settings = results.to_json([], chosen)["settings"]
    assert settings["targets"] == ["spark", "postgres", "duckdb"]
    assert settings["postgres_options"] == ["max_parallel_workers_per_gather=0", "work_mem=64MB"]


def test_engine_env_reads_loaded_tables_in_full_with_a_warehouse_per_size(
    tmp_path: Path,
) -> None:
    options = BenchmarkOptions(work_dir=tmp_path, targets=("spark", "postgres"),
                               postgres_options=("work_mem=64MB", "jit=off"))
    server = PostgresServer({"PGHOST": "localhost", "PGPORT": "5999"}, "scratch")
    size_dir = tmp_path / "accounts_10"
    spark = benchmark.engine_env(options, "spark", size_dir, tmp_path / "raw", None)
    assert spark["HEALTH_SPARK_DIR"] == str(size_dir / "spark")
    assert spark["HEALTH_RAW_DATA_FORMAT"] == "csv"
    postgres = benchmark.engine_env(options, "postgres", size_dir, tmp_path / "raw", server)
    assert postgres["PGPORT"] == "5999"
    assert postgres["PGDATABASE"] == "health_benchmark_10"
    assert postgres["PGOPTIONS"].endswith("-c work_mem=64MB -c jit=off")
    duckdb = benchmark.engine_env(options, "duckdb", size_dir, tmp_path / "raw", server)
    assert duckdb["HEALTH_RAW_DATA_FORMAT"] == "parquet"
    assert duckdb["HEALTH_DB_PATH"] == str(size_dir / "served.duckdb")
    assert duckdb.get("PGDATABASE") != "health_benchmark_10"


def test_the_load_reads_parquet_and_the_refresh_the_loaded_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, str]] = []

    def fake_measure(command: list[str], env: dict[str, str], log_file: Path,
                     server_pid: int | None = None) -> Measurement:
        seen.append((command[3], env["HEALTH_RAW_DATA_FORMAT"]))
        return Measurement(1.0, 1.0, 0)

    monkeypatch.setattr(benchmark, "measure", fake_measure)
    data = benchmark.GeneratedData(10, tmp_path / "accounts_10", tmp_path / "raw", {}, {}, 0.0)
    data.size_dir.mkdir()
    options = BenchmarkOptions(work_dir=tmp_path)
    for engine in ("postgres", "duckdb"):
        run = benchmark.EngineRun(
            engine, data, benchmark.engine_env(options, engine, data.size_dir, data.raw_dir),
            None)
        assert (run.load("load") is None) == (engine == "duckdb")
        run.refresh("full_refresh", benchmark.LAST_DAY)
    assert seen == [("load", "parquet"), ("refresh", "csv"), ("refresh", "parquet")]


def test_steps_run_the_health_command_with_options_it_accepts(tmp_path: Path) -> None:
    """The load, refresh and floor steps are `python -m customer_health ...` invocations; --help
    after their arguments exits 0 only when every option they pass exists."""
    steps = {
        "load": benchmark.load_command("postgres", tmp_path),
        "refresh": benchmark.refresh_command("spark", benchmark.LAST_DAY, tmp_path / "target"),
        "floor": benchmark.floor_command(tmp_path, benchmark.LAST_DAY, tmp_path / "f.duckdb",
                                         BenchmarkOptions()),
    }
    for name, command in steps.items():
        assert command[:3] == [sys.executable, "-m", "customer_health"], name
        done = run_health(command[3], [*command[4:], "--help"])
        assert done.returncode == 0, (name, output_of(done))
        assert "Usage:" in done.stdout, name


@pytest.fixture
def two_fake_sizes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """run_size without running anything: a full and a daily result per size, the second size's
    daily refresh failing (exit 2, a failed gate)."""
    def run_size(accounts: int, options: BenchmarkOptions, server: object,
                 record: Callable[[SizeResult], None]) -> None:
        result = SizeResult(accounts=accounts, raw_rows={"feature_usage": 100},
                            generate_seconds=0.1, full_refresh=refresh(2.0))
        record(result)
        record(replace(result, daily_refresh=refresh(1.0, returncode=0 if accounts == 10 else 2)))

    monkeypatch.setattr(benchmark, "run_size", run_size)
    yield


@pytest.mark.usefixtures("two_fake_sizes")
def test_a_failed_step_fails_the_benchmark_after_every_result_is_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    options = BenchmarkOptions(accounts=(10, 20), work_dir=tmp_path)
    with pytest.raises(benchmark.BenchmarkStepFailedError, match="duckdb 20 daily_refresh"):
        benchmark.run_benchmark(options)
    saved = json.loads((tmp_path / "benchmark.json").read_text())
    assert [size["accounts"] for size in saved["sizes"]] == [10, 20]
    assert all(size["daily_refresh"] is not None for size in saved["sizes"])
    assert f"results: {tmp_path / 'benchmark.json'}" in capsys.readouterr().out


def test_command_help_and_floor_help() -> None:
    for args in ([], ["floor"]):
        done = run_health("benchmark", [*args, "--help"])
        assert done.returncode == 0, output_of(done)
        assert "--memory-limit" in done.stdout and "--threads" in done.stdout
    assert "floor" in run_health("benchmark", ["--help"]).stdout


@pytest.mark.parametrize(("args", "cause"), [
    (["--target", "oracle"], "Invalid value for '--target'"),
    (["--accounts", "0"], "Invalid value for '--accounts': must be >= 1, got 0"),
    (["--postgres-option", "work_mem"], "expected name=value without spaces, got 'work_mem'"),
    (["--threads", "0"], "must be >= 1, got 0"),
    (["floor", "--raw-data-dir", "x", "--as-of-date", "2024-02-30"],
     "expected a date as YYYY-MM-DD, got '2024-02-30'"),
])
def test_command_rejects_bad_arguments_in_one_line(args: list[str], cause: str,
                                                   tmp_path: Path) -> None:
    done = run_health("benchmark", [*args, "--work-dir", str(tmp_path / "w")]
                      if args[0] != "floor" else args)
    assert done.returncode == 4, output_of(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and cause in lines[0], lines
    assert not (tmp_path / "w").exists()
