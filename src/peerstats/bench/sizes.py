"""`peerstats bench`: the figures behind the acceptance criteria, at 100k and 1M activities.

Every run happens on a throwaway cluster of its own (never the user's database), one size
after another on empty tables: the seeder's time, rows/s and peak memory; the refresh time
of each view, concurrently and plainly; and the latency (p50, p95) of the dashboard's
queries on the materialized views, directly and through the API as a coordinator, against
the same queries on the plain views in the same run.

Peak memory: generation happens inside the server, so what matters is the peak resident set
of the server backend that ran it (VmHWM in /proc/<pid>/status; it includes the shared
buffers that backend touched, so it is an upper bound on its private memory). The Python
process's own peak (ru_maxrss) is reported beside it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console

from peerstats import database, migrations, postgrest, seed as seeding, verify
from peerstats.bench import exact, plots
from peerstats.bench.latency import measure, measure_alternating
from peerstats.cluster import throwaway_cluster
from peerstats.errors import PeerstatsError, UsageProblem
from peerstats.output import Column, print_table
from peerstats.refresh import refresh_stats_views

DEFAULT_SIZES = (100_000, 1_000_000)
REFRESH_RUNS = 3
# EXPLAIN ANALYZE runs per server-side figure.
SERVER_RUNS = 15
SHORT_NAMES = {"mv_peer_mentor_stats": "mentor", "mv_chapter_stats": "chapter", "mv_activity_time_series": "time series"}


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for part in text.split(","):
        part = part.strip().replace("_", "")
        if not part.isdigit() or not 1 <= int(part) <= seeding.MAX_ACTIVITIES:
            raise UsageProblem(
                f"--sizes takes activity counts between 1 and {seeding.MAX_ACTIVITIES:,} separated by commas, "
                f"not '{text}'")
        sizes.append(int(part))
    return sizes


def check_writable(output: Path) -> None:
    """Fail before minutes of measuring, not after, when the results cannot be written."""
    folder = output.resolve().parent
    if output.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK) or (
            output.exists() and not os.access(output, os.W_OK)):
        raise PeerstatsError(f"cannot write the results to {output}")


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM of a process on this machine, or None where /proc does not show it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def timed_ms(conn: psycopg.Connection, statement: sql.Composable) -> float:
    began = time.perf_counter()
    conn.execute(statement)
    return (time.perf_counter() - began) * 1000


def materialized_views(conn: psycopg.Connection) -> list[str]:
    """Every materialized view the migrations made: the contract's three."""
    return [name for (name,) in conn.execute(
        "select matviewname::text from pg_matviews where schemaname = 'private' order by 1").fetchall()]


def bench_refresh(conn: psycopg.Connection) -> dict[str, Any]:
    """Each view refreshed plainly and concurrently (as the owner), median of REFRESH_RUNS; then the whole refresh."""
    views = {}
    for name in materialized_views(conn):
        view = sql.Identifier("private", name)
        plain = [timed_ms(conn, sql.SQL("refresh materialized view {}").format(view)) for _ in range(REFRESH_RUNS)]
        concurrent = [timed_ms(conn, sql.SQL("refresh materialized view concurrently {}").format(view))
                      for _ in range(REFRESH_RUNS)]
        views[name] = {"plain_ms": round(statistics.median(plain), 1),
                       "concurrent_ms": round(statistics.median(concurrent), 1)}
    began = time.perf_counter()
    refresh_stats_views(conn)
    return {"views": views, "refresh_stats_views_ms": round((time.perf_counter() - began) * 1000, 1)}


