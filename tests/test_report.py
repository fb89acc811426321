"""`peerstats report`: a coordinator's HTML report, opened in headless Chromium; every number on
the rendered page equals what the API gives that coordinator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from peerstats import postgrest
from peerstats.periods import month_start
from peerstats.seed import seed
from peerstats.verify import regression
from peerstats.verify.common import Context
from test_bufdir import assert_one_line_failure, peerstats
from test_demo import png_size

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    # The browser only renders a finished page, so it keeps the real clock: under the clock list's
    # libfaketime (tests/test_calendar.py) Chromium took minutes to render one.
    real_clock = {name: value for name, value in os.environ.items() if not name.startswith(("LD_PRELOAD", "FAKETIME"))}
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
                              capture_output=True, text=True, timeout=120, check=True, env=real_clock)


class Figures(HTMLParser):
    """The text of every element with a data-figure attribute, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, str] = {}
        self.text: list[str] = []
        self.current: str | None = None
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("svg", "style", "title"):
            self.skip += 1
        if "data-figure" in attributes:
            self.current = attributes["data-figure"]
            self.figures[self.current] = ""

    def handle_endtag(self, tag):
        if tag in ("svg", "style", "title"):
            self.skip -= 1
        if tag == "td":
            self.current = None

    def handle_data(self, data):
        if self.current:
            self.figures[self.current] += data
        if not self.skip:
            self.text.append(data)


