"""`peerstats report`: one coordinator's chapters over the last N months, as one self-contained HTML file.

Everything on the page is read through the API as that coordinator (requests made as PostgREST
makes them, role `authenticated` with the coordinator's id as `sub`), so the report shows
exactly what row security lets them see: their chapters' figures, and the names of the
mentors whose home chapter they coordinate. All requests read one snapshot, so the charts and
tables agree with each other. The period is `periods.months_window` ending today (UTC), the
window `peerstats verify` calls "12 months".

The page is templates/report.html and templates/report_chapter.html filled with
string.Template; charts are inline SVG drawn by chart.py. It loads nothing from elsewhere.

Every hours figure on the page is a sum of the API's total_minutes turned into hours once, one
decimal, a half rounded up (peerstats.hours): a month, a week, a mentor's period, a chapter's
period and the total of all chapters each agree with the minutes they are made of.
"""

from __future__ import annotations

import html
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from peerstats import chart, postgrest
from peerstats.bufdir import write_output
from peerstats.errors import PeerstatsError
from peerstats.hours import hours_from_minutes
from peerstats.periods import month_start, months_window

MAX_MONTHS = 24  # beyond two years, weekly bars are too narrow to read
TOP_MENTORS = 5
OTHER_CHAPTER_MENTOR = "a mentor from another chapter"
NORWAY = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class Month:
    start: date
    activity_count: int
    total_minutes: int
    active_mentor_count: int


@dataclass(frozen=True)
class Mentor:
    mentor_id: UUID
    name: str | None  # None: row security hides the name (their home chapter is not the coordinator's)
    activity_count: int
    total_minutes: int


@dataclass(frozen=True)
class ChapterReport:
    chapter_id: UUID
    name: str
    weeks: list[chart.Week]
    months: list[Month]  # every month of the period, zeros where nothing counted
    mentors: list[Mentor]  # every mentor with a counted activity in the period, most hours first
    active_mentor_count: int  # distinct over the whole period

    @property
    def activity_count(self) -> int:
        return sum(month.activity_count for month in self.months)

    @property
    def total_minutes(self) -> int:
        return sum(month.total_minutes for month in self.months)


@dataclass(frozen=True)
class CoordinatorReport:
    coordinator_id: UUID
    start: date
    end: date  # exclusive: the day after today
    today: date
    read_at: datetime  # what the figures are as of: the API is exact at every moment, not as of a refresh
    chapters: list[ChapterReport]
    active_mentor_count: int  # distinct over every chapter: a mentor in two chapters counts once

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)


# --- reading through the API ------------------------------------------------------------------

def read(conn: psycopg.Connection, coordinator_id: UUID, months: int) -> CoordinatorReport:
    """Every figure of the report, read as the coordinator in one read-only snapshot."""
    known = conn.execute("select exists (select from auth.users where id = %s)", (coordinator_id,)).fetchone()[0]
    if not known:
        raise PeerstatsError(f"no user {coordinator_id}: --coordinator takes the id of a user (auth.users)")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    try:
        with conn.transaction():
            return read_snapshot(conn, coordinator_id, months)
    finally:
        conn.isolation_level = None
        conn.read_only = None


def read_snapshot(conn: psycopg.Connection, coordinator_id: UUID, months: int) -> CoordinatorReport:
    def api(query: str, params: Any = None) -> list[tuple]:
        return postgrest.request(conn, "authenticated", query, params, user_id=str(coordinator_id))

    chapters = api("select c.id, c.name from public.coordinator_chapters cc"
                   " join public.chapters c on c.id = cc.chapter_id where cc.user_id = %s order by c.name, c.id",
                   (coordinator_id,))
    if not chapters:
        raise PeerstatsError(f"user {coordinator_id} coordinates no chapter (public.coordinator_chapters): "
                             "nothing to report")
    chapter_ids = [chapter_id for chapter_id, _ in chapters]
    read_at, today = api("select now(), (now() at time zone 'UTC')::date")[0]
    start, end = months_window(today, months)
    days = api("select chapter_id, bucket_date, activity_count, total_minutes from public.activity_time_series"
               " where chapter_id = any (%s) and bucket_date >= %s and bucket_date < %s", (chapter_ids, start, end))
    monthly = api("select chapter_id, month_start, activity_count, total_minutes, active_mentor_count"
                  " from public.chapter_stats where chapter_id = any (%s) and month_start >= %s and month_start < %s",
                  (chapter_ids, start, end))
    # A coordinator who is also a mentor gets their own rows of other chapters too: keep theirs.
    mentor_totals = api("select chapter_id, peer_mentor_id, sum(activity_count)::bigint, sum(total_minutes)::bigint"
                        " from public.peer_mentor_stats where chapter_id = any (%s)"
                        " and month_start >= %s and month_start < %s"
                        " group by chapter_id, peer_mentor_id having sum(activity_count) > 0",
                        (chapter_ids, start, end))
    mentor_ids = sorted({mentor_id for _, mentor_id, _, _ in mentor_totals})
    names = dict(api("select id, full_name from public.peer_mentors where id = any (%s)", (mentor_ids,)))

    days_of: dict[UUID, list[tuple[date, int, int]]] = defaultdict(list)
    for chapter_id, day, activity_count, total_minutes in days:
        days_of[chapter_id].append((day, activity_count, total_minutes))
    months_of = {(chapter_id, first): Month(first, count, minutes, mentors)
                 for chapter_id, first, count, minutes, mentors in monthly}
    mentors_of: dict[UUID, list[Mentor]] = defaultdict(list)
    for chapter_id, mentor_id, activity_count, total_minutes in mentor_totals:
        mentors_of[chapter_id].append(Mentor(mentor_id, names.get(mentor_id), activity_count, total_minutes))
    month_starts = [month_start(today, back) for back in range(months - 1, -1, -1)]
    reports = [
        ChapterReport(
            chapter_id, name,
            chart.weekly(days_of[chapter_id], start=start, end=end, today=today),
            [months_of.get((chapter_id, first), Month(first, 0, 0, 0)) for first in month_starts],
            sorted(mentors_of[chapter_id],
                   key=lambda m: (-m.total_minutes, -m.activity_count, m.name is None, m.name or "", m.mentor_id)),
            len(mentors_of[chapter_id]),
        )
        for chapter_id, name in chapters
    ]
    return CoordinatorReport(coordinator_id, start, end, today, read_at, reports, len(mentor_ids))


