"""`peerstats verify`: every acceptance criterion of the spec, measured on the current database.

Each criterion is measured, never assumed: plans come from EXPLAIN (ANALYZE, FORMAT JSON),
scan counts from the statistics counters, locks from pg_locks while a refresh is held open,
grants from the catalog and from attempts made as the API roles. The planner works with its
default settings on statistics fresh from ANALYZE.

What verify changes, and undoes: it refreshes the views (through public.refresh_stats_views(),
so stats_freshness moves forward), inserts one probe activity and deletes it again (so every
count and total ends as it was), and holds one refresh open in a transaction that it rolls
back. Writes made to test blocking are rolled back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from peerstats import database, migrations, postgrest, verify_exactness
from peerstats.errors import PeerstatsError
from peerstats.refresh import refresh_stats_views

TARGET_MS = 200
LOCK_TIMEOUT = "2s"
RATIO_TARGET = 0.95
TIMING_RUNS = 3
INDEX_SCAN_NODES = frozenset({"Index Scan", "Index Only Scan", "Bitmap Index Scan"})
API_ROLES = ("anon", "authenticated")
CRON_JOB = "refresh-stats-views"
REFRESH_FUNCTION = "public.refresh_stats_views(boolean)"
# The chapter-filtered workload whose index-scan ratio is measured: every chapter (up to this
# many) and every coordinator (up to this many), each view, three date ranges.
WORKLOAD_CHAPTERS = 50
WORKLOAD_COORDINATORS = 20
WORKLOAD_ATTEMPTS = 3
# Order of the report: the spec's acceptance criteria, then its performance, regression and
# security requirements, then the exact API's (verify_exactness).
SPEC_ORDER = ("AC1", "AC2", "AC3", "AC4", "AC5", "AC6", "AC7", "AC8", "P1", "P2", "R1", "S1", "S2", "E1", "E2", "E3")


@dataclass(frozen=True)
class StatsView:
    name: str
    plain: str
    api: str
    date_column: str

    @property
    def materialized_id(self) -> sql.Identifier:
        return sql.Identifier("private", self.name)

    @property
    def plain_id(self) -> sql.Identifier:
        return sql.Identifier("public", self.plain)

    @property
    def api_id(self) -> sql.Identifier:
        return sql.Identifier("public", self.api)


VIEWS = (
    StatsView("mv_peer_mentor_stats", "v_peer_mentor_stats", "peer_mentor_stats", "month_start"),
    StatsView("mv_chapter_stats", "v_chapter_stats", "chapter_stats", "month_start"),
    StatsView("mv_activity_time_series", "v_activity_time_series", "activity_time_series", "bucket_date"),
)
TIME_SERIES = VIEWS[2]
TIME_SERIES_COLUMNS = {"bucket_date": "date", "chapter_id": "uuid", "activity_count": "bigint", "total_hours": "numeric"}


@dataclass
class Criterion:
    ref: str
    criterion: str
    measured: str
    target: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    database: dict[str, Any]
    criteria: list[Criterion]

    @property
    def failures(self) -> list[Criterion]:
        return [c for c in self.criteria if not c.passed]

    def summary(self) -> str:
        passed = len(self.criteria) - len(self.failures)
        line = f"{passed} of {len(self.criteria)} criteria pass"
        if self.failures:
            line += "; failed: " + "; ".join(f"{c.ref} {c.criterion}" for c in self.failures)
        return line

    def to_json(self) -> str:
        document = {
            "database": self.database,
            "passed": len(self.criteria) - len(self.failures),
            "failed": len(self.failures),
            "criteria": [asdict(c) for c in self.criteria],
        }
        return json.dumps(document, indent=2, default=json_value) + "\n"


def json_value(value: Any) -> Any:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


@dataclass(frozen=True)
class Scope:
    """What the measurements ask about: date ranges ending at the newest data, chapters by size, coordinators."""

    anchor: date
    ranges: dict[str, tuple[date, date]]
    chapters: list[Any]
    coordinators: list[tuple[Any, int]]

    @property
    def twelve_months(self) -> tuple[date, date]:
        return self.ranges["12 months"]

    @property
    def largest_chapter(self) -> Any:
        return self.chapters[0]

    @property
    def coordinator(self) -> tuple[Any, int] | None:
        """The coordinator with the most chapters: the heaviest request the API serves."""
        return self.coordinators[0] if self.coordinators else None


def month_start(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def read_sql(name: str) -> str:
    return resources.files("peerstats").joinpath("sql", name).read_text()


# --- plans ---------------------------------------------------------------------------------

def explain(conn: psycopg.Connection, query: sql.Composable, params: Any = None) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, FORMAT JSON) of `query`: the plan document (Plan, Execution Time, ...)."""
    return conn.execute(sql.SQL("explain (analyze, format json) ") + query, params).fetchone()[0][0]


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def index_names_used(plan: dict[str, Any]) -> set[str]:
    return {node["Index Name"] for node in plan_nodes(plan) if node["Node Type"] in INDEX_SCAN_NODES}


