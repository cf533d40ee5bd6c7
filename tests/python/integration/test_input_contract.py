"""The input contract holds on every engine and file format (macro raw_rows): a declared column is
read by name, an absent optional one is null, an absent required one fails the build naming the
table and the column, an undeclared one is named in a warning, and the attribute columns a
deployment lists (var attribute_columns) are passed through as text. And the contract document
docs/input_contract.md is what `health contract` writes.

Each case builds only the accounts base model, on a three-row accounts table of its own.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers.project import REPO_DIR, clean_env, create_postgres_database, output_of, run_health

from customer_health.contract import CONTRACT_DOC

IDENTIFIER = "ravenstack_accounts"
BASE_MODEL = "base_crm__accounts"
FILE_FORMATS = ["csv", "parquet"]
# The sample's accounts columns, then two a deployment might add.
ACCOUNTS = [
    {"account_id": "A-1", "account_name": "Acme", "industry": "EdTech", "country": "US",
     "signup_date": "2024-01-15", "referral_source": "partner", "plan_tier": "Basic",
     "seats": "9", "is_trial": "False", "churn_flag": "False",
     "legacy_code": "L1", "CRM_Owner": "ana"},
    {"account_id": "A-2", "account_name": "Bolt", "industry": "FinTech", "country": "IN",
     "signup_date": "2023-08-17", "referral_source": "other", "plan_tier": "Pro",
     "seats": "18", "is_trial": "True", "churn_flag": "True",
     "legacy_code": "L2", "CRM_Owner": "ben"},
    {"account_id": "A-3", "account_name": "Core", "industry": "DevTools", "country": "DE",
     "signup_date": "2022-03-01", "referral_source": "ads", "plan_tier": "Enterprise",
     "seats": "40", "is_trial": "False", "churn_flag": "False",
     "legacy_code": "L3", "CRM_Owner": "cy"},
]
ATTRIBUTES = {"crm.accounts": ["CRM_Owner"]}


def write_accounts(raw_dir: Path, file_format: str, drop: tuple[str, ...] = ()) -> Path:
    """The accounts table without the columns `drop`, as `<identifier>.csv` or as
    `<identifier>/part-0.parquet` (with seats typed, as a lake's Parquet would have it)."""
    rows = [{key: value for key, value in row.items() if key not in drop} for row in ACCOUNTS]
    raw_dir.mkdir(parents=True, exist_ok=True)
    csv_path = raw_dir / f"{IDENTIFIER}.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if file_format == "parquet":
        folder = raw_dir / IDENTIFIER
        folder.mkdir()
        seats = "seats" not in drop
        with duckdb.connect() as connection:
            connection.execute(
                f"copy (select * {'replace (cast(seats as bigint) as seats)' if seats else ''} "
                f"from read_csv('{csv_path}', all_varchar = true)) "
                f"to '{folder / 'part-0.parquet'}' (format parquet)"
            )
        csv_path.unlink()
    return raw_dir


def run_dbt(
    command: str, raw_dir: Path, file_format: str, work_dir: Path, *args: str,
    dbt_vars: dict[str, Any] | None = None, target: str = "duckdb",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A dbt command on the project, reading raw_dir, with its own database and target folder."""
    db_path = work_dir / "contract.duckdb"
    run_env = clean_env(env)
    run_env.update(
        HEALTH_DB_PATH=str(db_path), HEALTH_WORKING_DB_PATH=str(db_path),
        HEALTH_RAW_DATA_DIR=str(raw_dir), HEALTH_RAW_DATA_FORMAT=file_format,
    )
    target_path = work_dir / "target"
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), command, "--project-dir", str(REPO_DIR),
         "--profiles-dir", str(REPO_DIR), "--target", target,
         "--target-path", str(target_path), "--log-path", str(target_path / "logs"),
         "--vars", json.dumps(dbt_vars or {}), *args],
        env=run_env, capture_output=True, text=True, check=False, timeout=600, cwd=REPO_DIR,
    )


def warnings_in(completed: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (completed.stdout + completed.stderr).splitlines()
            if "Warning: raw table" in line]


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_an_absent_optional_column_is_null_and_an_undeclared_one_is_warned(
    file_format: str, tmp_path: Path
) -> None:
    raw_dir = write_accounts(tmp_path / "raw", file_format, drop=("industry",))

    completed = run_dbt("run", raw_dir, file_format, tmp_path, "--select", BASE_MODEL,
                        dbt_vars={"attribute_columns": ATTRIBUTES})

    assert completed.returncode == 0, output_of(completed)
    warned = warnings_in(completed)
    assert len(warned) == 1, output_of(completed)
    assert "crm.accounts" in warned[0] and "legacy_code" in warned[0], warned
    assert "crm_owner" not in warned[0].lower(), warned  # an attribute column is no extra
    with duckdb.connect(str(tmp_path / "contract.duckdb"), read_only=True) as connection:
        counts = connection.execute(
            f"select count(*), count(industry), count(country), count(quarantine_reason) "
            f"from staging.{BASE_MODEL}"
        ).fetchone()
    assert counts == (3, 0, 3, 0)


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_attribute_columns_are_passed_through_as_text(file_format: str, tmp_path: Path) -> None:
    raw_dir = write_accounts(tmp_path / "raw", file_format)
    query = (
        "select account_id, crm_owner, seats "
        "from ({{ raw_rows(source('crm', 'accounts')) }}) as raw_accounts order by account_id"
    )

    completed = run_dbt("show", raw_dir, file_format, tmp_path, "--inline", query,
                        "--output", "json", "--quiet",
                        dbt_vars={"attribute_columns": ATTRIBUTES})

    assert completed.returncode == 0, output_of(completed)
    shown = json.loads(completed.stdout[completed.stdout.index("{"):])["show"]
    assert [row["crm_owner"] for row in shown] == ["ana", "ben", "cy"]
    assert [str(row["seats"]) for row in shown] == ["9", "18", "40"]


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_an_absent_required_column_fails_naming_table_and_column(
    file_format: str, tmp_path: Path
) -> None:
    raw_dir = write_accounts(tmp_path / "raw", file_format, drop=("signup_date",))

    completed = run_dbt("run", raw_dir, file_format, tmp_path, "--select", BASE_MODEL)

    assert completed.returncode != 0
    message = " ".join(output_of(completed).split())
    read = f"{IDENTIFIER}.csv" if file_format == "csv" else f"{IDENTIFIER}/*.parquet"
    assert f"raw table crm.accounts ({raw_dir}/{read}): required column signup_date is missing" \
        in message, message
    assert "models/staging/crm/_crm__sources.yml" in message
    assert "docs/input_contract.md" in message


@pytest.mark.parametrize("file_format", FILE_FORMATS)
def test_an_absent_attribute_column_fails_naming_it(file_format: str, tmp_path: Path) -> None:
    raw_dir = write_accounts(tmp_path / "raw", file_format, drop=("CRM_Owner",))

    completed = run_dbt("run", raw_dir, file_format, tmp_path, "--select", BASE_MODEL,
                        dbt_vars={"attribute_columns": ATTRIBUTES})

    assert completed.returncode != 0
    message = " ".join(output_of(completed).split())
    assert "raw table crm.accounts" in message and "attribute column crm_owner" in message, message


def test_the_committed_contract_document_is_what_the_command_writes(tmp_path: Path) -> None:
    written = tmp_path / "input_contract.md"

    completed = run_health(
        "contract", ["--out", str(written), "--target-path", str(tmp_path / "target"), "--quiet"]
    )

    assert completed.returncode == 0, output_of(completed)
    assert written.read_text(encoding="utf-8") == CONTRACT_DOC.read_text(encoding="utf-8"), (
        "docs/input_contract.md is stale: run `health contract` and commit it"
    )


@pytest.mark.engines
def test_postgres_a_raw_table_without_an_optional_column_builds_its_base_model(
    postgres_env: dict[str, str], tmp_path: Path
) -> None:
    import psycopg2

    create_postgres_database("health_contract")
    columns = [name for name in ACCOUNTS[0] if name not in ("industry", "CRM_Owner")]
    with psycopg2.connect(dbname="health_contract") as connection, connection.cursor() as cursor:
        cursor.execute("create schema raw")
        cursor.execute(f"create table raw.{IDENTIFIER} ("
                       + ", ".join(f"{name} text" for name in columns) + ")")
        for row in ACCOUNTS:
            cursor.execute(
                f"insert into raw.{IDENTIFIER} values ({', '.join(['%s'] * len(columns))})",
                [row[name] for name in columns],
            )

    completed = run_dbt("run", tmp_path / "unused", "csv", tmp_path, "--select", BASE_MODEL,
                        target="postgres", env={**postgres_env, "PGDATABASE": "health_contract"})

    assert completed.returncode == 0, output_of(completed)
    warned = warnings_in(completed)
    assert len(warned) == 1 and "legacy_code" in warned[0], output_of(completed)
    with psycopg2.connect(dbname="health_contract") as connection, connection.cursor() as cursor:
        cursor.execute(f"select count(*), count(industry), count(quarantine_reason) "
                       f"from staging.{BASE_MODEL}")
        assert cursor.fetchone() == (3, 0, 0)
