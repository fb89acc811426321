"""The exact API on a read replica: Supabase's read replicas are physical hot standbys, so every
API read must run, read-only, on a standby and return there exactly what the plain views return,
as of the standby's replay point.

The standby is built from the session cluster (pg_basebackup -R, streaming replication) once it
is seeded, and removed at the end. Writes happen on the primary only, with no refresh; each
comparison waits until the standby has replayed the primary's WAL up to the last write.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from peerstats import database
from peerstats.cluster import throwaway_cluster
from peerstats.postgrest import request
from peerstats.seed import seed
from peerstats.verify.common import VIEWS
from peerstats.verify.exactness import callers, differences

REPLAY_WAIT_S = 30


@pytest.fixture
def primary(migrated, conn) -> psycopg.Connection:
    seed(conn, activities=4000, years=1, seed=17)
    conn.execute("select public.refresh_stats_views()")
    return conn


@pytest.fixture
def standby(primary, cluster):
    with throwaway_cluster(standby_of=cluster) as replica, database.connect(replica.url) as conn:
        yield conn


def wait_until_replayed(primary: psycopg.Connection, standby: psycopg.Connection) -> None:
    """Until the standby has replayed every WAL record the primary had written when asked."""
    target = primary.execute("select pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + REPLAY_WAIT_S
    while not standby.execute("select pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
        assert time.monotonic() < deadline, f"the standby did not replay up to {target} in {REPLAY_WAIT_S} s"
        time.sleep(0.05)


def api_rows(conn: psycopg.Connection, who: dict[str, tuple[str, str | None]]) -> dict[str, int]:
    """How many rows each caller reads from each endpoint."""
    return {f"{label}: {view.api}": request(conn, role, f"select count(*) from public.{view.api}", user_id=user)[0][0]
            for view in VIEWS for label, (role, user) in who.items()}


def totals(conn: psycopg.Connection) -> tuple:
    return request(conn, "service_role", "select count(*), sum(activity_count), sum(total_minutes)"
                                         " from public.activity_time_series")[0]


def no_differences(found: dict[str, dict[str, int]]) -> dict[str, int]:
    return {f"{label}: {view}": n for view, by_caller in found.items() for label, n in by_caller.items() if n}


def write_without_refresh(conn: psycopg.Connection) -> None:
    """Every kind of change the log tracks, on the primary, each through the API as PostgREST would
    run it for the mentor or the coordinator allowed to make it, or as the owner for a type."""
    mentor_id, chapter, user = conn.execute(
        "select id, chapter_id, user_id::text from public.peer_mentors where user_id is not null"
        " order by id limit 1").fetchone()
    counting = conn.execute("select code from public.activity_types where counts_in_stats order by code").fetchall()
    inserted = request(conn, "authenticated",
                       "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                       " duration_minutes) values (%s, %s, %s, now() - interval '3 days', 75),"
                       " (%s, %s, %s, now() - interval '40 days', 20) returning id",
                       (mentor_id, chapter, counting[0][0]) * 2, user_id=user, read_only=False)
    request(conn, "authenticated", "update public.activities set duration_minutes = 200 where id = %s",
            (inserted[0][0],), user_id=user, read_only=False)
    request(conn, "authenticated", "update public.activities set deleted_at = now() where id = %s",
            (inserted[1][0],), user_id=user, read_only=False)
    coordinator, coordinated = conn.execute(
        "select user_id::text, chapter_id from public.coordinator_chapters order by user_id, chapter_id limit 1"
    ).fetchone()
    original, repeat = conn.execute(
        "select a.id, b.id from public.activities a join public.activities b on b.peer_mentor_id = a.peer_mentor_id"
        " and b.chapter_id = a.chapter_id and b.id <> a.id and b.recorded_at > a.recorded_at"
        " where a.chapter_id = %s and a.duplicate_of is null and b.duplicate_of is null"
        " and a.deleted_at is null and b.deleted_at is null order by a.id, b.id limit 1", (coordinated,)).fetchone()
    request(conn, "authenticated", "update public.activities set duplicate_of = %s where id = %s",
            (original, repeat), user_id=coordinator, read_only=False)
    conn.execute("update public.activity_types set counts_in_stats = not counts_in_stats where code = %s",
                 (counting[-1][0],))


def test_every_api_read_runs_on_a_hot_standby_and_equals_the_plain_views(primary, standby):
    assert standby.execute("select pg_is_in_recovery()").fetchone()[0]
    wait_until_replayed(primary, standby)
    who = callers(standby)
    assert len(who) == 4 and any("(5)" in label for label in who) and any("(1)" in label for label in who)
    rows = api_rows(standby, who)
    assert all(rows[f"{label}: peer_mentor_stats"] > 0 for label in who), rows
    assert no_differences(differences(standby, who)) == {}
    before = totals(standby)

    write_without_refresh(primary)
    wait_until_replayed(primary, standby)

    assert standby.execute("select count(*) from private.stats_dirty_keys").fetchone()[0] > 0
    assert totals(standby) != before
    assert totals(standby) == totals(primary)
    assert no_differences(differences(standby, who)) == {}


def test_the_standby_stays_exact_across_a_refresh_on_the_primary(primary, standby):
    who = callers(primary)
    write_without_refresh(primary)
    primary.execute("select public.refresh_stats_views()")
    wait_until_replayed(primary, standby)

    assert standby.execute("select count(*) from private.stats_dirty_keys").fetchone()[0] == 0
    assert totals(standby) == totals(primary)
    assert no_differences(differences(standby, who)) == {}


def test_a_write_through_the_api_on_the_standby_fails_as_read_only(primary, standby):
    mentor_id, chapter, user = primary.execute(
        "select id, chapter_id, user_id::text from public.peer_mentors where user_id is not null"
        " order by id limit 1").fetchone()
    wait_until_replayed(primary, standby)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        request(standby, "authenticated",
                "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                " duration_minutes) select %s, %s, min(code), now(), 30 from public.activity_types",
                (mentor_id, chapter), user_id=user, read_only=False)
