"""The sample-data generator and `health generate`: shape, determinism, integrity, planted
signal, options and progress."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from helpers.project import SAMPLE_DATA_DIR, output_of, run_health

from customer_health.cli.progress import progress
from customer_health.errors import BadInputError
from customer_health.sample_data import draws
from customer_health.sample_data import engagement as eng
from customer_health.sample_data import generate as gsd
from customer_health.sample_data.options import GeneratorOptions

REFERENCE_DIR = SAMPLE_DATA_DIR
N_ACCOUNTS = 400
SEEDS = (42, 7)
TABLES = {
    "accounts": "accounts", "subs": "subscriptions", "usage": "feature_usage",
    "tickets": "support_tickets", "churn": "churn_events",
}
VALUE_PATTERNS = {
    "BOOLEAN": r"True|False",
    "DATE": r"\d{4}-\d{2}-\d{2}",
    "TIMESTAMP": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    "DOUBLE": r"\d+\.\d+",
    "BIGINT": r"\d+",
    "VARCHAR": r"[^,\"\r\n]+",
}
ID_PATTERNS = {
    "account_id": r"A-[0-9a-f]{6,}", "subscription_id": r"S-[0-9a-f]{6,}",
    "usage_id": r"U-[0-9a-f]{6,}", "ticket_id": r"T-[0-9a-f]{6,}",
    "churn_event_id": r"C-[0-9a-f]{6,}",
}


def csv_file(directory: Path, table: str) -> Path:
    return directory / f"ravenstack_{TABLES.get(table, table)}.csv"


def generate(out: Path, seed: int = 42, **kwargs: object) -> Path:
    gsd.generate(GeneratorOptions(out_dir=out, accounts=N_ACCOUNTS, seed=seed, **kwargs))
    return out


def connect(directory: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM "
                    f"read_csv('{csv_file(directory, name).as_posix()}', header=true)")
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {seed: generate(tmp_path_factory.mktemp(f"seed{seed}"), seed) for seed in SEEDS}


@pytest.fixture(scope="module", params=SEEDS)
def con(request: pytest.FixtureRequest, outputs: dict[int, Path]
        ) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect(outputs[request.param])
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def reference() -> Path:
    missing = [t for t in TABLES if not csv_file(REFERENCE_DIR, t).is_file()]
    assert not missing, f"reference CSVs missing under {REFERENCE_DIR}: {missing}"
    return REFERENCE_DIR


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes(outputs: dict[int, Path], tmp_path: Path) -> None:
    again = generate(tmp_path / "again", 42)
    for table in TABLES:
        assert csv_file(again, table).read_bytes() == csv_file(outputs[42], table).read_bytes()


def test_different_seed_gives_different_data(outputs: dict[int, Path]) -> None:
    for table in TABLES:
        first, second = (csv_file(outputs[s], table).read_bytes() for s in SEEDS)
        assert first != second, table


# ----------------------------------------------------------------------------- format


def test_headers_match_reference(outputs: dict[int, Path], reference: Path) -> None:
    for table in TABLES:
        with csv_file(reference, table).open("rb") as handle:
            expected = handle.readline()
        with csv_file(outputs[42], table).open("rb") as handle:
            assert handle.readline() == expected, table


def reference_types(reference: Path, table: str) -> list[tuple[str, str, bool]]:
    """(column, sniffed DuckDB type, has NULLs) for a reference CSV."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM "
                f"read_csv('{csv_file(reference, table).as_posix()}', header=true)")
    described = con.execute("SELECT column_name, column_type FROM (DESCRIBE t)").fetchall()
    result = []
    for column, column_type in described:
        nulls = scalar(con, f'SELECT count(*) - count("{column}") FROM t')
        result.append((column, column_type, bool(nulls)))
    con.close()
    return result


def test_sniffed_types_match_reference(con: duckdb.DuckDBPyConnection, reference: Path) -> None:
    for name, table in TABLES.items():
        got = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
        expected = [(c, t) for c, t, _ in reference_types(reference, table)]
        assert got == expected, table


def test_raw_values_have_reference_formats(outputs: dict[int, Path], reference: Path) -> None:
    for table in TABLES:
        text = csv_file(outputs[42], table).read_bytes().decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        assert '"' not in text
        columns = reference_types(reference, table)
        patterns = [re.compile(VALUE_PATTERNS[t] + ("|" if nullable else "")) for _, t, nullable
                    in columns]
        for line in text.split("\r\n")[1:-1]:
            fields = line.split(",")
            assert len(fields) == len(columns), (table, line)
            for pattern, value, (column, _, _) in zip(patterns, fields, columns, strict=True):
                assert pattern.fullmatch(value), (table, column, value)


