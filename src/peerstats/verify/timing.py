"""Timing: 12-month dashboard queries on every view, directly (the largest chapter, and all
chapters) and through the API as the coordinator with the most chapters, under TARGET_MS
(AC6), from EXPLAIN (ANALYZE) execution times."""

from __future__ import annotations

from psycopg import sql

from peerstats import postgrest
from peerstats.verify.common import (
    TARGET_MS, TIMING_RUNS, VIEWS, Check, Context, Criterion, date_range_query, explain, worst_execution_ms,
)


def twelve_month_timings(context: Context) -> list[Criterion]:
    scope = context.scope
    start, end = scope.twelve_months
    target = f"< {TARGET_MS} ms, worst of {TIMING_RUNS} runs (EXPLAIN ANALYZE Execution Time)"
    results = []
    for view in VIEWS:
        one = worst_execution_ms(lambda v=view: explain(
            context.conn, date_range_query(v.materialized_id, v.date_column, by_chapter=True),
            (scope.largest_chapter, start, end)))
        every = worst_execution_ms(lambda v=view: explain(
            context.conn, date_range_query(v.materialized_id, v.date_column, by_chapter=False), (start, end)))
        results.append(Criterion(
            "AC6", f"12-month query on {view.name}",
            f"largest chapter {one:.2f} ms; all chapters {every:.2f} ms", target,
            one < TARGET_MS and every < TARGET_MS, {"one_chapter_ms": one, "all_chapters_ms": every}))
    for view in VIEWS:
        if not scope.coordinator:
            results.append(Criterion("AC6", f"12-month query on public.{view.api} (API, as a coordinator)",
                                     "no coordinator in public.coordinator_chapters to ask as", target, False))
            continue
        user_id, chapters = scope.coordinator
        ms = worst_execution_ms(lambda v=view: postgrest.request(
            context.conn, "authenticated",
            sql.SQL("explain (analyze, format json) ") + date_range_query(v.api_id, v.date_column, by_chapter=False),
            (start, end), user_id=user_id)[0][0][0])
        results.append(Criterion(
            "AC6", f"12-month query on public.{view.api} (API, as a coordinator)",
            f"{ms:.2f} ms as the coordinator of {chapters} chapter{'s' if chapters != 1 else ''}", target,
            ms < TARGET_MS, {"ms": ms, "coordinator": user_id, "coordinator_chapters": chapters}))
    return results


CHECKS = [Check("AC6", "12-month queries", f"< {TARGET_MS} ms", twelve_month_timings)]
