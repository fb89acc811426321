"""A crash of the server in the middle of a refresh, a bulk insert or a migration loses nothing
committed and leaves nothing half-done visible: after the restart (crash recovery from the WAL)
the data, the materialized views, the dirty-key log, stats_freshness and the migration history
are as the last commit left them, the API equals the plain views for every kind of caller, and
the next refresh and every pg_cron job's command succeed.

The crashes (pg_ctl stop -m immediate: every server process ends at once, no checkpoint) happen
on a throwaway cluster of this module's own, never the session's. Each is made certainly
mid-way: another session holds a lock that the refresh, the insert or the migration needs
further on, and the crash comes once pg_locks shows the victim waiting for it, after it has
already written.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from conftest import except_all_both_ways
from peerstats import database
from peerstats.cluster import Cluster, throwaway_cluster
from peerstats.migrations import apply_all, discover
from peerstats.postgrest import request
from peerstats.refresh import refresh_stats_views
from peerstats.seed import seed
from peerstats.verify.common import VIEWS
from peerstats.verify.exactness import callers, differences

PEERSTATS = Path(sys.executable).parent / "peerstats"
# The migration `db up` is killed in: it replaces the API views, so a lock on one of them
# stops it half-way, after it has created a materialized view and replaced functions.
MIGRATION_KILLED = "20261202000600"
HOURLY_JOB = "refresh-stats-views"
WAIT_S = 30
CRON_WAIT_S = 130
RECOVERY_LINE = "automatic recovery in progress"


def connect(url: str) -> psycopg.Connection:
    # Named apart from the command line's sessions ("peerstats"), which the tests watch. The
    # sessions open during a crash are closed with contextlib.closing: leaving a connection's
    # own context commits its open transaction, on a connection the crash has broken.
    return database.connect(url, application_name="crash test")


@pytest.fixture(scope="module")
def crash_cluster():
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture
def seeded(crash_cluster) -> Cluster:
    """Migrated afresh, seeded, refreshed, then changes pending in the log; the hourly job is
    paused so that no refresh by pg_cron changes the state the test compares."""
    with connect(crash_cluster.url) as conn:
        apply_all(conn, afresh=True)
        seed(conn, activities=3000, years=1, seed=23)
        refresh_stats_views(conn)
        conn.execute("select cron.alter_job(jobid, active => false) from cron.job where jobname = %s", (HOURLY_JOB,))
        write_through_api(conn, 25)
    return crash_cluster


def write_through_api(conn: psycopg.Connection, how_many: int) -> None:
    """Committed single-row inserts, each by its mentor through the API, left unrefreshed."""
    writers = conn.execute(
        "select m.id, m.chapter_id, m.user_id::text,"
        " (select code from public.activity_types where counts_in_stats order by code limit 1)"
        " from public.peer_mentors m where m.user_id is not null order by m.id limit %s", (how_many,)).fetchall()
    for i, (mentor, chapter, user, activity_type) in enumerate(writers * (how_many // len(writers) + 1)):
        if i == how_many:
            break
        request(conn, "authenticated", "insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
                " recorded_at, duration_minutes) values (%s, %s, %s, now() - make_interval(days => %s), 45)",
                (mentor, chapter, activity_type, i % 30), user_id=user, read_only=False)


def state(conn: psycopg.Connection) -> dict[str, tuple]:
    """What a crash must neither lose nor half-change: every row of the data, the views, the log,
    the freshness record, the refresh runs and the migration history, as counts and digests."""
    every_row = "select count(*), md5(string_agg(t::text, ',' order by t::text)) from {} t"
    digests = {table: every_row.format(table) for table in (
        "public.activities", "private.stats_dirty_keys", "public.stats_freshness", "private.refresh_runs",
        "supabase_migrations.schema_migrations")}
    for (view,) in conn.execute("select matviewname from pg_matviews where schemaname = 'private' order by 1"):
        digests[view] = every_row.format(f"private.{view}")
    return {name: conn.execute(query).fetchone() for name, query in digests.items()}


def run_in_thread(url: str, statement: str, params=None) -> tuple[threading.Thread, dict[str, BaseException]]:
    """Run `statement` on a connection of its own in a thread; the error that ends it is kept."""
    ended: dict[str, BaseException] = {}

    def run() -> None:
        try:
            with psycopg.connect(url, autocommit=True, application_name="crash victim") as victim:
                victim.execute(statement, params)
        except psycopg.Error as failure:
            ended["error"] = failure

    thread = threading.Thread(target=run)
    thread.start()
    return thread, ended


def wait_until(condition: Callable[[], bool], what: str, seconds: float = WAIT_S) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def waiting_for(conn: psycopg.Connection, application_name: str) -> list[str]:
    """The locks a session is waiting for: schema-qualified relations, or the lock type (e.g. transactionid)."""
    return [row[0] for row in conn.execute(
        "select coalesce(n.nspname || '.' || c.relname, l.locktype) from pg_locks l join pg_stat_activity a using (pid)"
        " left join pg_class c on c.oid = l.relation left join pg_namespace n on n.oid = c.relnamespace"
        " where a.application_name = %s and not l.granted", (application_name,)).fetchall()]


def crash_and_restart(cluster: Cluster) -> None:
    recoveries = cluster.log_file.read_text().count(RECOVERY_LINE)
    cluster.crash()
    assert not cluster.is_running()
    cluster.ensure_running()
    # The start recovered from the WAL, as after a crash, rather than from a clean shutdown.
    assert cluster.log_file.read_text().count(RECOVERY_LINE) == recoveries + 1


def assert_exact_then_refresh_and_cron_succeed(conn: psycopg.Connection) -> None:
    """The API equals the plain views for every kind of caller; every log entry belongs to a
    committed transaction; then a refresh folds the log in and every pg_cron job's command runs."""
    who = callers(conn)
    found = differences(conn, who)
    assert {f"{label}: {view}": n for view, by in found.items() for label, n in by.items() if n} == {}
    assert conn.execute("select count(*) from private.stats_dirty_keys"
                        " where pg_xact_status(xid) is distinct from 'committed'").fetchone()[0] == 0

    results = refresh_stats_views(conn)
    assert {r.status for r in results} == {"refreshed"}
    assert conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0] == 0
    for view in VIEWS:
        assert conn.execute(except_all_both_ways(f"private.{view.name}", f"public.{view.plain}")).fetchall() == []
    jobs = conn.execute("select jobname, command from cron.job order by jobname").fetchall()
    assert HOURLY_JOB in {name for name, _ in jobs}
    for _, command in jobs:
        conn.execute(command)
    assert no_differences_for(conn, who)


