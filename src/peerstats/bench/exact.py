"""The exact API's figures for `peerstats bench`, at each size, in the same run as the rest.

Reads with changes pending: the 12-month read of the largest chapter by its coordinator through
the API (the three endpoints), with an empty dirty-key log; with one day of writes at the seeded
rate pending; with one hour at 20 a second pending (72,000 single-row inserts dated over the last
three days), against the plain views' time for the same read; and once the every-minute
threshold job has refreshed, with how long that took. Also the same read after one mentor's
request that inserts rows of a type that does not count, one a day over 14 years (issue 16,
point 8): it changes no figure, so it must not slow the reads (at most 2x the empty log). The pg_cron jobs are paused while changes
must stay pending, and restored afterwards.

Writes: single-row inserts through the API as signed-in mentors, by 1 and by 4 writers at
once, with the statistics triggers enabled and disabled in alternating rounds, then the same
with the write guards (the daily bound and the rows dependent writers update); and a mentor's
5,000-row insert (one statement, as an import sends it) through the API against the owner's
same statement, where row security and the mentor's guards apply to the first only.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import psycopg
from psycopg import sql
from rich.console import Console

from peerstats import database, postgrest, verify
from peerstats.bench.latency import Series, measure
from peerstats.errors import PeerstatsError
from peerstats.output import Column, print_table
from peerstats.refresh import refresh_stats_views

HOURLY_JOB, THRESHOLD_JOB = "refresh-stats-views", "refresh-stats-views-if-dirty"
THRESHOLD_REQUESTER = "threshold refresh"
# The "one hour at 20 a second": 72,000 activities dated over the last three days.
HOUR_OF_WRITES = 72_000
HOUR_OF_WRITES_DAYS = 3
THRESHOLD_WAIT_SECONDS = 150
# One mentor request of rows that count nowhere, one a day over 14 years.
UNCOUNTED_REQUEST_ROWS = 5_114
WRITE_STATEMENTS = 400  # per round, split among the writers
WRITE_ROUNDS = 6  # pairs of rounds, one with the triggers and one without
WRITERS = (1, 4)
ACTIVITIES = sql.Identifier("public", "activities")
STATISTICS_TRIGGERS = ("activities_log_inserted_keys", "activities_log_updated_keys", "activities_log_deleted_keys")
BULK_ROWS = 5_000
BULK_ROUNDS = 3  # pairs of rounds, one through the API and one as the owner
# One statement of BULK_ROWS counted activities an hour apart, on days before any seeded
# one (the seeder spans at most its last five years), 15 minutes each: a mentor's day stays
# far below the daily bound whatever the seeder gave them.
BULK_INSERT = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, duration_minutes)"
               " select %s, %s, %s, timestamptz '2010-01-01 00:00+00' + n * interval '1 hour', 15"
               " from generate_series(1, %s) as n")
# The checks of migration 20261202000100 (dependent writers, the daily bound), timed the same way.
WRITE_GUARD_TRIGGERS = ("activities_guard_related_rows_insert", "activities_guard_related_rows_update",
                        "activities_guard_related_rows_delete")
# Each statement a day further back, in turn over the days of the last year that have room
# for what the round puts on them (writable_days): the seeder may have filled a busy mentor's
# day up to the daily bound.
INSERT_AS_MENTOR = ("insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at, "
                    "duration_minutes) values (%s, %s, %s, %s, 5)")
INSERT_MINUTES = 5
INSERT_DAYS = 365
# The minutes a mentor's UTC day has left, for the moments `anchor` minus 0 to INSERT_DAYS - 1 days.
ROOM_BY_DAY = ("select d.at, private.daily_bound_minutes()"
               " - coalesce((select sum(c.duration_minutes) from private.counted_activities c"
               " where c.peer_mentor_id = %s and c.recorded_at >= date_trunc('day', d.at, 'UTC')"
               " and c.recorded_at < date_trunc('day', d.at, 'UTC') + interval '1 day'), 0)"
               " from generate_series(0, %s - 1) g cross join lateral (select %s - g * interval '1 day' as at) d"
               " order by g")


def set_jobs_active(conn: psycopg.Connection, active: bool, *jobs: str) -> None:
    conn.execute("select cron.alter_job(jobid, active => %s) from cron.job where jobname = any(%s)",
                 (active, list(jobs)))


def dirty_keys(conn: psycopg.Connection) -> int:
    return conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]


def write_pending(conn: psycopg.Connection, rows: int, days: float) -> float:
    """`rows` single-row inserts (one transaction each) dated over the last `days` days; seconds taken."""
    began = time.perf_counter()
    conn.execute("select set_config('peerstats.bench_rows', %s, false), set_config('peerstats.bench_days', %s, false)",
                 (str(rows), str(days)))
    # Each insert commits: without waiting for the WAL flush of each, as the app's requests,
    # spread over an hour, would not wait for each other's.
    conn.execute("set synchronous_commit = off")
    try:
        conn.execute(verify.read_sql("bench_pending_writes.sql"))
    finally:
        conn.execute("reset synchronous_commit")
    seconds = time.perf_counter() - began
    # Written in seconds here, over a day or an hour in life, during which autovacuum would
    # have analyzed both tables, and vacuumed the log of the entries the last refresh removed
    # (it does at 2,000 dead entries): the reads are measured, as everywhere, after ANALYZE.
    # Right after a refresh that removed many entries, reads step over them until that vacuum:
    # the state "after the threshold refresh" measures that moment, unvacuumed.
    conn.execute("vacuum analyze private.stats_dirty_keys")
    conn.execute("analyze public.activities")
    return seconds


def uncounted_request(conn: psycopg.Connection, chapter: str) -> None:
    """A signed-in mentor of the chapter inserts, in one request, rows of a type that does not count,
    one a day back from yesterday over 14 years."""
    mentor, user = conn.execute("select id, user_id from public.peer_mentors where chapter_id = %s"
                                " and user_id is not null order by id limit 1", (chapter,)).fetchone()
    uncounted = conn.execute("select code from public.activity_types where not counts_in_stats order by code limit 1"
                             ).fetchone()[0]
    postgrest.request(conn, "authenticated",
                      "insert into public.activities (peer_mentor_id, chapter_id, activity_type, recorded_at,"
                      " duration_minutes) select %s, %s, %s, now() - g * interval '1 day', 30"
                      " from generate_series(1, %s) g", (mentor, chapter, uncounted, UNCOUNTED_REQUEST_ROWS),
                      user_id=str(user), read_only=False)
    conn.execute("analyze public.activities")


def pending_reads(conn: psycopg.Connection, scope: verify.Scope, *, activities: int, years: int,
                  hour_of_writes: int) -> dict[str, Any]:
    chapter = scope.largest_chapter
    coordinator = conn.execute("select user_id from public.coordinator_chapters where chapter_id = %s"
                               " order by user_id limit 1", (chapter,)).fetchone()[0]

    def dashboard(tables: list[sql.Identifier]) -> Callable[[], Any]:
        """The three endpoints' GETs of the chapter's 12 months, as PostgREST 12 sends them."""
        reads = [(t, verify.twelve_month_filters(v, scope, chapter)) for t, v in zip(tables, verify.VIEWS)]

        def read() -> None:
            for table, filters in reads:
                postgrest.read(conn, "authenticated", table, filters, user_id=coordinator)
        return read

    api = dashboard([v.api_id for v in verify.VIEWS])
    plain = dashboard([v.plain_id for v in verify.VIEWS])
    day_of_writes = max(1, round(activities / (365 * years)))
    states: dict[str, dict[str, Any]] = {}

    def state(name: str, seconds_writing: float | None = None, with_plain: bool = False) -> Series:
        read = measure(api)
        states[name] = {"dirty_keys": dirty_keys(conn), "api": read.as_dict()}
        if seconds_writing is not None:
            states[name]["seconds_writing"] = round(seconds_writing, 2)
        if with_plain:
            states[name]["plain"] = measure(plain).as_dict()
        return read

    set_jobs_active(conn, False, HOURLY_JOB, THRESHOLD_JOB)
    try:
        refresh_stats_views(conn)
        empty = state("empty log", with_plain=True)
        uncounted_request(conn, chapter)
        uncounted = state(f"after one request of {UNCOUNTED_REQUEST_ROWS:,} rows that count nowhere")
        one_day = state(f"one day pending ({day_of_writes:,} inserts)", write_pending(conn, day_of_writes, 1))
        one_hour = state(f"one hour at 20/s pending ({hour_of_writes:,} inserts over {HOUR_OF_WRITES_DAYS} days)",
                         write_pending(conn, hour_of_writes, HOUR_OF_WRITES_DAYS), with_plain=True)
        hour_state = states[next(reversed(states))]
        resumed_at = conn.execute("select clock_timestamp()").fetchone()[0]
        set_jobs_active(conn, True, THRESHOLD_JOB)
        waited = time.perf_counter()
        while not conn.execute("select exists (select from private.refresh_runs where requested_by = %s"
                               " and started_at >= %s and status = 'refreshed')",
                               (THRESHOLD_REQUESTER, resumed_at)).fetchone()[0]:
            if time.perf_counter() - waited > THRESHOLD_WAIT_SECONDS:
                raise PeerstatsError(f"the threshold job did not refresh within {THRESHOLD_WAIT_SECONDS} s "
                                     f"({dirty_keys(conn):,} dirty keys)")
            time.sleep(0.5)
        until_refreshed = conn.execute(
            "select extract(epoch from max(finished_at) - %s) from private.refresh_runs where requested_by = %s",
            (resumed_at, THRESHOLD_REQUESTER)).fetchone()[0]
        after = state("after the threshold refresh")
        states["after the threshold refresh"]["seconds_until_refreshed"] = round(float(until_refreshed), 1)
    finally:
        set_jobs_active(conn, True, HOURLY_JOB, THRESHOLD_JOB)
    one_hour_plain = hour_state["plain"]["p50_ms"]
    return {
        "chapter": str(chapter), "states": states,
        "uncounted_request_vs_empty": round(uncounted.p50 / empty.p50, 2),
        "one_day_vs_empty": round(one_day.p50 / empty.p50, 2),
        "one_hour_vs_plain": round(one_hour.p50 / one_hour_plain, 3),
        "after_threshold_vs_empty": round(after.p50 / empty.p50, 2),
        "threshold": conn.execute("select private.dirty_keys_threshold()").fetchone()[0],
        "days_threshold": conn.execute("select private.dirty_days_threshold()").fetchone()[0],
    }


def writable_days(conn: psycopg.Connection, mentor: str, statements: int, anchor: datetime) -> list[datetime]:
    """Moments a day apart back from `anchor` whose UTC days keep `mentor` within the daily bound
    when `statements` rows of INSERT_MINUTES are spread over them in turn."""
    rooms = conn.execute(ROOM_BY_DAY, (mentor, INSERT_DAYS, anchor)).fetchall()
    needed = INSERT_MINUTES
    while True:
        days = [at for at, room in rooms if room >= needed]
        if not days:
            raise PeerstatsError(f"mentor {mentor} has no day of the last {INSERT_DAYS} with "
                                 f"{needed} minutes left for the write benchmark")
        per_day = INSERT_MINUTES * -(-statements // len(days))
        if per_day <= needed:
            return days
        needed = per_day


def insert_rate(url: str, writers: list[tuple[str, str, str, str]], statements: int) -> float:
    """Single-row inserts per second through the API, each writer as its own mentor, all at once."""
    start = threading.Barrier(len(writers) + 1)
    failures: list[BaseException] = []
    anchor = datetime.now(timezone.utc)

    def write(mentor: str, chapter: str, user: str, activity_type: str) -> None:
        try:
            with database.connect(url, application_name="peerstats-bench-writer") as conn:
                days = writable_days(conn, mentor, statements, anchor)
                start.wait()
                for statement in range(statements):
                    postgrest.request(conn, "authenticated", INSERT_AS_MENTOR,
                                      (mentor, chapter, activity_type, days[statement % len(days)]),
                                      user_id=user, read_only=False)
        except BaseException as failure:  # reported by the caller's thread
            failures.append(failure)
            start.abort()

    threads = [threading.Thread(target=write, args=writer) for writer in writers]
    for thread in threads:
        thread.start()
    try:
        start.wait()
    except threading.BrokenBarrierError:
        pass  # a writer failed to start; its failure is raised below
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise failures[0]
    return len(writers) * statements / elapsed


def set_triggers_enabled(conn: psycopg.Connection, table: sql.Identifier, triggers: tuple[str, ...],
                         enabled: bool) -> None:
    action = sql.SQL("enable" if enabled else "disable")
    for trigger in triggers:
        conn.execute(sql.SQL("alter table {} {} trigger {}").format(table, action, sql.Identifier(trigger)))


def write_cost(conn: psycopg.Connection, url: str, statements_per_round: int,
               triggers: tuple[str, ...] = STATISTICS_TRIGGERS) -> list[dict[str, Any]]:
    """Insert throughput with `triggers` and without them, alternating to even out warm-up."""
    mentors = conn.execute(
        "select m.id::text, m.chapter_id::text, m.user_id::text,"
        " (select code from public.activity_types where counts_in_stats order by code limit 1)"
        " from public.peer_mentors m where m.user_id is not null order by m.id limit %s", (max(WRITERS),)).fetchall()
    if len(mentors) < max(WRITERS):
        raise PeerstatsError(f"the write benchmark needs {max(WRITERS)} signed-in mentors")
    costs = []
    try:
        for writers in WRITERS:
            statements = max(1, statements_per_round // writers)
            timed: dict[bool, list[float]] = {True: [], False: []}
            # Pairs of rounds, each state first in every other pair, so warm-up and drift over
            # the run fall on both states alike; the ratio is the median of the pairs' ratios,
            # which one round disturbed by autovacuum or a checkpoint does not move.
            for pair in range(WRITE_ROUNDS):
                for enabled in ((True, False) if pair % 2 == 0 else (False, True)):
                    set_triggers_enabled(conn, ACTIVITIES, triggers, enabled)
                    timed[enabled].append(insert_rate(url, mentors[:writers], statements))
            ratios = [with_ / without for with_, without in zip(timed[True], timed[False])]
            costs.append({"writers": writers, "statements": statements * writers * WRITE_ROUNDS * 2,
                          "with_triggers_per_s": round(statistics.median(timed[True]), 1),
                          "without_triggers_per_s": round(statistics.median(timed[False]), 1),
                          "throughput_ratio": round(statistics.median(ratios), 3),
                          "pair_ratios": [round(ratio, 3) for ratio in ratios]})
    finally:
        set_triggers_enabled(conn, ACTIVITIES, triggers, True)
        if set(triggers) & set(STATISTICS_TRIGGERS):
            # Rows written with the log's triggers disabled are not in the log: the mentor-day
            # grain, which a refresh updates from the log only, is rebuilt whole.
            conn.execute("select private.rebuild_peer_mentor_days()")
        refresh_stats_views(conn)
    return costs


def bulk_insert_cost(conn: psycopg.Connection) -> dict[str, Any]:
    """A mentor's BULK_ROWS-row insert through the API against the owner's same insert, each rolled
    back, in alternating pairs of rounds; the ratio is the median of the pairs' ratios."""
    mentor, chapter, user, activity_type = conn.execute(
        "select m.id, m.chapter_id, m.user_id,"
        " (select code from public.activity_types where counts_in_stats order by code limit 1)"
        " from public.peer_mentors m where m.user_id is not null order by m.id limit 1").fetchone()
    parameters = (mentor, chapter, activity_type, BULK_ROWS)

    def as_mentor() -> None:
        postgrest.request(conn, "authenticated", BULK_INSERT, parameters, user_id=user, read_only=False)

    def as_owner() -> None:
        conn.execute(BULK_INSERT, parameters)

    timed: dict[str, list[float]] = {"api": [], "owner": []}
    for pair in range(BULK_ROUNDS):
        for path, insert in (("api", as_mentor), ("owner", as_owner))[::1 if pair % 2 == 0 else -1]:
            # Rolled back, the role and claims of the request with it.
            with conn.transaction():
                began = time.perf_counter()
                insert()
                timed[path].append((time.perf_counter() - began) * 1000)
                raise psycopg.Rollback()
    ratios = [api / owner for api, owner in zip(timed["api"], timed["owner"])]
    return {"rows": BULK_ROWS, "api_ms": round(statistics.median(timed["api"]), 1),
            "owner_ms": round(statistics.median(timed["owner"]), 1), "ratio": round(statistics.median(ratios), 2),
            "pair_ratios": [round(ratio, 2) for ratio in ratios]}


