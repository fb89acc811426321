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


def utc_minute(moment: str | None, *, suffix: str = " UTC") -> str:
    if moment is None:
        return ""
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M") + suffix


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
    def line(text: str) -> None:
        # Values are data, never markup; long lines wrap at the console's width.
        console.print(text, markup=False, highlight=False)

    verdict = "healthy" if health["healthy"] else "UNHEALTHY"
    line(f"statistics layer: {verdict} (checked {utc_minute(health['checked_at'])})")
    for problem in health["problems"]:
        line(f"problem: {problem}")

    print_table(console, ["view", "refreshed", Column("age", "right"), "last failed"], [
        (view["view_name"], utc_minute(view["refreshed_at"], suffix=""), duration(view["age_s"]),
         utc_minute(view["last_failure_at"], suffix="") or "none")
        for view in health["views"]], title="Refreshes (UTC)")
    for view in health["views"]:
        if view["last_failure"]:
            line(f"last failure of {view['view_name']}: {view['last_failure']}")

    log = health["log"]
    line(f"change log: {log['entries']:,} entries, {log['chapter_days']:,} chapter-days; "
         f"threshold {log['threshold']:,}")
    line(f"  most dirty days of one chapter: {log['most_days_of_a_chapter']:,}; "
         f"threshold {log['days_threshold']:,}")
    if log["oldest_entry_at"]:
        line(f"  oldest entry: {utc_minute(log['oldest_entry_at'])} ({duration(log['oldest_entry_age_s'])} ago)")

    print_table(console, ["cron job", "schedule", "last finished run", "status"], [
        (job["jobname"],
         "missing" if job["active"] is None else job["schedule"] + ("" if job["active"] else " (inactive)"),
         utc_minute(job["last_start"], suffix="") or "none yet", job["last_status"] or "")
        for job in health["cron_jobs"]], title="pg_cron jobs (UTC)")
