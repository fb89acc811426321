"""public.refresh_stats_views(): what it records, who may run it, waiting or skipping, that it
blocks nobody, and that pg_cron really runs it.

pg_cron fires at most once a minute, so the module schedules its every-minute test job first
and the last test waits for it: the tests in between run during that minute.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from conftest import migrate_afresh
from peerstats import database
from peerstats.postgrest import request
from peerstats.refresh import refresh_stats_views

PEERSTATS = Path(sys.executable).parent / "peerstats"
# The contract's three (the exact API's mentor-day grain is a table the refresh updates from the log).
MATERIALIZED_VIEWS = ("mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats")
PLAIN_VIEWS = ("v_activity_time_series", "v_chapter_stats", "v_peer_mentor_stats")
API_VIEWS = ("activity_time_series", "chapter_stats", "peer_mentor_stats")
TEST_JOB = "peerstats-test-every-minute"


@pytest.fixture(scope="module", autouse=True)
def every_minute_job(db_url):
    """A test-only pg_cron job calling the refresh every minute (pg_cron 1.4's finest schedule)."""
    migrate_afresh(db_url)
    with database.connect(db_url) as conn:
        job_id = conn.execute("select cron.schedule(%s, '* * * * *', 'select public.refresh_stats_views()')",
                              (TEST_JOB,)).fetchone()[0]
        scheduled_at = conn.execute("select now()").fetchone()[0]
    yield job_id, scheduled_at
    with database.connect(db_url) as conn:
        conn.execute("select cron.unschedule(jobid) from cron.job where jobname = %s", (TEST_JOB,))


def connect_as(db_url: str, application_name: str) -> psycopg.Connection:
    return database.connect(db_url, application_name=application_name)


def runs_of(conn, requested_by: str) -> list[tuple]:
    return conn.execute("select status, waited_ms, started_at, finished_at from private.refresh_runs "
                        "where requested_by = %s order by id", (requested_by,)).fetchall()


def test_the_migration_schedules_an_hourly_refresh_job(migrated, conn):
    schedule, command, database_name, active = conn.execute(
        "select schedule, command, database, active from cron.job where jobname = 'refresh-stats-views'").fetchone()
    minute, hour, day, month, weekday = schedule.split()
    # Hourly or more often: every hour of every day, at one or more fixed minutes.
    assert (hour, day, month, weekday) == ("*", "*", "*", "*") and minute.replace(",", "").isdigit()
    assert command.strip().rstrip(";") == "select public.refresh_stats_views()"
    assert (database_name, active) == ("postgres", True)


def test_a_refresh_records_stats_freshness_and_the_run(hand_checked, db_url):
    with connect_as(db_url, "peerstats-test-refresh") as conn:
        freshness_before = dict(conn.execute("select view_name, refreshed_at from public.stats_freshness").fetchall())

        results = conn.execute("select view_name, refreshed_at, refresh_ms, status "
                               "from public.refresh_stats_views()").fetchall()

        assert [(r[0], r[3]) for r in results] == [(view, "refreshed") for view in MATERIALIZED_VIEWS]
        assert all(r[2] >= 0 for r in results)
        freshness = {row[0]: row[1:] for row in conn.execute("select * from public.stats_freshness")}
        assert freshness == {r[0]: (r[1], r[2]) for r in results}
        assert all(freshness[view][0] > freshness_before[view] for view in MATERIALIZED_VIEWS)
        assert conn.execute("select count(*) from private.mv_chapter_stats").fetchone()[0] == 8

        [(status, waited_ms, started_at, finished_at)] = runs_of(conn, "peerstats-test-refresh")
        assert status == "refreshed" and waited_ms >= 0
        assert started_at <= min(r[1] for r in results) and finished_at >= max(r[1] for r in results)
        # Every signed-in user may read when the data is from.
        assert len(request(conn, "authenticated", "select * from public.stats_freshness",
                           user_id=hand_checked.users["outsider@peerstats.test"])) == len(MATERIALIZED_VIEWS)


def test_the_python_function_and_the_command_line_refresh(hand_checked, conn, db_url):
    assert [(r.view_name, r.status) for r in refresh_stats_views(conn)] == \
        [(view, "refreshed") for view in MATERIALIZED_VIEWS]
    for arguments in (["refresh"], ["refresh", "--no-wait"]):
        result = subprocess.run([str(PEERSTATS), "--database-url", db_url, *arguments],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert all(view in result.stdout for view in MATERIALIZED_VIEWS) and "refreshed" in result.stdout


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_api_roles_get_permission_denied_on_the_refresh(hand_checked, conn, role):
    for call in ("select public.refresh_stats_views()", "select public.refresh_stats_views(wait => false)"):
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function refresh_stats_views"):
            request(conn, role, call, user_id=hand_checked.users["coord.five@peerstats.test"], read_only=False)


def test_public_has_no_execute_on_the_refresh(hand_checked, conn):
    grantees = {r[0] for r in conn.execute(
        "select coalesce(r.rolname, 'PUBLIC') from pg_proc p, aclexplode(p.proacl) a "
        "left join pg_roles r on r.oid = a.grantee where p.oid = 'public.refresh_stats_views(boolean)'::regprocedure")}
    assert grantees == {"postgres", "service_role"}
    # A role granted nothing has only what PUBLIC has.
    with conn.transaction(force_rollback=True):
        conn.execute("create role peerstats_test_nobody nologin")
        conn.execute("set local role peerstats_test_nobody")
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for function refresh_stats_views"):
            with conn.transaction():
                conn.execute("select public.refresh_stats_views()")


def test_service_role_and_the_owner_may_refresh(hand_checked, conn):
    assert {r[0] for r in request(conn, "service_role", "select status from public.refresh_stats_views()",
                                  read_only=False)} == {"refreshed"}
    assert {r[0] for r in conn.execute("select status from public.refresh_stats_views()")} == {"refreshed"}


@pytest.mark.parametrize("role", ["anon", "authenticated", "service_role"])
@pytest.mark.parametrize("concurrently", ["", "concurrently"])
def test_no_api_role_can_refresh_a_view_itself(hand_checked, conn, role, concurrently):
    for view in MATERIALIZED_VIEWS:
        with pytest.raises(errors.InsufficientPrivilege):
            request(conn, role, f"refresh materialized view {concurrently} private.{view}",
                    user_id=hand_checked.users["coord.five@peerstats.test"], read_only=False)


def test_a_second_refresh_skips_or_waits_and_says_which(hand_checked, db_url):
    with connect_as(db_url, "peerstats-test-holder") as holder, \
            connect_as(db_url, "peerstats-test-skipper") as skipper, \
            connect_as(db_url, "peerstats-test-waiter") as waiter:
        notices = {"skipper": [], "waiter": []}
        skipper.add_notice_handler(lambda diag: notices["skipper"].append(diag.message_primary))
        waiter.add_notice_handler(lambda diag: notices["waiter"].append(diag.message_primary))
        waited = {}

        def refresh_and_wait():
            waited["results"] = waiter.execute("select view_name, status from public.refresh_stats_views()").fetchall()

        with holder.transaction():
            holder.execute("select public.refresh_stats_views()")  # held open until this block ends

            skipped = skipper.execute("select view_name, refreshed_at, refresh_ms, status "
                                      "from public.refresh_stats_views(wait => false)").fetchall()
            assert skipped == [(view, None, None, "skipped") for view in MATERIALIZED_VIEWS]
            assert notices["skipper"] == ["refresh_stats_views: skipped, another refresh is running"]

            waiting = threading.Thread(target=refresh_and_wait)
            waiting.start()
            waiting.join(timeout=1.5)
            assert waiting.is_alive()  # still waiting for the held refresh
        waiting.join(timeout=30)
        assert not waiting.is_alive()

        assert waited["results"] == [(view, "refreshed") for view in MATERIALIZED_VIEWS]
        assert notices["waiter"][0] == "refresh_stats_views: another refresh is running, waiting for it"
        assert notices["waiter"][1].startswith("refresh_stats_views: waited ")
        [(status, waited_ms, started_at, _)] = runs_of(holder, "peerstats-test-waiter")
        assert status == "refreshed" and waited_ms >= 1000
        [(held_status, _, held_started, held_finished)] = runs_of(holder, "peerstats-test-holder")
        assert held_status == "refreshed" and started_at >= held_finished
        assert [r[0] for r in runs_of(holder, "peerstats-test-skipper")] == ["skipped"]


def test_a_rebuild_of_the_mentor_days_beside_a_refresh_waits_for_it(hand_checked, db_url, conn):
    """private.rebuild_peer_mentor_days() run while a refresh folds a new key into the mentor-day
    grain: without the refresh's lock the rebuild's insert met the refresh's rows, uncommitted
    when its delete ran, and failed on a duplicate key once the refresh committed."""
    mentor, chapter = conn.execute("select id, chapter_id from public.peer_mentors order by id limit 1").fetchone()
    counting = conn.execute("select code from public.activity_types where counts_in_stats order by code limit 1"
                            ).fetchone()[0]
    # A chapter-day nobody had: the refresh inserts its mentor-day.
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                 " duration_minutes) values (%s, %s, %s, '2026-11-30 10:00+00', 30)", (mentor, chapter, counting))
    failures: list[psycopg.Error] = []
    with connect_as(db_url, "peerstats-test-holder") as holder, \
            connect_as(db_url, "peerstats-test-rebuilder") as rebuilder:
        def rebuild() -> None:
            try:
                rebuilder.execute("select private.rebuild_peer_mentor_days()")
            except psycopg.Error as failure:
                failures.append(failure)

        with holder.transaction():
            holder.execute("select public.refresh_stats_views()")  # held open until this block ends
            rebuilding = threading.Thread(target=rebuild)
            rebuilding.start()
            rebuilding.join(timeout=1.5)
            assert rebuilding.is_alive()  # waiting for the refresh
        rebuilding.join(timeout=30)
    assert not rebuilding.is_alive() and failures == []
    grain = ("select chapter_id, peer_mentor_id, (recorded_at at time zone 'UTC')::date, count(*),"
             " sum(duration_minutes) from private.counted_activities group by 1, 2, 3")
    kept = "select chapter_id, peer_mentor_id, bucket_date, activity_count, minutes from private.peer_mentor_days"
    assert conn.execute(f"select count(*) from ({grain} except {kept}) a").fetchone()[0] == 0
    assert conn.execute(f"select count(*) from ({kept} except {grain}) a").fetchone()[0] == 0
    assert conn.execute("select count(*) from private.peer_mentor_days where bucket_date = '2026-11-30'"
                        " and peer_mentor_id = %s", (mentor,)).fetchone()[0] == 1


def relation_locks(conn, pid: int | None = None) -> list[tuple[str, str, str]]:
    """(relation, relkind, mode) of the relation locks held by `pid`, or by anyone."""
    return conn.execute(
        "select n.nspname || '.' || c.relname, c.relkind::text, l.mode from pg_locks l "
        "join pg_class c on c.oid = l.relation join pg_namespace n on n.oid = c.relnamespace "
        "where l.granted and (%s::int is null or l.pid = %s::int) and n.nspname not like 'pg_%%'",
        (pid, pid)).fetchall()


def test_a_refresh_in_flight_blocks_no_reader_and_no_writer(hand_checked, db_url):
    coordinator = hand_checked.users["coord.five@peerstats.test"]
    with connect_as(db_url, "peerstats-test-holder") as holder, \
            connect_as(db_url, "peerstats-test-reader") as reader, \
            connect_as(db_url, "peerstats-test-writer") as writer:
        reader.execute("set lock_timeout = '2s'")
        writer.execute("set lock_timeout = '2s'")
        with holder.transaction():
            holder.execute("select public.refresh_stats_views()")
            holder_pid = holder.info.backend_pid

            held = relation_locks(reader, holder_pid)
            # The refresh is in flight: it holds EXCLUSIVE on each view (which blocks no reader),
            # besides the locks of reading the view and applying its changes.
            for view in MATERIALIZED_VIEWS:
                assert {mode for name, kind, mode in held if name == f"private.{view}"} == \
                    {"ExclusiveLock", "RowExclusiveLock", "AccessShareLock"}
            assert [lock for lock in relation_locks(reader) if lock[1] in ("m", "v") and
                    lock[2] == "AccessExclusiveLock"] == []
            # On activities it only reads.
            assert {mode for name, kind, mode in held if name == "public.activities"} == {"AccessShareLock"}

            # Each statement below fails with lock_not_available if it waits 2 s for a lock.
            for view in MATERIALIZED_VIEWS:
                reader.execute(f"select count(*) from private.{view}")
            for view in PLAIN_VIEWS + API_VIEWS + ("stats_freshness",):
                reader.execute(f"select count(*) from public.{view}")
                request(reader, "authenticated", f"select count(*) from public.{view}", user_id=coordinator)
                request(reader, "service_role", f"select count(*) from public.{view}")
            with writer.transaction():
                writer.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, "
                               "recorded_at, duration_minutes) values (%s, %s, 'visit', now(), 30)",
                               (hand_checked.mentors["Bo"], hand_checked.chapters["Chapter B"]))
                writer.execute("update public.activities set duration_minutes = 31 where id::text like '%c06'")
                writer.execute("update public.activities set deleted_at = now() where id::text like '%c05'")
        assert holder.execute("select count(*) from public.activities").fetchone()[0] == 15


