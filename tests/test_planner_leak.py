"""No leak through the planner: a signed-in user with no chapter learns nothing from EXPLAIN.

Row estimates come from pg_statistic, which PostgreSQL consults under row security for
leakproof operators such as uuid's `=` and `<`. The data here is loaded and ANALYZEd *before*
the closed-write-path migration, as on a live database; after it, every estimate must be the
same for a chapter of 10 activities, one of 10,000 and one that does not exist.
"""

from __future__ import annotations

import json

import pytest

from conftest import SQL_DIR
from peerstats.migrations import Runner
from peerstats.postgrest import request

MIGRATION = "20261126000100"
SMALL, BIG = "5e000000-0000-4000-8000-000000000001", "5e000000-0000-4000-8000-000000000002"
SMALL_MENTOR, BIG_MENTOR = "5e000000-0000-4000-8000-000000000b01", "5e000000-0000-4000-8000-000000000b02"
MISSING = "5e000000-0000-4000-8000-0000000000ff"
NOBODY = "5e000000-0000-4000-8000-00000000ffff"  # a signed-in user with no chapter and no mentor row
ACTIVITY_IN_SMALL, ACTIVITY_IN_BIG = "5e000000-0000-4000-8001-000000000001", "5e000000-0000-4000-8001-000000005000"

# Each probe: a query with one placeholder, and the values whose estimates must be equal.
PROBES = [
    ("select * from public.activities where chapter_id = %s", (SMALL, BIG, MISSING)),
    ("select * from public.activities where chapter_id < %s", (SMALL, BIG, MISSING)),  # bisection
    ("select * from public.activities where chapter_id > %s", (SMALL, BIG, MISSING)),
    ("select * from public.activities where peer_mentor_id = %s", (SMALL_MENTOR, BIG_MENTOR, MISSING)),
    ("select * from public.activities where peer_mentor_id < %s", (SMALL_MENTOR, BIG_MENTOR, MISSING)),
    ("select * from public.activities where id = %s", (ACTIVITY_IN_SMALL, ACTIVITY_IN_BIG, MISSING)),
    ("select * from public.activities where id < %s", (ACTIVITY_IN_SMALL, ACTIVITY_IN_BIG, MISSING)),
    ("select * from public.activities where duplicate_of = %s", (ACTIVITY_IN_SMALL, ACTIVITY_IN_BIG, MISSING)),
    ("select * from public.peer_mentors where chapter_id = %s", (SMALL, BIG, MISSING)),
    ("select * from public.peer_mentors where id < %s", (SMALL_MENTOR, BIG_MENTOR, MISSING)),
    ("select * from public.peer_mentors where full_name < %s", ("Bjarne Big", "Sigrid Small", "Zz")),
    ("select * from public.chapters where id < %s", (SMALL, BIG, MISSING)),
    ("select * from public.chapters where name = %s", ("Small", "Big", "Nowhere")),
    ("select * from public.coordinator_chapters where chapter_id = %s", (SMALL, BIG, MISSING)),
    ("select * from public.peer_mentor_chapters where chapter_id = %s", (SMALL, BIG, MISSING)),
    ("select * from public.v_peer_mentor_stats where chapter_id = %s", (SMALL, BIG, MISSING)),
]


def estimate(conn, query: str, value: str) -> float:
    plan = request(conn, "authenticated", f"explain (format json) {query}", (value,), user_id=NOBODY)[0][0]
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"]


def estimates(conn) -> dict[str, list[float]]:
    return {query: [estimate(conn, query, value) for value in values] for query, values in PROBES}


@pytest.fixture
def analyzed_before_the_migration(migrated, conn):
    """Roll back to just before the migration, load the two chapters, ANALYZE."""
    with Runner(conn) as runner:
        list(runner.down(sum(1 for v in runner.applied_versions() if v >= MIGRATION)))
    conn.execute((SQL_DIR / "chapters_of_10_and_10000.sql").read_text())
    conn.execute("analyze")
    return conn


def test_estimates_reveal_no_chapter_mentor_or_activity(analyzed_before_the_migration):
    conn = analyzed_before_the_migration
    # Without the migration the planner does tell Small from Big (the attack of issue 10).
    query, (small, big, _) = PROBES[0]
    assert estimate(conn, query, big) > 100 * estimate(conn, query, small)

    with Runner(conn) as runner:
        list(runner.up())
    assert conn.execute("select count(*) from pg_statistic s join private.statistics_free_columns() f "
                        "on s.starelid = f.table_name join pg_attribute a on a.attrelid = s.starelid "
                        "and a.attnum = s.staattnum and a.attname = f.column_name").fetchone()[0] == 0
    conn.execute("analyze")  # as autovacuum would, later: it must gather nothing on those columns
    after = estimates(conn)
    leaks = {query: values for query, values in after.items() if len(set(values)) != 1}
    assert leaks == {}


def rows_removed(node: dict) -> int:
    return node.get("Rows Removed by Filter", 0) + sum(rows_removed(child) for child in node.get("Plans", []))


def test_an_executed_plan_counts_the_rows_row_security_hides(migrated, conn):
    """Why PostgREST's plan output must stay off for the API roles (verify S3): EXPLAIN ANALYZE runs the
    query, and its counters tell a signed-in user with no chapter how many activities each chapter has,
    exactly, though row security returns none of them."""
    conn.execute((SQL_DIR / "chapters_of_10_and_10000.sql").read_text())
    conn.execute("insert into auth.users (id, email) values (%s, 'nobody@leak.test') on conflict do nothing", (NOBODY,))
    for chapter, size in ((SMALL, 10), (BIG, 10_000), (MISSING, 0)):
        query = "explain (analyze, format json) select * from public.activities where chapter_id = %s"
        plan = request(conn, "authenticated", query, (chapter,), user_id=NOBODY)[0][0]
        plan = (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]
        assert (plan["Actual Rows"], rows_removed(plan)) == (0, size)
