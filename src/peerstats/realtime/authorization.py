"""The Realtime server's authorization of a private channel, with its own queries.

supabase/realtime, lib/realtime/tenants/authorization.ex: at a join the server inserts one
probe row per extension into realtime.messages as its admin (the row has a topic and an
extension, nothing else), takes the token's role and claims for the transaction with
set_config, selects the probe rows back (row security decides which come back) and rolls
back. The join succeeds if a broadcast or presence row came back. The write check (the
client's first broadcast push) inserts the probe as the token's role instead, each in a
savepoint; insufficient_privilege means no. A missing partition for today is a check
violation on messages; any other error of a policy refuses the channel as well.

`conn` is the server's connection: a role that bypasses row security (supabase_admin on
Supabase), in autocommit mode; each check is one transaction, always rolled back.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import psycopg

EXTENSIONS = ("broadcast", "presence")

SET_CONN_CONFIG = """
SELECT
  set_config('role', %s, true),
  set_config('realtime.topic', %s, true),
  set_config('request.jwt.claims', %s, true),
  set_config('request.jwt.claim.sub', %s, true),
  set_config('request.jwt.claim.role', %s, true),
  set_config('request.headers', %s, true)
"""
PROBE = ("INSERT INTO realtime.messages (id, topic, extension, inserted_at, updated_at)"
         " VALUES (%s, %s, %s, %s, %s)")
READ_BACK = "SELECT m0.id FROM realtime.messages AS m0 WHERE m0.id = ANY(%s)"


class AuthorizationError(Exception):
    """The check could not decide: the server refuses the channel with this reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Context:
    """What the server knows of a join: the channel's topic (without "realtime:"), the JWT's
    claims, and the headers of the WebSocket upgrade."""

    topic: str
    claims: Mapping[str, Any]
    headers: Mapping[str, str] | None = None

    @property
    def role(self) -> Any:
        return self.claims.get("role")

    def settings(self) -> tuple:
        return (self.role, self.topic, json.dumps(dict(self.claims)), self.claims.get("sub"), self.role,
                json.dumps(dict(self.headers or {})))


def _utc_now() -> datetime:
    # NaiveDateTime.utc_now(): the UTC wall clock, without a zone, as the column is.
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _extensions(presence: bool) -> tuple[str, ...]:
    return EXTENSIONS if presence else ("broadcast",)


def _refusal(failure: psycopg.Error) -> AuthorizationError:
    if isinstance(failure, psycopg.errors.CheckViolation) and failure.diag.table_name == "messages":
        return AuthorizationError("missing_partition")
    if isinstance(failure, psycopg.errors.QueryCanceled):
        return AuthorizationError("query_canceled", str(failure))
    return AuthorizationError("rls_policy_error", str(failure))


def _require_role(context: Context) -> None:
    # The server refuses a token without a role before it asks the database; a role left unset
    # here would leave the check running as the server's own admin.
    if not isinstance(context.role, str) or not context.role:
        raise AuthorizationError("missing_role_claim")


def read_policies(conn: psycopg.Connection, context: Context, *, presence: bool = False) -> dict[str, bool]:
    """{extension: may read} for broadcast (and presence when the join enables it)."""
    _require_role(context)
    probes = {extension: uuid.uuid4() for extension in _extensions(presence)}
    now = _utc_now()
    try:
        with conn.transaction(force_rollback=True):
            with conn.cursor() as cursor:
                cursor.executemany(PROBE, [(probe, context.topic, extension, now, now)
                                           for extension, probe in probes.items()])
            conn.execute(SET_CONN_CONFIG, context.settings())
            returned = {row[0] for row in conn.execute(READ_BACK, (list(probes.values()),))}
    except psycopg.Error as failure:
        raise _refusal(failure) from failure
    return {extension: probe in returned for extension, probe in probes.items()}


def write_policies(conn: psycopg.Connection, context: Context, *, presence: bool = False) -> dict[str, bool]:
    """{extension: may write}: the probe inserted as the token's role, in a savepoint each."""
    _require_role(context)
    allowed = {extension: False for extension in EXTENSIONS}
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(SET_CONN_CONFIG, context.settings())
            for extension in _extensions(presence):
                now = _utc_now()
                # "new row violates row-level security policy" (42501) means no.
                with contextlib.suppress(psycopg.errors.InsufficientPrivilege), conn.transaction():
                    conn.execute(PROBE, (uuid.uuid4(), context.topic, extension, now, now))
                    allowed[extension] = True
    except psycopg.Error as failure:
        raise _refusal(failure) from failure
    return allowed


def may_join(conn: psycopg.Connection, context: Context, *, presence: bool = False) -> bool:
    """Whether the server lets the join through: a read of broadcast or presence. A check that
    cannot decide (a policy's error, no partition) refuses."""
    try:
        return any(read_policies(conn, context, presence=presence).values())
    except AuthorizationError:
        return False
