"""Which database a command talks to, and the connections to it."""

from __future__ import annotations

import os

import psycopg

from peerstats.cluster import Cluster, default_home
from peerstats.errors import PeerstatsError


def embedded_cluster(database_url: str | None) -> Cluster | None:
    """The embedded cluster when neither --database-url nor DATABASE_URL names a database, else None."""
    if database_url or os.environ.get("DATABASE_URL"):
        return None
    return Cluster(default_home())


def resolve_url(database_url: str | None) -> str:
    """--database-url, else DATABASE_URL, else the embedded cluster (created and started on first use)."""
    cluster = embedded_cluster(database_url)
    if cluster is None:
        return database_url or os.environ["DATABASE_URL"]
    return cluster.ensure_running()


def connect(url: str, *, autocommit: bool = True, application_name: str = "peerstats") -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, application_name=application_name)
    except psycopg.Error as failure:
        reason = " ".join(str(failure).split()) or "no answer"
        raise PeerstatsError(f"cannot connect to the database: {reason}") from failure


def backend_cpu_seconds(conn: psycopg.Connection) -> float:
    """User and system CPU seconds of the connection's server process, from /proc: a measure for
    the benchmark scripts, on a server on this machine only."""
    fields = open(f"/proc/{conn.info.backend_pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
