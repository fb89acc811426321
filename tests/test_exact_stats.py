"""The API is exact at every moment: after every kind of write, without a refresh, each endpoint
returns to each caller what the matching plain view returns, and a refresh empties the log.

The figures are compared with the plain views, never hard-coded, so the tests hold under either
counting rule for a duplicate whose original does not count."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg
import pytest

from conftest import except_all_both_ways
from peerstats.postgrest import request
from peerstats.seed import seed

pytestmark = pytest.mark.every_postgresql

ENDPOINTS = {"activity_time_series": "v_activity_time_series", "chapter_stats": "v_chapter_stats",
             "peer_mentor_stats": "v_peer_mentor_stats"}


@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    user_id: str | None


def differences(conn: psycopg.Connection, callers: list[Caller]) -> dict[str, int]:
    """Rows in one of (API, plain view) and not the other, per caller and endpoint, under one snapshot each."""
    found = {}
    for caller in callers:
        for api, plain in ENDPOINTS.items():
            rows = request(conn, caller.role, except_all_both_ways(f"public.{api}", f"public.{plain}"),
                           user_id=caller.user_id)
            if rows:
                found[f"{caller.name}: {api}"] = len(rows)
    return found


def make_callers(conn: psycopg.Connection) -> list[Caller]:
    """A 5-chapter and a 1-chapter coordinator (made here), a mentor with activities in two chapters, service_role."""
    chapters = [str(r[0]) for r in conn.execute("select id from public.chapters order by id")]
    five, one = (str(r[0]) for r in conn.execute(
        "insert into auth.users (id, email) values (gen_random_uuid(), 'five@exact.test'),"
        " (gen_random_uuid(), 'one@exact.test') returning id"))
    conn.execute("insert into public.coordinator_chapters (user_id, chapter_id)"
                 " select %s::uuid, unnest(%s::uuid[]) union all select %s::uuid, %s::uuid",
                 (five, chapters[:5], one, chapters[5]))
    mentor_user = conn.execute(
        "select m.user_id from public.peer_mentors m join public.activities a on a.peer_mentor_id = m.id"
        " where m.user_id is not null group by m.user_id having count(distinct a.chapter_id) > 1"
        " order by m.user_id limit 1").fetchone()[0]
    return [Caller("5-chapter coordinator", "authenticated", five), Caller("1-chapter coordinator", "authenticated", one),
            Caller("mentor", "authenticated", str(mentor_user)), Caller("service_role", "service_role", None)]


@pytest.fixture
def seeded(migrated, conn):
    seed(conn, activities=3000, chapters=6, mentors=30, years=1, seed=9)
    conn.execute("select public.refresh_stats_views()")
    return make_callers(conn)


def log_size(conn: psycopg.Connection) -> int:
    return conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]


def one(conn: psycopg.Connection, query: str, params=None):
    return conn.execute(query, params).fetchone()[0]


def peer_mentor_days_differences(conn: psycopg.Connection) -> list[tuple]:
    """Rows of private.peer_mentor_days (the mentor-day grain the refresh keeps from the log) that a
    recount from the counting rule does not give, and the other way round."""
    kept = "select chapter_id, peer_mentor_id, bucket_date, activity_count, minutes from private.peer_mentor_days"
    recount = ("select chapter_id, peer_mentor_id, (recorded_at at time zone 'UTC')::date, count(*),"
               " sum(duration_minutes)::bigint from private.counted_activities group by 1, 2, 3")
    return conn.execute(f"({kept} except all {recount}) union all ({recount} except all {kept})").fetchall()


@pytest.mark.parametrize("refresh_after_each", [False, True], ids=["without a refresh", "with a refresh after each"])
def test_exact_after_every_kind_of_write(seeded, conn, refresh_after_each):
    """Without a refresh, the API merges the log; with one after each write, the refresh folds that
    write's chapter-days into the mentor-day grain, which then equals a recount."""
    callers = seeded
    mentor = callers[2]
    assert differences(conn, callers) == {} and log_size(conn) == 0
    # A counted activity with no duplicate pointing at it, that each step below changes.
    target = one(conn, "select a.id from private.counted_activities a where not exists"
                       " (select from public.activities d where d.duplicate_of = a.id) order by a.id limit 1")
    other_chapter = one(conn, "select id from public.chapters where id <> (select chapter_id from public.activities"
                              " where id = %s) order by id limit 1", (target,))
    other_mentor = one(conn, "select id from public.peer_mentors where id <> (select peer_mentor_id from"
                             " public.activities where id = %s) order by id limit 1", (target,))
    not_counting = one(conn, "select code from public.activity_types where not counts_in_stats order by code limit 1")
    counting = one(conn, "select activity_type from public.activities where id = %s", (target,))
    mentor_id, mentor_chapter = conn.execute(
        "select id, chapter_id from public.peer_mentors where user_id = %s", (mentor.user_id,)).fetchone()

    def inserted_by_the_mentor():
        request(conn, "authenticated",
                "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                " duration_minutes) values (%s, %s, %s, now() - interval '3 days', 47)",
                (mentor_id, mentor_chapter, counting), user_id=mentor.user_id, read_only=False)

    # A second activity in the target's chapter, to mark as the target's duplicate (it takes the
    # target's mentor and chapter then: a duplicate repeats an activity of the same mentor and chapter).
    duplicate = one(conn, "select a.id from private.counted_activities a where a.chapter_id ="
                          " (select chapter_id from public.activities where id = %s) and a.id <> %s"
                          " and not exists (select from public.activities d where d.duplicate_of = a.id)"
                          " order by a.id limit 1", (target, target))
    steps = {
        "an insert through the API by a mentor": inserted_by_the_mentor,
        "an update of the duration": lambda: conn.execute(
            "update public.activities set duration_minutes = duration_minutes + 13 where id = %s", (target,)),
        "an update of the date into another month": lambda: conn.execute(
            "update public.activities set recorded_at = recorded_at - interval '40 days' where id = %s", (target,)),
        "an update of the chapter": lambda: conn.execute(
            "update public.activities set chapter_id = %s where id = %s", (other_chapter, target)),
        "an update of the type to one that does not count": lambda: conn.execute(
            "update public.activities set activity_type = %s where id = %s", (not_counting, target)),
        "an update of the type back": lambda: conn.execute(
            "update public.activities set activity_type = %s where id = %s", (counting, target)),
        "an update of the mentor": lambda: conn.execute(
            "update public.activities set peer_mentor_id = %s where id = %s", (other_mentor, target)),
        "an update that touches no row": lambda: conn.execute(
            "update public.activities set duration_minutes = 1 where false"),
        "a soft delete": lambda: conn.execute(
            "update public.activities set deleted_at = now() where id = %s", (target,)),
        "an undelete": lambda: conn.execute(
            "update public.activities set deleted_at = null where id = %s", (target,)),
        "a duplicate mark": lambda: conn.execute(
            "update public.activities d set duplicate_of = o.id, chapter_id = o.chapter_id,"
            " peer_mentor_id = o.peer_mentor_id from public.activities o where o.id = %s and d.id = %s",
            (target, duplicate)),
        "a soft delete of the duplicate's original": lambda: conn.execute(
            "update public.activities set deleted_at = now() where id = %s", (target,)),
        "an undelete of the duplicate's original": lambda: conn.execute(
            "update public.activities set deleted_at = null where id = %s", (target,)),
        "the original's type stops counting": lambda: conn.execute(
            "update public.activities set activity_type = %s where id = %s", (not_counting, target)),
        "the original's type counts again": lambda: conn.execute(
            "update public.activities set activity_type = %s where id = %s", (counting, target)),
        "a duplicate unmark": lambda: conn.execute(
            "update public.activities set duplicate_of = null where id = %s", (duplicate,)),
        "a hard delete": lambda: conn.execute("delete from public.activities where id = %s", (target,)),
        "a type's counts_in_stats switched off": lambda: conn.execute(
            "update public.activity_types set counts_in_stats = false where code = %s", (counting,)),
        "a type's counts_in_stats switched on": lambda: conn.execute(
            "update public.activity_types set counts_in_stats = true where code = %s", (counting,)),
        "a 10,000-row bulk insert": lambda: conn.execute(
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " select m.id, m.chapter_id, %s, now() - (g %% 300) * interval '1 day' - g * interval '1 minute',"
            " 1 + g %% 240 from generate_series(1, 10000) g"
            " join public.peer_mentors m on m.id = (select array_agg(id order by id) from public.peer_mentors)"
            "[1 + g %% 30]", (counting,)),
    }
    counted_before = one(conn, "select count(*) from private.counted_activities")
    for step, write in steps.items():
        logged_before = log_size(conn)
        write()
        assert differences(conn, callers) == {}, step
        if step == "an update that touches no row":
            assert log_size(conn) == logged_before
        else:
            assert log_size(conn) > logged_before, step
        if refresh_after_each:
            conn.execute("select public.refresh_stats_views()")
            assert log_size(conn) == 0, step
            assert peer_mentor_days_differences(conn) == [], step
            assert differences(conn, callers) == {}, step
    assert one(conn, "select count(*) from private.counted_activities") == counted_before + 10_000  # +1 insert, -1 delete
    materialized = one(conn, "select sum(activity_count) from private.mv_activity_time_series")
    if not refresh_after_each:
        assert materialized != counted_before + 10_000  # the views are stale; the API was exact anyway

    conn.execute("select public.refresh_stats_views()")
    assert log_size(conn) == 0
    assert differences(conn, callers) == {}
    assert peer_mentor_days_differences(conn) == []
    assert one(conn, "select sum(activity_count) from private.mv_activity_time_series") == counted_before + 10_000


