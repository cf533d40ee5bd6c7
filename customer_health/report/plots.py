"""The report's plots: matplotlib figures written as inline SVG (text kept as text, no external
files, the same bytes for the same data).

Each function takes plain frames or lists and returns the SVG element as a string.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

# Status colours are named in the health_statuses seed; these are softer shades of the usual
# names, any other colour matplotlib knows is used as it is, the rest is grey.
SHADES = {"green": "#3a8d4f", "amber": "#e7a321", "red": "#c8453b", "grey": "#8c8c8c"}
GAIN, LOSS, NEUTRAL = SHADES["green"], SHADES["red"], "#5b7db1"
WIDE, SQUARE = (8.0, 3.4), (6.0, 3.4)
MIN_BAR_SLOTS = 8


def shade(colour: str | None) -> str:
    """A plot colour for a status colour name of the seed."""
    name = (colour or "").strip().lower()
    if name in SHADES:
        return SHADES[name]
    return name if name and mcolors.is_color_like(name) else SHADES["grey"]


def grade_shades(count: int) -> list[str]:
    """`count` colours from green (best grade) to red (worst)."""
    cmap = mcolors.LinearSegmentedColormap.from_list(
        "grades", [SHADES["green"], "#b5c94c", SHADES["amber"], SHADES["red"]])
    return [mcolors.to_hex(cmap(x)) for x in np.linspace(0, 1, max(count, 2))][:count]


def to_svg(fig: plt.Figure, name: str) -> str:
    """The figure as an <svg> element (ids salted with `name`, so plots on one page never share
    one), closed afterwards."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):].strip()


def _figure(size: tuple[float, float] = WIDE) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=size, dpi=100)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _first_on_top(ax: plt.Axes, rows: int) -> None:
    """Horizontal bars: the first row on top, a little room around them (a single bar stays a
    bar, not a block)."""
    ax.set_ylim(rows - 0.3, -0.7)


def score_histogram(scores: pd.DataFrame, statuses: Sequence[str], colours: dict[str, str]
                    ) -> str:
    """Accounts per 5-point score band, stacked by status (best status first)."""
    fig, ax = _figure()
    bins = np.arange(0, 105, 5)
    groups = [scores.loc[scores["status"] == s, "health_score"].to_numpy(float) for s in statuses]
    ax.hist(groups, bins=bins, stacked=True, label=[s.replace("_", " ") for s in statuses],
            color=[shade(colours.get(s)) for s in statuses], edgecolor="white", linewidth=0.6)
    ax.set_xlim(0, 100)
    ax.set_xlabel("health score (0 = worst, 100 = best)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("accounts")
    ax.legend(frameon=False, title="status")
    return to_svg(fig, "score_histogram")


def mix_over_time(shares: pd.DataFrame, colours: Sequence[str], title: str) -> str:
    """Stacked bars: per as-of date (rows), the share of accounts in each column."""
    fig, ax = _figure()
    labels = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(shares.index)]
    bottom = np.zeros(len(shares))
    for column, colour in zip(shares.columns, colours, strict=True):
        values = shares[column].to_numpy(float) * 100
        ax.bar(labels, values, bottom=bottom, color=colour, label=str(column).replace("_", " "),
               width=0.8,
               edgecolor="white", linewidth=0.5)
        bottom += values
    ax.set_xlim(-0.5, max(len(shares), MIN_BAR_SLOTS) - 0.5)  # a few dates: narrow bars
    ax.set_ylim(0, 100)
    ax.set_ylabel("share of accounts (%)")
    ax.tick_params(axis="x", labelrotation=45)
    for tick in ax.get_xticklabels():
        tick.set_horizontalalignment("right")
    ax.legend(frameon=False, title=title, bbox_to_anchor=(1.01, 1), loc="upper left")
    return to_svg(fig, f"mix_{title}")


def churn_by_grade(groups: Sequence[dict], overall: float | None, outcome: str) -> str:
    """Churn rate per grade with its Wilson 95 % interval (groups as backtest.json has them)."""
    fig, ax = _figure(SQUARE)
    names = [str(g["group"]) for g in groups]
    rates = np.array([g["churn_rate"] for g in groups], dtype=float) * 100
    lower = rates - np.array([g["ci_lower"] for g in groups], dtype=float) * 100
    upper = np.array([g["ci_upper"] for g in groups], dtype=float) * 100 - rates
    ax.bar(names, rates, color=grade_shades(len(names)), yerr=[lower, upper], capsize=4)
    if overall is not None:
        ax.axhline(overall * 100, color="#555555", linestyle="--", linewidth=1,
                   label="all accounts")
        ax.legend(frameon=False, loc="upper left")
    ax.set_xlabel("grade (best to worst)")
    ax.set_ylabel(f"{outcome} (%)")
    return to_svg(fig, "churn_by_grade")


def horizontal_changes(labels: Sequence[str], values: Sequence[float], xlabel: str,
                       name: str) -> str:
    """One horizontal bar per label, green when positive, red when negative (largest on top)."""
    fig, ax = _figure((8.0, 0.9 + 0.32 * max(len(labels), 1)))
    values = np.asarray(values, dtype=float)
    ax.barh(list(labels), values, color=[GAIN if v >= 0 else LOSS for v in values])
    ax.axvline(0, color="#555555", linewidth=0.8)
    _first_on_top(ax, len(values))
    ax.set_xlabel(xlabel)
    return to_svg(fig, name)


def gains_and_losses(frame: pd.DataFrame) -> str:
    """Per metric, points gained (green, right) and lost (red, left) over every account."""
    fig, ax = _figure((8.0, 0.9 + 0.32 * max(len(frame), 1)))
    names = frame["display_name"].tolist()
    ax.barh(names, frame["points_gained"].to_numpy(float), color=GAIN, label="points gained")
    ax.barh(names, frame["points_lost"].to_numpy(float), color=LOSS, label="points lost")
    ax.axvline(0, color="#555555", linewidth=0.8)
    _first_on_top(ax, len(names))
    ax.set_xlabel("score points, summed over every account")
    ax.legend(frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    return to_svg(fig, "gains_and_losses")


def quarantine_bars(frame: pd.DataFrame) -> str:
    """Quarantined rows per table and reason."""
    fig, ax = _figure((8.0, 0.9 + 0.32 * max(len(frame), 1)))
    labels = [f"{t}: {r}" for t, r in zip(frame["table_name"], frame["quarantine_reason"],
                                           strict=True)]
    ax.barh(labels, frame["quarantined_rows"].to_numpy(float), color=NEUTRAL, height=0.5)
    _first_on_top(ax, len(labels))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rows quarantined")
    return to_svg(fig, "quarantine")
