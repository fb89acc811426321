"""Requests made the way PostgREST makes them, for measuring and testing the API without PostgREST.

PostgREST runs every request as one transaction that first applies the request's role's own
settings (ALTER ROLE ... SET, such as Supabase's statement_timeout of 8 s for authenticated),
then switches to the role and publishes the JWT's claims, all transaction-locally, then runs the
query. GET requests run read-only.

A GET of a table or view (`read`) is sent as PostgREST 12 builds it (QueryBuilder.readPlanToQuery
inside Statements.prepareRead): the filtered rows in a CTE, and the response body one json value
built in the database by json_agg, which PostgREST passes on to the client undecoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.adapt import Loader

# The role's settings, the role and the claims, in one statement (one round trip per request).
START_REQUEST = resources.files("peerstats").joinpath("sql", "postgrest_role_settings.sql").read_text()

# The filter operators of PostgREST's query string that `read` sends, each with its value's
# placeholder as PostgREST 12 writes them (SqlFragment.pgFmtFilter).
FILTER_OPERATORS = {"eq": "= %s", "gte": ">= %s", "lt": "< %s", "in": "= ANY (%s) "}

# Statements.prepareRead without Prefer: count (the total is null::bigint) for application/json
# (SqlFragment.asJsonF, not stripped of nulls).
READ_ENVELOPE = (
    "WITH pgrst_source AS ( {source} )  SELECT null::bigint AS total_result_set, "
    "pg_catalog.count(_postgrest_t) AS page_total, coalesce(json_agg(_postgrest_t), '[]') AS body, "
    "nullif(current_setting('response.headers', true), '') AS response_headers, "
    "nullif(current_setting('response.status', true), '') AS response_status, "
    "'' AS response_inserted FROM ( SELECT * FROM pgrst_source ) _postgrest_t")


class JsonAsBytes(Loader):
    """A json value as the bytes the server sent: PostgREST decodes the body as bytea and never parses it."""

    def load(self, data: Any) -> bytes:
        return bytes(data)


@dataclass(frozen=True)
class Response:
    """What a GET returns: the number of rows and the body, the bytes the client receives."""

    rows: int
    body: bytes


def claims_for(role: str, user_id: str | None = None) -> dict[str, Any]:
    claims: dict[str, Any] = {"role": role}
    if user_id is not None:
        claims["sub"] = str(user_id)
    return claims


def request(
    conn: psycopg.Connection,
    role: str,
    query: str | sql.Composable,
    params: Any = None,
    *,
    user_id: str | None = None,
    read_only: bool = True,
    json_as_bytes: bool = False,
) -> list[tuple]:
    """Run `query` as PostgREST would for a request by `role` (and user `user_id`); return its rows
    (json values undecoded, as bytes, with `json_as_bytes`)."""
    with conn.transaction():
        if read_only:
            conn.execute("set transaction read only")
        conn.execute(START_REQUEST, {"role": role, "claims": json.dumps(claims_for(role, user_id))})
        cursor = conn.cursor()
        if json_as_bytes:
            cursor.adapters.register_loader("json", JsonAsBytes)
        cursor.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def array_literal(values: Iterable[Any]) -> str:
    """An array literal as PostgREST 12 builds one for `in.(...)` (SqlFragment.pgBuildArrayLiteral)."""
    quoted = (str(v).replace("\x00", "").replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


def read_statement(relation: sql.Identifier, filters: Sequence[tuple[str, str, Any]]) -> tuple[sql.Composed, list[str]]:
    """PostgREST 12's statement for GET /relation?select=*&column=op.value&..., and its parameters:
    each value a text of unknown type (PostgREST binds them untyped, so the server infers the
    column's), in the order of the query string."""
    conditions, parameters = [], []
    for column, operator, value in filters:
        conditions.append(sql.SQL(" {}.{} ").format(relation, sql.Identifier(column))
                          + sql.SQL(FILTER_OPERATORS[operator]))
        parameters.append(array_literal(value) if operator == "in" else str(value))
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    source = sql.SQL("SELECT {}.* FROM {}  {}   ").format(relation, relation, where)
    return sql.SQL(READ_ENVELOPE).format(source=source), parameters


def read(conn: psycopg.Connection, role: str, relation: sql.Identifier, filters: Sequence[tuple[str, str, Any]],
         *, user_id: str | None = None) -> Response:
    """GET `relation` with `filters` ((column, operator, value), operator one of FILTER_OPERATORS)
    as PostgREST 12 runs it for `role` (and user `user_id`)."""
    statement, parameters = read_statement(relation, filters)
    (_, rows, body, *_), = request(conn, role, statement, parameters, user_id=user_id, json_as_bytes=True)
    return Response(rows, body)