def test_a_refresh_rewrites_only_the_chapter_days_the_log_names(seeded, conn):
    """The mentor-day grain's part of a refresh follows the changes: one insert rewrites the rows of
    its chapter-day (one per mentor active there that day) and no other."""
    chapter, mentor, day = conn.execute(
        "select chapter_id, peer_mentor_id, bucket_date from private.peer_mentor_days"
        " order by activity_count desc, chapter_id, peer_mentor_id, bucket_date limit 1").fetchone()
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
                 " select %s, %s, code, %s::timestamp at time zone 'UTC' + interval '12 hours', 30"
                 " from public.activity_types where counts_in_stats order by code limit 1", (mentor, chapter, day))
    versions = "select chapter_id, bucket_date, peer_mentor_id, xmin::text from private.peer_mentor_days"
    before = set(conn.execute(versions).fetchall())
    conn.execute("select public.refresh_stats_views()")
    written = set(conn.execute(versions).fetchall()) - before
    rewritten = sorted({(c, d, len(written)) for c, d, _, _ in written})
    mentors_that_day = one(conn, "select count(distinct peer_mentor_id) from private.counted_activities"
                                 " where chapter_id = %s and (recorded_at at time zone 'UTC')::date = %s", (chapter, day))
    assert rewritten == [(chapter, day, mentors_that_day)]
    assert peer_mentor_days_differences(conn) == [] and differences(conn, seeded) == {}


