"""Requests made the way PostgREST makes them, for measuring and testing the API without PostgREST.

PostgREST runs every request as one transaction that first applies the request's role's own
settings (ALTER ROLE ... SET, such as Supabase's statement_timeout of 8 s for authenticated),
then switches to the role and publishes the JWT's claims, all transaction-locally, then runs the
query. GET requests run read-only.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import psycopg

# The role's settings, the role and the claims, in one statement (one round trip per request).
START_REQUEST = resources.files("peerstats").joinpath("sql", "postgrest_role_settings.sql").read_text()


def claims_for(role: str, user_id: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"role": role}
    if user_id is not None:
        claims["sub"] = str(user_id)
    return claims


def request(
    conn: psycopg.Connection,
    role: str,
    query: str,
    params: Any = None,
    *,
    user_id: str | None = None,
    read_only: bool = True,
) -> list[tuple]:
    """Run `query` as PostgREST would for a request by `role` (and user `user_id`); return its rows."""
    with conn.transaction():
        if read_only:
            conn.execute("set transaction read only")
        conn.execute(START_REQUEST, {"role": role, "claims": json.dumps(claims_for(role, user_id))})
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []
