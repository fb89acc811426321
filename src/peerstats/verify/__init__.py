"""`peerstats verify`: every acceptance criterion, measured on the current database.

Each criterion is measured, never assumed: plans come from EXPLAIN (ANALYZE, FORMAT JSON),
scan counts from the statistics counters, locks from pg_locks while a refresh is held open,
grants from the catalog and from attempts made as the API roles. The planner works with its
default settings on statistics fresh from ANALYZE.

Verify commits nothing: every write it makes (the refreshes, through
public.refresh_stats_views(), the probe activities of AC2, E1 and P1's writer, on a mentor,
type and chapter made for them: verify/probe.py) is made in a transaction that it rolls back.
So no other session ever sees a probe, and the database's rows, its change log, stats_freshness
and the Bufdir submissions are after verify what they were before. It runs ANALYZE (planner
statistics), and sequences a rolled-back insert used stay advanced.

One module per group of checks (plans, timing, locks, rights, regression, deployment), each
with a list CHECKS of `Check(ref, title, target, measure)`, where `measure(context)` returns
a list of `Criterion`. To add a group: write such a module, list its CHECKS in GROUPS below
and its refs in SPEC_ORDER (common.py), which orders the report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from peerstats import database, migrations
from peerstats.errors import PeerstatsError
from peerstats.periods import month_start, months_window
from peerstats.verify import deployment, exactness, locks, plans, regression, rights, timing
from peerstats.verify.common import (
    API_ROLES, LOCK_TIMEOUT, RATIO_TARGET, SPEC_ORDER, TARGET_MS, TIME_SERIES, TIME_SERIES_COLUMNS, TIMING_RUNS, VIEWS,
    Check, Context, Criterion, Scope, StatsView, date_range_query, explain, fmt_ms, index_names_used,
    plan_nodes, read_sql, scan_summary, twelve_month_filters, worst_execution_ms,
)
from peerstats.verify.deployment import runs_every_hour
from peerstats.verify.report import Report, print_report

# What other modules and the tests use, by the names they had when verify was one module.
__all__ = ["API_ROLES", "GROUPS", "LOCK_TIMEOUT", "RATIO_TARGET", "SPEC_ORDER", "TARGET_MS", "TIME_SERIES",
           "TIME_SERIES_COLUMNS", "TIMING_RUNS", "VIEWS", "Check", "Context", "Criterion", "Report", "Scope",
           "StatsView", "date_range_query", "explain", "fmt_ms", "index_names_used", "measure_scope", "month_start",
           "plan_nodes", "print_report", "read_sql", "require_data", "runs_every_hour", "scan_summary",
           "twelve_month_filters", "verify", "worst_execution_ms"]

# The groups in the order they run.
GROUPS: tuple[list[Check], ...] = (
    locks.CHECKS, plans.CHECKS, timing.CHECKS, regression.CHECKS, deployment.CHECKS, rights.CHECKS,
    exactness.CHECKS)


# The session advisory lock that keeps two runs of verify on one database apart.
VERIFY_LOCK = 7351046004


def require_data(conn: psycopg.Connection) -> dict[str, Any]:
    """What verify needs before it can measure anything, or one line saying what is missing."""
    needed = ["public.activities", "public.coordinator_chapters", "private.counted_activities"] + [
        f"{schema}.{name}" for v in VIEWS for schema, name in (("private", v.name), ("public", v.plain), ("public", v.api))]
    missing = [name for name in needed if conn.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None]
    if missing:
        raise PeerstatsError(f"{', '.join(missing)} missing: apply the migrations first (`peerstats db up`)")
    cursor = conn.execute(
        "select (select count(*) from public.activities) as activities,"
        " (select count(*) from private.counted_activities) as counted_activities,"
        " (select count(*) from public.chapters) as chapters, (select count(*) from public.peer_mentors) as mentors,"
        " (select count(distinct user_id) from public.coordinator_chapters) as coordinators,"
        " current_setting('server_version') as server_version")
    summary = {column.name: value for column, value in zip(cursor.description, cursor.fetchone(), strict=True)}
    if not summary["counted_activities"]:
        raise PeerstatsError(
            "the database holds no counted activities, so there is nothing to measure: seed it first "
            "(`peerstats seed --activities 100000`)")
    return summary


def measure_scope(conn: psycopg.Connection) -> Scope:
    anchor = conn.execute("select max(bucket_date) from private.mv_activity_time_series").fetchone()[0]
    if anchor is None:
        raise PeerstatsError("the materialized views hold no rows: refresh them first (`peerstats refresh`)")
    ranges = {label: months_window(anchor, months)
              for label, months in (("1 month", 1), ("3 months", 3), ("12 months", 12))}
    chapters = [row[0] for row in conn.execute(
        "select chapter_id from private.mv_chapter_stats group by chapter_id"
        " order by sum(activity_count) desc, chapter_id")]
    coordinators = conn.execute(
        "select user_id, count(*) from public.coordinator_chapters group by user_id order by 2 desc, 1").fetchall()
    return Scope(anchor, ranges, chapters, coordinators)


def run_checks(context: Context, checks: list[Check], step: Callable[[str], None]) -> list[Criterion]:
    """Each check's criteria; a database error fails that check's row, with the reason, instead of the report."""
    criteria = []
    for check in checks:
        step(check.title)
        try:
            criteria.extend(check.measure(context))
        except psycopg.Error as failure:
            criteria.append(Criterion(check.ref, check.title, f"error: {migrations.describe(failure)}",
                                      check.target, False))
    return criteria


def report_position(criterion: Criterion) -> int:
    return SPEC_ORDER.index(criterion.ref) if criterion.ref in SPEC_ORDER else len(SPEC_ORDER)


def verify(url: str, *, step: Callable[[str], None] = lambda _: None) -> Report:
    """Measure every criterion on the database at `url`; it commits nothing (see the module's docstring)."""
    with database.connect(url, application_name="peerstats verify") as conn:
        summary = require_data(conn)
        # One verify at a time on a database: each holds refreshes open, which another's timings
        # and lock checks would measure. A second one (two demos started at once) waits here;
        # the lock goes with the session.
        step("waiting for another verify to finish")
        conn.execute("select pg_advisory_lock(%s)", (VERIFY_LOCK,))
        step("ANALYZE")
        conn.execute("analyze public.activities, public.activity_types, public.chapters, public.peer_mentors,"
                     " public.coordinator_chapters")
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(v.materialized_id for v in VIEWS)))
        scope = measure_scope(conn)
        context = Context(url, conn, scope, plans.read_indexes(conn))
        criteria = []
        for checks in GROUPS:
            criteria += run_checks(context, checks, step)
    summary.update(anchor=scope.anchor, twelve_months=list(scope.twelve_months),
                   coordinator_chapters=scope.coordinator[1] if scope.coordinator else 0)
    return Report(summary, sorted(criteria, key=report_position))