# --- the page ---------------------------------------------------------------------------------

def hours_text(minutes: int) -> str:
    """A sum of minutes as the page shows it: hours, one decimal, a half rounded up."""
    return f"{hours_from_minutes(minutes, 1):,f}"


def long_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def moment_text(moment: datetime) -> str:
    """A moment in Norwegian time, where the coordinators are, with UTC beside it (the time of the figures)."""
    utc, local = moment.astimezone(timezone.utc), moment.astimezone(NORWAY)
    return f"{long_date(local.date())}, {local:%H:%M} Norwegian time ({utc:%H:%M} UTC)"


def template(name: str) -> Template:
    return Template(resources.files("peerstats").joinpath("templates", name).read_text(encoding="utf-8"))


def cell(text: Any, key: str | None = None) -> str:
    """A number cell; `key` names the figure (data-figure) so a test can find it on the page."""
    attribute = f' data-figure="{html.escape(key)}"' if key else ""
    return f'<td class="num"{attribute}>{html.escape(str(text))}</td>'


def month_label(report: CoordinatorReport, month: Month) -> str:
    label = f"{month.start:%b %Y}"
    if month.start == month_start(report.today):
        label += f" (1 to {report.today.day} {report.today:%b}, not over)"
    return label


def chapter_section(report: CoordinatorReport, chapter: ChapterReport) -> str:
    key = str(chapter.chapter_id)
    month_rows = []
    for month in chapter.months:
        figure = f"month/{key}/{month.start:%Y-%m}"
        partial = ' class="partial"' if month.start == month_start(report.today) else ""
        month_rows.append(
            f"<tr{partial}><td>{html.escape(month_label(report, month))}</td>"
            + cell(f"{month.activity_count:,}", f"{figure}/activities") + cell(hours_text(month.total_minutes), f"{figure}/hours")
            + cell(f"{month.active_mentor_count:,}", f"{figure}/mentors") + "</tr>")
    month_rows.append(
        f'<tr class="total"><td>all {len(chapter.months)} months</td>'
        + cell(f"{chapter.activity_count:,}") + cell(hours_text(chapter.total_minutes))
        + cell(f"{chapter.active_mentor_count:,}") + "</tr>")
    top = chapter.mentors[:TOP_MENTORS]
    mentor_rows = [
        f"<tr><td>{html.escape(mentor.name or OTHER_CHAPTER_MENTOR)}</td>"
        + cell(hours_text(mentor.total_minutes), f"mentor/{key}/{mentor.mentor_id}/hours")
        + cell(f"{mentor.activity_count:,}", f"mentor/{key}/{mentor.mentor_id}/activities") + "</tr>"
        for mentor in top
    ] or ['<tr><td colspan="3">no mentor had a counted activity in this period</td></tr>']
    hidden = sum(1 for mentor in top if mentor.name is None)
    mentor_note = (f'<p class="note">{"One mentor" if hidden == 1 else f"{hidden} mentors"} from a chapter you do not '
                   "coordinate: their name is not shown to you.</p>") if hidden else ""
    week_rows = []
    for week in chapter.weeks:
        figure = f"week/{key}/{week.start.isoformat()}"
        if week.complete:
            label = f"Mon {short_date(week.start)}"
        elif week.start < report.start:
            label = f"Mon {short_date(week.start)} (from {short_date(report.start)}: the period starts mid-week)"
        else:
            label = f"Mon {short_date(week.start)} (this week so far, not over)"
        partial = "" if week.complete else ' class="partial"'
        week_rows.append(
            f"<tr{partial}><td>{html.escape(label)}</td>"
            + cell(f"{week.activity_count:,}", f"{figure}/activities") + cell(hours_text(week.total_minutes), f"{figure}/hours")
            + "</tr>")
    return template("report_chapter.html").substitute(
        chapter_id=html.escape(key),
        chapter_name=html.escape(chapter.name),
        summary_line=html.escape(
            f"{chapter.activity_count:,} activities, {hours_text(chapter.total_minutes)} hours, "
            f"{chapter.active_mentor_count:,} active mentors from {short_date(report.start)} "
            f"to {short_date(report.last_day)}."),
        chart=chart.svg_markup(chart.draw_weekly(chapter.weeks, size=(10, 4.6))),
        chart_key=html.escape(chart.KEY_TEXT),
        month_rows="\n".join(month_rows),
        top_count=min(TOP_MENTORS, max(len(top), 1)),
        mentor_rows="\n".join(mentor_rows),
        mentor_note=mentor_note,
        week_rows="\n".join(week_rows),
    )


