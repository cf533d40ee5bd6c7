"""Bad-input matrix: corrupt the inputs, run scripts/refresh.py, and check that it fails with the
right exit code and a message naming the cause, leaving the published schema `health` exactly as
it was (or, for defects staging quarantines, that it publishes and counts the quarantined rows).

Every case gets its own copy of the sample data (or of the project, for seed and gate-config
cases), its own copy of the session's published baseline database and its own dbt target
folder. The cases run as subprocesses, HEALTH_MATRIX_WORKERS at a time (default 2): a session
fixture starts every selected case when the first one is needed, and each test waits for its
own case (the kill case, a killed refresh followed by a good one, runs in the same pool).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest
from conftest import PublishedBaseline
from helpers.fingerprint import health_fingerprint
from helpers.project import (
    REPO_DIR,
    SAMPLE_DATA_DIR,
    TERMINAL_SUMMARY,
    clean_env,
    copy_project,
    health_command,
    refresh_args,
    run_health,
    run_refresh,
    wait_for_process_group_to_end,
)

from customer_health.errors import (
    EXIT_OK,
    BadInputError,
    BuildFailedError,
    GateFailedError,
    LockedError,
)
from customer_health.pipeline.lock import refresh_lock

EXIT_BUILD_FAILED = BuildFailedError.exit_code
EXIT_GATE_FAILED = GateFailedError.exit_code
EXIT_LOCKED = LockedError.exit_code
EXIT_BAD_INPUT = BadInputError.exit_code

pytestmark = pytest.mark.matrix

WORKERS = int(os.environ.get("HEALTH_MATRIX_WORKERS", "2"))
CASE_TIMEOUT_SECONDS = 900
KILL_TEST = "test_a_refresh_killed_during_dbt_build_changes_nothing_and_leaves_no_lock"
Rows = list[dict[str, str]]


# ------------------------------------------------------------------------- corrupting inputs


def csv_path(data_dir: Path, table: str) -> Path:
    return data_dir / f"ravenstack_{table}.csv"


def read_rows(data_dir: Path, table: str) -> tuple[list[str], Rows]:
    with csv_path(data_dir, table).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_rows(data_dir: Path, table: str, header: list[str], rows: Rows) -> None:
    with csv_path(data_dir, table).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def edit_rows(table: str, edit: Callable[[Rows], Rows]) -> Callable[[Path], None]:
    """A corruption that rewrites one raw table's rows."""

    def corrupt(data_dir: Path) -> None:
        header, rows = read_rows(data_dir, table)
        write_rows(data_dir, table, header, edit(rows))

    return corrupt


def all_of(*corruptions: Callable[[Path], None]) -> Callable[[Path], None]:
    """Several corruptions of the same data folder, applied in turn."""

    def corrupt(data_dir: Path) -> None:
        for corruption in corruptions:
            corruption(data_dir)

    return corrupt


def set_value(
    column: str, value: str, every: int = 1, limit: int | None = None, offset: int = 0
) -> Callable[[Rows], Rows]:
    """Set column to value on every n-th row from row `offset` (at most limit rows)."""

    def edit(rows: Rows) -> Rows:
        changed = 0
        for index, row in enumerate(rows):
            if index % every == offset and (limit is None or changed < limit):
                row[column] = value
                changed += 1
        return rows

    return edit


def duplicate_keys(count: int, column: str, value: str) -> Callable[[Rows], Rows]:
    """Append copies of the first `count` rows: same key, `column` set to `value`."""

    def edit(rows: Rows) -> Rows:
        return rows + [{**row, column: value} for row in rows[:count]]

    return edit


def rename_column(table: str, old: str, new: str | None) -> Callable[[Path], None]:
    """Rename (or, with new=None, drop) a column of a raw table."""

    def corrupt(data_dir: Path) -> None:
        header, rows = read_rows(data_dir, table)
        if new is None:
            header.remove(old)
            rows = [{key: value for key, value in row.items() if key != old} for row in rows]
        else:
            header[header.index(old)] = new
            rows = [{(new if key == old else key): value for key, value in row.items()}
                    for row in rows]
        write_rows(data_dir, table, header, rows)

    return corrupt


