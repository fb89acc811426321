"""`peerstats verify` leaves no trace: its probes are made in transactions it rolls back, so no
other session sees them, no data refuses them (the first mentor's day full, the current year
closed, a chapter without mentors), and the database's rows, change log and Bufdir submissions
are after verify what they were before."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from psycopg import errors

from conftest import daily_bound, migrate_afresh
from peerstats import bufdir, database, postgrest, verify
from peerstats.seed import seed

# public.refresh_stats_views() takes this lock for its transaction (13_functions_refresh.sql).
REFRESH_LOCK = 7351046002
# What pg_cron's own jobs write when they run (the hourly refresh, the threshold refresh), which
# may happen while a test runs; verify's refreshes are named after its application_name.
OPERATIONAL_LOG = ("private.refresh_runs", "public.stats_freshness")


@pytest.fixture
def hostile(migrated):
    """A seeded, refreshed database on which a probe of the old kind was refused: the first
    mentor's UTC day is full (the daily bound's counted minutes), the current UTC year is
    closed, and one chapter has no mentor."""
    with database.connect(migrated) as conn:
        seed(conn, activities=4000)
        mentor, chapter, activity_type, counted = conn.execute(
            "select m.id, m.chapter_id, (select code from public.activity_types where counts_in_stats"
            " order by code limit 1), (select coalesce(sum(c.duration_minutes), 0) from private.counted_activities c"
            " where c.peer_mentor_id = m.id and (c.recorded_at at time zone 'UTC')::date"
            " = (now() at time zone 'UTC')::date)"
            " from public.peer_mentors m order by m.id limit 1").fetchone()
        bound = daily_bound(conn)
        if counted < bound:
            conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                         " duration_minutes) values (%s, %s, %s, now(), %s)",
                         (mentor, chapter, activity_type, bound - counted))
        conn.execute("insert into public.chapters (name) values ('A chapter without mentors')")
        conn.execute("select public.refresh_stats_views()")
        this_year = conn.execute("select extract(year from now() at time zone 'UTC')::int").fetchone()[0]
        bufdir.close_year(conn, this_year, "tester")
        # The old probe's insert is refused twice over.
        with pytest.raises(errors.CheckViolation, match="is closed"), conn.transaction():
            conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                         " duration_minutes) values (%s, %s, %s, now(), 60)", (mentor, chapter, activity_type))
    yield migrated
    migrate_afresh(migrated)


def table_contents(conn) -> dict[str, str]:
    """Every table and materialized view of public and private (the change log, the submissions
    and the views included) but pg_cron's operational log, as a digest of its rows."""
    relations = [row[0] for row in conn.execute(
        "select format('%I.%I', n.nspname, c.relname) from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname in ('public', 'private') and c.relkind in ('r', 'm') order by 1")]
    assert {"private.stats_dirty_keys", "private.bufdir_submissions", "public.activities"} <= set(relations)
    return {name: conn.execute(f"select count(*), md5(coalesce(string_agg(t::text, ',' order by t::text), ''))"
                               f" from {name} t").fetchone()
            for name in relations if name not in OPERATIONAL_LOG}


def test_verify_passes_where_the_first_mentors_day_is_full_and_the_year_closed_and_leaves_no_trace(hostile):
    with database.connect(hostile) as conn:
        before = table_contents(conn)
        freshness = conn.execute("select * from public.stats_freshness order by view_name").fetchall()
        last_run = conn.execute("select coalesce(max(id), 0) from private.refresh_runs").fetchone()[0]
    report = verify.verify(hostile)
    assert report.failures == [], report.summary()
    ac2 = [c for c in report.criteria if c.ref == "AC2"]
    assert len(ac2) == 3 and all(c.details["with_probe"] == c.details["before"] + 1 for c in ac2)
    with database.connect(hostile) as conn:
        assert table_contents(conn) == before
        # None of verify's refreshes is logged; stats_freshness moves only if pg_cron refreshed meanwhile.
        runs = [row[0] for row in conn.execute(
            "select requested_by from private.refresh_runs where id > %s", (last_run,))]
        assert not [r for r in runs if r.startswith("peerstats")]
        assert conn.execute("select * from public.stats_freshness order by view_name").fetchall() == freshness or runs


def what_others_see(conn, coordinator: Any) -> tuple:
    """activities, chapters, mentors and types as the owner reads them, and the API's figures as
    the service role and as the coordinator of the most chapters (in whose chapter E1 probes)."""
    tables = conn.execute(
        "select (select count(*) from public.activities), (select sum(duration_minutes) from public.activities),"
        " (select max(updated_at) from public.activities), (select count(*) from public.chapters),"
        " (select count(*) from public.peer_mentors), (select count(*) from public.activity_types)").fetchone()
    api = [postgrest.request(conn, role, f"select count(*), sum(activity_count), sum(total_hours) from public.{v.api}",
                             user_id=user)[0]
           for v in verify.VIEWS for role, user in (("service_role", None), ("authenticated", coordinator))]
    api.append(postgrest.request(conn, "service_role", "select count(*) from public.activities")[0])
    return tables, api


def test_a_session_polling_activities_and_the_api_during_verify_never_sees_its_probe(hostile):
    """The poller holds the refresh's lock, so each of verify's refreshes waits for it: while AC2's
    waits, its probe is inserted (its transaction holds a write lock on activities) and the poller
    reads; it then lets the refresh through and takes the lock again once that transaction ended."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["report"] = verify.verify(hostile)
        except BaseException as failure:  # handed to the test's thread
            outcome["failure"] = failure

    with database.connect(hostile) as poller, database.connect(hostile) as gate:
        coordinator = poller.execute("select user_id from public.coordinator_chapters group by user_id"
                                     " order by count(*) desc, user_id limit 1").fetchone()[0]
        seen = what_others_see(poller, coordinator)
        gate.execute("select pg_advisory_lock(%s)", (REFRESH_LOCK,))
        thread = threading.Thread(target=run)
        thread.start()
        polls = polls_beside_a_probe = 0
        try:
            while thread.is_alive():
                assert what_others_see(poller, coordinator) == seen
                polls += 1
                waiting = poller.execute(
                    "select exists (select from pg_locks l where l.pid = a.pid and l.granted and l.mode = 'RowExclusiveLock'"
                    " and l.relation = 'public.activities'::regclass)"
                    " from pg_stat_activity a where a.application_name like 'peerstats verify%%'"
                    " and a.wait_event_type = 'Lock' and a.wait_event = 'advisory'").fetchall()
                if not waiting:
                    continue
                for _ in range(3) if any(probe for (probe,) in waiting) else ():
                    assert what_others_see(poller, coordinator) == seen
                    polls_beside_a_probe += 1
                gate.execute("select pg_advisory_unlock(%s)", (REFRESH_LOCK,))
                gate.execute("select pg_advisory_lock(%s)", (REFRESH_LOCK,))  # after that transaction ended
        finally:
            gate.execute("select pg_advisory_unlock_all()")
            thread.join()
        assert what_others_see(poller, coordinator) == seen
    assert "failure" not in outcome, outcome.get("failure")
    assert outcome["report"].failures == [], outcome["report"].summary()
    assert polls_beside_a_probe == 3 and polls > polls_beside_a_probe