def scan_summary(plan: dict[str, Any]) -> str:
    """The plan's scans, e.g. 'Bitmap Index Scan on mv_chapter_stats_key'."""
    scans = []
    for node in plan_nodes(plan):
        if node["Node Type"] in INDEX_SCAN_NODES:
            scans.append(f"{node['Node Type']} on {node['Index Name']}")
        elif node["Node Type"] == "Seq Scan":
            scans.append(f"Seq Scan on {node['Relation Name']}")
    return ", ".join(scans) or "no scan node"


def worst_execution_ms(run: Callable[[], dict[str, Any]]) -> float:
    return max(run()["Execution Time"] for _ in range(TIMING_RUNS))


def date_range_query(table: sql.Identifier, date_column: str, *, by_chapter: bool) -> sql.Composed:
    return sql.SQL("select * from {table} where {chapter}{date} >= %s and {date} < %s").format(
        table=table, date=sql.Identifier(date_column),
        chapter=sql.SQL("chapter_id = %s and " if by_chapter else ""))


# --- the checks ----------------------------------------------------------------------------

class Verifier:
    def __init__(self, url: str, conn: psycopg.Connection, step: Callable[[str], None]):
        self.url = url
        self.conn = conn
        self.step = step
        self.criteria: list[Criterion] = []

    def guarded(self, ref: str, title: str, target: str, check: Callable[[], list[Criterion]]) -> None:
        """Run one check; a database error fails its criterion, with the reason, instead of the report."""
        self.step(title)
        try:
            self.criteria.extend(check())
        except psycopg.Error as failure:
            self.criteria.append(Criterion(ref, title, f"error: {migrations.describe(failure)}", target, False))

    # AC2 -------------------------------------------------------------------------------------
    def refresh_after_change(self) -> list[Criterion]:
        conn = self.conn
        mentor, chapter = conn.execute("select id, chapter_id from public.peer_mentors order by id limit 1").fetchone()
        activity_type = conn.execute(
            "select code from public.activity_types where counts_in_stats order by code limit 1").fetchone()[0]
        recorded_at, day, month = conn.execute(
            "select now(), (now() at time zone 'UTC')::date,"
            " date_trunc('month', now() at time zone 'UTC')::date").fetchone()
        cell = {"mentor": mentor, "chapter": chapter, "day": day, "month": month}
        probe_cells = read_sql("verify_probe_cells.sql")

        def cells() -> dict[str, int]:
            cursor = conn.execute(probe_cells, cell)
            return {column.name: value for column, value in zip(cursor.description, cursor.fetchone(), strict=True)}

        def refresh() -> dict[str, Any]:
            return {r.view_name: r for r in refresh_stats_views(conn)}

        refresh()  # bring the views up to date, so the probe alone makes the difference
        before = cells()
        probe = conn.execute(
            "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
            " values (%s, %s, %s, %s, 60) returning id", (mentor, chapter, activity_type, recorded_at)).fetchone()[0]
        try:
            after_insert = refresh()
            with_probe = cells()
        finally:
            conn.execute("delete from public.activities where id = %s", (probe,))
        after_delete = refresh()
        after = cells()
        results = []
        for view in VIEWS:
            inserted, deleted = after_insert[view.name], after_delete[view.name]
            ok = (inserted.status == "refreshed" and deleted.status == "refreshed"
                  and with_probe[view.name] == before[view.name] + 1 and after[view.name] == before[view.name])
            measured = (f"after an insert: {inserted.status} ({fmt_ms(inserted.refresh_ms)}), count "
                        f"{before[view.name]} → {with_probe[view.name]}; after its delete: {deleted.status} "
                        f"({fmt_ms(deleted.refresh_ms)}), count {after[view.name]}")
            results.append(Criterion(
                "AC2", f"REFRESH CONCURRENTLY {view.name} succeeds after a data change", measured,
                "no error, the change visible, totals as before", ok,
                {"before": before[view.name], "with_probe": with_probe[view.name], "after": after[view.name],
                 "refresh_after_insert": asdict(inserted), "refresh_after_delete": asdict(deleted)}))
        return results

    # P1 --------------------------------------------------------------------------------------
    def refresh_without_blocking(self, scope: Scope) -> list[Criterion]:
        """Hold a refresh open in a transaction; meanwhile read pg_locks, then read and write under lock_timeout."""
        watched = [f"private.{v.name}" for v in VIEWS] + [f"public.{v.plain}" for v in VIEWS] \
            + [f"public.{v.api}" for v in VIEWS] + ["public.activities", "public.stats_freshness"]
        holder = database.connect(self.url, autocommit=False, application_name="peerstats verify: refresh held open")
        try:
            holder_pid = holder.info.backend_pid
            refresh_stats_views(holder)  # returns with the refresh's transaction still open
            locks = self.conn.execute(
                "select l.relation::regclass::text, l.mode, l.pid = %s, l.granted from pg_locks l"
                " where l.locktype = 'relation' and l.relation = any (%s::regclass[])",
                (holder_pid, watched)).fetchall()
            waits = self.readers_and_writer(scope)
        finally:
            holder.rollback()
            holder.autocommit = True
            # Report this backend's scans now, not while a later check counts scans.
            holder.execute("select pg_stat_force_next_flush()")
            holder.close()
        held = {relation: mode for relation, mode, by_holder, granted in locks if by_holder and granted}
        exclusive = sorted({f"{relation} ({'held' if granted else 'awaited'})"
                            for relation, mode, _, granted in locks if mode == "AccessExclusiveLock"})
        not_held = [f"private.{v.name}" for v in VIEWS if f"private.{v.name}" not in held]
        if not_held:
            lock_measured = f"the held refresh holds no lock on {', '.join(not_held)}: nothing to judge"
        else:
            modes = sorted({held[f'private.{v.name}'] for v in VIEWS})
            lock_measured = (f"refresh holds {', '.join(modes)} on the 3 views; AccessExclusiveLock: "
                             + (", ".join(exclusive) if exclusive else "none"))
        blocked = {name: outcome for name, outcome in waits.items() if not isinstance(outcome, float)}
        slowest = max((ms for ms in waits.values() if isinstance(ms, float)), default=0.0)
        wait_measured = (f"{len(waits) - 1} reads and 1 write, slowest {slowest:.1f} ms" if not blocked
                         else "blocked: " + "; ".join(f"{name}: {outcome}" for name, outcome in blocked.items()))
        return [
            Criterion("P1", "no ACCESS EXCLUSIVE lock on any view while a concurrent refresh runs", lock_measured,
                      "none (pg_locks)", not not_held and not exclusive,
                      {"locks": [{"relation": r, "mode": m, "by_refresh": h, "granted": g} for r, m, h, g in locks]}),
            Criterion("P1", "readers of every view and endpoint and a writer of activities not blocked by it",
                      wait_measured, f"each done within lock_timeout {LOCK_TIMEOUT}", not blocked and bool(waits),
                      {"milliseconds": waits}),
        ]

    def readers_and_writer(self, scope: Scope) -> dict[str, float | str]:
        """Time each reader and the writer on a connection that gives up on any lock wait after LOCK_TIMEOUT."""
        outcomes: dict[str, float | str] = {}
        with database.connect(self.url, application_name="peerstats verify: reader and writer") as other:
            other.execute(sql.SQL("set lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))

            def attempt(name: str, action: Callable[[], Any]) -> None:
                started = time.perf_counter()
                try:
                    action()
                    outcomes[name] = (time.perf_counter() - started) * 1000
                except psycopg.errors.LockNotAvailable:
                    outcomes[name] = f"gave up after {LOCK_TIMEOUT} (lock_timeout)"

            for view in VIEWS:
                for table in (view.materialized_id, view.plain_id):
                    attempt(table.as_string(other), lambda t=table: other.execute(
                        sql.SQL("select count(*) from {}").format(t)).fetchone())
            if scope.coordinator:
                user_id = scope.coordinator[0]
                for table in [v.api_id for v in VIEWS] + [sql.Identifier("public", "stats_freshness")]:
                    attempt(f"{table.as_string(other)} (API, as a coordinator)", lambda t=table: postgrest.request(
                        other, "authenticated", sql.SQL("select count(*) from {}").format(t), user_id=user_id))
            mentor, chapter, activity_type = self.conn.execute(
                "select pm.id, pm.chapter_id, (select code from public.activity_types order by code limit 1)"
                " from public.peer_mentors pm order by pm.id limit 1").fetchone()

            def write() -> None:
                with other.transaction(force_rollback=True):
                    other.execute(
                        "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                        " duration_minutes) values (%s, %s, %s, now(), 30)", (mentor, chapter, activity_type))

            attempt("insert into public.activities (rolled back)", write)
            other.execute("select pg_stat_force_next_flush()")
        return outcomes

    # AC1, AC3, AC4 ----------------------------------------------------------------------------
    def read_indexes(self) -> dict[str, list[dict[str, Any]]]:
        cursor = self.conn.execute(read_sql("verify_indexes.sql"), {"views": [v.name for v in VIEWS]})
        columns = [c.name for c in cursor.description]
        by_view: dict[str, list[dict[str, Any]]] = {v.name: [] for v in VIEWS}
        for row in cursor.fetchall():
            by_view[row[0]].append(dict(zip(columns, row)))
        return by_view

    def materialized_with_unique_index(self, indexes: dict[str, list[dict[str, Any]]]) -> list[Criterion]:
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

    def chapter_index_used(self, indexes: dict[str, list[dict[str, Any]]], scope: Scope) -> list[Criterion]:
        results = []
        start, end = scope.twelve_months
        for view in VIEWS[:2]:
            led = led_by(indexes[view.name], "chapter_id")
            plan = explain(self.conn, date_range_query(view.materialized_id, view.date_column, by_chapter=True),
                           (scope.largest_chapter, start, end))["Plan"]
            used = index_names_used(plan) & {i["index_name"] for i in led}
            measured = (", ".join(describe_index(i) for i in led) if led else "no B-tree index led by chapter_id") \
                + f"; 12 months of the largest chapter: {scan_summary(plan)}"
            results.append(Criterion(
                "AC3", f"chapter_id index on {view.name} used by a chapter-filtered query", measured,
                "B-tree led by chapter_id; an index scan on it in EXPLAIN ANALYZE", bool(led) and bool(used),
                {"plan": plan}))
        return results

    def bucket_date_index_used(self, indexes: dict[str, list[dict[str, Any]]], scope: Scope) -> list[Criterion]:
        led = led_by(indexes[TIME_SERIES.name], "bucket_date")
        query = sql.SQL("select bucket_date, sum(activity_count), sum(total_hours) from {} "
                        "where bucket_date >= %s and bucket_date < %s group by bucket_date").format(
            TIME_SERIES.materialized_id)
        view_rows = self.conn.execute(
            sql.SQL("select count(*) from {}").format(TIME_SERIES.materialized_id)).fetchone()[0]
        plans, uses_index, parts = {}, {}, []
        for label, bounds in scope.ranges.items():
            plan = explain(self.conn, query, bounds)["Plan"]
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
    def time_series_columns(self) -> list[Criterion]:
        columns = dict(self.conn.execute(
            "select a.attname::text, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
            " where a.attrelid = 'private.mv_activity_time_series'::regclass and a.attnum > 0"
            " and not a.attisdropped order by a.attnum").fetchall())
        ok = all(columns.get(name) == kind for name, kind in TIME_SERIES_COLUMNS.items())
        return [Criterion(
            "AC5", "mv_activity_time_series columns for a bar chart (daily)",
            ", ".join(f"{name} {kind}" for name, kind in columns.items()),
            ", ".join(f"{name} {kind}" for name, kind in TIME_SERIES_COLUMNS.items()), ok, {"columns": columns})]

    # AC6 -------------------------------------------------------------------------------------
    def twelve_month_timings(self, scope: Scope) -> list[Criterion]:
        start, end = scope.twelve_months
        target = f"< {TARGET_MS} ms, worst of {TIMING_RUNS} runs (EXPLAIN ANALYZE Execution Time)"
        results = []
        for view in VIEWS:
            one = worst_execution_ms(lambda v=view: explain(
                self.conn, date_range_query(v.materialized_id, v.date_column, by_chapter=True),
                (scope.largest_chapter, start, end)))
            every = worst_execution_ms(lambda v=view: explain(
                self.conn, date_range_query(v.materialized_id, v.date_column, by_chapter=False), (start, end)))
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
                self.conn, "authenticated",
                sql.SQL("explain (analyze, format json) ") + date_range_query(v.api_id, v.date_column, by_chapter=False),
                (start, end), user_id=user_id)[0][0][0])
            results.append(Criterion(
                "AC6", f"12-month query on public.{view.api} (API, as a coordinator)",
                f"{ms:.2f} ms as the coordinator of {chapters} chapter{'s' if chapters != 1 else ''}", target,
                ms < TARGET_MS, {"ms": ms, "coordinator": user_id, "coordinator_chapters": chapters}))
        return results

    # AC7 -------------------------------------------------------------------------------------
    def migration_up_and_down(self) -> list[Criterion]:
        applied = {row[0] for row in self.conn.execute(
            "select version from supabase_migrations.schema_migrations")} \
            if self.conn.execute("select to_regclass('supabase_migrations.schema_migrations') is not null").fetchone()[0] \
            else set()
        creating = [m for m in migrations.discover() if "create materialized view" in m.up_path.read_text().lower()]
        parts, ok = [], bool(creating)
        for migration in creating:
            down = migration.down_path.read_text().lower()
            dropped = [v.name for v in VIEWS if any(
                "drop materialized view" in line and v.name in line and "cascade" in line for line in down.splitlines())]
            is_applied = migration.version in applied
            ok = ok and is_applied and len(dropped) == len(VIEWS)
            parts.append(f"{migration.filename}: {'applied' if is_applied else 'NOT applied'}; down script "
                         f"supabase/rollback/{migration.filename} drops {len(dropped)} of 3 views CASCADE")
        return [Criterion(
            "AC7", "migration with up (CREATE MATERIALIZED VIEW, indexes) and down (DROP ... CASCADE) scripts",
            "; ".join(parts) or "no migration creates a materialized view",
            "applied; its down script drops the 3 views CASCADE", ok)]

    # AC8 -------------------------------------------------------------------------------------
    def cron_job(self) -> list[Criterion]:
        title, target = f"pg_cron job '{CRON_JOB}' refreshes the views at least hourly", \
            "active, in this database, at least once every hour, calling the refresh"
        if not self.conn.execute("select to_regclass('cron.job') is not null").fetchone()[0]:
            return [Criterion("AC8", title, "pg_cron is not installed in this database", target, False)]
        job = self.conn.execute(
            "select schedule, command, active, database = current_database() from cron.job where jobname = %s",
            (CRON_JOB,)).fetchone()
        if job is None:
            return [Criterion("AC8", title, "no such job in cron.job", target, False)]
        schedule, command, active, this_database = job
        try:
            hourly, reading = runs_every_hour(schedule)
        except ValueError as unreadable:
            hourly, reading = False, str(unreadable)
        refreshes = "refresh_stats_views" in command or all(
            v.name in command for v in VIEWS) and "concurrently" in command.lower()
        measured = (f"'{schedule}' ({reading}); {'active' if active else 'INACTIVE'}; "
                    f"{'this database' if this_database else 'ANOTHER database'}; runs: {command}")
        return [Criterion("AC8", title, measured, target, hourly and active and this_database and refreshes,
                          {"schedule": schedule, "command": command, "active": active})]

    # P2 --------------------------------------------------------------------------------------
    def index_scan_ratio(self, scope: Scope) -> list[Criterion]:
        """Chapter-filtered dashboard queries, directly and through the API; the views' scan counters before and after."""
        direct_queries = [
            (date_range_query(view.materialized_id, view.date_column, by_chapter=True), (chapter, *bounds))
            for view in VIEWS for chapter in scope.chapters[:WORKLOAD_CHAPTERS] for bounds in scope.ranges.values()]
        api_requests = [
            (user_id, date_range_query(view.api_id, view.date_column, by_chapter=False), bounds)
            for user_id, _ in scope.coordinators[:WORKLOAD_COORDINATORS] for view in VIEWS
            for bounds in scope.ranges.values()]
        with database.connect(self.url, application_name="peerstats verify: dashboard workload") as work:
            direct = self.counted_scans(work, lambda: [work.execute(q, p).fetchall() for q, p in direct_queries])
            api = self.counted_scans(work, lambda: [postgrest.request(work, "authenticated", q, p, user_id=u)
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

    def counted_scans(self, work: psycopg.Connection, workload: Callable[[], Any]) -> dict[str, tuple[int, int]]:
        """Index and sequential scans of each view during `workload`, from the statistics counters.

        The counters are read before and after rather than reset, which needs no superuser and
        leaves the database's monitoring figures alone. A refresh reads every view whole, so a
        workload during which one ran (the cron job, the worker) is measured again.
        """
        for _ in range(WORKLOAD_ATTEMPTS):
            # Pending counts of this and the checking connection go to shared memory first.
            self.conn.execute("select pg_stat_force_next_flush()")
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

    # R1 --------------------------------------------------------------------------------------
    def totals_equal(self) -> list[Criterion]:
        template = sql.SQL(read_sql("verify_totals.sql"))
        results = []
        for view in VIEWS:
            cursor = self.conn.execute(template.format(materialized=view.materialized_id, plain=view.plain_id))
            t = {column.name: value for column, value in zip(cursor.description, cursor.fetchone(), strict=True)}
            ok = (t["only_in_materialized"] == 0 and t["only_in_plain"] == 0
                  and t["materialized_activities"] == t["plain_activities"] and t["materialized_hours"] == t["plain_hours"])
            measured = (f"{t['materialized_rows']} = {t['plain_rows']} rows, {t['materialized_activities']} = "
                        f"{t['plain_activities']} activities, {t['materialized_hours']:.2f} = {t['plain_hours']:.2f} h;"
                        f" rows in one only: {t['only_in_materialized']} + {t['only_in_plain']}")
            results.append(Criterion(
                "R1", f"{view.name} equals {view.plain} after refresh", measured,
                "EXCEPT ALL empty both ways; equal totals", ok, t))
        return results

    # S1, S2 ----------------------------------------------------------------------------------
    def api_roles_cannot_read(self) -> list[Criterion]:
        rows = self.conn.execute(
            "select v, r, has_table_privilege(r, v::regclass, 'SELECT') from unnest(%s::text[]) v,"
            " unnest(%s::text[]) r", ([f"private.{v.name}" for v in VIEWS], list(API_ROLES))).fetchall()
        readable = [f"{role} on {view}" for view, role, can in rows if can]
        return [Criterion("S1", "anon and authenticated cannot SELECT from the materialized views",
                          "SELECT granted: " + (", ".join(readable) if readable else "none"),
                          "no SELECT for anon or authenticated", not readable,
                          {"privileges": [{"view": v, "role": r, "select": c} for v, r, c in rows]})]

    def api_grants_match_plain(self) -> list[Criterion]:
        roles = [*API_ROLES, "service_role"]
        rows = self.conn.execute(
            "select p.api, r, has_table_privilege(r, ('public.' || p.api)::regclass, 'SELECT'),"
            " has_table_privilege(r, ('public.' || p.plain)::regclass, 'SELECT')"
            " from unnest(%s::text[], %s::text[]) p(api, plain), unnest(%s::text[]) r",
            ([v.api for v in VIEWS], [v.plain for v in VIEWS], roles)).fetchall()
        differing = [f"{role} on {api}: API {api_can}, plain {plain_can}"
                     for api, role, api_can, plain_can in rows if api_can != plain_can]
        granted = sorted({role for _, role, api_can, _ in rows if api_can})
        return [Criterion("S1", "the API views grant SELECT exactly as the plain views do",
                          f"SELECT to {', '.join(granted) or 'nobody'} on both; differences: "
                          + ("; ".join(differing) if differing else "none"),
                          "same grants for anon, authenticated, service_role", not differing,
                          {"privileges": [{"api_view": a, "role": r, "api": x, "plain": y} for a, r, x, y in rows]})]

    def refresh_only_by_service_role(self) -> list[Criterion]:
        privileges = self.conn.execute(
            "select r, has_function_privilege(r, %s, 'EXECUTE'),"
            " bool_or(pg_has_role(r, c.relowner, 'MEMBER')) from unnest(%s::text[]) r,"
            " pg_class c where c.oid = any (%s::regclass[]) group by r order by r",
            (REFRESH_FUNCTION, [*API_ROLES, "service_role"], [f"private.{v.name}" for v in VIEWS])).fetchall()
        attempts = {}
        with self.conn.transaction(force_rollback=True):
            for role in API_ROLES:
                statements = [sql.SQL("select * from public.refresh_stats_views()")] + [
                    sql.SQL("refresh materialized view {}").format(v.materialized_id) for v in VIEWS]
                for statement in statements:
                    label = f"{role}: {statement.as_string(self.conn)}"
                    try:
                        postgrest.request(self.conn, role, statement, read_only=False)
                        attempts[label] = "ALLOWED"
                    except psycopg.errors.InsufficientPrivilege as refused:
                        attempts[label] = refused.diag.message_primary
        can = {role: (execute, owner) for role, execute, owner in privileges}
        api_can = [role for role in API_ROLES if any(can[role])]
        allowed = [label for label, outcome in attempts.items() if outcome == "ALLOWED"]
        ok = not api_can and not allowed and can["service_role"][0]
        measured = (f"anon, authenticated: EXECUTE or ownership: {', '.join(api_can) or 'none'}; "
                    f"{len(attempts) - len(allowed)} of {len(attempts)} attempts refused"
                    f" ({'; '.join(sorted(set(o for o in attempts.values() if o != 'ALLOWED')))});"
                    f" service_role EXECUTE: {'yes' if can['service_role'][0] else 'NO'}")
        return [Criterion("S2", "only the owner and service_role can refresh", measured,
                          "anon, authenticated: no EXECUTE on refresh_stats_views, not owners, refused",
                          ok, {"privileges": {r: {"execute": e, "owner": o} for r, (e, o) in can.items()},
                               "attempts": attempts})]


# --- helpers -------------------------------------------------------------------------------

def fmt_ms(value: Decimal | float | None) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"


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


# pg_cron's schedules: five cron fields (minute hour day-of-month month day-of-week, with
# names, ranges, steps, lists, and '$' for the last day of the month), '@hourly'-style
# macros, or '<1-59> seconds'.
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
CRON_NAMES = {
    "month": {name: number for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)},
    "day of week": {name: number for number, name in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
CRON_MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


def cron_field_values(text: str, field_name: str, low: int, high: int) -> set[int]:
    def number(token: str) -> int:
        value = CRON_NAMES.get(field_name, {}).get(token, token)
        if field_name == "day of month" and token == "$":
            return high + 1  # the last day of the month: not every day
        if isinstance(value, int):
            return value
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"cannot read {field_name} '{text}'")
        return int(value)

    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"cannot read {field_name} step '{item}'")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first_text, last_text = span.split("-", 1)
            first, last = number(first_text), number(last_text)
        else:
            first = number(span)
            last = high if step else first
        values.update(range(first, last + 1, step or 1))
    if field_name == "day of week" and 7 in values:
        values = (values - {7}) | {0}
    return values


def runs_every_hour(schedule: str) -> tuple[bool, str]:
    """Whether a pg_cron schedule runs at least once in every hour, and how it reads."""
    text = " ".join(schedule.lower().split())
    seconds = re.fullmatch(r"(\d+) seconds?", text)
    if seconds:
        every = int(seconds.group(1))
        if not 1 <= every <= 59:
            raise ValueError(f"pg_cron takes 1 to 59 seconds, not '{schedule}'")
        return True, f"every {every} s"
    text = CRON_MACROS.get(text, text)
    fields = text.split(" ")
    if len(fields) != 5:
        raise ValueError(f"cannot read the schedule '{schedule}': expected 5 fields")
    minutes, hours, days, months, weekdays = (
        cron_field_values(part, name, low, high) for part, (name, low, high) in zip(fields, CRON_FIELDS))
    every_day_of_month, every_weekday = set(range(1, 32)) <= days, set(range(7)) <= weekdays
    # cron's rule: when either day field is '*', a day must match both; otherwise either.
    if fields[2].startswith("*") or fields[4].startswith("*"):
        every_day = every_day_of_month and every_weekday
    else:
        every_day = every_day_of_month or every_weekday
    hourly = bool(minutes) and set(range(24)) <= hours and set(range(1, 13)) <= months and every_day
    per_hour = len(minutes)
    reading = (f"{per_hour} time{'s' if per_hour != 1 else ''} an hour, every hour, every day" if hourly
               else "not every hour of every day")
    return hourly, reading


# --- the report ----------------------------------------------------------------------------

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
        raise PeerstatsError("the materialized views are empty after a refresh: nothing to measure")
    end = anchor + timedelta(days=1)
    ranges = {label: (month_start(anchor, months - 1), end)
              for label, months in (("1 month", 1), ("3 months", 3), ("12 months", 12))}
    chapters = [row[0] for row in conn.execute(
        "select chapter_id from private.mv_chapter_stats group by chapter_id"
        " order by sum(activity_count) desc, chapter_id")]
    coordinators = conn.execute(
        "select user_id, count(*) from public.coordinator_chapters group by user_id order by 2 desc, 1").fetchall()
    return Scope(anchor, ranges, chapters, coordinators)


def verify(url: str, *, step: Callable[[str], None] = lambda _: None) -> Report:
    """Measure every criterion on the database at `url`; see the module's docstring for what it changes."""
    with database.connect(url, application_name="peerstats verify") as conn:
        summary = require_data(conn)
        step("ANALYZE")
        conn.execute("analyze public.activities, public.activity_types, public.chapters, public.peer_mentors,"
                     " public.coordinator_chapters")
        checker = Verifier(url, conn, step)
        checker.guarded("AC2", "concurrent refresh after a data change", "no error", checker.refresh_after_change)
        # The planner's statistics of the views as they now are.
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(", ").join(v.materialized_id for v in VIEWS)))
        scope = measure_scope(conn)
        indexes = checker.read_indexes()
        checker.guarded("P1", "no blocking during a concurrent refresh", "nothing blocked",
                        lambda: checker.refresh_without_blocking(scope))
        checker.guarded("AC1", "materialized views with unique indexes", "materialized",
                        lambda: checker.materialized_with_unique_index(indexes))
        checker.guarded("AC5", "time series columns", "bucket_date, chapter_id, activity_count, total_hours",
                        checker.time_series_columns)
        checker.guarded("AC3", "chapter_id indexes used", "index scan",
                        lambda: checker.chapter_index_used(indexes, scope))
        checker.guarded("AC4", "bucket_date index used", "index scan",
                        lambda: checker.bucket_date_index_used(indexes, scope))
        checker.guarded("AC6", "12-month queries", f"< {TARGET_MS} ms", lambda: checker.twelve_month_timings(scope))
        checker.guarded("P2", "index-scan ratio", f"> {RATIO_TARGET:.0%}", lambda: checker.index_scan_ratio(scope))
        checker.guarded("R1", "materialized equal plain", "equal", checker.totals_equal)
        checker.guarded("AC7", "migration up and down", "both", checker.migration_up_and_down)
        checker.guarded("AC8", "pg_cron job", "at least hourly", checker.cron_job)
        checker.guarded("S1", "materialized views unreadable by the API roles", "no SELECT",
                        checker.api_roles_cannot_read)
        checker.guarded("S1", "API grants equal the plain views'", "equal", checker.api_grants_match_plain)
        checker.guarded("S2", "refresh only by the service role", "refused", checker.refresh_only_by_service_role)
        for ref, title, target, check in verify_exactness.CHECKS:
            checker.guarded(ref, title, target, lambda check=check: check(conn))
    summary.update(anchor=scope.anchor, twelve_months=list(scope.twelve_months),
                   coordinator_chapters=scope.coordinator[1] if scope.coordinator else 0)
    criteria = sorted(checker.criteria, key=lambda c: SPEC_ORDER.index(c.ref))
    return Report(summary, criteria)


def print_report(console: Console, report: Report) -> None:
    db = report.database
    start, end = db["twelve_months"]
    console.print(
        f"PostgreSQL {db['server_version']}: {db['activities']:,} activities ({db['counted_activities']:,} counted), "
        f"{db['chapters']} chapters, {db['mentors']} mentors, {db['coordinators']} coordinators; "
        f"12 months = {start} to {end - timedelta(days=1)}", soft_wrap=True)
    table = Table("", "criterion", "measured", "target", "pass", show_lines=True)
    for c in report.criteria:
        table.add_row(c.ref, c.criterion, c.measured, c.target,
                      "[green]pass[/green]" if c.passed else "[bold red]FAIL[/bold red]")
    console.print(table)
    console.print(report.summary().split(";")[0] + (" — every criterion holds" if not report.failures else ""))