# ----------------------------------------------------------------------------- keys


def test_ids_unique_and_styled(con: duckdb.DuckDBPyConnection) -> None:
    keys = {"accounts": "account_id", "subs": "subscription_id", "usage": "usage_id",
            "tickets": "ticket_id", "churn": "churn_event_id"}
    for table, key in keys.items():
        assert scalar(con, f"SELECT count(*) = count(DISTINCT {key}) FROM {table}"), table
        bad = scalar(con, f"SELECT count(*) FROM {table} "
                          f"WHERE NOT regexp_full_match({key}, '{ID_PATTERNS[key]}')")
        assert bad == 0, table
    assert scalar(con, "SELECT count(DISTINCT account_name) FROM accounts") == N_ACCOUNTS


def test_referential_integrity(con: duckdb.DuckDBPyConnection) -> None:
    orphan_checks = {
        "subs": "account_id NOT IN (SELECT account_id FROM accounts)",
        "usage": "subscription_id NOT IN (SELECT subscription_id FROM subs)",
        "tickets": "account_id NOT IN (SELECT account_id FROM accounts)",
        "churn": "account_id NOT IN (SELECT account_id FROM accounts)",
    }
    for table, condition in orphan_checks.items():
        assert scalar(con, f"SELECT count(*) FROM {table} WHERE {condition}") == 0, table
    assert scalar(con, "SELECT count(*) FROM accounts "
                       "WHERE account_id NOT IN (SELECT account_id FROM subs)") == 0


def test_multiple_chunks_keep_ids_unique(tmp_path: Path) -> None:
    con = connect_engaged(generate(tmp_path, 3, chunk_accounts=37, engagement=True))
    assert scalar(con, "SELECT count(DISTINCT account_id) FROM accounts") == N_ACCOUNTS
    for table, key in (("subs", "subscription_id"), ("usage", "usage_id"), ("tickets", "ticket_id"),
                       ("churn", "churn_event_id"), ("events", "event_id"),
                       ("nps", "response_id")):
        assert scalar(con, f"SELECT count(*) = count(DISTINCT {key}) FROM {table}"), table
    assert scalar(con, "SELECT count(*) FROM usage "
                       "WHERE subscription_id NOT IN (SELECT subscription_id FROM subs)") == 0


def test_ids_widen_beyond_24_bits() -> None:
    nums = draws.np.array([0, 1, (1 << 24) - 1, 1 << 24, (1 << 24) + 1, 5 << 24], dtype="int64")
    high, low = draws.id_parts(nums, "U")
    pairs = set(zip(high.tolist(), low.tolist(), strict=True))
    assert len(pairs) == len(nums) and low.max() < (1 << 24)
    assert high.tolist() == [0, 0, 0, 1, 1, 5]


# ----------------------------------------------------------------------------- business rules


def test_accounts_and_subscription_rules(con: duckdb.DuckDBPyConnection) -> None:
    violations = {
        "signup outside range": "SELECT count(*) FROM accounts "
                                "WHERE signup_date NOT BETWEEN '2023-01-01' AND '2024-12-31'",
        "1-6 subscriptions": "SELECT count(*) FROM (SELECT account_id, count(*) n FROM subs "
                             "GROUP BY 1) WHERE n NOT BETWEEN 1 AND 6",
        "start before signup": "SELECT count(*) FROM subs JOIN accounts USING (account_id) "
                               "WHERE start_date < signup_date",
        "starts not increasing": "SELECT count(*) - count(DISTINCT (account_id, start_date)) "
                                 "FROM subs",
        "end before start": "SELECT count(*) FROM subs WHERE end_date < start_date",
        "churn_flag != closed": "SELECT count(*) FROM subs "
                                "WHERE churn_flag <> (end_date IS NOT NULL)",
        "latest closed": "SELECT count(*) FROM subs s WHERE end_date IS NOT NULL AND start_date ="
                         " (SELECT max(start_date) FROM subs x WHERE x.account_id = s.account_id)",
        "mrr/trial": "SELECT count(*) FROM subs WHERE (mrr_amount = 0) <> is_trial",
        "arr": "SELECT count(*) FROM subs WHERE arr_amount <> 12 * mrr_amount",
        "plan": "SELECT count(*) FROM subs WHERE plan_tier NOT IN ('Basic', 'Pro', 'Enterprise')"
                " OR billing_frequency NOT IN ('monthly', 'annual')",
    }
    for rule, sql in violations.items():
        assert scalar(con, sql) == 0, rule
    assert scalar(con, "SELECT count(*) FROM subs WHERE end_date IS NOT NULL") > 0