def test_a_duplicate_of_a_soft_deleted_original_follows_the_counting_rule(seeded, conn):
    """Marking a registration as the duplicate of an already soft-deleted original: whatever the rule says
    of it, the API says the same as the plain views, and the same after the original is restored."""
    callers = seeded
    # Two activities of one mentor in one chapter: a duplicate repeats an activity of the same mentor and chapter.
    original, duplicate = (r[0] for r in conn.execute(
        "select a.id from private.counted_activities a where (a.peer_mentor_id, a.chapter_id) ="
        " (select peer_mentor_id, chapter_id from private.counted_activities group by 1, 2 order by 1, 2 limit 1)"
        " and not exists (select from public.activities d where d.duplicate_of = a.id)"
        " order by a.id limit 2"))
    conn.execute("update public.activities set deleted_at = now() where id = %s", (original,))
    conn.execute("select public.refresh_stats_views()")
    conn.execute("update public.activities set duplicate_of = %s where id = %s", (original, duplicate))
    assert differences(conn, callers) == {}
    conn.execute("update public.activities set deleted_at = null where id = %s", (original,))
    assert differences(conn, callers) == {}
    conn.execute("select public.refresh_stats_views()")
    assert differences(conn, callers) == {} and log_size(conn) == 0


def test_truncate_empties_the_views_in_the_same_transaction(seeded, conn):
    callers = seeded
    conn.execute("truncate public.activities")
    assert differences(conn, callers) == {}
    assert one(conn, "select count(*) from private.mv_peer_mentor_stats") == 0
    assert one(conn, "select count(*) from private.peer_mentor_days") == 0


