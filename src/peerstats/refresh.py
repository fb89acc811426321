"""Refreshing the materialized views, always through public.refresh_stats_views()."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import psycopg


@dataclass(frozen=True)
class ViewRefresh:
    view_name: str
    refreshed_at: datetime | None
    refresh_ms: Decimal | None
    status: str


def refresh_stats_views(conn: psycopg.Connection, *, wait: bool = True) -> list[ViewRefresh]:
    """Refresh the materialized views concurrently; with wait=False skip if another refresh is running."""
    rows = conn.execute(
        "select view_name, refreshed_at, refresh_ms, status from public.refresh_stats_views(wait => %s)",
        (wait,),
    ).fetchall()
    return [ViewRefresh(*row) for row in rows]


def describe_refresh(results: list[ViewRefresh]) -> str:
    """One line: each view's refresh time, or its status when it did not refresh."""
    return ", ".join(
        f"{r.view_name} {float(r.refresh_ms):.0f} ms" if r.refresh_ms is not None else f"{r.view_name} {r.status}"
        for r in results)