def no_differences_for(conn: psycopg.Connection, who) -> bool:
    return all(n == 0 for by in differences(conn, who).values() for n in by.values())


def test_a_crash_mid_refresh_leaves_the_last_committed_state_and_cron_refreshes_after(seeded):
    cluster = seeded
    with closing(connect(cluster.url)) as conn, closing(connect(cluster.url)) as blocker:
        before = state(conn)
        assert before["private.stats_dirty_keys"][0] > 0
        # The refresh does mv_activity_time_series, then mv_chapter_stats, then records the
        # latter's time in stats_freshness: it waits there for this row lock.
        blocker.execute("begin")
        blocker.execute("select from public.stats_freshness where view_name = 'mv_chapter_stats' for update")
        victim, ended = run_in_thread(cluster.url, "select public.refresh_stats_views()")
        wait_until(lambda: waiting_for(conn, "crash victim") != [], "the refresh waits for the stats_freshness row")
        # Half-way: it holds the locks of the two views it has refreshed, and no others yet.
        assert conn.execute(
            "select array_agg(l.relation::regclass::text order by l.relation::regclass::text)"
            " from pg_locks l join pg_stat_activity a using (pid)"
            " where a.application_name = 'crash victim' and l.granted and l.mode = 'ExclusiveLock'"
            " and l.relation in (select oid from pg_class where relkind = 'm')"
        ).fetchone()[0] == ["private.mv_activity_time_series", "private.mv_chapter_stats"]
        crash_and_restart(cluster)
    victim.join()
    assert isinstance(ended.get("error"), psycopg.OperationalError)

    with connect(cluster.url) as conn:
        assert state(conn) == before
        assert_exact_then_refresh_and_cron_succeed(conn)

        # pg_cron itself came back: an every-minute job scheduled now refreshes a pending change.
        restarted_at = conn.execute("select pg_postmaster_start_time()").fetchone()[0]
        job = conn.execute("select cron.schedule('crash-test-every-minute', '* * * * *',"
                           " 'select public.refresh_stats_views()')").fetchone()[0]
        try:
            write_through_api(conn, 3)
            wait_until(lambda: conn.execute(
                "select exists (select from cron.job_run_details d where d.jobid = %s and d.status = 'succeeded')"
                " and exists (select from private.refresh_runs r where r.status = 'refreshed'"
                " and r.requested_by like 'pg_cron%%' and r.started_at > %s)",
                (job, restarted_at)).fetchone()[0], "a refresh by pg_cron after the restart", CRON_WAIT_S)
        finally:
            conn.execute("select cron.unschedule(%s)", (job,))
        assert no_differences_for(conn, callers(conn))


