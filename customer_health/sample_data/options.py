"""What the sample-data generator writes, and where (see generate.py for how).

Plain data with no numpy or pandas imports, so that the command line builds it cheaply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from customer_health.errors import BadInputError

# csv: one ravenstack_<table>.csv per table; parquet: a folder of typed part files per table.
FILE_FORMATS = ("csv", "parquet")
# The churn timeline needs room: churn in the last quarter, a tenure before it, a ramp before it.
MIN_RANGE_DAYS = 60


@dataclass(frozen=True, kw_only=True)
class GeneratorOptions:
    """Generator settings; the same options always produce byte-identical files.

    usage_rate: usage rows per account-month for a healthy account. quirks: inject
    RavenStack-like dirt. chunk_accounts: accounts per chunk (default: derived from usage_rate
    and the range). hold_back_from (parquet only): usage and tickets dated on or after it go to
    <out_dir>/held_back/, data that lands later.
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
        if self.hold_back_from and self.file_format != "parquet":
            raise BadInputError("holding back rows (--hold-back-from) needs --format parquet")

    @property
    def n_days(self) -> int:
        return (self.end_date - self.start_date).days + 1