def number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def shown(minutes: int) -> Decimal:
    """A sum of minutes as the page must show it: hours, one decimal, a half rounded up."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@pytest.fixture
def seed_end(migrated, conn) -> datetime:
    """Where the seeded data ends: the UTC midnight three days before the server's today, read once,
    so the three days up to today hold no seeded activity and a test may fill them."""
    return conn.execute("select date_trunc('day', now() at time zone 'UTC') at time zone 'UTC' - interval '3 days'"
                        ).fetchone()[0]


@pytest.fixture
def seeded(migrated, conn, seed_end):
    seed(conn, activities=3000, until=seed_end)
    conn.execute("select public.refresh_stats_views()")
    return migrated


def the_api(conn, coordinator, query, params=None):
    return postgrest.request(conn, "authenticated", query, params, user_id=str(coordinator))


def expected_figures(conn, coordinator, start: date, end: date
                     ) -> tuple[dict[str, Decimal], dict[str, list[tuple[str, Decimal]]]]:
    """Every figure the page must show for the period [start, end), read through the API as the
    coordinator, computed here independently of the report's code: months, weeks, 12-month totals,
    each hours figure from its sum of total_minutes; and per chapter every mentor's (key, minutes),
    for the top five."""
    api = lambda query, params=None: the_api(conn, coordinator, query, params)  # noqa: E731
    chapters = [row[0] for row in api("select chapter_id from public.coordinator_chapters")]
    expected: dict[str, Decimal] = {}
    month_starts = [row[0] for row in conn.execute(
        "select generate_series(%s::date, %s::date - 1, interval '1 month')::date", (start, end))]
    mondays = [row[0] for row in conn.execute(
        "select generate_series(%s::date - (extract(isodow from %s::date)::integer - 1), %s::date - 1,"
        " interval '1 week')::date", (start, start, end))]
    # Every month and week of the period is on the page, with zeros where nothing counted.
    for chapter in chapters:
        for figure in ("activities", "hours", "mentors"):
            expected[f"total/{chapter}/{figure}"] = Decimal(0)
            for month in month_starts:
                expected[f"month/{chapter}/{month:%Y-%m}/{figure}"] = Decimal(0)
        for monday in mondays:
            for figure in ("activities", "hours"):
                expected[f"week/{chapter}/{monday}/{figure}"] = Decimal(0)
    for chapter, month, activities, minutes, mentors in api(
            "select chapter_id, month_start, activity_count, total_minutes, active_mentor_count from public.chapter_stats"
            " where month_start >= %s and month_start < %s", (start, end)):
        expected.update({f"month/{chapter}/{month:%Y-%m}/activities": activities,
                         f"month/{chapter}/{month:%Y-%m}/hours": shown(minutes),
                         f"month/{chapter}/{month:%Y-%m}/mentors": mentors})
    for chapter, monday, activities, minutes in api(
            "select chapter_id, bucket_date - (extract(isodow from bucket_date)::integer - 1), sum(activity_count),"
            " sum(total_minutes) from public.activity_time_series where bucket_date >= %s and bucket_date < %s"
            " group by 1, 2", (start, end)):
        expected.update({f"week/{chapter}/{monday}/activities": activities, f"week/{chapter}/{monday}/hours": shown(minutes)})
    for chapter, activities, minutes in api(
            "select chapter_id, sum(activity_count), sum(total_minutes) from public.chapter_stats"
            " where month_start >= %s and month_start < %s group by 1", (start, end)):
        expected.update({f"total/{chapter}/activities": activities, f"total/{chapter}/hours": shown(minutes)})
    mentors_of = defaultdict(list)
    for chapter, mentor, activities, minutes in api(
            "select chapter_id, peer_mentor_id, sum(activity_count), sum(total_minutes) from public.peer_mentor_stats"
            " where chapter_id = any (%s) and month_start >= %s and month_start < %s group by 1, 2",
            (chapters, start, end)):
        expected.update({f"mentor/{chapter}/{mentor}/activities": activities,
                         f"mentor/{chapter}/{mentor}/hours": shown(minutes)})
        mentors_of[str(chapter)].append((f"mentor/{chapter}/{mentor}", minutes))
        expected[f"total/{chapter}/mentors"] += 1
    distinct = api("select count(distinct peer_mentor_id), sum(activity_count), sum(total_minutes)"
                   " from public.peer_mentor_stats where chapter_id = any (%s) and month_start >= %s"
                   " and month_start < %s", (chapters, start, end))[0]
    expected.update({"total/all/mentors": distinct[0], "total/all/activities": distinct[1],
                     "total/all/hours": shown(distinct[2])})
    return expected, mentors_of


@pytest.mark.date_dependent
def test_the_rendered_report_shows_exactly_the_apis_figures(seeded, seed_end, conn, tmp_path):
    coordinator, chapter_count = conn.execute(
        "select user_id, count(*) from public.coordinator_chapters group by 1 order by 2 desc, 1 limit 1").fetchone()
    assert chapter_count > 1
    # A mentor from a chapter this coordinator does not coordinate, and no member of one of theirs,
    # with the most hours in one of theirs: row security hides the name, so the page must say so
    # rather than show it.
    chapter, chapter_name = conn.execute(
        "select c.id, c.name from public.coordinator_chapters cc join public.chapters c on c.id = cc.chapter_id"
        " where cc.user_id = %s order by c.name limit 1", (coordinator,)).fetchone()
    outsider, outsider_name = conn.execute(
        "select id, full_name from public.peer_mentors m where chapter_id not in"
        " (select chapter_id from public.coordinator_chapters where user_id = %s) and not exists"
        " (select from public.peer_mentor_chapters p join public.coordinator_chapters c using (chapter_id)"
        " where p.peer_mentor_id = m.id and c.user_id = %s) order by id limit 1",
        (coordinator, coordinator)).fetchone()
    # Full days on the three days after the seeded ones, the last of them yesterday: inside the
    # report's period whenever it reads the date, and days the daily bound lets them fill.
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
                 " select %s, %s, (select code from public.activity_types where counts_in_stats order by code limit 1),"
                 " %s + n * interval '1 day', 1440"
                 " from generate_series(0, 2) n", (outsider, chapter, seed_end))
    conn.execute("select public.refresh_stats_views()")

    page = tmp_path / "report.html"
    result = peerstats(seeded, "report", "--coordinator", str(coordinator), "--output", str(page), "--json")
    assert result.returncode == 0, result.stderr
    # The period the report read its figures for, from its own reading of the date: the
    # expectations below are worked out for it, whenever the day turns during the test.
    summary = json.loads(result.stdout)
    assert summary["path"] == str(page.resolve())
    start, last_day = date.fromisoformat(summary["from"]), date.fromisoformat(summary["until"])
    markup = page.read_text(encoding="utf-8")
    # Self-contained: no script, no stylesheet or image from elsewhere, links only within the page.
    assert "<script" not in markup and "<link" not in markup and "<img" not in markup
    assert not re.search(r"url\((?!#)", markup) and not re.search(r"\bsrc=", markup)
    assert set(re.findall(r'href="([^"#][^"]*)"', markup)) <= {"http://www.w3.org/1999/xlink"}
    assert markup.count("<svg") == chapter_count

    dom = chromium(page, "--dump-dom").stdout
    screenshot = tmp_path / "report.png"
    chromium(page, f"--screenshot={screenshot}", "--window-size=1100,1500")
    assert png_size(screenshot) == (1100, 1500)

    parsed = Figures()
    parsed.feed(dom)
    on_page = {key: number(text) for key, text in parsed.figures.items()}
    expected, mentors_of = expected_figures(conn, coordinator, start, last_day + timedelta(days=1))
    shown_mentors = {key.rsplit("/", 1)[0] for key in on_page if key.startswith("mentor/")}
    for chapter_key, mentors in mentors_of.items():
        # The top five by minutes of each chapter are the mentors shown.
        top = sorted(mentors, key=lambda m: -m[1])[:5]
        on_page_of_chapter = {k for k in shown_mentors if k.startswith(f"mentor/{chapter_key}/")}
        assert {minutes for _, minutes in top} == {m for k, m in mentors if k in on_page_of_chapter}
    expected = {key: value for key, value in expected.items()
                if not key.startswith("mentor/") or key.rsplit("/", 1)[0] in shown_mentors}
    assert on_page == expected

    text = " ".join(" ".join(parsed.text).split())
    names = [row[0] for row in conn.execute(
        "select c.name from public.coordinator_chapters cc join public.chapters c on c.id = cc.chapter_id"
        " where cc.user_id = %s", (coordinator,))]
    assert all(name in text for name in names)
    assert "Figures as of" in text and "not over" in text and "this week so far" in text
    assert not re.search(r"activity_time_series|chapter_stats|peer_mentor_stats|stats_freshness|public\.", text)
    # The outsider leads their chapter's mentors, nameless.
    assert on_page[f"mentor/{chapter}/{outsider}/hours"] == Decimal("72.0")
    assert "a mentor from another chapter" in text and outsider_name not in text
    assert chapter_name in text


def test_bad_input_gets_one_line_and_the_right_exit_code(seeded, conn, tmp_path):
    mentor_user = conn.execute("select user_id from public.peer_mentors where user_id is not null and user_id not in"
                               " (select user_id from public.coordinator_chapters) limit 1").fetchone()[0]
    coordinator = conn.execute("select user_id from public.coordinator_chapters limit 1").fetchone()[0]
    output = str(tmp_path / "report.html")
    cases = [
        (["--coordinator", "nobody", "--output", output], 2, "'nobody' is not a valid UUID"),
        (["--coordinator", str(coordinator), "--months", "0", "--output", output], 2, "--months"),
        (["--coordinator", str(coordinator), "--months", "25", "--output", output], 2, "--months"),
        (["--coordinator", str(coordinator)], 2, "--output"),
        (["--coordinator", "00000000-0000-4000-8000-000000000000", "--output", output], 1, "no user"),
        (["--coordinator", str(mentor_user), "--output", output], 1, "coordinates no chapter"),
        (["--coordinator", str(coordinator), "--output", str(tmp_path / "missing" / "r.html")], 1, "cannot write"),
    ]
    # All at once: each is a process of its own, mostly start-up time.
    running = [(subprocess.Popen([sys.executable, "-c", "from peerstats.cli import main; main()", "--database-url",
                                  seeded, "report", *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True), arguments, exit_code, fragment)
               for arguments, exit_code, fragment in cases]
    for process, arguments, exit_code, fragment in running:
        stdout, stderr = process.communicate(timeout=120)
        assert_one_line_failure(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), fragment)
        assert process.returncode == exit_code, (arguments, stderr)
    assert list(tmp_path.iterdir()) == []


# --- sums at a half: every hours figure is its minutes summed, then divided once -------------------

# Three chapters over three months of the report's period, each month's activity in one week that
# lies inside the month (from its first Monday on or after the 8th). Minutes of a day, by month:
# - A, one mentor, Monday to Wednesday: days of 62, 122 and 605 minutes (hours 1.0333.., 2.0333..,
#   10.0833..: quotients a numeric total_hours rounds down), a week and a month of 789 minutes,
#   13.15 h, a half at the shown decimal;
# - B, one mentor, Monday to Saturday: months of 8,180, 8,180 and 8,195 minutes (rounded-down
#   quotients again), a period of 24,555 minutes, 409.25 h;
# - C, three mentors on the month's Monday: each month 249 minutes (4.15 h) made of 62, 65 and
#   122, each mentor's period 249 minutes made of the same three numbers.
# The three periods make 27,669 minutes, 461.15 h. Every such figure is 3 minutes past a multiple
# of 6, so minutes / 60 ends in .x5; a sum of per-row total_hours lands below it.
HALF_MONTHS_BACK = (2, 5, 8)
HALF_DAYS = {
    ("A", "a"): [[62, 122, 605]] * 3,
    ("B", "b"): [[1385] * 5 + [1255], [1385] * 5 + [1255], [1385] * 5 + [1270]],
    ("C", "c1"): [[65], [122], [62]],
    ("C", "c2"): [[62], [65], [122]],
    ("C", "c3"): [[122], [62], [65]],
}
def at_a_half(minutes: int) -> bool:
    return minutes % 6 == 3


def half_dataset(conn, today) -> tuple[str, dict[str, int], dict[str, str]]:
    """The dataset above, dated from `today`; the coordinator's id, every hours figure's minutes by
    its key on the page, and the ids of the chapters and mentors by name."""
    coordinator = conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), 'halves@peerstats.test')"
                               " returning id").fetchone()[0]
    ids = {name: conn.execute("insert into public.chapters (name) values (%s) returning id", (f"Half {name}",)
                              ).fetchone()[0] for name in ("A", "B", "C")}
    for chapter in ids.values():
        conn.execute("insert into public.coordinator_chapters (user_id, chapter_id) values (%s, %s)",
                     (coordinator, chapter))
    conn.execute("insert into public.activity_types (code, label, counts_in_stats) values ('visit', 'Visit', true)"
                 " on conflict (code) do nothing")
    minutes: dict[str, int] = defaultdict(int)
    for (chapter_name, mentor_name), months in HALF_DAYS.items():
        chapter = ids[chapter_name]
        mentor = ids[mentor_name] = conn.execute(
            "insert into public.peer_mentors (chapter_id, full_name) values (%s, %s) returning id",
            (chapter, f"Mentor {mentor_name}")).fetchone()[0]
        for back, days in zip(HALF_MONTHS_BACK, months, strict=True):
            eighth = month_start(today, back) + timedelta(days=7)
            monday = eighth + timedelta(days=-eighth.weekday() % 7)
            for offset, day_minutes in enumerate(days):
                day = monday + timedelta(days=offset)
                # A day's minutes in activities of at most 600, at different hours of the day.
                parts = [600] * (day_minutes // 600) + ([day_minutes % 600] if day_minutes % 600 else [])
                for hour, part in enumerate(parts):
                    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
                                 " recorded_at, duration_minutes) values (%s, %s, 'visit', %s, %s)",
                                 (mentor, chapter, datetime.combine(day, time(8 + hour), timezone.utc), part))
                for key in (f"month/{chapter}/{day:%Y-%m}/hours", f"week/{chapter}/{monday}/hours",
                            f"total/{chapter}/hours", f"mentor/{chapter}/{mentor}/hours", "total/all/hours"):
                    minutes[key] += day_minutes
    return coordinator, dict(minutes), {name: str(id_) for name, id_ in ids.items()}


def page_figures(url, coordinator, page: Path) -> dict[str, Decimal]:
    result = peerstats(url, "report", "--coordinator", str(coordinator), "--output", str(page))
    assert result.returncode == 0, result.stderr
    parsed = Figures()
    parsed.feed(page.read_text(encoding="utf-8"))
    return {key: number(text) for key, text in parsed.figures.items() if key.endswith("/hours")}


@pytest.mark.date_dependent
def test_every_hours_figure_at_a_half_is_its_minutes_summed_then_rounded_half_up(migrated, conn, tmp_path):
    today = conn.execute("select (now() at time zone 'UTC')::date").fetchone()[0]
    coordinator, minutes, ids = half_dataset(conn, today)
    # The construction: the summed figures lie exactly at a half of the shown decimal.
    assert minutes[f"total/{ids['B']}/hours"] == 24_555 and minutes["total/all/hours"] == 27_669
    assert all(at_a_half(minutes[key]) for key in minutes
               if not key.startswith((f"month/{ids['B']}/", f"week/{ids['B']}/")))

    # ... and a sum of the API's per-row total_hours, read as the coordinator, misses them.
    def summed_hours(query, params=()):
        return {tuple(map(str, row[:-1])): row[-1].quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
                for row in the_api(conn, coordinator, query, params)}

    weeks = summed_hours("select chapter_id, bucket_date - (extract(isodow from bucket_date)::integer - 1),"
                         " sum(total_hours) from public.activity_time_series group by 1, 2")
    totals = summed_hours("select chapter_id, sum(total_hours) from public.chapter_stats group by 1")
    mentors = summed_hours("select chapter_id, peer_mentor_id, sum(total_hours) from public.peer_mentor_stats"
                           " group by 1, 2")
    everything = summed_hours("select sum(total_hours) from public.chapter_stats")
    missed = {key for key, value in [*((f"week/{c}/{m}/hours", v) for (c, m), v in weeks.items()),
                                     *((f"total/{c}/hours", v) for (c,), v in totals.items()),
                                     *((f"mentor/{c}/{m}/hours", v) for (c, m), v in mentors.items()),
                                     ("total/all/hours", everything[()])]
              if value != shown(minutes[key])}
    assert missed == {key for key in minutes if key.startswith(f"week/{ids['A']}/")} | {
        f"total/{ids['B']}/hours", "total/all/hours",
        *(f"mentor/{chapter}/{ids[m]}/hours" for m, chapter in
          (("b", ids["B"]), ("c1", ids["C"]), ("c2", ids["C"]), ("c3", ids["C"])))}

    # The page, first with every change still pending (the API recomputes every key live), then
    # after a refresh (the materialized rows): every hours figure is round_half_up(minutes / 60).
    for state in ("pending", "refreshed"):
        if state == "refreshed":
            conn.execute("select public.refresh_stats_views()")
        on_page = page_figures(migrated, coordinator, tmp_path / f"{state}.html")
        assert set(minutes) <= set(on_page), state
        assert on_page == {key: shown(minutes.get(key, 0)) for key in on_page}, state
        assert on_page["total/all/hours"] == Decimal("461.2") and on_page[f"total/{ids['B']}/hours"] == Decimal("409.3")

    # verify's totals (R1): minutes equal to the inserted ones, hours shown from them once.
    for criterion in regression.totals_equal(Context(migrated, conn)):
        assert criterion.passed, criterion.measured
        assert criterion.details["materialized_minutes"] == criterion.details["plain_minutes"] == 27_669
        assert f"{shown(27_669)} = {shown(27_669)} h" in criterion.measured
