"""Issue 16: the indirect routes around the closed write path, each attack sent as PostgREST
sends it, and the legitimate version of each write.

Data: tests/sql/hand_checked_dataset.sql (UTC year 2024; Anna's home chapter is A and she is a
member of C; Bo's home is B; Cato is a mentor of C and its coordinator; coordinators of A+B, of
A..E and of C; Finn of F is seen by no coordinator). Each test adds the rows it needs as the
owner. Afterwards the API must equal the plain views for every caller, and every closed year
its stored submission.
"""

from __future__ import annotations

import json
import threading

import pytest
from psycopg import errors

from conftest import daily_bound
from peerstats import bufdir, database
from peerstats.errors import PeerstatsError
from peerstats.migrations import Runner
from peerstats.postgrest import claims_for, request
from peerstats.refresh import refresh_stats_views
from test_closed_write_path import ACTIVITY, A, B, C, as_user, refused, world  # noqa: F401 (a fixture)
from test_exact_stats import differences, make_callers
from test_migrations import steps_down_through

VERSION = "20261202000100"
ORIGINAL = "00000000-0000-4000-8000-000000000e01"  # Anna, A, 'workshop', 2025-01-10
DUPLICATE = "00000000-0000-4000-8000-000000000e02"  # Anna, A, 'visit', 2024-12-31, duplicate of ORIGINAL
SPARE = "00000000-0000-4000-8000-000000000e03"  # Anna, A, 'visit', 2024-12-30, no duplicate yet
COORDINATOR_AB = "coord.ab@peerstats.test"
ISOLATIONS = ["repeatable read", "serializable"]


@pytest.fixture
def straddling(world, conn):
    """An original in 2025 of a type used nowhere else, its duplicate in 2024, and one more 2024
    activity of the same mentor and chapter."""
    conn.execute("insert into public.activity_types (code, label, counts_in_stats) "
                 "values ('workshop', 'Workshop', true)")
    conn.execute(
        "insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
        " values (%(o)s, %(m)s, %(c)s, 'workshop', '2025-01-10 10:00+00', 60),"
        " (%(s)s, %(m)s, %(c)s, 'visit', '2024-12-30 10:00+00', 30)",
        {"o": ORIGINAL, "s": SPARE, "m": world.mentors["Anna"], "c": world.chapters[A]})
    conn.execute(
        "insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes,"
        " duplicate_of) values (%s, %s, %s, 'visit', '2024-12-31 10:00+00', 60, %s)",
        (DUPLICATE, world.mentors["Anna"], world.chapters[A], ORIGINAL))
    refresh_stats_views(conn)
    return world


def assert_figures_hold(conn) -> None:
    """The API equals the plain views for every caller, and every closed year its submission."""
    assert differences(conn, make_callers(conn)) == {}
    for (year,) in conn.execute("select year from private.reporting_years where status = 'closed'").fetchall():
        assert bufdir.validate(conn, year=year).submission_differences == [], year


def service(conn, query, params=None):
    return request(conn, "service_role", query, params, read_only=False)


# --- 1. a closed year refuses every write that changes what it counts -----------------------------


def test_a_type_switch_is_refused_when_a_duplicate_of_its_activity_sits_in_a_closed_year(conn, straddling):
    bufdir.close_year(conn, 2024, "test")
    for switch in ("update public.activity_types set counts_in_stats = false where code = 'workshop'",
                   "update public.activity_types set code = 'workshops' where code = 'workshop'"):
        with pytest.raises(errors.CheckViolation, match="reporting year 2024 is closed"):
            service(conn, switch)
    assert_figures_hold(conn)


@pytest.mark.parametrize("write", [
    "update public.activities set deleted_at = now() where id = %s",
    "update public.activities set activity_type = 'admin' where id = %s",
])
def test_a_change_of_an_original_whose_duplicate_sits_in_a_closed_year_is_refused(conn, straddling, write):
    bufdir.close_year(conn, 2024, "test")
    refused(conn, straddling, COORDINATOR_AB, write, (ORIGINAL,), errors.CheckViolation,
            "reporting year 2024 is closed")
    assert_figures_hold(conn)


def test_undelete_and_hard_delete_of_such_an_original_are_refused(conn, straddling):
    conn.execute("update public.activities set deleted_at = now() where id = %s", (ORIGINAL,))
    bufdir.close_year(conn, 2024, "test")
    refused(conn, straddling, COORDINATOR_AB, "update public.activities set deleted_at = null where id = %s",
            (ORIGINAL,), errors.CheckViolation, "reporting year 2024 is closed")
    with pytest.raises(errors.CheckViolation, match="reporting year 2024 is closed"):
        service(conn, "delete from public.activities where id in (%s, %s)", (ORIGINAL, DUPLICATE))
    assert_figures_hold(conn)


