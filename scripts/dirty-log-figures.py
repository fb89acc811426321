"""The dirty-key log's figures in docs/history.md, on a throwaway cluster of its own:

    .venv/bin/python scripts/dirty-log-figures.py [--activities 100000] [--rounds 3]

1. Log size after a seed: entries against distinct keys, before the refresh that follows it,
   and seeding rows/s, alternating the release before (migration 20261202000200 and any later
   rolled back) and this one in the same cluster, `--rounds` times each.
2. The insert log trigger's time in 20 seeder-like statements of 2,500 rows in one
   transaction (rolled back), read from EXPLAIN (ANALYZE, FORMAT JSON), alternating the two
   releases the same way.
3. A chapter's 12-month read by its coordinator through the three API endpoints (p50 / p95 at
   the client), after one request by a mentor of that chapter inserting one activity a day
   over N days, of a type that counts and of one that does not.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator

import psycopg
from rich.console import Console

from peerstats import database, migrations, postgrest, verify
from peerstats.bench.latency import measure
from peerstats.cluster import throwaway_cluster
from peerstats.migrations import Runner
from peerstats.output import Column, print_table
from peerstats.refresh import refresh_stats_views
from peerstats.seed import seed, vacuum_after_load

DAYS = (0, 100, 250, 500, 1000, 5114)
VERSION = "20261202000200"  # one entry per key per transaction; "before" is every migration up to it


def steps_down_through(version: str) -> int:
    versions = [m.version for m in migrations.discover()]
    return len(versions) - versions.index(version)


def empty_activities(conn: psycopg.Connection) -> None:
    conn.execute("truncate public.activities")  # its trigger refreshes, which empties the log
    conn.execute("vacuum analyze private.stats_dirty_keys, public.activities")


def releases_in_turn(conn: psycopg.Connection, rounds: int) -> Iterator[tuple[str, int]]:
    """The release before and this one, each installed in turn, first one and then the other
    first, `rounds` times: yields (release, round) with that release's migrations applied."""
    for round_number in range(rounds):
        for release in ("before", "this") if round_number % 2 == 0 else ("this", "before"):
            with Runner(conn) as runner:
                list(runner.down(steps_down_through(VERSION)) if release == "before" else runner.up())
            yield release, round_number


def log_size(conn: psycopg.Connection, activities: int, rounds: int) -> list[tuple]:
    rows = []
    for release, round_number in releases_in_turn(conn, rounds):
        empty_activities(conn)
        seeded = seed(conn, activities=activities, seed=round_number, append=True)
        entries, keys = conn.execute(
            "select count(*), count(distinct (chapter_id, peer_mentor_id, bucket_date))"
            " from private.stats_dirty_keys").fetchone()
        rows.append((release, round_number, round(seeded.rows_per_second), entries, keys))
    return rows


CHUNK = ("explain (analyze, format json) insert into public.activities (peer_mentor_id, chapter_id,"
         " activity_type, recorded_at, duration_minutes)"
         " select m.id, m.chapter_id, t.code, now() - ((g * 7919 + %(i)s) %% 700) * interval '1 day', 30"
         " from generate_series(1, 2500) g"
         " join lateral (select id, chapter_id from public.peer_mentors order by id"
         " offset (g * 31 + %(i)s) %% 100 limit 1) m on true"
         " join lateral (select code from public.activity_types order by code"
         " offset (g + %(i)s) %% 8 limit 1) t on true")
LOG_TRIGGER = "activities_log_inserted_keys"


def trigger_times(conn: psycopg.Connection, rounds: int) -> list[tuple]:
    rows = []
    for release, round_number in releases_in_turn(conn, rounds):
        statement_ms = trigger_ms = 0.0
        with conn.transaction(force_rollback=True):
            for i in range(20):
                plan = conn.execute(CHUNK, {"i": i}).fetchone()[0][0]
                statement_ms += plan["Execution Time"]
                trigger_ms += sum(t["Time"] for t in plan.get("Triggers", []) if t["Trigger Name"] == LOG_TRIGGER)
        rows.append((release, round_number, statement_ms, trigger_ms))
    return rows


