"""The contract document's Markdown: one table per raw table, cells on one line with pipes
escaped, and the key and required columns labelled."""

from __future__ import annotations

from customer_health.contract import contract_markdown
from customer_health.dbt_project import RawColumn, RawTable

ACCOUNTS = RawTable(
    "crm", "accounts", "crm_export", "raw",
    columns=(
        RawColumn("account_id", "varchar", "The id.", required=True, key=True),
        RawColumn("signup_date", "date", "The day\n  it signed up.", required=True),
        RawColumn("region", "varchar", "Region | area; null when unknown."),
    ),
    description="One row per account.",
    declared_in="models/staging/crm/_crm__sources.yml",
)


def test_a_table_per_raw_table_with_its_identifier_and_labelled_columns() -> None:
    lines = contract_markdown([ACCOUNTS]).splitlines()

    start = lines.index("## crm.accounts")
    assert lines[start + 2] == "One row per account."
    assert "`crm_export`" in lines[start + 4]
    assert "models/staging/crm/_crm__sources.yml" in lines[start + 4]
    assert lines[start + 8:] == [
        "| `account_id` | varchar | yes (key) | The id. |",
        "| `signup_date` | date | yes | The day it signed up. |",
        "| `region` | varchar | no | Region \\| area; null when unknown. |",
    ]
