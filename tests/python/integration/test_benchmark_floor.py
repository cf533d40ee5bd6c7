"""The benchmark floor (customer_health/benchmark/floor.sql) computes what dbt's
int_account_metric_points holds: the same (account, metric, value, points) on the same data and
as-of date; `health benchmark floor` runs it."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from helpers.project import REPO_DIR, SAMPLE_DATA_DIR, clean_env, output_of, run_health

from customer_health.benchmark import floor as benchmark_floor
from customer_health.benchmark.options import BenchmarkOptions
from customer_health.benchmark.run import floor_command

DBT = Path(sys.executable).parent / "dbt"
TABLES = ("accounts", "subscriptions", "feature_usage", "support_tickets", "churn_events")
N_ACCOUNTS = 600
AS_OF_DATES = ("2024-06-30", "2024-12-31")
TOLERANCE = 1e-9

Row = tuple[str, str, float | None, float | None]


@dataclass(frozen=True)
class EquivalenceData:
    csv_dir: Path
    parquet_dir: Path
    dbt_db: Path


# ----------------------------------------------------------------------------- data


def generate_csv(out: Path) -> Path:
    """A small deterministic dataset with the generator's --quirks (duplicate usage ids/rows)."""
    done = run_health("generate", [
        "--out", str(out), "--accounts", str(N_ACCOUNTS), "--seed", "7",
        "--start-date", "2023-01-01", "--end-date", "2024-12-31", "--quirks", "--quiet",
    ], timeout=120)
    assert done.returncode == 0, output_of(done)
    return out


