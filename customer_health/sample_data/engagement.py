"""The engagement family of the generator (``--engagement``): engagement events and NPS responses.

This module draws the rows of ``ravenstack_engagement_events`` and ``ravenstack_nps_responses``
for one chunk of accounts; generate.py formats and writes them like the other tables. The planted
signal is described with the other drivers in generate.py's module docstring.

Times are seconds since the first day of the range (column ``seconds``); contacts are numbered
``account number * MAX_CONTACTS + k`` (``k`` < the account's number of contacts), so contact ids
are unique without a counter.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from customer_health.sample_data.draws import (
    DAYS_PER_MONTH,
    add_id,
    few,
    ramp_progress,
    segments,
    thinned_days,
)

if TYPE_CHECKING:
    from customer_health.sample_data.generate import Counters, Timeline

# columns of one part of a table's rows, each an array of the same length
Part = dict[str, np.ndarray]

# (channel, event_type) of every event kind; the column ``kind`` indexes this tuple
CHANNEL_EVENTS: tuple[tuple[str, str], ...] = (
    ("email", "sent"), ("email", "opened"), ("email", "clicked"), ("email", "replied"),
    ("in_app", "shown"), ("in_app", "clicked"),
    ("web", "visited"),
    ("meeting", "held"), ("meeting", "cancelled"),
    ("community", "posted"), ("community", "replied"),
)
(SENT, OPENED, EMAIL_CLICKED, EMAIL_REPLIED, SHOWN, APP_CLICKED, VISITED, HELD, CANCELLED, POSTED,
 COMMUNITY_REPLIED) = range(len(CHANNEL_EVENTS))
# --quirks only: an event of a channel the vendor does not have
UNKNOWN_KIND = len(CHANNEL_EVENTS)
EVENT_KINDS = (*CHANNEL_EVENTS, ("fax", "sent"))
QUIRK_YEAR = 2199
QUIRK_SCORE = 11

# NPS comments per bucket (promoter 9-10, passive 7-8, detractor 0-6); no commas or quotes, since
# the CSV files are not quoted
PROMOTER_COMMENTS = (
    "great product", "support team is very responsive", "easy to roll out to new teams",
    "the dashboards save us hours every week", "would recommend to other teams",
)
PASSIVE_COMMENTS = (
    "does the job", "good but pricey", "onboarding took a while",
    "some features are hard to find", "reporting could be better",
)
DETRACTOR_COMMENTS = (
    "too many errors lately", "support is slow to respond", "missing features we need",
    "too expensive for what we use", "we are looking at other tools",
)
NPS_COMMENTS = (*DETRACTOR_COMMENTS, *PASSIVE_COMMENTS, *PROMOTER_COMMENTS)
COMMENT_SHARE = 0.3

# planted-driver parameters (see generate.py's module docstring)
MAX_CONTACTS = 8
CAMPAIGN_FIRST_DAY = 3
CAMPAIGN_EVERY_DAYS = 14
SHOWN_PER_MONTH = 5.0
VISITS_PER_MONTH = 4.0
COMMUNITY_PER_MONTH = 3.0
MEETING_EVERY_DAYS = 91
SURVEY_EVERY_DAYS = 182
FADE = 0.8
# engagement events per account-month, roughly (sizes the chunks)
EVENTS_PER_MONTH = 20.0
DAY = 86_400
HOUR = 3_600


def fade(progress: np.ndarray) -> np.ndarray:
    """Engagement left at a point of the deterioration ramp: 1 before it, 0.2 at churn."""
    return 1.0 - FADE * progress


def time_of_day(rng: np.random.Generator, day: np.ndarray, first_hour: int, last_hour: int
                ) -> np.ndarray:
    """Seconds since the range start: a uniform second of [first_hour, last_hour) on `day`."""
    span = (last_hour - first_hour) * HOUR
    return day * DAY + first_hour * HOUR + np.floor(rng.random(len(day)) * span).astype(np.int64)


def delay(rng: np.random.Generator, mean_seconds: float, n: int) -> np.ndarray:
    """Exponential delay, at least one second."""
    return 1 + np.floor(rng.exponential(mean_seconds, n)).astype(np.int64)


def pick_contact(rng: np.random.Generator, contacts: np.ndarray) -> np.ndarray:
    return np.floor(rng.random(len(contacts)) * contacts).astype(np.int64)


def every(rng: np.random.Generator, acc: pd.DataFrame, first_offset: tuple[int, int],
          step: int) -> tuple[np.ndarray, np.ndarray]:
    """Owner and day of a recurring date per account (first within `first_offset` days of signup,
    then every `step` days) up to the account's last day."""
    first = acc["signup"].to_numpy() + rng.integers(*first_offset, len(acc))
    last = acc["last_day"].to_numpy()
    count = np.where(first <= last, (last - first) // step + 1, 0)
    owner, pos = segments(count)
    return owner, first[owner] + step * pos


def event_part(owner: np.ndarray, at: np.ndarray, kind: np.ndarray | int, contact: np.ndarray
               ) -> Part:
    """One part of the events: account index in the chunk, time, kind, contact (-1 = none)."""
    return {"owner": owner, "seconds": at, "kind": np.broadcast_to(kind, owner.shape),
            "contact": contact}


def ordered_frame(acc: pd.DataFrame, parts: list[Part], first_num: int, prefix: str,
                  id_column: str) -> pd.DataFrame:
    """The parts' rows up to each account's last day, ordered by time, with ids numbered from
    first_num and account and contact ids."""
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    keep = columns["seconds"] // DAY <= acc["last_day"].to_numpy()[columns["owner"]]
    frame = pd.DataFrame({name: column[keep] for name, column in columns.items()})
    frame = frame.iloc[np.lexsort((frame["owner"], frame["seconds"]))].reset_index(drop=True)
    account = acc["num"].to_numpy()[frame["owner"].to_numpy()]
    add_id(frame, id_column, first_num + np.arange(len(frame), dtype=np.int64), prefix)
    add_id(frame, "account_id", account, "A")
    contact = np.maximum(frame["contact"].to_numpy(), 0)
    add_id(frame, "contact_id", account * MAX_CONTACTS + contact, "P")
    return frame


def make_profile(rng: np.random.Generator, acc: pd.DataFrame) -> pd.DataFrame:
    """Per account: number of contacts, engagement level, community membership."""
    n = len(acc)
    risk = acc["risk"].to_numpy()
    return pd.DataFrame({
        "contacts": 1 + rng.binomial(4, 0.35, n),
        "level": rng.lognormal(-0.5 * 0.4**2, 0.4, n),
        "community": rng.random(n) < 0.30 - 0.15 * risk,
    })


def email_events(rng: np.random.Generator, acc: pd.DataFrame, prof: pd.DataFrame, tl: Timeline
                 ) -> list[Part]:
    """A campaign every CAMPAIGN_EVERY_DAYS days to every contact; opens, clicks, replies."""
    campaigns = np.arange(CAMPAIGN_FIRST_DAY, tl.n_days, CAMPAIGN_EVERY_DAYS)
    first = np.searchsorted(campaigns, acc["signup"].to_numpy())
    stop = np.searchsorted(campaigns, acc["last_day"].to_numpy(), side="right")
    contacts = prof["contacts"].to_numpy()
    owner, pos = segments(np.maximum(stop - first, 0) * contacts)
    day = campaigns[first[owner] + pos // contacts[owner]]
    contact = pos % contacts[owner]
    n = len(owner)
    sent = day * DAY + 9 * HOUR + np.floor(rng.random(n) * 2 * HOUR).astype(np.int64)
    risk = acc["risk"].to_numpy()[owner]
    left = fade(ramp_progress(day, acc["churn_day"].to_numpy()[owner], tl.ramp))
    opened = rng.random(n) < (0.55 - 0.30 * risk) * left
    opened_at = sent + delay(rng, 6 * HOUR, n)
    clicked = opened & (rng.random(n) < (0.35 - 0.20 * risk) * left)
    replied = opened & (rng.random(n) < (0.10 - 0.06 * risk) * left)
    clicked_at = opened_at + delay(rng, 600, n)
    replied_at = opened_at + delay(rng, 3 * HOUR, n)
    return [
        event_part(owner, sent, SENT, contact),
        event_part(owner[opened], opened_at[opened], OPENED, contact[opened]),
        event_part(owner[clicked], clicked_at[clicked], EMAIL_CLICKED, contact[clicked]),
        event_part(owner[replied], replied_at[replied], EMAIL_REPLIED, contact[replied]),
    ]


def faded_days(rng: np.random.Generator, acc: pd.DataFrame, tl: Timeline, per_month: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Days of a Poisson process from signup to the last day, thinned by fade(p)."""
    owner, day = thinned_days(rng, acc["signup"].to_numpy(), acc["last_day"].to_numpy(),
                              per_month / DAYS_PER_MONTH)
    left = fade(ramp_progress(day, acc["churn_day"].to_numpy()[owner], tl.ramp))
    keep = rng.random(len(owner)) < left
    return owner[keep], day[keep]


def activity_events(rng: np.random.Generator, acc: pd.DataFrame, prof: pd.DataFrame,
                    tl: Timeline) -> list[Part]:
    """In-app prompts shown and clicked, web visits, community posts and replies."""
    risk, level = acc["risk"].to_numpy(), prof["level"].to_numpy()
    contacts = prof["contacts"].to_numpy()
    owner, day = faded_days(rng, acc, tl, SHOWN_PER_MONTH * level)
    n = len(owner)
    shown = time_of_day(rng, day, 8, 20)
    contact = pick_contact(rng, contacts[owner])
    clicked = rng.random(n) < 0.40 - 0.25 * risk[owner]
    parts = [event_part(owner, shown, SHOWN, contact),
             event_part(owner[clicked], (shown + delay(rng, 20, n))[clicked], APP_CLICKED,
                        contact[clicked])]
    owner, day = faded_days(rng, acc, tl, VISITS_PER_MONTH * level * (1.0 - 0.5 * risk))
    n = len(owner)
    anonymous = rng.random(n) < 0.4
    contact = np.where(anonymous, -1, pick_contact(rng, contacts[owner]))
    parts.append(event_part(owner, time_of_day(rng, day, 7, 22), VISITED, contact))
    member_rate = np.where(prof["community"].to_numpy(), COMMUNITY_PER_MONTH * level, 0.0)
    owner, day = faded_days(rng, acc, tl, member_rate)
    n = len(owner)
    kind = np.where(rng.random(n) < 0.55, POSTED, COMMUNITY_REPLIED)
    parts.append(event_part(owner, time_of_day(rng, day, 7, 23), kind,
                            pick_contact(rng, contacts[owner])))
    return parts


def meeting_events(rng: np.random.Generator, acc: pd.DataFrame, prof: pd.DataFrame,
                   tl: Timeline) -> list[Part]:
    """About one business review per quarter (a week either side), held or cancelled."""
    owner, day = every(rng, acc, (14, MEETING_EVERY_DAYS + 1), MEETING_EVERY_DAYS)
    n = len(owner)
    day = day + rng.integers(-7, 8, n)  # on or after signup + 7; ordered_frame drops late ones
    at = day * DAY + rng.integers(18, 34, n) * HOUR // 2  # 09:00 to 16:30, on the half hour
    progress = ramp_progress(day, acc["churn_day"].to_numpy()[owner], tl.ramp)
    p_cancel = np.minimum(0.08 + 0.35 * acc["risk"].to_numpy()[owner] + 0.50 * progress, 0.95)
    kind = np.where(rng.random(n) < p_cancel, CANCELLED, HELD)
    return [event_part(owner, at, kind, pick_contact(rng, prof["contacts"].to_numpy()[owner]))]


def make_engagement_events(rng: np.random.Generator, acc: pd.DataFrame, prof: pd.DataFrame,
                           tl: Timeline, counters: Counters) -> pd.DataFrame:
    parts = [*email_events(rng, acc, prof, tl), *activity_events(rng, acc, prof, tl),
             *meeting_events(rng, acc, prof, tl)]
    frame = ordered_frame(acc, parts, counters.engagement_events, "E", "event_id")
    counters.engagement_events += len(frame)
    return frame


def nps_score(rng: np.random.Generator, risk: np.ndarray, progress: np.ndarray) -> np.ndarray:
    latent = 9.6 - 5.0 * risk - 4.0 * progress + rng.normal(0.0, 1.4, len(risk))
    return np.clip(np.round(latent), 0, 10).astype(np.int64)


def nps_comment(rng: np.random.Generator, score: np.ndarray) -> np.ndarray:
    """Index into NPS_COMMENTS from the score's bucket for COMMENT_SHARE of rows, else -1."""
    n = len(score)
    bucket = np.where(score >= 9, 2, np.where(score >= 7, 1, 0))
    pick = bucket * len(PROMOTER_COMMENTS) + rng.integers(0, len(PROMOTER_COMMENTS), n)
    return np.where(rng.random(n) < COMMENT_SHARE, pick, -1)


def make_nps_responses(rng: np.random.Generator, acc: pd.DataFrame, prof: pd.DataFrame,
                       tl: Timeline, counters: Counters) -> pd.DataFrame:
    """A survey about every SURVEY_EVERY_DAYS days per account; some are answered."""
    owner, day = every(rng, acc, (30, SURVEY_EVERY_DAYS + 1), SURVEY_EVERY_DAYS)
    n = len(owner)
    risk = acc["risk"].to_numpy()[owner]
    progress = ramp_progress(day, acc["churn_day"].to_numpy()[owner], tl.ramp)
    answered = rng.random(n) < 0.95 - 0.45 * risk - 0.25 * progress
    at = day * DAY + 8 * HOUR + delay(rng, 1.5 * DAY, n)
    score = nps_score(rng, risk, progress)
    comment = nps_comment(rng, score)
    contact = pick_contact(rng, prof["contacts"].to_numpy()[owner])
    columns = {"owner": owner, "seconds": at, "score": score, "comment": comment,
               "contact": contact}
    frame = ordered_frame(acc, [{name: column[answered] for name, column in columns.items()}],
                          counters.nps_responses, "N", "response_id")
    counters.nps_responses += len(frame)
    return frame


# ----------------------------------------------------------------------------- quirks


def add_event_quirks(rng: np.random.Generator, events: pd.DataFrame, start: dt.date
                     ) -> pd.DataFrame:
    """A few events of an unknown channel, a few dated in QUIRK_YEAR, a few exact duplicates."""
    n, m = len(events), few(len(events))
    if m == 0:
        return events
    unknown, future = rng.choice(n, size=(2, m), replace=False)
    kind, at = events["kind"].to_numpy().copy(), events["seconds"].to_numpy().copy()
    kind[unknown] = UNKNOWN_KIND
    # same time of day, inside QUIRK_YEAR (365 days long)
    at[future] = (dt.date(QUIRK_YEAR, 1, 1) - start).days * DAY + at[future] % (365 * DAY)
    events["kind"], events["seconds"] = kind, at
    rows = np.sort(np.concatenate([np.arange(n), rng.choice(n, size=m, replace=False)]))
    return events.iloc[rows].reset_index(drop=True)


def add_nps_quirks(rng: np.random.Generator, responses: pd.DataFrame) -> pd.DataFrame:
    """A few responses with an out-of-scale score (QUIRK_SCORE)."""
    m = few(len(responses))
    if m:
        score = responses["score"].to_numpy().copy()
        score[rng.choice(len(responses), size=m, replace=False)] = QUIRK_SCORE
        responses["score"] = score
    return responses