def test_usage_inside_subscription_period(con: duckdb.DuckDBPyConnection) -> None:
    outside = scalar(con, "SELECT count(*) FROM usage u JOIN subs s USING (subscription_id) "
                          "WHERE u.usage_date < s.start_date OR u.usage_date > s.end_date "
                          "OR u.usage_date > DATE '2024-12-31'")
    assert outside == 0
    after_churn = scalar(con, "SELECT count(*) FROM usage u JOIN subs s USING (subscription_id) "
                              "JOIN churn c USING (account_id) WHERE u.usage_date >= c.churn_date")
    assert after_churn == 0
    features = scalar(con, "SELECT count(*) FROM usage WHERE NOT regexp_full_match("
                           "feature_name, 'feature_([1-9]|[1-3][0-9]|40)')")
    assert features == 0


def test_ticket_rules(con: duckdb.DuckDBPyConnection) -> None:
    violations = {
        "closed_at": "SELECT count(*) FROM tickets WHERE closed_at <> "
                     "submitted_at::TIMESTAMP + to_hours(resolution_time_hours::BIGINT)",
        "resolution": "SELECT count(*) FROM tickets "
                      "WHERE resolution_time_hours NOT BETWEEN 1 AND 72",
        "response": "SELECT count(*) FROM tickets "
                    "WHERE first_response_time_minutes NOT BETWEEN 1 AND 180",
        "satisfaction": "SELECT count(*) FROM tickets WHERE satisfaction_score NOT IN (1,2,3,4,5)",
        "priority": "SELECT count(*) FROM tickets "
                    "WHERE priority NOT IN ('low', 'medium', 'high', 'urgent')",
        "before signup": "SELECT count(*) FROM tickets JOIN accounts USING (account_id) "
                         "WHERE submitted_at < signup_date",
        "after range": "SELECT count(*) FROM tickets WHERE closed_at > TIMESTAMP '2025-01-01'",
    }
    for rule, sql in violations.items():
        assert scalar(con, sql) == 0, rule
    null_share = scalar(con, "SELECT avg((satisfaction_score IS NULL)::INT) FROM tickets")
    assert 0.3 < null_share < 0.5


def test_churn_events(con: duckdb.DuckDBPyConnection, reference: Path) -> None:
    violations = {
        "outside range": "SELECT count(*) FROM churn "
                         "WHERE churn_date NOT BETWEEN '2023-01-01' AND '2024-12-31'",
        "before signup": "SELECT count(*) FROM churn JOIN accounts USING (account_id) "
                         "WHERE churn_date <= signup_date",
        "flag mismatch": "SELECT count(*) FROM accounts a WHERE churn_flag <> EXISTS "
                         "(SELECT 1 FROM churn c WHERE c.account_id = a.account_id)",
        "several events": "SELECT count(*) - count(DISTINCT account_id) FROM churn",
        "unknown reason": "SELECT count(*) FROM churn WHERE reason_code NOT IN "
                          f"(SELECT reason_code FROM '{csv_file(reference, 'churn').as_posix()}')",
    }
    for rule, sql in violations.items():
        assert scalar(con, sql) == 0, rule
    assert 0.12 < scalar(con, "SELECT avg(churn_flag::INT) FROM accounts") < 0.28
    assert scalar(con, "SELECT min(churn_date) FROM churn").isoformat() >= "2024-06-01"


# ----------------------------------------------------------------------------- planted signal


def test_churners_use_less_in_last_60_days(con: duckdb.DuckDBPyConnection) -> None:
    last, before = con.execute(
        "SELECT sum((u.usage_date >= c.churn_date - 60)::INT), "
        "sum((u.usage_date < c.churn_date - 60 AND u.usage_date >= c.churn_date - 120)::INT) "
        "FROM usage u JOIN subs s USING (subscription_id) JOIN churn c USING (account_id)"
    ).fetchone() or (0, 0)
    assert before > 100
    assert last < 0.65 * before


def test_churners_have_worse_support(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        "SELECT churn_flag, avg(satisfaction_score), avg((priority = 'urgent')::INT) "
        "FROM tickets JOIN accounts USING (account_id) GROUP BY 1"
    ).fetchall()
    stats = {flag: (satisfaction, urgent) for flag, satisfaction, urgent in rows}
    assert stats[True][0] < stats[False][0] - 0.25
    assert stats[True][1] > stats[False][1] + 0.07


