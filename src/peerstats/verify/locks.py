"""Locks: while a concurrent refresh is held open, no view is locked ACCESS EXCLUSIVE (from
pg_locks), and readers of every view and endpoint and a writer of activities each finish
within lock_timeout (P1). The held refresh and the write are rolled back."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql

from peerstats import database, postgrest
from peerstats.refresh import refresh_stats_views
from peerstats.verify.common import LOCK_TIMEOUT, VIEWS, Check, Context, Criterion
from peerstats.verify.probe import make_probe


def refresh_without_blocking(context: Context) -> list[Criterion]:
    """Hold a refresh open in a transaction; meanwhile read pg_locks, then read and write under lock_timeout."""
    watched = [f"private.{v.name}" for v in VIEWS] + [f"public.{v.plain}" for v in VIEWS] \
        + [f"public.{v.api}" for v in VIEWS] + ["public.activities", "public.stats_freshness"]
    holder = database.connect(context.url, autocommit=False, application_name="peerstats verify: refresh held open")
    try:
        holder_pid = holder.info.backend_pid
        refresh_stats_views(holder)  # returns with the refresh's transaction still open
        locks = context.conn.execute(
            "select l.relation::regclass::text, l.mode, l.pid = %s, l.granted from pg_locks l"
            " where l.locktype = 'relation' and l.relation = any (%s::regclass[])",
            (holder_pid, watched)).fetchall()
        waits = readers_and_writer(context)
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


def readers_and_writer(context: Context) -> dict[str, float | str]:
    """Time each reader and the writer on a connection that gives up on any lock wait after LOCK_TIMEOUT."""
    scope = context.scope
    outcomes: dict[str, float | str] = {}
    with database.connect(context.url, application_name="peerstats verify: reader and writer") as other:
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

        def write() -> None:
            with other.transaction(force_rollback=True):
                make_probe(other).insert(other, 30)

        attempt("insert into public.activities (rolled back)", write)
        other.execute("select pg_stat_force_next_flush()")
    return outcomes


CHECKS = [Check("P1", "no blocking during a concurrent refresh", "nothing blocked", refresh_without_blocking)]