def print_figures(console: Console, pending: dict[str, Any], writes: list[dict[str, Any]],
                  guarded_writes: list[dict[str, Any]], bulk: dict[str, Any]) -> None:
    rows = []
    for name, figures in pending["states"].items():
        api = figures["api"]
        plain = figures.get("plain")
        if "seconds_until_refreshed" in figures:
            name += f" ({figures['seconds_until_refreshed']:.0f} s after the job resumed)"
        rows.append((name, f"{figures['dirty_keys']:,}", f"{api['p50_ms']:.2f} / {api['p95_ms']:.2f}",
                     f"{plain['p50_ms']:.2f}" if plain else ""))
    print_table(console, ["log state", Column("dirty keys", "right"), Column("API p50 / p95 (ms)", "right"),
                          Column("plain p50 (ms)", "right")], rows,
                title="12-month read of one chapter by its coordinator, the three endpoints "
                      f"(threshold {pending['threshold']:,} dirty keys or {pending['days_threshold']:,} "
                      "chapter-days)")
    console.print(f"one request of rows that count nowhere / empty log: {pending['uncounted_request_vs_empty']:.2f}× "
                  "(target at most 2×)")
    console.print(f"one day pending / empty log: {pending['one_day_vs_empty']:.2f}× (target at most 2×)")
    console.print(f"one hour pending / plain views: {pending['one_hour_vs_plain']:.3f} (target under 0.1)")
    console.print(f"after the threshold refresh / empty log: {pending['after_threshold_vs_empty']:.2f}× "
                  f"(target at most 2×)")
    console.print(f"a mentor's {bulk['rows']:,}-row insert: API {bulk['api_ms']:,.0f} ms, owner "
                  f"{bulk['owner_ms']:,.0f} ms: {bulk['ratio']:.2f}× (target at most 2×)")
    for costs, triggers in ((writes, "the statistics triggers"), (guarded_writes, "the write guards")):
        print_table(console, [Column("writers", "right"), Column("inserts/s with them", "right"),
                              Column("without", "right"), Column("ratio", "right")],
                    [(str(cost["writers"]), f"{cost['with_triggers_per_s']:,.0f}",
                      f"{cost['without_triggers_per_s']:,.0f}", f"{cost['throughput_ratio']:.3f}") for cost in costs],
                    title=f"single-row inserts through the API as signed-in mentors, with and without {triggers}, "
                          f"median of {WRITE_ROUNDS} pairs of rounds (target: ratio at least 0.85)")
