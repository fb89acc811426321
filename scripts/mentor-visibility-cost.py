"""What reading the members of a coordinator's chapters costs the row security of
peer_mentors, and through it every read and write of activities: each probe timed with
EXPLAIN (ANALYZE) as PostgREST runs a request, with migration
20261207000300_coordinators_read_the_members_of_their_chapters applied and rolled back
(its own down and up scripts), in alternating rounds on the same data.

    .venv/bin/python scripts/mentor-visibility-cost.py --database-url URL [--rounds 5]

Use a seeded scratch database (`peerstats seed`) with every migration applied: each round
changes the policy and functions of the migration and leaves them applied at the end.
Prints one row per probe: the p50 over the rounds of each round's p50 (server side).
"""

from __future__ import annotations

import argparse
import statistics

import psycopg
from rich.console import Console
from rich.table import Table

from peerstats import database
from peerstats.migrations import discover
from peerstats.postgrest import request

MIGRATION = "20261207000300"
CALLS = 30  # per probe and round; the first few warm the session's caches and are left out
WARM_UP = 5


def probes(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    """Each probe's query and the user it runs as: a mentor who coordinates nothing, the
    coordinator of the most chapters."""
    mentor, mentor_user, chapter = conn.execute(
        "select id, user_id, chapter_id from public.peer_mentors where user_id is not null and user_id not in"
        " (select user_id from public.coordinator_chapters) order by id limit 1").fetchone()
    coordinator = conn.execute("select user_id from public.coordinator_chapters group by 1"
                               " order by count(*) desc, 1 limit 1").fetchone()[0]
    return {
        "a mentor's insert check (activities_insert)": (
            f"select 1 where '{mentor}'::uuid = any ((select private.own_peer_mentor_ids())::uuid[])"
            f" and '{chapter}'::uuid = any ((select private.own_chapter_ids())::uuid[])", mentor_user),
        "a mentor reads their last 30 days": (
            "select count(*) from public.activities where recorded_at > now() - interval '30 days'", mentor_user),
        "a coordinator reads their last 30 days": (
            "select count(*) from public.activities where recorded_at > now() - interval '30 days'", coordinator),
        "a coordinator reads their mentors": ("select id, full_name from public.peer_mentors", coordinator),
    }


def p50_ms(url: str, query: str, user_id: str) -> float:
    with database.connect(url) as api:
        times = [request(api, "authenticated", "explain (analyze, format json) " + query,
                         user_id=str(user_id))[0][0][0]["Execution Time"] for _ in range(CALLS)]
    return statistics.median(times[WARM_UP:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    [migration] = [m for m in discover() if m.version == MIGRATION]
    up, down = migration.up_path.read_text(), migration.down_path.read_text()
    with database.connect(args.database_url) as conn:
        cases = probes(conn)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for state, script in (("before", down), ("after", up)):
                with conn.transaction():
                    conn.execute(script)
                for name, (query, user_id) in cases.items():
                    times.setdefault((name, state), []).append(p50_ms(args.database_url, query, user_id))
    table = Table("probe", "before (ms)", "after (ms)", "ratio")
    for name in cases:
        before, after = (statistics.median(times[(name, state)]) for state in ("before", "after"))
        table.add_row(name, f"{before:.3f}", f"{after:.3f}", f"{after / before:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
