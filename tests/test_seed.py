"""`peerstats seed`: exact row counts, the same data for the same seed, realistic shapes, refusals."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import daily_bound, migrate_afresh
from peerstats import database
from peerstats.errors import PeerstatsError
from peerstats.migrations import Runner
from peerstats.seed import Shape, seed, shape_of

PEERSTATS = str(Path(sys.executable).parent / "peerstats")
UNTIL = datetime(2026, 6, 30, 18, 0, tzinfo=timezone.utc)


def peerstats(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PEERSTATS, "--database-url", url, *args], capture_output=True, text=True, timeout=300)


def assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("peerstats: ") and "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


FINGERPRINT = """
select md5(string_agg(a::text, ',' order by a.id))
from (select id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, duplicate_of,
             deleted_at, created_at from public.activities) a
union all
select md5(string_agg(m::text, ',' order by m.id)) from public.peer_mentors m
union all
select md5(string_agg(c::text, ',' order by c.user_id, c.chapter_id)) from public.coordinator_chapters c
union all
select md5(string_agg(u.id::text || u.email, ',' order by u.id)) from auth.users u
"""


def fingerprint(url: str, **parameters) -> list[str]:
    migrate_afresh(url)
    with database.connect(url) as conn:
        seed(conn, until=UNTIL, **parameters)
        return [row[0] for row in conn.execute(FINGERPRINT)]


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(db_url):
    first = fingerprint(db_url, activities=3000, seed=7)
    assert fingerprint(db_url, activities=3000, seed=7) == first
    other = fingerprint(db_url, activities=3000, seed=8)
    assert all(a != b for a, b in zip(first, other))


def test_the_command_gives_the_same_data_for_the_same_seed(db_url):
    prints = []
    for _ in range(2):
        migrate_afresh(db_url)
        result = peerstats(db_url, "seed", "--activities", "1500", "--seed", "11", "--no-refresh")
        assert result.returncode == 0, result.stderr
        with database.connect(db_url) as conn:
            prints.append([row[0] for row in conn.execute(FINGERPRINT)])
    assert prints[0] == prints[1]


def test_n_counts_every_row_and_the_reference_rows_are_there(migrated, conn):
    progress = []
    result = seed(conn, activities=4321, chapters=12, mentors=40, progress=lambda done, total: progress.append((done, total)))
    assert result.rows == 4321 and result.seconds > 0 and result.rows_per_second > 0
    assert (result.chapters, result.mentors) == (12, 40)
    assert progress[-1] == (4321, 4321) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    counts = conn.execute(
        "select (select count(*) from public.activities), (select count(*) from public.chapters),"
        " (select count(*) from public.peer_mentors),"
        " (select count(*) from public.peer_mentors where user_id is not null),"
        " (select count(distinct user_id) from public.coordinator_chapters)").fetchone()
    assert counts[:3] == (4321, 12, 40)
    assert 0.5 * 40 < counts[3] < 0.9 * 40  # most mentors can log in
    assert counts[4] == result.coordinators
    # Every chapter has a coordinator; some coordinate several, none more than five.
    per_coordinator = [row[0] for row in conn.execute(
        "select count(*) from public.coordinator_chapters group by user_id")]
    assert max(per_coordinator) <= 5 and max(per_coordinator) > 1 and min(per_coordinator) == 1
    assert conn.execute("select count(distinct chapter_id) from public.coordinator_chapters").fetchone()[0] == 12
    # ANALYZE ran: the planner knows the table's size.
    assert conn.execute("select reltuples from pg_class where oid = 'public.activities'::regclass").fetchone()[0] == 4321


@pytest.fixture(scope="module")
def realistic(db_url):
    """20,000 activities over two years ending on UNTIL, seeded once for the realism tests."""
    migrate_afresh(db_url)
    with database.connect(db_url) as conn:
        seed(conn, activities=20_000, until=UNTIL)
    with database.connect(db_url) as conn:
        yield conn


PER_DAY = """
select avg(activities) filter (where {a})::float8, avg(activities) filter (where {b})::float8
from (select (recorded_at at time zone 'UTC')::date as day, count(*) as activities
      from public.activities group by 1) d