def append_raw_lines(
    table: str, lines: list[str], newline: str | None = None
) -> Callable[[Path], None]:
    """Append lines as they are; newline=None keeps the file's own line ending (CRLF here)."""

    def corrupt(data_dir: Path) -> None:
        path = csv_path(data_dir, table)
        ending = newline or ("\r\n" if b"\r\n" in path.read_bytes()[:4096] else "\n")
        with path.open("a", encoding="utf-8", newline="") as handle:
            handle.writelines(line + ending for line in lines)

    return corrupt


def negative_mrr_on_unused_subscriptions(count: int) -> Callable[[Path], None]:
    """Negative MRR on subscriptions without usage (quarantining them orphans nothing)."""

    def corrupt(data_dir: Path) -> None:
        used = {row["subscription_id"] for row in read_rows(data_dir, "feature_usage")[1]}
        header, rows = read_rows(data_dir, "subscriptions")
        unused = [row for row in rows if row["subscription_id"] not in used][:count]
        for row in unused:
            row["mrr_amount"] = "-" + row["mrr_amount"]
        write_rows(data_dir, "subscriptions", header, rows)

    return corrupt


def end_before_start_on_a_used_subscription(data_dir: Path) -> None:
    """The first subscription with usage, of an account with other subscriptions, ends the day
    before it starts: staging quarantines it, and its usage with it (parent_quarantined)."""
    used = {row["subscription_id"] for row in read_rows(data_dir, "feature_usage")[1]}
    header, rows = read_rows(data_dir, "subscriptions")
    per_account = Counter(row["account_id"] for row in rows)
    inverted = next(row for row in rows
                    if row["subscription_id"] in used and per_account[row["account_id"]] > 1)
    start = dt.date.fromisoformat(inverted["start_date"])
    inverted["end_date"] = (start - dt.timedelta(days=1)).isoformat()
    write_rows(data_dir, "subscriptions", header, rows)


def keep_half_of_the_accounts(data_dir: Path) -> None:
    """Every other account disappears, with its subscriptions, usage, tickets and churn."""
    header, accounts = read_rows(data_dir, "accounts")
    kept = accounts[::2]
    write_rows(data_dir, "accounts", header, kept)
    account_ids = {row["account_id"] for row in kept}
    header, subscriptions = read_rows(data_dir, "subscriptions")
    subscriptions = [row for row in subscriptions if row["account_id"] in account_ids]
    write_rows(data_dir, "subscriptions", header, subscriptions)
    subscription_ids = {row["subscription_id"] for row in subscriptions}
    for table, key, keep in (
        ("feature_usage", "subscription_id", subscription_ids),
        ("support_tickets", "account_id", account_ids),
        ("churn_events", "account_id", account_ids),
    ):
        header, rows = read_rows(data_dir, table)
        write_rows(data_dir, table, header, [row for row in rows if row[key] in keep])


def header_only(table: str) -> Callable[[Path], None]:
    def corrupt(data_dir: Path) -> None:
        header, _ = read_rows(data_dir, table)
        write_rows(data_dir, table, header, [])

    return corrupt


def delete_file(table: str) -> Callable[[Path], None]:
    return lambda data_dir: csv_path(data_dir, table).unlink()


def decoy_beside(data_dir: Path) -> None:
    """A folder named as the data folder's name reads as a glob (`[1]` -> `1`), holding no
    accounts: a reader that expanded the name would score nothing."""
    decoy = data_dir.with_name(data_dir.name.replace("[1]", "1"))
    shutil.copytree(data_dir, decoy)
    header_only("accounts")(decoy)


# ----------------------------------------------------------------------- corrupting the project


def edit_seed(seed: str, edit: Callable[[Rows], Rows]) -> Callable[[Path], None]:
    def corrupt(project_dir: Path) -> None:
        path = project_dir / "seeds" / f"{seed}.csv"
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header, rows = list(reader.fieldnames or []), list(reader)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(edit(rows))

    return corrupt


def without(column: str, value: str) -> Callable[[Rows], Rows]:
    return lambda rows: [row for row in rows if row[column] != value]


