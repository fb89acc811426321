"""Plans on 100,000 activities (tests/sql/activities_100k.sql: 20 chapters, 100 mentors, 2023-2024).

With default planner settings after ANALYZE, a 12-month chapter-filtered query on each
materialized view reads the expected index in under 200 ms, and so does the same query through
the API for a coordinator of five chapters, without a full scan of any view.
"""

from __future__ import annotations

import time
from datetime import date

import pytest
from psycopg import sql

from conftest import SQL_DIR, except_all_both_ways, migrate_afresh

from peerstats import database
from peerstats.postgrest import request
from peerstats.verify import explain, plan_nodes

TWELVE_MONTHS = (date(2024, 1, 1), date(2025, 1, 1))
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}
MATERIALIZED_VIEWS = ("mv_activity_time_series", "mv_chapter_stats", "mv_peer_mentor_stats")
DATE_COLUMN = {"mv_activity_time_series": "bucket_date", "mv_chapter_stats": "month_start",
               "mv_peer_mentor_stats": "month_start"}
# The index each chapter-filtered query must read: the time series' unique (chapter_id,
# bucket_date) index, the chapter stats' unique (chapter_id, month_start) index, and the mentor
# stats' (chapter_id, month_start) index.
CHAPTER_POSITION = {"mv_activity_time_series": 1, "mv_chapter_stats": 0, "mv_peer_mentor_stats": 1}
CHAPTER_INDEX = {"mv_activity_time_series": "mv_activity_time_series_key", "mv_chapter_stats": "mv_chapter_stats_key",
                 "mv_peer_mentor_stats": "mv_peer_mentor_stats_chapter_id"}


@pytest.fixture(scope="module")
def hundred_thousand(db_url):
    """A migrated database with the 100k activities, refreshed and analysed; the five-chapter coordinator."""
    migrate_afresh(db_url)
    with database.connect(db_url) as conn:
        conn.execute((SQL_DIR / "activities_100k.sql").read_text())
        conn.execute("analyze")
        conn.execute("select public.refresh_stats_views()")
        conn.execute("analyze private.mv_activity_time_series, private.mv_chapter_stats, private.mv_peer_mentor_stats")
        assert conn.execute("select count(*) from public.activities").fetchone()[0] == 100_000
        coordinator = str(conn.execute("select md5('plan-user-1')::uuid").fetchone()[0])
        five_chapters = {r[0] for r in conn.execute(
            "select chapter_id from public.coordinator_chapters where user_id = %s", (coordinator,))}
        assert len(five_chapters) == 5
    return coordinator, five_chapters


def one_chapter(conn) -> str:
    return conn.execute("select id from public.chapters where name = 'Plan chapter 07'").fetchone()[0]


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_a_12_month_chapter_query_reads_the_chapter_index_in_under_200_ms(hundred_thousand, conn, view):
    column = DATE_COLUMN[view]
    query = sql.SQL(f"select * from private.{view} where chapter_id = %s and {column} >= %s and {column} < %s")
    explained = explain(conn, query, (one_chapter(conn), *TWELVE_MONTHS))
    nodes = list(plan_nodes(explained["Plan"]))
    assert [n["Index Name"] for n in nodes if n["Node Type"] in INDEX_SCANS] == [CHAPTER_INDEX[view]], nodes
    assert not any(n["Node Type"] == "Seq Scan" for n in nodes)
    assert explained["Execution Time"] < 200


def test_a_date_range_over_all_chapters_reads_the_bucket_date_index(hundred_thousand, conn):
    # A month of every chapter: 600 of the 14,600 rows. (Twelve months would be half the view,
    # which PostgreSQL rightly reads whole.)
    query = sql.SQL("select * from private.mv_activity_time_series where bucket_date >= %s and bucket_date < %s")
    explained = explain(conn, query, (date(2024, 6, 1), date(2024, 7, 1)))
    nodes = list(plan_nodes(explained["Plan"]))
    assert [n["Index Name"] for n in nodes if n["Node Type"] in INDEX_SCANS] == ["mv_activity_time_series_bucket_date"]
    assert explained["Execution Time"] < 200