def render(report: CoordinatorReport) -> str:
    months = len(report.chapters[0].months)
    names = [chapter.name for chapter in report.chapters]
    overview_rows = [
        f'<tr><td><a href="#chapter-{chapter.chapter_id}">{html.escape(chapter.name)}</a></td>'
        + cell(f"{chapter.activity_count:,}", f"total/{chapter.chapter_id}/activities")
        + cell(hours_text(chapter.total_minutes), f"total/{chapter.chapter_id}/hours")
        + cell(f"{chapter.active_mentor_count:,}", f"total/{chapter.chapter_id}/mentors") + "</tr>"
        for chapter in report.chapters
    ]
    if len(report.chapters) > 1:
        overview_rows.append(
            f'<tr class="total"><td>all {len(report.chapters)} chapters</td>'
            + cell(f"{sum(c.activity_count for c in report.chapters):,}", "total/all/activities")
            + cell(hours_text(sum(c.total_minutes for c in report.chapters)), "total/all/hours")
            + cell(f"{report.active_mentor_count:,}", "total/all/mentors") + "</tr>")
    overview_note = ("Active mentors: mentors with at least one counted activity in the period. "
                     + ("A mentor active in two of your chapters counts in each chapter and once in the total. "
                        if len(report.chapters) > 1 else "")
                     + "Hours are shown with one decimal.")
    period_line = (f"The last {months} months: {long_date(report.start)} to today, {long_date(report.today)}. "
                   "This month and this week are not over yet, so their figures will still grow.")
    reading_notes = (
        "An activity counts when it has not been deleted, is of a type that counts in the statistics, and is not "
        "a repeated registration of another activity that counts; these are the same rules as the annual Bufdir "
        "report. "
        "Hours are the activities' minutes added up, then divided by 60 and shown with one decimal, a half "
        "rounded up, so every total agrees with the minutes it is made of. Days, weeks (Monday to Sunday) and months are in UTC. "
        f"{chart.KEY_TEXT} "
        f"The figures include every activity registered up to {moment_text(report.read_at)}, "
        "when this report was made.")
    return template("report.html").substitute(
        title=html.escape(f"Peer-mentor activity, {report.start:%B %Y} to {report.today:%B %Y}"),
        chapters_line=html.escape(f"Your chapter{'s' if len(names) > 1 else ''}: {', '.join(names)}."),
        as_of=html.escape(moment_text(report.read_at)),
        period_line=html.escape(period_line),
        overview_rows="\n".join(overview_rows),
        overview_note=html.escape(overview_note),
        chapter_sections="\n".join(chapter_section(report, chapter) for chapter in report.chapters),
        reading_notes=html.escape(reading_notes),
    )


def describe(report: CoordinatorReport) -> str:
    """What a written report covers, in lines that fit 80 columns."""
    names = ", ".join(chapter.name for chapter in report.chapters)
    return (f"  {len(report.chapters)} chapter{'s' if len(report.chapters) != 1 else ''}: {names}\n"
            f"  {short_date(report.start)} to {short_date(report.today)} (today)\n"
            f"  figures as of {moment_text(report.read_at)}")


def summary(report: CoordinatorReport, output: Path) -> dict[str, Any]:
    """What a written report covers, as `peerstats report --json` prints it."""
    return {"path": str(output.resolve()), "coordinator_id": str(report.coordinator_id),
            "from": report.start.isoformat(), "until": report.today.isoformat(),
            "figures_as_of": report.read_at.isoformat(),
            "chapters": [{"chapter_id": str(chapter.chapter_id), "name": chapter.name} for chapter in report.chapters]}


def write(conn: psycopg.Connection, coordinator_id: UUID, months: int, output: Path) -> CoordinatorReport:
    """Read, render and write the report (whole or not at all); returns what it read."""
    report = read(conn, coordinator_id, months)
    write_output(render(report), output)
    return report