def replace_value(column: str, old: str, new: str) -> Callable[[Rows], Rows]:
    return lambda rows: [{**row, column: new if row[column] == old else row[column]}
                         for row in rows]


def add_band_for_segment(segment: str) -> Callable[[Rows], Rows]:
    """A copy of the first band, for `segment`."""
    return lambda rows: [*rows, {**rows[0], "segment": segment}]


def double_first_weight_of(segment: str) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        first = next(row for row in rows if row["segment"] == segment and float(row["weight"]) > 0)
        first["weight"] = str(float(first["weight"]) * 2)
        return rows

    return edit


def flat_points(rows: Rows) -> Rows:
    """Every band gives 50 points: every account scores exactly 50."""
    for row in rows:
        row["points_at_lower"] = row["points_at_upper"] = "50"
    return rows


def edit_gate_config(old: str, new: str) -> Callable[[Path], None]:
    def corrupt(project_dir: Path) -> None:
        path = project_dir / "gx" / "gate_config.yml"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return corrupt


# -------------------------------------------------------------------------------- the cases

@dataclass(frozen=True)
class Case:
    id: str
    expected_exit: int
    expected_output: tuple[str, ...]  # each must appear in stdout+stderr (case-insensitive)
    corrupt_data: Callable[[Path], None] | None = None
    corrupt_project: Callable[[Path], None] | None = None
    missing_data_dir: bool = False
    data_dir_name: str = "raw"
    command: str = "refresh"  # or backfill (extra_args then give its dates)
    extra_args: tuple[str, ...] = ()
    # For cases that publish: expected rows per (table, reason) in health.quarantined_source_rows.
    quarantined: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # For cases that publish: quarantine_detail expected per (table, record_key).
    quarantine_details: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # For cases that publish: accounts in health.customer_health_scores (None: not checked).
    scored_accounts: int | None = None
    expect_warnings: bool = False


