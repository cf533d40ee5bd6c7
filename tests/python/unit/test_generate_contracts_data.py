"""The contracts shape of the generator (`health generate --shape contracts`): files, formats
against the raw contract, determinism, integrity, the planted churn signal, the committed example
data and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pytest
import yaml
from helpers.project import REPO_DIR, clean_env, output_of, run_health

from customer_health.errors import BadInputError
from customer_health.sample_data import contracts
from customer_health.sample_data.options import CONTRACTS_DATA_DIR, ContractsOptions

FILES = ("customers.csv", "contracts.csv")
SEEDS = (42, 7)
SNAPSHOT = ContractsOptions.snapshot_date
# raw-contract tables whose columns the files share (models/staging/*/_*__sources.yml)
CONTRACT_TABLES = {"customers.csv": ("crm", "accounts"),
                   "contracts.csv": ("billing", "subscriptions")}
SHARED_COLUMNS = {
    "customers.csv": {"account_id", "account_name", "signup_date", "country", "industry"},
    "contracts.csv": {"subscription_id", "account_id", "start_date", "end_date", "plan_tier",
                      "seats", "mrr_amount", "is_trial", "auto_renew_flag", "billing_frequency"},
}
NOT_WRITTEN = ("referral_source", "arr_amount", "upgrade_flag", "downgrade_flag", "churn_flag")
DUCKDB_TYPES = {"date": "DATE", "bigint": "BIGINT", "boolean": "BOOLEAN"}
VALUE_PATTERNS = {
    "account_id": r"A-[0-9a-f]{6}", "subscription_id": r"S-[0-9a-f]{6}",
    "account_name": r"Customer_\d+", "signup_date": r"\d{4}-\d{2}-\d{2}",
    "start_date": r"\d{4}-\d{2}-\d{2}", "end_date": r"(\d{4}-\d{2}-\d{2})?",
    "country": r"[A-Z]{2}", "industry": r"[A-Za-z]+",
    "payment_method": r"electronic check|mailed check|bank transfer|credit card",
    "senior_customer": r"True|False", "churned": r"Yes|No",
    "plan_tier": r"Basic|Pro|Enterprise", "seats": r"[1-9]\d*", "mrr_amount": r"\d+\.\d+",
    "contract_type": r"month-to-month|one-year|two-year", "billing_frequency": r"monthly|annual",
    "auto_renew_flag": r"True|False", "is_trial": r"True|False",
    "internet_service": r"DSL|Fiber optic|No", "tech_support": r"True|False",
}


def generate(out: Path, **kwargs: object) -> Path:
    contracts.generate(ContractsOptions(out_dir=out, **kwargs))  # type: ignore[arg-type]
    return out


def connect(directory: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in FILES:
        con.execute(f"CREATE TABLE {name.removesuffix('.csv')} AS SELECT * FROM "
                    f"read_csv('{(directory / name).as_posix()}', header=true)")
    con.execute("CREATE VIEW current AS SELECT * FROM contracts WHERE end_date IS NULL")
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {seed: generate(tmp_path_factory.mktemp(f"contracts{seed}"), seed=seed)
            for seed in SEEDS}


@pytest.fixture(scope="module", params=SEEDS)
def con(request: pytest.FixtureRequest, outputs: dict[int, Path]
        ) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(outputs[request.param])
    yield connection
    connection.close()


# ----------------------------------------------------------------------------- files


def test_writes_the_two_files_and_no_event_usage_or_ticket_table(outputs: dict[int, Path]
                                                                  ) -> None:
    for out in outputs.values():
        assert sorted(p.name for p in out.iterdir()) == sorted(FILES)


def test_same_options_give_identical_bytes(outputs: dict[int, Path], tmp_path: Path) -> None:
    again = generate(tmp_path, seed=42)
    for name in FILES:
        assert (again / name).read_bytes() == (outputs[42] / name).read_bytes(), name


def test_different_seed_or_snapshot_gives_different_data(outputs: dict[int, Path],
                                                         tmp_path: Path) -> None:
    later = generate(tmp_path, seed=42, customers=5_000, snapshot_date=dt.date(2025, 6, 30))
    for name in FILES:
        assert (outputs[42] / name).read_bytes() != (outputs[7] / name).read_bytes(), name
        assert (outputs[42] / name).read_bytes() != (later / name).read_bytes(), name
    assert scalar(connect(later), "SELECT max(signup_date) FROM customers") <= dt.date(2025, 6, 30)


def test_committed_example_is_the_default_output(outputs: dict[int, Path]) -> None:
    committed = REPO_DIR / CONTRACTS_DATA_DIR
    for name in FILES:
        assert (committed / name).read_bytes() == (outputs[42] / name).read_bytes(), (
            f"{committed / name} is stale: regenerate it with `health generate --shape contracts`")
    assert sum((committed / name).stat().st_size for name in FILES) < 1_000_000


# ----------------------------------------------------------------------------- format


def contract_types(source: str, table: str) -> dict[str, str]:
    """Column -> DuckDB type the raw contract declares for a source table."""
    path = REPO_DIR / "models" / "staging" / source / f"_{source}__sources.yml"
    declared = yaml.safe_load(path.read_text())
    (entry,) = [t for s in declared["sources"] if s["name"] == source
                for t in s["tables"] if t["name"] == table]
    result = {}
    for column in entry["columns"]:
        data_type = column["data_type"]
        result[column["name"]] = ("VARCHAR" if ".text" in data_type else
                                  "DOUBLE" if ".double" in data_type else
                                  DUCKDB_TYPES[data_type])
    return result


def test_headers_and_no_optional_columns(outputs: dict[int, Path]) -> None:
    for name in FILES:
        with (outputs[42] / name).open(newline="") as handle:
            header = next(csv.reader(handle))
        assert tuple(header) == contracts.FILE_COLUMNS[name]
        assert not set(header) & set(NOT_WRITTEN), name
    assert {"account_id", "account_name", "signup_date", "country", "industry",
            "payment_method", "senior_customer", "churned"} <= set(
        contracts.FILE_COLUMNS["customers.csv"])


def test_shared_columns_sniff_as_the_raw_contract_declares(con: duckdb.DuckDBPyConnection
                                                           ) -> None:
    for name, (source, table) in CONTRACT_TABLES.items():
        declared = contract_types(source, table)
        sniffed = dict(con.execute(f"SELECT column_name, column_type "
                                   f"FROM (DESCRIBE {name.removesuffix('.csv')})").fetchall())
        shared = set(declared) & set(sniffed)
        assert shared == SHARED_COLUMNS[name]
        for column in shared:
            assert sniffed[column] == declared[column], (name, column)


def test_values_have_the_ravenstack_formats(outputs: dict[int, Path]) -> None:
    for name in FILES:
        text = (outputs[42] / name).read_bytes().decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "") and '"' not in text
        patterns = [re.compile(VALUE_PATTERNS[c]) for c in contracts.FILE_COLUMNS[name]]
        for line in text.split("\r\n")[1:-1]:
            fields = line.split(",")
            assert len(fields) == len(patterns), (name, line)
            for pattern, value, column in zip(patterns, fields, contracts.FILE_COLUMNS[name],
                                              strict=True):
                assert pattern.fullmatch(value), (name, column, value)


# ----------------------------------------------------------------------------- integrity


def integrity_violations(con: duckdb.DuckDBPyConnection, n_customers: int) -> dict[str, object]:
    plan_tiers = (REPO_DIR / "seeds" / "plan_tiers.csv").as_posix()
    checks = {
        "customer ids": f"SELECT count(DISTINCT account_id) <> {n_customers} FROM customers",
        "names": f"SELECT count(DISTINCT account_name) <> {n_customers} FROM customers",
        "contract ids": "SELECT count(*) - count(DISTINCT subscription_id) FROM contracts",
        "orphans": "SELECT count(*) FROM contracts "
                   "WHERE account_id NOT IN (SELECT account_id FROM customers)",
        "one running": "SELECT count(*) FROM customers c WHERE (SELECT count(*) FROM current x "
                       "WHERE x.account_id = c.account_id) <> 1",
        "at most two": "SELECT count(*) FROM (SELECT account_id FROM contracts GROUP BY 1 "
                       "HAVING count(*) > 2)",
        "first at signup": "SELECT count(*) FROM customers c WHERE signup_date <> "
                           "(SELECT min(start_date) FROM contracts x "
                           "WHERE x.account_id = c.account_id)",
        "ended before current": "SELECT count(*) FROM contracts e JOIN current c "
                                "USING (account_id) WHERE e.end_date IS NOT NULL "
                                "AND e.end_date <> c.start_date - 1",
        "end before start": "SELECT count(*) FROM contracts WHERE end_date < start_date",
        "signup window": "SELECT count(*) FROM customers WHERE signup_date > DATE "
                         f"'{SNAPSHOT}' OR signup_date < DATE '{SNAPSHOT}' - 6 * 365",
        "unknown tier": "SELECT count(*) FROM contracts "
                        f"WHERE plan_tier NOT IN (SELECT plan_tier FROM '{plan_tiers}')",
        "trial mrr": "SELECT count(*) FROM contracts WHERE (mrr_amount = 0) <> is_trial",
        "trial not new": "SELECT count(*) FROM contracts JOIN customers USING (account_id) "
                         f"WHERE is_trial AND signup_date <= DATE '{SNAPSHOT}' - 30",
        "m2m annual": "SELECT count(*) FROM contracts "
                      "WHERE contract_type = 'month-to-month' AND billing_frequency = 'annual'",
        "support without internet": "SELECT count(*) FROM contracts "
                                    "WHERE internet_service = 'No' AND tech_support",
    }
    return {rule: v for rule, sql in checks.items() if (v := scalar(con, sql))}


def test_keys_contracts_and_dates_hold_together(con: duckdb.DuckDBPyConnection) -> None:
    assert integrity_violations(con, 5_000) == {}
    ended = scalar(con, "SELECT avg((end_date IS NOT NULL)::INT) FROM contracts")
    assert 0.1 < ended < 0.25  # some customers have an earlier contract
    new, old = con.execute(f"SELECT avg((signup_date > DATE '{SNAPSHOT}' - 30)::INT), "
                           f"avg((signup_date < DATE '{SNAPSHOT}' - 5 * 365)::INT) "
                           "FROM customers").fetchone() or (0, 0)
    assert new > 0.03 and old > 0.08  # tenure spreads from days to about six years


def test_multiple_chunks_keep_ids_unique(tmp_path: Path) -> None:
    con = connect(generate(tmp_path, seed=3, customers=1_000, chunk_customers=300))
    assert integrity_violations(con, 1_000) == {}


def test_ids_are_the_ravenstack_scramble() -> None:
    """Same counters, same ids as the RavenStack shape (shared helper, not a copy)."""
    frame = contracts.make_customers(np.random.default_rng(0), 0, 3)
    con = duckdb.connect()
    con.register("chunk", frame)
    ids = [row[0] for row in con.execute(
        f"SELECT {contracts.sql_id('account_id', 'A')} FROM chunk").fetchall()]
    assert ids == ["A-5b3a17", "A-c50d6e", "A-6754e5"]


# ----------------------------------------------------------------------------- planted signal


def churn_rates(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Churn rate overall and by segment (tenure in days at the snapshot)."""
    tenure = f"date_diff('day', signup_date, DATE '{SNAPSHOT}')"
    segments = {
        "all": "true",
        "month-to-month": "contract_type = 'month-to-month'",
        "one-year": "contract_type = 'one-year'",
        "two-year": "contract_type = 'two-year'",
        "under 1 year": f"{tenure} < 365",
        "over 4 years": f"{tenure} >= 4 * 365",
        "m2m under 1 year": f"contract_type = 'month-to-month' AND {tenure} < 365",
        "m2m over 4 years": f"contract_type = 'month-to-month' AND {tenure} >= 4 * 365",
        "electronic check": "payment_method = 'electronic check'",
        "other payment": "payment_method <> 'electronic check'",
        "senior": "senior_customer",
        "not senior": "NOT senior_customer",
        "auto-renew": "auto_renew_flag",
        "no auto-renew": "NOT auto_renew_flag",
    }
    select = ", ".join(f"avg(CASE WHEN churned = 'Yes' THEN 1.0 ELSE 0.0 END) "
                       f"FILTER (WHERE {condition})" for condition in segments.values())
    row = con.execute(f"SELECT {select} FROM customers JOIN current USING (account_id)").fetchone()
    assert row is not None
    return dict(zip(segments, row, strict=True))