def shift_day(value: str, days: int) -> str:
    """A 'YYYY-MM-DD[ HH:MM:SS]' text moved by whole days, same format."""
    day, _, clock = value.partition(" ")
    moved = (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()
    return f"{moved} {clock}" if clock else moved


def plant_duplicate_keys(csv_dir: Path) -> None:
    """More duplicate keys than --quirks makes, in every staged table: exact copies, and copies
    with other content that sort before the original (and so replace it; when invalid, the whole
    key is dropped) or after it (and are dropped)."""
    late = "2024-08-01"

    def accounts(row: dict[str, str], n: int) -> list[dict[str, str]]:
        # later signup: not scored yet / another tenure; no signup: invalid, the key is dropped
        signup = ("2025-01-15", shift_day(row["signup_date"], 200 + n), "")[n % 3]
        winner = {**row, "account_name": "A" + row["account_name"], "signup_date": signup}
        return [dict(row), winner, {**row, "account_name": "Z", "signup_date": "2023-01-01"}]

    def subscriptions(row: dict[str, str], n: int) -> list[dict[str, str]]:
        winner = {**row, "start_date": shift_day(row["start_date"], -3),
                  "mrr_amount": str(int(row["mrr_amount"]) * 2 + n), "plan_tier": "Enterprise"}
        loser = {**row, "start_date": shift_day(row["start_date"], 1), "mrr_amount": "1"}
        return [dict(row), winner, loser]

    def tickets(row: dict[str, str], n: int) -> list[dict[str, str]]:
        winner = {**row, "submitted_at": shift_day(row["submitted_at"], -1), "priority": "urgent",
                  "first_response_time_minutes": str(500 + n)}
        if n % 3 == 2:
            winner["satisfaction_score"] = "9.0"  # out of range: the whole key is dropped
        loser = {**row, "submitted_at": shift_day(row["submitted_at"], 1), "priority": "urgent"}
        return [dict(row), winner, loser]

    def usage(row: dict[str, str], n: int) -> list[dict[str, str]]:
        # 10x the count sorts after the original by value but before it as text ('70' < '7|');
        # a negative count sorts first and is invalid, so the id is dropped
        count = "-1" if n % 3 == 2 else str(int(row["usage_count"]) * 10)
        return [{**row, "usage_count": count, "error_count": "0"}]

    plans = {
        "feature_usage": (usage, lambda row: row["usage_date"] >= "2024-12-05"
                          or "2024-06-05" <= row["usage_date"] <= "2024-06-30"),
        "accounts": (accounts, lambda row: row["signup_date"] < "2024-01-01"),
        "subscriptions": (subscriptions, lambda row: row["end_date"] == ""),
        "support_tickets": (tickets, lambda row: late <= row["submitted_at"] <= "2024-12-20"),
    }
    for table, (copies, eligible) in plans.items():
        path = csv_dir / f"ravenstack_{table}.csv"
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            chosen = [row for row in reader if eligible(row)][::7][:12]
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\r\n")
            for n, row in enumerate(chosen):
                writer.writerows(copies(row, n))


def to_parquet_layout(csv_dir: Path, parquet_dir: Path) -> Path:
    """The CSVs as typed Parquet, `<dir>/ravenstack_<table>/part-0.parquet`: the layout and types
    of `health generate --format parquet` (True/False -> BOOLEAN, dates -> DATE,
    closed_at -> TIMESTAMP, whole numbers -> BIGINT, decimals -> DOUBLE). A conversion rather
    than the generator's own Parquet so that the rows planted in the CSVs reach both formats."""
    with duckdb.connect() as connection:
        for table in TABLES:
            folder = parquet_dir / f"ravenstack_{table}"
            folder.mkdir(parents=True, exist_ok=True)
            connection.execute(
                f"copy (select * from read_csv('{(csv_dir / f'ravenstack_{table}.csv').as_posix()}'"
                f", header = true)) to '{(folder / 'part-0.parquet').as_posix()}' (format parquet)"
            )
        boolean_columns = connection.execute(
            f"select count(*) from (describe select * from read_parquet("
            f"'{parquet_dir.as_posix()}/ravenstack_accounts/*.parquet')) where column_type = "
            "'BOOLEAN'"
        ).fetchone()[0]
    assert boolean_columns == 2, "True/False columns were not read as BOOLEAN"
    return parquet_dir


def dbt_build(raw_dir: Path, raw_format: str, work_dir: Path,
              as_of_dates: tuple[str, ...]) -> Path:
    """Seeds and the models up to int_account_metric_points, from raw files in raw_format."""
    db_path = work_dir / "floor_check.duckdb"
    env = clean_env()
    env.update(HEALTH_RAW_DATA_DIR=str(raw_dir), HEALTH_RAW_DATA_FORMAT=raw_format,
               HEALTH_DB_PATH=str(db_path), HEALTH_WORKING_DB_PATH=str(db_path))
    completed = subprocess.run(
        [str(DBT), "build", "--project-dir", str(REPO_DIR), "--profiles-dir", str(REPO_DIR),
         "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
         "--select", "+int_account_metric_points",
         "--resource-type", "seed", "--resource-type", "model",
         "--vars", json.dumps({"as_of_dates": list(as_of_dates)})],
        env=env, capture_output=True, text=True, check=False, timeout=300, cwd=work_dir,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    return db_path


@pytest.fixture(scope="module")
def generated_data(tmp_path_factory: pytest.TempPathFactory) -> EquivalenceData:
    """Generated --quirks data with duplicate keys planted in every table; dbt reads the
    Parquet files (as in the benchmark)."""
    work_dir = tmp_path_factory.mktemp("benchmark_floor_generated")
    csv_dir = generate_csv(work_dir / "csv")
    plant_duplicate_keys(csv_dir)
    parquet_dir = to_parquet_layout(csv_dir, work_dir / "parquet")
    return EquivalenceData(
        csv_dir, parquet_dir, dbt_build(parquet_dir, "parquet", work_dir, AS_OF_DATES)
    )


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> EquivalenceData:
    """The bundled RavenStack sample (overlapping subscriptions, repeated usage ids, ...); dbt
    reads the CSVs (text, typed by staging), the floor their Parquet conversion."""
    work_dir = tmp_path_factory.mktemp("benchmark_floor_sample")
    parquet_dir = to_parquet_layout(SAMPLE_DATA_DIR, work_dir / "parquet")
    return EquivalenceData(
        SAMPLE_DATA_DIR, parquet_dir, dbt_build(SAMPLE_DATA_DIR, "csv", work_dir, AS_OF_DATES)
    )


@pytest.fixture(scope="module", params=["generated_data", "sample_data"])
def equivalence_data(request: pytest.FixtureRequest) -> EquivalenceData:
    return request.getfixturevalue(request.param)


# ----------------------------------------------------------------------------- comparison


def dbt_points(db_path: Path, as_of_date: str) -> list[Row]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "select account_id, metric_name, metric_value, points "
            "from intermediate.int_account_metric_points where as_of_date = ?",
            [dt.date.fromisoformat(as_of_date)],
        ).fetchall()


def floor_points(data: EquivalenceData, as_of_date: str, tmp_path: Path, **kwargs) -> list[Row]:
    db_path = tmp_path / f"floor_{uuid.uuid4().hex}.duckdb"
    result = benchmark_floor.run_floor(data.parquet_dir, as_of_date, db_path=db_path, **kwargs)
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute(
            "select account_id, metric_name, metric_value, points from floor_metric_points"
        ).fetchall()
    assert result.rows == len(rows)
    return rows


def same_number(left: float | None, right: float | None) -> bool:
    if left is None or right is None:
        return left is None and right is None
    return math.isclose(left, right, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def differences(expected: list[Row], actual: list[Row], limit: int = 10) -> list[str]:
    """Rows that differ, keyed by (account_id, metric_name); empty when the sets are equal."""
    lines = []
    for name, rows in (("dbt", expected), ("floor", actual)):
        keys = [(row[0], row[1]) for row in rows]
        if len(keys) != len(set(keys)):
            lines.append(f"{name} has {len(keys) - len(set(keys))} duplicate account-metric rows")
    by_key_expected = {(row[0], row[1]): row for row in expected}
    by_key_actual = {(row[0], row[1]): row for row in actual}
    for key in sorted(by_key_expected.keys() | by_key_actual.keys()):
        left, right = by_key_expected.get(key), by_key_actual.get(key)
        if left is None or right is None or not all(
            same_number(a, b) for a, b in zip(left[2:], right[2:], strict=True)
        ):
            lines.append(f"{key}: dbt (value, points) = {left and left[2:]}, "
                         f"floor = {right and right[2:]}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"... {len(lines) - limit} more"]
    return lines


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("as_of_date", AS_OF_DATES)
def test_floor_equals_dbt(equivalence_data: EquivalenceData, as_of_date: str,
                          tmp_path: Path) -> None:
    expected = dbt_points(equivalence_data.dbt_db, as_of_date)
    actual = floor_points(equivalence_data, as_of_date, tmp_path)
    assert len(expected) > 15 * N_ACCOUNTS // 3
    diff = differences(expected, actual)
    assert not diff, f"floor differs from dbt on {as_of_date}:\n" + "\n".join(diff)


def test_data_exercises_dedupe_and_validity_rules(generated_data: EquivalenceData) -> None:
    """The equivalence above is only worth something if dropped duplicates and invalid rows
    would change values: quarantined rows fall in the windows of scored accounts."""
    with duckdb.connect(str(generated_data.dbt_db), read_only=True) as connection:
        reasons = dict(connection.execute(
            "select table_name || ':' || quarantine_reason, count(*) from ("
            " select 'accounts' as table_name, quarantine_reason from staging.base_crm__accounts"
            " union all select 'subscriptions', quarantine_reason"
            " from staging.base_billing__subscriptions"
            " union all select 'usage', quarantine_reason"
            " from staging.base_product_usage__feature_usage"
            " union all select 'tickets', quarantine_reason"
            " from staging.base_support__support_tickets"
            ") where quarantine_reason is not null group by all"
        ).fetchall())
        usage_losers_in_window = connection.execute(
            "select count(*) from staging.base_product_usage__feature_usage as usage"
            " inner join staging.stg_billing__subscriptions as subscriptions"
            "  on usage.subscription_id = subscriptions.subscription_id"
            " inner join intermediate.int_active_accounts as active"
            "  on subscriptions.account_id = active.account_id"
            "  and usage.usage_date between active.as_of_date - 29 and active.as_of_date"
            " where usage.quarantine_reason in ('duplicate_usage_id', 'exact_duplicate_row')"
        ).fetchone()[0]
    for reason in ("accounts:duplicate_account_id", "accounts:exact_duplicate_row",
                   "accounts:invalid_signup_date",
                   "subscriptions:duplicate_subscription_id", "usage:duplicate_usage_id",
                   "usage:exact_duplicate_row", "usage:negative_usage_measure",
                   "tickets:duplicate_ticket_id",
                   "tickets:csat_out_of_range"):
        assert reasons.get(reason, 0) > 0, f"no {reason} in {reasons}"
    assert usage_losers_in_window > 0


def test_comparison_detects_a_different_window_or_band(generated_data: EquivalenceData,
                                                       tmp_path: Path) -> None:
    as_of_date = AS_OF_DATES[-1]
    expected = dbt_points(generated_data.dbt_db, as_of_date)

    other_window = floor_points(generated_data, as_of_date, tmp_path,
                                var_overrides={"usage_window_days": 29})
    assert differences(expected, other_window)

    seeds_dir = tmp_path / "seeds"
    shutil.copytree(REPO_DIR / "seeds", seeds_dir)
    bands = seeds_dir / "scoring_bands.csv"
    bands.write_text(bands.read_text().replace(
        "current_mrr,*,500,3000,80,80,", "current_mrr,*,500,3000,79,79,"))
    mutated_band = floor_points(generated_data, as_of_date, tmp_path, seeds_dir=seeds_dir)
    diff = differences(expected, mutated_band)
    assert diff and all("current_mrr" in line for line in diff if line.startswith("("))


def test_the_benchmark_step_runs_the_floor_command(generated_data: EquivalenceData,
                                                   tmp_path: Path) -> None:
    """The floor step as the benchmark runs it: `health benchmark floor` keeps the result table
    in --db-path and prints its seconds and rows."""
    db_path = tmp_path / "floor.duckdb"
    command = floor_command(generated_data.parquet_dir, dt.date.fromisoformat(AS_OF_DATES[-1]),
                            db_path, BenchmarkOptions(memory_limit="1GB", threads=1))
    done = run_health(command[3], command[4:], timeout=300)
    assert done.returncode == 0, output_of(done)
    seconds, rows = done.stdout.splitlines()
    assert seconds.startswith("seconds: ") and float(seconds.removeprefix("seconds: ")) >= 0
    expected = dbt_points(generated_data.dbt_db, AS_OF_DATES[-1])
    assert rows == f"rows: {len(expected)}"
    with duckdb.connect(str(db_path), read_only=True) as connection:
        assert connection.execute("select count(*) from floor_metric_points").fetchone()[0] == (
            len(expected))