def bench_queries(conn: psycopg.Connection, scope: verify.Scope) -> list[dict[str, Any]]:
    """12 months of the largest chapter (as the owner, and through the API as its coordinator: GETs
    as PostgREST 12 sends them, on the API view and on the plain view) and of all chapters."""
    chapter = scope.largest_chapter
    user_id, coordinated = conn.execute(
        "select c.user_id, (select count(*) from public.coordinator_chapters o where o.user_id = c.user_id)"
        " from public.coordinator_chapters c where c.chapter_id = %s order by 2 desc, 1 limit 1", (chapter,)).fetchone()
    start, end = scope.twelve_months
    rows = []
    for view in verify.VIEWS:
        def owner(table: sql.Identifier, by_chapter: bool) -> Callable[[], Any]:
            query = verify.date_range_query(table, view.date_column, by_chapter=by_chapter)
            params = (chapter, start, end) if by_chapter else (start, end)
            return lambda: conn.execute(query, params).fetchall()

        def as_coordinator(table: sql.Identifier) -> Callable[[], Any]:
            filters = verify.twelve_month_filters(view, scope, chapter)
            return lambda: postgrest.read(conn, "authenticated", table, filters, user_id=user_id)

        for label, path, materialized, plain in (
            ("12 months, one chapter", "owner",
             owner(view.materialized_id, True), owner(view.plain_id, True)),
            ("12 months, one chapter", f"API as its coordinator (of {coordinated})",
             as_coordinator(view.api_id), as_coordinator(view.plain_id)),
            ("12 months, all chapters", "owner",
             owner(view.materialized_id, False), owner(view.plain_id, False)),
        ):
            fast, slow = measure(materialized), measure(plain)
            rows.append({"view": view.name, "query": label, "path": path,
                         "materialized": fast.as_dict(), "plain": slow.as_dict(),
                         "speedup_p50": round(slow.p50 / fast.p50, 1) if fast.p50 else None})
    return rows


def server_ms(conn: psycopg.Connection, role: str, relation: sql.Identifier, filters: list[tuple[str, str, Any]],
              user_id: str) -> float:
    """The server's part of a GET: EXPLAIN ANALYZE's execution time of its statement inside the
    same request (role, claims, settings), median of SERVER_RUNS."""
    statement, parameters = postgrest.read_statement(relation, filters)
    explain = sql.SQL("explain (analyze, format json) ") + statement
    return statistics.median(
        postgrest.request(conn, role, explain, parameters, user_id=user_id)[0][0][0]["Execution Time"]
        for _ in range(SERVER_RUNS))


def bench_multi_chapter(conn: psycopg.Connection, scope: verify.Scope) -> dict[str, Any]:
    """The coordinator of the most chapters (five, where the seed made one) reading 12 months of
    all their chapters through the API, against the same read of one of them, per endpoint. Each
    read is a GET as PostgREST 12 sends it (postgrest.read: the body built in the database),
    timed at the client (the four reads of an endpoint taking turns) and its server part alone.
    Beside them, the same GETs of the materialized view by its owner: the same rows with none of
    the API's work, so their ratio is what the size of the answer alone costs."""
    user_id, chapters = conn.execute(
        "select user_id, array_agg(chapter_id order by chapter_id) from public.coordinator_chapters"
        " group by user_id order by count(*) desc, user_id limit 1").fetchone()
    owner = conn.info.user
    endpoints = {}
    for view in verify.VIEWS:
        dates = verify.twelve_month_filters(view, scope)
        reads = {"all": ("authenticated", view.api_id, dates),
                 "one": ("authenticated", view.api_id, verify.twelve_month_filters(view, scope, chapters[0])),
                 "materialized_all": (owner, view.materialized_id, [("chapter_id", "in", chapters), *dates]),
                 "materialized_one": (owner, view.materialized_id, verify.twelve_month_filters(view, scope, chapters[0]))}
        gets = {name: functools.partial(postgrest.read, conn, role, relation, filters, user_id=user_id)
                for name, (role, relation, filters) in reads.items()}
        times = measure_alternating(gets)
        figures: dict[str, Any] = {}
        for name, (role, relation, filters) in reads.items():
            figures[name] = {**times[name].as_dict(), "rows": gets[name]().rows,
                             "server_ms": round(server_ms(conn, role, relation, filters, user_id), 3)}
        for prefix in ("", "materialized_"):
            figures[f"{prefix}ratio_p50"] = round(figures[f"{prefix}all"]["p50_ms"] / figures[f"{prefix}one"]["p50_ms"], 2)
        figures["server_ratio"] = round(figures["all"]["server_ms"] / figures["one"]["server_ms"], 2)
        endpoints[view.name] = figures
    return {"chapters": len(chapters), "endpoints": endpoints}


