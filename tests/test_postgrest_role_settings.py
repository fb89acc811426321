"""Supabase's API roles as they are today, and their settings applied to every API request.

The shim creates anon, authenticated and service_role INHERIT with Supabase's statement
timeouts (3 s and 8 s); postgrest.request applies the impersonated role's own settings to the
request's transaction as PostgREST 12 does, so an API read as authenticated that runs past its
timeout is cancelled here as it would be on Supabase, and the setting ends with the request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import errors, sql

from peerstats.postgrest import request


def role_setting(conn: psycopg.Connection, role: str, name: str) -> str | None:
    """`name`'s value among `role`'s settings for every database, or None."""
    row = conn.execute("select split_part(setting, '=', 2) from pg_roles, unnest(rolconfig) as setting "
                       "where rolname = %s and split_part(setting, '=', 1) = %s", (role, name)).fetchone()
    return row[0] if row else None


@contextmanager
def role_statement_timeout(conn: psycopg.Connection, role: str, timeout: str) -> Iterator[None]:
    """`role`'s statement_timeout set to `timeout` for the block, then put back as it was: role
    settings belong to the cluster, which the whole test session shares."""
    before = role_setting(conn, role, "statement_timeout")
    conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(sql.Identifier(role), sql.Literal(timeout)))
    try:
        yield
    finally:
        conn.execute(sql.SQL("alter role {} set statement_timeout = {}").format(sql.Identifier(role), sql.Literal(before))
                     if before else sql.SQL("alter role {} reset statement_timeout").format(sql.Identifier(role)))


def test_the_api_roles_are_shaped_as_supabase_makes_them_now(migrated, conn):
    roles = {name: (inherit, login, bypassrls) for name, inherit, login, bypassrls in conn.execute(
        "select rolname, rolinherit, rolcanlogin, rolbypassrls from pg_roles "
        "where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')")}
    assert roles == {"anon": (True, False, False), "authenticated": (True, False, False),
                     "service_role": (True, False, True), "authenticator": (False, True, False)}
    assert conn.execute("select array_agg(roleid::regrole::text order by roleid::regrole::text) from pg_auth_members "
                        "where member = 'authenticator'::regrole").fetchone()[0] == \
        ["anon", "authenticated", "service_role"]
    assert (role_setting(conn, "anon", "statement_timeout"), role_setting(conn, "authenticated", "statement_timeout")) \
        == ("3s", "8s")


def test_a_request_runs_under_the_roles_own_settings_and_only_for_its_transaction(migrated, conn):
    assert conn.execute("show statement_timeout").fetchone()[0] == "0"
    assert request(conn, "authenticated", "show statement_timeout") == [("8s",)]
    assert request(conn, "anon", "show statement_timeout") == [("3s",)]
    # service_role has no setting of its own: the session's stays.
    assert request(conn, "service_role", "show statement_timeout") == [("0",)]
    # Transaction-local: the connection is back to its own once the request ends.
    assert conn.execute("show statement_timeout").fetchone()[0] == "0"


def test_an_api_read_as_authenticated_is_cancelled_after_its_roles_statement_timeout(hand_checked, conn):
    conn.execute("select public.refresh_stats_views()")
    coordinator = hand_checked.users["coord.ab@peerstats.test"]
    read = "select count(*) from public.chapter_stats, pg_sleep(1.5)"
    # Within Supabase's 8 s the read answers, and what the plain view answers.
    rows = request(conn, "authenticated", read, user_id=coordinator)
    assert rows == request(conn, "authenticated", "select count(*) from public.v_chapter_stats", user_id=coordinator)
    assert rows[0][0] > 0
    with role_statement_timeout(conn, "authenticated", "300ms"):
        with pytest.raises(errors.QueryCanceled, match="statement timeout"):
            request(conn, "authenticated", read, user_id=coordinator)
        # service_role's read of the same view is not bound by authenticated's timeout.
        assert request(conn, "service_role", read)[0][0] > 0
    assert conn.execute("show statement_timeout").fetchone()[0] == "0"


def test_settings_made_for_one_database_only_are_not_applied_as_postgrest_reads_none(migrated, conn):
    conn.execute("alter role authenticated in database postgres set work_mem = '7MB'")
    try:
        assert request(conn, "authenticated", "show work_mem") == \
            [(conn.execute("show work_mem").fetchone()[0],)]
    finally:
        conn.execute("alter role authenticated in database postgres reset work_mem")
