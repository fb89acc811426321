"""Plans and indexes: the views are materialized with unique keys a concurrent refresh can use
(AC1), the chapter_id and bucket_date indexes exist and the planner uses them (AC3, AC4, from
EXPLAIN (ANALYZE, FORMAT JSON)), the time series has the columns a chart needs (AC5), and a
workload of chapter-filtered dashboard queries is served by index scans (P2, from the
statistics counters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from peerstats import database, postgrest
from peerstats.verify.common import (
    RATIO_TARGET, TIME_SERIES, TIME_SERIES_COLUMNS, VIEWS, Check, Context, Criterion, date_range_query, explain,
    index_names_used, plan_nodes, read_sql, scan_summary,
)

# The chapter-filtered workload whose index-scan ratio is measured: every chapter (up to this
# many) and every coordinator (up to this many), each view, three date ranges.
WORKLOAD_CHAPTERS = 50
WORKLOAD_COORDINATORS = 20
WORKLOAD_ATTEMPTS = 3


def read_indexes(conn: psycopg.Connection) -> dict[str, list[dict[str, Any]]]:
    cursor = conn.execute(read_sql("verify_indexes.sql"), {"views": [v.name for v in VIEWS]})
    columns = [c.name for c in cursor.description]
    by_view: dict[str, list[dict[str, Any]]] = {v.name: [] for v in VIEWS}
    for row in cursor.fetchall():
        by_view[row[0]].append(dict(zip(columns, row)))
    return by_view


def materialized_with_unique_index(context: Context) -> list[Criterion]:
    indexes = context.indexes
    results = []
    for view in VIEWS:
        rows = indexes[view.name]
        is_materialized = bool(rows) and rows[0]["relkind"] == "m"
        usable = [i for i in rows if i["index_name"] and i["is_unique"] and i["plain_and_whole"]
                  and i["access_method"] == "btree"]
        kind = {"m": "materialized view", "v": "plain view", "r": "table"}.get(
            rows[0]["relkind"] if rows else "", "missing")
        measured = f"{kind}; " + (", ".join(describe_index(i) for i in usable) if usable
                                  else "no unique index usable by REFRESH CONCURRENTLY")
        results.append(Criterion(
            "AC1", f"{view.name} is materialized, with a unique index for REFRESH CONCURRENTLY", measured,
            "materialized view; unique B-tree on plain columns, no predicate", is_materialized and bool(usable),
            {"indexes": rows}))
    return results


def chapter_index_used(context: Context) -> list[Criterion]:
    indexes = context.indexes
    scope = context.scope
    results = []
    start, end = scope.twelve_months
    for view in VIEWS[:2]:
        led = led_by(indexes[view.name], "chapter_id")
        plan = explain(context.conn, date_range_query(view.materialized_id, view.date_column, by_chapter=True),
                       (scope.largest_chapter, start, end))["Plan"]
        used = index_names_used(plan) & {i["index_name"] for i in led}
        measured = (", ".join(describe_index(i) for i in led) if led else "no B-tree index led by chapter_id") \
            + f"; 12 months of the largest chapter: {scan_summary(plan)}"
        results.append(Criterion(
            "AC3", f"chapter_id index on {view.name} used by a chapter-filtered query", measured,
            "B-tree led by chapter_id; an index scan on it in EXPLAIN ANALYZE", bool(led) and bool(used),
            {"plan": plan}))
    return results


def bucket_date_index_used(context: Context) -> list[Criterion]:
    indexes = context.indexes
    scope = context.scope
    led = led_by(indexes[TIME_SERIES.name], "bucket_date")
    query = sql.SQL("select bucket_date, sum(activity_count), sum(total_minutes) from {} "
                    "where bucket_date >= %s and bucket_date < %s group by bucket_date").format(
        TIME_SERIES.materialized_id)
    view_rows = context.conn.execute(
        sql.SQL("select count(*) from {}").format(TIME_SERIES.materialized_id)).fetchone()[0]
    plans, uses_index, parts = {}, {}, []
    for label, bounds in scope.ranges.items():
        plan = explain(context.conn, query, bounds)["Plan"]
        plans[label] = plan
        read = sum(node.get("Actual Rows", 0) for node in plan_nodes(plan)
                   if node["Node Type"] in ("Seq Scan", "Bitmap Heap Scan", "Index Scan", "Index Only Scan"))
        uses_index[label] = uses = bool(index_names_used(plan) & {i["index_name"] for i in led})
        parts.append(f"{label} ({read / max(view_rows, 1):.0%} of the rows): "
                     + ("index" if uses else scan_summary(plan)))
    narrow_ranges_use_it = uses_index["1 month"] and uses_index["3 months"]
    measured = (", ".join(describe_index(i) for i in led) if led else "no B-tree index led by bucket_date") \
        + "; all chapters, " + "; ".join(parts)
    return [Criterion(
        "AC4", "bucket_date index on mv_activity_time_series used by date-range queries", measured,
        "B-tree led by bucket_date; an index scan on it for the 1- and 3-month ranges (a range reading "
        "much of the view may read it whole, when the planner finds that cheaper)",
        bool(led) and narrow_ranges_use_it,
        {"uses_index": uses_index, "view_rows": view_rows, "plans": plans})]

# AC5 -------------------------------------------------------------------------------------
def time_series_columns(context: Context) -> list[Criterion]:
    columns = dict(context.conn.execute(
        "select a.attname::text, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
        " where a.attrelid = 'private.mv_activity_time_series'::regclass and a.attnum > 0"
        " and not a.attisdropped order by a.attnum").fetchall())
    ok = all(columns.get(name) == kind for name, kind in TIME_SERIES_COLUMNS.items())
    return [Criterion(
        "AC5", "mv_activity_time_series columns for a bar chart (daily)",
        ", ".join(f"{name} {kind}" for name, kind in columns.items()),
        ", ".join(f"{name} {kind}" for name, kind in TIME_SERIES_COLUMNS.items()), ok, {"columns": columns})]


def index_scan_ratio(context: Context) -> list[Criterion]:
    """Chapter-filtered dashboard queries, directly and through the API; the views' scan counters before and after."""
    scope = context.scope
    direct_queries = [
        (date_range_query(view.materialized_id, view.date_column, by_chapter=True), (chapter, *bounds))
        for view in VIEWS for chapter in scope.chapters[:WORKLOAD_CHAPTERS] for bounds in scope.ranges.values()]
    api_requests = [
        (user_id, date_range_query(view.api_id, view.date_column, by_chapter=False), bounds)
        for user_id, _ in scope.coordinators[:WORKLOAD_COORDINATORS] for view in VIEWS
        for bounds in scope.ranges.values()]
    with database.connect(context.url, application_name="peerstats verify: dashboard workload") as work:
        direct = counted_scans(context.conn, work, lambda: [work.execute(q, p).fetchall() for q, p in direct_queries])
        api = counted_scans(context.conn, work, lambda: [postgrest.request(work, "authenticated", q, p, user_id=u)
                                                for u, q, p in api_requests])
    results = []
    for view in VIEWS:
        ratios = {label: scans[view.name] for label, scans in (("direct", direct), ("API", api))
                  if label == "direct" or api_requests}
        parts, ok = [], True
        for label, (index_scans, seq_scans) in ratios.items():
            total = index_scans + seq_scans
            ratio = index_scans / total if total else 0.0
            ok = ok and total > 0 and ratio > RATIO_TARGET
            parts.append(f"{label} {ratio:.1%} ({index_scans} index, {seq_scans} seq)")
        if not api_requests:
            ok = False
            parts.append("API: no coordinator to ask as")
        results.append(Criterion(
            "P2", f"index-scan ratio on {view.name} over chapter-filtered dashboard queries", "; ".join(parts),
            f"> {RATIO_TARGET:.0%} (pg_stat_user_tables, counted over the workload)", ok,
            {"direct": {"idx_scan": direct[view.name][0], "seq_scan": direct[view.name][1],
                        "queries": len(direct_queries) // len(VIEWS)},
             "api": {"idx_scan": api[view.name][0], "seq_scan": api[view.name][1],
                     "requests": len(api_requests) // len(VIEWS)}}))
    return results


def counted_scans(conn: psycopg.Connection, work: psycopg.Connection,
                  workload: Callable[[], Any]) -> dict[str, tuple[int, int]]:
    """Index and sequential scans of each view during `workload`, from the statistics counters.

    The counters are read before and after rather than reset, which needs no superuser and
    leaves the database's monitoring figures alone. A refresh reads every view whole, so a
    workload during which one ran (the cron jobs) is measured again.
    """
    for _ in range(WORKLOAD_ATTEMPTS):
        # Pending counts of this and the checking connection go to shared memory first.
        conn.execute("select pg_stat_force_next_flush()")
        before = scan_counters(work)
        started = work.execute("select clock_timestamp()").fetchone()[0]
        workload()
        after = scan_counters(work)
        refreshed_meanwhile = work.execute(
            "select count(*) from private.refresh_runs where finished_at >= %s and status <> 'skipped'",
            (started,)).fetchone()[0]
        if not refreshed_meanwhile:
            break
    return {name: (after[name][0] - before[name][0], after[name][1] - before[name][1]) for name in after}


def describe_index(index: dict[str, Any]) -> str:
    return f"{index['index_name']} ({', '.join(index['key_columns'])})"


def led_by(indexes: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """The valid B-tree indexes whose first key column is `column`."""
    return [i for i in indexes if i["index_name"] and i["access_method"] == "btree"
            and i["key_columns"][:1] == [column]]


def scan_counters(conn: psycopg.Connection) -> dict[str, tuple[int, int]]:
    """(idx_scan, seq_scan) of each view, after sending this connection's pending counts."""
    conn.execute("select pg_stat_force_next_flush()")
    rows = conn.execute(
        "select relname::text, coalesce(idx_scan, 0), seq_scan from pg_stat_user_tables"
        " where schemaname = 'private' and relname = any (%s)", ([v.name for v in VIEWS],)).fetchall()
    return {name: (index_scans, seq_scans) for name, index_scans, seq_scans in rows}


CHECKS = [
    Check("AC1", "materialized views with unique indexes", "materialized", materialized_with_unique_index),
    Check("AC5", "time series columns", ", ".join(TIME_SERIES_COLUMNS), time_series_columns),
    Check("AC3", "chapter_id indexes used", "index scan", chapter_index_used),
    Check("AC4", "bucket_date index used", "index scan", bucket_date_index_used),
    Check("P2", "index-scan ratio", f"> {RATIO_TARGET:.0%}", index_scan_ratio),
]
