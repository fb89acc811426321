"""The daily bound's refusals say only what the caller may read, and say the way through.

The bound spans chapters (a mentor has one day, wherever they spend it), so a coordinator's
write can be refused because of minutes in a chapter they do not coordinate. The refusal then
gives the day and the bound, never the day's total or anything of the rows they cannot read;
the total is given where the caller can read every counted row of that day. Every attack is
sent as PostgREST sends it, at each isolation level a client may choose.

Data: tests/sql/hand_checked_dataset.sql (Anna's home chapter is A and she is a member of C;
Bo's home is B; coordinators of A+B, of A..E and of C).
"""

from __future__ import annotations

import pytest
from psycopg import IsolationLevel, errors

from conftest import daily_bound
from peerstats.postgrest import request
from test_closed_write_path import A, B, C, as_user, world  # noqa: F401 (a fixture)
from test_indirect_write_routes import COORDINATOR_AB, assert_figures_hold

LEVELS = [IsolationLevel.READ_COMMITTED, IsolationLevel.REPEATABLE_READ, IsolationLevel.SERIALIZABLE]
DAY = "2024-09-01"
REGISTER = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes,"
            " duplicate_of) values (%s, %s, 'visit', %s, %s, %s) returning id::text")


def said(error: errors.Error) -> str:
    """Everything a client is told of a refusal: PostgREST passes on message, detail and hint."""
    diag = error.diag
    return " ".join(part for part in (diag.message_primary, diag.message_detail, diag.message_hint) if part)


def register(conn, world, email: str, mentor: str, chapter: str, at: str, minutes: int, duplicate_of=None) -> str:
    [(activity,)] = as_user(conn, world, email, REGISTER, (mentor, chapter, at, minutes, duplicate_of))
    return activity


def refusal(conn, world, level, email_or_role: str, query: str, params) -> str:
    """What the caller is told when the write is refused (a check violation), at `level`."""
    conn.isolation_level = level
    try:
        with pytest.raises(errors.CheckViolation) as refused:
            if email_or_role == "service_role":
                request(conn, "service_role", query, params, read_only=False)
            else:
                as_user(conn, world, email_or_role, query, params)
    finally:
        conn.isolation_level = None
    return said(refused.value)


@pytest.fixture
def anna_in_two_chapters(world, conn):
    """Anna's day: 137 minutes in chapter C, which A's coordinators cannot read, and 30 in A."""
    anna = world.mentors["Anna"]
    hidden = register(conn, world, "anna@peerstats.test", anna, world.chapters[C], f"{DAY} 08:00+00", 137)
    visible = register(conn, world, "anna@peerstats.test", anna, world.chapters[A], f"{DAY} 12:00+00", 30)
    return world, hidden, visible


def rows_of_the_day(conn, world, caller: str, mentor: str) -> int:
    """How many of the mentor's activities of DAY the caller reads (the owner reads them all)."""
    query = ("select count(*) from public.activities where peer_mentor_id = %s"
             f" and recorded_at >= '{DAY}' and recorded_at < date '{DAY}' + 1")
    if caller == "owner":
        return conn.execute(query, (mentor,)).fetchone()[0]
    if caller == "service_role":
        return request(conn, "service_role", query, (mentor,))[0][0]
    return request(conn, "authenticated", query, (mentor,), user_id=world.users[caller])[0][0]


@pytest.mark.parametrize("level", LEVELS, ids=["read committed", "repeatable read", "serializable"])
def test_a_coordinator_probing_a_mentors_day_learns_no_total_of_another_chapter(conn, anna_in_two_chapters, level):
    world, hidden, visible = anna_in_two_chapters
    bound = daily_bound(conn)
    told = refusal(conn, world, level, COORDINATOR_AB, "update public.activities set duration_minutes = %s where id = %s",
                   (bound, visible))
    assert DAY in told and f"{bound:,}" in told
    for secret in (str(bound + 137), f"{bound + 137:,}", "137", hidden, world.chapters[C]):
        assert secret not in told, (secret, told)
    assert_figures_hold(conn)


# Each caller sends a write it may make that fills Anna's day; the total is told exactly where
# the caller's row security shows every row of that day.
@pytest.mark.parametrize("level", LEVELS, ids=["read committed", "repeatable read", "serializable"])
@pytest.mark.parametrize("caller, row", [
    (COORDINATOR_AB, "visible"),               # reads A, not C
    ("cato@peerstats.test", "hidden"),         # coordinates C only
    ("coord.five@peerstats.test", "visible"),  # A..E: both
    ("anna@peerstats.test", "visible"),        # her own rows
    ("service_role", "hidden"),
])
def test_the_total_is_told_exactly_where_the_caller_reads_every_row_of_the_day(conn, anna_in_two_chapters, level,
                                                                              caller, row):
    world, hidden, visible = anna_in_two_chapters
    anna, bound = world.mentors["Anna"], daily_bound(conn)
    minutes = {"visible": 30, "hidden": 137}
    other = minutes["hidden" if row == "visible" else "visible"]
    told = refusal(conn, world, level, caller, "update public.activities set duration_minutes = %s where id = %s",
                   (bound, {"visible": visible, "hidden": hidden}[row]))
    reads_every_row = rows_of_the_day(conn, world, caller, anna) == rows_of_the_day(conn, world, "owner", anna)
    assert (f"would have {bound + other} counted minutes on {DAY}" in told) == reads_every_row, told
    if not reads_every_row:
        assert str(bound + other) not in told and str(other) not in told, told
    assert reads_every_row == (caller not in (COORDINATOR_AB, "cato@peerstats.test"))


@pytest.fixture
def duplicate_on_a_full_day(world, conn):
    """Bo's full day, an activity O on the next day, and a duplicate of O on the full day (it
    does not count while O does)."""
    bo, b = world.mentors["Bo"], world.chapters[B]
    half = daily_bound(conn) // 2
    for hour in ("08", "20"):
        register(conn, world, "bo@peerstats.test", bo, b, f"{DAY} {hour}:00+00", half)
    original = register(conn, world, "bo@peerstats.test", bo, b, "2024-09-02 10:00+00", 60)
    duplicate = register(conn, world, "bo@peerstats.test", bo, b, f"{DAY} 10:00+00", 60, original)
    return world, original, duplicate


@pytest.mark.parametrize("level", LEVELS, ids=["read committed", "repeatable read", "serializable"])
@pytest.mark.parametrize("moderation", [
    "update public.activities set deleted_at = now() where id = %s",
    "update public.activities set activity_type = 'admin' where id = %s",
])
def test_a_moderation_refused_by_a_duplicates_day_names_the_duplicate_and_the_way_through(
        conn, duplicate_on_a_full_day, level, moderation):
    world, original, duplicate = duplicate_on_a_full_day
    told = refusal(conn, world, level, COORDINATOR_AB, moderation, (original,))
    assert f"activity {duplicate}" in told and f"duplicate of activity {original}" in told, told
    assert "in the same request" in told, told
    assert_figures_hold(conn)


def test_deleting_the_original_and_its_duplicate_in_one_request_goes_through(conn, duplicate_on_a_full_day):
    world, original, duplicate = duplicate_on_a_full_day
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = now() where id in (%s, %s)",
            (original, duplicate))
    assert conn.execute("select count(*) from public.activities where id in (%s, %s) and deleted_at is not null",
                        (original, duplicate)).fetchone()[0] == 2
    assert_figures_hold(conn)