CASES: tuple[Case, ...] = (
    # Defects staging quarantines, several per run (each on rows of its own): the run publishes,
    # and every expected (table, reason) count is checked.
    Case("row_and_file_defects_are_quarantined_and_the_rest_published", EXIT_OK, (),
         # any legal folder name is the folder read, not what it means as a glob
         data_dir_name="raw 'quoted' {braces} [1] ünïcode",
         corrupt_data=all_of(
             decoy_beside,
             edit_rows("feature_usage", set_value("usage_id", "", every=5000)),
             edit_rows("support_tickets", duplicate_keys(4, "first_response_time_minutes", "1")),
             negative_mrr_on_unused_subscriptions(3),
             # quoted line breaks and commas (the files are rewritten with LF endings)
             edit_rows("accounts", set_value("account_name", "Acme,\r\n\"Holdings\"\nInc",
                                             every=50)),
             edit_rows("churn_events", set_value("feedback_text", "too slow\n\nand pricey",
                                                 every=20)),
             append_raw_lines(
                 "support_tickets",
                 [f"T-garbage{i},#@!{i},not a date,??,x,???,-,*,maybe" for i in range(6)],
             ),
             # a line ending unlike the file's
             append_raw_lines(
                 "support_tickets", ["T-lf-only,A-2e4581,2024-12-30,,,low,,,False"],
                 newline="\r\n",
             ),
             # more fields than the header (13, not 9): quarantined with the extra fields, never
             # truncated silently
             append_raw_lines("churn_events", ["C-broken," + ",".join(["x"] * 12)]),
         ),
         quarantined={("feature_usage", "missing_usage_id"): 5,
                      ("support_tickets", "duplicate_ticket_id"): 4,
                      ("subscriptions", "negative_mrr_amount"): 3,
                      ("support_tickets", "invalid_submitted_date"): 6,
                      ("churn_events", "too_many_fields"): 1},
         # record 602: the header and the 600 rows before it (those whose feedback holds line
         # breaks count as one record each)
         quarantine_details={("churn_events", "C-broken"):
                             "record 602: fields beyond the header's 9 columns: x|x|x|x"}),
    Case("unparseable_and_implausible_values_are_quarantined", EXIT_OK, (),
         corrupt_data=all_of(
             # malformed, non-finite and decimal-in-an-integer numbers: never rounded or cast
             edit_rows("feature_usage", set_value("usage_count", "n/a", every=9000)),
             edit_rows("feature_usage", set_value("usage_count", "NaN", every=9000, offset=1)),
             edit_rows("feature_usage", set_value("usage_count", "2.5", every=9000, offset=2)),
             edit_rows("support_tickets", set_value("resolution_time_hours", "Infinity",
                                                    every=400)),
             edit_rows("churn_events", set_value("refund_amount_usd", "-inf", every=300)),
             # outside the plausible ranges (vars plausible_max, plausible_dates)
             edit_rows("feature_usage", set_value("usage_duration_secs", "99999999999",
                                                  every=9000, offset=3)),
             edit_rows("churn_events", set_value("churn_date", "9999-12-31", every=300,
                                                 offset=1)),
             edit_rows("support_tickets", set_value("closed_at", "1900-01-01 00:00:00",
                                                    every=400, offset=1)),
         ),
         quarantined={("feature_usage", "invalid_usage_count"): 9,
                      ("support_tickets", "invalid_resolution_time"): 5,
                      ("churn_events", "invalid_refund_amount"): 2,
                      ("feature_usage", "implausible_usage_duration"): 3,
                      ("churn_events", "implausible_churn_date"): 2,
                      ("support_tickets", "implausible_closed_at"): 5}),
    # Too many bad rows in two sources, and dates in the future: the gate names each.
    Case("quarantined_shares_and_future_dates_fail_the_gate", EXIT_GATE_FAILED,
         ("base_product_usage__feature_usage.inputs", "quarantined_share", "missing_usage_id",
          "base_crm__accounts.inputs", "duplicate_account_id",
          "dates_not_in_future", "usage_date", "2099-06-30"),
         corrupt_data=all_of(
             edit_rows("feature_usage", set_value("usage_id", "", every=10)),
             edit_rows("accounts", duplicate_keys(50, "account_name", "Copy Inc")),
             edit_rows("feature_usage", set_value("usage_date", "2099-06-30", every=1000,
                                                  offset=1)),
         )),
    # Names in one seed that the seed defining them lacks, and weights that do not sum to one:
    # seed tests, each failing row named.
    Case("configuration_typos_stop_the_build", EXIT_BUILD_FAILED,
         ("segment_rules.plan_tier = 'Enterprize' is not a plan_tier of plan_tiers",
          "scoring_bands.segment = 'onboardng' is not a segment of segment_rules",
          "weights_sum_to_one"),
         corrupt_project=all_of(
             edit_seed("segment_rules", replace_value("plan_tier", "Enterprise", "Enterprize")),
             edit_seed("scoring_bands", add_band_for_segment("onboardng")),
             edit_seed("segment_weights", double_first_weight_of("adopting")),
         )),
    Case("data_folder_missing", EXIT_BAD_INPUT, ("raw data folder does not exist",),
         missing_data_dir=True),
    Case("csv_file_missing", EXIT_BAD_INPUT, ("ravenstack_support_tickets.csv",),
         corrupt_data=delete_file("support_tickets")),
    # Signup dates outside var plausible_dates are quarantined, and so are the accounts'
    # subscriptions, tickets and churn events, and those subscriptions' usage
    # (parent_quarantined): the other accounts are scored.
    Case("dates_absurdly_old", EXIT_OK, (),
         corrupt_data=edit_rows("accounts", set_value("signup_date", "1900-01-01", every=100)),
         quarantined={("accounts", "implausible_signup_date"): 5,
                      ("subscriptions", "parent_quarantined"): 57,
                      ("feature_usage", "parent_quarantined"): 281,
                      ("support_tickets", "parent_quarantined"): 26,
                      ("churn_events", "parent_quarantined"): 10},
         scored_accounts=495),
    Case("subscription_ending_before_it_starts_is_quarantined_with_its_usage", EXIT_OK, (),
         corrupt_data=end_before_start_on_a_used_subscription,
         quarantined={("subscriptions", "end_date_before_start_date"): 1,
                      ("feature_usage", "parent_quarantined"): 6},
         scored_accounts=500),
    Case("unknown_plan_tier", EXIT_BUILD_FAILED, ("relationships", "plan_tier"),
         corrupt_data=edit_rows("subscriptions", set_value("plan_tier", "Platinum", every=500))),
    Case("empty_usage_table", EXIT_BUILD_FAILED, ("not_empty_base_product_usage__feature_usage",),
         corrupt_data=header_only("feature_usage")),
    Case("missing_column", EXIT_BUILD_FAILED, ("base_product_usage__feature_usage", "usage_count"),
         corrupt_data=rename_column("feature_usage", "usage_count", None)),
    Case("renamed_column", EXIT_BUILD_FAILED, ("base_product_usage__feature_usage", "error_count"),
         corrupt_data=rename_column("feature_usage", "error_count", "errors")),
    Case("wrong_type_in_every_row", EXIT_BUILD_FAILED,
         ("not_empty_stg_product_usage__feature_usage",),
         corrupt_data=edit_rows("feature_usage", set_value("usage_count", "many")),
         ),
    # Stale data, and a threshold edited in the gate's configuration (read at run time).
    Case("stale_usage_and_a_gate_threshold_edited_fail_the_gate", EXIT_GATE_FAILED,
         ("freshness", "usage_date", "2024-09-30", "score_spread", "min_value=1000.0"),
         corrupt_data=edit_rows(
             "feature_usage", lambda rows: [r for r in rows if r["usage_date"] <= "2024-09-30"]
         ),
         corrupt_project=edit_gate_config("min_stdev: 1.0", "min_stdev: 1000.0")),
    Case("half_the_accounts_missing", EXIT_GATE_FAILED,
         ("customer_health_score_history.drift", "row_count_drop", "published_accounts=500"),
         corrupt_data=keep_half_of_the_accounts),
    Case("refresh_older_than_the_published_scores_is_refused", EXIT_BAD_INPUT,
         ("as of 2024-12-24, older than the published current scores (as of 2024-12-31)",
          "--replace-current"),
         extra_args=("--as-of-date", "2024-12-24")),
    Case("older_refresh_allowed_to_replace_is_still_checked_for_drift", EXIT_GATE_FAILED,
         ("row_count_drop", "published_as_of_date=2024-12-31", "published_accounts=500"),
         corrupt_data=keep_half_of_the_accounts,
         extra_args=("--as-of-date", "2024-12-24", "--replace-current")),
    Case("backfill_from_a_truncated_extract_keeps_the_history", EXIT_GATE_FAILED,
         ("row_count_drop", "as_of_date=2024-12-31", "published_accounts=500"),
         corrupt_data=keep_half_of_the_accounts, command="backfill",
         extra_args=("--from", "2024-12-31", "--to", "2024-12-31", "--step", "week")),
    Case("segment_without_weights", EXIT_BUILD_FAILED, ("segment_weights",),
         corrupt_project=edit_seed("segment_weights", without("segment", "mature_enterprise"))),
    Case("metric_without_bands", EXIT_BUILD_FAILED, ("every_metric_value_falls_in_a_scoring_band",),
         corrupt_project=edit_seed("scoring_bands", without("metric_name", "avg_csat"))),
    Case("all_scores_identical", EXIT_GATE_FAILED,
         ("score_spread", "expect_column_stdev_to_be_between", "health_score"),
         corrupt_project=edit_seed("scoring_bands", flat_points)),
    Case("backfill_date_only_warns", EXIT_OK, ("WARNING", "dates_after_as_of"),
         extra_args=("--as-of-date", "2024-12-24", "--replace-current"), expect_warnings=True),
)