def seed_log_entries(conn: psycopg.Connection) -> tuple[int, int]:
    """The dirty-key log's entries after the seed, and the distinct keys (chapter, day, mentor) they name."""
    return conn.execute("select count(*), count(distinct (chapter_id, bucket_date, peer_mentor_id))"
                        " from private.stats_dirty_keys").fetchone()


def slowest_api_read_ms(figures: dict[str, Any]) -> float:
    """The longest of every request this size's run sent through the API (postgrest.request)."""
    series = [row[kind] for row in figures["queries"] if row["path"].startswith("API") for kind in ("materialized", "plain")]
    series += [row[side] for row in figures["multi_chapter"]["endpoints"].values() for side in ("all", "one")]
    series += [state[kind] for state in figures["pending_reads"]["states"].values() for kind in ("api", "plain")
               if kind in state]
    return max(s["max_ms"] for s in series)


def bench_size(url: str, activities: int, console: Console, hour_of_writes: int,
               write_statements: int, profile: str) -> dict[str, Any]:
    shape = seeding.shape_of(profile, activities)
    console.rule(f"{activities:,} activities, {profile} profile: {shape.chapters:,} chapters, "
                 f"{shape.mentors:,} mentors, {shape.years} years")
    with database.connect(url, application_name="peerstats bench") as conn:
        migrations.apply_all(conn, afresh=True)
        backend = conn.info.backend_pid
        before_kib = peak_rss_kib(backend)
        # The jobs wait while the seed's log entries are counted: a refresh would fold them first.
        exact.set_jobs_active(conn, False, exact.HOURLY_JOB, exact.THRESHOLD_JOB)
        try:
            result = seeding.seed_with_progress(conn, console, activities=activities, chapters=shape.chapters,
                                                mentors=shape.mentors, years=shape.years)
            seed_log = seed_log_entries(conn)
        finally:
            exact.set_jobs_active(conn, True, exact.HOURLY_JOB, exact.THRESHOLD_JOB)
        seeded = {"seconds": round(result.seconds, 2), "rows_per_second": round(result.rows_per_second),
                  "log_entries": seed_log[0], "changed_keys": seed_log[1],
                  "backend_peak_rss_kib": peak_rss_kib(backend), "backend_peak_rss_kib_before": before_kib,
                  "python_peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
        with console.status("refreshing the views, plainly and concurrently"):
            refreshed = bench_refresh(conn)
            conn.execute(sql.SQL("analyze {}").format(
                sql.SQL(", ").join(sql.Identifier("private", name) for name in refreshed["views"])))
            seeding.vacuum_after_load(conn)
        with console.status("timing the dashboard queries"):
            scope = verify.measure_scope(conn)
            queries = bench_queries(conn, scope)
            multi_chapter = bench_multi_chapter(conn, scope)
        counted = conn.execute("select count(*) from private.counted_activities").fetchone()[0]
        with console.status("timing the API with changes pending, then the threshold refresh"):
            pending = exact.pending_reads(conn, scope, activities=activities, years=shape.years,
                                                hour_of_writes=hour_of_writes)
        with console.status("timing single-row inserts with and without the statistics triggers"):
            writes = exact.write_cost(conn, url, write_statements)
        with console.status("timing single-row inserts with and without the write guards"):
            guarded_writes = exact.write_cost(conn, url, write_statements, exact.WRITE_GUARD_TRIGGERS)
        with console.status(f"timing a mentor's {exact.BULK_ROWS:,}-row insert, through the API and as the owner"):
            bulk = exact.bulk_insert_cost(conn)
    figures = {"activities": activities, "profile": profile, "shape": dataclasses.asdict(shape),
               "counted_activities": counted, "seed": seeded, "refresh": refreshed,
               "queries": queries, "multi_chapter": multi_chapter, "pending_reads": pending, "writes": writes,
               "guarded_writes": guarded_writes, "bulk_insert": bulk}
    figures["slowest_api_read_ms"] = slowest_api_read_ms(figures)
    print_size(console, figures)
    return figures


def run(sizes: list[int], *, output: Path, console: Console, hour_of_writes: int,
        write_statements: int, profile: str = "default") -> dict[str, Any]:
    """Measure every size on a new throwaway cluster, print the tables and write `output` (JSON)
    and the plots beside it."""
    check_writable(output)
    console.print("[dim]creating a throwaway PostgreSQL cluster[/dim]")
    with throwaway_cluster() as cluster:
        with database.connect(cluster.url) as conn:
            server = dict(conn.execute(
                "select name, current_setting(name) from pg_settings"
                " where name in ('server_version', 'shared_buffers', 'work_mem', 'max_parallel_workers_per_gather')"
            ).fetchall())
        started = datetime.now(timezone.utc)
        results = [bench_size(cluster.url, size, console, hour_of_writes, write_statements, profile)
                   for size in sizes]
    document = {
        "measured_at": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server": server,
        "throwaway_cluster": str(cluster.home),
        "memory_note": "backend_peak_rss_kib is VmHWM of the server backend that generated the data "
                       "(includes the shared buffers it touched); python_peak_rss_kib is ru_maxrss of peerstats",
        "sizes": results,
    }
    output.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"results written to {output}")
    for plot in plots.write_plots(document, output):
        console.print(f"plot written to {plot}")
    return document


