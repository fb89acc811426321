"""The exact-API migration loses no change: down with entries pending in the log folds them into the
materialized views and brings back the NOTIFY signal and the previous API, working; up again
folds in what was written meanwhile, and the API is exact again."""

from __future__ import annotations

import psycopg

from peerstats import database
from peerstats.migrations import Runner, discover
from test_exact_stats import differences, log_size, seeded  # noqa: F401 (a fixture)

EXACT_API_VERSION = "20261126000200"


def steps_down_through(version: str) -> int:
    versions = [m.version for m in discover()]
    return len(versions) - versions.index(version)


def plain_equals_materialized(conn: psycopg.Connection) -> bool:
    return all(conn.execute(
        f"select count(*) from ((select * from public.v_{name} except all select * from private.mv_{name})"
        f" union all (select * from private.mv_{name} except all select * from public.v_{name})) d").fetchone()[0] == 0
        for name in ("activity_time_series", "chapter_stats", "peer_mentor_stats"))


def test_up_down_up_with_changes_pending_loses_none_and_down_restores_the_notify_signal(seeded, conn, db_url):
    callers = seeded
    conn.execute("update public.activities set duration_minutes = duration_minutes + 7"
                 " where id in (select id from public.activities order by id limit 40)")
    conn.execute("update public.activities set deleted_at = now()"
                 " where id in (select id from public.activities order by id desc limit 15)")
    assert log_size(conn) > 0 and not plain_equals_materialized(conn)

    with Runner(conn) as runner:
        list(runner.down(steps_down_through(EXACT_API_VERSION)))
    assert conn.execute("select to_regclass('private.stats_dirty_keys')").fetchone()[0] is None
    # Down folded the pending changes in: the previous API (the materialized rows) equals the plain views.
    assert plain_equals_materialized(conn) and differences(conn, callers) == {}
    assert conn.execute("select count(*) from cron.job where jobname = 'refresh-stats-views-if-dirty'").fetchone()[0] == 0

    # The previous mechanism works: a write notifies peerstats_stats_dirty, and a refresh publishes it.
    with database.connect(db_url) as listener:
        listener.execute("listen peerstats_stats_dirty")
        conn.execute("update public.activities set duration_minutes = duration_minutes + 1"
                     " where id = (select id from private.counted_activities order by id limit 1)")
        assert [n.payload for n in listener.notifies(timeout=5, stop_after=1)] == ["activities"]
    assert differences(conn, callers) != {}  # stale until a refresh, as before
    conn.execute("select public.refresh_stats_views()")
    assert differences(conn, callers) == {}

    # A change made between down and up is folded in by the up.
    conn.execute("update public.activities set duration_minutes = duration_minutes + 3"
                 " where id in (select id from public.activities order by id limit 10)")
    with Runner(conn) as runner:
        assert EXACT_API_VERSION in [m.version for m in runner.up()]
    assert log_size(conn) == 0 and plain_equals_materialized(conn) and differences(conn, callers) == {}
    assert conn.execute("select count(*) from pg_trigger where tgname like '%stats_dirty'").fetchone()[0] == 0
    conn.execute("update public.activities set deleted_at = null where deleted_at is not null")
    assert log_size(conn) > 0 and differences(conn, callers) == {}


READS_BY_CHAPTER_VERSION = "20261127000100"


def test_the_per_chapter_reads_go_down_and_up_with_changes_pending_and_stay_exact(seeded, conn):
    """Down of the per-chapter reads keeps the log and its triggers, so the previous reads are exact
    at once; up again reads the same log, with what was written meanwhile."""
    callers = seeded
    conn.execute("update public.activities set duration_minutes = duration_minutes + 5"
                 " where id in (select id from public.activities order by id limit 30)")
    pending = log_size(conn)
    assert pending > 0 and differences(conn, callers) == {}

    with Runner(conn) as runner:
        list(runner.down(steps_down_through(READS_BY_CHAPTER_VERSION)))
    assert conn.execute("select to_regclass('private.mv_peer_mentor_days')").fetchone()[0] is None
    assert log_size(conn) == pending and differences(conn, callers) == {}
    conn.execute("update public.activities set deleted_at = now()"
                 " where id in (select id from public.activities order by id desc limit 12)")
    assert differences(conn, callers) == {}

    with Runner(conn) as runner:
        assert READS_BY_CHAPTER_VERSION in [m.version for m in runner.up()]
    assert log_size(conn) > pending and differences(conn, callers) == {}
    conn.execute("select public.refresh_stats_views()")
    assert log_size(conn) == 0 and differences(conn, callers) == {}