# ------------------------------------------------------------------------------- the runner


@dataclass(frozen=True)
class CaseRun:
    db_path: Path
    exit_code: int
    output: str
    seconds: float
    fingerprint: dict[str, str]


@dataclass(frozen=True)
class KilledRun:
    """A refresh killed during dbt build, then the next refresh on the same database."""

    killed_exit_code: int
    fingerprint_after_kill: dict[str, str]
    next_exit_code: int
    next_output: str
    seconds: float


@dataclass(frozen=True)
class MatrixRuns:
    cases: dict[str, Future[CaseRun]]
    killed: Future[KilledRun] | None


def run_case(case: Case, workdir: Path, baseline: PublishedBaseline) -> CaseRun:
    raw_dir = workdir / case.data_dir_name
    if case.missing_data_dir:
        raw_dir = workdir / "no-such-folder"
    else:
        shutil.copytree(SAMPLE_DATA_DIR, raw_dir)
        if case.corrupt_data:
            case.corrupt_data(raw_dir)
    project_dir = REPO_DIR
    if case.corrupt_project:
        project_dir = copy_project(workdir / "project")
        case.corrupt_project(project_dir)
    db_path = workdir / "customer_health.duckdb"
    shutil.copyfile(baseline.db_path, db_path)
    started = time.perf_counter()
    completed = run_health(
        case.command, refresh_args(db_path, raw_dir, workdir / "target", case.extra_args),
        project_dir=project_dir, timeout=CASE_TIMEOUT_SECONDS,
    )
    return CaseRun(
        db_path=db_path,
        exit_code=completed.returncode,
        output=completed.stdout + completed.stderr,
        seconds=time.perf_counter() - started,
        fingerprint=health_fingerprint(db_path),
    )


