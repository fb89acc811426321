"""Figures no client can corrupt: every attack of issue 10, sent as PostgREST sends it.

Each attack is made through peerstats.postgrest.request as `authenticated` (or the role named),
must be refused with its documented message, and must leave the counts, the Bufdir export and
the dashboard exactly as they were. Data: tests/sql/hand_checked_dataset.sql (UTC year 2024;
Anna's home chapter is A and she is a member of C; Bo's home is B; coordinators of A+B and C).
"""

from __future__ import annotations

import threading
from uuid import UUID

import pytest
from psycopg import errors

from peerstats import bufdir, database
from peerstats.postgrest import request
from peerstats.refresh import refresh_stats_views

pytestmark = pytest.mark.every_postgresql

A, B, C = (f"Chapter {letter}" for letter in "ABC")
ACTIVITY = "00000000-0000-4000-8000-000000000{}"  # c01..c11, d01..d03
INSERT = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) "
          "values (%s, %s, 'visit', %s, 30) returning id, created_at, updated_at")


def figures(conn) -> tuple:
    """Everything a refused attack must leave alone: the rows, the counting rule's totals, the
    2024 export, and what the dashboard serves (the API as service_role)."""
    return (
        conn.execute("select count(*), sum(duration_minutes), count(deleted_at), count(duplicate_of), "
                     "string_agg(id::text || chapter_id::text || recorded_at::text, ',' order by id) "
                     "from public.activities").fetchone(),
        conn.execute("select count(*), sum(duration_minutes) from private.counted_activities").fetchone(),
        bufdir.export_json(2024, bufdir.export_year(conn, 2024)),
        request(conn, "service_role", "select * from public.chapter_stats order by chapter_id, month_start"),
        request(conn, "service_role", "select * from public.peer_mentor_stats order by 1, 2, 3"),
        request(conn, "service_role", "select * from public.activity_time_series order by 1, 2"),
    )


@pytest.fixture
def world(hand_checked, conn):
    refresh_stats_views(conn)
    return hand_checked


def as_user(conn, world, email, query, params=None):
    return request(conn, "authenticated", query, params, user_id=world.users[email], read_only=False)


def refused(conn, world, email, query, params, error, message):
    """Send the attack; it must fail with `error` and `message`, and change nothing."""
    before = figures(conn)
    with pytest.raises(error, match=message):
        as_user(conn, world, email, query, params)
    assert figures(conn) == before


# --- 1. membership ----------------------------------------------------------------------------


def test_a_mentor_cannot_register_activities_in_a_chapter_they_do_not_belong_to(conn, world):
    bo = world.mentors["Bo"]
    refused(conn, world, "bo@peerstats.test", INSERT, (bo, world.chapters[A], "2024-04-02 10:00+00"),
            errors.InsufficientPrivilege, "new row violates row-level security policy")
    # The bulk version of the attack: 1000 rows in one request.
    refused(conn, world, "bo@peerstats.test",
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes) "
            "select %s, %s, 'visit', '2024-04-02 10:00+00', 1440 from generate_series(1, 1000)",
            (bo, world.chapters[A]), errors.InsufficientPrivilege, "new row violates row-level security policy")


def test_a_mentor_registers_in_their_home_chapter_and_in_chapters_they_are_a_member_of(conn, world):
    anna = world.mentors["Anna"]
    for chapter in (A, C):
        as_user(conn, world, "anna@peerstats.test", INSERT, (anna, world.chapters[chapter], "2024-04-02 10:00+00"))
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == 16


