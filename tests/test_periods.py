"""The shared reporting periods, the chart's weeks and hours from minutes, worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from peerstats.chart import moving_average, weekly
from peerstats.hours import hours_from_minutes
from peerstats.periods import month_start, months_window, week_start


def test_the_months_window_is_this_month_so_far_and_the_ones_before():
    assert months_window(date(2026, 11, 25)) == (date(2025, 12, 1), date(2026, 11, 26))
    assert months_window(date(2026, 1, 31), 1) == (date(2026, 1, 1), date(2026, 2, 1))
    assert months_window(date(2024, 2, 29), 24) == (date(2022, 3, 1), date(2024, 3, 1))
    assert month_start(date(2026, 3, 15), 14) == date(2025, 1, 1)
    assert week_start(date(2026, 11, 26)) == date(2026, 11, 23)  # a Thursday's Monday
    assert week_start(date(2026, 11, 23)) == date(2026, 11, 23)


def test_weeks_cover_the_period_and_mark_the_ones_cut_or_not_over():
    # 1 Oct 2026 is a Thursday; "today" is Wednesday 28 Oct, so its week is not over.
    start, end, today = date(2026, 10, 1), date(2026, 10, 29), date(2026, 10, 28)
    days = [(date(2026, 10, 1), 2, 90), (date(2026, 10, 4), 1, 15),
            (date(2026, 10, 5), 3, 180), (date(2026, 10, 28), 4, 120)]
    weeks = weekly(days, start=start, end=end, today=today)
    assert [(w.start, w.activity_count, w.total_minutes, w.hours, w.complete) for w in weeks] == [
        (date(2026, 9, 28), 3, 105, 1.75, False),  # Thursday to Sunday only
        (date(2026, 10, 5), 3, 180, 3, True),
        (date(2026, 10, 12), 0, 0, 0, True),
        (date(2026, 10, 19), 0, 0, 0, True),
        (date(2026, 10, 26), 4, 120, 2, False),  # this week, so far
    ]
    # Sunday's week is over once Sunday is: the window of a finished period ends complete.
    assert weekly([], start=date(2026, 10, 5), end=date(2026, 10, 12), today=date(2026, 10, 12))[0].complete
    assert not weekly([], start=date(2026, 10, 5), end=date(2026, 10, 12), today=date(2026, 10, 11))[0].complete
    with pytest.raises(ValueError, match="outside the period"):
        weekly([(date(2026, 9, 30), 1, 60)], start=start, end=end, today=today)


def test_the_average_uses_four_full_weeks_only():
    days = [(date(2026, 10, 5) + timedelta(weeks=n), n + 1, 60 * (n + 1)) for n in range(6)]
    weeks = weekly(days, start=date(2026, 10, 1), end=date(2026, 11, 16), today=date(2026, 11, 16))
    # Weeks: 28 Sep (cut), then 5, 12, 19, 26 Oct, 2, 9 Nov (full: 1..6 activities), none cut at the end.
    assert [w.complete for w in weeks] == [False, True, True, True, True, True, True]
    assert moving_average(weeks, "activity_count") == [None, None, None, None, 2.5, 3.5, 4.5]
    assert moving_average(weeks, "hours") == [None, None, None, None, 2.5, 3.5, 4.5]


@pytest.mark.parametrize(("minutes", "decimals", "shown"), [
    (3, 1, "0.1"), (9, 1, "0.2"), (24_555, 1, "409.3"),  # 0.05, 0.15 and 409.25 h: a half, rounded up
    (2, 1, "0.0"), (24_554, 1, "409.2"), (24_557, 1, "409.3"),  # 0.033.., 409.233.., 409.283..
    (3, 2, "0.05"), (1, 2, "0.02"), (27, 2, "0.45"), (0, 1, "0.0"), (60 * 10**9 + 3, 1, "1000000000.1"),
])
def test_hours_are_the_minutes_over_60_with_a_half_rounded_up(minutes, decimals, shown):
    assert hours_from_minutes(minutes, decimals) == Decimal(shown)
    assert str(hours_from_minutes(minutes, decimals)) == shown