"""


def test_fewer_activities_at_weekends(realistic):
    weekend, weekday = realistic.execute(PER_DAY.format(
        a="extract(isodow from day) >= 6", b="extract(isodow from day) < 6")).fetchone()
    assert weekend < 0.6 * weekday


def test_a_summer_dip(realistic):
    july, may_and_september = realistic.execute(PER_DAY.format(
        a="extract(month from day) = 7", b="extract(month from day) in (5, 9)")).fetchone()
    assert july < 0.75 * may_and_september


def test_chapters_and_mentors_of_unequal_size(realistic):
    per_chapter = [row[0] for row in realistic.execute(
        "select count(*) from private.counted_activities group by chapter_id")]
    assert len(per_chapter) == 20 and max(per_chapter) >= 2 * min(per_chapter)
    per_mentor = [row[0] for row in realistic.execute("select count(*) from public.activities group by peer_mentor_id")]
    assert len(per_mentor) == 100 and max(per_mentor) >= 3 * min(per_mentor)
    in_two_chapters = realistic.execute(
        "select count(*) from (select peer_mentor_id from public.activities group by 1"
        " having count(distinct chapter_id) = 2) m").fetchone()[0]
    assert 3 <= in_two_chapters <= 30


def test_duplicates_deletions_and_types_that_do_not_count(realistic):
    total, duplicates, deleted, not_counting = realistic.execute(
        "select count(*), count(duplicate_of), count(deleted_at),"
        " count(*) filter (where not t.counts_in_stats)"
        " from public.activities a join public.activity_types t on t.code = a.activity_type").fetchone()
    assert 0.006 * total <= duplicates <= 0.014 * total
    assert 0.014 * total <= deleted <= 0.026 * total
    assert 0.02 * total <= not_counting <= 0.06 * total
    # A duplicate repeats an earlier registration of the same mentor.
    mismatched = realistic.execute(
        "select count(*) from public.activities d join public.activities o on o.id = d.duplicate_of"
        " where o.duplicate_of is not null or o.peer_mentor_id <> d.peer_mentor_id or o.chapter_id <> d.chapter_id"
        " or o.recorded_at <> d.recorded_at or o.created_at > d.created_at").fetchone()[0]
    assert mismatched == 0


def test_durations_and_dates_in_range(realistic):
    shortest, longest, first, last, created_before_recorded, deleted_before_created = realistic.execute(
        "select min(duration_minutes), max(duration_minutes), min(recorded_at), max(recorded_at),"
        " count(*) filter (where created_at < recorded_at), count(*) filter (where deleted_at < created_at)"
        " from public.activities").fetchone()
    assert (shortest, longest) == (15, 240)
    assert first >= datetime(2024, 7, 1, tzinfo=timezone.utc) and first < datetime(2024, 7, 3, tzinfo=timezone.utc)
    assert last <= UNTIL and last > datetime(2026, 6, 29, tzinfo=timezone.utc)
    assert created_before_recorded == 0 and deleted_before_created == 0


def test_refuses_a_database_with_activities_unless_appending(migrated, conn):
    seed(conn, activities=2000, seed=1)
    with pytest.raises(PeerstatsError, match="already holds 2,000 activities"):
        seed(conn, activities=1000, seed=1)
    seed(conn, activities=1000, seed=1, append=True)
    assert conn.execute("select count(*), count(distinct id) from public.activities").fetchone() == (3000, 3000)
    result = peerstats(migrated, "seed", "--activities", "10")
    assert_one_line_failure(result, "already holds 3,000 activities", "--append")


def test_the_command_seeds_refreshes_and_reports_its_speed(migrated, conn):
    result = peerstats(migrated, "seed", "--activities", "2500", "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "wrote 2,500 activities" in result.stdout and "rows/s" in result.stdout
    assert "refreshed:" in result.stdout
    assert conn.execute("select sum(activity_count) from private.mv_chapter_stats").fetchone()[0] == \
        conn.execute("select count(*) from private.counted_activities").fetchone()[0]


@pytest.mark.parametrize("activities, shape", [
    (10_000_000, Shape(chapters=400, mentors=5_000, years=5)),
    (1_000_000, Shape(chapters=40, mentors=500, years=5)),
    (100_000, Shape(chapters=4, mentors=50, years=5)),
    (2_500, Shape(chapters=2, mentors=20, years=5)),
    (100_000_000, Shape(chapters=1_000, mentors=50_000, years=5)),
])
def test_the_realistic_profile_grows_the_organisation_with_the_activities(activities, shape):
    assert shape_of("realistic", activities) == shape
    assert shape_of("default", activities) == Shape(chapters=20, mentors=100, years=2)


def test_the_command_seeds_the_realistic_profile(migrated, conn):
    result = peerstats(migrated, "seed", "--activities", "2500", "--profile", "realistic")
    assert result.returncode == 0, result.stderr
    assert "wrote 2,500 activities (2 chapters, 20 mentors," in result.stdout
    first, last = conn.execute("select min(recorded_at), max(recorded_at) from public.activities").fetchone()
    assert (last - first).days > 4 * 365
    assert conn.execute("select count(*) from public.chapters").fetchone()[0] == 2


@pytest.mark.parametrize("arguments, words", [
    (["--activities", "10", "--profile", "huge"], ["--profile", "huge"]),
    (["--activities", "10", "--profile", "realistic", "--mentors", "50"], ["--profile realistic", "--mentors"]),
    (["--activities", "10", "--profile", "realistic", "--years", "1", "--chapters", "2"],
     ["--chapters", "--years"]),
    (["--activities", "0", "--profile", "realistic"], ["--activities"]),
    (["--activities", "0"], ["--activities"]),
    (["--activities", "-3"], ["--activities"]),
    (["--activities", "10", "--years", "6"], ["--years", "5"]),
    (["--activities", "10", "--years", "0"], ["--years"]),
    (["--activities", "10", "--chapters", "0"], ["--chapters"]),
    (["--activities", "10", "--mentors", "-1"], ["--mentors"]),
    (["--activities", "10", "--chapters", "30", "--mentors", "10"], ["--mentors", "--chapters"]),
    (["--activities", "10", "--seed", "-1"], ["--seed"]),
    (["--activities", "many"], ["--activities"]),
    ([], ["--activities"]),
])
def test_nonsense_gets_one_line_and_a_non_zero_exit(migrated, conn, arguments, words):
    assert_one_line_failure(peerstats(migrated, "seed", *arguments), *words)
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == 0


def test_a_database_without_the_schema_is_told_to_migrate(db_url):
    with database.connect(db_url) as conn, Runner(conn) as runner:
        for _ in runner.down(None):
            pass
    try:
        assert_one_line_failure(peerstats(db_url, "seed", "--activities", "10"), "peerstats db up")
    finally:
        migrate_afresh(db_url)


# 80,000 activities of 4 mentors over one year: about 55 a mentor and day on average.
DENSE = dict(activities=80_000, chapters=2, mentors=4, years=1, until=UNTIL)


def rows_that_pass_the_bound_at_15_minutes(conn) -> int:
    """At 15 minutes, the shortest duration the seeder draws, this many rows of a day pass the bound."""
    return daily_bound(conn) // 15 + 1


MENTOR_DAYS = """
with every_row as (
  select peer_mentor_id, (recorded_at at time zone 'UTC')::date as day,
         count(*) as rows, sum(duration_minutes) as minutes, min(duration_minutes) as shortest
  from public.activities group by 1, 2
), counted as (
  select peer_mentor_id, (recorded_at at time zone 'UTC')::date as day, sum(duration_minutes) as minutes
  from private.counted_activities group by 1, 2
)
select max(e.rows), max(e.minutes), max(c.minutes), min(e.shortest)
from every_row e left join counted c using (peer_mentor_id, day)
"""


@pytest.fixture(scope="module")
def dense(db_url):
    """DENSE seeded once (seed 1), for the tests of the daily bound. Seed 1 leaves no mentor-day
    at exactly the bound's counted minutes (a cap times its rows can add up to that), so appending to
    it cuts rows rather than refusing; the refusal has its own test below."""
    migrate_afresh(db_url)
    with database.connect(db_url) as conn:
        seed(conn, seed=1, **DENSE)
    with database.connect(db_url) as conn:
        yield conn


def test_a_dense_run_keeps_every_mentor_day_within_the_daily_bound(dense):
    rows, minutes, counted_minutes, shortest = dense.execute(MENTOR_DAYS).fetchone()
    # Days so full that durations as drawn (15 minutes or more) would break the bound...
    assert rows >= rows_that_pass_the_bound_at_15_minutes(dense)
    # ...are cut to fit: every row of a mentor's day, counted or not, adds up to the bound at most.
    bound = daily_bound(dense)
    assert shortest < 15 and minutes <= bound and counted_minutes <= bound
    assert dense.execute("select count(*) from public.activities").fetchone()[0] == 80_000
    # A cap keeps 5-minute steps where it is 5 or more, and a repeat keeps its original's duration.
    odd, mismatched = dense.execute(
        "select (select count(*) from public.activities where duration_minutes >= 5 and duration_minutes % 5 <> 0),"
        " (select count(*) from public.activities d join public.activities o on o.id = d.duplicate_of"
        "  where o.duration_minutes <> d.duration_minutes)").fetchone()
    assert (odd, mismatched) == (0, 0)


def test_appending_to_full_days_cuts_the_new_rows_to_what_is_left(dense):
    # The same seed, so the same mentors: a tenth more rows onto the days the first run filled.
    seed(dense, seed=1, append=True, **(DENSE | {"activities": 8_000}))
    rows, _, counted_minutes, shortest = dense.execute(MENTOR_DAYS).fetchone()
    assert rows > rows_that_pass_the_bound_at_15_minutes(dense) and shortest < 5
    assert counted_minutes <= daily_bound(dense)
    assert dense.execute("select count(*), count(distinct id) from public.activities").fetchone() == (88_000, 88_000)


def test_appending_to_days_without_a_minute_left_is_refused_before_writing(migrated, conn):
    assert peerstats(migrated, "seed", "--activities", "2000", "--chapters", "1", "--mentors", "1",
                     "--years", "1", "--no-refresh").returncode == 0
    # Fill every day of the seeded span (and a little beyond) to exactly the bound's counted minutes.
    conn.execute("""
        insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)
        select m.id, m.chapter_id, 'home_visit', d.day::timestamp at time zone 'UTC',
               private.daily_bound_minutes() - coalesce(c.minutes, 0)
        from public.peer_mentors m
        cross join lateral (select current_date - g as day from generate_series(0, 400) g) d
        left join (select peer_mentor_id, (recorded_at at time zone 'UTC')::date as day,
                          sum(duration_minutes) as minutes
                   from private.counted_activities group by 1, 2) c
          on c.peer_mentor_id = m.id and c.day = d.day
        where coalesce(c.minutes, 0) < private.daily_bound_minutes()
        """)
    before = conn.execute("select count(*) from public.activities").fetchone()[0]
    result = peerstats(migrated, "seed", "--activities", "2000", "--chapters", "1", "--mentors", "1",
                       "--years", "1", "--append", "--no-refresh")
    assert_one_line_failure(result, "mentor-days cannot take", f"{daily_bound(conn):,} counted minutes already")
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == before
