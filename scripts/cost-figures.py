"""The figures of docs/benchmarks.md, "Reads and refresh at the old cost", on one database.

Usage: .venv/bin/python scripts/cost-figures.py DATABASE_URL
on a throwaway database that `peerstats seed` filled and `peerstats refresh` refreshed: it
pauses the pg_cron jobs, rolls migration 20261202000600 back and applies it again, and writes
activities it rolls back.

For the same data at the same moment, with 20261202000600 applied ("now") and rolled back
("before"): refresh_stats_views() with an empty log (median of 3, wall time and the server
backend's CPU time, which a shared machine disturbs less), and the 12-month API read of the
coordinator of five chapters, all five against one, per endpoint (client p50 and the median
EXPLAIN ANALYZE execution time of 15). Then, "now" only: where a 25,000-row chunk of the
seeder spends the backend's CPU (generation alone, the insert without the user triggers, with
every trigger; each rolled back, then vacuumed), and a mentor's 5,000-row insert through the
API against the owner's.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import date, datetime, timezone
from importlib import resources

from peerstats import database, postgrest
from peerstats.bench import exact as exact_bench
from peerstats.bench.latency import measure
from peerstats.migrations import Runner

ENDPOINTS = {"activity_time_series": "bucket_date", "chapter_stats": "month_start", "peer_mentor_stats": "month_start"}
CHUNK_ROWS = 25_000


def refresh_cost(conn) -> str:
    conn.execute("select public.refresh_stats_views()")
    walls, cpus = [], []
    for _ in range(3):
        began, cpu = time.perf_counter(), database.backend_cpu_seconds(conn)
        conn.execute("select public.refresh_stats_views()")
        walls.append((time.perf_counter() - began) * 1000)
        cpus.append((database.backend_cpu_seconds(conn) - cpu) * 1000)
    return f"refresh_stats_views(): wall {statistics.median(walls):,.0f} ms, backend CPU {statistics.median(cpus):,.0f} ms"


def five_against_one(conn) -> list[str]:
    user, chapters = conn.execute(
        "select user_id, array_agg(chapter_id order by chapter_id) from public.coordinator_chapters"
        " group by user_id having count(*) = 5 order by user_id limit 1").fetchone()
    last = conn.execute("select date_trunc('month', max(recorded_at))::date from public.activities").fetchone()[0]
    start = date(last.year - 1, last.month, 1)

    def server_ms(query: str, params: tuple) -> float:
        [(plan,)] = postgrest.request(conn, "authenticated", "explain (analyze, timing off, format json) " + query,
                                      params, user_id=user)
        return plan[0]["Execution Time"]

    lines = []
    for endpoint, column in ENDPOINTS.items():
        every = (f"select * from public.{endpoint} where {column} >= %s and {column} < %s", (start, last))
        one = (f"select * from public.{endpoint} where chapter_id = %s and {column} >= %s and {column} < %s",
               (chapters[0], start, last))
        figures = {}
        for name, (query, params) in (("five", every), ("one", one)):
            client = measure(lambda: postgrest.request(conn, "authenticated", query, params, user_id=user))
            figures[name] = (client.p50, statistics.median(server_ms(query, params) for _ in range(15)))
        (five_client, five_server), (one_client, one_server) = figures["five"], figures["one"]
        lines.append(f"{endpoint}: five {five_client:.2f} ms (server {five_server:.3f}), one {one_client:.2f} ms"
                     f" (server {one_server:.3f}): {five_client / one_client:.2f}x (server {five_server / one_server:.2f}x)")
    return lines


def seed_chunk_cpu(conn_url: str) -> list[str]:
    sql = resources.files("peerstats").joinpath("sql")
    chunk = sql.joinpath("seed_activities.sql").read_text()
    generation = "select count(*) from (" + chunk[chunk.index("with keyed as"):].rstrip().rstrip(";") + ") rows"
    variants = {"generation alone": (generation, False), "insert, user triggers off": (chunk, True),
                "insert, every trigger on": (chunk, False)}

    def cpu_of(statement: str, triggers_off: bool) -> float:
        with database.connect(conn_url) as conn:
            conn.execute("begin")
            base = conn.execute("select count(*) from public.activities").fetchone()[0]
            if triggers_off:
                conn.execute("alter table public.activities disable trigger user")
            conn.execute("create temp table seed_params (seed bigint, chapters integer, mentors integer,"
                          " years integer, until timestamptz, base bigint) on commit drop")
            conn.execute("insert into seed_params values (0, 20, 100, 2, %s, %s)",
                         (datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0), base))
            conn.execute(sql.joinpath("seed_setup.sql").read_text())
            began = database.backend_cpu_seconds(conn)
            conn.execute(statement, {"first": 1, "last": CHUNK_ROWS})
            spent = database.backend_cpu_seconds(conn) - began
            conn.execute("rollback")
            conn.execute("vacuum public.activities")
        return spent

    spent = {name: [] for name in variants}
    for round_ in range(3):
        for name in (list(variants) if round_ % 2 == 0 else list(reversed(variants))):
            spent[name].append(cpu_of(*variants[name]))
    return [f"seed chunk of {CHUNK_ROWS:,} rows, {name}: backend CPU {statistics.median(s):.2f} s"
            f" ({CHUNK_ROWS / statistics.median(s):,.0f} rows/s)" for name, s in spent.items()]


def main(url: str) -> None:
    with database.connect(url, application_name="cost-figures") as conn:
        conn.execute("select cron.alter_job(jobid, active => false) from cron.job")
        try:
            print("now:", refresh_cost(conn), *five_against_one(conn), sep="\n  ")
            with Runner(conn) as runner:
                list(runner.down(1))
            print("before (20261202000600 rolled back):", refresh_cost(conn), *five_against_one(conn), sep="\n  ")
            with Runner(conn) as runner:
                list(runner.up())
            print("now again:", refresh_cost(conn), sep="\n  ")
            print("now:", *seed_chunk_cpu(url), sep="\n  ")
            bulk = exact_bench.bulk_insert_cost(conn)
            print(f"  a mentor's {bulk['rows']:,}-row insert: API {bulk['api_ms']:,.0f} ms, owner {bulk['owner_ms']:,.0f} ms:"
                  f" {bulk['ratio']:.2f}x")
        finally:
            conn.execute("select cron.alter_job(jobid, active => true) from cron.job")


if __name__ == "__main__":
    main(sys.argv[1])