def run_killed_case(workdir: Path, baseline: PublishedBaseline) -> KilledRun:
    db_path = workdir / "customer_health.duckdb"
    shutil.copyfile(baseline.db_path, db_path)
    target = workdir / "target"
    started = time.perf_counter()
    with (workdir / "killed.log").open("w") as log_file:
        process = subprocess.Popen(
            health_command("refresh", *refresh_args(db_path, SAMPLE_DATA_DIR, target)),
            env=clean_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill refresh.py and dbt together
        )
        try:
            _wait_for_dbt_to_write(target / "logs" / "dbt.log", process)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            wait_for_process_group_to_end(process.pid)
    fingerprint = health_fingerprint(db_path)
    completed = run_refresh(db_path, SAMPLE_DATA_DIR, workdir / "target_after")
    return KilledRun(
        killed_exit_code=process.returncode,
        fingerprint_after_kill=fingerprint,
        next_exit_code=completed.returncode,
        next_output=completed.stdout + completed.stderr,
        seconds=time.perf_counter() - started,
    )


def _selected_case_ids(session: pytest.Session) -> list[str]:
    return [
        item.callspec.params["case"].id
        for item in session.items
        if getattr(item, "originalname", None) == "test_bad_input"
        and hasattr(item, "callspec")
    ]


@pytest.fixture(scope="session")
def case_runs(
    request: pytest.FixtureRequest,
    published_baseline: PublishedBaseline,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MatrixRuns]:
    """Start every selected case (WORKERS at a time) as soon as the first one is needed."""
    by_id = {case.id: case for case in CASES}
    executor = ThreadPoolExecutor(max_workers=max(1, WORKERS))
    started = time.perf_counter()
    killed = None
    if any(item.name == KILL_TEST for item in request.session.items):
        killed = executor.submit(
            run_killed_case, tmp_path_factory.mktemp("killed"), published_baseline
        )
    futures = {
        case_id: executor.submit(
            run_case, by_id[case_id], tmp_path_factory.mktemp(case_id), published_baseline
        )
        for case_id in _selected_case_ids(request.session)
    }
    yield MatrixRuns(cases=futures, killed=killed)
    executor.shutdown(wait=True, cancel_futures=True)
    TERMINAL_SUMMARY.extend(_timings(futures, killed, time.perf_counter() - started))


def _timings(
    futures: Mapping[str, Future[CaseRun]], killed: Future[KilledRun] | None, wall_seconds: float
) -> list[str]:
    """How long the matrix took, for the end of the pytest run."""
    runs: dict[str, CaseRun | KilledRun] = {
        case_id: future.result()
        for case_id, future in futures.items()
        if future.done() and not future.cancelled() and future.exception() is None
    }
    if killed and killed.done() and not killed.cancelled() and killed.exception() is None:
        runs["killed_during_dbt_build (kill + next refresh)"] = killed.result()
    if not runs:
        return []
    lines = [
        f"bad-input matrix: {len(runs)} refresh cases in {wall_seconds:.0f} s wall, "
        f"{sum(run.seconds for run in runs.values()):.0f} s summed "
        f"({WORKERS} at a time; HEALTH_MATRIX_WORKERS changes it)"
    ]
    for case_id, run in sorted(runs.items(), key=lambda item: -item[1].seconds):
        exit_code = run.exit_code if isinstance(run, CaseRun) else run.next_exit_code
        lines.append(f"  {run.seconds:6.1f} s  exit {exit_code}  {case_id}")
    return lines


