"""Mentors who serve several chapters: a coordinator reads the mentors who are members of their
chapters (home chapter, or a membership in peer_mentor_chapters), and no other mentor.

Every request is sent as PostgREST sends it (peerstats.postgrest.request). The attacks come
first: a coordinator of chapter A only tries to read Bo, a mentor of B who is no member of A
(he is a member of C), directly and by every detour, at each isolation level a client may
choose. Then the legitimate paths: a member from another chapter is readable, and their
activities in the coordinator's chapter are seen, moderated and reassigned; afterwards the API
equals the plain views for every caller.

Data: tests/sql/hand_checked_dataset.sql (chapters A to F; Anna of A, member of C; Bo of B;
Cato of C, its coordinator; Dag of D; Finn of F), plus a coordinator of A only.
"""

from __future__ import annotations

import json

import pytest
from psycopg import errors

from peerstats.postgrest import request
from test_closed_write_path import ACTIVITY, A, B, C, as_user, refused, world  # noqa: F401 (a fixture)
from test_exact_stats import Caller, differences, make_callers

COORDINATOR_OF_A = "coord.a@peerstats.test"
NOWHERE = "00000000-0000-4000-8000-000000000bff"  # an id no mentor has
ISOLATIONS = ["read committed", "repeatable read", "serializable"]
GRANT = "insert into public.peer_mentor_chapters (peer_mentor_id, chapter_id) values (%s, %s)"
REASSIGN = "update public.activities set peer_mentor_id = %s where id = %s"
HIDDEN_MENTOR = "is not one you can see: an activity can be reassigned only to a mentor you can read"
POLICY = "new row violates row-level security policy"


@pytest.fixture
def several(world, conn):
    """The hand-checked world, a coordinator of A only, and Bo a member of C (not of A)."""
    coordinator = conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), %s) returning id::text",
                               (COORDINATOR_OF_A,)).fetchone()[0]
    conn.execute("insert into public.coordinator_chapters (user_id, chapter_id) values (%s, %s)",
                 (coordinator, world.chapters[A]))
    conn.execute(GRANT, (world.mentors["Bo"], world.chapters[C]))
    world.users[COORDINATOR_OF_A] = coordinator
    return world


@pytest.fixture(params=ISOLATIONS)
def isolation(request, conn):
    """Every transaction of this connection, each API request included, at the level given."""
    conn.execute(f"set default_transaction_isolation to '{request.param}'")
    return request.param


def mentors_read(conn, world, email) -> set[str]:
    return {name for (name,) in request(conn, "authenticated", "select full_name from public.peer_mentors",
                                        user_id=world.users[email])}


def reads_bo(conn, world, email=COORDINATOR_OF_A) -> bool:
    """Whether the user reads anything of Bo's: his row, or any membership of his."""
    bo, user = world.mentors["Bo"], world.users[email]
    return bool(request(conn, "authenticated", "select id from public.peer_mentors where id = %s", (bo,), user_id=user)
                or request(conn, "authenticated", "select chapter_id from public.peer_mentor_chapters "
                           "where peer_mentor_id = %s", (bo,), user_id=user))


def assert_figures_hold(conn, world) -> None:
    """The API equals the plain views for every caller, the coordinator of A among them."""
    callers = [*make_callers(conn), Caller("coordinator of A", "authenticated", world.users[COORDINATOR_OF_A])]
    assert differences(conn, callers) == {}


# --- attacks: the coordinator of A reads no mentor of another chapter who is no member of A ----------


def test_a_coordinator_reads_no_mentor_of_another_chapter_who_is_no_member_of_theirs(conn, several, isolation):
    assert mentors_read(conn, several, COORDINATOR_OF_A) == {"Anna"}
    assert not reads_bo(conn, several)
    # His membership of C makes him readable to C's coordinators, not to A's.
    assert "Bo" in mentors_read(conn, several, "cato@peerstats.test")