def test_a_duplicate_mark_or_unmark_reaching_into_a_closed_year_is_refused(conn, straddling):
    bufdir.close_year(conn, 2024, "test")
    refused(conn, straddling, COORDINATOR_AB, "update public.activities set duplicate_of = %s where id = %s",
            (ORIGINAL, SPARE), errors.CheckViolation, "reporting year 2024 is closed")
    refused(conn, straddling, COORDINATOR_AB, "update public.activities set duplicate_of = null where id = %s",
            (DUPLICATE,), errors.CheckViolation, "reporting year 2024 is closed")
    assert_figures_hold(conn)


def test_the_service_role_corrects_a_reopened_year_and_closes_it_again(conn, straddling):
    bufdir.close_year(conn, 2024, "test")
    conn.execute("select private.reopen_reporting_year(2024, 'a duplicate marked by mistake', 'test')")
    service(conn, "update public.activities set duplicate_of = null where id = %s", (DUPLICATE,))
    service(conn, "update public.activity_types set counts_in_stats = false where code = 'workshop'")
    bufdir.close_year(conn, 2024, "test")
    assert conn.execute("select count(*) from private.bufdir_submissions where year = 2024").fetchone()[0] == 2
    assert_figures_hold(conn)


# --- 3. dependent writers conflict at every isolation level -----------------------------------------


class Stale:
    """A request whose transaction took its snapshot (as PostgREST's first statement does) before
    another request committed: `write` then runs in that transaction."""

    def __init__(self, url: str, isolation: str, role: str, user_id: str | None = None):
        self.conn = database.connect(url, autocommit=False)
        self.conn.execute(f"set transaction isolation level {isolation}")
        self.conn.execute("select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                          (role, json.dumps(claims_for(role, user_id))))

    def write(self, query: str, params=None) -> None:
        try:
            self.conn.execute(query, params)
            self.conn.commit()
        finally:
            self.conn.rollback()
            self.conn.close()


def as_coordinator(world):
    return ("authenticated", world.users[COORDINATOR_AB])


MARK = "update public.activities set duplicate_of = %s where id = %s"
UNMARK = "update public.activities set duplicate_of = null where id = %s"


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("change", [
    "update public.activities set deleted_at = now() where id = %s",
    "update public.activities set activity_type = 'admin' where id = %s",
])
def test_a_change_of_an_original_after_a_mark_it_did_not_see_fails(conn, straddling, db_url, isolation, change):
    stale = Stale(db_url, isolation, *as_coordinator(straddling))
    as_user(conn, straddling, COORDINATOR_AB, MARK, (ORIGINAL, SPARE))
    with pytest.raises(errors.SerializationFailure):
        stale.write(change, (ORIGINAL,))
    assert_figures_hold(conn)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_mark_after_a_change_of_its_original_it_did_not_see_fails(conn, straddling, db_url, isolation):
    stale = Stale(db_url, isolation, *as_coordinator(straddling))
    as_user(conn, straddling, COORDINATOR_AB, "update public.activities set deleted_at = now() where id = %s",
            (ORIGINAL,))
    with pytest.raises(errors.SerializationFailure):
        stale.write(MARK, (ORIGINAL, SPARE))
    assert_figures_hold(conn)


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_soft_delete_by_a_transaction_older_than_a_reopen_mark_and_close_fails(conn, straddling, db_url, isolation):
    conn.execute(UNMARK, (DUPLICATE,))  # so that only the mark it does not see reaches into 2024
    bufdir.close_year(conn, 2024, "test")
    stale = Stale(db_url, isolation, *as_coordinator(straddling))
    conn.execute("select private.reopen_reporting_year(2024, 'a late duplicate', 'test')")
    service(conn, MARK, (ORIGINAL, SPARE))
    bufdir.close_year(conn, 2024, "test")
    with pytest.raises(errors.SerializationFailure):
        stale.write("update public.activities set deleted_at = now() where id = %s", (ORIGINAL,))
    assert_figures_hold(conn)


INSERT_WORKSHOP = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                   "duration_minutes) values (%s, %s, 'workshop', '2025-02-03 10:00+00', 45)")
SWITCH_WORKSHOP = "update public.activity_types set counts_in_stats = false where code = 'workshop'"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_type_switch_after_an_insert_of_the_type_it_did_not_see_fails(conn, straddling, db_url, isolation):
    stale = Stale(db_url, isolation, "service_role")
    as_user(conn, straddling, "anna@peerstats.test", INSERT_WORKSHOP,
            (straddling.mentors["Anna"], straddling.chapters[A]))
    with pytest.raises(errors.SerializationFailure):
        stale.write(SWITCH_WORKSHOP)
    assert_figures_hold(conn)