def test_churners_have_more_errors_and_no_auto_renew(con: duckdb.DuckDBPyConnection) -> None:
    errors = dict(con.execute(
        "SELECT a.churn_flag, avg(error_count) FROM usage JOIN subs USING (subscription_id) "
        "JOIN accounts a USING (account_id) GROUP BY a.churn_flag").fetchall())
    assert errors[True] > errors[False] + 0.2
    no_renew = dict(con.execute(
        "SELECT a.churn_flag, avg((NOT auto_renew_flag)::INT) FROM subs s "
        "JOIN accounts a USING (account_id) WHERE s.start_date = "
        "(SELECT max(start_date) FROM subs x WHERE x.account_id = s.account_id) "
        "GROUP BY a.churn_flag").fetchall())
    assert no_renew[True] > no_renew[False] + 0.1


# ----------------------------------------------------------------------------- quirks


def test_quirks_inject_dirt_only_when_asked(outputs: dict[int, Path], tmp_path: Path) -> None:
    clean = connect(outputs[42])
    dirty = connect(generate(tmp_path, 42, quirks=True))
    exact = "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM usage)) FROM usage"
    reused = ("SELECT count(*) FROM (SELECT usage_id FROM (SELECT DISTINCT * FROM usage) "
              "GROUP BY 1 HAVING count(*) > 1)")
    blank = "SELECT count(*) FROM tickets WHERE satisfaction_score IS NULL"
    assert scalar(clean, exact) == 0 and scalar(clean, reused) == 0
    assert scalar(dirty, exact) >= 2 and scalar(dirty, reused) >= 2
    assert scalar(dirty, blank) > scalar(clean, blank)
    for table in ("accounts", "subs", "churn"):
        assert (csv_file(tmp_path, table).read_bytes()
                == csv_file(outputs[42], table).read_bytes()), table


# ----------------------------------------------------------------------------- engagement


ENGAGEMENT_TABLES = {"events": "engagement_events", "nps": "nps_responses"}
ENGAGEMENT_HEADERS = {
    "events": "event_id,account_id,occurred_at,channel,event_type,contact_id",
    "nps": "response_id,account_id,responded_at,nps_score,contact_id,comment",
}
# per column: a pattern for every value (empty = NULL where allowed)
ENGAGEMENT_VALUES = {
    "events": (r"E-[0-9a-f]{6,}", r"A-[0-9a-f]{6,}", VALUE_PATTERNS["TIMESTAMP"],
               r"email|in_app|web|meeting|community", r"[a-z]+", r"P-[0-9a-f]{6,}|"),
    "nps": (r"N-[0-9a-f]{6,}", r"A-[0-9a-f]{6,}", VALUE_PATTERNS["TIMESTAMP"], r"\d|10",
            r"P-[0-9a-f]{6,}", r"[a-z][a-z ]*[a-z]|"),
}
VALID_EVENTS = {
    "email": {"sent", "opened", "clicked", "replied"}, "in_app": {"shown", "clicked"},
    "web": {"visited"}, "meeting": {"held", "cancelled"}, "community": {"posted", "replied"},
}
# the engagement tables with their account's signup day, churn day (NULL: no churn) and the
# day after its last active day
ACTIVE_SPAN = """
    CREATE VIEW span AS SELECT account_id, signup_date, churn_date,
        coalesce(churn_date, DATE '2025-01-01') AS stop_date FROM accounts
    LEFT JOIN churn USING (account_id)
"""


def connect_engaged(directory: Path) -> duckdb.DuckDBPyConnection:
    con = connect(directory)
    for name, table in ENGAGEMENT_TABLES.items():
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM "
                    f"read_csv('{csv_file(directory, table).as_posix()}', header=true)")
    con.execute(ACTIVE_SPAN)
    return con


@pytest.fixture(scope="module")
def engaged(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    return {seed: generate(tmp_path_factory.mktemp(f"engaged{seed}"), seed, engagement=True)
            for seed in SEEDS}


@pytest.fixture(scope="module", params=SEEDS)
def econ(request: pytest.FixtureRequest, engaged: dict[int, Path]
         ) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = connect_engaged(engaged[request.param])
    yield connection
    connection.close()


def test_engagement_tables_only_with_the_flag(outputs: dict[int, Path],
                                              engaged: dict[int, Path], tmp_path: Path) -> None:
    for table in ENGAGEMENT_TABLES.values():
        assert not csv_file(outputs[42], table).exists(), table
        assert csv_file(engaged[42], table).is_file(), table
    for table in TABLES:  # the other tables do not change
        assert (csv_file(engaged[42], table).read_bytes()
                == csv_file(outputs[42], table).read_bytes()), table
    # a generation without the flag removes the engagement files of an earlier one
    shutil.copytree(engaged[42], tmp_path, dirs_exist_ok=True)
    generate(tmp_path, 42)
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in outputs[42].iterdir()}