def quarantined_counts(db_path: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, quarantine_reason, count(*) "
            "from health.quarantined_source_rows group by all"
        ).fetchall()
    return {(table, reason): count for table, reason, count in rows}


def quarantine_details(db_path: Path) -> dict[tuple[str, str], str]:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, record_key, quarantine_detail "
            "from health.quarantined_source_rows where quarantine_detail is not null"
        ).fetchall()
    return {(table, key): detail for table, key, detail in rows}


def scored_accounts(db_path: Path) -> int:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(
            "select count(distinct account_id) from health.customer_health_scores"
        ).fetchone()[0]


def last_publish(db_path: Path) -> tuple[int, int]:
    """(publish-log rows, checks_warned of the latest publish)."""
    with duckdb.connect(str(db_path), read_only=True) as connection:
        count = connection.execute("select count(*) from health.publish_log").fetchone()[0]
        warned = connection.execute(
            "select checks_warned from health.publish_log order by published_at desc limit 1"
        ).fetchone()[0]
    return count, warned


# -------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(
    case: Case, case_runs: MatrixRuns, published_baseline: PublishedBaseline
) -> None:
    run = case_runs.cases[case.id].result(timeout=CASE_TIMEOUT_SECONDS)
    tail = run.output[-6000:]
    assert run.exit_code == case.expected_exit, f"exit {run.exit_code}\n{tail}"
    for expected in case.expected_output:
        assert expected.lower() in run.output.lower(), f"{expected!r} not named in:\n{tail}"
    if case.expected_exit != EXIT_OK:
        assert run.fingerprint == published_baseline.fingerprint, "schema health changed"
        return
    assert run.fingerprint != published_baseline.fingerprint, "nothing was published"
    quarantined = quarantined_counts(run.db_path)
    for key, count in case.quarantined.items():
        assert quarantined.get(key) == count, f"{key}: {quarantined}"
    details = quarantine_details(run.db_path) if case.quarantine_details else {}
    for key, detail in case.quarantine_details.items():
        assert details.get(key) == detail, f"{key}: {details.get(key)!r}"
    if case.scored_accounts is not None:
        assert scored_accounts(run.db_path) == case.scored_accounts
    baseline_log_rows, _ = last_publish(published_baseline.db_path)
    log_rows, warned = last_publish(run.db_path)
    assert log_rows == baseline_log_rows + 1
    assert (warned > 0) == case.expect_warnings


def test_a_second_refresh_while_one_holds_the_lock_exits_3(
    baseline_copy: Path, published_baseline: PublishedBaseline, tmp_path: Path
) -> None:
    with refresh_lock(baseline_copy):
        completed = run_refresh(baseline_copy, SAMPLE_DATA_DIR, tmp_path / "target")
    output = completed.stdout + completed.stderr
    assert completed.returncode == EXIT_LOCKED, output[-3000:]
    assert "another refresh is already running" in output
    assert health_fingerprint(baseline_copy) == published_baseline.fingerprint


def test_a_refresh_killed_during_dbt_build_changes_nothing_and_leaves_no_lock(
    case_runs: MatrixRuns, published_baseline: PublishedBaseline
) -> None:
    assert case_runs.killed is not None
    run = case_runs.killed.result(timeout=CASE_TIMEOUT_SECONDS)
    assert run.killed_exit_code == -signal.SIGKILL
    assert run.fingerprint_after_kill == published_baseline.fingerprint
    assert run.next_exit_code == EXIT_OK, run.next_output[-3000:]



def _wait_for_dbt_to_write(dbt_log: Path, process: subprocess.Popen[bytes]) -> None:
    """Until dbt has created a model in the database (so the kill lands mid-build)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the refresh ended before it could be killed"
        if dbt_log.exists() and "OK created" in dbt_log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError("dbt never started building")
