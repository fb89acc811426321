"""Row security of the base tables per role, the five-chapter limit, and bad input refused.

Every request is made as PostgREST makes it (peerstats.postgrest.request): one transaction that
sets the role and request.jwt.claims locally, then the query.
"""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import errors

from peerstats import database
from peerstats.postgrest import request

A, B, C, D, E, F = (f"Chapter {letter}" for letter in "ABCDEF")
ACTIVITIES_BY_CHAPTER = {  # the ids' last three characters, per chapter, as in the dataset
    A: {"c01", "c02", "d01", "d02", "d03"},
    B: {"c03", "c04", "c05", "c06"},
    C: {"c07", "c08"},
    D: {"c09"},
    E: {"c10"},
    F: {"c11"},
}
ANNAS_ACTIVITIES = {"c01", "c02", "c08", "d01", "d02", "d03"}  # in A and in C


def names(conn, role, query, user_id=None) -> set[str]:
    return {row[0] for row in request(conn, role, query, user_id=user_id)}


def visible(conn, hand_checked, email):
    """What the user may read of each base table: chapter names, mentor names, activity id suffixes."""
    user_id = hand_checked.users[email]
    return (
        names(conn, "authenticated", "select name from public.chapters", user_id),
        names(conn, "authenticated", "select full_name from public.peer_mentors", user_id),
        {i[-3:] for i in names(conn, "authenticated", "select id::text from public.activities", user_id)},
        names(conn, "authenticated", "select c.name from public.coordinator_chapters cc "
                                     "join public.chapters c on c.id = cc.chapter_id", user_id),
    )


def test_a_coordinator_reads_the_chapters_mentors_and_activities_of_their_chapters(conn, hand_checked):
    chapters, mentors, activities, coordinated = visible(conn, hand_checked, "coord.ab@peerstats.test")
    assert chapters == {A, B} == coordinated
    assert mentors == {"Anna", "Bo"}
    assert activities == ACTIVITIES_BY_CHAPTER[A] | ACTIVITIES_BY_CHAPTER[B]

    chapters, mentors, activities, coordinated = visible(conn, hand_checked, "coord.five@peerstats.test")
    assert chapters == {A, B, C, D, E} == coordinated
    assert mentors == {"Anna", "Bo", "Cato", "Dag", "Eva"}
    assert activities == set().union(*(ACTIVITIES_BY_CHAPTER[c] for c in (A, B, C, D, E)))


def test_a_peer_mentor_reads_their_own_activities_only(conn, hand_checked):
    chapters, mentors, activities, coordinated = visible(conn, hand_checked, "anna@peerstats.test")
    assert activities == ANNAS_ACTIVITIES  # including those in C, a chapter she does not belong to
    assert mentors == {"Anna"}
    assert chapters == {A, C}  # her home chapter and the one she is a member of
    assert coordinated == set()

    chapters, mentors, activities, coordinated = visible(conn, hand_checked, "bo@peerstats.test")
    assert (chapters, mentors, activities, coordinated) == ({B}, {"Bo"}, ACTIVITIES_BY_CHAPTER[B], set())


def test_a_mentor_who_also_coordinates_reads_their_chapter(conn, hand_checked):
    chapters, mentors, activities, coordinated = visible(conn, hand_checked, "cato@peerstats.test")
    assert chapters == {C} == coordinated
    assert mentors == {"Cato", "Anna"}  # Anna's home chapter is A, and she is a member of C
    assert activities == ACTIVITIES_BY_CHAPTER[C]


def test_a_signed_in_user_with_no_role_and_a_request_without_a_user_read_nothing(conn, hand_checked):
    assert visible(conn, hand_checked, "outsider@peerstats.test") == (set(), set(), set(), set())
    for table in ("chapters", "peer_mentors", "activities", "coordinator_chapters"):
        assert request(conn, "authenticated", f"select * from public.{table}") == []
    # Activity types are reference data every signed-in user may read.
    assert names(conn, "authenticated", "select code from public.activity_types",
                 hand_checked.users["outsider@peerstats.test"]) == {"visit", "phone_call", "course", "admin"}


@pytest.mark.parametrize("table", ["chapters", "peer_mentors", "activity_types", "activities",
                                   "coordinator_chapters"])
def test_anon_reads_nothing(conn, hand_checked, table):
    with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for table {table}"):
        request(conn, "anon", f"select * from public.{table}")


def test_service_role_reads_everything(conn, hand_checked):
    assert names(conn, "service_role", "select name from public.chapters") == {A, B, C, D, E, F}
    assert len(request(conn, "service_role", "select id from public.activities")) == 14


def test_a_peer_mentor_registers_activities_for_themselves_only(conn, hand_checked):
    anna, bo = hand_checked.users["anna@peerstats.test"], hand_checked.mentors["Bo"]
    insert = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
              "duration_minutes) values (%s, %s, 'visit', '2024-04-02 10:00+00', 30)")
    request(conn, "authenticated", insert, (hand_checked.mentors["Anna"], hand_checked.chapters[C]),
            user_id=anna, read_only=False)
    with pytest.raises(errors.InsufficientPrivilege, match='new row violates row-level security policy'):
        request(conn, "authenticated", insert, (bo, hand_checked.chapters[B]), user_id=anna, read_only=False)
    # Bo's activities are invisible to Anna, so her update touches none of them.
    assert request(conn, "authenticated", "update public.activities set duration_minutes = 1 "
                   "where peer_mentor_id = %s returning id", (bo,), user_id=anna, read_only=False) == []
    # A coordinator who is no mentor registers nothing.
    with pytest.raises(errors.InsufficientPrivilege, match='new row violates row-level security policy'):
        request(conn, "authenticated", insert, (bo, hand_checked.chapters[B]),
                user_id=hand_checked.users["coord.ab@peerstats.test"], read_only=False)
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == 15