def test_engagement_same_options_give_identical_bytes(engaged: dict[int, Path],
                                                      tmp_path: Path) -> None:
    again = generate(tmp_path, 42, engagement=True)
    for table in ENGAGEMENT_TABLES.values():
        assert csv_file(again, table).read_bytes() == csv_file(engaged[42], table).read_bytes()
        first, second = (csv_file(engaged[s], table).read_bytes() for s in SEEDS)
        assert first != second, table


def test_engagement_columns_and_formats(engaged: dict[int, Path]) -> None:
    for name, table in ENGAGEMENT_TABLES.items():
        text = csv_file(engaged[42], table).read_bytes().decode()
        assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
        assert '"' not in text
        lines = text.split("\r\n")
        assert lines[0] == ENGAGEMENT_HEADERS[name] == ",".join(gsd.TABLE_COLUMNS[table])
        patterns = [re.compile(p) for p in ENGAGEMENT_VALUES[name]]
        assert len(lines) > 100, table
        for line in lines[1:-1]:
            fields = line.split(",")
            assert len(fields) == len(patterns), (table, line)
            for pattern, value in zip(patterns, fields, strict=True):
                assert pattern.fullmatch(value), (table, line)


def test_engagement_sniffed_types(econ: duckdb.DuckDBPyConnection) -> None:
    for name in ENGAGEMENT_TABLES:
        types = dict(econ.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})")
                     .fetchall())
        assert types.get("occurred_at", types.get("responded_at")) == "TIMESTAMP", name
    nps = dict(econ.execute("SELECT column_name, column_type FROM (DESCRIBE nps)").fetchall())
    assert nps["nps_score"] == "BIGINT"


def test_engagement_ids_and_keys(econ: duckdb.DuckDBPyConnection) -> None:
    for table, key in (("events", "event_id"), ("nps", "response_id")):
        assert scalar(econ, f"SELECT count(*) = count(DISTINCT {key}) FROM {table}"), table
        assert scalar(econ, f"SELECT count(*) FROM {table} "
                            "WHERE account_id NOT IN (SELECT account_id FROM accounts)") == 0
    # a few contacts per account, each of one account
    contacts = econ.execute(
        "SELECT max(n), avg(n) FROM (SELECT account_id, count(DISTINCT contact_id) AS n "
        "FROM (SELECT account_id, contact_id FROM events UNION ALL "
        "SELECT account_id, contact_id FROM nps) GROUP BY 1)").fetchone()
    assert contacts[0] <= 5 and 1.5 < contacts[1] < 3.5
    assert scalar(econ, "SELECT count(*) FROM (SELECT contact_id FROM events WHERE contact_id "
                        "IS NOT NULL GROUP BY 1 HAVING count(DISTINCT account_id) > 1)") == 0
    assert scalar(econ, "SELECT count(*) FROM events "
                        "WHERE contact_id IS NULL AND channel <> 'web'") == 0
    assert 0.2 < scalar(econ, "SELECT avg((contact_id IS NULL)::INT) FROM events "
                              "WHERE channel = 'web'") < 0.6


def test_engagement_dated_while_the_account_is_active(econ: duckdb.DuckDBPyConnection) -> None:
    for table, column in (("events", "occurred_at"), ("nps", "responded_at")):
        outside = scalar(econ, f"SELECT count(*) FROM {table} JOIN span USING (account_id) "
                               f"WHERE {column} < signup_date OR {column} >= stop_date "
                               f"OR {column} < DATE '2023-01-01'")
        assert outside == 0, table
    # churners did have activity up to shortly before their churn date
    assert scalar(econ, "SELECT count(*) FROM events JOIN span USING (account_id) "
                        "WHERE occurred_at >= churn_date - 7") > 0


def test_engagement_values_valid(econ: duckdb.DuckDBPyConnection) -> None:
    pairs = econ.execute("SELECT DISTINCT channel, event_type FROM events").fetchall()
    assert {(c, e) for c, e in pairs} == {(c, e) for c, es in VALID_EVENTS.items() for e in es}
    assert scalar(econ, "SELECT count(*) FROM nps WHERE nps_score NOT BETWEEN 0 AND 10") == 0
    comments = dict(econ.execute(
        "SELECT CASE WHEN nps_score >= 9 THEN 'promoter' WHEN nps_score >= 7 THEN 'passive' "
        "ELSE 'detractor' END, list(DISTINCT comment) FROM nps WHERE comment IS NOT NULL "
        "GROUP BY 1").fetchall())
    assert set(comments["promoter"]) <= set(eng.PROMOTER_COMMENTS)
    assert set(comments["passive"]) <= set(eng.PASSIVE_COMMENTS)
    assert set(comments["detractor"]) <= set(eng.DETRACTOR_COMMENTS)
    assert 0.2 < scalar(econ, "SELECT avg((comment IS NOT NULL)::INT) FROM nps") < 0.4


