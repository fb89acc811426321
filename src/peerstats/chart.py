"""The dashboard's bar chart, drawn as a PNG: daily activity count and hours of one chapter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

from matplotlib import dates as mdates  # noqa: E402 (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402


def draw_daily_activity(
    days: Sequence[tuple[date, int, Decimal]],
    *,
    start: date,
    end: date,
    title: str,
    output: Path,
) -> Path:
    """Two panels over [start, end): bars of activities per day above, hours per day below."""
    figure = Figure(figsize=(12, 6.5), layout="constrained")
    count_axes, hours_axes = figure.subplots(2, 1, sharex=True)
    bucket_dates = [day for day, _, _ in days]
    count_axes.bar(bucket_dates, [count for _, count, _ in days], width=1.0, color="#2f6db5")
    hours_axes.bar(bucket_dates, [float(hours) for _, _, hours in days], width=1.0, color="#d9822b")
    count_axes.set_ylabel("activities per day")
    hours_axes.set_ylabel("hours per day")
    for axes in (count_axes, hours_axes):
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
    hours_axes.set_xlim(start - timedelta(days=1), end)
    hours_axes.xaxis.set_major_locator(mdates.MonthLocator())
    hours_axes.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    hours_axes.set_xlabel("day (UTC)")
    figure.suptitle(title)
    figure.savefig(output, dpi=110)
    return output
