"""The API PostgREST serves: after a refresh each endpoint returns to every caller exactly the rows
the matching plain view returns to that caller, and no coordinator sees another's chapters."""

from __future__ import annotations

import pytest
from psycopg import errors

from conftest import except_all_both_ways
from peerstats.postgrest import request

A, B, C, D, E, F = (f"Chapter {letter}" for letter in "ABCDEF")
ENDPOINTS = {"activity_time_series": "v_activity_time_series", "chapter_stats": "v_chapter_stats",
             "peer_mentor_stats": "v_peer_mentor_stats"}
CALLERS = ["coord.ab@peerstats.test", "coord.five@peerstats.test", "anna@peerstats.test", "bo@peerstats.test",
           "cato@peerstats.test", "outsider@peerstats.test", None]


@pytest.fixture
def refreshed(hand_checked, conn):
    conn.execute("select public.refresh_stats_views()")
    return hand_checked


def chapters_seen(conn, hand_checked, endpoint: str, email: str) -> set[str]:
    names = {id_: name for name, id_ in hand_checked.chapters.items()}
    return {names[str(r[0])] for r in request(conn, "authenticated", f"select chapter_id from public.{endpoint}",
                                              user_id=hand_checked.users[email])}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("email", CALLERS)
def test_each_endpoint_returns_what_the_plain_view_returns_to_the_same_caller(conn, refreshed, endpoint, email):
    user_id = refreshed.users[email] if email else None
    plain = ENDPOINTS[endpoint]
    assert request(conn, "authenticated", except_all_both_ways(f"public.{endpoint}", f"public.{plain}"),
                   user_id=user_id) == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_service_role_sees_everything(conn, refreshed, endpoint):
    materialized = "private.mv_" + endpoint
    assert sorted(request(conn, "service_role", f"select * from public.{endpoint}")) == \
        sorted(conn.execute(f"select * from {materialized}").fetchall())
    assert request(conn, "service_role", except_all_both_ways(f"public.{endpoint}", f"public.{ENDPOINTS[endpoint]}")) == []
    assert {r[0] for r in request(conn, "service_role", f"select chapter_id from public.{endpoint}")} == \
        {r[0] for r in conn.execute("select id from public.chapters")}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_coordinator_of_a_and_b_never_sees_c(conn, refreshed, endpoint):
    assert chapters_seen(conn, refreshed, endpoint, "coord.ab@peerstats.test") == {A, B}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_coordinator_of_five_chapters_sees_exactly_those_five(conn, refreshed, endpoint):
    assert chapters_seen(conn, refreshed, endpoint, "coord.five@peerstats.test") == {A, B, C, D, E}


def test_a_peer_mentor_sees_their_own_mentor_rows_and_no_chapter_rows(conn, refreshed):
    anna = refreshed.users["anna@peerstats.test"]
    rows = request(conn, "authenticated", "select peer_mentor_id, chapter_id from public.peer_mentor_stats",
                   user_id=anna)
    assert {str(r[0]) for r in rows} == {refreshed.mentors["Anna"]}
    assert chapters_seen(conn, refreshed, "peer_mentor_stats", "anna@peerstats.test") == {A, C}
    assert len(rows) == 3
    for endpoint in ("chapter_stats", "activity_time_series"):
        assert chapters_seen(conn, refreshed, endpoint, "anna@peerstats.test") == set()


def test_a_peer_mentor_who_coordinates_sees_their_chapter(conn, refreshed):
    rows = request(conn, "authenticated", "select peer_mentor_id from public.peer_mentor_stats",
                   user_id=refreshed.users["cato@peerstats.test"])
    assert {str(r[0]) for r in rows} == {refreshed.mentors["Cato"], refreshed.mentors["Anna"]}
    for endpoint in ENDPOINTS:
        assert chapters_seen(conn, refreshed, endpoint, "cato@peerstats.test") == {C}


@pytest.mark.parametrize("endpoint", [*ENDPOINTS, "stats_freshness"])
def test_anon_is_refused(conn, refreshed, endpoint):
    with pytest.raises(errors.InsufficientPrivilege, match=f"permission denied for (view|table) {endpoint}"):
        request(conn, "anon", f"select * from public.{endpoint}")


# Each function behind the API with its chapter's logged keys as arguments: none, or keys a
# caller made up (every mentor on the days of the dataset), which only choose what is recomputed.
API_FUNCTIONS = {"activity_time_series_of": "(%s, %s::date[])", "chapter_stats_of": "(%s, %s::uuid[], %s::date[])",
                 "peer_mentor_stats_of": "(%s, %s::uuid[], %s::date[])"}


