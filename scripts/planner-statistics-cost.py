"""What the planner-leak defence costs the plain views: their 12-month queries timed with
EXPLAIN (ANALYZE) with the identifying columns' statistics (gathered again inside a transaction
that is rolled back afterwards) and without them (as the closed-write-path migration leaves
the database), in the same run on the same data.

    .venv/bin/python scripts/planner-statistics-cost.py --database-url URL [--runs 15]

Use a seeded scratch database (`peerstats seed`): the comparison takes ACCESS EXCLUSIVE locks
on the base tables while it runs. Prints one row per query: p50 and p95 execution time
(server side, EXPLAIN ANALYZE) and the ratio.
"""

from __future__ import annotations

import argparse
import json

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from peerstats import database, verify
from peerstats.bench.latency import percentile


def execution_ms(conn: psycopg.Connection, query: sql.Composable, params: tuple, user_id: str | None) -> float:
    """One EXPLAIN (ANALYZE) as the owner, or as `user_id` the way PostgREST runs a request."""
    if user_id is not None:
        conn.execute("select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
                     (json.dumps({"sub": str(user_id), "role": "authenticated"}),))
    try:
        return verify.explain(conn, query, params)["Execution Time"]
    finally:
        if user_id is not None:
            conn.execute("reset role")


def cases_of(conn: psycopg.Connection) -> dict[str, tuple[sql.Composable, tuple, str | None]]:
    """The plain views' 12-month queries: the largest chapter and all chapters as the owner, and
    one chapter and all of theirs as the coordinator with the most chapters."""
    scope = verify.measure_scope(conn)
    coordinator, coordinated = scope.coordinator
    their_chapter = conn.execute("select chapter_id from public.coordinator_chapters where user_id = %s "
                                 "order by chapter_id limit 1", (coordinator,)).fetchone()[0]
    start, end = scope.twelve_months
    cases = {}
    for view in verify.VIEWS:
        one = verify.date_range_query(view.plain_id, view.date_column, by_chapter=True)
        every = verify.date_range_query(view.plain_id, view.date_column, by_chapter=False)
        cases[f"{view.plain}, largest chapter, owner"] = (one, (scope.largest_chapter, start, end), None)
        cases[f"{view.plain}, all chapters, owner"] = (every, (start, end), None)
        cases[f"{view.plain}, one chapter, its coordinator (of {coordinated})"] = (
            one, (their_chapter, start, end), coordinator)
        cases[f"{view.plain}, all their chapters, that coordinator"] = (every, (start, end), coordinator)
    return cases


def restore_statistics(conn: psycopg.Connection) -> None:
    """Gather statistics on the identifying columns again, as before the migration."""
    for table, column in conn.execute("select table_name::text, column_name::text "
                                      "from private.statistics_free_columns()").fetchall():
        conn.execute(sql.SQL("alter table {} alter column {} set statistics -1").format(
            sql.SQL(table), sql.Identifier(column)))
    conn.execute("analyze public.activities, public.peer_mentors, public.chapters, public.coordinator_chapters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with database.connect(args.database_url, autocommit=False) as conn:
        cases = cases_of(conn)
        with_statistics: dict[str, list[float]] = {label: [] for label in cases}
        without = {label: [] for label in cases}
        # Rounds alternate between the two states, so drift on a busy machine hits both alike.
        for _ in range(args.runs + 1):  # the first round warms the cache and is not counted
            conn.execute("savepoint with_statistics")
            restore_statistics(conn)
            for label, (query, params, user_id) in cases.items():
                with_statistics[label].append(execution_ms(conn, query, params, user_id))
            conn.execute("rollback to savepoint with_statistics")
            for label, (query, params, user_id) in cases.items():
                without[label].append(execution_ms(conn, query, params, user_id))
        conn.rollback()
        for series in (*with_statistics.values(), *without.values()):
            del series[0]
    table = Table(title="Plain views, 12 months: EXPLAIN ANALYZE execution time, ms (p50 / p95)")
    for heading in ("query", "with statistics", "without (as migrated)", "p50 ratio"):
        table.add_column(heading, justify="left" if heading == "query" else "right")
    for label in without:
        before, after = with_statistics[label], without[label]
        table.add_row(label, f"{percentile(before, 0.5):.2f} / {percentile(before, 0.95):.2f}",
                      f"{percentile(after, 0.5):.2f} / {percentile(after, 0.95):.2f}",
                      f"{percentile(after, 0.5) / percentile(before, 0.5):.2f}×")
    Console().print(table)


if __name__ == "__main__":
    main()