# --- at most five chapters per coordinator ------------------------------------------------------


def add_chapter(conn, user_id: str, chapter_id: str) -> None:
    conn.execute("insert into public.coordinator_chapters (user_id, chapter_id) values (%s, %s)", (user_id, chapter_id))


def test_a_sixth_chapter_is_refused_with_a_message_saying_at_most_five(conn, hand_checked):
    most = conn.execute("select private.max_chapters_per_coordinator()").fetchone()[0]
    five = hand_checked.users["coord.five@peerstats.test"]  # coordinates as many chapters as allowed
    with pytest.raises(errors.CheckViolation, match=f"a coordinator may have at most {most}") as refusal:
        add_chapter(conn, five, hand_checked.chapters[F])
    assert refusal.value.diag.message_hint == "Remove one of their chapters from coordinator_chapters first."
    assert conn.execute("select count(*) from public.coordinator_chapters where user_id = %s",
                        (five,)).fetchone()[0] == most

    # Up to five is fine; moving one of the five to another chapter is too.
    two = hand_checked.users["coord.ab@peerstats.test"]
    for chapter in (C, D, E):
        add_chapter(conn, two, hand_checked.chapters[chapter])
    with pytest.raises(errors.CheckViolation, match=f"at most {most}"):
        add_chapter(conn, two, hand_checked.chapters[F])
    conn.execute("update public.coordinator_chapters set chapter_id = %s where user_id = %s and chapter_id = %s",
                 (hand_checked.chapters[F], two, hand_checked.chapters[E]))
    assert {r[0] for r in conn.execute("select c.name from public.coordinator_chapters cc join public.chapters c "
                                       "on c.id = cc.chapter_id where cc.user_id = %s", (two,))} == {A, B, C, D, F}


def test_two_sessions_cannot_together_give_a_coordinator_six_chapters(conn, hand_checked, db_url):
    coordinator = hand_checked.users["coord.ab@peerstats.test"]
    outcome = {}

    def add_the_sixth():
        with database.connect(db_url) as other:
            try:
                add_chapter(other, coordinator, hand_checked.chapters[F])
                outcome["result"] = "added"
            except psycopg.Error as failure:
                outcome["result"] = failure

    with conn.transaction():
        for chapter in (C, D, E):  # the fifth, not yet committed
            add_chapter(conn, coordinator, hand_checked.chapters[chapter])
        other_session = threading.Thread(target=add_the_sixth)
        other_session.start()
        other_session.join(timeout=1)
        assert other_session.is_alive()  # it waits for this transaction instead of counting too early
    other_session.join(timeout=10)
    assert isinstance(outcome["result"], errors.CheckViolation), outcome
    assert conn.execute("select count(*) from public.coordinator_chapters where user_id = %s",
                        (coordinator,)).fetchone()[0] == 5


# --- bad input is refused with a message naming the problem -------------------------------------


def insert_activity(conn, hand_checked, **overrides) -> None:
    values = {"peer_mentor_id": hand_checked.mentors["Bo"], "chapter_id": hand_checked.chapters[B],
              "activity_type": "visit", "recorded_at": "2024-04-01 12:00+00", "duration_minutes": 60, **overrides}
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                 "duration_minutes) values (%(peer_mentor_id)s, %(chapter_id)s, %(activity_type)s, "
                 "%(recorded_at)s, %(duration_minutes)s)", values)


@pytest.mark.parametrize("minutes", [0, 1441, -5])
def test_a_duration_outside_1_to_1440_is_refused(conn, hand_checked, minutes):
    with pytest.raises(errors.CheckViolation, match='violates check constraint "duration_minutes_within_a_day"'):
        insert_activity(conn, hand_checked, duration_minutes=minutes)


@pytest.mark.parametrize("minutes", [1, 1440])
def test_a_duration_of_1_or_1440_is_accepted(conn, hand_checked, minutes):
    insert_activity(conn, hand_checked, duration_minutes=minutes)
    assert conn.execute("select count(*) from public.activities where duration_minutes = %s",
                        (minutes,)).fetchone()[0] == (2 if minutes == 1440 else 1)


@pytest.mark.parametrize("column, value, names_the_problem", [
    ("activity_type", "juggling", 'Key (activity_type)=(juggling) is not present in table "activity_types".'),
    ("chapter_id", "00000000-0000-4000-8000-0000000000ff",
     'Key (chapter_id)=(00000000-0000-4000-8000-0000000000ff) is not present in table "chapters".'),
    ("peer_mentor_id", "00000000-0000-4000-8000-0000000000ff",
     'Key (peer_mentor_id)=(00000000-0000-4000-8000-0000000000ff) is not present in table "peer_mentors".'),
])
def test_an_unknown_type_chapter_or_mentor_is_refused(conn, hand_checked, column, value, names_the_problem):
    with pytest.raises(errors.ForeignKeyViolation) as refusal:
        insert_activity(conn, hand_checked, **{column: value})
    assert refusal.value.diag.message_detail == names_the_problem


def test_bad_input_through_the_api_is_refused_the_same_way(conn, hand_checked):
    with pytest.raises(errors.CheckViolation, match="duration_minutes_within_a_day"):
        request(conn, "authenticated",
                "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                "duration_minutes) values (%s, %s, 'visit', now(), 0)",
                (hand_checked.mentors["Anna"], hand_checked.chapters[A]),
                user_id=hand_checked.users["anna@peerstats.test"], read_only=False)
    assert conn.execute("select count(*) from public.activities").fetchone()[0] == 14