def made_up_keys(conn, function: str, chapter: str) -> list[tuple]:
    """(chapter, no keys) and (chapter, every mentor on every day with an activity), as the function takes them."""
    mentors, days = conn.execute("select array_agg(m.id), array_agg(d.day) from public.peer_mentors m"
                                 " cross join (select distinct (recorded_at at time zone 'UTC')::date as day"
                                 " from public.activities) d").fetchone()
    if function == "activity_time_series_of":
        return [(chapter, []), (chapter, days)]
    return [(chapter, [], []), (chapter, mentors, days)]


@pytest.mark.parametrize("function", API_FUNCTIONS)
def test_the_functions_behind_the_api_filter_by_caller_too(conn, refreshed, function):
    """PostgREST does not expose private, but a direct call for any chapter, with any keys, must not leak either."""
    names = {id_: name for name, id_ in refreshed.chapters.items()}
    coordinator = refreshed.users["coord.ab@peerstats.test"]
    query = f"select * from private.{function}{API_FUNCTIONS[function]}"
    answered = {name for id_, name in names.items() for arguments in made_up_keys(conn, function, id_)
                if request(conn, "authenticated", query, arguments, user_id=coordinator)}
    assert answered == {A, B}
    with pytest.raises(errors.InsufficientPrivilege):
        request(conn, "anon", query, made_up_keys(conn, function, refreshed.chapters[A])[0])


def test_a_peer_mentor_calling_the_mentor_function_for_any_chapter_gets_only_their_own_rows(conn, refreshed):
    anna = refreshed.users["anna@peerstats.test"]
    query = f"select peer_mentor_id from private.peer_mentor_stats_of{API_FUNCTIONS['peer_mentor_stats_of']}"
    mentors = {str(r[0]) for id_ in refreshed.chapters.values()
               for arguments in made_up_keys(conn, "peer_mentor_stats_of", id_)
               for r in request(conn, "authenticated", query, arguments, user_id=anna)}
    assert mentors == {refreshed.mentors["Anna"]}


def test_the_chapter_lists_behind_the_api_show_a_mentor_only_their_own_keys(conn, refreshed):
    """The log's keys name mentors and their days: a mentor who coordinates nothing gets no chapter-level
    list, and in the chapters of their own rows only their own keys, whoever else wrote there."""
    for mentor, chapter in (("Anna", C), ("Cato", C), ("Anna", A)):
        conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                     "duration_minutes) values (%s, %s, 'visit', '2024-06-03 12:00+00', 30)",
                     (refreshed.mentors[mentor], refreshed.chapters[chapter]))
    anna = refreshed.users["anna@peerstats.test"]
    assert request(conn, "authenticated", "select * from private.stats_chapters()", user_id=anna) == []
    listed = request(conn, "authenticated", "select chapter_id, key_mentors from private.peer_mentor_stats_chapters()",
                     user_id=anna)
    assert {str(chapter) for chapter, _ in listed} == {refreshed.chapters[A], refreshed.chapters[C]}
    assert {str(mentor) for _, mentors in listed for mentor in mentors} == {refreshed.mentors["Anna"]}
    # Cato coordinates C: every key there, his and Anna's.
    cato = refreshed.users["cato@peerstats.test"]
    [(chapter, mentors)] = request(conn, "authenticated", "select chapter_id, key_mentors from private.stats_chapters()",
                                   user_id=cato)
    assert str(chapter) == refreshed.chapters[C]
    assert {str(m) for m in mentors} == {refreshed.mentors["Anna"], refreshed.mentors["Cato"]}
    for endpoint in ENDPOINTS:
        for email in CALLERS:
            assert request(conn, "authenticated", except_all_both_ways(f"public.{endpoint}", f"public.{ENDPOINTS[endpoint]}"),
                           user_id=refreshed.users[email] if email else None) == []


@pytest.mark.parametrize("function", ["live_chapter_days(%s, array[current_date])", "chapter_keys(array[%s::uuid])",
                                      "changed_peer_mentor_months(%s, '{}', '{}')"])
def test_the_unchecked_helpers_of_the_api_are_not_executable_by_signed_in_users(conn, refreshed, function):
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function"):
        request(conn, "authenticated", f"select * from private.{function}", (refreshed.chapters[A],),
                user_id=refreshed.users["coord.ab@peerstats.test"])


def test_the_api_shows_a_change_at_once_and_the_refresh_changes_nothing_it_shows(conn, refreshed):
    five = refreshed.users["coord.five@peerstats.test"]
    before = sorted(request(conn, "authenticated", "select * from public.chapter_stats", user_id=five))
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                 "duration_minutes) values (%s, %s, 'visit', '2024-06-01 12:00+00', 60)",
                 (refreshed.mentors["Dag"], refreshed.chapters[D]))
    at_once = sorted(request(conn, "authenticated", "select * from public.chapter_stats", user_id=five))
    assert len(at_once) == len(before) + 1
    conn.execute("select public.refresh_stats_views()")
    assert sorted(request(conn, "authenticated", "select * from public.chapter_stats", user_id=five)) == at_once