def test_engagement_volumes(econ: duckdb.DuckDBPyConnection) -> None:
    """Moderate volumes: 10-25 events per account-month and up to ~2 NPS responses per
    account-year for accounts that do not churn."""
    months = "(SELECT sum((stop_date - signup_date) / 30.4375) FROM span WHERE churn_date IS NULL)"
    events = scalar(econ, f"SELECT count(*) / {months} FROM events "
                          "JOIN span USING (account_id) WHERE churn_date IS NULL")
    responses = scalar(econ, f"SELECT count(*) / {months} * 12 FROM nps "
                             "JOIN span USING (account_id) WHERE churn_date IS NULL")
    assert 10 < events < 25
    assert 1.0 < responses < 2.2


def test_churners_engagement_fades_before_churn(econ: duckdb.DuckDBPyConnection) -> None:
    """Events per account-month: churners in their last 90 days against the other accounts
    (all events, and without the emails sent, which do not depend on the account)."""
    rates = econ.execute("""
        WITH window_of AS (
            SELECT account_id, churn_date IS NOT NULL AS churned,
                CASE WHEN churn_date IS NOT NULL
                    THEN greatest(signup_date, churn_date - 90) ELSE signup_date END AS from_date,
                stop_date
            FROM span
        ),
        months AS (
            SELECT churned, sum((stop_date - from_date) / 30.4375) AS months
            FROM window_of GROUP BY 1
        ),
        counted AS (
            SELECT churned, count(*) AS n, count(*) FILTER (WHERE event_type <> 'sent') AS engaged
            FROM events JOIN window_of USING (account_id)
            WHERE occurred_at >= from_date GROUP BY 1
        )
        SELECT churned, n / months, engaged / months FROM counted JOIN months USING (churned)
    """).fetchall()
    stats = {churned: (total, engaged) for churned, total, engaged in rates}
    assert stats[True][0] < 0.75 * stats[False][0]
    assert stats[True][1] < 0.65 * stats[False][1]


def test_churners_give_lower_nps(econ: duckdb.DuckDBPyConnection) -> None:
    """Lower for churners overall, and already before their last 90 days (risk, not ramp)."""
    overall, early, late, others = econ.execute(
        "SELECT avg(nps_score) FILTER (WHERE churn_date IS NOT NULL), "
        "avg(nps_score) FILTER (WHERE responded_at < churn_date - 90), "
        "avg(nps_score) FILTER (WHERE responded_at >= churn_date - 90), "
        "avg(nps_score) FILTER (WHERE churn_date IS NULL) FROM nps JOIN span USING (account_id)"
    ).fetchone()
    assert overall < others - 1.5
    assert early < others - 1.0
    assert late < early


def test_churners_open_fewer_emails_and_cancel_more_meetings(
        econ: duckdb.DuckDBPyConnection) -> None:
    rows = econ.execute(
        "SELECT churn_date IS NOT NULL, "
        "count(*) FILTER (WHERE event_type = 'opened' AND channel = 'email') "
        "/ count(*) FILTER (WHERE event_type = 'sent'), "
        "count(*) FILTER (WHERE event_type = 'cancelled') / count(*) FILTER (WHERE channel = "
        "'meeting') FROM events JOIN span USING (account_id) GROUP BY 1").fetchall()
    stats = {churned: (opened, cancelled) for churned, opened, cancelled in rows}
    assert stats[True][0] < stats[False][0] - 0.08
    assert stats[True][1] > stats[False][1] + 0.1


def test_quirks_add_dirty_engagement_rows(engaged: dict[int, Path], tmp_path: Path) -> None:
    checks = {
        "nps score 11": "SELECT count(*) FROM nps WHERE nps_score = 11",
        "unknown channel": "SELECT count(*) FROM events WHERE channel = 'fax'",
        "year 2199": "SELECT count(*) FROM events WHERE year(occurred_at) = 2199",
        "exact duplicates": "SELECT count(*) - (SELECT count(*) FROM (SELECT DISTINCT * "
                            "FROM events)) FROM events",
    }
    clean = connect_engaged(engaged[42])
    dirty = connect_engaged(generate(tmp_path / "dirty", 42, quirks=True, engagement=True))
    for quirk, sql in checks.items():
        assert scalar(clean, sql) == 0, quirk
        assert scalar(dirty, sql) >= 1, quirk
    plain = generate(tmp_path / "plain", 42, quirks=True)
    for table in TABLES:  # the engagement quirks leave the other tables alone
        assert (csv_file(tmp_path / "dirty", table).read_bytes()
                == csv_file(plain, table).read_bytes()), table


