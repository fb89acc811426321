"""The coordinator's chart: activities and hours per week of one chapter, with a 4-week average.

Drawn from the daily rows of public.activity_time_series: each week adds its days' minutes and
its bar is that sum / 60 (never a sum of the days' rounded hours). Weeks run Monday to Sunday (UTC).
A week that lies only partly in the period (the first, when the period starts mid-week, and the
week still under way) is drawn lighter and left out of the average, so an unfinished week
never looks like a drop. The demo saves it as a PNG; `peerstats report` embeds it as SVG.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

from matplotlib import dates as mdates  # noqa: E402 (after choosing the backend)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from peerstats.periods import week_start  # noqa: E402

AVERAGE_WEEKS = 4
COUNT_COLOUR = "#2f6db5"
HOURS_COLOUR = "#c46a12"
PARTIAL_ALPHA = 0.3
KEY_TEXT = (f"Bars: each week's total, Monday to Sunday (UTC). Line: average of the last {AVERAGE_WEEKS} full weeks. "
            "Pale bars: incomplete weeks (this week so far, or a week cut by the start of the period), not drops.")


@dataclass(frozen=True)
class Week:
    start: date  # its Monday
    activity_count: int
    total_minutes: int
    complete: bool  # all seven days lie in the period and are over

    @property
    def hours(self) -> float:
        """The height of the week's hours bar."""
        return self.total_minutes / 60


def weekly(days: Iterable[tuple[date, int, int]], *, start: date, end: date, today: date) -> list[Week]:
    """Daily (bucket_date, activity_count, total_minutes) rows of [start, end) summed into weeks,
    every week of the period listed (zeros where nothing counted). `today` is not over yet."""
    counts: dict[date, int] = {}
    minutes: dict[date, int] = {}
    for day, activity_count, total_minutes in days:
        if not start <= day < end:
            raise ValueError(f"{day} lies outside the period {start} to {end}")
        monday = week_start(day)
        counts[monday] = counts.get(monday, 0) + activity_count
        minutes[monday] = minutes.get(monday, 0) + total_minutes
    finished_before = min(end, today)
    weeks = []
    monday = week_start(start)
    while monday < end:
        complete = monday >= start and monday + timedelta(days=7) <= finished_before
        weeks.append(Week(monday, counts.get(monday, 0), minutes.get(monday, 0), complete))
        monday += timedelta(days=7)
    return weeks


def moving_average(weeks: Sequence[Week], value: str) -> list[float | None]:
    """The mean of `value` over each week and the 3 before it, where all four are complete weeks."""
    averages: list[float | None] = []
    for index in range(len(weeks)):
        window = weeks[max(0, index - AVERAGE_WEEKS + 1): index + 1]
        if len(window) == AVERAGE_WEEKS and all(week.complete for week in window):
            averages.append(float(sum(getattr(week, value) for week in window)) / AVERAGE_WEEKS)
        else:
            averages.append(None)
    return averages


def draw_weekly(weeks: Sequence[Week], *, title: str | None = None, caption: str | None = None,
                size: tuple[float, float] = (12, 6.5)) -> Figure:
    """Two panels, activities above and hours below, with the 4-week average as a line on each."""
    figure = Figure(figsize=size, layout="constrained")
    count_axes, hours_axes = figure.subplots(2, 1, sharex=True)
    # Each bar is centred on the middle of its week (Thursday).
    middles = [week.start + timedelta(days=3) for week in weeks]
    alphas = [1.0 if week.complete else PARTIAL_ALPHA for week in weeks]
    for axes, value, colour, label in (
        (count_axes, "activity_count", COUNT_COLOUR, "activities per week"),
        (hours_axes, "hours", HOURS_COLOUR, "hours per week"),
    ):
        heights = [float(getattr(week, value)) for week in weeks]
        bars = axes.bar(middles, heights, width=6, color=colour, edgecolor="none")
        for bar, alpha in zip(bars, alphas, strict=True):
            bar.set_alpha(0.55 * alpha)
        averages = moving_average(weeks, value)
        axes.plot(middles, [float("nan") if a is None else a for a in averages], color=colour, linewidth=2.2,
                  label=f"{AVERAGE_WEEKS}-week average")
        axes.set_ylabel(label)
        axes.set_ylim(bottom=0)
        axes.grid(axis="y", alpha=0.3)
        axes.set_axisbelow(True)
        for side in ("top", "right"):
            axes.spines[side].set_visible(False)
    count_axes.legend(
        handles=[Patch(color=COUNT_COLOUR, alpha=0.55, label="full week"),
                 Patch(color=COUNT_COLOUR, alpha=0.55 * PARTIAL_ALPHA, label="incomplete week"),
                 count_axes.lines[0]],
        loc="lower left", ncols=3, frameon=False, fontsize="small", bbox_to_anchor=(0, 1.0))
    if weeks:
        hours_axes.set_xlim(weeks[0].start - timedelta(days=1), weeks[-1].start + timedelta(days=8))
    hours_axes.xaxis.set_major_locator(mdates.MonthLocator())
    hours_axes.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    if title:
        figure.suptitle(title, fontweight="bold")
    if caption:
        figure.supxlabel(caption, fontsize="small")
    return figure


def save_png(figure: Figure, output: Path) -> Path:
    figure.savefig(output, dpi=100)
    return output


def svg_markup(figure: Figure) -> str:
    """The figure as an inline <svg> element: glyphs drawn as paths, so it needs no font, and
    no date or random id in it, so the same figures give the same markup."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "peerstats"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]