def test_a_crash_mid_bulk_insert_keeps_every_committed_row_and_none_of_the_unfinished(seeded):
    cluster = seeded
    bulk = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " select m.id, m.chapter_id, %s, now() - make_interval(mins => g * 97), 20"
            " from generate_series(1, %s) g join public.peer_mentors m on m.id = %s")
    with closing(connect(cluster.url)) as conn, closing(connect(cluster.url)) as blocker:
        mentor, activity_type = conn.execute(
            "select m.id, (select code from public.activity_types where counts_in_stats order by code limit 1)"
            " from public.peer_mentors m order by m.id limit 1").fetchone()
        # A committed bulk insert, then the one the crash interrupts.
        conn.execute(bulk, (activity_type, 2000, mentor))
        before = state(conn)
        heap_before = conn.execute("select pg_relation_size('public.activities')").fetchone()[0]
        # Its rows are written first; the foreign-key check at the end of the statement then
        # waits for this lock on the mentor's row (FOR KEY SHARE against FOR UPDATE).
        blocker.execute("begin")
        blocker.execute("select from public.peer_mentors where id = %s for update", (mentor,))
        victim, ended = run_in_thread(cluster.url, bulk, (activity_type, 20000, mentor))
        wait_until(lambda: waiting_for(conn, "crash victim") != [], "the bulk insert waits for the row lock")
        assert conn.execute("select pg_relation_size('public.activities')").fetchone()[0] > heap_before
        crash_and_restart(cluster)
    victim.join()
    assert isinstance(ended.get("error"), psycopg.OperationalError)

    with connect(cluster.url) as conn:
        assert state(conn) == before
        assert before["public.activities"][0] == 3000 + 25 + 2000
        # The table takes new writes where the unfinished ones left dead rows.
        write_through_api(conn, 5)
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == before["public.activities"][0] + 5
        assert_exact_then_refresh_and_cron_succeed(conn)


def test_a_crash_mid_migration_applies_none_of_it_and_db_up_then_completes(seeded):
    cluster = seeded
    versions = [m.version for m in discover()]
    killed = versions.index(MIGRATION_KILLED)
    with connect(cluster.url) as conn:
        down = subprocess.run([str(PEERSTATS), "--database-url", cluster.url, "db", "down",
                               "--steps", str(len(versions) - killed), "--yes"], capture_output=True, text=True)
        assert down.returncode == 0, down.stderr
        write_through_api(conn, 5)
        before = state(conn)
        assert conn.execute("select string_agg(version, ',' order by version)"
                            " from supabase_migrations.schema_migrations").fetchone()[0] == ",".join(versions[:killed])

    with closing(connect(cluster.url)) as conn, closing(connect(cluster.url)) as blocker:
        blocker.execute("begin")
        blocker.execute("lock table public.activity_time_series in access share mode")
        up = subprocess.Popen([str(PEERSTATS), "--database-url", cluster.url, "db", "up"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until(lambda: waiting_for(conn, "peerstats") == ["public.activity_time_series"],
                   f"db up waits inside {MIGRATION_KILLED} for public.activity_time_series")
        # Half-way: it has dropped the other two API views in its transaction (their locks are held).
        assert conn.execute(
            "select count(*) from pg_locks l join pg_stat_activity a using (pid) where a.application_name = 'peerstats'"
            " and l.granted and l.locktype = 'relation' and l.mode = 'AccessExclusiveLock'").fetchone()[0] > 0
        crash_and_restart(cluster)
    out, err = up.communicate(timeout=WAIT_S)
    assert up.returncode == 1
    [line] = err.strip().splitlines()
    assert line.startswith(f"peerstats: migrations/{MIGRATION_KILLED}_") and "failed, nothing of it was applied" in line

    with connect(cluster.url) as conn:
        assert state(conn) == before
        assert conn.execute("select to_regclass('private.peer_mentor_days')").fetchone()[0] is None
        assert_exact_then_refresh_and_cron_succeed(conn)

        up_again = subprocess.run([str(PEERSTATS), "--database-url", cluster.url, "db", "up"],
                                  capture_output=True, text=True)
        assert up_again.returncode == 0, up_again.stderr
        assert conn.execute("select string_agg(version, ',' order by version)"
                            " from supabase_migrations.schema_migrations").fetchone()[0] == ",".join(versions)
        assert conn.execute("select to_regclass('private.peer_mentor_days')").fetchone()[0] is not None
        write_through_api(conn, 5)
        assert_exact_then_refresh_and_cron_succeed(conn)
