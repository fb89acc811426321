"""Where the seeder's time goes: the figures of docs/benchmarks.md, "Where the seeder's time goes".

Usage: .venv/bin/python scripts/seed-profile.py [ACTIVITIES]   (default 1,000,000)

Seeds ACTIVITIES on the default profile into a throwaway cluster of its own, with every
trigger, guard, foreign key and the dirty-key log on, exactly as `peerstats seed` does, and
prints the seed's wall time and rate, each chunk's wall time and the server backend's CPU
time, the statements that took the most time, nested ones (trigger bodies, foreign-key
checks) included, and the PL/pgSQL functions (the triggers) that took the most. Statements
come from pg_stat_statements (track = all), which this cluster alone loads:
shared_preload_libraries and pg_stat_statements.track are the only settings it adds to the
throwaway cluster's; functions from pg_stat_user_functions (track_functions, set for the
seeding session only).
"""

from __future__ import annotations

import sys
import time

from peerstats import database, migrations, seed as seeding
from peerstats.cluster import throwaway_cluster

TOP_STATEMENTS = 12
TOP_FUNCTIONS = 6


def main() -> None:
    activities = int(sys.argv[1].replace("_", "")) if len(sys.argv) > 1 else 1_000_000
    with throwaway_cluster() as cluster:
        with database.connect(cluster.url) as conn:
            conn.execute("alter system set shared_preload_libraries = pg_cron, pg_stat_statements")
        cluster.restart()
        with database.connect(cluster.url) as conn:
            conn.execute("alter system set pg_stat_statements.track = 'all'")
            conn.execute("select pg_reload_conf()")
            conn.execute("create extension pg_stat_statements")
            migrations.apply_all(conn)
            conn.execute("set track_functions = 'pl'")
            conn.execute("select pg_stat_statements_reset()")
            chunks: list[tuple[float, float]] = []
            mark = [time.perf_counter(), database.backend_cpu_seconds(conn)]

            def chunk_done(_done: int, _total: int) -> None:
                now, cpu = time.perf_counter(), database.backend_cpu_seconds(conn)
                chunks.append((now - mark[0], cpu - mark[1]))
                mark[:] = [now, cpu]

            result = seeding.seed(conn, activities=activities, progress=chunk_done)
            print(f"seeded {activities:,} activities in {result.seconds:.1f} s: "
                  f"{result.rows_per_second:,.0f} rows/s")
            print(f"{len(chunks)} chunks, wall / server backend CPU in s:")
            print(f"  the first, with setup and day caps: {chunks[0][0]:.2f} / {chunks[0][1]:.2f}")
            print(f"  the second: {chunks[1][0]:.2f} / {chunks[1][1]:.2f}; "
                  f"the last: {chunks[-1][0]:.2f} / {chunks[-1][1]:.2f}")
            print(f"  all but the first: {sum(w for w, _ in chunks[1:]):.1f} / "
                  f"{sum(c for _, c in chunks[1:]):.1f}")
            print("statements by total time (s), nested ones included:")
            for seconds, calls, query in conn.execute(
                    "select total_exec_time / 1000, calls, regexp_replace(query, '\\s+', ' ', 'g')"
                    " from pg_stat_statements order by total_exec_time desc limit %s", (TOP_STATEMENTS,)):
                print(f"{seconds:7.2f} {calls:>9,}  {query[:60]}")
            conn.execute("select pg_stat_force_next_flush()")
            print("PL/pgSQL functions by time (s) spent in their own bodies:")
            for seconds, calls, name in conn.execute(
                    "select self_time / 1000, calls, schemaname || '.' || funcname from pg_stat_user_functions"
                    " order by self_time desc limit %s", (TOP_FUNCTIONS,)):
                print(f"{seconds:7.2f} {calls:>9,}  {name}")


if __name__ == "__main__":
    main()
