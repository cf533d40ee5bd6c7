"""What the sample-data generator writes, and where (see generate.py and contracts.py for how).

Plain data with no numpy or pandas imports, so that the command line builds it cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from customer_health.errors import BadInputError

# ravenstack: the five RavenStack tables over a date range (generate.py); contracts: one snapshot
# of customers and their contracts, churn an outcome column (contracts.py).
SHAPES = ("ravenstack", "contracts")
# csv: one ravenstack_<table>.csv per table; parquet: a folder of typed part files per table.
FILE_FORMATS = ("csv", "parquet")
# The churn timeline needs room: churn in the last quarter, a tenure before it, a ramp before it.
MIN_RANGE_DAYS = 60


@dataclass(frozen=True, kw_only=True)
class GeneratorOptions:
    """Generator settings; the same options always produce byte-identical files.

    usage_rate: usage rows per account-month for a healthy account. quirks: inject
    RavenStack-like dirt. chunk_accounts: accounts per chunk (default: derived from usage_rate
    and the range). hold_back_from (parquet only): usage, tickets, engagement events and NPS
    responses dated on or after it go to <out_dir>/held_back/, data that lands later.
    engagement: also write the engagement events and NPS responses (the other tables are
    unchanged). parent_share: the share of accounts given a parent account (column
    parent_account_id of the accounts, written only when above 0; see generate.py).
    """

    out_dir: Path
    accounts: int = 500
    seed: int = 42
    start_date: dt.date = dt.date(2023, 1, 1)
    end_date: dt.date = dt.date(2024, 12, 31)
    usage_rate: float = 2.0
    quirks: bool = False
    chunk_accounts: int | None = None
    file_format: str = FILE_FORMATS[0]
    hold_back_from: dt.date | None = None
    engagement: bool = False
    parent_share: float = 0.0

    def __post_init__(self) -> None:
        """Refuse settings the generator cannot honour (bad input, exit 4)."""
        if self.n_days < MIN_RANGE_DAYS:
            raise BadInputError(
                f"the date range {self.start_date}..{self.end_date} covers {self.n_days} days; "
                f"it must cover at least {MIN_RANGE_DAYS} (--end-date at least "
                f"{MIN_RANGE_DAYS - 1} days after --start-date)"
            )
        if self.file_format not in FILE_FORMATS:
            raise BadInputError(
                f"unknown file format {self.file_format!r}: choose {' or '.join(FILE_FORMATS)}"
            )
        if not 0.0 <= self.parent_share < 1.0:
            raise BadInputError(
                f"the share of accounts with a parent must be >= 0 and < 1, got {self.parent_share}"
            )
        if self.hold_back_from and self.file_format != "parquet":
            raise BadInputError("holding back rows (--hold-back-from) needs --format parquet")

    @property
    def n_days(self) -> int:
        return (self.end_date - self.start_date).days + 1


# Where the contracts example deployment keeps its data, relative to the project folder.
CONTRACTS_DATA_DIR = Path("deployments") / "contracts_example" / "data"
# Customers signed up at most this many days (about six years) before the snapshot, and not
# before the project's earliest plausible date (var plausible_dates in dbt_project.yml).
MAX_TENURE_DAYS = 6 * 365
EARLIEST_SIGNUP = dt.date(1990, 1, 1)


@dataclass(frozen=True, kw_only=True)
class ContractsOptions:
    """Settings of the contracts shape; the same options always produce byte-identical files.

    snapshot_date: the day the customers and contracts are a snapshot of (churn is observed in
    the 90 days after it). chunk_customers: customers per chunk (default: one chunk up to 50,000).
    """

    out_dir: Path
    customers: int = 5_000
    seed: int = 42
    snapshot_date: dt.date = dt.date(2024, 12, 31)
    chunk_customers: int | None = None

    def __post_init__(self) -> None:
        """Refuse settings the generator cannot honour (bad input, exit 4)."""
        if self.customers < 1:
            raise BadInputError(f"the number of customers must be >= 1, got {self.customers}")
        if self.chunk_customers is not None and self.chunk_customers < 1:
            raise BadInputError(f"customers per chunk must be >= 1, got {self.chunk_customers}")
        earliest = EARLIEST_SIGNUP + dt.timedelta(days=MAX_TENURE_DAYS)
        if self.snapshot_date < earliest:
            raise BadInputError(f"the snapshot date {self.snapshot_date} would put signups before "
                                f"{EARLIEST_SIGNUP}; choose {earliest} or later")
