"""Deterministic generator of a contracts-shaped snapshot (``health generate --shape contracts``).

A subscription business in the telecom / SaaS-contract style: one snapshot of its customers and
their contracts on a snapshot day, with no product-usage system, no support tickets and no
churn-event log. Churn is an outcome column, observed after the snapshot. Two CSVs:

* ``customers.csv``: one row per customer: ``account_id, account_name, signup_date, country,
  industry, payment_method, senior_customer, churned``. ``churned`` (``Yes``/``No``) says whether
  the customer churned in the 90 days after the snapshot day.
* ``contracts.csv``: the customer's current contract (``end_date`` empty), and for about 30 % of
  the customers with a year's tenure or more an earlier contract that ended the day before it:
  ``subscription_id, account_id, start_date, end_date, plan_tier, seats, mrr_amount,
  contract_type, billing_frequency, auto_renew_flag, is_trial, internet_service, tech_support``.

The names and formats of the columns the project's raw contract knows (crm.accounts,
billing.subscriptions) are those of the RavenStack files (generate.py): comma delimiter, no
quoting, CRLF line endings, dates ``YYYY-MM-DD``, booleans ``True``/``False``, floats such as
``27.0``, an empty field for NULL, ids ``A-xxxxxx`` / ``S-xxxxxx``. The optional columns a
RavenStack table has (referral_source, arr_amount, upgrade_flag, downgrade_flag, churn_flag) are
not written.

Same options give byte-identical files: customers are generated in chunks (vectorised numpy, one
``numpy.random.default_rng([seed, chunk])`` per chunk) and appended to the CSVs through DuckDB.

Customers and contracts
-----------------------
* Tenure (days from signup to the snapshot): with probability 0.3 ``Exponential(240 days)``,
  else ``Uniform(0, 6 years)``, capped at 6 years: many recent customers, the rest spread out.
* Contract type (current contract), ``f = tenure / 6 years``: ``P(two-year) = 0.05 + 0.40 f``,
  ``P(one-year) = 0.15 + 0.15 f``, month-to-month else (about 20 % / 21 % / 59 %). Month-to-month
  contracts bill monthly; term contracts annually with probability 0.45.
* Plan tier Basic / Pro / Enterprise (45 / 35 / 20 %); seats ``Geometric(0.6 / 0.4 / 0.2)`` by tier;
  internet service DSL / Fiber optic / No (34 / 44 / 22 %); tech support on 35 % of those with
  internet service. MRR per seat: tier 20 / 35 / 55 USD, plus 10 (DSL) or 25 (Fiber optic), plus
  5 with tech support; less 5 % (one-year) or 10 % (two-year); times ``Uniform(0.95, 1.05)``;
  rounded to 0.05 USD. Half the month-to-month customers of under 30 days are on a trial
  (``is_trial``, MRR 0.0).
* Earlier contract: it started on the signup day and ended the day before the current one started
  (which is 180 days after signup to 30 days before the snapshot); one-year if the current one is
  month-to-month, else month-to-month; its tier is one step off with probability 0.3.
* Country, industry, senior_customer (16 %), auto_renew_flag (80 %) and the payment method
  (electronic check 34 %, mailed check 23 %, bank transfer 22 %, credit card 21 %) are drawn
  independently.

Planted churn signal
--------------------
Each customer churns in the 90 days after the snapshot with probability ``sigmoid(z)``::

    z = 0.35 + contract - 0.45 * ln(1 + tenure_months) + 0.8 * [electronic check]
        + 0.4 * ln(list_mrr / 100 USD)

with ``contract`` 0 (month-to-month), -1.5 (one-year), -2.8 (two-year) and ``list_mrr`` the
current contract's MRR before a trial's zero (median about 68 USD). That is about 24 % churn
overall: about 37 % of month-to-month, 11 % of one-year and 3 % of two-year customers; 39 % of
those under a year's tenure, 20 % of those with one to four years and 10 % of those over four
years; 32 % of electronic-check payers against 20 % of the others. Plan tier, seats and services
matter only through the MRR; country, industry, senior_customer, auto_renew_flag and billing
frequency carry no signal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd

from customer_health.sample_data.generate import (
    COUNTRIES,
    INDUSTRIES,
    add_id,
    append_csv,
    open_csvs,
    sql_bool_value,
    sql_id,
    sql_label,
    weighted_choice,
)
from customer_health.sample_data.options import MAX_TENURE_DAYS, ContractsOptions

LOG = logging.getLogger(__name__)

FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers.csv": (
        "account_id", "account_name", "signup_date", "country", "industry", "payment_method",
        "senior_customer", "churned",
    ),
    "contracts.csv": (
        "subscription_id", "account_id", "start_date", "end_date", "plan_tier", "seats",
        "mrr_amount", "contract_type", "billing_frequency", "auto_renew_flag", "is_trial",
        "internet_service", "tech_support",
    ),
}
CHURN_WINDOW_DAYS = 90  # churned = churned within this many days after the snapshot
MAX_CHUNK_CUSTOMERS = 50_000
DAYS_PER_MONTH = 30.4375

CONTRACT_TYPES = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS = (("electronic check", 34), ("mailed check", 23), ("bank transfer", 22),
                   ("credit card", 21))
TIERS = (("Basic", 45), ("Pro", 35), ("Enterprise", 20))
INTERNET = (("DSL", 34), ("Fiber optic", 44), ("No", 22))
BILLING = ("monthly", "annual")

# customers and contracts (see module docstring)
NEW_CUSTOMER_SHARE = 0.3
NEW_CUSTOMER_MEAN_DAYS = 240
SEAT_P = np.array([0.6, 0.4, 0.2])
TIER_CENTS = np.array([2000, 3500, 5500], dtype=np.int64)
INTERNET_CENTS = np.array([1000, 2500, 0], dtype=np.int64)
TECH_SUPPORT_CENTS = 500
TERM_DISCOUNT = np.array([1.0, 0.95, 0.90])
EARLIER_CONTRACT_SHARE = 0.3
TRIAL_DAYS = 30

# planted churn signal (see module docstring)
CHURN_BASE = 0.35
CONTRACT_EFFECT = np.array([0.0, -1.5, -2.8])
TENURE_EFFECT = -0.45  # per ln(1 + tenure in months)
ECHECK_EFFECT = 0.8
MRR_EFFECT = 0.4  # per ln(list MRR / 100 USD)
MRR_REFERENCE_CENTS = 10_000


def churn_probability(contract: np.ndarray, tenure_days: np.ndarray, echeck: np.ndarray,
                      list_mrr_cents: np.ndarray) -> np.ndarray:
    """The planted latent churn probability (module docstring)."""
    z = (CHURN_BASE + CONTRACT_EFFECT[contract]
         + TENURE_EFFECT * np.log1p(tenure_days / DAYS_PER_MONTH)
         + ECHECK_EFFECT * echeck
         + MRR_EFFECT * np.log(np.maximum(list_mrr_cents, 1) / MRR_REFERENCE_CENTS))
    return 1.0 / (1.0 + np.exp(-z))


def draw_tenure(rng: np.random.Generator, n: int) -> np.ndarray:
    recent = rng.exponential(NEW_CUSTOMER_MEAN_DAYS, n)
    spread = rng.random(n) * (MAX_TENURE_DAYS + 1)
    days = np.where(rng.random(n) < NEW_CUSTOMER_SHARE, recent, spread)
    return np.minimum(np.floor(days), MAX_TENURE_DAYS).astype(np.int64)


def draw_contract_type(rng: np.random.Generator, tenure: np.ndarray) -> np.ndarray:
    f = tenure / MAX_TENURE_DAYS
    p_two, p_one = 0.05 + 0.40 * f, 0.15 + 0.15 * f
    u = rng.random(len(tenure))
    return np.where(u < p_two, 2, np.where(u < p_two + p_one, 1, 0))


def list_mrr_cents(rng: np.random.Generator, tier: np.ndarray, seats: np.ndarray,
                   internet: np.ndarray, support: np.ndarray, contract: np.ndarray) -> np.ndarray:
    per_seat = TIER_CENTS[tier] + INTERNET_CENTS[internet] + TECH_SUPPORT_CENTS * support
    price = seats * per_seat * TERM_DISCOUNT[contract] * rng.uniform(0.95, 1.05, len(tier))
    return (np.round(price / 5) * 5).astype(np.int64)


def make_customers(rng: np.random.Generator, first_num: int, n: int) -> pd.DataFrame:
    """Customers with their current contract's terms, the latent risk and the outcome."""
    tenure = draw_tenure(rng, n)
    contract = draw_contract_type(rng, tenure)
    tier = weighted_choice(rng, TIERS, n)
    seats = np.minimum(rng.geometric(SEAT_P[tier]), 100).astype(np.int64)
    internet = weighted_choice(rng, INTERNET, n)
    support = (internet < 2) & (rng.random(n) < 0.35)
    mrr = list_mrr_cents(rng, tier, seats, internet, support, contract)
    payment = weighted_choice(rng, PAYMENT_METHODS, n)
    risk = churn_probability(contract, tenure, payment == 0, mrr)
    frame = pd.DataFrame({
        "num": first_num + np.arange(n, dtype=np.int64),
        "tenure": tenure, "contract": contract, "tier": tier, "seats": seats,
        "internet": internet, "support": support, "mrr": mrr, "payment": payment,
        "country": weighted_choice(rng, COUNTRIES, n),
        "industry": weighted_choice(rng, INDUSTRIES, n),
        "senior": rng.random(n) < 0.16,
        "billing": ((contract > 0) & (rng.random(n) < 0.45)).astype(np.int64),
        "renew": rng.random(n) < 0.8,
        "trial": (contract == 0) & (tenure < TRIAL_DAYS) & (rng.random(n) < 0.5),
        "risk": risk,
        "churned": rng.random(n) < risk,
    })
    add_id(frame, "account_id", frame["num"].to_numpy(), "A")
    return frame