def test_a_write_committed_while_a_refresh_runs_stays_in_the_log(seeded, conn, db_url):
    """A write that commits after the refresh took its snapshot, while it refreshes, is not folded in:
    its log entry outlives the refresh, and the API stays exact."""
    callers = seeded
    with psycopg.connect(db_url) as blocker, psycopg.connect(db_url, autocommit=True) as writer:
        # Holds the refresh after its first view, where it records that view's stats_freshness.
        blocker.execute("select from public.stats_freshness where view_name = 'mv_activity_time_series' for update")
        def held_refresh() -> None:
            with psycopg.connect(db_url, autocommit=True, application_name="held-refresh") as refresher:
                refresher.execute("select public.refresh_stats_views()")

        refresh = threading.Thread(target=held_refresh)
        refresh.start()
        while not one(conn, "select count(*) from pg_stat_activity where application_name = 'held-refresh'"
                            " and wait_event_type = 'Lock'"):
            time.sleep(0.01)
        writer.execute("update public.activities set duration_minutes = duration_minutes + 1"
                       " where id = (select id from private.counted_activities order by id limit 1)")
        blocker.commit()
        refresh.join()
    assert one(conn, "select status from private.refresh_runs order by id desc limit 1") == "refreshed"
    assert log_size(conn) > 0
    assert differences(conn, callers) == {}
    conn.execute("select public.refresh_stats_views()")
    assert log_size(conn) == 0 and differences(conn, callers) == {}


def test_anon_and_authenticated_cannot_read_or_write_the_log(seeded, conn):
    for role in ("anon", "authenticated"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            request(conn, role, "select count(*) from private.stats_dirty_keys", user_id=seeded[0].user_id)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            request(conn, role, "delete from private.stats_dirty_keys", user_id=seeded[0].user_id, read_only=False)


PLPGSQL_FUNCTIONS = [  # (function, the trigger's relation, its new and old transition tables)
    ("private.log_inserted_activities()", "public.activities", "new_rows", None),
    ("private.log_updated_activities()", "public.activities", "new_rows", "old_rows"),
    ("private.log_deleted_activities()", "public.activities", None, "old_rows"),
    ("private.log_retyped_activities()", "public.activity_types", "new_rows", "old_rows"),
    ("private.refresh_after_truncate()", "public.activities", None, None),
    ("private.rebuild_peer_mentor_days()", None, None, None),
    ("private.fold_into_peer_mentor_days(pg_snapshot)", None, None, None),
    ("public.refresh_stats_views(boolean)", None, None, None),
    ("private.refresh_stats_views_if_dirty()", None, None, None),
    ("private.chapter_keys(uuid[],uuid[])", None, None, None),
    ("private.stats_chapters()", None, None, None),
    ("private.peer_mentor_stats_chapters()", None, None, None),
    ("private.caller_sees_chapter(uuid)", None, None, None),
    ("private.stats_chapter_ids()", None, None, None),
    ("private.caller_sees_every_chapter()", None, None, None),
    ("private.coordinated_chapter_ids()", None, None, None),
    ("private.coordinated_member_ids()", None, None, None),
    ("private.own_peer_mentor_ids()", None, None, None),
    ("private.live_chapter_days(uuid,date[])", None, None, None),
    ("private.changed_peer_mentor_months(uuid,uuid[],date[])", None, None, None),
    ("private.activity_time_series_of(uuid,date[])", None, None, None),
    ("private.chapter_stats_of(uuid,uuid[],date[])", None, None, None),
    ("private.peer_mentor_stats_of(uuid,uuid[],date[])", None, None, None),
]


@pytest.mark.needs_extension("plpgsql_check")
def test_the_plpgsql_is_clean_under_plpgsql_check(migrated, conn):
    conn.execute("create extension if not exists plpgsql_check")
    try:
        found = {function: conn.execute(
            "select * from plpgsql_check_function(%s::regprocedure, coalesce(%s::regclass, 0), newtable => %s,"
            " oldtable => %s, extra_warnings => true, other_warnings => true, performance_warnings => true)",
            (function, relation, new_table, old_table)).fetchall()
            for function, relation, new_table, old_table in PLPGSQL_FUNCTIONS}
    finally:
        conn.execute("drop extension plpgsql_check")
    assert found == {function: [] for function, *_ in PLPGSQL_FUNCTIONS}
