"""Regression: after a data change a concurrent refresh succeeds and shows it (AC2: one probe
activity inserted, refreshed, deleted, refreshed), and each materialized view equals its plain
view row for row after a refresh (R1: EXCEPT ALL both ways, and totals). Each runs in a
transaction that is rolled back: the refreshes, the probe and everything they write end with
it, and no other session sees any of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from psycopg import sql

from peerstats.hours import hours_from_minutes
from peerstats.refresh import refresh_stats_views
from peerstats.verify.common import VIEWS, Check, Context, Criterion, fmt_ms, read_sql
from peerstats.verify.probe import make_probe


def refresh_after_change(context: Context) -> list[Criterion]:
    conn = context.conn
    probe_cells = read_sql("verify_probe_cells.sql")

    def refresh() -> dict[str, Any]:
        return {r.view_name: r for r in refresh_stats_views(conn)}

    with conn.transaction(force_rollback=True):
        probe = make_probe(conn)
        cell = {"mentor": probe.peer_mentor_id, "chapter": probe.chapter_id}
        cell.update(zip(("day", "month"), conn.execute(
            "select (%(t)s at time zone 'UTC')::date, date_trunc('month', %(t)s at time zone 'UTC')::date",
            {"t": probe.recorded_at}).fetchone()))

        def cells() -> dict[str, int]:
            cursor = conn.execute(probe_cells, cell)
            return {column.name: value for column, value in zip(cursor.description, cursor.fetchone(), strict=True)}

        # The probe's chapter is new, so its cells start empty whatever the views lag behind.
        before = cells()
        probe_id = probe.insert(conn, 60)
        after_insert = refresh()
        with_probe = cells()
        conn.execute("delete from public.activities where id = %s", (probe_id,))
        after_delete = refresh()
        after = cells()
    results = []
    for view in VIEWS:
        inserted, deleted = after_insert[view.name], after_delete[view.name]
        ok = (inserted.status == "refreshed" and deleted.status == "refreshed"
              and with_probe[view.name] == before[view.name] + 1 and after[view.name] == before[view.name])
        measured = (f"after an insert: {inserted.status} ({fmt_ms(inserted.refresh_ms)}), count "
                    f"{before[view.name]} → {with_probe[view.name]}; after its delete: {deleted.status} "
                    f"({fmt_ms(deleted.refresh_ms)}), count {after[view.name]}")
        results.append(Criterion(
            "AC2", f"REFRESH CONCURRENTLY {view.name} succeeds after a data change", measured,
            "no error, the change visible, totals as before", ok,
            {"before": before[view.name], "with_probe": with_probe[view.name], "after": after[view.name],
             "refresh_after_insert": asdict(inserted), "refresh_after_delete": asdict(deleted)}))
    return results


def totals_equal(context: Context) -> list[Criterion]:
    template = sql.SQL(read_sql("verify_totals.sql"))
    results = []
    for view in VIEWS:
        cursor = context.conn.execute(template.format(materialized=view.materialized_id, plain=view.plain_id))
        t = {column.name: value for column, value in zip(cursor.description, cursor.fetchone(), strict=True)}
        ok = (t["only_in_materialized"] == 0 and t["only_in_plain"] == 0
              and t["materialized_activities"] == t["plain_activities"]
              and t["materialized_minutes"] == t["plain_minutes"])
        measured = (f"{t['materialized_rows']} = {t['plain_rows']} rows, {t['materialized_activities']} = "
                    f"{t['plain_activities']} activities, {hours_from_minutes(t['materialized_minutes'], 1):,f} = "
                    f"{hours_from_minutes(t['plain_minutes'], 1):,f} h;"
                    f" rows in one only: {t['only_in_materialized']} + {t['only_in_plain']}")
        results.append(Criterion(
            "R1", f"{view.name} equals {view.plain} after refresh", measured,
            "EXCEPT ALL empty both ways; equal totals", ok, t))
    return results


Measure = Callable[[Context], list[Criterion]]


def on_views_refreshed_then_rolled_back(measure: Measure) -> Measure:
    """`measure` on views refreshed in a transaction that is rolled back after it."""
    def measured(context: Context) -> list[Criterion]:
        with context.conn.transaction(force_rollback=True):
            refresh_stats_views(context.conn)
            return measure(context)
    return measured


CHECKS = [
    Check("AC2", "concurrent refresh after a data change", "no error", refresh_after_change),
    Check("R1", "materialized equal plain", "equal", on_views_refreshed_then_rolled_back(totals_equal)),
]