# A visit that repeats the workshop ORIGINAL: whether it counts follows the workshop's type.
INSERT_REPEAT_OF_WORKSHOP = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                             "duration_minutes, duplicate_of) values (%s, %s, 'visit', '2025-01-10 10:00+00', 60, "
                             f"'{ORIGINAL}')")


@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("insert", [INSERT_WORKSHOP, INSERT_REPEAT_OF_WORKSHOP])
def test_an_insert_after_a_switch_of_its_type_it_did_not_see_fails(conn, straddling, db_url, isolation, insert):
    stale = Stale(db_url, isolation, "authenticated", straddling.users["anna@peerstats.test"])
    service(conn, SWITCH_WORKSHOP)
    with pytest.raises(errors.SerializationFailure):
        stale.write(insert, (straddling.mentors["Anna"], straddling.chapters[A]))
    assert_figures_hold(conn)


def test_at_read_committed_a_change_of_an_original_waits_for_a_mark_and_sees_it(conn, straddling, db_url):
    conn.execute(UNMARK, (DUPLICATE,))
    bufdir.close_year(conn, 2024, "test")
    conn.execute("select private.reopen_reporting_year(2024, 'a late duplicate', 'test')")
    outcome = {}
    with database.connect(db_url, autocommit=False) as marker:
        marker.execute("select set_config('role', 'service_role', true)")
        marker.execute(MARK, (ORIGINAL, SPARE))  # not yet committed
        marker.execute("select private.close_reporting_year(2024, 'test')")

        def soft_delete():
            try:
                with database.connect(db_url) as deleter_conn:
                    as_user(deleter_conn, straddling, COORDINATOR_AB,
                            "update public.activities set deleted_at = now() where id = %s", (ORIGINAL,))
                outcome["deleter"] = "deleted"
            except errors.Error as failure:
                outcome["deleter"] = failure

        deleter = threading.Thread(target=soft_delete)
        deleter.start()
        deleter.join(timeout=1)
        assert deleter.is_alive()  # it waits for the mark
        marker.commit()
        deleter.join(timeout=10)
    # It saw the mark and the close: its soft delete would change 2024.
    assert isinstance(outcome["deleter"], errors.CheckViolation), outcome
    assert "reporting year 2024 is closed" in str(outcome["deleter"])
    assert conn.execute("select deleted_at from public.activities where id = %s", (ORIGINAL,)).fetchone()[0] is None
    assert_figures_hold(conn)


# --- 4. moderation sticks by every route ----------------------------------------------------------


def test_a_soft_delete_cannot_be_undone_by_moving_the_activity_to_another_chapter(conn, world):
    # Cato coordinates C and becomes a member of A; his activity in A is soft-deleted by A's coordinator.
    cato, a = world.mentors["Cato"], world.chapters[A]
    conn.execute("insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)", (cato, a))
    [(activity,)] = conn.execute(
        "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
        " values (%s, %s, 'visit', '2024-05-02 10:00+00', 30) returning id::text", (cato, a)).fetchall()
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = now() where id = %s", (activity,))
    refresh_stats_views(conn)
    moved = "only a coordinator of the chapter it was moderated in may move it"
    refused(conn, world, "cato@peerstats.test", "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[C], activity), errors.InsufficientPrivilege, moved)
    refused(conn, world, "cato@peerstats.test", "update public.activities set chapter_id = %s, deleted_at = null "
            "where id = %s", (world.chapters[C], activity), errors.InsufficientPrivilege, "may restore it")
    # Anna (A, member of C) cannot take her deleted activity out of the sight of A's coordinators.
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = now() where id = %s",
            (ACTIVITY.format("c01"),))
    refused(conn, world, "anna@peerstats.test", "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[C], ACTIVITY.format("c01")), errors.InsufficientPrivilege, moved)
    assert conn.execute("select moderated_in_chapter::text from public.activities where id = %s",
                        (activity,)).fetchone()[0] == a
    assert_figures_hold(conn)


def test_a_moved_activity_stays_moderated_by_the_chapter_it_was_moderated_in(conn, world):
    # Moved by the owner after the soft delete (an import, say): C's coordinator still may not restore it.
    conn.execute("update public.activities set deleted_at = now() where id = %s", (ACTIVITY.format("c01"),))
    conn.execute("update public.activities set chapter_id = %s where id = %s",
                 (world.chapters[C], ACTIVITY.format("c01")))
    refused(conn, world, "cato@peerstats.test", "update public.activities set deleted_at = null where id = %s",
            (ACTIVITY.format("c01"),), errors.InsufficientPrivilege, "chapter it was deleted in may restore it")
    assert_figures_hold(conn)


def test_a_coordinator_undeletes_in_their_chapter(conn, world):
    as_user(conn, world, "anna@peerstats.test", "update public.activities set deleted_at = now() where id = %s",
            (ACTIVITY.format("c01"),))
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = null where id = %s",
            (ACTIVITY.format("c01"),))
    assert conn.execute("select deleted_at, moderated_in_chapter from public.activities where id = %s",
                        (ACTIVITY.format("c01"),)).fetchone() == (None, None)
    assert_figures_hold(conn)