def make_contracts(rng: np.random.Generator, cust: pd.DataFrame, first_num: int) -> pd.DataFrame:
    """The current contract of each customer, after an earlier (ended) one for some.

    Days are offsets from the snapshot day (0 = the snapshot, -1 the day before)."""
    n = len(cust)
    tenure = cust["tenure"].to_numpy()
    earlier = (tenure >= 365) & (rng.random(n) < EARLIER_CONTRACT_SHARE)
    switch = -tenure + 180 + np.floor(rng.random(n) * (tenure - 180 - 30 + 1)).astype(np.int64)
    current = pd.DataFrame({
        "owner": np.arange(n), "start": np.where(earlier, switch, -tenure), "ended": False,
        "end": 0, **{c: cust[c].to_numpy() for c in (
            "tier", "seats", "contract", "billing", "renew", "trial", "internet", "support")},
        "mrr": np.where(cust["trial"].to_numpy(), 0, cust["mrr"].to_numpy()),
    })
    rows = np.flatnonzero(earlier)
    m = len(rows)
    contract = np.where(cust["contract"].to_numpy()[rows] == 0, 1, 0)
    step = np.where(rng.random(m) < 0.3, rng.choice([-1, 1], m), 0)
    tier = np.clip(cust["tier"].to_numpy()[rows] + step, 0, 2)
    seats, internet = cust["seats"].to_numpy()[rows], cust["internet"].to_numpy()[rows]
    support = cust["support"].to_numpy()[rows]
    past = pd.DataFrame({
        "owner": rows, "start": -tenure[rows], "ended": True, "end": switch[rows] - 1,
        "tier": tier, "seats": seats, "contract": contract,
        "billing": ((contract > 0) & (rng.random(m) < 0.45)).astype(np.int64),
        "renew": rng.random(m) < 0.8, "trial": False, "internet": internet, "support": support,
        "mrr": list_mrr_cents(rng, tier, seats, internet, support, contract),
    })
    frame = pd.concat([past, current], ignore_index=True)
    frame = frame.sort_values(["owner", "start"], kind="stable").reset_index(drop=True)
    add_id(frame, "subscription_id", first_num + np.arange(len(frame), dtype=np.int64), "S")
    add_id(frame, "account_id", cust["num"].to_numpy()[frame["owner"].to_numpy()], "A")
    return frame


