"""Parent accounts: generated accounts with parents (one made its own parent, two each other's,
one given a parent that is no account, a parent and a child signed up after the as-of date, so
not scored) refreshed on DuckDB; the published rollup is what pandas
computes from the published account scores, and the bad links are quarantined. The sample,
without the column, publishes an empty rollup."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from helpers.project import output_of, run_refresh

from customer_health.sample_data import generate as gsd
from customer_health.sample_data.options import GeneratorOptions
from customer_health.settings import PROJECT_DIR

ACCOUNTS = 300
PARENTS = "health.customer_health_parent_scores"
NOT_AN_ACCOUNT = "H-holding"
# after the data's last date: an account signed up then is not scored
LATE_SIGNUP = "2025-06-30"


def read_published(db_path: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(db_path), read_only=True) as connection:
        return connection.execute(sql).df()


def edit_accounts(accounts_csv: Path) -> dict[str, str]:
    """Make one account its own parent, two each other's and give one a parent that is no
    account, all among accounts without a parent or children, and sign a parent and another
    family's child up late; return the accounts with broken links -> their reason."""
    with accounts_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or []), list(reader)
    parents = {row["parent_account_id"] for row in rows}
    free = [row for row in rows
            if not row["parent_account_id"] and row["account_id"] not in parents]
    own, first, second, orphan = free[:4]
    own["parent_account_id"] = own["account_id"]
    first["parent_account_id"], second["parent_account_id"] = (
        second["account_id"], first["account_id"])
    orphan["parent_account_id"] = NOT_AN_ACCOUNT
    late_parent = next(row for row in rows if row["account_id"] in parents)
    late_child = next(row for row in rows if row["parent_account_id"] in parents - {
        "", late_parent["account_id"]})
    late_parent["signup_date"] = late_child["signup_date"] = LATE_SIGNUP
    with accounts_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return {own["account_id"]: "self_parent", first["account_id"]: "cyclic_parent",
            second["account_id"]: "cyclic_parent"}


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """Generated data with parents and broken links, refreshed: (database, raw folder, the
    accounts whose links are broken -> their quarantine reason)."""
    folder = tmp_path_factory.mktemp("parent_scores")
    raw = folder / "raw"
    gsd.generate(GeneratorOptions(out_dir=raw, accounts=ACCOUNTS, seed=7, parent_share=0.3))
    broken = edit_accounts(raw / "ravenstack_accounts.csv")
    db_path = folder / "customer_health.duckdb"
    completed = run_refresh(db_path, raw, folder / "target")
    assert completed.returncode == 0, output_of(completed)
    return db_path, raw, broken


def rounded(value: float, digits: int) -> float:
    """Half away from zero, as the project's round_number macro rounds."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP))


def expected_rollup(accounts: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """The rollup recomputed: per parent, the children and the parent itself when it is an
    account, their scores weighted by MRR (equally when it sums to 0)."""
    rows = []
    account_ids = set(accounts["account_id"])
    for parent, children in accounts[accounts["parent_account_id"] != ""].groupby(
            "parent_account_id"):
        members = {*children["account_id"], *({parent} & account_ids)}
        scored = scores[scores["account_id"].isin(members)]
        if scored.empty:
            continue
        mrr = scored["mrr_amount"].sum()
        score = ((scored["health_score"] * scored["mrr_amount"]).sum() / mrr if mrr > 0
                 else scored["health_score"].mean())
        scored_children = scored[scored["account_id"] != parent].sort_values(
            ["health_score", "account_id"])
        weakest = scored_children.iloc[0] if len(scored_children) else None
        rows.append({
            "parent_account_id": parent,
            "is_parent_scored": parent in set(scored["account_id"]),
            "health_score": rounded(score, 1),
            "child_accounts": len(children),
            "scored_child_accounts": len(scored_children),
            "total_mrr_amount": rounded(mrr, 2),
            "is_equal_weighted": bool(mrr == 0),
            "weakest_child_account_id": None if weakest is None else weakest["account_id"],
            "weakest_child_health_score": None if weakest is None else weakest["health_score"],
            "child_account_ids": ", ".join(sorted(children["account_id"])),
        })
    return pd.DataFrame(rows).sort_values("parent_account_id").reset_index(drop=True)


def test_the_rollup_is_the_mrr_weighted_score_of_each_family(refreshed) -> None:
    db_path, raw, broken = refreshed
    accounts = pd.read_csv(raw / "ravenstack_accounts.csv", dtype=str, keep_default_na=False)
    accounts = accounts[~accounts["account_id"].isin(broken)]
    scores = read_published(
        db_path, "select account_id, health_score, mrr_amount from health.customer_health_scores")
    expected = expected_rollup(accounts, scores)
    published = read_published(db_path, f"select * from {PARENTS} order by parent_account_id")

    assert published["as_of_date"].nunique() == 1
    pd.testing.assert_frame_equal(
        published[expected.columns].astype(object), expected.astype(object), check_dtype=False)
    # the data exercises every case: unscored children, unscored parents, a parent no account
    assert (published["scored_child_accounts"] < published["child_accounts"]).any()
    assert (~published["is_parent_scored"]).any() and published["is_parent_scored"].any()
    assert NOT_AN_ACCOUNT in set(published["parent_account_id"])
    assert published.loc[published["parent_account_id"] == NOT_AN_ACCOUNT,
                         "parent_account_name"].isna().all()


def test_the_rollup_is_graded_like_the_accounts(refreshed) -> None:
    db_path, _, _ = refreshed
    grades = pd.read_csv(PROJECT_DIR / "seeds" / "grading_scheme.csv").sort_values("min_score")
    published = read_published(db_path, f"select health_score, grade, status from {PARENTS}")
    for row in published.itertuples():
        reached = grades[grades["min_score"] <= row.health_score].iloc[-1]
        assert (row.grade, row.status) == (reached["grade"], reached["status"]), row


def test_self_and_cyclic_parents_are_quarantined(refreshed) -> None:
    db_path, _, broken = refreshed
    quarantined = read_published(
        db_path, "select record_key, quarantine_reason from health.quarantined_source_rows "
                 "where table_name = 'accounts'")
    assert dict(zip(quarantined["record_key"], quarantined["quarantine_reason"],
                    strict=True)) == broken
    linked = read_published(db_path, f"select parent_account_id, child_account_ids from {PARENTS}")
    for account in broken:
        assert account not in set(linked["parent_account_id"])
        assert not linked["child_account_ids"].str.contains(account).any()


def test_the_sample_without_parents_publishes_an_empty_rollup(published_baseline) -> None:
    assert read_published(published_baseline.db_path, f"select count(*) n from {PARENTS}")[
        "n"].tolist() == [0]