KEPT, CHANGED = "00000000-0000-4000-8000-000000000e11", "00000000-0000-4000-8000-000000000e12"
AS_A_FIRST_APPLICATION_SETS_IT = ("case when deleted_at is not null or duplicate_of is not null "
                                  "then chapter_id end")


def moderation_states_a_first_application_would_not_give(conn) -> list[tuple[str, str]]:
    return conn.execute("select id::text, moderated_in_chapter::text from public.activities "
                        f"where moderated_in_chapter is distinct from {AS_A_FIRST_APPLICATION_SETS_IT} "
                        "order by id").fetchall()


@pytest.fixture
def moderated_then_moved(conn, world):
    """Two activities of Anna's, soft-deleted in A by a coordinator of A..E, who then moved
    them to C (Anna is a member of C): moderated in A, a state no first application gives."""
    conn.execute("insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at,"
                 " duration_minutes) values (%(k)s, %(m)s, %(a)s, 'visit', '2024-05-03 10:00+00', 30),"
                 " (%(c)s, %(m)s, %(a)s, 'visit', '2024-05-04 10:00+00', 30)",
                 {"k": KEPT, "c": CHANGED, "m": world.mentors["Anna"], "a": world.chapters[A]})
    for activity in (KEPT, CHANGED):
        as_user(conn, world, "coord.five@peerstats.test", "update public.activities set deleted_at = now() "
                "where id = %s", (activity,))
        as_user(conn, world, "coord.five@peerstats.test", "update public.activities set chapter_id = %s "
                "where id = %s", (world.chapters[C], activity))
    assert moderation_states_a_first_application_would_not_give(conn) == \
        [(KEPT, world.chapters[A]), (CHANGED, world.chapters[A])]
    return world


