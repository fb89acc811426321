"""Realistic synthetic data, generated inside PostgreSQL (sql/seed_setup.sql, sql/seed_activities.sql).

What it looks like: chapters of unequal size (the largest about four times the smallest),
mentors whose activity varies about eightfold, some mentors active in a second chapter, fewer
activities at weekends, a summer dip and a Christmas one, durations of 15 minutes to 4 hours,
about 1% repeated registrations (duplicate_of), about 2% soft-deleted, about 4% of types that
do not count, spanning the last `years` years up to `until`; coordinators of one to five
chapters and user accounts for most mentors, so the API can be exercised as either.

The same parameters (seed, sizes and `until`, which defaults to the last midnight UTC, so
all day long) give the same rows: every value is a hash of the seed and a row number, not a
draw from random().

The rows are written in time order, as an app's history accumulates: row n of N falls on a
day drawn from the n-th of N equal slices of the day weights, and an activity's id is a UUIDv7
of its registration time. So each chunk adds to the ends of the indexes and sums the daily
bound over days it just wrote, instead of touching every part of the table (see "Where the
seeder's time goes" in docs/benchmarks.md).

The database refuses more counted minutes for one mentor on one UTC day than the daily bound
(`private.daily_bound_minutes()`, which the seeder reads), so before writing anything one pass
over the run (sql/seed_day_caps.sql) finds the days whose drawn durations would exceed what is
left of them (the bound minus the counted minutes already there)
and caps every row of such a day at that budget divided by the day's rows (in 5-minute steps
where that is 5 or more): exact, whatever the size. Only --append onto a day too full to
take its rows at one minute each stops the run, before it inserts a row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources

import psycopg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from peerstats.confirm import Loss
from peerstats.errors import PeerstatsError, UsageProblem

MAX_YEARS = 5
MAX_CHAPTERS = 1000
MAX_MENTORS = 100_000
MAX_ACTIVITIES = 100_000_000
# Rows per INSERT: enough to keep the per-statement cost negligible, few enough that the
# progress bar moves and the foreign-key checks queued per statement stay small.
MIN_CHUNK, MAX_CHUNK = 2_000, 50_000


@dataclass(frozen=True)
class Shape:
    """The organisation the activities are spread over."""

    chapters: int
    mentors: int
    years: int


PROFILES = ("default", "realistic")
# The default profile: the spec's test dataset (20 chapters, 100 mentors, two years) at any size.
DEFAULT_SHAPE = Shape(chapters=20, mentors=100, years=2)
# The realistic profile: the organisation grows with its activities, as a real one of that size
# would: at 10M activities 400 chapters and 5,000 mentors over five years (about 1.1 activities
# per mentor and day), proportionally fewer below, never fewer than REALISTIC_MIN_SHAPE (so a
# small run still has a few chapters and enough signed-in mentors for the write benchmark).
REALISTIC_ACTIVITIES_PER_CHAPTER = 25_000
REALISTIC_ACTIVITIES_PER_MENTOR = 2_000
REALISTIC_MIN_SHAPE = Shape(chapters=2, mentors=20, years=5)


def shape_of(profile: str, activities: int) -> Shape:
    """The chapters, mentors and years a profile spreads `activities` over."""
    if profile not in PROFILES:
        raise UsageProblem(f"--profile must be one of {', '.join(PROFILES)}, not '{profile}'")
    if profile == "default":
        return DEFAULT_SHAPE
    return Shape(
        chapters=min(MAX_CHAPTERS, max(REALISTIC_MIN_SHAPE.chapters, round(activities / REALISTIC_ACTIVITIES_PER_CHAPTER))),
        mentors=min(MAX_MENTORS, max(REALISTIC_MIN_SHAPE.mentors, round(activities / REALISTIC_ACTIVITIES_PER_MENTOR))),
        years=REALISTIC_MIN_SHAPE.years)


# What seeding leaves the planner statistics of, besides what it wrote into.
SEEDED_TABLES = ("public.activities", "public.activity_types", "public.chapters", "public.peer_mentors",
                 "public.coordinator_chapters", "auth.users")


@dataclass(frozen=True)
class SeedResult:
    rows: int
    """Activity rows written (duplicates and soft-deleted ones included)."""
    seconds: float
    """Wall time of the whole seeding: reference rows, activities and ANALYZE."""
    chapters: int
    mentors: int
    coordinators: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def check_parameters(*, activities: int, chapters: int, mentors: int, years: int, seed: int,
                     append: bool = False, replace: bool = False) -> None:
    """Refuse nonsense before touching the database, with one line that says what is wrong."""
    if not 1 <= activities <= MAX_ACTIVITIES:
        raise UsageProblem(f"--activities must be between 1 and {MAX_ACTIVITIES:,}, not {activities}")
    if not 1 <= chapters <= MAX_CHAPTERS:
        raise UsageProblem(f"--chapters must be between 1 and {MAX_CHAPTERS}, not {chapters}")
    if not 1 <= mentors <= MAX_MENTORS:
        raise UsageProblem(f"--mentors must be between 1 and {MAX_MENTORS:,}, not {mentors}")
    if mentors < chapters:
        raise UsageProblem(
            f"--mentors ({mentors}) must be at least --chapters ({chapters}): every chapter needs a mentor")
    if not 1 <= years <= MAX_YEARS:
        raise UsageProblem(f"--years must be between 1 and {MAX_YEARS}, not {years}")
    if not 0 <= seed < 2**62:
        raise UsageProblem(f"--seed must be between 0 and 2**62 - 1, not {seed}")
    if append and replace:
        raise UsageProblem("--append and --replace exclude each other: add to the activities, or replace them")


def chunk_bounds(total: int) -> list[tuple[int, int]]:
    """Inclusive row-number ranges 1..total, in about 40 chunks."""
    size = min(MAX_CHUNK, max(MIN_CHUNK, -(-total // 40)))
    return [(first, min(first + size - 1, total)) for first in range(1, total + 1, size)]


def existing_activities(conn: psycopg.Connection) -> int:
    if conn.execute("select to_regclass('public.activities') is null").fetchone()[0]:
        raise PeerstatsError("the database has no peerstats tables: run `peerstats db up` first")
    return conn.execute("select count(*) from public.activities").fetchone()[0]


# The advisory lock that makes seeding, and the demo's "reuse or seed", one at a time.
SEED_LOCK = 7351046003


@contextmanager
def seeding_lock(conn: psycopg.Connection) -> Iterator[None]:
    """Held for the session while a caller decides whether to seed and seeds (seed() takes the same lock)."""
    conn.execute("select pg_advisory_lock(%s)", (SEED_LOCK,))
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (SEED_LOCK,))


# What `replace` empties: the activity data. Chapters, mentors, activity types, user accounts
# and coordinators' chapters stay as they are.
ACTIVITY_TABLES = ("public.activities",)


def losses_of_replace(conn: psycopg.Connection) -> list[Loss]:
    """The rows `seed(replace=True)` deletes."""
    existing_activities(conn)
    return [Loss(table, conn.execute(f"select count(*) from {table}").fetchone()[0]) for table in ACTIVITY_TABLES]


def refuse_overfull_days(conn: psycopg.Connection) -> None:
    """Stop before inserting when a (mentor, day) of the run has fewer minutes left than rows,
    which no cap can fit: only an --append run onto days already (nearly) full meets one."""
    overfull = conn.execute(
        "select count(*) over (), mentor_id, day, private.daily_bound_minutes() - budget, activities,"
        " private.daily_bound_minutes() from seed_day_caps"
        " where budget < activities order by mentor_id, day limit 1").fetchone()
    if overfull:
        days, mentor_id, day, minutes, rows, bound = overfull
        raise PeerstatsError(
            f"{days:,} mentor-days cannot take this run's activities within {bound:,} minutes a day, e.g. "
            f"peer mentor {mentor_id} on {day} (UTC): {minutes:,} counted minutes already, {rows:,} "
            "activities to add at a minute or more each; seed fewer activities or onto other data")


def seed(
    conn: psycopg.Connection,
    *,
    activities: int,
    chapters: int = DEFAULT_SHAPE.chapters,
    mentors: int = DEFAULT_SHAPE.mentors,
    years: int = DEFAULT_SHAPE.years,
    seed: int = 0,
    append: bool = False,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    until: datetime | None = None,
) -> SeedResult:
    """Write `activities` synthetic activities (and their chapters, mentors, users and coordinators).

    Refuses a database that already holds activities unless `append` (add to them) or `replace`
    (delete them first, keeping everything else). `progress(done, total)` is called after every
    chunk. All of it, the deletion included, is one transaction; ANALYZE follows.
    """
    check_parameters(activities=activities, chapters=chapters, mentors=mentors, years=years, seed=seed,
                     append=append, replace=replace)
    started = time.perf_counter()
    # By default the data ends at the last midnight (UTC), so a seed gives the same rows all day.
    until = until or datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    sql = resources.files("peerstats").joinpath("sql")
    with conn.transaction():
        # Two seeds at once: the second waits here, then finds the first one's activities.
        conn.execute("select pg_advisory_xact_lock(%s)", (SEED_LOCK,))
        base = existing_activities(conn)
        if base and not (append or replace):
            raise PeerstatsError(
                f"the database already holds {base:,} activities: pass --append to add to them, or --replace to "
                "delete them first (chapters, mentors, activity types and coordinators stay)")
        if replace and base:
            # TRUNCATE rather than DELETE: instant at any size, and undone with the rest if seeding fails.
            conn.execute(f"truncate {', '.join(ACTIVITY_TABLES)}")
            base = 0
        conn.execute(
            "create temp table seed_params (seed bigint, chapters integer, mentors integer, years integer,"
            " until timestamptz, base bigint, activities bigint) on commit drop")
        conn.execute("insert into seed_params values (%s, %s, %s, %s, %s, %s, %s)",
                     (seed, chapters, mentors, years, until, base, activities))
        conn.execute(sql.joinpath("seed_setup.sql").read_text())
        conn.execute(sql.joinpath("seed_day_caps.sql").read_text())
        refuse_overfull_days(conn)
        insert_chunk = sql.joinpath("seed_activities.sql").read_text()
        for first, last in chunk_bounds(activities):
            conn.execute(insert_chunk, {"first": first, "last": last})
            if progress:
                progress(last, activities)
        chapter_count, mentor_count, coordinator_count = conn.execute(
            "select (select count(*) from seed_chapters), (select count(*) from seed_mentors),"
            " (select count(distinct user_id) from seed_coordinators)").fetchone()
        conn.execute("drop function pg_temp.seed_draws(bigint, bigint), pg_temp.seed_unit(bigint, bigint, integer),"
                     " pg_temp.seed_uuid(bigint, text, bigint), pg_temp.seed_activity_id(bigint, bigint, timestamptz)")
    conn.execute(f"analyze {', '.join(SEEDED_TABLES)}")
    return SeedResult(activities, time.perf_counter() - started, chapter_count, mentor_count, coordinator_count)


def vacuum_after_load(conn: psycopg.Connection) -> None:
    """Autovacuum's work after a bulk load, for benchmarks to do before their timings rather than
    have it run in the middle of them: the activities just written, and the seeding's entries that
    the refresh after it removed from the dirty-key log (each seeding statement logs its keys)."""
    conn.execute("vacuum analyze public.activities, private.stats_dirty_keys")


def seed_with_progress(conn: psycopg.Connection, console: Console, **parameters) -> SeedResult:
    """seed() with a progress bar of the activities written, and a line saying how fast it went."""
    columns = (TextColumn("seeding"), BarColumn(), TextColumn("{task.completed:,} of {task.total:,} activities"),
               TimeElapsedColumn())
    bar = Progress(*columns, console=console, transient=True)
    task = bar.add_task("seed", total=parameters["activities"])

    def advance(done: int, _total: int) -> None:
        # Started on the first chunk, so a refusal is one line without an empty bar before it.
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done)

    try:
        result = seed(conn, progress=advance, **parameters)
    finally:
        if bar.live.is_started:
            bar.stop()
    console.print(
        f"wrote {result.rows:,} activities ({result.chapters} chapters, {result.mentors} mentors, "
        f"{result.coordinators} coordinators) in {result.seconds:.1f} s: {result.rows_per_second:,.0f} rows/s")
    return result