def test_pg_cron_runs_the_refresh(every_minute_job, conn):
    job_id, scheduled_at = every_minute_job
    # The job really refreshes: a run pg_cron marks succeeded has a refresh logged by a pg_cron
    # worker (no application_name) that started with it. The other tests of this module migrate
    # afresh, which drops private.refresh_runs with the rows of the runs made meanwhile (and a
    # run that meets a migration fails), so the newest succeeded run is checked, and the next
    # minute's when its row is gone. The run's times are compared with a second's slack:
    # pg_cron's launcher records start_time and end_time as it polls its workers, which on a
    # loaded machine can miss the command's own by milliseconds, and it may mark a run succeeded
    # a moment before the worker's commit is visible.
    deadline = time.monotonic() + 150
    while True:
        runs = conn.execute("select status, return_message, start_time, end_time from cron.job_run_details "
                            "where jobid = %s order by runid", (job_id,)).fetchall()
        succeeded = [run for run in runs if run[0] == "succeeded"]
        logged = 0
        if succeeded:
            logged = conn.execute(
                "select count(*) from private.refresh_runs where status = 'refreshed' and requested_by like 'pg_cron%%'"
                " and started_at > %s - interval '1 second'", (succeeded[-1][2],)).fetchone()[0]
        if logged:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"no refresh logged by a succeeded run of {TEST_JOB} in time; runs: {runs}")
        time.sleep(1)
    conn.execute("select cron.unschedule(%s)", (job_id,))
    assert succeeded[-1][2] > scheduled_at and logged >= 1