def test_a_mentor_cannot_move_an_activity_to_a_chapter_they_do_not_belong_to(conn, world):
    refused(conn, world, "bo@peerstats.test", "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[A], ACTIVITY.format("c03")), errors.InsufficientPrivilege,
            "new row violates row-level security policy")
    # Anna may move hers between A and C, both hers.
    as_user(conn, world, "anna@peerstats.test", "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[C], ACTIVITY.format("c01")))
    assert conn.execute("select chapter_id::text from public.activities where id = %s",
                        (ACTIVITY.format("c01"),)).fetchone()[0] == world.chapters[C]


def test_a_coordinator_edits_only_in_their_chapters_and_moves_only_to_a_chapter_of_the_mentor(conn, world):
    coordinator = "coord.ab@peerstats.test"
    # C is not theirs: the update finds nothing it may touch.
    before = figures(conn)
    assert as_user(conn, world, coordinator, "update public.activities set duration_minutes = 1 "
                   "where id = %s returning id", (ACTIVITY.format("c07"),)) == []
    assert figures(conn) == before
    # Bo's activity from B (theirs) to A (theirs), but Bo does not belong to A.
    refused(conn, world, coordinator, "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[A], ACTIVITY.format("c03")), errors.InsufficientPrivilege,
            "new row violates row-level security policy")
    # Granting Bo a membership of A (a coordinator of A may) makes the move legal.
    as_user(conn, world, coordinator, "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) "
            "values (%s, %s)", (world.mentors["Bo"], world.chapters[A]))
    assert conn.execute("select granted_by::text from public.peer_mentor_chapters where peer_mentor_id = %s",
                        (world.mentors["Bo"],)).fetchone()[0] == world.users[coordinator]
    as_user(conn, world, coordinator, "update public.activities set chapter_id = %s where id = %s",
            (world.chapters[A], ACTIVITY.format("c03")))


def test_only_a_coordinator_of_the_chapter_grants_a_membership(conn, world):
    refused(conn, world, "coord.ab@peerstats.test",
            "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)",
            (world.mentors["Bo"], world.chapters[C]), errors.InsufficientPrivilege,
            "new row violates row-level security policy")
    refused(conn, world, "bo@peerstats.test",
            "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)",
            (world.mentors["Bo"], world.chapters[A]), errors.InsufficientPrivilege,
            "new row violates row-level security policy")


# --- 2. moderation sticks; the database's own columns -----------------------------------------


def test_a_mentor_cannot_undo_what_a_coordinator_moderated(conn, world):
    conn.execute("update public.activities set deleted_at = now() where id = %s", (ACTIVITY.format("c03"),))
    conn.execute("update public.activities set duplicate_of = %s where id = %s",
                 (ACTIVITY.format("c05"), ACTIVITY.format("c06")))
    refresh_stats_views(conn)
    refused(conn, world, "bo@peerstats.test", "update public.activities set deleted_at = null where id = %s",
            (ACTIVITY.format("c03"),), errors.InsufficientPrivilege,
            "is soft-deleted: only a coordinator of the chapter it was deleted in may restore it")
    refused(conn, world, "bo@peerstats.test", "update public.activities set duplicate_of = null where id = %s",
            (ACTIVITY.format("c06"),), errors.InsufficientPrivilege,
            "is marked a duplicate: only a coordinator of the chapter it was marked in may clear or change duplicate_of")
    # The coordinator of B may undo both.
    as_user(conn, world, "coord.ab@peerstats.test",
            "update public.activities set deleted_at = null, duplicate_of = null where id in (%s, %s)",
            (ACTIVITY.format("c03"), ACTIVITY.format("c06")))
    assert conn.execute("select count(*) from public.activities where id in (%s, %s) and deleted_at is null "
                        "and duplicate_of is null", (ACTIVITY.format("c03"), ACTIVITY.format("c06"))).fetchone()[0] == 2


def test_a_mentor_may_soft_delete_their_own_activity(conn, world):
    as_user(conn, world, "bo@peerstats.test", "update public.activities set deleted_at = now() where id = %s",
            (ACTIVITY.format("c04"),))
    assert conn.execute("select deleted_at is not null from public.activities where id = %s",
                        (ACTIVITY.format("c04"),)).fetchone()[0]


def test_id_created_at_and_updated_at_are_the_databases(conn, world):
    forged = ("insert into public.activities (id, peer_mentor_id, chapter_id, activity_type, recorded_at, "
              "duration_minutes, created_at, updated_at) values ('00000000-0000-4000-8000-0000000000ee', %s, %s, "
              "'visit', '2024-04-02 10:00+00', 30, '2001-01-01', '2001-01-01') returning id::text, created_at, "
              "updated_at, created_at = now() and updated_at = now()")
    activity_id, created_at, updated_at, stamped_now = as_user(
        conn, world, "bo@peerstats.test", forged, (world.mentors["Bo"], world.chapters[B]))[0]
    assert activity_id != "00000000-0000-4000-8000-0000000000ee" and stamped_now
    # An update cannot rewrite them either.
    as_user(conn, world, "bo@peerstats.test", "update public.activities set id = gen_random_uuid(), "
            "created_at = '2001-01-01', updated_at = '2001-01-01' where id = %s", (activity_id,))
    row = conn.execute("select created_at, updated_at > %s from public.activities where id = %s",
                       (updated_at, activity_id)).fetchone()
    assert row == (created_at, True)


# --- 3. sane values -------------------------------------------------------------------------------


NOT_BEFORE_THE_EARLIEST = "recorded_at_finite_and_not_before_earliest_recorded_at"


@pytest.mark.parametrize("recorded_at, message", [
    ("4714-11-24 00:00:00+00 BC", NOT_BEFORE_THE_EARLIEST),
    ("infinity", NOT_BEFORE_THE_EARLIEST),
    ("-infinity", NOT_BEFORE_THE_EARLIEST),
    ("a second before the earliest", NOT_BEFORE_THE_EARLIEST),
    ("2999-01-01 00:00:00+00", "is more than one day ahead"),
])
def test_a_recorded_at_that_is_not_finite_too_early_or_ahead_is_refused(conn, world, recorded_at, message):
    if recorded_at == "a second before the earliest":
        recorded_at = conn.execute("select private.earliest_recorded_at() - interval '1 second'").fetchone()[0]
    error = errors.CheckViolation
    refused(conn, world, "bo@peerstats.test", INSERT, (world.mentors["Bo"], world.chapters[B], recorded_at),
            error, message)
    refused(conn, world, "bo@peerstats.test", "update public.activities set recorded_at = %s where id = %s",
            (recorded_at, ACTIVITY.format("c03")), error, message)


def test_a_recorded_at_up_to_a_day_ahead_is_accepted(conn, world):
    as_user(conn, world, "bo@peerstats.test",
            INSERT.replace("%s, 30)", "now() + private.recorded_at_allowed_ahead() - interval '1 hour', 30)"),
            (world.mentors["Bo"], world.chapters[B]))


def test_duplicate_of_in_another_chapter_is_refused_without_telling_whether_it_exists(conn, world):
    coordinator = "coord.five@peerstats.test"  # coordinates A to E, so may edit c03 in B
    same = "duplicate_of must name an activity of the same peer mentor and chapter"
    for target in (ACTIVITY.format("c09"),  # exists, in D
                   ACTIVITY.format("c11"),  # exists, in F, a chapter this coordinator cannot see
                   "00000000-0000-4000-8000-0000000000ff"):  # does not exist
        refused(conn, world, coordinator, "update public.activities set duplicate_of = %s where id = %s",
                (target, ACTIVITY.format("c03")), errors.CheckViolation, same)
    # A duplicate of a duplicate: chains stay one step long.
    refused(conn, world, "anna@peerstats.test",
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes, "
            "duplicate_of) values (%s, %s, 'visit', '2024-02-01 00:00:01+00', 30, %s)",
            (world.mentors["Anna"], world.chapters[A], ACTIVITY.format("d02")), errors.CheckViolation,
            "is itself a duplicate")
    # And an original cannot become a duplicate while others point at it.
    refused(conn, world, "coord.ab@peerstats.test", "update public.activities set duplicate_of = %s where id = %s",
            (ACTIVITY.format("c01"), ACTIVITY.format("c02")), errors.CheckViolation, "has duplicates")
    # The legitimate mark goes through: a coordinator of B marks c06 a duplicate of c05, the same
    # mentor's activity in the same chapter.
    as_user(conn, world, "coord.ab@peerstats.test", "update public.activities set duplicate_of = %s where id = %s",
            (ACTIVITY.format("c05"), ACTIVITY.format("c06")))
    assert conn.execute("select duplicate_of from public.activities where id = %s",
                        (ACTIVITY.format("c06"),)).fetchone()[0] == UUID(ACTIVITY.format("c05"))


# --- 4. closed reporting years ---------------------------------------------------------------------


def test_a_closed_year_refuses_every_write_until_reopened_and_then_only_the_service_role(conn, world):
    conn.execute("select private.close_reporting_year(2024, 'test')")
    closed = "reporting year 2024 is closed"
    bo, b = world.mentors["Bo"], world.chapters[B]
    refused(conn, world, "bo@peerstats.test", INSERT, (bo, b, "2024-04-02 10:00+00"), errors.CheckViolation, closed)
    refused(conn, world, "bo@peerstats.test", "update public.activities set duration_minutes = 1 where id = %s",
            (ACTIVITY.format("c03"),), errors.CheckViolation, closed)
    # Moving a 2025 activity into 2024, or a 2024 one out of it.
    as_user(conn, world, "bo@peerstats.test", INSERT, (bo, b, "2025-04-02 10:00+00"))
    refresh_stats_views(conn)
    refused(conn, world, "bo@peerstats.test", "update public.activities set recorded_at = '2024-04-02 10:00+00' "
            "where recorded_at = '2025-04-02 10:00+00'", None, errors.CheckViolation, closed)
    refused(conn, world, "bo@peerstats.test", "update public.activities set recorded_at = '2025-04-03 10:00+00' "
            "where id = %s", (ACTIVITY.format("c03"),), errors.CheckViolation, closed)
    refused(conn, world, "coord.ab@peerstats.test", "update public.activities set deleted_at = now() where id = %s",
            (ACTIVITY.format("c03"),), errors.CheckViolation, closed)
    # Not even the service role, nor a change of what a type counts.
    before = figures(conn)
    with pytest.raises(errors.CheckViolation, match=closed):
        request(conn, "service_role", "delete from public.activities where id = %s", (ACTIVITY.format("c01"),),
                read_only=False)
    with pytest.raises(errors.CheckViolation, match=closed):
        request(conn, "service_role", "update public.activity_types set counts_in_stats = false where code = 'visit'",
                read_only=False)
    with pytest.raises(errors.CheckViolation, match="activities cannot be truncated: reporting year"):
        request(conn, "service_role", "truncate public.activities cascade", read_only=False)
    assert figures(conn) == before

    conn.execute("select private.reopen_reporting_year(2024, 'late registrations from chapter B', 'test')")
    refused(conn, world, "bo@peerstats.test", "update public.activities set duration_minutes = 1 where id = %s",
            (ACTIVITY.format("c03"),), errors.InsufficientPrivilege, "reopened for corrections by the national office")
    request(conn, "service_role", "update public.activities set duration_minutes = 1 where id = %s",
            (ACTIVITY.format("c03"),), read_only=False)
    assert conn.execute("select event, reason from private.reporting_year_events order by id").fetchall() == [
        ("closed", None), ("reopened", "late registrations from chapter B")]


def test_only_the_service_role_closes_or_reopens_a_year(conn, world):
    for call in ("select private.close_reporting_year(2024)", "select private.reopen_reporting_year(2024, 'x')"):
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function"):
            as_user(conn, world, "coord.ab@peerstats.test", call)


def test_validate_names_every_difference_from_the_stored_submission(conn, world):
    submission = bufdir.close_year(conn, 2024, "tester")
    assert (submission.status, submission.submitted_by, submission.operator) == ("closed", "postgres", "tester")
    assert bufdir.validate(conn, year=2024).failures == 0
    conn.execute("select private.reopen_reporting_year(2024, 'correction', 'tester')")
    request(conn, "service_role", "update public.activities set duration_minutes = 90 where id = %s",
            (ACTIVITY.format("c03"),), read_only=False)  # Bo, B, phone_call, 45 -> 90 min
    refresh_stats_views(conn)
    found = {(d.chapter_name, d.figure, d.source, str(d.submitted), str(d.now))
             for d in bufdir.validate(conn, year=2024).submission_differences}
    assert found == {(B, "total_hours", "export", "1.70", "2.45"),  # 102 -> 147 minutes
                     (B, "phone_call total_hours", "export", "0.95", "1.70"),  # 57 -> 102 minutes
                     (B, "total_hours", "dashboard", "1.70", "2.45")}


# --- 7. the counting rule: a duplicate of a discarded original counts ----------------------------


def test_a_duplicate_counts_once_its_original_stops_counting(conn, world):
    counted = "select count(*) from private.counted_activities where id = %s"
    d02 = ACTIVITY.format("d02")  # Anna's duplicate of c02, 30 min in A on 2024-02-01
    assert conn.execute(counted, (d02,)).fetchone()[0] == 0
    conn.execute("update public.activities set deleted_at = now() where id = %s", (ACTIVITY.format("c02"),))
    assert conn.execute(counted, (d02,)).fetchone()[0] == 1
    conn.execute("update public.activities set deleted_at = null, activity_type = 'admin' where id = %s",
                 (ACTIVITY.format("c02"),))
    assert conn.execute(counted, (d02,)).fetchone()[0] == 1
    # Chapter A, February 2024 keeps one 30-minute activity whichever registration carries it,
    # in the plain view, the dashboard after a refresh and the export.
    refresh_stats_views(conn)
    a = world.chapters[A]
    february = "select activity_count, total_hours from {} where chapter_id = %s and month_start = '2024-02-01'"
    assert conn.execute(february.format("public.v_chapter_stats"), (a,)).fetchone() == (1, 0.5)
    assert conn.execute(february.format("private.mv_chapter_stats"), (a,)).fetchone() == (1, 0.5)


# --- 6. the five-chapter limit under concurrent inserts ----------------------------------------


@pytest.mark.parametrize("isolation, second_error", [
    ("read committed", errors.CheckViolation),
    ("repeatable read", errors.SerializationFailure),
    ("serializable", errors.SerializationFailure),
])
def test_two_sessions_cannot_give_a_coordinator_a_sixth_chapter(conn, world, db_url, isolation, second_error):
    coordinator = world.users["coord.ab@peerstats.test"]  # A and B
    add = "insert into public.coordinator_chapters (user_id, chapter_id) values (%s, %s)"
    for chapter in "CD":
        conn.execute(add, (coordinator, world.chapters[f"Chapter {chapter}"]))
    outcome: dict[str, object] = {}
    with database.connect(db_url, autocommit=False) as first, database.connect(db_url, autocommit=False) as second:
        for session in (first, second):
            session.execute(f"set transaction isolation level {isolation}")
            session.execute("select count(*) from public.coordinator_chapters where user_id = %s", (coordinator,))
        first.execute(add, (coordinator, world.chapters["Chapter E"]))  # the fifth, not yet committed

        def add_the_sixth():
            try:
                second.execute(add, (coordinator, world.chapters["Chapter F"]))
                second.commit()
                outcome["second"] = "added"
            except errors.Error as failure:
                second.rollback()
                outcome["second"] = failure

        other = threading.Thread(target=add_the_sixth)
        other.start()
        other.join(timeout=1)
        assert other.is_alive()  # it waits on the coordinator's counter row
        first.commit()
        other.join(timeout=10)
    assert isinstance(outcome["second"], second_error), outcome
    # Retried, as a client does after a serialization failure, it is refused by the rule itself.
    most = conn.execute("select private.max_chapters_per_coordinator()").fetchone()[0]
    with pytest.raises(errors.CheckViolation, match=f"a coordinator may have at most {most}"):
        conn.execute(add, (coordinator, world.chapters["Chapter F"]))
    assert conn.execute("select count(*) from public.coordinator_chapters where user_id = %s",
                        (coordinator,)).fetchone()[0] == most