def test_granting_the_membership_themselves_is_refused_as_for_an_id_that_exists_nowhere(conn, several, isolation):
    for mentor in (several.mentors["Bo"], NOWHERE):
        refused(conn, several, COORDINATOR_OF_A, GRANT, (mentor, several.chapters[A]), errors.InsufficientPrivilege,
                f'{POLICY} for table "peer_mentor_chapters"')
    # Nor as an upsert, which would tell an existing membership by its conflict.
    refused(conn, several, COORDINATOR_OF_A, GRANT + " on conflict do nothing",
            (several.mentors["Bo"], several.chapters[A]), errors.InsufficientPrivilege, POLICY)
    assert not reads_bo(conn, several)


def test_moving_an_activity_onto_him_or_his_into_the_chapter_is_refused(conn, several, isolation):
    # The coordinator of A reassigns one of A's activities to him: the same refusal as for no mentor at all.
    for mentor in (several.mentors["Bo"], NOWHERE):
        refused(conn, several, COORDINATOR_OF_A, REASSIGN, (mentor, ACTIVITY.format("c01")),
                errors.InsufficientPrivilege, HIDDEN_MENTOR)
    # He cannot move his activity into A, nor can a coordinator of A and B move it there.
    move = "update public.activities set chapter_id = %s where id = %s"
    for mover in ("bo@peerstats.test", "coord.ab@peerstats.test"):
        refused(conn, several, mover, move, (several.chapters[A], ACTIVITY.format("c03")),
                errors.InsufficientPrivilege, POLICY)
    assert not reads_bo(conn, several)


def test_an_activity_of_his_placed_in_the_chapter_by_service_role_shows_no_more_than_its_ids(conn, several, isolation):
    # service_role may place it there without a membership (a correction, an import):
    # the coordinator of A sees the activity, and still not the mentor.
    request(conn, "service_role", "update public.activities set chapter_id = %s where id = %s",
            (several.chapters[A], ACTIVITY.format("c06")), read_only=False)
    assert request(conn, "authenticated", "select peer_mentor_id::text from public.activities where id = %s",
                   (ACTIVITY.format("c06"),), user_id=several.users[COORDINATOR_OF_A]) == [(several.mentors["Bo"],)]
    assert not reads_bo(conn, several)
    assert_figures_hold(conn, several)


def test_a_duplicate_mark_pointing_at_his_activity_in_another_chapter_is_refused_as_for_none(conn, several, isolation):
    mark = "update public.activities set duplicate_of = %s where id = %s"
    for original in (ACTIVITY.format("c03"), "00000000-0000-4000-8000-000000000cff"):
        refused(conn, several, COORDINATOR_OF_A, mark, (original, ACTIVITY.format("c01")), errors.CheckViolation,
                "duplicate_of must name an activity of the same peer mentor and chapter")
    assert not reads_bo(conn, several)


# Each probe: a query with one placeholder, and the values whose estimates must be equal: a member
# of A from F (readable), Bo (no member of A, a member of C), Dag (no membership), and no one.
ESTIMATE_PROBES = [
    ("select * from public.peer_mentors where id = %s", ("Finn", "Bo", "Dag", None)),
    ("select * from public.peer_mentors where id < %s", ("Finn", "Bo", "Dag", None)),
    ("select * from public.peer_mentor_chapters where peer_mentor_id = %s", ("Finn", "Bo", "Dag", None)),
    ("select * from public.peer_mentor_chapters where peer_mentor_id < %s", ("Finn", "Bo", "Dag", None)),
    ("select * from public.activities where peer_mentor_id = %s", ("Finn", "Bo", "Dag", None)),
    ("select * from public.peer_mentors where chapter_id = %s", ("F", "B", "D", None)),
    ("select * from public.peer_mentor_chapters where chapter_id = %s", ("A", "C", "D", None)),
]


