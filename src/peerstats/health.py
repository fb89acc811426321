"""`peerstats status`: the health of the statistics layer, as public.stats_health() judges it.

The verdict is the database's (one definition, which a monitor can also call through PostgREST
as service_role); this module only fetches it and prints it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from rich.console import Console

from peerstats.errors import PeerstatsError
from peerstats.output import Column, print_table


def stats_health(conn: psycopg.Connection) -> dict[str, Any]:
    installed = conn.execute("select to_regprocedure('public.stats_health()') is not null").fetchone()[0]
    if not installed:
        raise PeerstatsError("public.stats_health() is missing: apply the migrations first (peerstats db up)")
    return conn.execute("select public.stats_health()").fetchone()[0]


def utc_minute(moment: str | None) -> str:
    if moment is None:
        return ""
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    """A short age: 42 s, 17 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def print_health(console: Console, health: dict[str, Any]) -> None:
    verdict = "healthy" if health["healthy"] else "UNHEALTHY"
    console.print(f"statistics layer: {verdict} (checked {utc_minute(health['checked_at'])})",
                  markup=False, highlight=False)
    for problem in health["problems"]:
        console.print(f"  problem: {problem}", markup=False, highlight=False)

    print_table(console, ["view", "last refresh", Column("age", "right"), "last failure"], [
        (view["view_name"], utc_minute(view["refreshed_at"]), duration(view["age_s"]),
         f"{utc_minute(view['last_failure_at'])}: {view['last_failure']}" if view["last_failure_at"] else "none")
        for view in health["views"]], title="Refreshes (kept 7 days)")

    log = health["log"]
    oldest = (f"oldest {utc_minute(log['oldest_entry_at'])} ({duration(log['oldest_entry_age_s'])} ago)"
              if log["oldest_entry_at"] else "empty")
    console.print(f"change log: {log['entries']:,} entries, {log['chapter_days']:,} chapter-days, {oldest}; "
                  f"threshold {log['threshold']:,}", markup=False, highlight=False)

    print_table(console, ["cron job", "schedule", "last finished run", "status"], [
        (job["jobname"],
         "missing" if job["active"] is None else job["schedule"] + ("" if job["active"] else " (inactive)"),
         utc_minute(job["last_start"]) or "none yet",
         (job["last_status"] or "") + (f": {job['last_message']}" if job["last_status"] == "failed" else ""))
        for job in health["cron_jobs"]], title="pg_cron jobs")