def test_moderation_after_down_and_up_is_what_a_first_application_gives_unless_kept(conn, moderated_then_moved):
    world = moderated_then_moved
    c01 = ACTIVITY.format("c01")
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = now() where id = %s", (c01,))
    refresh_stats_views(conn)
    with Runner(conn) as runner:
        list(runner.down(steps_down_through(VERSION)))
    # Under the earlier rules: c01 restored in A, moved to C by Anna and soft-deleted there by
    # C's coordinator; CHANGED restored and soft-deleted again by C's coordinator; KEPT untouched.
    as_user(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = null where id = %s", (c01,))
    as_user(conn, world, "anna@peerstats.test", "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[C], c01))
    for activity in (c01, CHANGED, CHANGED):
        as_user(conn, world, "cato@peerstats.test", "update public.activities set deleted_at = "
                "case when deleted_at is null then now() end where id = %s", (activity,))
    with Runner(conn) as runner:
        list(runner.up())

    assert moderation_states_a_first_application_would_not_give(conn) == [(KEPT, world.chapters[A])]
    assert conn.execute("select moderated_in_chapter::text from public.activities where id = %s",
                        (c01,)).fetchone()[0] == world.chapters[C]
    # C's coordinator may undo their own deletions, and still not A's.
    refused(conn, world, "cato@peerstats.test", "update public.activities set deleted_at = null where id = %s",
            (KEPT,), errors.InsufficientPrivilege, "chapter it was deleted in may restore it")
    for activity in (c01, CHANGED):
        assert as_user(conn, world, "cato@peerstats.test", "update public.activities set deleted_at = null "
                       "where id = %s returning moderated_in_chapter", (activity,)) == [(None,)]
    assert_figures_hold(conn)


def test_a_moderation_column_an_earlier_down_script_left_is_set_afresh(conn, moderated_then_moved):
    world = moderated_then_moved
    with Runner(conn) as runner:
        list(runner.down(steps_down_through(VERSION)))
    # What the down script released with the migration left: the column, its values unmaintained.
    conn.execute("drop table private.moderations_kept_by_down")
    conn.execute("alter table public.activities add column moderated_in_chapter uuid references public.chapters (id)")
    conn.execute(f"update public.activities set moderated_in_chapter = coalesce(%s, {AS_A_FIRST_APPLICATION_SETS_IT}) "
                 "where id in (%s, %s)", (world.chapters[A], KEPT, CHANGED))
    with Runner(conn) as runner:
        list(runner.up())
    assert moderation_states_a_first_application_would_not_give(conn) == []
    assert_figures_hold(conn)


# --- 5. nobody acts on a mentor they cannot see ---------------------------------------------------


def test_a_membership_grant_names_only_a_mentor_the_coordinator_can_read(conn, world):
    grant = "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)"
    for hidden in (world.mentors["Finn"], world.mentors["Dag"], "00000000-0000-4000-8000-000000000bff"):
        refused(conn, world, COORDINATOR_AB, grant, (hidden, world.chapters[A]), errors.InsufficientPrivilege,
                "new row violates row-level security policy for table \"peer_mentor_chapters\"")
    as_user(conn, world, COORDINATOR_AB, grant, (world.mentors["Bo"], world.chapters[A]))


def test_a_reassignment_names_only_a_mentor_the_coordinator_can_read(conn, world):
    reassign = "update public.activities set peer_mentor_id = %s where id = %s"
    hidden = "is not one you can see: an activity can be reassigned only to a mentor you can read"
    # Finn of F is no member of A or B: A's coordinators cannot read him.
    for mentor in (world.mentors["Finn"], "00000000-0000-4000-8000-000000000bff"):
        refused(conn, world, COORDINATOR_AB, reassign, (mentor, ACTIVITY.format("c01")),
                errors.InsufficientPrivilege, hidden)
    as_user(conn, world, COORDINATOR_AB, "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) "
            "values (%s, %s)", (world.mentors["Bo"], world.chapters[A]))
    as_user(conn, world, COORDINATOR_AB, reassign, (world.mentors["Bo"], ACTIVITY.format("c01")))
    # Once service_role makes him a member of A, A's coordinators read him and may (see
    # tests/test_mentors_of_several_chapters.py).
    conn.execute("insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)",
                 (world.mentors["Finn"], world.chapters[A]))
    as_user(conn, world, COORDINATOR_AB, reassign, (world.mentors["Finn"], ACTIVITY.format("c01")))
    assert_figures_hold(conn)


# --- 6. at most the daily bound's counted minutes per mentor and UTC day ------------------------------

MENTOR_DAY = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
              " select %s, %s, 'visit', '2024-04-10 00:00+00'::timestamptz + g * interval '1 hour', %s"
              " from generate_series(0, %s - 1) g")


def test_a_mentor_registers_a_full_day_and_not_one_minute_more(conn, world):
    bound = daily_bound(conn)
    half = bound // 2
    bo, b = world.mentors["Bo"], world.chapters[B]
    as_user(conn, world, "bo@peerstats.test", MENTOR_DAY, (bo, b, half, 2))
    assert 2 * half == bound
    over = f"peer mentor {bo} would have {bound + 1} counted minutes on 2024-04-10"
    refused(conn, world, "bo@peerstats.test", MENTOR_DAY, (bo, b, 1, 1), errors.CheckViolation, over)
    # The same day's minutes in another chapter, a longer duration, a move into the day, an undelete.
    anna, a = world.mentors["Anna"], world.chapters[A]
    as_user(conn, world, "anna@peerstats.test", MENTOR_DAY, (anna, world.chapters[C], bound - 440, 1))
    refused(conn, world, "anna@peerstats.test", MENTOR_DAY, (anna, a, 500, 1), errors.CheckViolation,
            f"would have {bound + 60} counted minutes on 2024-04-10")
    refused(conn, world, "bo@peerstats.test", "update public.activities set duration_minutes = %s "
            "where peer_mentor_id = %s and recorded_at = '2024-04-10 00:00+00'", (half + 1, bo),
            errors.CheckViolation, over)
    c03_minutes = conn.execute("select duration_minutes from public.activities where id = %s",
                               (ACTIVITY.format("c03"),)).fetchone()[0]
    refused(conn, world, "bo@peerstats.test", "update public.activities set recorded_at = '2024-04-10 12:00+00' "
            "where id = %s", (ACTIVITY.format("c03"),), errors.CheckViolation,
            f"would have {bound + c03_minutes} counted minutes")
    conn.execute("update public.activities set deleted_at = now() where peer_mentor_id = %s "
                 "and recorded_at = '2024-04-10 01:00+00'", (bo,))
    as_user(conn, world, "bo@peerstats.test", MENTOR_DAY.replace("00:00+00", "05:00+00"), (bo, b, half - 20, 1))
    refused(conn, world, COORDINATOR_AB, "update public.activities set deleted_at = null where peer_mentor_id = %s "
            "and recorded_at = '2024-04-10 01:00+00'", (bo,), errors.CheckViolation,
            f"would have {bound - 20 + half} counted minutes")
    # Twenty rows of a full day each, of a type that does not count, are no counted minutes;
    # switching the type to counting would make them so.
    conn.execute("update public.activities set activity_type = 'admin' where peer_mentor_id = %s "
                 "and recorded_at >= '2024-04-10' and recorded_at < '2024-04-11'", (bo,))
    as_user(conn, world, "bo@peerstats.test", MENTOR_DAY.replace("'visit'", "'admin'"), (bo, b, bound, 20))
    with pytest.raises(errors.CheckViolation, match="would have .* counted minutes on 2024-04-10"):
        service(conn, "update public.activity_types set counts_in_stats = true where code = 'admin'")
    assert_figures_hold(conn)


@pytest.mark.parametrize("isolation, second_error", [
    ("read committed", errors.CheckViolation),
    ("repeatable read", errors.SerializationFailure),
    ("serializable", errors.SerializationFailure),
])
def test_two_sessions_cannot_both_add_800_minutes_to_one_mentor_day(conn, world, db_url, isolation, second_error):
    bo, b = world.mentors["Bo"], world.chapters[B]
    outcome = {}
    claims = json.dumps(claims_for("authenticated", world.users["bo@peerstats.test"]))
    with database.connect(db_url, autocommit=False) as first, database.connect(db_url, autocommit=False) as second:
        for session in (first, second):
            session.execute(f"set transaction isolation level {isolation}")
            session.execute("select set_config('role', 'authenticated', true), "
                            "set_config('request.jwt.claims', %s, true)", (claims,))
        first.execute(MENTOR_DAY, (bo, b, 800, 1))  # not yet committed

        def add_800_more():
            try:
                second.execute(MENTOR_DAY.replace("00:00+00", "15:00+00"), (bo, b, 800, 1))
                second.commit()
                outcome["second"] = "added"
            except errors.Error as failure:
                second.rollback()
                outcome["second"] = failure

        other = threading.Thread(target=add_800_more)
        other.start()
        other.join(timeout=1)
        assert other.is_alive()  # it waits on the mentor's day
        first.commit()
        other.join(timeout=10)
    assert isinstance(outcome["second"], second_error), outcome
    assert conn.execute("select sum(duration_minutes) from public.activities where peer_mentor_id = %s "
                        "and recorded_at >= '2024-04-10' and recorded_at < '2024-04-11'", (bo,)).fetchone()[0] == 800
    assert_figures_hold(conn)


def test_the_migration_refuses_to_apply_over_a_day_past_the_daily_bound(conn, world):
    with Runner(conn) as runner:
        list(runner.down(steps_down_through(VERSION)))
    overfull = [id for (id,) in conn.execute(MENTOR_DAY + " returning id::text",
                                             (world.mentors["Bo"], world.chapters[B], 1000, 2)).fetchall()]
    with pytest.raises(PeerstatsError, match="1 mentor-day of open or reopened years has more than 1,440 counted "
                       "minutes, 2 counted activities in all") as refusal:
        with Runner(conn) as runner:
            list(runner.up())
    assert all(f"{id} (2024)" in str(refusal.value) for id in overfull)
    conn.execute("delete from public.activities where recorded_at >= '2024-04-10' and recorded_at < '2024-04-11'")
    with Runner(conn) as runner:
        assert VERSION in [m.version for m in runner.up()]