def scans_of(observer, view: str) -> tuple[int, int]:
    """Whole-view scans of `view`, and scans of its chapter index, as the statistics collector counts them."""
    observer.execute("select pg_stat_clear_snapshot()")
    return observer.execute("select t.seq_scan, i.idx_scan from pg_stat_user_tables t "
                            "join pg_stat_user_indexes i on i.relid = t.relid and i.indexrelname = %s "
                            "where t.schemaname = 'private' and t.relname = %s", (CHAPTER_INDEX[view], view)).fetchone()


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_the_api_as_a_five_chapter_coordinator_is_fast_and_reads_through_the_index(hundred_thousand, conn, db_url,
                                                                                   view):
    coordinator, five_chapters = hundred_thousand
    endpoint, column = view.removeprefix("mv_"), DATE_COLUMN[view]
    query = f"select * from public.{endpoint} where {column} >= %s and {column} < %s"
    with database.connect(db_url) as observer:
        before = scans_of(observer, view)

        [[[explained]]] = request(conn, "authenticated", "explain (analyze, format json) " + query, TWELVE_MONTHS,
                                  user_id=coordinator)
        rows = request(conn, "authenticated", query, TWELVE_MONTHS, user_id=coordinator)
        conn.execute("select pg_stat_force_next_flush()")

        assert explained["Execution Time"] < 200
        assert {r[CHAPTER_POSITION[view]] for r in rows} == five_chapters
        deadline = time.monotonic() + 5
        while scans_of(observer, view)[1] < before[1] + 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        seq_scans, index_scans = scans_of(observer, view)
    # Both requests read the view through its chapter index, neither by a scan of the whole view.
    assert seq_scans == before[0]
    assert index_scans >= before[1] + 2


def test_at_100k_each_view_equals_its_plain_view(hundred_thousand, conn):
    for view in MATERIALIZED_VIEWS:
        plain = "public.v_" + view.removeprefix("mv_")
        assert conn.execute(except_all_both_ways(f"private.{view}", plain)).fetchall() == []
        totals = "select count(*), sum(activity_count), sum(total_minutes) from "
        assert conn.execute(totals + f"private.{view}").fetchone() == conn.execute(totals + plain).fetchone()


def function_scans(plan: dict) -> dict[str, tuple[int, int]]:
    """Per function scanned in the plan: (calls, rows per call), from EXPLAIN ANALYZE."""
    return {n["Function Name"]: (n["Actual Loops"], n["Actual Rows"])
            for n in plan_nodes(plan) if n["Node Type"] == "Function Scan"}


@pytest.mark.parametrize("view", MATERIALIZED_VIEWS)
def test_one_caller_check_per_request_and_a_chapter_filter_reaches_the_chapter_list_first(hundred_thousand, conn,
                                                                                           view):
    """The chapter list (the caller check and the look at the log) is read once per request; the
    per-chapter function runs once per chapter asked for: five for all five, one for chapter_id = X."""
    coordinator, five_chapters = hundred_thousand
    endpoint, column = view.removeprefix("mv_"), DATE_COLUMN[view]
    chapter_list = "peer_mentor_stats_chapters" if endpoint == "peer_mentor_stats" else "stats_chapters"
    query = f"explain (analyze, format json) select * from public.{endpoint} where {column} >= %s and {column} < %s"
    [[[every]]] = request(conn, "authenticated", query, TWELVE_MONTHS, user_id=coordinator)
    [[[one]]] = request(conn, "authenticated", query + " and chapter_id = %s", (*TWELVE_MONTHS, sorted(five_chapters)[0]),
                        user_id=coordinator)
    assert function_scans(every["Plan"])[chapter_list] == (1, 5)
    assert function_scans(one["Plan"])[chapter_list] == (1, 1)
    assert function_scans(every["Plan"])[f"{endpoint}_of"][0] == 5
    assert function_scans(one["Plan"])[f"{endpoint}_of"][0] == 1
