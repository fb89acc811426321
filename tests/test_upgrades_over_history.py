"""Upgrades over history: a migration that adds a rule checks the existing rows only where a
write could still happen. The days of a closed reporting year are frozen as submitted (no write
reaches them until the year is reopened), so an upgrade leaves them as they are; elsewhere it
refuses, listing the offending activities by id with their years.

The daily bound (migration 20261202000100) is the rule tried here: a database at the release
before it (the migrations before it applied, from a copy of the folder holding only those),
rows written and years closed there, then upgraded with `peerstats db up`.
"""

from __future__ import annotations

import shutil

import pytest
from psycopg import errors

from peerstats import bufdir
from peerstats.migrations import Runner, supabase_dir
from peerstats.postgrest import request
from test_migrations import assert_one_line_failure, peerstats

DAILY_BOUND_VERSION = "20261202000100"
CHAPTER = "00000000-0000-4000-8000-0000000000c1"
MENTOR = "00000000-0000-4000-8000-0000000000d{}"  # d1..d9


@pytest.fixture
def before_the_daily_bound(db_url, conn, tmp_path):
    """The session database at the release before the daily bound, with one chapter, mentors
    d1..d9 and a counted type."""
    with Runner(conn) as runner:
        list(runner.down(None))
    release = tmp_path / "supabase"
    for folder in ("migrations", "rollback"):
        (release / folder).mkdir(parents=True)
        for path in sorted((supabase_dir() / folder).glob("*.sql")):
            if path.name < DAILY_BOUND_VERSION:
                shutil.copy(path, release / folder)
    with Runner(conn, release) as runner:
        applied = [m.version for m in runner.up()]
    assert applied and max(applied) < DAILY_BOUND_VERSION
    conn.execute("insert into public.chapters (id, name) values (%s, 'Chapter of history')", (CHAPTER,))
    conn.execute("insert into public.peer_mentors (id, chapter_id, full_name)"
                 " select format('00000000-0000-4000-8000-0000000000d%%s', n)::uuid, %s, 'Mentor ' || n"
                 " from generate_series(1, 9) n", (CHAPTER,))
    conn.execute("insert into public.activity_types (code, label, counts_in_stats) values ('visit', 'Visit', true)")
    return db_url


def overfill(conn, mentor: int, day: str) -> list[str]:
    """Two counted activities of 1,000 minutes on `day` for mentor d<mentor>; their ids."""
    return [row[0] for row in conn.execute(
        "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
        " select %s, %s, 'visit', %s::timestamptz + g * interval '1 hour', 1000 from generate_series(0, 1) g"
        " returning id::text", (MENTOR.format(mentor), CHAPTER, f"{day} 08:00+00")).fetchall()]


def close(conn, year: int) -> None:
    conn.execute("select private.close_reporting_year(%s, 'test')", (year,))


def db_up(url: str):
    return peerstats("--database-url", url, "db", "up")


def test_an_overfull_day_in_a_closed_year_is_left_as_submitted_and_the_upgrade_applies(before_the_daily_bound, conn):
    frozen = overfill(conn, 1, "2024-04-10")
    close(conn, 2024)
    submitted = conn.execute("select figures from private.bufdir_submissions where year = 2024").fetchone()[0]
    result = db_up(before_the_daily_bound)
    assert result.returncode == 0, result.stderr
    assert DAILY_BOUND_VERSION in result.stdout
    # Nothing of the closed year was touched, and it still equals what was submitted.
    assert conn.execute("select count(*), sum(duration_minutes) from private.counted_activities"
                        " where id = any(%s::uuid[])", (frozen,)).fetchone() == (2, 2000)
    assert bufdir.validate(conn, year=2024).submission_differences == []
    assert conn.execute("select figures from private.bufdir_submissions where year = 2024").fetchone()[0] == submitted
    # Reopened, the day is held to the bound again: a correction that leaves it over is refused,
    # a soft delete that brings it within goes through.
    conn.execute("select private.reopen_reporting_year(2024, 'a correction', 'test')")
    with pytest.raises(errors.CheckViolation, match="would have 1900 counted minutes on 2024-04-10"):
        request(conn, "service_role", "update public.activities set duration_minutes = 900 where id = %s",
                (frozen[0],), read_only=False)
    request(conn, "service_role", "update public.activities set deleted_at = now() where id = %s", (frozen[0],),
            read_only=False)


def test_an_overfull_day_in_an_open_or_reopened_year_refuses_the_upgrade_naming_its_activities(
        before_the_daily_bound, conn):
    frozen = overfill(conn, 1, "2024-04-10")
    close(conn, 2024)
    reopened = overfill(conn, 2, "2023-06-01")
    close(conn, 2023)
    conn.execute("select private.reopen_reporting_year(2023, 'a correction', 'test')")
    open_year = overfill(conn, 3, "2025-04-10")
    result = db_up(before_the_daily_bound)
    assert_one_line_failure(result, 1, f"{DAILY_BOUND_VERSION}_indirect_write_routes.sql failed, nothing of it was applied",
                            "2 mentor-days", *(f"{id} (2025)" for id in open_year),
                            *(f"{id} (2023, reopened)" for id in reopened),
                            "1 mentor-day in closed year 2024", "docs/operations.md")
    assert not [id for id in frozen if id in result.stderr]
    with Runner(conn) as runner:
        assert DAILY_BOUND_VERSION not in runner.applied_versions()
    # The procedure: correct what a write can still reach, then upgrade.
    conn.execute("update public.activities set deleted_at = now() where id = any(%s::uuid[])",
                 ([open_year[0], reopened[0]],))
    result = db_up(before_the_daily_bound)
    assert result.returncode == 0, result.stderr


def test_a_long_list_of_offending_activities_shows_the_first_ones_and_a_count(before_the_daily_bound, conn):
    offending = sorted(id for mentor in range(1, 10) for id in overfill(conn, mentor, "2025-04-10"))
    result = db_up(before_the_daily_bound)
    assert_one_line_failure(result, 1, "9 mentor-days", "18 counted activities", "and 8 more")
    shown = [id for id in offending if id in result.stderr]
    assert len(shown) == 10