def reads_after_one_request(conn: psycopg.Connection, activities: int) -> list[tuple]:
    empty_activities(conn)
    seed(conn, activities=activities, append=True)
    refresh_stats_views(conn)
    vacuum_after_load(conn)
    scope = verify.measure_scope(conn)
    chapter = scope.largest_chapter
    coordinator = conn.execute("select user_id from public.coordinator_chapters where chapter_id = %s"
                               " order by user_id limit 1", (chapter,)).fetchone()[0]
    mentor, user = conn.execute("select id, user_id from public.peer_mentors where chapter_id = %s"
                                " and user_id is not null order by id limit 1", (chapter,)).fetchone()
    start, end = scope.twelve_months
    queries = [verify.date_range_query(v.api_id, v.date_column, by_chapter=True) for v in verify.VIEWS]

    def read() -> None:
        for query in queries:
            postgrest.request(conn, "authenticated", query, (chapter, start, end), user_id=coordinator)

    rows = []
    for counts in (True, False):
        code = conn.execute("select code from public.activity_types where counts_in_stats = %s order by code limit 1",
                            (counts,)).fetchone()[0]
        for days in DAYS:
            refresh_stats_views(conn)
            conn.execute("vacuum analyze private.stats_dirty_keys")
            if days:
                postgrest.request(conn, "authenticated",
                                  "insert into public.activities (peer_mentor_id, chapter_id, activity_type,"
                                  " recorded_at, duration_minutes) select %s, %s, %s,"
                                  " now() - g * interval '1 day' - interval '2 hours', 1"
                                  " from generate_series(1, %s) g", (mentor, chapter, code, days),
                                  user_id=str(user), read_only=False)
                conn.execute("vacuum analyze private.stats_dirty_keys")
                conn.execute("analyze public.activities")
            timed = measure(read)
            entries = conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]
            rows.append(("counts" if counts else "does not", days, timed.p50, timed.p95, entries))
            if days:
                conn.execute("delete from public.activities where duration_minutes = 1"
                             " and peer_mentor_id = %s and activity_type = %s", (mentor, code))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    console = Console()
    with throwaway_cluster() as cluster, database.connect(cluster.url) as conn:
        migrations.apply_all(conn, afresh=True)
        sizes = log_size(conn, arguments.activities, arguments.rounds)
        print_table(console, ["release", Column("round", "right"), Column("seed rows/s", "right"),
                              Column("entries", "right"), Column("keys", "right")],
                    [(r, str(n), f"{s:,}", f"{e:,}", f"{k:,}") for r, n, s, e, k in sizes],
                    title=f"the log after seeding {arguments.activities:,} activities")
        for release in ("before", "this"):
            speeds = [s for r, _, s, _, _ in sizes if r == release]
            console.print(f"{release}: median {statistics.median(speeds):,.0f} rows/s")
        triggers = trigger_times(conn, arguments.rounds)
        print_table(console, ["release", Column("round", "right"), Column("statements ms", "right"),
                              Column("log trigger ms", "right")],
                    [(r, str(n), f"{s:,.0f}", f"{t:,.0f}") for r, n, s, t in triggers],
                    title="20 inserts of 2,500 rows in one transaction")
        reads = reads_after_one_request(conn, arguments.activities)
        print_table(console, ["type", Column("days", "right"), Column("p50 ms", "right"),
                              Column("p95 ms", "right"), Column("entries", "right")],
                    [(t, f"{d:,}", f"{p50:.2f}", f"{p95:.2f}", f"{e:,}") for t, d, p50, p95, e in reads],
                    title="a chapter's 12-month API read after one request, one row a day")


if __name__ == "__main__":
    main()