# ----------------------------------------------------------------------------- parent accounts


def test_parents_change_only_the_accounts_by_one_column(tmp_path: Path) -> None:
    with_parents = generate(tmp_path, 42, parent_share=0.3, chunk_accounts=150)
    plain = generate(tmp_path / "plain", 42, chunk_accounts=150)
    for table in TABLES:
        if table != "accounts":
            assert (csv_file(with_parents, table).read_bytes()
                    == csv_file(plain, table).read_bytes()), table
    # without the option the accounts have no parent column: the files of before
    assert csv_file(plain, "accounts").read_text().splitlines()[0].split(",")[-1] == "churn_flag"
    con = duckdb.connect()
    for name, folder in (("linked", with_parents), ("plain", plain)):
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_csv("
                    f"'{csv_file(folder, 'accounts').as_posix()}', header=true, all_varchar=true)")
    assert scalar(con, "SELECT count(*) FROM (SELECT * EXCLUDE (parent_account_id) FROM linked "
                       "EXCEPT ALL SELECT * FROM plain)") == 0
    children, parents, shared = con.execute(
        "SELECT count(parent_account_id), count(DISTINCT parent_account_id), "
        "count(*) FILTER (WHERE account_id IN (SELECT parent_account_id FROM linked)"
        " AND parent_account_id IS NOT NULL) FROM linked").fetchone()
    assert 0.2 * N_ACCOUNTS < children < 0.4 * N_ACCOUNTS
    assert children / parents > 2  # a few children per parent
    assert shared == 0  # a parent has no parent: one level, no cycles
    # every parent is an account of the same chunk (150 accounts each, numbered in order)
    assert scalar(con, "SELECT count(*) FROM linked AS child JOIN linked AS parent "
                       "ON child.parent_account_id = parent.account_id "
                       "WHERE split_part(child.account_name, '_', 2)::int // 150 "
                       "!= split_part(parent.account_name, '_', 2)::int // 150") == 0
    assert scalar(con, "SELECT count(*) FROM linked WHERE parent_account_id IS NOT NULL "
                       "AND parent_account_id NOT IN (SELECT account_id FROM linked)") == 0


def test_parents_in_parquet_are_typed_like_the_csv(tmp_path: Path) -> None:
    csv_dir = generate(tmp_path / "csv", 7, parent_share=0.5)
    parquet_dir = generate(tmp_path / "parquet", 7, parent_share=0.5, file_format="parquet")
    linked = duckdb.sql(
        f"SELECT account_id, parent_account_id FROM read_parquet("
        f"'{(parquet_dir / 'ravenstack_accounts').as_posix()}/*.parquet') "
        f"EXCEPT SELECT account_id, parent_account_id FROM read_csv("
        f"'{csv_file(csv_dir, 'accounts').as_posix()}', header=true)").fetchall()
    assert linked == []


# ----------------------------------------------------------------------------- CLI


def test_progress_is_reported_after_every_chunk(tmp_path: Path) -> None:
    done: list[int] = []
    gsd.generate(GeneratorOptions(out_dir=tmp_path, accounts=250, chunk_accounts=100),
                 on_progress=done.append)
    assert done == [100, 200, 250]


def test_progress_off_a_terminal_logs_each_tenth_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="health"), \
            progress("generating", 1000, "accounts", quiet=False) as advance:
        for done in (50, 100, 150, 450, 1000):
            advance(done)
    assert [r.getMessage() for r in caplog.records] == [
        "generating: 100 of 1,000 accounts (10%)",
        "generating: 450 of 1,000 accounts (45%)",
        "generating: 1,000 of 1,000 accounts (100%)",
    ]


def test_quiet_progress_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), progress("x", 10, "rows", quiet=True) as advance:
        advance(10)
    assert caplog.records == []


@pytest.mark.parametrize(("changes", "cause"), [
    ({"end_date": dt.date(2023, 2, 28)}, "covers 59 days; it must cover at least 60"),
    ({"hold_back_from": dt.date(2024, 12, 1)}, "needs --format parquet"),
    ({"file_format": "xml"}, "unknown file format 'xml'"),
    ({"parent_share": 1.0}, "must be >= 0 and < 1, got 1.0"),
])
def test_options_refuse_what_the_generator_cannot_honour(changes: dict, cause: str,
                                                         tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=re.escape(cause)):
        GeneratorOptions(out_dir=tmp_path, **changes)


