"""Exactness: the API's criteria.

E1: each API endpoint returns to each of several callers exactly what the matching plain view
returns to that caller, compared in one statement (one snapshot) with a change pending (a probe
activity inserted and not refreshed, in a chapter the coordinator of the most chapters reads)
and again after the probe's delete, all in a transaction that is rolled back. E2: the dirty-key log is within the thresholds past which the every-minute job refreshes
(its entries, and the dirty days of any one chapter).
E3: that job exists and runs, and when it last refreshed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

from peerstats import postgrest
from peerstats.verify.common import VIEWS, Check, Context, Criterion
from peerstats.verify.probe import make_probe

THRESHOLD_JOB = "refresh-stats-views-if-dirty"
THRESHOLD_REQUESTER = "threshold refresh"


def callers(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    """service_role, the coordinator of the most chapters, one of a single chapter, and a signed-in mentor."""
    found: dict[str, tuple[str, str | None]] = {"service_role": ("service_role", None)}
    for label, order in (("coordinator of the most chapters", "desc"), ("coordinator of the fewest chapters", "asc")):
        row = conn.execute(f"select user_id::text, count(*) from public.coordinator_chapters group by user_id"
                           f" order by count(*) {order}, user_id limit 1").fetchone()
        if row:
            found[f"{label} ({row[1]})"] = ("authenticated", row[0])
    mentor = conn.execute("select m.user_id::text from public.peer_mentors m where m.user_id is not null and exists"
                          " (select from public.activities a where a.peer_mentor_id = m.id) order by m.id limit 1"
                          ).fetchone()
    if mentor:
        found["a peer mentor"] = ("authenticated", mentor[0])
    return found


def differences(conn: psycopg.Connection, who: dict[str, tuple[str, str | None]]) -> dict[str, dict[str, int]]:
    """Rows in one of (endpoint, plain view) but not the other, per view and caller. Each request
    runs in a savepoint rolled back after it, which ends its role and settings there: the
    caller's transaction goes on as the owner, read-write."""
    found: dict[str, dict[str, int]] = {}
    for view in VIEWS:
        query = (f"select count(*) from ((select * from public.{view.api} except all select * from public.{view.plain})"
                 f" union all (select * from public.{view.plain} except all select * from public.{view.api})) d")
        found[view.api] = {}
        for label, (role, user) in who.items():
            with conn.transaction(force_rollback=True):
                found[view.api][label] = postgrest.request(conn, role, query, user_id=user)[0][0]
    return found


def api_exact(conn: psycopg.Connection) -> list[Criterion]:
    who = callers(conn)
    chapter = conn.execute(
        "select min(c.chapter_id::text) from public.coordinator_chapters c where c.user_id = (select user_id"
        " from public.coordinator_chapters group by user_id order by count(*) desc, user_id limit 1)").fetchone()[0]
    with conn.transaction(force_rollback=True):
        probe = make_probe(conn, chapter)
        probe_id = probe.insert(conn, 37)
        pending = differences(conn, who)
        dirty = conn.execute("select count(*) from private.stats_dirty_keys").fetchone()[0]
        conn.execute("delete from public.activities where id = %s", (probe_id,))
        deleted = differences(conn, who)
    results = []
    for view in VIEWS:
        wrong = {label: n for label, n in pending[view.api].items() if n} | \
            {f"{label}, after the delete": n for label, n in deleted[view.api].items() if n}
        measured = (f"{len(who)} callers ({', '.join(who)}), {dirty} dirty keys pending: "
                    + ("0 rows differ" if not wrong else "; ".join(f"{label}: {n} rows differ"
                                                                    for label, n in wrong.items())))
        results.append(Criterion(
            "E1", f"public.{view.api} equals public.{view.plain} for each caller, without a refresh", measured,
            "0 rows differ, with a change pending and after it is undone", not wrong and len(who) >= 2,
            {"with_probe": pending[view.api], "after_delete": deleted[view.api], "dirty_keys": dirty}))
    return results


def dirty_log_size(conn: psycopg.Connection) -> list[Criterion]:
    size, threshold, days, days_threshold = conn.execute(
        "select (select count(*) from private.stats_dirty_keys), private.dirty_keys_threshold(),"
        " private.most_dirty_days_of_a_chapter(), private.dirty_days_threshold()").fetchone()
    return [Criterion(
        "E2", "dirty-key log within the threshold refresh's bounds",
        f"{size:,} entries, at most {days:,} dirty days in a chapter",
        f"at most {threshold:,} and {days_threshold:,}", size <= threshold and days <= days_threshold,
        {"entries": size, "threshold": threshold, "most_dirty_days_of_a_chapter": days,
         "days_threshold": days_threshold})]


def threshold_refresh(conn: psycopg.Connection) -> list[Criterion]:
    title = f"pg_cron job '{THRESHOLD_JOB}' checks the log every minute"
    target = "active, every minute, in this database, calling private.refresh_stats_views_if_dirty()"
    job = conn.execute(
        "select schedule, command, active, database = current_database() from cron.job where jobname = %s",
        (THRESHOLD_JOB,)).fetchone() if conn.execute("select to_regclass('cron.job') is not null").fetchone()[0] else None
    last: dict[str, Any] = dict(zip(("started_at", "status"), conn.execute(
        "select started_at, status from private.refresh_runs where requested_by = %s order by started_at desc limit 1",
        (THRESHOLD_REQUESTER,)).fetchone() or (None, None)))
    last_text = (f"last threshold refresh {last['started_at']:%Y-%m-%d %H:%M:%S %Z} ({last['status']})"
                 if last["started_at"] else "no threshold refresh in the last 7 days")
    if job is None:
        return [Criterion("E3", title, f"no such job; {last_text}", target, False, last)]
    schedule, command, active, this_database = job
    ok = (schedule.split() == ["*"] * 5 and active and this_database
          and "refresh_stats_views_if_dirty" in command and not (last["status"] or "").startswith("failed"))
    measured = (f"'{schedule}'; {'active' if active else 'INACTIVE'}; "
                f"{'this database' if this_database else 'ANOTHER database'}; runs: {command}; {last_text}")
    return [Criterion("E3", title, measured, target, ok, {"schedule": schedule, **last})]


def on_connection(measure: Callable[[psycopg.Connection], list[Criterion]]) -> Callable[[Context], list[Criterion]]:
    return lambda context: measure(context.conn)


CHECKS = [
    Check("E1", "API exact against the plain views", "0 rows differ", on_connection(api_exact)),
    Check("E2", "dirty-key log size", "within the threshold", on_connection(dirty_log_size)),
    Check("E3", "threshold refresh job", "every minute", on_connection(threshold_refresh)),
]
