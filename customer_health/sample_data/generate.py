"""Deterministic generator of RavenStack-shaped raw tables with planted churn drivers.

Writes the five RavenStack CSVs (``ravenstack_accounts.csv``, ``ravenstack_subscriptions.csv``,
``ravenstack_feature_usage.csv``, ``ravenstack_support_tickets.csv``,
``ravenstack_churn_events.csv``) with the original file names, header rows, column order and value
formats: comma delimiter, no quoting, CRLF line endings (as in the original files), booleans
``True``/``False``, dates ``YYYY-MM-DD``, ``closed_at`` as ``YYYY-MM-DD HH:MM:SS``, floats such as
``27.0``, an empty field for NULL. Ids keep the ``A-xxxxxx`` / ``S-`` / ``U-`` / ``T-`` / ``C-`` hex
style but are a bijective scramble of a per-table counter, so they are unique (they grow wider
than 6 hex digits beyond 16,777,216 rows).

``--engagement`` adds two tables that RavenStack does not have, in the same formats:
``ravenstack_engagement_events.csv`` (``event_id`` ``E-``, ``account_id``, ``occurred_at``,
``channel``, ``event_type``, ``contact_id`` ``P-``, empty for anonymous web visits) and
``ravenstack_nps_responses.csv`` (``response_id`` ``N-``, ``account_id``, ``responded_at``,
``nps_score`` 0-10, ``contact_id``, ``comment``, often empty); timestamps as
``YYYY-MM-DD HH:MM:SS``. Their rows are drawn in engagement.py from random streams of their own
(``numpy.random.default_rng([seed, chunk, 2])``), so the five other tables are byte-identical
with or without ``--engagement``.

``--parent-share SHARE`` gives that share of the accounts a parent account: column
``parent_account_id`` is appended to the accounts (empty for the others). Parents are accounts of
the same chunk without a parent, about one for every three children, so a parent has a few
children and the hierarchy has one level, without cycles. The links come from a random stream of
their own (``numpy.random.default_rng([seed, chunk, 4])``), so every other value is byte-identical
with or without parents, and without the option the accounts have no such column.

With ``--format parquet`` each table is instead a folder ``ravenstack_<table>/`` of typed Parquet
part files (one per chunk), the append-only layout ``HEALTH_RAW_DATA_FORMAT=parquet`` reads;
``--hold-back-from DAY`` writes the usage and tickets (and engagement events and NPS responses)
dated from DAY on under ``held_back/``, to be landed later as a new day's files (the benchmark's
incremental refresh).

Same arguments give byte-identical files. Accounts are generated in chunks (vectorised numpy, one
``numpy.random.default_rng([seed, chunk])`` per chunk) and each chunk is appended to the CSVs
through DuckDB, so memory stays bounded for 1,000,000 accounts / ~100,000,000 usage rows.

Unlike the original data this data is clean: usage is dated inside a subscription of the account,
activity starts on/after signup, churned accounts go quiet after their churn date, and
``accounts.churn_flag`` is True exactly for the accounts with a churn event (one event each).
``--quirks`` injects some RavenStack-like dirt (exact-duplicate usage rows, re-used usage_ids on
rows with different content, extra tickets with an empty satisfaction_score); with
``--engagement`` also events of an unknown channel (``fax``), events dated in 2199, exact-duplicate
events and NPS responses with a score of 11.

Planted churn drivers
---------------------
Each account gets a latent risk ``r ~ Uniform(0, 1)``.

* Churn: an account churns with probability ``0.8 * r**3`` (about 20% overall; mean r of churners
  is about 0.8, of the others about 0.43). Its single churn event is dated in the last
  ``min(180, days // 4)`` days of the range, and it signed up at least ``min(180, days // 2)`` days
  earlier. It has no usage on or after the churn date and no tickets after it.
* Deterioration ramp: for a churner, ``p(t)`` grows linearly from 0 at ``churn_date - 90 days`` to
  1 at the churn date (``p = 0`` always for the other accounts). Everything below that depends on
  ``p`` therefore worsens only in the ~90 days before churn; the rest of the time usage is steady.
* Usage: rows per day ``= rate / 30.44 * level * (1 - 0.9 * p)`` (``level`` is a per-account
  lognormal around 1), so usage rows and active days fall to 10% at the churn date;
  ``usage_count ~ Poisson(10 * (1 - 0.4 * p))``.
* Errors: ``error_count ~ Poisson(0.25 + 0.8 * r + 1.5 * p)`` per usage row.
* Tickets: per-month rate ``(0.12 + 0.4 * r) * (1 + 1.5 * p)``; ``P(urgent) = 0.10 + 0.30 * r +
  0.30 * p`` (the rest split evenly over low/medium/high); ``P(escalated) = 0.02 + 0.06 * r +
  0.20 * p``; satisfaction is empty for 40% of tickets, otherwise 1-3 with probability
  ``0.10 + 0.45 * r + 0.35 * p`` and 4-5 else.
* Subscriptions: every later subscription is a downgrade (lower tier, or fewer seats on Basic)
  with probability ``0.03 + 0.45 * r`` and an upgrade with probability ``0.30 - 0.20 * r``; the
  latest (always open) subscription has ``auto_renew_flag`` True with probability
  ``0.95 - 0.80 * r`` (earlier ones 0.8).
* Engagement (``--engagement``): engagement fades and NPS falls before churn, and both are lower
  for risky accounts all along. Each account has 1 + Binomial(4, 0.35) contacts and a lognormal
  engagement ``level`` around 1; no event is dated on or after the churn date or before signup.
  Email: a campaign every 14 days to every contact (``sent`` regardless of risk, until churn);
  ``P(opened) = (0.55 - 0.30 * r) * (1 - 0.8 * p)``, and given an open ``P(clicked) =
  (0.35 - 0.20 * r) * (1 - 0.8 * p)``, ``P(replied) = (0.10 - 0.06 * r) * (1 - 0.8 * p)``.
  In-app prompts ``shown`` at ``5 * level * (1 - 0.8 * p)`` per month, ``P(clicked) = 0.40 -
  0.25 * r``; web visits at ``4 * level * (1 - 0.5 * r) * (1 - 0.8 * p)`` per month (40% without
  a contact). A business review about every 91 days, ``P(cancelled) = min(0.95, 0.08 + 0.35 * r
  + 0.50 * p)``. Community members (probability ``0.30 - 0.15 * r``) post or reply at
  ``3 * level * (1 - 0.8 * p)`` per month. About 19 events per account-month for an account
  that does not churn.
* NPS (``--engagement``): a survey about every 182 days per account, answered with probability
  ``0.95 - 0.45 * r - 0.25 * p``; ``nps_score = clip(round(9.6 - 5 * r - 4 * p + Normal(0,
  1.4)), 0, 10)``, so promoters (9-10) are common for low r and detractors (0-6) for high r and
  near churn; 30% of responses carry a comment from a fixed list for the score's bucket.

Account attributes (industry, country, referral source, plan, seats, trial) carry no signal.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import numpy as np
import pandas as pd

from customer_health.engines.duckdb_paths import write_path
from customer_health.sample_data.draws import (
    DAYS_PER_MONTH,
    add_id,
    few,
    ramp_progress,
    segments,
    thinned_days,
    weighted_choice,
)
from customer_health.sample_data.engagement import (
    EVENT_KINDS,
    EVENTS_PER_MONTH,
    NPS_COMMENTS,
    add_event_quirks,
    add_nps_quirks,
    make_engagement_events,
    make_nps_responses,
    make_profile,
)
from customer_health.sample_data.options import GeneratorOptions

LOG = logging.getLogger(__name__)
# writes one chunk's frame of a table: (table, frame, chunk index)
ChunkWriter = Callable[[str, pd.DataFrame, int], None]

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": (
        "account_id", "account_name", "industry", "country", "signup_date", "referral_source",
        "plan_tier", "seats", "is_trial", "churn_flag",
    ),
    "subscriptions": (
        "subscription_id", "account_id", "start_date", "end_date", "plan_tier", "seats",
        "mrr_amount", "arr_amount", "is_trial", "upgrade_flag", "downgrade_flag", "churn_flag",
        "billing_frequency", "auto_renew_flag",
    ),
    "feature_usage": (
        "usage_id", "subscription_id", "usage_date", "feature_name", "usage_count",
        "usage_duration_secs", "error_count", "is_beta_feature",
    ),
    "support_tickets": (
        "ticket_id", "account_id", "submitted_at", "closed_at", "resolution_time_hours",
        "priority", "first_response_time_minutes", "satisfaction_score", "escalation_flag",
    ),
    "churn_events": (
        "churn_event_id", "account_id", "churn_date", "reason_code", "refund_amount_usd",
        "preceding_upgrade_flag", "preceding_downgrade_flag", "is_reactivation", "feedback_text",
    ),
    # --engagement only
    "engagement_events": (
        "event_id", "account_id", "occurred_at", "channel", "event_type", "contact_id",
    ),
    "nps_responses": (
        "response_id", "account_id", "responded_at", "nps_score", "contact_id", "comment",
    ),
}
ENGAGEMENT_TABLES = ("engagement_events", "nps_responses")
# --parent-share only: appended to the accounts' columns
PARENT_COLUMN = "parent_account_id"
CHILDREN_PER_PARENT = 3
NEWLINE = "\r\n"

INDUSTRIES = (("DevTools", 113), ("FinTech", 112), ("Cybersecurity", 100), ("HealthTech", 96),
              ("EdTech", 79))
COUNTRIES = (("US", 291), ("UK", 58), ("IN", 49), ("AU", 32), ("DE", 25), ("CA", 23), ("FR", 22))
REFERRALS = (("organic", 114), ("other", 103), ("ads", 98), ("event", 96), ("partner", 89))
TIERS = (("Basic", 168), ("Pro", 178), ("Enterprise", 154))
PRICE_PER_SEAT = np.array([19, 49, 199], dtype=np.int64)
PRIORITIES = ("low", "medium", "high", "urgent")
REASONS = (("features", 114), ("support", 104), ("budget", 104), ("unknown", 95),
           ("competitor", 92), ("pricing", 91))
FEEDBACK = ("too expensive", "missing features", "switched to competitor")
# feedback text index per reason code; -1 = any of the three
REASON_FEEDBACK = np.array([1, -1, 0, -1, 2, 0], dtype=np.int64)
BILLING = ("monthly", "annual")
N_FEATURES = 40

# planted-driver parameters (see module docstring)
CHURN_SCALE = 0.8
RAMP_DAYS = 90
USAGE_FLOOR = 0.1
MAX_SUBSCRIPTIONS = 6
MAX_RESOLUTION_HOURS = 72
TARGET_ROWS_PER_CHUNK = 1_000_000
MAX_CHUNK_ACCOUNTS = 50_000


@dataclass(frozen=True)
class Timeline:
    """Day offsets (0 = start_date) that shape churn timing."""

    n_days: int
    churn_window: int  # churn dates fall in the last churn_window days
    min_tenure: int  # churners signed up at least min_tenure days before churning
    ramp: int  # deterioration starts ramp days before the churn date

    @classmethod
    def for_days(cls, n_days: int) -> Timeline:
        min_tenure = min(180, n_days // 2)
        return cls(n_days, max(1, min(180, n_days // 4)), min_tenure,
                   max(1, min(RAMP_DAYS, min_tenure // 2)))


@dataclass
class Counters:
    """Running id counters, carried from chunk to chunk."""

    subscriptions: int = 0
    usage: int = 0
    tickets: int = 0
    churn_events: int = 0
    engagement_events: int = 0
    nps_responses: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_COLUMNS, 0))


# ----------------------------------------------------------------------------- tables


def make_accounts(rng: np.random.Generator, first_num: int, n: int, tl: Timeline
                  ) -> pd.DataFrame:
    risk = rng.random(n)
    churned = rng.random(n) < CHURN_SCALE * risk**3
    churn_day = np.where(churned, rng.integers(tl.n_days - tl.churn_window, tl.n_days, n), -1)
    latest_signup = np.where(churned, churn_day - tl.min_tenure, tl.n_days - 1)
    signup = np.floor(rng.random(n) * (latest_signup + 1)).astype(np.int64)
    last_day = np.where(churned, churn_day - 1, tl.n_days - 1)
    first_start = np.minimum(signup + rng.integers(0, 15, n), last_day)
    seats = np.clip(np.round(rng.lognormal(math.log(15), 0.9, n)), 1, 200).astype(np.int64)
    frame = pd.DataFrame({
        "num": first_num + np.arange(n, dtype=np.int64),
        "risk": risk, "churned": churned, "churn_day": churn_day, "signup": signup,
        "first_start": first_start, "last_day": last_day,
        "industry": weighted_choice(rng, INDUSTRIES, n),
        "country": weighted_choice(rng, COUNTRIES, n),
        "referral": weighted_choice(rng, REFERRALS, n),
        "tier": weighted_choice(rng, TIERS, n), "seats": seats,
        "trial": rng.random(n) < 0.19,
        "level": rng.lognormal(-0.5 * 0.35**2, 0.35, n),
    })
    add_id(frame, "account_id", frame["num"].to_numpy(), "A")
    return frame


def subscription_starts(rng: np.random.Generator, acc: pd.DataFrame, tl: Timeline
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owner, position and strictly increasing start days (first = account's first_start)."""
    first = acc["first_start"].to_numpy()
    span = acc["last_day"].to_numpy() - first
    tenure = (span + 1) / tl.n_days
    k = np.minimum(1 + rng.binomial(MAX_SUBSCRIPTIONS - 1, 0.6 * tenure), span + 1)
    owner, pos = segments(k)
    # later starts: sorted draws y in [first+1, last-k+2], then start = y + (pos - 1)
    width = (span - k + 2)[owner]
    y = first[owner] + 1 + np.floor(rng.random(len(owner)) * width).astype(np.int64)
    y = np.where(pos == 0, -1, y)
    y = y[np.lexsort((y, owner))]
    start = np.where(pos == 0, first[owner], y + np.maximum(pos - 1, 0))
    return owner, pos, start