def signal_failures(rates: dict[str, float]) -> list[str]:
    """The planted signal's expectations that the rates break (empty: all hold)."""
    expectations = {
        "overall churn 20-27 %": 0.20 <= rates["all"] <= 0.27,
        "month-to-month > 3x two-year, +25 points":
            rates["month-to-month"] > max(3 * rates["two-year"], rates["two-year"] + 0.25),
        "month-to-month > one-year > two-year":
            rates["month-to-month"] > rates["one-year"] + 0.15
            and rates["one-year"] > rates["two-year"] + 0.03,
        "under a year > 2.5x over four years":
            rates["under 1 year"] > 2.5 * rates["over 4 years"],
        "tenure matters within month-to-month":
            rates["m2m under 1 year"] > rates["m2m over 4 years"] + 0.15,
        "electronic check churns more":
            rates["electronic check"] > rates["other payment"] + 0.06,
        "senior_customer carries no signal": abs(rates["senior"] - rates["not senior"]) < 0.05,
        "auto_renew_flag carries no signal":
            abs(rates["auto-renew"] - rates["no auto-renew"]) < 0.05,
    }
    return [name for name, holds in expectations.items() if not holds]


def test_contract_type_tenure_and_payment_drive_churn(con: duckdb.DuckDBPyConnection) -> None:
    rates = churn_rates(con)
    assert signal_failures(rates) == [], rates


