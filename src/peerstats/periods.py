"""The periods every command reports in: UTC calendar months, the N-month window, Monday weeks.

`peerstats verify`, the demo's chart and `peerstats report` all use `months_window`, so "the
last 12 months" means the same days wherever it is printed: the calendar month of the last day
so far, and the 11 whole months before it.
"""

from __future__ import annotations

from datetime import date, timedelta


def month_start(day: date, months_back: int = 0) -> date:
    """The first day of the month `months_back` months before the month of `day`."""
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def months_window(last_day: date, months: int = 12) -> tuple[date, date]:
    """[first day, last_day + 1 day): the month of `last_day` up to that day, and the `months - 1` before it."""
    return month_start(last_day, months - 1), last_day + timedelta(days=1)


def week_start(day: date) -> date:
    """The Monday of the week of `day` (weeks run Monday to Sunday, as in Norway)."""
    return day - timedelta(days=day.weekday())