def select_sql(name: str, options: ContractsOptions) -> str:
    """SELECT that formats a chunk frame as the columns of customers.csv or contracts.csv."""
    day0 = f"DATE '{options.snapshot_date.isoformat()}'"
    exprs = {
        "customers.csv": [
            sql_id("account_id", "A"), "'Customer_' || num", f"{day0} - tenure::INTEGER",
            sql_label("country", COUNTRIES), sql_label("industry", INDUSTRIES),
            sql_label("payment", PAYMENT_METHODS), sql_bool_value("senior"),
            "CASE WHEN churned THEN 'Yes' ELSE 'No' END",
        ],
        "contracts.csv": [
            sql_id("subscription_id", "S"), sql_id("account_id", "A"),
            f"{day0} + start::INTEGER", f"CASE WHEN ended THEN {day0} + \"end\"::INTEGER END",
            sql_label("tier", TIERS), "seats", "mrr::DOUBLE / 100",
            sql_label("contract", CONTRACT_TYPES), sql_label("billing", BILLING),
            sql_bool_value("renew"), sql_bool_value("trial"), sql_label("internet", INTERNET),
            sql_bool_value("support"),
        ],
    }
    return "SELECT " + ", ".join(
        f"{expr} AS {column}"
        for expr, column in zip(exprs[name], FILE_COLUMNS[name], strict=True)
    ) + " FROM chunk"


def generate(options: ContractsOptions,
             on_progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write customers.csv and contracts.csv into options.out_dir; return rows per file.

    on_progress(customers_done) is called after each chunk, for a progress display.
    """
    began = time.perf_counter()
    size = options.chunk_customers or MAX_CHUNK_CUSTOMERS
    rows = dict.fromkeys(FILE_COLUMNS, 0)
    selects = {name: select_sql(name, options) for name in FILE_COLUMNS}
    with duckdb.connect() as con, open_csvs(options.out_dir, FILE_COLUMNS) as handles:
        for index, first in enumerate(range(0, options.customers, size)):
            n = min(size, options.customers - first)
            rng = np.random.default_rng([options.seed, index])
            customers = make_customers(rng, first, n)
            contracts = make_contracts(rng, customers, rows["contracts.csv"])
            for name, frame in (("customers.csv", customers), ("contracts.csv", contracts)):
                append_csv(con, selects[name], frame, options.out_dir / f".{name}.part",
                           handles[name])
                rows[name] += len(frame)
            if on_progress:
                on_progress(first + n)
    LOG.info("wrote %s to %s in %.2fs", ", ".join(f"{f}={n}" for f, n in rows.items()),
             options.out_dir, time.perf_counter() - began)
    return rows
