"""The exact API's verify criteria pass on a seeded database, and each one fails when what it
measures breaks: a change the log misses, a log past its threshold, no threshold job."""

from __future__ import annotations

import pytest

from peerstats.verify import exactness
from peerstats.seed import seed


@pytest.fixture
def seeded(migrated, conn):
    seed(conn, activities=2000, chapters=6, mentors=24, years=1, seed=3)
    conn.execute("select public.refresh_stats_views()")
    return conn


def passed(criteria) -> list[bool]:
    return [c.passed for c in criteria]


def test_every_exactness_criterion_passes_and_verify_leaves_the_figures_as_they_were(seeded):
    conn = seeded
    before = conn.execute("select count(*), sum(duration_minutes) from private.counted_activities").fetchone()
    exact = exactness.api_exact(conn)
    assert passed(exact) == [True, True, True]
    assert all(c.details["dirty_keys"] >= 1 and len(c.details["with_probe"]) == 4 for c in exact)
    assert passed(exactness.dirty_log_size(conn)) == [True]
    job = exactness.threshold_refresh(conn)
    assert passed(job) == [True] and "no threshold refresh" in job[0].measured
    assert conn.execute("select count(*), sum(duration_minutes) from private.counted_activities").fetchone() == before


def test_e1_fails_when_a_change_escapes_the_log(seeded):
    conn = seeded
    conn.execute("alter table public.activities disable trigger activities_log_updated_keys")
    conn.execute("update public.activities set duration_minutes = duration_minutes + 1"
                 " where id in (select id from private.counted_activities order by id limit 20)")
    conn.execute("alter table public.activities enable trigger activities_log_updated_keys")
    exact = exactness.api_exact(conn)
    assert passed(exact) == [False, False, False]
    assert "rows differ" in exact[0].measured and "service_role" in exact[0].measured


def test_e2_fails_when_the_log_is_past_its_threshold(seeded):
    conn = seeded
    conn.execute("insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)"
                 " select pg_current_xact_id(), m.chapter_id, m.id, current_date - g"
                 " from public.peer_mentors m, generate_series(0, private.dirty_keys_threshold() / 24) g")
    assert passed(exactness.dirty_log_size(conn)) == [False]
    # The every-minute job's function folds it in and records a threshold refresh, which E3 reports.
    assert conn.execute("select private.refresh_stats_views_if_dirty()").fetchone()[0].startswith("refreshed")
    assert passed(exactness.dirty_log_size(conn)) == [True]
    job = exactness.threshold_refresh(conn)
    assert passed(job) == [True] and "last threshold refresh" in job[0].measured and "(refreshed)" in job[0].measured


def test_e2_fails_when_one_chapter_has_more_dirty_days_than_its_threshold(seeded):
    """Few entries, but more days of one chapter than the threshold: each read of that chapter
    recomputes every one of them, so the job refreshes."""
    conn = seeded
    conn.execute("insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)"
                 " select pg_current_xact_id(), m.chapter_id, m.id, current_date - g"
                 " from (select id, chapter_id from public.peer_mentors order by id limit 1) m,"
                 " generate_series(1, private.dirty_days_threshold()) g")
    [within] = exactness.dirty_log_size(conn)
    assert within.passed and within.details["most_dirty_days_of_a_chapter"] == within.details["days_threshold"]
    assert conn.execute("select private.refresh_stats_views_if_dirty()").fetchone()[0].startswith("below")
    conn.execute("insert into private.stats_dirty_keys (xid, chapter_id, peer_mentor_id, bucket_date)"
                 " select pg_current_xact_id(), chapter_id, id, current_date"
                 " from public.peer_mentors order by id limit 1")
    [past] = exactness.dirty_log_size(conn)
    assert not past.passed and past.details["entries"] == past.details["days_threshold"] + 1
    assert conn.execute("select private.refresh_stats_views_if_dirty()").fetchone()[0].startswith("refreshed")
    assert passed(exactness.dirty_log_size(conn)) == [True]


def test_e3_fails_without_the_threshold_job(seeded):
    conn = seeded
    conn.execute("select cron.unschedule('refresh-stats-views-if-dirty')")
    job = exactness.threshold_refresh(conn)
    assert passed(job) == [False] and "no such job" in job[0].measured