def print_size(console: Console, figures: dict[str, Any]) -> None:
    seeded = figures["seed"]
    backend = seeded["backend_peak_rss_kib"]
    console.print(f"dirty-key log after the seed: {seeded['log_entries']:,} entries for {seeded['changed_keys']:,} "
                  f"changed keys ({seeded['log_entries'] / max(1, seeded['changed_keys']):.2f} per key; target: at most 1)")
    console.print(
        f"seeder's peak memory: server backend {backend / 1024 if backend else float('nan'):.0f} MiB "
        f"(VmHWM, shared buffers it touched included), peerstats {seeded['python_peak_rss_kib'] / 1024:.0f} MiB "
        f"(ru_maxrss)")
    print_table(console, ["view", Column("plain refresh (ms)", "right"), Column("concurrent refresh (ms)", "right")],
                [(name, f"{times['plain_ms']:.1f}", f"{times['concurrent_ms']:.1f}")
                 for name, times in figures["refresh"]["views"].items()],
                title=f"refresh, median of {REFRESH_RUNS}; refresh_stats_views() of all {len(figures['refresh']['views'])}: "
                      f"{figures['refresh']['refresh_stats_views_ms']:.0f} ms")
    print_table(console, ["view", "12 months of", Column("materialized p50/p95", "right"),
                          Column("plain p50/p95", "right"), Column("speedup", "right")],
                [(SHORT_NAMES[row["view"]],
                  row["query"].removeprefix("12 months, ") + ", " + row["path"].split(" ")[0],
                  f"{row['materialized']['p50_ms']:.2f} / {row['materialized']['p95_ms']:.2f}",
                  f"{row['plain']['p50_ms']:.2f} / {row['plain']['p95_ms']:.2f}",
                  f"{row['speedup_p50']:,.1f}×" if row["speedup_p50"] else "-")
                 for row in figures["queries"]],
                title="dashboard queries, ms at the client (API: as the chapter's coordinator)")
    multi = figures["multi_chapter"]
    print_table(console, ["view", Column(f"all {multi['chapters']} / one p50", "right"), Column("ratio", "right"),
                          Column("server all / one", "right"), Column("ratio", "right"),
                          Column("view's ratio", "right")],
                [(SHORT_NAMES[name], f"{row['all']['p50_ms']:.2f} / {row['one']['p50_ms']:.2f}",
                  f"{row['ratio_p50']:.2f}", f"{row['all']['server_ms']:.2f} / {row['one']['server_ms']:.2f}",
                  f"{row['server_ratio']:.2f}", f"{row['materialized_ratio_p50']:.2f}")
                 for name, row in multi["endpoints"].items()],
                title=f"12 months through the API by the coordinator of {multi['chapters']} chapters: all of "
                      "them against one, ms at the client (GETs as PostgREST 12 sends them) and at the server; "
                      "view's ratio: the same GETs of the materialized view by its owner (target: ratio at "
                      "most 1.5)")
    exact.print_figures(console, figures["pending_reads"], figures["writes"], figures["guarded_writes"],
                              figures["bulk_insert"])
    console.print(f"slowest API read of this size: {figures['slowest_api_read_ms']:,.1f} ms (a read past the "
                  "role's statement_timeout, 8 s for authenticated, would have stopped the bench)")