def test_command_writes_the_files_the_library_writes(tmp_path: Path) -> None:
    done = run_health("generate", ["--out", str(tmp_path / "cli"), "--accounts", "40",
                                   "--seed", "1", "--quirks", "--engagement", "--quiet"])
    assert done.returncode == 0, output_of(done)
    assert done.stderr == ""  # --quiet: neither progress nor summary
    gsd.generate(GeneratorOptions(out_dir=tmp_path / "library", accounts=40, seed=1, quirks=True,
                                  engagement=True))
    for table in [*TABLES, *ENGAGEMENT_TABLES.values()]:
        assert (csv_file(tmp_path / "cli", table).read_bytes()
                == csv_file(tmp_path / "library", table).read_bytes()), table


def test_command_help_lists_its_options() -> None:
    done = run_health("generate", ["--help"])
    assert done.returncode == 0, output_of(done)
    for option in ("--usage-rows-per-account-month", "--hold-back-from", "--format", "--engagement",
                   "--quiet"):
        assert option in done.stdout


@pytest.mark.parametrize(("args", "cause"), [
    ([], "Missing option '--out'"),
    (["--accounts", "0"], "Invalid value for '--accounts': must be >= 1, got 0"),
    (["--seed", "-1"], "Invalid value for '--seed': must be >= 0, got -1"),
    (["--start-date", "2023-13-01"], "expected a date as YYYY-MM-DD, got '2023-13-01'"),
    (["--start-date", "2024-01-01", "--end-date", "2023-12-31"], "must cover at least 60"),
    (["--usage-rows-per-account-month", "0"], "must be a positive number, got 0.0"),
    (["--hold-back-from", "2024-12-01"], "needs --format parquet"),
])
def test_command_rejects_bad_arguments_in_one_line(args: list[str], cause: str,
                                                   tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_health("generate", args if not args else ["--out", str(out), *args])
    assert done.returncode == 4, output_of(done)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and cause in lines[0], lines
    assert not out.exists()


def test_parquet_output_matches_csv_and_holds_back_late_rows(tmp_path: Path) -> None:
    """Parquet folders hold the CSV rows, typed; --hold-back-from moves only later rows aside."""
    csv_dir, parquet_dir = tmp_path / "csv", tmp_path / "parquet"
    cutoff = dt.date(2024, 12, 20)
    common = dict(accounts=300, start_date=dt.date(2024, 1, 1), end_date=dt.date(2024, 12, 31),
                  quirks=True, chunk_accounts=120, engagement=True)
    gsd.generate(GeneratorOptions(out_dir=csv_dir, **common))
    rows = gsd.generate(GeneratorOptions(
        out_dir=parquet_dir, file_format="parquet", hold_back_from=cutoff, **common
    ))
    con = duckdb.connect()
    for table, date_column in (("feature_usage", "usage_date"), ("support_tickets", "submitted_at"),
                               ("accounts", "signup_date"), ("engagement_events", "occurred_at"),
                               ("nps_responses", "responded_at")):
        csv_rows = con.execute(
            f"select count(*) from read_csv('{csv_dir}/ravenstack_{table}.csv', header=true)"
        ).fetchone()[0]
        kept, kept_max = con.execute(
            f"select count(*), max({date_column})::DATE "
            f"from read_parquet('{parquet_dir}/ravenstack_{table}/*.parquet')"
        ).fetchone()
        held_back = list(parquet_dir.glob(f"held_back/ravenstack_{table}/*.parquet"))
        late, late_min = con.execute(
            f"select count(*), min({date_column})::DATE "
            f"from read_parquet({[str(p) for p in held_back]})"
        ).fetchone() if held_back else (0, None)
        assert kept + late == csv_rows == rows[table], table
        if table == "accounts":
            assert late == 0
        else:
            assert late > 0 and kept_max < cutoff <= late_min, table
    types = dict(con.execute(
        f"select column_name, column_type from (describe select * from "
        f"read_parquet('{parquet_dir}/ravenstack_subscriptions/*.parquet'))"
    ).fetchall())
    assert types["start_date"] == "DATE" and types["auto_renew_flag"] == "BOOLEAN"
    for table, column, expected in (("engagement_events", "occurred_at", "TIMESTAMP"),
                                    ("nps_responses", "responded_at", "TIMESTAMP"),
                                    ("nps_responses", "nps_score", "BIGINT")):
        types = dict(con.execute(
            f"select column_name, column_type from (describe select * from "
            f"read_parquet('{parquet_dir}/ravenstack_{table}/*.parquet'))"
        ).fetchall())
        assert list(types) == list(gsd.TABLE_COLUMNS[table]), table
        assert types[column] == expected, (table, column)
