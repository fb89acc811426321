"""Statement triggers' plans do not depend on the first statement a session ran.

PL/pgSQL plans a statement that has no parameters once per session and keeps the plan. The
update guard compares each updated row's old and new versions, a join of the two transition
tables: planned for the one-row update a pooled PostgREST connection ran first, that join
was a nested loop, and a later update of n rows on the same connection compared n x n pairs.
"""

from __future__ import annotations

import time

from peerstats import database, seed
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
