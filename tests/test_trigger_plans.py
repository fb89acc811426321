"""The write path's plans hold whatever the planner knew when it made them.

PL/pgSQL plans a statement that has no parameters once per session and keeps the plan. The
update guard compares each updated row's old and new versions, a join of the two transition
tables: planned for the one-row update a pooled PostgREST connection ran first, that join
was a nested loop, and a later update of n rows on the same connection compared n x n pairs.

A load in one transaction (a seed, an import) is planned before ANALYZE has seen its rows,
with the default estimates: the daily bound's per-day sum then ANDed an index of every
original into each lookup, and a 3M-row seed stopped progressing after 150,000 rows.
"""

from __future__ import annotations

import json
import time

import pytest

from conftest import daily_bound
from peerstats import database, seed, verify
from peerstats.postgrest import request

# Two chapters, so one chapter's update touches about half the rows.
ACTIVITIES, CHAPTERS, MENTORS = 30_000, 2, 10
TOUCH = "update public.activities set duration_minutes = duration_minutes where chapter_id = %s"


def test_a_bulk_update_after_single_row_updates_costs_what_it_costs_first(migrated, conn, db_url):
    seed.seed(conn, activities=ACTIVITIES, chapters=CHAPTERS, mentors=MENTORS, years=2)
    chapter, coordinator = conn.execute(
        "select c.chapter_id, c.user_id from public.coordinator_chapters c"
        " order by (select count(*) from public.activities a where a.chapter_id = c.chapter_id) desc,"
        " c.user_id limit 1").fetchone()
    one_row = conn.execute("select id from public.activities where chapter_id = %s order by id limit 1",
                           (chapter,)).fetchone()[0]
    rows = conn.execute("select count(*) from public.activities where chapter_id = %s", (chapter,)).fetchone()[0]
    assert rows > 10_000

    def bulk_update_seconds(session) -> float:
        """The coordinator's update of every row of the chapter, rolled back."""
        with session.transaction(force_rollback=True):
            began = time.perf_counter()
            request(session, "authenticated", TOUCH, (chapter,), user_id=str(coordinator), read_only=False)
            return time.perf_counter() - began

    with database.connect(db_url) as fresh:
        first = bulk_update_seconds(fresh)
    with database.connect(db_url) as pooled:
        for _ in range(3):
            request(pooled, "authenticated", "update public.activities set duration_minutes = duration_minutes"
                    " where id = %s", (one_row,), user_id=str(coordinator), read_only=False)
        after_single_rows = bulk_update_seconds(pooled)
    # Linear, the two take about as long (0.5 s here); quadratic, the second took 20 times as long.
    assert after_single_rows < 5 * first + 1.0, (first, after_single_rows)


def collect_plans(connection) -> list[dict]:
    """The plans auto_explain sends `connection` as notices, parsed, in the order they come."""
    plans: list[dict] = []
    connection.add_notice_handler(lambda notice: plans.append(json.loads(notice.message_primary.split("plan:", 1)[1]))
                                  if "plan:" in notice.message_primary else None)
    return plans


def explain_every_statement(connection, scope: str) -> None:
    """auto_explain on for every statement, nested ones too, as JSON notices; `scope` is
    "local" (this transaction) or "session"."""
    for setting, value in (("log_min_duration", "0"), ("log_nested_statements", "on"),
                           ("log_format", "json"), ("log_level", "notice")):
        connection.execute(f"set {scope} auto_explain.{setting} = '{value}'")


class SeenThePlan(Exception):
    """Stops the seed (its transaction rolls back) once the plan is read."""


def test_the_daily_bound_reads_one_index_in_a_load_analyze_has_not_seen(migrated, conn):
    plans = collect_plans(conn)

    def after_chunk(done: int, total: int) -> None:
        if done < 200_000:
            return
        # The daily bound of the next chunk's mentor-days, as its statement trigger calls it, in
        # the seed's transaction (a 3M realistic seed's shape and chunks, as when it stalled): the
        # table holds 200,000 rows that ANALYZE has never seen.
        mentors, days = conn.execute("select array_agg(mentor_id), array_agg(day)"
                                     " from pg_temp.seed_draws(%s, %s)", (done + 1, done + 50_000)).fetchone()
        explain_every_statement(conn, "local")
        # Reading every original per lookup, the sum grows with the load: a regression fails, not hangs.
        conn.execute("set local statement_timeout = '30s'")
        conn.execute("select private.refuse_overfull_mentor_days(%s, %s)", (mentors, days))
        raise SeenThePlan

    conn.execute("load 'auto_explain'")
    with pytest.raises(SeenThePlan):
        seed.seed(conn, activities=3_000_000, chapters=120, mentors=1_500, years=5, progress=after_chunk)
    [day_sum] = [p["Plan"] for p in plans if "sum(c.duration_minutes)" in p["Query Text"]]
    nodes = list(verify.plan_nodes(day_sum))
    assert not [n for n in nodes if n["Node Type"] == "BitmapAnd"]
    assert verify.index_names_used(day_sum) <= {"activities_peer_mentor_id_recorded_at", "activities_pkey",
                                                "activity_types_pkey"}


def test_a_single_row_insert_asks_the_counting_rule_only_for_a_day_past_the_daily_bound(migrated, conn):
    """PL/pgSQL planned the daily bound's question to the counting rule anew on nearly every
    call (a plan for any mentor and day looks several times dearer than one for the values at
    hand): 0.3 to 0.5 ms, a quarter of a single-row insert through the API. A day's activities
    that are not deleted bound its counted minutes, so the rule is asked only for a day whose
    activities pass the bound; the statements each write runs are read from auto_explain."""
    seed.seed(conn, activities=2_000, chapters=2, mentors=10, years=1)
    mentor, chapter, user_id = conn.execute(
        "select m.id, m.chapter_id, m.user_id from public.peer_mentors m where m.user_id is not null"
        " order by m.id limit 1").fetchone()
    counting, not_counting = conn.execute(
        "select min(code) filter (where counts_in_stats), min(code) filter (where not counts_in_stats)"
        " from public.activity_types").fetchone()
    # A day of minutes that do not count: past the bound in activities, none of them counted.
    full_day = "2025-01-20 00:00+00"  # before the seed's year
    conn.execute("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                 " duration_minutes) values (%s, %s, %s, %s, %s), (%s, %s, %s, %s, 60)",
                 (mentor, chapter, not_counting, full_day, daily_bound(conn), mentor, chapter, not_counting, full_day))
    conn.commit()
    insert = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
              " duration_minutes) values (%s, %s, %s, %s, 5)")
    with database.connect(migrated) as pooled:
        plans = collect_plans(pooled)
        pooled.execute("load 'auto_explain'")
        explain_every_statement(pooled, "session")
        pooled.commit()

        def insert_asks_the_rule(recorded_at: str) -> bool:
            plans.clear()
            request(pooled, "authenticated", insert, (mentor, chapter, counting, recorded_at),
                    user_id=str(user_id), read_only=False)
            statements = [plan["Query Text"] for plan in plans]
            assert any("sum(a.duration_minutes)" in text for text in statements)
            return any("private.counted_activities" in text for text in statements)

        assert [insert_asks_the_rule(f"2025-01-{day:02} 12:00+00") for day in range(1, 9)] == [False] * 8
        assert insert_asks_the_rule("2025-01-20 12:00+00")
    # ... and the rule counts only the 5 minutes there.
    assert conn.execute("select sum(duration_minutes) from private.counted_activities where peer_mentor_id = %s"
                        " and recorded_at >= '2025-01-20' and recorded_at < '2025-01-21'", (mentor,)).fetchone()[0] == 5