def test_explain_estimates_tell_the_coordinator_nothing_of_members_elsewhere(conn, several, isolation):
    conn.execute(GRANT, (several.mentors["Finn"], several.chapters[A]))
    conn.execute(GRANT, (several.mentors["Dag"], several.chapters[B]))
    conn.execute("analyze")
    ids = {**several.mentors, **{name[-1]: id_ for name, id_ in several.chapters.items()}, None: NOWHERE}
    leaks = {}
    for query, values in ESTIMATE_PROBES:
        estimates = []
        for value in values:
            plan = request(conn, "authenticated", f"explain (format json) {query}", (ids[value],),
                           user_id=several.users[COORDINATOR_OF_A])[0][0]
            estimates.append((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"])
        if len(set(estimates)) != 1:
            leaks[query] = estimates
    assert leaks == {}


# --- the legitimate paths -------------------------------------------------------------------------


def test_a_member_from_another_chapter_is_read_and_their_activities_there_moderated_and_reassigned(conn, several):
    finn, a, coordinator = several.mentors["Finn"], several.chapters[A], COORDINATOR_OF_A
    request(conn, "service_role", GRANT, (finn, a), read_only=False)
    [(in_a,), (second,)] = conn.execute(
        "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
        " values (%s, %s, 'visit', '2024-05-02 10:00+00', 30), (%s, %s, 'visit', '2024-05-03 10:00+00', 45)"
        " returning id::text", (finn, a, finn, a)).fetchall()
    assert mentors_read(conn, several, coordinator) == {"Anna", "Finn"}
    # His row, his membership of A, his activities in A; not his activity in F.
    user = several.users[coordinator]
    assert request(conn, "authenticated", "select chapter_id::text from public.peer_mentor_chapters "
                   "where peer_mentor_id = %s", (finn,), user_id=user) == [(a,)]
    assert {i for (i,) in request(conn, "authenticated", "select id::text from public.activities "
                                  "where peer_mentor_id = %s", (finn,), user_id=user)} == {in_a, second}

    as_user(conn, several, coordinator, "update public.activities set deleted_at = now() where id = %s", (in_a,))
    as_user(conn, several, coordinator, "update public.activities set deleted_at = null where id = %s", (in_a,))
    as_user(conn, several, coordinator, "update public.activities set duplicate_of = %s where id = %s", (in_a, second))
    assert_figures_hold(conn, several)
    as_user(conn, several, coordinator, "update public.activities set duplicate_of = null where id = %s", (second,))
    as_user(conn, several, coordinator, REASSIGN, (finn, ACTIVITY.format("c01")))
    assert conn.execute("select peer_mentor_id::text from public.activities where id = %s",
                        (ACTIVITY.format("c01"),)).fetchone()[0] == finn
    assert_figures_hold(conn, several)
    as_user(conn, several, coordinator, REASSIGN, (several.mentors["Anna"], ACTIVITY.format("c01")))
    # Reassigning an activity of another chapter is still for that chapter's coordinators.
    assert as_user(conn, several, coordinator, REASSIGN + " returning id", (finn, ACTIVITY.format("c03"))) == []

    # The coordinator revokes the membership: he is no longer theirs to read.
    as_user(conn, several, coordinator, "delete from public.peer_mentor_chapters where peer_mentor_id = %s "
            "and chapter_id = %s", (finn, a))
    assert mentors_read(conn, several, coordinator) == {"Anna"}
    assert_figures_hold(conn, several)


def test_a_coordinator_of_two_chapters_grants_a_mentor_of_one_to_the_other(conn, several):
    # coord.ab reads Bo (home B) and grants him A: A's other coordinators now read him too.
    as_user(conn, several, "coord.ab@peerstats.test", GRANT, (several.mentors["Bo"], several.chapters[A]))
    assert mentors_read(conn, several, COORDINATOR_OF_A) == {"Anna", "Bo"}
    # Only A's membership: his membership of C stays C's.
    assert request(conn, "authenticated", "select chapter_id::text from public.peer_mentor_chapters "
                   "where peer_mentor_id = %s", (several.mentors["Bo"],),
                   user_id=several.users[COORDINATOR_OF_A]) == [(several.chapters[A],)]
    as_user(conn, several, COORDINATOR_OF_A, REASSIGN, (several.mentors["Bo"], ACTIVITY.format("c01")))
    # A peer mentor still reads only their own row.
    assert mentors_read(conn, several, "bo@peerstats.test") == {"Bo"}
    assert mentors_read(conn, several, "anna@peerstats.test") == {"Anna"}
    assert_figures_hold(conn, several)