def test_signal_checks_fail_without_the_planted_signal(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks above would catch a generator without contract-type or tenure effects."""
    monkeypatch.setattr(contracts, "CONTRACT_EFFECT", np.full(3, -1.0))
    monkeypatch.setattr(contracts, "TENURE_EFFECT", 0.0)
    monkeypatch.setattr(contracts, "CHURN_BASE", -0.6)
    failures = signal_failures(churn_rates(connect(generate(tmp_path, seed=42))))
    assert {"month-to-month > 3x two-year, +25 points", "month-to-month > one-year > two-year",
            "under a year > 2.5x over four years",
            "tenure matters within month-to-month"} <= set(failures)


def test_latent_probability_follows_the_documented_model() -> None:
    month, year, two = (contracts.churn_probability(np.array([k]), np.array([0]), np.array([0]),
                                                    np.array([10_000]))[0] for k in range(3))
    assert month == pytest.approx(1 / (1 + np.exp(-0.35)))
    assert month > year > two
    new, old = contracts.churn_probability(np.zeros(2, dtype=int), np.array([0, 2190]),
                                           np.zeros(2), np.full(2, 10_000))
    assert new > old + 0.3


# ----------------------------------------------------------------------------- options and CLI


def test_options_refuse_what_the_generator_cannot_honour(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="would put signups before 1990-01-01"):
        ContractsOptions(out_dir=tmp_path, snapshot_date=dt.date(1995, 1, 1))
    with pytest.raises(BadInputError, match="customers must be >= 1"):
        ContractsOptions(out_dir=tmp_path, customers=0)


def test_command_writes_the_files_the_library_writes(tmp_path: Path) -> None:
    done = run_health("generate", ["--shape", "contracts", "--out", str(tmp_path / "cli"),
                                   "--accounts", "300", "--seed", "1",
                                   "--snapshot-date", "2024-06-30", "--quiet"])
    assert done.returncode == 0, output_of(done)
    assert done.stderr == ""
    generate(tmp_path / "library", customers=300, seed=1, snapshot_date=dt.date(2024, 6, 30))
    for name in FILES:
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "library" / name
                                                          ).read_bytes(), name


def test_command_defaults_to_the_example_folder_and_size(tmp_path: Path) -> None:
    done = run_health("generate", ["--shape", "contracts", "--quiet"], env=clean_env(),
                      project_dir=tmp_path)
    assert done.returncode == 0, output_of(done)
    for name in FILES:
        assert ((tmp_path / CONTRACTS_DATA_DIR / name).read_bytes()
                == (REPO_DIR / CONTRACTS_DATA_DIR / name).read_bytes()), name


@pytest.mark.parametrize(("args", "cause"), [
    (["--shape", "contracts", "--quirks"], "--quirks does not apply to --shape contracts"),
    (["--shape", "contracts", "--engagement"], "--engagement does not apply to --shape contracts"),
    (["--shape", "contracts", "--end-date", "2024-12-31"],
     "--end-date does not apply to --shape contracts"),
    (["--snapshot-date", "2024-12-31"], "--snapshot-date does not apply to --shape ravenstack"),
    (["--shape", "contracts", "--snapshot-date", "1994-01-01"], "choose 1995-12-31 or later"),
    (["--shape", "leases"], "'leases' is not one of 'ravenstack', 'contracts'"),
])
def test_command_rejects_options_of_the_other_shape(args: list[str], cause: str,
                                                    tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_health("generate", ["--out", str(out), *args])
    assert done.returncode == 4, output_of(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and cause in lines[0], lines
    assert not out.exists()


def test_ravenstack_shape_still_needs_an_out_folder(tmp_path: Path) -> None:
    done = run_health("generate", ["--accounts", "10"], project_dir=tmp_path)
    assert done.returncode == 4, output_of(done)
    assert "Missing option '--out'" in done.stderr
    assert list(tmp_path.iterdir()) == []
