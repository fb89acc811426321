"""The security lints of Supabase's database linter named by the contract (0010, 0013, 0016,
0028, 0029), run as queries (tests/sql/supabase_security_lints.sql) over the exposed schema."""

from __future__ import annotations

import pytest

from conftest import SQL_DIR

LINTS = (SQL_DIR / "supabase_security_lints.sql").read_text()


def lint(conn, exposed_schemas: str) -> list[tuple[str, str]]:
    with conn.transaction():
        conn.execute("select set_config('pgrst.db_schemas', %s, true)", (exposed_schemas,))
        return conn.execute(LINTS).fetchall()


def test_the_exposed_schema_passes_every_security_lint(migrated, conn):
    assert lint(conn, "public") == []


def test_the_lints_find_what_they_look_for(migrated, conn):
    """Each lint query reports an object made to break it, so an empty answer means something."""
    with conn.transaction(force_rollback=True):
        # Supabase's default privileges grant each of these to anon and authenticated.
        conn.execute("create view public.lint_probe_view as select 1 as x")
        conn.execute("create table public.lint_probe_table (x integer)")
        conn.execute("create materialized view public.lint_probe_matview as select 1 as x")
        conn.execute("create function public.lint_probe_function(n integer) returns integer "
                     "language sql security definer as 'select n'")
        assert lint(conn, "public") == [
            ("0010_security_definer_view", "public.lint_probe_view"),
            ("0013_rls_disabled_in_public", "public.lint_probe_table"),
            ("0016_materialized_view_in_api", "public.lint_probe_matview"),
            ("0028_anon_security_definer_function_executable", "public.lint_probe_function(n integer)"),
            ("0029_authenticated_security_definer_function_executable", "public.lint_probe_function(n integer)"),
        ]


@pytest.mark.parametrize("exposed_schemas", ["public, private", "public,private,auth"])
def test_even_if_private_were_exposed_only_the_api_functions_would_be_reported(migrated, conn, exposed_schemas):
    """The materialized views are unreachable wherever they live; the only definer-rights code a
    signed-in user may run is the three functions behind the API, which filter by caller."""
    assert lint(conn, exposed_schemas) == [
        ("0029_authenticated_security_definer_function_executable", f"private.{name}()")
        for name in ("activity_time_series_for_caller", "chapter_stats_for_caller", "peer_mentor_stats_for_caller")
    ]
