"""The daily partitions of realtime.messages, kept as the Realtime server keeps them.

On Supabase the server creates them when a tenant connects and on each Janitor run, and drops
those older than 72 hours; a model of the server calls these at the same moments. Each runs
in the caller's transaction, as a role that may create tables in realtime and give them to
supabase_realtime_admin.
"""

from __future__ import annotations

from importlib import resources

import psycopg


def _run(conn: psycopg.Connection, name: str) -> None:
    conn.execute(resources.files("peerstats").joinpath(f"sql/{name}").read_text())


def create_partitions(conn: psycopg.Connection) -> None:
    """One partition per UTC day from yesterday to three days ahead, where missing."""
    _run(conn, "realtime_create_partitions.sql")


def drop_old_partitions(conn: psycopg.Connection) -> None:
    """Drop the partitions of UTC days before the day of 72 hours ago, with their messages."""
    _run(conn, "realtime_drop_old_partitions.sql")