def plan_walk(rng: np.random.Generator, acc: pd.DataFrame, owner: np.ndarray, pos: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tier/seat path over an account's subscriptions; risky accounts downgrade more."""
    risk = acc["risk"].to_numpy()[owner]
    u = rng.random(len(owner))
    p_down = 0.03 + 0.45 * risk
    down = (pos > 0) & (u < p_down)
    up = (pos > 0) & ~down & (u < p_down + 0.30 - 0.20 * risk)
    tier = acc["tier"].to_numpy()[owner].copy()
    seats = acc["seats"].to_numpy()[owner].copy()
    for p in range(1, MAX_SUBSCRIPTIONS):  # loop over positions, vectorised over accounts
        rows = np.flatnonzero(pos == p)
        prev_tier, prev_seats = tier[rows - 1], seats[rows - 1]
        d, g = down[rows], up[rows]
        tier[rows] = prev_tier - (d & (prev_tier > 0)) + (g & (prev_tier < 2))
        fewer = np.maximum(1, np.floor(prev_seats * 0.7)).astype(np.int64)
        more = np.ceil(prev_seats * 1.3).astype(np.int64) + 1
        seats[rows] = np.where(d & (prev_tier == 0), fewer,
                               np.where(g & (prev_tier == 2), more, prev_seats))
    return tier, seats, up, down


def make_subscriptions(rng: np.random.Generator, acc: pd.DataFrame, tl: Timeline,
                       counters: Counters) -> pd.DataFrame:
    owner, pos, start = subscription_starts(rng, acc, tl)
    n = len(owner)
    latest = np.append(owner[1:] != owner[:-1], True)
    closed = ~latest & (rng.random(n) < 0.4)
    next_start = np.append(start[1:], -1)
    tier, seats, up, down = plan_walk(rng, acc, owner, pos)
    trial = (pos == 0) & acc["trial"].to_numpy()[owner]
    mrr = np.where(trial, 0, seats * PRICE_PER_SEAT[tier])
    risk = acc["risk"].to_numpy()[owner]
    p_renew = np.where(latest, 0.95 - 0.80 * risk, 0.8)
    frame = pd.DataFrame({
        "owner": owner, "pos": pos, "start": start,
        "end": np.where(closed, next_start - 1, -1), "tier": tier, "seats": seats,
        "mrr": mrr, "arr": 12 * mrr, "trial": trial, "up": up, "down": down, "closed": closed,
        "billing": (rng.random(n) < 0.49).astype(np.int64),
        "renew": rng.random(n) < p_renew, "latest": latest,
    })
    num = counters.subscriptions + np.arange(n, dtype=np.int64)
    counters.subscriptions += n
    add_id(frame, "subscription_id", num, "S")
    add_id(frame, "account_id", acc["num"].to_numpy()[owner], "A")
    return frame


def make_usage(rng: np.random.Generator, acc: pd.DataFrame, subs: pd.DataFrame, tl: Timeline,
               rate: float, counters: Counters) -> pd.DataFrame:
    churn_day = acc["churn_day"].to_numpy()
    per_day = rate / DAYS_PER_MONTH * acc["level"].to_numpy()
    owner, day = thinned_days(rng, acc["first_start"].to_numpy(), acc["last_day"].to_numpy(),
                              per_day)
    progress = ramp_progress(day, churn_day[owner], tl.ramp)
    keep = rng.random(len(owner)) < 1.0 - (1.0 - USAGE_FLOOR) * progress
    owner, day, progress = owner[keep], day[keep], progress[keep]
    order = np.lexsort((owner, day))
    owner, day, progress = owner[order], day[order], progress[order]
    # the subscription in force: the account's latest-started one with start <= day
    stride = tl.n_days + 1
    sub_key = subs["owner"].to_numpy() * stride + subs["start"].to_numpy()
    sub_row = np.searchsorted(sub_key, owner * stride + day, side="right") - 1
    n = len(owner)
    risk = acc["risk"].to_numpy()[owner]
    count = rng.poisson(10.0 * (1.0 - 0.4 * progress))
    frame = pd.DataFrame({
        "sub_row": sub_row, "day": day,
        "feature": rng.integers(1, N_FEATURES + 1, n),
        "usage_count": count,
        "duration": np.round(count * rng.gamma(2.0, 140.0, n)).astype(np.int64),
        "errors": rng.poisson(0.25 + 0.8 * risk + 1.5 * progress),
        "beta": rng.random(n) < 0.1,
    })
    num = counters.usage + np.arange(n, dtype=np.int64)
    counters.usage += n
    add_id(frame, "usage_id", num, "U")
    frame["subscription_id_hi"] = subs["subscription_id_hi"].to_numpy()[sub_row]
    frame["subscription_id_lo"] = subs["subscription_id_lo"].to_numpy()[sub_row]
    return frame


def ticket_priority(rng: np.random.Generator, p_urgent: np.ndarray) -> np.ndarray:
    u = rng.random(len(p_urgent))
    other = np.minimum(np.floor((u - p_urgent) / (1.0 - p_urgent) * 3), 2).astype(np.int64)
    return np.where(u < p_urgent, 3, other)


def make_tickets(rng: np.random.Generator, acc: pd.DataFrame, tl: Timeline,
                 counters: Counters) -> pd.DataFrame:
    churn_day = acc["churn_day"].to_numpy()
    boost = np.where(churn_day >= 0, 2.5, 1.0)  # max of (1 + 1.5 * progress)
    per_day = (0.12 + 0.4 * acc["risk"].to_numpy()) / DAYS_PER_MONTH * boost
    window_end = np.minimum(acc["last_day"].to_numpy(), tl.n_days - 1 - MAX_RESOLUTION_HOURS // 24)
    owner, day = thinned_days(rng, acc["signup"].to_numpy(), window_end, per_day)
    progress = ramp_progress(day, churn_day[owner], tl.ramp)
    keep = rng.random(len(owner)) < (1.0 + 1.5 * progress) / boost[owner]
    owner, day, progress = owner[keep], day[keep], progress[keep]
    order = np.lexsort((owner, day))
    owner, day, progress = owner[order], day[order], progress[order]
    n = len(owner)
    risk = acc["risk"].to_numpy()[owner]
    low = rng.random(n) < np.clip(0.10 + 0.45 * risk + 0.35 * progress, 0.0, 1.0)
    score = np.where(low, rng.integers(1, 4, n), rng.integers(4, 6, n))
    frame = pd.DataFrame({
        "day": day,
        "hours": np.clip(np.round(rng.lognormal(math.log(16) + 0.4 * risk, 0.75)), 1,
                         MAX_RESOLUTION_HOURS).astype(np.int64),
        "priority": ticket_priority(rng, 0.10 + 0.30 * risk + 0.30 * progress),
        "response": np.clip(np.round(rng.lognormal(math.log(40) + 0.5 * risk, 0.8)), 1,
                            180).astype(np.int64),
        "satisfaction": np.where(rng.random(n) < 0.4, 0, score),  # 0 = empty
        "escalated": rng.random(n) < 0.02 + 0.06 * risk + 0.20 * progress,
    })
    num = counters.tickets + np.arange(n, dtype=np.int64)
    counters.tickets += n
    add_id(frame, "ticket_id", num, "T")
    add_id(frame, "account_id", acc["num"].to_numpy()[owner], "A")
    return frame


def make_churn_events(rng: np.random.Generator, acc: pd.DataFrame, subs: pd.DataFrame,
                      counters: Counters) -> pd.DataFrame:
    owner = np.flatnonzero(acc["churned"].to_numpy())
    n = len(owner)
    latest = subs[subs["latest"]].set_index("owner")
    reason = weighted_choice(rng, REASONS, n)
    feedback = np.where(REASON_FEEDBACK[reason] >= 0, REASON_FEEDBACK[reason],
                        rng.integers(0, len(FEEDBACK), n))
    refund = np.where(rng.random(n) < 0.76, 0,
                      np.clip(np.round(rng.lognormal(math.log(3000), 1.0, n)), 1, 40_000))
    frame = pd.DataFrame({
        "day": acc["churn_day"].to_numpy()[owner], "reason": reason,
        "refund_cents": refund.astype(np.int64),
        "pre_up": latest["up"].to_numpy()[owner], "pre_down": latest["down"].to_numpy()[owner],
        "feedback": np.where(rng.random(n) < 0.25, -1, feedback),  # -1 = empty
    })
    num = counters.churn_events + np.arange(n, dtype=np.int64)
    counters.churn_events += n
    add_id(frame, "churn_event_id", num, "C")
    add_id(frame, "account_id", acc["num"].to_numpy()[owner], "A")
    return frame


# ----------------------------------------------------------------------------- quirks


def add_usage_quirks(rng: np.random.Generator, usage: pd.DataFrame) -> pd.DataFrame:
    """Re-use some usage_ids on rows with other content, then duplicate some rows exactly."""
    n, m = len(usage), few(len(usage))
    if m == 0:
        return usage
    src, dst = rng.choice(n, size=(2, m), replace=False)
    same = (usage["sub_row"].to_numpy()[src] == usage["sub_row"].to_numpy()[dst]) & (
        usage["day"].to_numpy()[src] == usage["day"].to_numpy()[dst])
    src, dst = src[~same], dst[~same]
    for part in ("usage_id_hi", "usage_id_lo"):
        values = usage[part].to_numpy().copy()
        values[dst] = values[src]
        usage[part] = values
    rows = np.sort(np.concatenate([np.arange(n), rng.choice(n, size=m, replace=False)]))
    return usage.iloc[rows].reset_index(drop=True)


def add_ticket_quirks(rng: np.random.Generator, tickets: pd.DataFrame) -> pd.DataFrame:
    """Blank the satisfaction_score of a few tickets that had one."""
    scored = np.flatnonzero(tickets["satisfaction"].to_numpy() > 0)
    m = few(len(scored))
    if m:
        values = tickets["satisfaction"].to_numpy().copy()
        values[rng.choice(scored, size=m, replace=False)] = 0
        tickets["satisfaction"] = values
    return tickets


# ----------------------------------------------------------------------------- writing


def sql_id(column: str, prefix: str) -> str:
    high, low = f"{column}_hi", f"{column}_lo"
    return (f"'{prefix}-' || CASE WHEN {high} > 0 THEN lower(to_hex({high})) ELSE '' END"
            f" || lpad(lower(to_hex({low})), 6, '0')")


def sql_bool_value(column: str, typed: bool = False) -> str:
    if typed:
        return f"CAST({column} AS BOOLEAN)"
    return f"CASE WHEN {column} THEN 'True' ELSE 'False' END"


def sql_label(column: str, labels: Sequence[str] | Sequence[tuple[str, int]]) -> str:
    names = [x[0] if isinstance(x, tuple) else x for x in labels]
    return "[" + ", ".join(f"'{name}'" for name in names) + f"][{column} + 1]"


def select_sql(table: str, start: dt.date, typed: bool = False, parents: bool = False) -> str:
    """SELECT that formats a chunk frame like the RavenStack CSV columns.

    typed=False: values formatted exactly as in the CSV files (booleans 'True'/'False').
    typed=True: the same columns with Parquet types (BOOLEAN, DATE, TIMESTAMP, BIGINT, DOUBLE).
    parents: the accounts also have parent_account_id (empty for an account without a parent).
    """
    day0 = f"DATE '{start.isoformat()}'"
    at = f"CAST({day0} AS TIMESTAMP) + to_seconds(seconds)"

    def sql_bool(column: str) -> str:
        return sql_bool_value(column, typed)

    exprs: dict[str, list[str]] = {
        "accounts": [
            sql_id("account_id", "A"), "'Company_' || num", sql_label("industry", INDUSTRIES),
            sql_label("country", COUNTRIES), f"{day0} + signup::INTEGER",
            sql_label("referral", REFERRALS), sql_label("tier", TIERS), "seats",
            sql_bool("trial"), sql_bool("churned"),
        ],
        "subscriptions": [
            sql_id("subscription_id", "S"), sql_id("account_id", "A"),
            f"{day0} + start::INTEGER",
            f"CASE WHEN \"end\" >= 0 THEN {day0} + \"end\"::INTEGER END",
            sql_label("tier", TIERS), "seats", "mrr", "arr", sql_bool("trial"), sql_bool("up"),
            sql_bool("down"), sql_bool("closed"), sql_label("billing", BILLING),
            sql_bool("renew"),
        ],
        "feature_usage": [
            sql_id("usage_id", "U"), sql_id("subscription_id", "S"), f"{day0} + day::INTEGER",
            "'feature_' || feature", "usage_count", "duration", "errors", sql_bool("beta"),
        ],
        "support_tickets": [
            sql_id("ticket_id", "T"), sql_id("account_id", "A"), f"{day0} + day::INTEGER",
            f"CAST({day0} AS TIMESTAMP) + to_hours(day * 24 + hours)", "hours::DOUBLE",
            sql_label("priority", PRIORITIES), "response",
            "CASE WHEN satisfaction > 0 THEN satisfaction::DOUBLE END", sql_bool("escalated"),
        ],
        "churn_events": [
            sql_id("churn_event_id", "C"), sql_id("account_id", "A"), f"{day0} + day::INTEGER",
            sql_label("reason", REASONS), "refund_cents::DOUBLE / 100", sql_bool("pre_up"),
            sql_bool("pre_down"), "false" if typed else "'False'",
            f"CASE WHEN feedback >= 0 THEN {sql_label('feedback', FEEDBACK)} END",
        ],
        "engagement_events": [
            sql_id("event_id", "E"), sql_id("account_id", "A"), at,
            sql_label("kind", [channel for channel, _ in EVENT_KINDS]),
            sql_label("kind", [event_type for _, event_type in EVENT_KINDS]),
            f"CASE WHEN contact >= 0 THEN {sql_id('contact_id', 'P')} END",
        ],
        "nps_responses": [
            sql_id("response_id", "N"), sql_id("account_id", "A"), at, "score",
            sql_id("contact_id", "P"),
            f"CASE WHEN comment >= 0 THEN {sql_label('comment', NPS_COMMENTS)} END",
        ],
    }
    if parents:
        exprs["accounts"].append(
            f"CASE WHEN parent_num >= 0 THEN {sql_id(PARENT_COLUMN, 'A')} END")
    columns = table_columns(table, parents)
    return "SELECT " + ", ".join(
        f"{expr} AS {name}" for expr, name in zip(exprs[table], columns, strict=True)
    ) + " FROM chunk"


def table_columns(table: str, parents: bool) -> tuple[str, ...]:
    """A table's columns: the accounts' with parent_account_id when `parents`."""
    if parents and table == "accounts":
        return (*TABLE_COLUMNS[table], PARENT_COLUMN)
    return TABLE_COLUMNS[table]


def csv_name(table: str) -> str:
    return f"ravenstack_{table}.csv"


def table_folder(table: str) -> str:
    return f"ravenstack_{table}"


# Parquet: the column whose date decides whether a row is held back (--hold-back-from)
HOLD_BACK_DATE_COLUMNS = {"feature_usage": "usage_date", "support_tickets": "submitted_at",
                          "engagement_events": "occurred_at", "nps_responses": "responded_at"}
HELD_BACK_DIR = "held_back"


def write_parquet_chunk(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
                        options: GeneratorOptions, index: int) -> None:
    """Write a chunk as part file ``<out>/ravenstack_<table>/part-<index>.parquet`` (typed).

    With options.hold_back_from, usage, ticket, engagement and NPS rows dated on or after it go
    to the same path under ``<out>/held_back/`` instead: data that lands later (benchmark's
    incremental day).
    """
    if frame.empty:
        return
    select = select_sql(table, options.start_date, typed=True, parents=options.parent_share > 0)
    targets = [(options.out_dir, "true")]
    date_column = HOLD_BACK_DATE_COLUMNS.get(table)
    if options.hold_back_from and date_column:
        cutoff = f"CAST({date_column} AS DATE) >= DATE '{options.hold_back_from.isoformat()}'"
        targets = [(options.out_dir, f"NOT ({cutoff})"), (options.out_dir / HELD_BACK_DIR, cutoff)]
    con.register("chunk", frame)
    try:
        for root, condition in targets:
            folder = root / table_folder(table)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"part-{index:05d}.parquet"
            con.execute(f"COPY (SELECT * FROM ({select}) WHERE {condition}) "
                        f"TO {write_path(path)} (FORMAT parquet)")
    finally:
        con.unregister("chunk")


def append_csv(con: duckdb.DuckDBPyConnection, select: str, frame: pd.DataFrame, part: Path,
               handle: IO[bytes]) -> None:
    """Format a chunk frame with `select` (over view ``chunk``) into the part file, in the CSV
    format of the RavenStack files (comma, no header, CRLF), and append its bytes to the open CSV.
    """
    if frame.empty:
        return
    con.register("chunk", frame)
    try:
        con.execute(f"COPY ({select}) TO {write_path(part)} "
                    "(FORMAT csv, HEADER false, DELIMITER ',', NEW_LINE '\\r\\n')")
    finally:
        con.unregister("chunk")
    with part.open("rb") as src:
        shutil.copyfileobj(src, handle)
    part.unlink()


def append_chunk(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
                 options: GeneratorOptions, handle: IO[bytes]) -> None:
    """Format a chunk with DuckDB into a part file and append its bytes to the open CSV."""
    append_csv(con, select_sql(table, options.start_date, parents=options.parent_share > 0), frame,
               options.out_dir / f".{csv_name(table)}.part", handle)


@contextmanager
def open_csvs(out_dir: Path, headers: dict[str, Sequence[str]]) -> Iterator[dict[str, IO[bytes]]]:
    """One open CSV per file name in `headers`, its header row written; all closed on exit."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        handles = {name: stack.enter_context((out_dir / name).open("wb")) for name in headers}
        for name, handle in handles.items():
            handle.write((",".join(headers[name]) + NEWLINE).encode())
        yield handles


# ----------------------------------------------------------------------------- driver


def chunk_size(options: GeneratorOptions) -> int:
    if options.chunk_accounts:
        return options.chunk_accounts
    # with --engagement the events dominate; they bound the chunk instead of the usage rows
    per_month = options.usage_rate + (EVENTS_PER_MONTH if options.engagement else 0.0)
    rows_per_account = per_month * options.n_days / DAYS_PER_MONTH
    return int(min(MAX_CHUNK_ACCOUNTS,
                   max(1_000, TARGET_ROWS_PER_CHUNK // max(rows_per_account, 1.0))))


def make_chunk(options: GeneratorOptions, tl: Timeline, index: int, first: int, n: int,
               counters: Counters) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng([options.seed, index])
    acc = make_accounts(rng, first, n, tl)
    subs = make_subscriptions(rng, acc, tl, counters)
    usage = make_usage(rng, acc, subs, tl, options.usage_rate, counters)
    tickets = make_tickets(rng, acc, tl, counters)
    churn = make_churn_events(rng, acc, subs, counters)
    if options.quirks:
        quirk_rng = np.random.default_rng([options.seed, index, 1])
        usage = add_usage_quirks(quirk_rng, usage)
        tickets = add_ticket_quirks(quirk_rng, tickets)
    tables = {"accounts": acc, "subscriptions": subs, "feature_usage": usage,
              "support_tickets": tickets, "churn_events": churn}
    if options.engagement:
        tables.update(make_engagement_chunk(options, tl, index, acc, counters))
    if options.parent_share > 0:
        add_parents(np.random.default_rng([options.seed, index, 4]), acc, options.parent_share)
    return tables


def add_parents(rng: np.random.Generator, acc: pd.DataFrame, share: float) -> None:
    """Give about `share` of the chunk's accounts a parent (column parent_num, -1 for none):
    one of about n_children / CHILDREN_PER_PARENT accounts of the chunk that have no parent."""
    n = len(acc)
    is_child = rng.random(n) < share
    candidates = np.flatnonzero(~is_child)
    n_parents = min(len(candidates), max(1, round(is_child.sum() / CHILDREN_PER_PARENT)))
    parent_num = np.full(n, -1, dtype=np.int64)
    if n_parents and is_child.any():
        parents = rng.choice(candidates, size=n_parents, replace=False)
        chosen = parents[rng.integers(0, n_parents, int(is_child.sum()))]
        parent_num[is_child] = acc["num"].to_numpy()[chosen]
    acc["parent_num"] = parent_num
    add_id(acc, PARENT_COLUMN, np.maximum(parent_num, 0), "A")


def make_engagement_chunk(options: GeneratorOptions, tl: Timeline, index: int, acc: pd.DataFrame,
                          counters: Counters) -> dict[str, pd.DataFrame]:
    """The engagement tables of a chunk, from their own random streams (so that the other
    tables are the same with or without --engagement)."""
    rng = np.random.default_rng([options.seed, index, 2])
    prof = make_profile(rng, acc)
    events = make_engagement_events(rng, acc, prof, tl, counters)
    responses = make_nps_responses(rng, acc, prof, tl, counters)
    if options.quirks:
        quirk_rng = np.random.default_rng([options.seed, index, 3])
        events = add_event_quirks(quirk_rng, events, options.start_date)
        responses = add_nps_quirks(quirk_rng, responses)
    return {"engagement_events": events, "nps_responses": responses}


def written_tables(options: GeneratorOptions) -> tuple[str, ...]:
    """The tables a generation writes: the engagement tables only with options.engagement."""
    return tuple(t for t in TABLE_COLUMNS if options.engagement or t not in ENGAGEMENT_TABLES)


def generate(options: GeneratorOptions,
             on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write the tables into options.out_dir (five, or seven with options.engagement); return
    the number of data rows per table.

    on_progress(accounts_done) is called after each chunk, for a progress display.
    """
    began = time.perf_counter()
    timeline, size = Timeline.for_days(options.n_days), chunk_size(options)
    counters = Counters(rows=dict.fromkeys(written_tables(options), 0))
    writer = parquet_writer if options.file_format == "parquet" else csv_writer
    with duckdb.connect() as con, writer(con, options) as write:
        for index, first in enumerate(range(0, options.accounts, size)):
            n = min(size, options.accounts - first)
            for table, frame in make_chunk(options, timeline, index, first, n, counters).items():
                write(table, frame, index)
                counters.rows[table] += len(frame)
            LOG.debug("chunk %d: accounts %d-%d done", index, first, first + n - 1)
            if on_progress:
                on_progress(first + n)
    LOG.info("wrote %s to %s in %.2fs", ", ".join(f"{t}={n}" for t, n in counters.rows.items()),
             options.out_dir, time.perf_counter() - began)
    return counters.rows


@contextmanager
def csv_writer(con: duckdb.DuckDBPyConnection, options: GeneratorOptions
               ) -> Iterator[ChunkWriter]:
    """One CSV per table, header first, chunks appended; the files are closed on exit.

    The CSV of a table not written (an engagement table without options.engagement) is removed,
    so that the folder holds one generation.
    """
    tables = written_tables(options)
    for table in TABLE_COLUMNS.keys() - tables:
        (options.out_dir / csv_name(table)).unlink(missing_ok=True)
    parents = options.parent_share > 0
    headers = {csv_name(t): table_columns(t, parents) for t in tables}
    with open_csvs(options.out_dir, headers) as handles:
        yield lambda table, frame, _index: append_chunk(con, table, frame, options,
                                                        handles[csv_name(table)])


@contextmanager
def parquet_writer(con: duckdb.DuckDBPyConnection, options: GeneratorOptions
                   ) -> Iterator[ChunkWriter]:
    """A folder of Parquet part files per table, one part per chunk (old folders removed, also
    those of tables not written)."""
    for table in TABLE_COLUMNS:
        for root in (options.out_dir, options.out_dir / HELD_BACK_DIR):
            shutil.rmtree(root / table_folder(table), ignore_errors=True)
    yield lambda table, frame, index: write_parquet_chunk(con, table, frame, options, index)
